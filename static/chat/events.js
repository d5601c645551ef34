// Socket frames -> state. The reducer only changes the state it is given and
// returns the effects the change calls for ({type: "refresh-room", id},
// {type: "mark-read", room}, {type: "render", parts}, ...); the effect runner
// performs them afterwards. One dispatch table maps each frame type to its
// domain's handler; which kinds are logged comes from the server (wire.js).
// No DOM and no timers here: Node tests run it as it is.

import { applyCounts, applyNotifySettings, clearCounts, countCreated, countsSeq } from "./counts.js";
import { mentionsUser } from "./mentions.js";
import { settle } from "./outbox.js";
import { TYPING_REF } from "./socket.js";
import { forgetRoom, isFromOther } from "./state.js";
import { GAP, DUPLICATE, placeSeq, restartRoomLog } from "./sync.js";
import { applySummary, applyThreadRead, countThreadReply, inRoom } from "./threads.js";

const DEFAULT_TYPING_SECONDS = 6;

const render = (...parts) => ({ type: "render", parts });

// Someone starts or stops typing in a loaded room (or in the open thread: a
// ThreadData has its own `typing`); a typing notice expires by itself.
function setTyping(ctx, rd, user, isTyping, seconds) {
  const thread = rd.rootId || null;
  if (isTyping) {
    const after = (seconds || DEFAULT_TYPING_SECONDS) * 1000;
    const until = ctx.now + after;
    rd.typing.set(user.id, { user, until });
    ctx.effects.push({ type: "expire-typing", room: rd.id, ...(thread ? { thread } : {}), user_id: user.id, until, after });
  } else {
    rd.typing.delete(user.id);
  }
  ctx.effects.push(render(thread ? "thread-typing" : "typing"));
}

// The open thread panel, when it shows this thread.
function openThread(ctx, rootId) {
  const panel = ctx.state.thread;
  return panel && rootId && panel.rootId === rootId ? panel : null;
}

// A reply (message.created with `thread`): the open panel shows it, the
// thread's unread count follows it, the Threads view hears of it.
function replyCreated(ctx, message, room, rd) {
  const panel = openThread(ctx, message.thread);
  if (panel) {
    panel.upsert(message);
    if (message.sender) setTyping(ctx, panel, message.sender, false);
    ctx.effects.push({ type: "mark-thread-read", thread: panel.rootId });
  }
  const root = (rd && rd.messages.get(message.thread)) || (panel && panel.root) || null;
  const rootAuthorId = root && root.sender ? root.sender.id : null;
  const counted = countThreadReply(ctx.state, message, { rootAuthorId });
  // My reply (or a mention of me) follows the thread: the panel's toggle says so.
  const entry = ctx.state.threads.get(message.thread);
  if (panel && entry && entry.following !== null) panel.following = entry.following;
  if (counted.uncertain) ctx.effects.push({ type: "refresh-threads" });
  ctx.effects.push({ type: "thread-activity", room: room.id, thread: message.thread, message, counted: counted.counted });
  ctx.effects.push(render("thread", "threads"));
  return counted;
}

// --- logged events: handler(ctx, frame, room, rd) ------------------------------
const messageHandlers = {
  "message.created"(ctx, frame, room, rd) {
    const message = frame.message;
    // A reply not also sent to the room is the thread's: not the room's list, nor its last message.
    const shown = inRoom(message);
    if (shown && !message.is_deleted) {
      room.last_message = message;
      room.last_message_at = message.created_at;
    }
    // Counted once: not when the room's counts already include it (they are newer).
    const counted = countCreated(room, message, ctx.state.me.id, ctx.state.blocked);
    if (rd) {
      if (shown) rd.upsert(message);
      else settle(rd.pending, message);
      if (message.sender && shown) setTyping(ctx, rd, message.sender, false);
    }
    const thread = message.thread ? replyCreated(ctx, message, room, rd) : null;
    if (room.id === ctx.state.currentId) ctx.effects.push({ type: "mark-read", room: room.id });
    if ((counted.unread || counted.mention || (thread && thread.counted)) && message.sender) {
      const mentioned = mentionsUser(message, ctx.state.me.id);
      ctx.effects.push({
        type: "message-arrived",
        room: room.id,
        message,
        mentioned,
        counted_as_mention: counted.mention,
        followed_thread: Boolean(thread && thread.counted),
      });
    }
    ctx.effects.push(render("rooms", "messages"));
  },
  "message.updated"(ctx, frame, room, rd) {
    const message = frame.message;
    if (rd) rd.update(message);
    const panel = openThread(ctx, message.thread || message.id);
    if (panel && message.id === panel.rootId) panel.updateRoot(message);
    else if (panel) panel.update(message);
    if (panel) ctx.effects.push(render("thread"));
    if (room.last_message && room.last_message.id === message.id) {
      if (message.is_deleted) ctx.effects.push({ type: "refresh-room", id: room.id });
      else room.last_message = message;
    }
    // The Mentions view follows edits (a mention added or taken out) and deletes.
    ctx.effects.push({ type: "message-changed", room: room.id, message, mentioned: !message.is_deleted && isFromOther(ctx.state, message) && mentionsUser(message, ctx.state.me.id) });
    // A pinned message edited or deleted: the room's list of pins shows it as it is now.
    if (rd && rd.pins && rd.pins.has(message.id)) {
      const pin = rd.pins.get(message.id);
      if (pin.message) pin.message = message;
      ctx.effects.push(render("details"));
    }
    ctx.effects.push(render("rooms", "messages"));
  },
  "message.deleted"(ctx, frame, room, rd) {
    messageHandlers["message.updated"](ctx, frame, room, rd);
    // An unread message of someone else is gone: the unread count is the server's to say.
    const message = frame.message;
    if (isFromOther(ctx.state, message) && message.seq > (room.last_read_seq || 0)) ctx.effects.push({ type: "refresh-room", id: room.id });
    // A reply of someone else gone from a thread: its unread count is the server's to say too.
    if (message.thread && isFromOther(ctx.state, message)) ctx.effects.push({ type: "refresh-threads" });
  },
};

// The summary of a root changed (a reply, or a reply deleted): wherever the root is shown.
const threadHandlers = {
  "thread.updated"(ctx, frame, room, rd) {
    const summary = frame.summary || null;
    const root = rd && rd.messages.get(frame.thread);
    if (root) {
      root.thread_summary = summary;
      rd.dirty.add(root.id);
    }
    const panel = openThread(ctx, frame.thread);
    if (panel && panel.root) panel.updateRoot({ thread_summary: summary });
    applySummary(ctx.state, frame.thread, summary);
    ctx.effects.push(render("messages", "thread", "threads"));
  },
};

function reaction(ctx, frame, room, rd) {
  if (rd) rd.react(frame);
  const panel = ctx.state.thread;
  if (panel && panel.id === room.id && (frame.message_id === panel.rootId || panel.messages.has(frame.message_id))) {
    panel.react(frame);
    ctx.effects.push(render("thread"));
  }
  ctx.effects.push(render("messages"));
}
const reactionHandlers = { "reaction.added": reaction, "reaction.removed": reaction };

// A pin or unpin: the message's mark at once. The open room's list is fetched
// again for the message itself if we do not hold it; another room's list is
// forgotten, to be loaded when the room is opened (no request per member per pin).
function pinChanged(ctx, frame, room, rd) {
  if (!rd) return;
  if (rd.pins) {
    if (frame.type === "message.pinned") rd.pins.set(frame.message_id, { ...rd.pins.get(frame.message_id), message_id: frame.message_id, pinned_by: frame.pinned_by, pinned_at: frame.pinned_at });
    else rd.pins.delete(frame.message_id);
  }
  if (ctx.state.currentId !== room.id) rd.pins = null;
  else if (frame.type === "message.pinned" && !rd.messages.has(frame.message_id)) ctx.effects.push({ type: "refresh-pins", id: room.id });
  rd.dirty.add(frame.message_id);
  ctx.effects.push(render("messages", "details"));
}
const pinHandlers = { "message.pinned": pinChanged, "message.unpinned": pinChanged };

function memberChanged(ctx, frame, room, rd) {
  const member = frame.member;
  const added = frame.type === "member.added";
  if (rd) rd.memberEvents += 1;
  if (rd && rd.members) {
    if (added && !rd.members.has(member.user.id)) room.member_count = (room.member_count || 0) + 1;
    // A ban lifted from (or set on) someone who had left changes a member who is not in the room.
    if (member.is_active) rd.members.set(member.user.id, member);
    else rd.members.delete(member.user.id);
  } else if (added) {
    room.member_count = (room.member_count || 0) + 1;
  }
  if (member.user.id === ctx.state.me.id) {
    room.my_role = member.role;
    if (rd) rd.redrawAll();
  }
  ctx.effects.push(render("details", "header", "composer", "messages", "seen"));
}
const memberHandlers = {
  "member.added": memberChanged,
  "member.updated": memberChanged,
  "member.removed"(ctx, frame, room, rd) {
    const member = frame.member;
    if (member.user.id === ctx.state.me.id) {
      forgetRoom(ctx.state, room.id);
      ctx.effects.push({ type: "room-removed", room, reason: frame.reason });
      return;
    }
    if (rd) rd.memberEvents += 1;
    if (rd && rd.members) rd.members.delete(member.user.id);
    room.member_count = Math.max(0, (room.member_count || 1) - 1);
    if (rd) setTyping(ctx, rd, member.user, false);
    ctx.effects.push(render("details", "header", "seen"));
  },
};

const roomHandlers = {
  "room.updated"(ctx, frame, room, rd) {
    const { seq: _seq, ...data } = frame.room_data || {};
    Object.assign(room, data);
    if (rd) rd.redrawAll();
    ctx.effects.push(render("rooms", "header", "composer", "details", "messages"));
  },
};

// --- ephemeral notices: handler(ctx, frame) -------------------------------------
// My read position of a thread moved (on any of my devices): {room, thread,
// last_read_seq, unread_count}, to my sockets only.
function threadRead(ctx, frame) {
  if (!frame.thread) return;
  if (applyThreadRead(ctx.state, frame)) ctx.effects.push({ type: "refresh-threads" });
  ctx.effects.push(render("rooms", "threads", "thread"));
}

const noticeHandlers = {
  typing(ctx, frame) {
    if (!frame.user || frame.user.id === ctx.state.me.id) return;
    // Typing in a thread shows in its panel (when open, and of that room), never in the room.
    const rd = frame.thread ? openThread(ctx, frame.thread) : ctx.state.loaded.get(frame.room);
    if (!rd || rd.id !== frame.room) return;
    setTyping(ctx, rd, frame.user, frame.is_typing, frame.expires_in);
    if (frame.is_typing && !ctx.state.presence.has(frame.user.id)) {
      ctx.state.presence.set(frame.user.id, "online");
      ctx.effects.push(render("rooms", "header", "details"));
    }
  },
  presence(ctx, frame) {
    if (!frame.user || frame.user.id === ctx.state.me.id) return;
    if (frame.status === "offline") ctx.state.presence.delete(frame.user.id);
    else ctx.state.presence.set(frame.user.id, frame.status);
    ctx.effects.push(render("rooms", "header", "details"));
  },
  read(ctx, frame) {
    const room = ctx.state.rooms.get(frame.room);
    if (!room) return;
    const rd = ctx.state.loaded.get(frame.room);
    const member = rd && rd.members ? rd.members.get(frame.user_id) : null;
    if (member) member.last_read_seq = Math.max(member.last_read_seq || 0, frame.seq);
    if (frame.user_id === ctx.state.me.id) {
      // Read in another window of mine.
      // (the `unread` frame that follows has the counts; this is the quick part)
      if (!clearCounts(room, frame.seq) && frame.seq < room.seq) ctx.effects.push({ type: "refresh-room", id: room.id });
      ctx.effects.push(render("rooms"));
    }
    ctx.effects.push(render("seen"));
  },
  "thread.read": threadRead,
};

// --- frames of the server itself (hello, ack and pong are the socket's) ----------
const serverHandlers = {
  // My counts and notification settings of a room, absolute as of frame.seq:
  // sent to each of my sockets after I read (anywhere), change the room's
  // settings, or an edit adds or takes out a mention of me.
  unread(ctx, frame) {
    const room = ctx.state.rooms.get(frame.room);
    if (!room) return;
    applyNotifySettings(room, frame);
    const taken = applyCounts(room, frame);
    // A stale frame that moved my read position: its counts are older than
    // ours, so the room's are fetched again rather than guessed.
    if (!taken && typeof frame.last_read_seq === "number" && frame.last_read_seq > (room.last_read_seq || 0)) {
      room.last_read_seq = frame.last_read_seq;
      ctx.effects.push({ type: "refresh-room", id: room.id });
    }
    ctx.effects.push(render("rooms", "details"));
  },
  resync_required(ctx, frame) {
    ctx.effects.push(...restartRoomLog(ctx.state, frame.room, frame.seq));
  },
  error(ctx, frame) {
    // A typing notice refused (too many, the server busy) is nothing to tell anyone.
    if (frame.ref === TYPING_REF) return;
    ctx.effects.push({ type: "show-error", error: frame });
  },
  "thread.read": threadRead,
  // A message I saved or took off my saved list (in any tab of mine).
  saved(ctx, frame) {
    ctx.effects.push({ type: "saved", frame });
  },
};

const loggedHandlers = { ...messageHandlers, ...threadHandlers, ...reactionHandlers, ...pinHandlers, ...memberHandlers, ...roomHandlers };

// A logged event: applied only at the next seq of its room.
function loggedEvent(ctx, frame) {
  const room = ctx.state.rooms.get(frame.room);
  if (!room) {
    // Added to a room we do not know yet.
    if (frame.type === "member.added" && frame.member && frame.member.user.id === ctx.state.me.id) ctx.effects.push({ type: "fetch-room", id: frame.room });
    return;
  }
  const place = placeSeq(room.seq, frame.seq);
  if (place === DUPLICATE) return;
  if (place === GAP) {
    ctx.effects.push({ type: "sync-room", id: room.id });
    return;
  }
  room.counts_seq = countsSeq(room);
  room.seq = frame.seq;
  loggedHandlers[frame.type](ctx, frame, room, ctx.state.loaded.get(room.id));
}

// Every kind the server logs or broadcasts must have its handler here.
function checkCoverage(wire) {
  const missing = [
    ...[...wire.logged].filter((kind) => !(kind in loggedHandlers)),
    ...[...wire.ephemeral].filter((kind) => !(kind in noticeHandlers)),
  ];
  if (missing.length) throw new Error(`no handler for the event kinds ${missing.join(", ")}`);
}

/** reduce(state, frame, {now}) -> effects, for the wire vocabulary of createWire(). */
export function createReducer(wire) {
  checkCoverage(wire);
  const table = new Map();
  for (const kind of wire.logged) table.set(kind, (ctx, frame) => typeof frame.seq === "number" && loggedEvent(ctx, frame));
  for (const kind of wire.ephemeral) table.set(kind, noticeHandlers[kind]);
  for (const [type, handler] of Object.entries(serverHandlers)) if (wire.server.has(type)) table.set(type, handler);

  return function reduce(pageState, frame, { now = Date.now() } = {}) {
    const ctx = { state: pageState, now, effects: [] };
    const handler = table.get(frame.type);
    if (handler) handler(ctx, frame);
    return ctx.effects;
  };
}

/**
 * The counts of a hello ({rooms: [{id, seq, last_read_seq, unread_count,
 * mention_count}]}) for the rooms we hold, by the same rule as the `unread`
 * frame. Returns the ids of the rooms whose counts were taken.
 */
export function applyHelloCounts(pageState, hello) {
  const taken = [];
  for (const item of (hello && hello.rooms) || []) {
    const room = pageState.rooms.get(item.id);
    if (room && applyCounts(room, item)) taken.push(item.id);
  }
  return taken;
}

/** run(effects): each effect goes to performers[effect.type]. */
export function createEffectRunner(performers) {
  return function run(effects) {
    for (const effect of effects) {
      const perform = performers[effect.type];
      if (!perform) throw new Error(`no performer for the effect ${effect.type}`);
      perform(effect);
    }
  };
}
