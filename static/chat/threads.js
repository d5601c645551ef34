// Threads, the pure part: which messages belong to the room and which to a
// thread, the reader's per-thread state (following, read position, unread
// replies) and the total the Threads button shows, and the words of a
// thread's summary. The reducer (events.js) and the views use it; no DOM,
// Node tests run it as it is.
//
// state.threads: root id -> {id, room, root, following, last_read_seq,
//   unread_count, last_reply_at, known, counted_seq}; `known` when the counts
//   came from the server (the Threads list, a thread's page, a read), not
//   only from live replies.
// state.threadTotals: {replies, threads}: the Threads button's badge, as
//   GET /api/threads/unread/ last said, plus the replies counted since.

import { mentionsUser } from "./mentions.js";

/** Whether the room's list shows the message: not a reply, or one also sent to the room. */
export function inRoom(message) {
  return !message.thread || Boolean(message.also_in_room);
}

/** Whether a thread can start at the message: not a reply, not a system line, sent. */
export function canStartThread(message) {
  return Boolean(message && message.id && !message.thread && message.message_type !== "system");
}

/** The thread entry of a root, made (unknown, not following) when first needed. */
export function threadEntry(pageState, rootId, roomId = null) {
  let entry = pageState.threads.get(rootId);
  if (!entry) {
    entry = { id: rootId, room: roomId, root: null, following: null, last_read_seq: 0, unread_count: 0, last_reply_at: null, known: false, counted_seq: 0 };
    pageState.threads.set(rootId, entry);
  }
  if (roomId && !entry.room) entry.room = roomId;
  return entry;
}

function changeTotals(pageState, entry, unread) {
  const totals = pageState.threadTotals;
  const before = entry.unread_count || 0;
  entry.unread_count = Math.max(0, unread);
  totals.replies = Math.max(0, (totals.replies || 0) + entry.unread_count - before);
  if (before === 0 && entry.unread_count > 0) totals.threads = (totals.threads || 0) + 1;
  if (before > 0 && entry.unread_count === 0) totals.threads = Math.max(0, (totals.threads || 0) - 1);
}

/**
 * A reply arrived (message.created with `thread`). Followed (as far as the
 * page can tell: the entry says so, or the reply mentions me, or the root is
 * mine, or the reply is mine) and someone else's and past the thread's read
 * position: one more unread reply of the thread and of the total.
 * `rootAuthorId`: the root's sender when the page holds the root.
 * Returns {counted, following, uncertain}: `uncertain` when whether I follow
 * the thread is the server's to say (the totals are fetched again then).
 */
export function countThreadReply(pageState, message, { rootAuthorId = null } = {}) {
  const meId = pageState.me.id;
  const entry = threadEntry(pageState, message.thread, message.room);
  if (!message.is_deleted && (!entry.last_reply_at || message.created_at > entry.last_reply_at)) entry.last_reply_at = message.created_at;
  const mine = Boolean(message.sender) && message.sender.id === meId;
  // The server follows the thread for me when I reply (even after an unfollow),
  // and when I am mentioned in it or wrote its root unless I unfollowed it.
  const followedFor = mentionsUser(message, meId) || rootAuthorId === meId;
  if (mine || (entry.following === null && followedFor)) entry.following = true;
  const result = { counted: false, following: entry.following === true, uncertain: entry.following === null };
  if (mine) {
    entry.last_read_seq = Math.max(entry.last_read_seq || 0, message.seq);
    return result;
  }
  const blocked = pageState.blocked && message.sender && pageState.blocked.has(message.sender.id);
  if (entry.following !== true || message.is_deleted || blocked) return result;
  if (message.seq <= (entry.last_read_seq || 0) || message.seq <= (entry.counted_seq || 0)) return result;
  entry.counted_seq = message.seq;
  const wasUnknownAndEmpty = !entry.known && !entry.unread_count;
  changeTotals(pageState, entry, (entry.unread_count || 0) + 1);
  // A thread first heard of now may have had unread replies already: its count is the server's to say.
  if (wasUnknownAndEmpty) result.uncertain = true;
  result.counted = true;
  return result;
}

/**
 * A thread's read position and unread count as the server states them: the
 * answer to a read, the `thread.read` frame (any of my tabs), a thread's page.
 * Taken as they are (a second copy of the same read changes nothing).
 * Returns whether the total had to guess (the entry was not known).
 */
export function applyThreadRead(pageState, source) {
  const rootId = source.thread || source.id;
  const entry = threadEntry(pageState, rootId, source.room || null);
  const wasKnown = entry.known;
  if (typeof source.last_read_seq === "number") entry.last_read_seq = Math.max(entry.last_read_seq || 0, source.last_read_seq);
  if (typeof source.following === "boolean") entry.following = source.following;
  if (typeof source.unread_count === "number") {
    if (wasKnown || entry.unread_count) changeTotals(pageState, entry, source.unread_count);
    else entry.unread_count = source.unread_count;
    entry.known = true;
  }
  entry.counted_seq = Math.max(entry.counted_seq || 0, entry.last_read_seq || 0);
  return !wasKnown;
}

/** One item of GET /api/threads/: the entry takes its counts and root. */
export function applyThreadItem(pageState, item) {
  const entry = threadEntry(pageState, item.root.id, item.room.id);
  entry.root = item.root;
  entry.room = item.room.id;
  entry.roomInfo = item.room;
  entry.following = item.following !== false;
  entry.last_read_seq = Math.max(entry.last_read_seq || 0, item.last_read_seq || 0);
  entry.unread_count = item.unread_count || 0;
  entry.last_reply_at = item.last_reply_at || (item.root.thread_summary && item.root.thread_summary.last_reply_at) || entry.last_reply_at;
  entry.known = true;
  entry.counted_seq = Math.max(entry.counted_seq || 0, entry.last_read_seq);
  return entry;
}

/** GET /api/threads/unread/ ({threads, replies}): the totals, absolute. */
export function applyThreadTotals(pageState, totals) {
  pageState.threadTotals.threads = totals.threads || 0;
  pageState.threadTotals.replies = totals.replies || 0;
}

/** A summary change (thread.updated) of a root the page may hold anywhere. */
export function applySummary(pageState, rootId, summary) {
  const entry = pageState.threads.get(rootId);
  if (entry) {
    if (entry.root) entry.root = { ...entry.root, thread_summary: summary };
    if (summary && summary.last_reply_at) entry.last_reply_at = summary.last_reply_at;
  }
}

/** The Threads list's order: threads with unread replies first, then the newest activity. */
export function threadOrder(a, b) {
  const unread = Number((b.unread_count || 0) > 0) - Number((a.unread_count || 0) > 0);
  if (unread) return unread;
  return (Date.parse(b.last_reply_at || "") || 0) - (Date.parse(a.last_reply_at || "") || 0);
}

// --- words ------------------------------------------------------------------------
const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function relativeTime(iso, now = Date.now()) {
  const at = Date.parse(iso || "");
  if (!at) return "";
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  if (seconds < 60) return "just now";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  return `${plural(days, "day")} ago`;
}

/** "3 replies · last reply 5 min ago" (null without replies). */
export function summaryText(summary, now = Date.now()) {
  if (!summary || !summary.reply_count) return null;
  const last = relativeTime(summary.last_reply_at, now);
  const count = summary.reply_count === 1 ? "1 reply" : `${summary.reply_count} replies`;
  return `${count}${last ? ` · last reply ${last}` : ""}`;
}
