// In-browser notifications, the pure part: whether a new message calls for
// one (docs/realtime.md), what it says, and which tab shows it. Several tabs
// of the same person get the same message.created; the first to claim it
// shows the notification: a Web Lock per message (ifAvailable: a tab that
// finds it held is not the one) and, inside it, a localStorage marker (a tab
// that comes later sees it). Without Web Locks, the marker alone.
// Nothing here touches the DOM: the browser objects are handed in.

import { isMuted, notifyLevel } from "./counts.js";
import { mentionsUser } from "./mentions.js";

export const MARKER_PREFIX = "chatsite.notified.";
export const MARKER_TTL = 24 * 60 * 60 * 1000;
// A message older than this (a sync after the laptop slept) is not worth a notification.
export const MAX_AGE = 10 * 60 * 1000;
// How long the tab that claimed a message keeps its lock (see claimNotification).
export const CLAIM_HOLD_MS = 5000;
const BODY_LENGTH = 180;

/**
 * Whether `message` (a message.created, room `room`) should notify the reader
 * in this page: desktop notifications on, someone else's message, the room
 * not muted nor set to nothing, and a direct room, a mention of the reader, or
 * the level "all"; never from someone the reader blocked (`blocked`, a Set of
 * ids); and only when the reader is not looking at it (the tab is hidden, or
 * another room is open). A reply in a thread counts like a mention when the
 * reader follows the thread (`followedThread`); it is seen when its thread is
 * open (`threadOpen`).
 */
export function shouldNotify({ message, room, meId, settings, currentId, hidden, blocked = null, followedThread = false, threadOpen = false, now = Date.now() }) {
  if (!settings || !settings.desktop_enabled || !room || !message) return false;
  if (!message.sender || message.sender.id === meId || message.is_deleted || message.message_type === "system") return false;
  if (blocked && blocked.has(message.sender.id)) return false;
  if (isMuted(room)) return false;
  const level = notifyLevel(room);
  if (level === "nothing") return false;
  // A reply only in its thread is no message of the room: it notifies like a
  // mention when it mentions the reader or is in a thread they follow.
  const threadOnly = Boolean(message.thread) && !message.also_in_room;
  const roomRule = !threadOnly && (room.room_type === "direct" || level === "all");
  if (!(roomRule || mentionsUser(message, meId) || followedThread)) return false;
  const created = Date.parse(message.created_at || "");
  if (created && now - created > MAX_AGE) return false;
  // Not when the reader sees it: its room open (a reply: its thread open).
  const inView = threadOnly ? threadOpen && currentId === room.id : currentId === room.id;
  return Boolean(hidden) || !inView;
}

/** The notification of a message: {title, options} for new Notification(title, options). */
export function notificationContent({ message, room, roomName, senderName, meId, url }) {
  const mentioned = mentionsUser(message, meId);
  let title;
  if (room.room_type === "direct") title = senderName;
  else if (mentioned) title = `${senderName} mentioned you in ${roomName}`;
  else if (message.thread) title = `${senderName} replied in a thread in ${roomName}`;
  else title = `${senderName} in ${roomName}`;
  let body = message.content || (message.attachment ? `📎 ${message.attachment.name}` : "New message");
  if (body.length > BODY_LENGTH) body = `${body.slice(0, BODY_LENGTH - 1)}…`;
  return {
    title,
    options: {
      body,
      tag: message.id,
      data: { room: room.id, message: message.id, url },
    },
  };
}

const markerKey = (messageId) => `${MARKER_PREFIX}${messageId}`;

// The marker: true when this tab set it (nobody had), false when it was there.
function takeMarker(storage, messageId, now) {
  const key = markerKey(messageId);
  try {
    if (storage.getItem(key) !== null) return false;
    storage.setItem(key, String(now));
  } catch (_error) {
    // No storage (private mode, quota): the lock alone decides.
  }
  return true;
}

/**
 * claimNotification(messageId, {locks, storage, now}) -> Promise<boolean>:
 * whether this tab is the one to show the message's notification.
 * locks: navigator.locks (or null); storage: localStorage (or null).
 */
export async function claimNotification(messageId, { locks = null, storage = null, now = Date.now(), holdMs = CLAIM_HOLD_MS } = {}) {
  const store = storage || { getItem: () => null, setItem: () => {} };
  if (!locks || typeof locks.request !== "function") return takeMarker(store, messageId, now);
  // The claiming tab keeps the lock a while after it answers: another tab's
  // copy of the same event arrives within moments, and localStorage writes
  // reach other tabs (other renderer processes) only asynchronously, so the
  // lock, not the marker, must refuse those.
  return new Promise((resolve) => {
    locks
      .request(`chatsite-notify-${messageId}`, { ifAvailable: true }, async (lock) => {
        if (!lock) {
          resolve(false); // another tab is claiming it, or just did
          return;
        }
        const mine = takeMarker(store, messageId, now);
        resolve(mine);
        if (mine && holdMs > 0) await new Promise((done) => setTimeout(done, holdMs));
      })
      .catch(() => resolve(takeMarker(store, messageId, now)));
  });
}

/** Drops markers older than MARKER_TTL; returns how many were removed. */
export function pruneMarkers(storage, now = Date.now()) {
  if (!storage) return 0;
  const old = [];
  try {
    for (let index = 0; index < storage.length; index += 1) {
      const key = storage.key(index);
      if (!key || !key.startsWith(MARKER_PREFIX)) continue;
      const at = Number(storage.getItem(key));
      if (!(at > now - MARKER_TTL)) old.push(key);
    }
    for (const key of old) storage.removeItem(key);
  } catch (_error) {
    return 0;
  }
  return old.length;
}
