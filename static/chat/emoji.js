// Emoji: the picker's data (static/chat/emoji.json, written by
// `manage.py build_emoji_data`), searching it, the recently used ones, and the
// `:shortcode:` the composer completes or replaces. Pure: no DOM, Node tests
// run it as it is; the storage is handed in.

export const RECENT_LIMIT = 24;
export const MIN_QUERY = 2; // `:t` is too little to suggest anything
export const MAX_SUGGESTIONS = 8;
// 0 is no modifier (the yellow default); the file's `toned` emoji take the others.
export const SKIN_TONES = [
  { modifier: "", name: "default skin tone" },
  { modifier: "\u{1F3FB}", name: "light skin tone" },
  { modifier: "\u{1F3FC}", name: "medium-light skin tone" },
  { modifier: "\u{1F3FD}", name: "medium skin tone" },
  { modifier: "\u{1F3FE}", name: "medium-dark skin tone" },
  { modifier: "\u{1F3FF}", name: "dark skin tone" },
];

// What a shortcode is made of (the generator makes every one of them so).
const CODE = "[a-z0-9_+\\-]";
// A `:` that starts a shortcode follows the start, a space or an opening
// bracket or quote; after a letter it is `http://`, `12:30` or `a:b`.
const OPEN = "(?:^|[\\s([{\"'])";
// `:-)` and `:-P` are not the start of one (`:-1` is).
const QUERY = new RegExp(`${OPEN}:((?:[a-z0-9+]|-(?=\\d))${CODE}{${MIN_QUERY - 1},})$`, "i");
const TYPED = new RegExp(`${OPEN}:(${CODE}+):$`, "i");
const OPENER = /[\s([{"']/;
const CLOSER = /[\s.,;:!?)\]}"']/;

/**
 * The file's JSON as an index: {groups: [{name, emoji}], all, byCode (shortcode
 * -> emoji), byChar (also of each skin-tone variant)}. An emoji: {char, name,
 * codes, group, order, folded (name), words, tones (takes a skin tone)}.
 */
export function emojiIndex(data) {
  const groups = [];
  const all = [];
  const byCode = new Map();
  const byChar = new Map();
  const toned = new Set((data && data.toned) || []);
  for (const group of (data && data.groups) || []) {
    const items = [];
    for (const [char, name, ...codes] of group.emoji) {
      const item = { char, name, codes, group: group.name, order: all.length, folded: fold(name), words: words(`${name} ${codes.join(" ")}`), tones: toned.has(char) };
      items.push(item);
      all.push(item);
      byChar.set(char, item);
      if (item.tones) for (let tone = 1; tone < SKIN_TONES.length; tone += 1) byChar.set(withTone(char, tone), item);
      for (const code of codes) if (!byCode.has(code)) byCode.set(code, item);
    }
    groups.push({ name: group.name, emoji: items });
  }
  return { groups, all, byCode, byChar };
}

/** The emoji with skin tone `tone` (an index of SKIN_TONES): the modifier after its first code point. */
export function withTone(char, tone) {
  if (!tone || !SKIN_TONES[tone]) return char;
  const [first, ...rest] = [...char];
  const tail = rest.join("");
  return first + SKIN_TONES[tone].modifier + (tail.startsWith("\uFE0F") ? tail.slice(1) : tail);
}

/** What an emoji is written as with the chosen tone (if it takes one), and its name then. */
export function emojiChar(item, tone = 0) {
  return item.tones ? withTone(item.char, tone) : item.char;
}

export function emojiName(item, char = item.char) {
  const tone = SKIN_TONES.findIndex((entry, index) => index > 0 && char.includes(entry.modifier));
  return tone > 0 && item.tones ? `${item.name}: ${SKIN_TONES[tone].name}` : item.name;
}

// Lower case, without accents, cut at spaces, _ and - (but `+1` and `-1` stay whole).
function fold(text) {
  return String(text || "")
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .toLowerCase();
}

function words(text) {
  return [...new Set(fold(text).split(/[\s_:,.()’'"!]+|(?<=\w)-/u).filter(Boolean))];
}

/**
 * The emoji matching `query` (words of a name or a shortcode, as typed in the
 * search box or after a `:`), best first: a shortcode that is the query, one
 * that starts with it, every word of the query starting a word of the emoji,
 * then (three characters or more) a name or shortcode containing it. Among equals the recently used
 * (`recent`: characters, latest first), then the file's order.
 */
export function searchEmoji(index, query, { limit = Infinity, recent = [] } = {}) {
  const q = fold(query).trim().replace(/^:|:$/g, "");
  if (!q || !index) return [];
  const code = q.replace(/\s+/g, "_");
  const terms = words(q);
  const recency = new Map();
  recent.forEach((char, at) => {
    const item = index.byChar.get(char); // a skin-tone variant counts for its emoji
    const key = item ? item.char : char;
    if (!recency.has(key)) recency.set(key, at);
  });
  const ranked = [];
  for (const item of index.all) {
    let rank = null;
    if (item.codes.includes(code)) rank = 0;
    else if (item.codes.some((c) => c.startsWith(code))) rank = 1;
    else if (terms.length && terms.every((term) => item.words.some((word) => word.startsWith(term)))) rank = 2;
    else if (q.length > MIN_QUERY && (item.folded.includes(q) || item.codes.some((c) => c.includes(code)))) rank = 3;
    if (rank !== null) ranked.push({ rank, recent: recency.has(item.char) ? recency.get(item.char) : Infinity, item });
  }
  ranked.sort((a, b) => a.rank - b.rank || a.recent - b.recent || a.item.order - b.item.order);
  return ranked.slice(0, limit).map((entry) => entry.item);
}

// Whether `at` is inside inline code or a code block: an odd number of backticks before it.
function inCode(text, at) {
  let ticks = 0;
  for (let i = 0; i < at; i += 1) if (text[i] === "`") ticks += 1;
  return ticks % 2 === 1;
}

/** The `:word` (two characters or more) the caret is at the end of: {start (of the `:`), query}, or null. */
export function shortcodeQuery(text, caret = text.length) {
  const before = text.slice(0, caret);
  const match = before.match(QUERY);
  if (!match) return null;
  const start = caret - match[1].length - 1;
  if (inCode(text, start)) return null;
  return { start, query: match[1] };
}

/** The text with `:query` (from start up to caret) replaced by the emoji and a space; the new caret. */
export function insertEmoji(text, start, caret, char) {
  const after = text.slice(caret).replace(/^[^\s:]*:?/, "");
  const inserted = `${char} `;
  const rest = after.startsWith(" ") ? after.slice(1) : after;
  return { text: text.slice(0, start) + inserted + rest, caret: start + inserted.length };
}

/**
 * A known `:shortcode:` just closed at the caret replaced by its emoji:
 * {text, caret, emoji}, or null (unknown, in code, or no shortcode there).
 */
export function typedShortcode(text, caret, byCode, tone = 0) {
  const before = text.slice(0, caret);
  const match = before.match(TYPED);
  if (!match || !byCode) return null;
  const item = byCode.get(match[1].toLowerCase());
  const start = caret - match[1].length - 2;
  if (!item || inCode(text, start)) return null;
  const char = emojiChar(item, tone);
  return { text: text.slice(0, start) + char + text.slice(caret), caret: start + char.length, emoji: item, char };
}

/** Every known `:shortcode:` of the text (not in code) replaced by its emoji; `:a::b:` are two. */
export function replaceShortcodes(text, byCode, tone = 0) {
  if (!byCode || !text.includes(":")) return text;
  const pattern = new RegExp(`:(${CODE}+):`, "gi");
  let result = "";
  let copied = 0; // of text, into result
  let match;
  while ((match = pattern.exec(text))) {
    const at = match.index;
    const end = at + match[0].length;
    const item = byCode.get(match[1].toLowerCase());
    const opens = at === 0 || OPENER.test(text[at - 1]) || (at === copied && copied > 0);
    const closes = end === text.length || CLOSER.test(text[end]);
    if (item && opens && closes && !inCode(text, at)) {
      result += text.slice(copied, at) + emojiChar(item, tone);
      copied = end;
    } else {
      pattern.lastIndex = at + 1; // its closing `:` may open the next one
    }
  }
  return result + text.slice(copied);
}

/** The text with `char` put in place of the selection [start, end); the caret after it. */
export function insertAtCaret(text, start, end, char) {
  return { text: text.slice(0, start) + char + text.slice(end), caret: start + char.length };
}

// The skin tone this person chose (an index of SKIN_TONES), kept in this browser.
const TONE_PREFIX = "chatsite:emoji-tone:";

export function savedTone(storage, userId) {
  try {
    const tone = Number.parseInt((storage && storage.getItem(`${TONE_PREFIX}${userId || "anonymous"}`)) || "0", 10);
    return tone > 0 && tone < SKIN_TONES.length ? tone : 0;
  } catch (_error) {
    return 0;
  }
}

export function saveTone(storage, userId, tone) {
  try {
    if (storage) storage.setItem(`${TONE_PREFIX}${userId || "anonymous"}`, String(tone));
  } catch (_error) {
    // Refused: this page remembers it.
  }
}

// The emoji this person picked last, latest first, at most `limit`, kept in
// this browser (localStorage; null: in memory only).
const PREFIX = "chatsite:emoji-recent:";

export class EmojiRecents {
  constructor(storage, userId, limit = RECENT_LIMIT) {
    this.storage = storage;
    this.key = `${PREFIX}${userId || "anonymous"}`;
    this.limit = limit;
    this.memory = []; // when the storage is missing or refuses
  }

  list() {
    let saved = this.memory;
    try {
      if (this.storage) saved = JSON.parse(this.storage.getItem(this.key) || "[]");
    } catch (_error) {
      saved = this.memory;
    }
    return Array.isArray(saved) ? saved.filter((char) => typeof char === "string" && char).slice(0, this.limit) : [];
  }

  add(char) {
    if (!char) return this.list();
    const next = [char, ...this.list().filter((other) => other !== char)].slice(0, this.limit);
    this.memory = next;
    try {
      if (this.storage) this.storage.setItem(this.key, JSON.stringify(next));
    } catch (_error) {
      this.storage = null; // full or refused: kept for this page only
    }
    return [...next];
  }
}
