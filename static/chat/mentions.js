// Mentions in the text: what the composer is completing after an `@`, the
// people (and @here / @room) that match it, and which `@name` tokens of a
// message are mentions (the server resolves them: message.mentions). Pure:
// no DOM, Node tests run it as it is.

// What may follow an `@` (Django's username characters but `@`); a trailing
// dot ends the sentence, not the name.
const NAME = "[\\p{L}\\p{N}_.+-]";
const TOKEN = new RegExp(`(^|[^\\p{L}\\p{N}_.+@/-])@(${NAME}+)`, "gu");
const QUERY = new RegExp(`(?:^|[^\\p{L}\\p{N}_.+@/-])@(${NAME}*)$`, "u");

export const MAX_SUGGESTIONS = 8;
export const ROOM_WORDS = ["room", "all"];
const SPECIAL = {
  here: "Everyone in the room who is online",
  room: "Everyone in the room",
  all: "Everyone in the room",
};

// Lower case, without accents: "Zoë" matches "zoe".
export function fold(text) {
  return String(text || "")
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .toLowerCase();
}

/** The `@word` the caret is at the end of: {start (index of the @), query}, or null. */
export function mentionQuery(text, caret = text.length) {
  const before = text.slice(0, caret);
  const match = before.match(QUERY);
  if (!match) return null;
  const query = match[1];
  return { start: caret - query.length - 1, query };
}

/**
 * The suggestions for `query`: the room's other active members whose username
 * or display name (any word of it) starts with it, then those that contain it;
 * @here, and @room/@all for owners and admins of rooms that are not direct.
 * Each: {key, username (what is inserted), label, detail, special}.
 */
export function mentionCandidates({ members = [], me = null, query = "", roomType = "group", canMentionRoom = false, limit = MAX_SUGGESTIONS }) {
  const q = fold(query);
  const ranked = [];
  for (const member of members) {
    const user = member.user || member;
    if (!user || (me && user.id === me.id) || member.is_active === false) continue;
    const username = fold(user.username);
    const name = fold(user.display_name);
    let rank = null;
    if (username.startsWith(q)) rank = 0;
    else if (name.startsWith(q)) rank = 1;
    else if (name.split(/\s+/).some((word) => word.startsWith(q))) rank = 2;
    else if (q && (username.includes(q) || name.includes(q))) rank = 3;
    if (rank === null) continue;
    ranked.push({
      rank,
      key: `user:${user.id}`,
      username: user.username,
      label: user.display_name && user.display_name !== user.username ? user.display_name : user.username,
      detail: `@${user.username}`,
      special: false,
    });
  }
  ranked.sort((a, b) => a.rank - b.rank || fold(a.label).localeCompare(fold(b.label)) || a.username.localeCompare(b.username));
  const specials = ["here", ...(canMentionRoom && roomType !== "direct" ? ROOM_WORDS : [])]
    .filter((word) => word.startsWith(q))
    .map((word) => ({ rank: 4, key: `special:${word}`, username: word, label: `@${word}`, detail: SPECIAL[word], special: true }));
  return [...ranked, ...specials].slice(0, limit).map(({ rank: _rank, ...rest }) => rest);
}

/** The text with `@query` (at start, up to caret) replaced by `@username `; the new caret. */
export function insertMention(text, start, caret, username) {
  const after = text.slice(caret).replace(/^\S*/, "");
  const inserted = `@${username} `;
  const rest = after.startsWith(" ") ? after.slice(1) : after;
  return { text: text.slice(0, start) + inserted + rest, caret: start + inserted.length };
}

/** Whether the message mentions the reader: a user/here mention with their id, or @room. */
export function mentionsUser(message, userId) {
  const mentions = (message && message.mentions) || [];
  return mentions.some((m) => m.kind === "room" || ((m.kind === "user" || m.kind === "here") && m.user_id === userId));
}

/**
 * The message text cut into plain parts and mention tokens:
 * [{text}] and [{text, mention: "me" | "other"}]. A token is a mention only
 * when the server resolved it (message.mentions); `usernames` maps a folded
 * username to a user id (the room's members, when known).
 */
export function mentionSegments(text, { mentions = [], meId = null, meUsername = "", usernames = new Map() } = {}) {
  const mentioned = new Set(mentions.filter((m) => m.kind === "user" && m.user_id).map((m) => m.user_id));
  const here = mentions.filter((m) => m.kind === "here");
  const room = mentions.some((m) => m.kind === "room");
  const kindOf = (word) => {
    const name = fold(word);
    if (ROOM_WORDS.includes(name)) return room ? "me" : null;
    if (name === "here") {
      if (!here.length) return null;
      return here.some((m) => m.user_id === meId) ? "me" : "other";
    }
    if (meUsername && name === fold(meUsername) && mentioned.has(meId)) return "me";
    const id = usernames.get(name);
    return id && mentioned.has(id) ? (id === meId ? "me" : "other") : null;
  };
  const parts = [];
  let last = 0;
  for (const match of String(text || "").matchAll(TOKEN)) {
    let word = match[2];
    word = word.replace(/[.+-]+$/, "");
    if (!word) continue;
    const kind = kindOf(word);
    if (!kind) continue;
    const at = match.index + match[1].length;
    if (at > last) parts.push({ text: text.slice(last, at) });
    parts.push({ text: `@${word}`, mention: kind });
    last = at + word.length + 1;
  }
  if (last < String(text || "").length) parts.push({ text: text.slice(last) });
  return parts;
}
