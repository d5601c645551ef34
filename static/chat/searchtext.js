// The search language as the page needs it (the server's is chat/search.py):
// which words of a query are looked for, and where they are in a result's
// text, to mark them. Pure: no DOM.

const FILTER = /^(from|in|has|before|after|on):\S/i;
const WORD = /[\p{L}\p{N}_]+/gu;
export const PREFIX_MIN = 3;
export const PREFIX_MAX = 12;
export const FILTER_HELP = "Words find words that start with them. Filters: from:name, in:room (in:@name for a direct chat), has:file, has:image, has:link, before:2026-11-30, after:…, on:…";

const fold = (text) => String(text || "").normalize("NFKC").toLowerCase();

// The words a query looks for (its filters left out), folded, at most 10.
export function queryWords(query) {
  const words = [];
  for (const part of String(query || "").split(/\s+/)) {
    if (!part || FILTER.test(part)) continue;
    for (const match of fold(part.replace(/^"|"$/g, "")).matchAll(WORD)) if (!words.includes(match[0])) words.push(match[0]);
  }
  return words.slice(0, 10);
}

// Does a word of a message match a query word: it starts with it (a query word
// of 3 to 12 characters), else it is it.
export function wordMatches(word, queryWord) {
  const folded = fold(word);
  if (queryWord.length >= PREFIX_MIN && queryWord.length <= PREFIX_MAX) return folded.startsWith(queryWord);
  return folded === queryWord;
}

// [{text, hit}] pieces of `text`, hit where a word matches one of `words`.
export function highlightPieces(text, words) {
  const value = String(text || "");
  if (!words.length) return value ? [{ text: value, hit: false }] : [];
  const pieces = [];
  let last = 0;
  for (const match of value.matchAll(WORD)) {
    if (!words.some((word) => wordMatches(match[0], word))) continue;
    if (match.index > last) pieces.push({ text: value.slice(last, match.index), hit: false });
    pieces.push({ text: match[0], hit: true });
    last = match.index + match[0].length;
  }
  if (last < value.length) pieces.push({ text: value.slice(last), hit: false });
  return pieces;
}

// Results (newest first) grouped by room, the room of the newest result first:
// [{roomId, messages}].
export function groupByRoom(messages) {
  const groups = new Map();
  for (const message of messages) {
    if (!groups.has(message.room)) groups.set(message.room, { roomId: message.room, messages: [] });
    groups.get(message.room).messages.push(message);
  }
  return [...groups.values()];
}
