// Keyboard shortcuts of the chat page: which key does what, the room before or
// after the open one (or the unread one), and the quick switcher's matching.
// Pure: the page (static/chat/switcher.js) wires them to the DOM.

export const SHORTCUTS = [
  { keys: "Ctrl+K (⌘K)", does: "Jump to a room or a person" },
  { keys: "Ctrl+Shift+F (⌘⇧F)", does: "Search all your rooms" },
  { keys: "Alt+↑ / Alt+↓", does: "The room above / below in the list" },
  { keys: "Alt+Shift+↑ / Alt+Shift+↓", does: "The unread room above / below" },
  { keys: "↑ in an empty message box", does: "Edit your last message" },
  { keys: "Enter / Shift+Enter", does: "Send / a new line" },
  { keys: ": and two letters in a message box", does: "Suggest emoji (Tab or Enter inserts)" },
  { keys: "Esc", does: "Close a dialog or a panel; cancel an edit" },
  { keys: "?", does: "This list (outside a text box)" },
];

// What a keydown asks for, or null. `typing`: the focus is in a text field.
export function shortcutFor(event, { typing = false } = {}) {
  const key = event.key;
  if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey && (key === "k" || key === "K")) return "switcher";
  if ((event.ctrlKey || event.metaKey) && !event.altKey && event.shiftKey && (key === "f" || key === "F")) return "search";
  if (event.altKey && !event.ctrlKey && !event.metaKey && (key === "ArrowUp" || key === "ArrowDown")) {
    const up = key === "ArrowUp";
    if (event.shiftKey) return up ? "previousUnread" : "nextUnread";
    return up ? "previous" : "next";
  }
  if (key === "?" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) return "help";
  return null;
}

// The id of the room `step` (-1 or 1) places from `currentId` in `ids` (the
// list's order), or with `isUnread` the nearest such room that way; null at
// the end of the list. With no open room, the first (or last) one.
export function neighbourRoom(ids, currentId, step, isUnread = null) {
  const at = ids.indexOf(currentId);
  let index = at < 0 ? (step > 0 ? -1 : ids.length) : at;
  for (index += step; index >= 0 && index < ids.length; index += step) {
    if (!isUnread || isUnread(ids[index])) return ids[index];
  }
  return null;
}

const fold = (text) =>
  String(text || "")
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase();

// How well `query` names an entry with these `names` (a title, a username…):
// 3 the whole of one, 2 its start, 1 the start of a word in it, 0.5 anywhere, 0 not.
export function matchScore(query, names) {
  const q = fold(query).trim();
  if (!q) return 1;
  let best = 0;
  for (const name of names) {
    const n = fold(name);
    if (!n) continue;
    if (n === q) best = Math.max(best, 3);
    else if (n.startsWith(q)) best = Math.max(best, 2);
    else if (n.split(/[\s\-_.@#—]+/).some((word) => word.startsWith(q))) best = Math.max(best, 1);
    else if (n.includes(q)) best = Math.max(best, 0.5);
  }
  return best;
}

// The entries ({names, ...}) matching `query`, best first (ties keep their
// order: the room list's, most recent first), at most `limit`.
export function rankMatches(entries, query, limit = 8) {
  return entries
    .map((entry, index) => ({ entry, index, score: matchScore(query, entry.names) }))
    .filter((item) => item.score > 0)
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, limit)
    .map((item) => item.entry);
}
