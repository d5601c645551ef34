// Unread and mention counts of a room, by the rule of docs/realtime.md:
// absolute counts (room list, hello, the `unread` frame, a read's answer)
// are "as of" a room seq, kept in room.counts_seq; they are taken only when
// at least as new as what the room holds, and a message.created past that
// seq adds to them. Pure: the reducer, the syncer and the read marks use it.

import { mentionsUser } from "./mentions.js";

export const NOTIFY_LEVELS = ["all", "mentions", "nothing"];

// The seq the room's counts are as of (a room item from REST: its own seq).
export function countsSeq(room) {
  return typeof room.counts_seq === "number" ? room.counts_seq : room.seq || 0;
}

/**
 * Absolute counts as of `source.seq` ({seq, unread_count, mention_count,
 * last_read_seq}). Returns whether they were taken: not when older than the
 * counts the room holds (a stale frame).
 */
export function applyCounts(room, source) {
  if (typeof source.seq !== "number" || source.seq < countsSeq(room)) return false;
  if (typeof source.unread_count === "number") room.unread_count = source.unread_count;
  if (typeof source.mention_count === "number") room.mention_count = source.mention_count;
  if (typeof source.last_read_seq === "number") room.last_read_seq = Math.max(room.last_read_seq || 0, source.last_read_seq);
  room.counts_seq = source.seq;
  return true;
}

// The member's own notification settings of the room, from an `unread` frame or a PATCH answer.
export function applyNotifySettings(room, source) {
  if (NOTIFY_LEVELS.includes(source.notify_level)) room.notify_level = source.notify_level;
  if (typeof source.notifications_muted === "boolean") room.notifications_muted = source.notifications_muted;
  if (typeof source.notify_level_is_default === "boolean") room.notify_level_is_default = source.notify_level_is_default;
}

export function isMuted(room) {
  return Boolean(room && room.notifications_muted);
}

// The level in force: the member's choice or the room type's default.
export function notifyLevel(room) {
  if (room && NOTIFY_LEVELS.includes(room.notify_level)) return room.notify_level;
  return room && room.room_type === "direct" ? "all" : "mentions";
}

// Whether a new message counts as a mention of the reader: it mentions them, or
// it is a direct message in a room they have not muted; never from someone
// they blocked (`blocked`: a Set of user ids).
export function countsAsMention(room, message, meId, blocked = null) {
  if (blocked && message.sender && blocked.has(message.sender.id)) return false;
  return mentionsUser(message, meId) || (room.room_type === "direct" && !isMuted(room));
}

/**
 * A message.created at `seq`: counted when past the counts' seq and from
 * someone else. Returns {unread, mention} (what was added), and moves the
 * counts' seq. A reply in a thread that was not also sent to the room is no
 * unread message of the room; a mention of the reader in it still counts as a
 * mention of the room (only an explicit mention, and not in a direct room,
 * whose mentions are its unread messages).
 */
export function countCreated(room, message, meId, blocked = null) {
  const added = { unread: false, mention: false };
  if (message.seq <= countsSeq(room)) return added;
  room.counts_seq = message.seq;
  const fromOther = !message.sender || message.sender.id !== meId;
  if (message.is_deleted || !fromOther) return added;
  if (message.thread && !message.also_in_room) {
    const explicit = room.room_type !== "direct" && mentionsUser(message, meId);
    if (message.sender && !(blocked && blocked.has(message.sender.id)) && explicit) {
      room.mention_count = (room.mention_count || 0) + 1;
      added.mention = true;
    }
    return added;
  }
  room.unread_count = (room.unread_count || 0) + 1;
  added.unread = true;
  if (message.sender && countsAsMention(room, message, meId, blocked)) {
    room.mention_count = (room.mention_count || 0) + 1;
    added.mention = true;
  }
  return added;
}

// Everything up to `seq` is read (a read of mine, here or elsewhere, that reaches the room's end).
export function clearCounts(room, seq) {
  room.last_read_seq = Math.max(room.last_read_seq || 0, seq);
  if (seq >= countsSeq(room)) {
    room.unread_count = 0;
    room.mention_count = 0;
    room.counts_seq = seq;
    return true;
  }
  return false;
}

/**
 * What the room list shows of a room: the unread badge (none when muted or
 * open), the mention badge (also when muted), and what the room adds to the
 * page title's total.
 */
export function roomBadges(room, { current = false } = {}) {
  if (current) return { unread: 0, mentions: 0, total: 0 };
  const mentions = room.mention_count || 0;
  const unread = isMuted(room) ? 0 : room.unread_count || 0;
  return { unread, mentions, total: isMuted(room) ? mentions : Math.max(unread, mentions) };
}
