// Threads in the browser client: the reducer's rules for replies (not the
// room's unread messages, but the open panel's and the followed thread's),
// thread.updated, thread.read, and the pure helpers of static/chat/threads.js.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createReducer } from "../../../static/chat/events.js";
import { shouldNotify } from "../../../static/chat/notify.js";
import { createPending, sendFrame } from "../../../static/chat/outbox.js";
import { acceptMessage, ThreadData } from "../../../static/chat/state.js";
import {
  applyThreadItem,
  applyThreadRead,
  applyThreadTotals,
  canStartThread,
  countThreadReply,
  inRoom,
  summaryText,
  threadOrder,
} from "../../../static/chat/threads.js";
import { BOB, CAROL, ME, ROOM, WIRE, effectTypes, message, rendered, roomState } from "./helpers.mjs";

const reduce = createReducer(WIRE);
const NOW = 1_000_000;
const run = (state, frame) => reduce(state, frame, { now: NOW });

// m2 is the root (Bob's, in ROOM at seq 3); replies come at seq 4, 5, ...
const ROOT = "m2";
const reply = (seq, rest = {}) => message(seq, { thread: ROOT, also_in_room: false, ...rest });
const created = (msg) => ({ type: "message.created", room: ROOM, seq: msg.seq, message: msg });
const summary = (count, participants = [BOB]) => ({ reply_count: count, last_reply_at: message(3 + count).created_at, participants });
const updated = (seq, count) => ({ type: "thread.updated", room: ROOM, seq, thread: ROOT, summary: summary(count) });

function following(state, { unread = 0, lastRead = 3 } = {}) {
  applyThreadItem(state, {
    root: message(2),
    room: { id: ROOM, name: "Lobby", room_type: "group" },
    following: true,
    unread_count: unread,
    last_read_seq: lastRead,
    last_reply_at: null,
  });
  applyThreadTotals(state, { threads: unread ? 1 : 0, replies: unread });
}

function openPanel(state) {
  const panel = new ThreadData(ROOM, ROOT);
  panel.ready = true;
  panel.updateRoot(message(2));
  state.thread = panel;
  return panel;
}

describe("a reply and the room", () => {
  test("a plain reply of someone else is no unread message of the room, nor in its list", () => {
    const state = roomState({ current: false });
    run(state, created(reply(4)));
    const room = state.rooms.get(ROOM);
    assert.equal(room.unread_count, 0);
    assert.equal(room.mention_count || 0, 0);
    assert.equal(room.counts_seq, 4);
    assert.equal(room.seq, 4);
    assert.equal(state.loaded.get(ROOM).messages.has("m4"), false);
    assert.equal(room.last_message, null, "the room list's preview is not the reply");
  });

  test("in a direct room a mention in a reply that stays in its thread is no mention of the room", () => {
    const state = roomState({ current: false });
    state.rooms.get(ROOM).room_type = "direct";
    run(state, created(reply(4, { mentions: [{ kind: "user", user_id: ME.id }] })));
    assert.equal(state.rooms.get(ROOM).mention_count || 0, 0);
  });

  test("a reply also sent to the room counts and shows there like any message", () => {
    const state = roomState({ current: false });
    run(state, created(reply(4, { also_in_room: true })));
    const room = state.rooms.get(ROOM);
    assert.equal(room.unread_count, 1);
    assert.deepEqual(state.loaded.get(ROOM).order.at(-1), "m4");
    assert.equal(room.last_message.id, "m4");
  });

  test("a mention of me in a plain reply still counts as a mention of the room", () => {
    const state = roomState({ current: false });
    const effects = run(state, created(reply(4, { mentions: [{ kind: "user", user_id: ME.id }] })));
    const room = state.rooms.get(ROOM);
    assert.equal(room.unread_count, 0);
    assert.equal(room.mention_count, 1);
    const arrived = effects.find((effect) => effect.type === "message-arrived");
    assert.equal(arrived.mentioned, true);
  });

  test("in a direct room a plain reply is no mention by itself", () => {
    const state = roomState({ current: false });
    state.rooms.get(ROOM).room_type = "direct";
    run(state, created(reply(4)));
    assert.equal(state.rooms.get(ROOM).mention_count || 0, 0);
  });

  test("my own reply settles its pending send without drawing it in the room", () => {
    const state = roomState();
    const rd = state.loaded.get(ROOM);
    rd.pending.set("c-1", createPending({ clientMsgId: "c-1", room: ROOM, content: "hi", sender: ME, thread: ROOT }));
    run(state, created(reply(4, { sender: ME, client_msg_id: "c-1" })));
    assert.equal(rd.pending.size, 0);
    assert.equal(rd.messages.has("m4"), false);
  });

  test("the server's answer to my reply goes to the open panel, not to the room's list", () => {
    const state = roomState();
    const panel = openPanel(state);
    acceptMessage(state, reply(4, { sender: ME }));
    assert.deepEqual(panel.order, ["m4"]);
    assert.equal(state.loaded.get(ROOM).messages.has("m4"), false);
  });
});

describe("the open thread panel", () => {
  test("a reply of its thread shows there at once and asks for a read of the thread", () => {
    const state = roomState();
    const panel = openPanel(state);
    const effects = run(state, created(reply(4)));
    assert.deepEqual(panel.order, ["m4"]);
    assert.ok(effectTypes(effects).includes("mark-thread-read"));
    assert.ok(rendered(effects).has("thread"));
  });

  test("my reply in it makes its toggle say Following", () => {
    const state = roomState();
    const panel = openPanel(state);
    panel.following = false;
    run(state, created(reply(4, { sender: ME })));
    assert.equal(panel.following, true);
  });

  test("a reply of another thread does not", () => {
    const state = roomState();
    const panel = openPanel(state);
    run(state, created(message(4, { thread: "m1" })));
    assert.deepEqual(panel.order, []);
  });

  test("typing in the thread shows in the panel, not in the room", () => {
    const state = roomState();
    const panel = openPanel(state);
    const effects = run(state, { type: "typing", room: ROOM, thread: ROOT, user: BOB, is_typing: true, expires_in: 5 });
    assert.equal(panel.typing.has(BOB.id), true);
    assert.equal(state.loaded.get(ROOM).typing.size, 0);
    assert.deepEqual(effects[0], { type: "expire-typing", room: ROOM, thread: ROOT, user_id: BOB.id, until: NOW + 5000, after: 5000 });
  });

  test("typing that names this root but another room shows nowhere", () => {
    const state = roomState();
    const panel = openPanel(state);
    run(state, { type: "typing", room: "another-room", thread: ROOT, user: BOB, is_typing: true, expires_in: 5 });
    assert.equal(panel.typing.size, 0);
  });

  test("an edit, a reaction and a delete of a reply reach the panel; of the root, its top", () => {
    const state = roomState();
    const panel = openPanel(state);
    run(state, created(reply(4)));
    run(state, { type: "message.updated", room: ROOM, seq: 5, message_id: "m4", message: reply(4, { content: "edited" }) });
    assert.equal(panel.messages.get("m4").content, "edited");
    run(state, { type: "reaction.added", room: ROOM, seq: 6, message_id: "m4", reaction: "👍", user_id: BOB.id, count: 1 });
    assert.equal(panel.messages.get("m4").reactions[0].count, 1);
    run(state, { type: "message.deleted", room: ROOM, seq: 7, message_id: ROOT, message: message(2, { content: null, is_deleted: true }) });
    assert.equal(panel.root.is_deleted, true);
    assert.deepEqual(panel.order, ["m4"], "the replies stay");
  });
});

describe("thread.updated", () => {
  test("the root's summary changes in the room's list and in the open panel", () => {
    const state = roomState();
    const panel = openPanel(state);
    const rd = state.loaded.get(ROOM);
    run(state, created(reply(4)));
    const effects = run(state, updated(5, 1));
    assert.deepEqual(rd.messages.get(ROOT).thread_summary, summary(1));
    assert.ok(rd.dirty.has(ROOT));
    assert.deepEqual(panel.root.thread_summary, summary(1));
    assert.ok(panel.rootDirty);
    assert.ok(rendered(effects).has("messages"));
    assert.equal(state.rooms.get(ROOM).seq, 5);
  });

  test("adds nothing to the room's unread count", () => {
    const state = roomState({ current: false });
    run(state, created(reply(4)));
    run(state, updated(5, 1));
    assert.equal(state.rooms.get(ROOM).unread_count, 0);
  });

  test("the Threads view's copy of the root follows it", () => {
    const state = roomState();
    following(state);
    run(state, updated(4, 3));
    assert.equal(state.threads.get(ROOT).root.thread_summary.reply_count, 3);
    assert.equal(state.threads.get(ROOT).last_reply_at, summary(3).last_reply_at);
  });
});

describe("unread replies of followed threads", () => {
  test("a reply in a thread I follow adds one to it and to the Threads total", () => {
    const state = roomState({ current: false });
    following(state);
    const effects = run(state, created(reply(4)));
    assert.equal(state.threads.get(ROOT).unread_count, 1);
    assert.deepEqual(state.threadTotals, { threads: 1, replies: 1 });
    run(state, created(reply(5, { sender: CAROL })));
    assert.deepEqual(state.threadTotals, { threads: 1, replies: 2 });
    assert.ok(effectTypes(effects).includes("thread-activity"));
    assert.equal(effectTypes(effects).includes("refresh-threads"), false);
    const arrived = effects.find((effect) => effect.type === "message-arrived");
    assert.equal(arrived.followed_thread, true);
  });

  test("the same reply twice (a replay) counts once", () => {
    const state = roomState({ current: false });
    following(state);
    const msg = reply(4);
    countThreadReply(state, msg);
    countThreadReply(state, msg);
    assert.equal(state.threads.get(ROOT).unread_count, 1);
    assert.equal(state.threadTotals.replies, 1);
  });

  test("my own reply, a reply before my read position and a blocked sender's add nothing", () => {
    const state = roomState({ current: false });
    following(state, { lastRead: 6 });
    state.blocked = new Set([CAROL.id]);
    run(state, created(reply(4, { sender: ME })));
    countThreadReply(state, reply(5));
    run(state, created(reply(7, { sender: CAROL })));
    assert.equal(state.threads.get(ROOT).unread_count, 0);
    assert.equal(state.threadTotals.replies, 0);
  });

  test("a thread I unfollowed counts nothing, even when a reply mentions me (the server keeps the unfollow)", () => {
    const state = roomState({ current: false });
    following(state);
    state.threads.get(ROOT).following = false;
    run(state, created(reply(4)));
    run(state, created(reply(5, { mentions: [{ kind: "user", user_id: ME.id }] })));
    assert.equal(state.threads.get(ROOT).following, false);
    assert.equal(state.threadTotals.replies, 0);
  });

  test("the root's author follows it: a reply to my message counts", () => {
    const state = roomState({ current: false });
    state.loaded.get(ROOM).messages.get(ROOT).sender = ME;
    const effects = run(state, created(reply(4)));
    assert.equal(state.threads.get(ROOT).following, true);
    assert.equal(state.threadTotals.replies, 1);
    // A thread the page first hears of may have had unread replies: the server's totals are asked.
    assert.ok(effectTypes(effects).includes("refresh-threads"));
  });

  test("a mention of me in a reply follows the thread", () => {
    const state = roomState({ current: false });
    run(state, created(reply(4, { mentions: [{ kind: "user", user_id: ME.id }] })));
    assert.equal(state.threads.get(ROOT).following, true);
    assert.equal(state.threadTotals.replies, 1);
  });

  test("a reply in a thread the page knows nothing of asks the server for the totals", () => {
    const state = roomState({ current: false });
    const effects = run(state, created(reply(4)));
    assert.equal(state.threadTotals.replies, 0);
    assert.ok(effectTypes(effects).includes("refresh-threads"));
  });

  test("thread.read from another tab clears the thread's count and the total, once", () => {
    const state = roomState();
    following(state, { unread: 2 });
    const frame = { type: "thread.read", room: ROOM, thread: ROOT, last_read_seq: 9, unread_count: 0 };
    const effects = run(state, frame);
    assert.equal(state.threads.get(ROOT).unread_count, 0);
    assert.equal(state.threads.get(ROOT).last_read_seq, 9);
    assert.deepEqual(state.threadTotals, { threads: 0, replies: 0 });
    assert.ok(rendered(effects).has("threads"));
    run(state, frame);
    assert.deepEqual(state.threadTotals, { threads: 0, replies: 0 });
    // Replies at or before the new read position are read already.
    countThreadReply(state, reply(8));
    assert.equal(state.threadTotals.replies, 0);
  });

  test("a read that leaves some unread takes the server's count", () => {
    const state = roomState();
    following(state, { unread: 3 });
    applyThreadRead(state, { thread: ROOT, last_read_seq: 8, unread_count: 1 });
    assert.deepEqual(state.threadTotals, { threads: 1, replies: 1 });
  });

  test("a read of a thread the page did not know is taken without guessing the total", () => {
    const state = roomState();
    applyThreadTotals(state, { threads: 2, replies: 5 });
    const guessed = applyThreadRead(state, { thread: "m1", room: ROOM, last_read_seq: 4, unread_count: 0 });
    assert.equal(guessed, true);
    assert.deepEqual(state.threadTotals, { threads: 2, replies: 5 });
  });
});

describe("helpers", () => {
  test("what the room shows and what can start a thread", () => {
    assert.equal(inRoom(message(1)), true);
    assert.equal(inRoom(reply(4)), false);
    assert.equal(inRoom(reply(4, { also_in_room: true })), true);
    assert.equal(canStartThread(message(1)), true);
    assert.equal(canStartThread(reply(4, { also_in_room: true })), false);
    assert.equal(canStartThread(message(1, { message_type: "system", sender: null })), false);
  });

  test("the summary's words", () => {
    const at = Date.parse("2026-01-01T12:00:00Z");
    const iso = (minutes) => new Date(at - minutes * 60000).toISOString();
    assert.equal(summaryText(null), null);
    assert.equal(summaryText({ reply_count: 0, last_reply_at: null }), null);
    assert.equal(summaryText({ reply_count: 1, last_reply_at: iso(0) }, at), "1 reply · last reply just now");
    assert.equal(summaryText({ reply_count: 3, last_reply_at: iso(5) }, at), "3 replies · last reply 5 min ago");
    assert.equal(summaryText({ reply_count: 12, last_reply_at: iso(180) }, at), "12 replies · last reply 3 h ago");
    assert.equal(summaryText({ reply_count: 2, last_reply_at: iso(60 * 49) }, at), "2 replies · last reply 2 days ago");
  });

  test("the Threads list: unread first, then the newest reply", () => {
    const a = { unread_count: 0, last_reply_at: "2026-01-03T00:00:00Z" };
    const b = { unread_count: 2, last_reply_at: "2026-01-01T00:00:00Z" };
    const c = { unread_count: 0, last_reply_at: "2026-01-02T00:00:00Z" };
    assert.deepEqual([a, b, c].sort(threadOrder), [b, a, c]);
  });

  test("a reply's send frame names its thread; a room message's frame is unchanged", () => {
    const base = { clientMsgId: "c-1", room: ROOM, content: "hi", sender: ME, now: new Date(0) };
    assert.deepEqual(sendFrame(createPending({ ...base, thread: ROOT, alsoInRoom: true })), {
      type: "message.send",
      room: ROOM,
      content: "hi",
      client_msg_id: "c-1",
      reply_to: null,
      attachment_id: null,
      thread: ROOT,
      also_in_room: true,
    });
    assert.equal("thread" in sendFrame(createPending(base)), false);
  });
});

describe("notifications of replies", () => {
  const settings = { desktop_enabled: true };
  const room = { id: ROOM, room_type: "group", notify_level: "all" };
  const ask = (msg, rest = {}) => shouldNotify({ message: msg, room, meId: ME.id, settings, currentId: null, hidden: false, now: Date.parse(msg.created_at), ...rest });

  test("a reply in a thread I follow notifies like a mention; one I do not, not even at level all", () => {
    assert.equal(ask(reply(4), { followedThread: true }), true);
    assert.equal(ask(reply(4)), false);
    assert.equal(ask(reply(4, { also_in_room: true })), true);
  });

  test("not while its thread is open in the room I look at", () => {
    assert.equal(ask(reply(4), { followedThread: true, currentId: ROOM, threadOpen: true }), false);
    assert.equal(ask(reply(4), { followedThread: true, currentId: ROOM, threadOpen: false }), true);
  });
});
