// Consistency with the server (docs/realtime.md): each room keeps the last
// event seq processed. Events at or below it are duplicates; one past a gap
// triggers a `sync` of that room. On every (re)connect the page sends `sync`
// with all its seqs before it calls itself live, so nothing is missed and
// nothing repeats. No DOM here: the socket and the REST calls are handed in.

import { applyCounts } from "./counts.js";
import { RoomData } from "./state.js";

// Where a logged event's seq stands against the room's cursor.
export const NEXT = "next";
export const DUPLICATE = "duplicate";
export const GAP = "gap";

export function placeSeq(cursor, seq) {
  if (seq <= cursor) return DUPLICATE;
  if (seq > cursor + 1) return GAP;
  return NEXT;
}

// A room item from the REST API. Its counts are as of its seq (counts.js):
// taken unless ours are newer; the events up to that seq then add nothing.
// For a room we already follow, the last message is taken only when the item
// is exactly at the seq we have processed: newer, and the caller fetches the
// room again once the events caught up (`stale`).
export function mergeRoomItem(pageState, item) {
  // Direct rooms have no name: their title is the other person.
  if (item.peer) pageState.peers.set(item.id, item.peer);
  const existing = pageState.rooms.get(item.id);
  if (!existing) {
    const room = { ...item, counts_seq: item.seq };
    pageState.rooms.set(item.id, room);
    return { room, added: true, stale: false };
  }
  const { seq, unread_count, mention_count, last_read_seq, last_message, last_message_at, counts_seq: _ignored, ...rest } = item;
  Object.assign(existing, rest);
  applyCounts(existing, { seq, unread_count, mention_count, last_read_seq });
  if (seq === existing.seq) Object.assign(existing, { last_message, last_message_at });
  return { room: existing, added: false, stale: seq > existing.seq };
}

// resync_required: the log no longer reaches back to what we hold, so the
// room's messages start over from REST (unsent messages and the draft stay).
export function restartRoomLog(pageState, id, seq) {
  const room = pageState.rooms.get(id);
  if (!room) return [];
  room.seq = Math.max(room.seq, seq);
  const effects = [];
  const old = pageState.loaded.get(id);
  if (old) {
    const fresh = new RoomData(id);
    fresh.pending = old.pending;
    fresh.draft = old.draft;
    pageState.loaded.set(id, fresh);
    if (pageState.currentId === id) effects.push({ type: "reload-room", id });
  }
  effects.push({ type: "refresh-room", id }, { type: "render", parts: ["messages", "details"] });
  return effects;
}

// What a hello means for the rooms we hold: the ones it no longer lists are
// gone, the known ones are synced from their cursor, the new ones fetched.
export function planHello(pageState, hello) {
  const listed = new Set(hello.rooms.map((room) => room.id));
  const gone = [...pageState.rooms.keys()].filter((id) => !listed.has(id));
  const known = {};
  const unknown = [];
  for (const id of listed) {
    if (pageState.rooms.has(id)) known[id] = pageState.rooms.get(id).seq;
    else unknown.push(id);
  }
  return { gone, known, unknown };
}

// Rooms the sync answer says we cannot see any more.
export function notFoundInSync(result) {
  return Object.entries((result && result.rooms) || {})
    .filter(([, value]) => value === "not_found")
    .map(([id]) => id);
}

const LOST = ["offline", "disconnected"];

/**
 * The sync requests of the page. deps: socket() (the ChatSocket or null),
 * removeRoom(id, {quiet}), fetchRoom(id), reloadRooms() (the REST room list,
 * after a reconnect), whenLive() (what follows going live), helloCounts(hello)
 * (the counts the hello states, taken by the counts rule).
 */
export class Syncer {
  constructor(pageState, deps) {
    this.state = pageState;
    this.deps = deps;
    this.everLive = false; // false until the first hello went through: removals stay quiet
    this.inFlight = new Set(); // rooms with a gap sync under way
  }

  // A gap in one room: ask for what is missing (once at a time per room).
  syncRoom(id) {
    const room = this.state.rooms.get(id);
    const socket = this.deps.socket();
    if (!room || this.inFlight.has(id) || !socket || !socket.live) return null;
    this.inFlight.add(id);
    return socket
      .request({ type: "sync", rooms: { [id]: room.seq } }, { timeout: 30000 })
      .catch(() => {})
      .finally(() => this.inFlight.delete(id));
  }

  async hello(frame) {
    const socket = this.deps.socket();
    const plan = planHello(this.state, frame);
    if (this.deps.helloCounts) this.deps.helloCounts(frame);
    for (const id of plan.gone) this.deps.removeRoom(id, { quiet: !this.everLive });
    let result;
    try {
      result = await socket.request({ type: "sync", rooms: plan.known }, { timeout: 30000 });
    } catch (error) {
      // Lost again (the next hello syncs), or refused: start over with backoff.
      if (!LOST.includes(error.code)) socket.restart();
      return false;
    }
    for (const id of notFoundInSync(result)) this.deps.removeRoom(id, { quiet: true });
    await Promise.all(plan.unknown.map((id) => this.deps.fetchRoom(id)));
    const reconnected = this.everLive;
    this.everLive = true;
    socket.markLive();
    if (reconnected) {
      try {
        await this.deps.reloadRooms();
      } catch (_error) {
        // The counts stay as the events left them.
      }
    }
    this.deps.whenLive();
    return true;
  }
}
