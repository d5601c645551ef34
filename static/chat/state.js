// What the page knows. Rooms come from GET /api/rooms/ and are kept current
// by the socket's room events; a room's messages and members are loaded when
// it is opened. No DOM here: Node tests build their own state.

import { settle } from "./outbox.js";

export function createState({ config = null, me = null } = {}) {
  return {
    config,
    me,
    rooms: new Map(), // id -> room list item (RoomListItem of the API)
    roomsLoaded: false, // the first load of the room list succeeded
    loaded: new Map(), // id -> RoomData
    currentId: null,
    filter: "",
    presence: new Map(), // user id -> "online" | "away" (absent: offline); read it with presenceOf()
    presenceKnown: false, // false while the socket is not live (and until the server's presence is back)
    peers: new Map(), // direct room id -> the other person
    threads: new Map(), // root id -> my state of that thread (threads.js)
    threadTotals: { threads: 0, replies: 0 }, // the Threads button's badge
    thread: null, // the open thread panel's ThreadData
    saved: new Set(), // ids of the messages I saved (saved.js)
  };
}

// The page's one state (app.js fills in config and me).
export const state = createState();

export const MODERATOR_ROLES = new Set(["owner", "admin"]);

export class RoomData {
  constructor(id) {
    this.id = id;
    this.messages = new Map(); // id -> message
    this.order = []; // message ids, by seq
    this.hasOlder = true;
    this.ready = false; // first page loaded
    this.loadingOlder = false;
    this.members = null; // user id -> member, once loaded
    this.pins = null; // message id -> {message_id, pinned_by, pinned_at, message?}, once loaded
    this.memberEvents = 0; // counts member events, to know when the banned list is stale
    this.typing = new Map(); // user id -> {user, timer}
    this.pending = new Map(); // client_msg_id -> optimistic message
    this.replyTo = null;
    this.editingId = null;
    this.editDraft = "";
    this.reactingId = null;
    this.firstUnreadSeq = null;
    this.dirty = new Set();
    this.early = new Map();
    this.earlyReactions = [];
  }

  get oldestSeq() {
    return this.order.length ? this.messages.get(this.order[0]).seq : null;
  }

  // An event's copy of a message always wins: it is at least as new as what we hold.
  upsert(message) {
    const known = this.messages.has(message.id);
    this.messages.set(message.id, message);
    this.dirty.add(message.id);
    if (!known) this.insertOrdered(message);
    settle(this.pending, message);
  }

  // A page of history: only what we do not hold already (events may be newer),
  // then the edits and deletes that arrived while the page was on its way.
  merge(messages) {
    for (const message of messages) {
      if (this.messages.has(message.id)) continue;
      this.messages.set(message.id, message);
      this.dirty.add(message.id);
      this.insertOrdered(message);
      settle(this.pending, message);
    }
    for (const [id, message] of this.early) {
      if (this.messages.has(id)) this.upsert(message);
    }
    this.early.clear();
    const reactions = this.earlyReactions;
    this.earlyReactions = [];
    for (const frame of reactions) this.react(frame);
  }

  // reaction.added / reaction.removed: idempotent (a set of user ids per emoji).
  react(frame) {
    const message = this.messages.get(frame.message_id);
    if (!message) {
      if (!this.ready || this.loadingOlder) this.earlyReactions.push(frame);
      return;
    }
    applyReaction(message, frame);
    this.dirty.add(message.id);
  }

  // An edit, delete or reaction of a message we may not hold.
  update(message) {
    if (this.messages.has(message.id)) this.upsert(message);
    else if (!this.ready || this.loadingOlder) this.early.set(message.id, message);
  }

  insertOrdered(message) {
    let low = 0;
    let high = this.order.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.messages.get(this.order[mid]).seq < message.seq) low = mid + 1;
      else high = mid;
    }
    this.order.splice(low, 0, message.id);
  }

  // Every message to be drawn again (the reader's role or the room changed).
  redrawAll() {
    for (const id of this.order) this.dirty.add(id);
  }
}

// A reaction event applied to a message: reaction.added / reaction.removed,
// idempotent (a set of user ids per emoji).
export function applyReaction(message, frame) {
  const added = frame.type === "reaction.added";
  const reactions = (message.reactions || []).map((r) => ({ ...r, user_ids: [...(r.user_ids || [])] }));
  let entry = reactions.find((r) => r.reaction === frame.reaction);
  if (!entry && added) {
    entry = { reaction: frame.reaction, count: 0, user_ids: [] };
    reactions.push(entry);
  }
  if (entry) {
    const has = entry.user_ids.includes(frame.user_id);
    if (added && !has) entry.user_ids.push(frame.user_id);
    if (!added && has) entry.user_ids = entry.user_ids.filter((id) => id !== frame.user_id);
    entry.count = typeof frame.count === "number" ? frame.count : entry.user_ids.length;
  }
  message.reactions = reactions.filter((r) => r.count > 0);
}

// The open thread panel: the root and its replies (a page at a time, like a
// room's history), what the panel's composer and actions work on.
export class ThreadData extends RoomData {
  constructor(roomId, rootId) {
    super(roomId);
    this.rootId = rootId;
    this.root = null;
    this.following = null;
    this.at = null; // a reply to show once loaded
  }

  // The root's newer copy (an edit, a delete, a summary change).
  updateRoot(message) {
    this.root = { ...(this.root || {}), ...message };
    this.rootDirty = true;
  }

  react(frame) {
    if (frame.message_id === this.rootId && this.root) {
      applyReaction(this.root, frame);
      this.rootDirty = true;
    } else {
      super.react(frame);
    }
  }

  get latestSeq() {
    return this.order.length ? this.messages.get(this.order[this.order.length - 1]).seq : 0;
  }
}

// The RoomData of a room, made when first needed.
export function loadedRoom(pageState, id) {
  let data = pageState.loaded.get(id);
  if (!data) {
    data = new RoomData(id);
    pageState.loaded.set(id, data);
  }
  return data;
}

export function roomData(id) {
  return loadedRoom(state, id);
}

// Drops a room the reader is no longer in; returns it (null if unknown).
export function forgetRoom(pageState, id) {
  const room = pageState.rooms.get(id);
  if (!room) return null;
  pageState.rooms.delete(id);
  pageState.loaded.delete(id);
  return room;
}

// The server's own copy of a message, from the answer to a send, edit or delete.
// A reply goes to the open thread panel, and to the room only when also sent there.
export function acceptMessage(pageState, message) {
  const rd = pageState.loaded.get(message.room);
  const shown = !message.thread || message.also_in_room;
  if (rd && shown) rd.upsert(message);
  else if (rd) {
    settle(rd.pending, message);
    if (rd.messages.has(message.id)) rd.upsert(message);
  }
  const panel = pageState.thread;
  if (panel && (message.thread === panel.rootId)) panel.upsert(message);
  if (panel && message.id === panel.rootId) panel.updateRoot(message);
  const room = pageState.rooms.get(message.room);
  if (room && shown && (!room.last_message || message.seq >= room.last_message.seq) && !message.is_deleted) {
    room.last_message = message;
    room.last_message_at = message.created_at;
  }
}

// What the page can say of someone's presence: "online", "away", "offline",
// or "unknown" while the socket is not live (nobody is shown online then).
export function presenceOf(pageState, userId) {
  if (!pageState.presenceKnown) return "unknown";
  if (pageState.me && userId === pageState.me.id) return "online";
  return pageState.presence.get(userId) || "offline";
}

// The socket is lost: what we knew of presence is no longer true. Returns
// whether anything shown changes.
export function forgetPresence(pageState) {
  const changed = pageState.presenceKnown;
  pageState.presenceKnown = false;
  pageState.presence.clear();
  return changed;
}

// The server's presence is back (after a reconnect); returns whether anything shown changes.
export function knowPresence(pageState) {
  const changed = !pageState.presenceKnown;
  pageState.presenceKnown = true;
  return changed;
}

export function isFromOther(pageState, message) {
  return !message.sender || message.sender.id !== pageState.me.id;
}

export function displayName(user) {
  if (!user) return "System";
  return user.display_name || user.username;
}

export function roomTitle(room) {
  if (!room) return "";
  if (room.name) return room.name;
  if (room.room_type === "direct") {
    const peer = state.peers.get(room.id);
    return peer ? displayName(peer) : "Direct chat";
  }
  return { group: "Group", company: "Company room", support: "Support" }[room.room_type] || "Room";
}

export function canModerate(room) {
  return Boolean(room) && MODERATOR_ROLES.has(room.my_role);
}

// Owners and admins pin; in a direct room, either person.
export function canPin(room) {
  return Boolean(room) && room.is_active !== false && (canModerate(room) || room.room_type === "direct");
}

export function roomActivity(room) {
  return Date.parse(room.last_message_at || room.created_at || "") || 0;
}

export function sortedRooms() {
  return [...state.rooms.values()].sort(
    (a, b) => roomActivity(b) - roomActivity(a) || (Date.parse(b.created_at) || 0) - (Date.parse(a.created_at) || 0),
  );
}
