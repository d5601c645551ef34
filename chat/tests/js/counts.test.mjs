// Unread and mention counts (static/chat/counts.js, applied by the reducer in
// events.js): the client rule of docs/realtime.md. Absolute counts (room list,
// hello, the `unread` frame, a read's answer) are as of a seq and taken only
// when not older than what the room holds; a message.created past that seq adds.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { applyCounts, countCreated, notifyLevel, roomBadges } from "../../../static/chat/counts.js";
import { applyHelloCounts, createReducer } from "../../../static/chat/events.js";
import { mergeRoomItem } from "../../../static/chat/sync.js";
import { BOB, ME, OTHER_ROOM, ROOM, WIRE, effectTypes, message, rendered, roomState } from "./helpers.mjs";

const reduce = createReducer(WIRE);
const run = (state, frame) => reduce(state, frame, { now: 1_000_000 });

const created = (seq, rest = {}) => ({ type: "message.created", room: ROOM, seq, message: message(seq, rest) });
const unread = (seq, rest = {}) => ({
  type: "unread",
  room: ROOM,
  seq,
  last_read_seq: seq,
  unread_count: 0,
  mention_count: 0,
  notify_level: "mentions",
  notifications_muted: false,
  ...rest,
});
const counts = (state, id = ROOM) => {
  const room = state.rooms.get(id);
  return { unread: room.unread_count, mentions: room.mention_count || 0 };
};
const me = (kind = "user") => [{ kind, user_id: ME.id }];

describe("message.created", () => {
  test("someone else's plain message adds to unread, not to mentions", () => {
    const state = roomState({ current: false });
    run(state, created(4));
    assert.deepEqual(counts(state), { unread: 1, mentions: 0 });
    assert.equal(state.rooms.get(ROOM).counts_seq, 4);
  });

  test("a mention of me, @here with my id, and @room each add a mention", () => {
    const state = roomState({ current: false });
    run(state, created(4, { mentions: me("user") }));
    run(state, created(5, { mentions: me("here") }));
    run(state, created(6, { mentions: [{ kind: "room", user_id: null }] }));
    assert.deepEqual(counts(state), { unread: 3, mentions: 3 });
  });

  test("@room from someone I blocked is unread but no mention", () => {
    const state = roomState({ current: false });
    state.blocked = new Set([message(4).sender.id]);
    run(state, created(4, { mentions: [{ kind: "room", user_id: null }] }));
    assert.deepEqual(counts(state), { unread: 1, mentions: 0 });
  });

  test("a mention of someone else, or @here without my id, adds no mention", () => {
    const state = roomState({ current: false });
    run(state, created(4, { mentions: [{ kind: "user", user_id: BOB.id }] }));
    run(state, created(5, { mentions: [{ kind: "here", user_id: BOB.id }] }));
    assert.deepEqual(counts(state), { unread: 2, mentions: 0 });
  });

  test("my own message adds nothing, even when it says @room", () => {
    const state = roomState({ current: false });
    const effects = run(state, created(4, { sender: ME, mentions: [{ kind: "room", user_id: null }] }));
    assert.deepEqual(counts(state), { unread: 0, mentions: 0 });
    assert.equal(effectTypes(effects).includes("message-arrived"), false);
  });

  test("in a direct room every message counts as a mention, unless the room is muted", () => {
    const state = roomState({ current: false });
    const room = state.rooms.get(ROOM);
    room.room_type = "direct";
    run(state, created(4));
    assert.deepEqual(counts(state), { unread: 1, mentions: 1 });
    room.notifications_muted = true;
    run(state, created(5));
    assert.deepEqual(counts(state), { unread: 2, mentions: 1 });
    run(state, created(6, { mentions: me() }));
    assert.deepEqual(counts(state), { unread: 3, mentions: 2 });
  });

  test("it reports the new message as an effect, with whether it mentions me", () => {
    const state = roomState({ current: false });
    const [arrived] = run(state, created(4, { mentions: me() })).filter((e) => e.type === "message-arrived");
    assert.equal(arrived.room, ROOM);
    assert.equal(arrived.message.id, "m4");
    assert.equal(arrived.mentioned, true);
    const [plain] = run(state, created(5)).filter((e) => e.type === "message-arrived");
    assert.equal(plain.mentioned, false);
  });

  test("an edit that adds a mention of me is reported for the Mentions view", () => {
    const state = roomState({ current: false });
    const effects = run(state, { type: "message.updated", room: ROOM, seq: 4, message: message(2, { content: "hi @me", mentions: me() }) });
    assert.deepEqual(effects.find((e) => e.type === "message-changed").mentioned, true);
    // (the count itself comes from the `unread` frame the server sends)
    assert.deepEqual(counts(state), { unread: 0, mentions: 0 });
  });
});

describe("the hello", () => {
  test("its counts are taken; the replayed messages up to its seq add nothing, the ones after do", () => {
    const state = roomState({ current: false });
    const taken = applyHelloCounts(state, { rooms: [{ id: ROOM, seq: 6, last_read_seq: 3, unread_count: 3, mention_count: 1 }] });
    assert.deepEqual(taken, [ROOM]);
    assert.deepEqual(counts(state), { unread: 3, mentions: 1 });
    // The sync replays 4, 5 and 6: already in the hello's counts.
    run(state, created(4, { mentions: me() }));
    run(state, created(5));
    run(state, created(6));
    assert.deepEqual(counts(state), { unread: 3, mentions: 1 });
    run(state, created(7, { mentions: me() }));
    assert.deepEqual(counts(state), { unread: 4, mentions: 2 });
  });

  test("counts older than the room's are left alone; unknown rooms are skipped", () => {
    const state = roomState({ current: false });
    run(state, created(4));
    run(state, created(5));
    const taken = applyHelloCounts(state, {
      rooms: [
        { id: ROOM, seq: 4, last_read_seq: 3, unread_count: 1, mention_count: 0 },
        { id: OTHER_ROOM, seq: 9, last_read_seq: 0, unread_count: 9, mention_count: 9 },
      ],
    });
    assert.deepEqual(taken, []);
    assert.deepEqual(counts(state), { unread: 2, mentions: 0 });
    assert.equal(state.rooms.has(OTHER_ROOM), false);
  });
});

describe("the unread frame", () => {
  test("sets the counts and the settings, absolute as of its seq", () => {
    const state = roomState({ current: false });
    run(state, created(4, { mentions: me() }));
    run(state, created(5));
    const effects = run(state, unread(5, { unread_count: 1, mention_count: 0, last_read_seq: 4, notify_level: "all", notifications_muted: true }));
    const room = state.rooms.get(ROOM);
    assert.deepEqual(counts(state), { unread: 1, mentions: 0 });
    assert.equal(room.last_read_seq, 4);
    assert.equal(room.notify_level, "all");
    assert.equal(room.notifications_muted, true);
    assert.ok(rendered(effects).has("rooms"));
  });

  test("ahead of the events: the messages up to its seq add nothing when they come", () => {
    const state = roomState({ current: false });
    run(state, unread(5, { unread_count: 2, mention_count: 1, last_read_seq: 3 }));
    run(state, created(4, { mentions: me() }));
    run(state, created(5));
    assert.deepEqual(counts(state), { unread: 2, mentions: 1 });
    run(state, created(6));
    assert.deepEqual(counts(state), { unread: 3, mentions: 1 });
  });

  test("a stale one (older than the counts held) is ignored", () => {
    const state = roomState({ current: false });
    run(state, created(4, { mentions: me() }));
    run(state, created(5, { mentions: me() }));
    const effects = run(state, unread(4, { unread_count: 1, mention_count: 1, last_read_seq: 3 }));
    assert.deepEqual(counts(state), { unread: 2, mentions: 2 });
    assert.equal(effectTypes(effects).includes("refresh-room"), false);
  });

  test("a stale one that read further than we know: the counts are fetched again, not guessed", () => {
    const state = roomState({ current: false });
    run(state, created(4));
    run(state, created(5));
    const effects = run(state, unread(4, { unread_count: 0, mention_count: 0, last_read_seq: 4 }));
    assert.deepEqual(counts(state), { unread: 2, mentions: 0 });
    assert.equal(state.rooms.get(ROOM).last_read_seq, 4);
    assert.deepEqual(effects.filter((e) => e.type === "refresh-room"), [{ type: "refresh-room", id: ROOM }]);
  });

  test("set to the default level in another tab: the frame says which level that is", () => {
    const state = roomState({ current: false });
    Object.assign(state.rooms.get(ROOM), { notify_level: "all", notify_level_is_default: false });
    const effects = run(state, unread(3, { notify_level: "mentions", notify_level_is_default: true }));
    const room = state.rooms.get(ROOM);
    assert.deepEqual([room.notify_level, room.notify_level_is_default], ["mentions", true]);
    assert.equal(effectTypes(effects).includes("refresh-room"), false);
  });

  test("of a room we do not hold: nothing", () => {
    const state = roomState();
    assert.deepEqual(run(state, { ...unread(3), room: OTHER_ROOM }), []);
  });
});

describe("my own reads", () => {
  test("a read of mine elsewhere to the end clears unread and mentions", () => {
    const state = roomState({ current: false });
    run(state, created(4, { mentions: me() }));
    run(state, created(5));
    run(state, { type: "read", room: ROOM, user_id: ME.id, seq: 5 });
    assert.deepEqual(counts(state), { unread: 0, mentions: 0 });
  });

  test("the answer to my read: taken as of its seq, not over newer counts", () => {
    const state = roomState({ current: false });
    const room = state.rooms.get(ROOM);
    run(state, created(4, { mentions: me() }));
    assert.equal(applyCounts(room, { seq: 4, last_read_seq: 4, unread_count: 0, mention_count: 0 }), true);
    assert.deepEqual(counts(state), { unread: 0, mentions: 0 });
    run(state, created(5));
    assert.equal(applyCounts(room, { seq: 4, last_read_seq: 4, unread_count: 0, mention_count: 0 }), false);
    assert.deepEqual(counts(state), { unread: 1, mentions: 0 });
  });
});

describe("several tabs of the same person", () => {
  // The same frames, in the orders two sockets may see them (the user's own
  // frames and the room's events travel apart): the counts end up the same.
  test("a read in one tab: both tabs agree, whichever comes first of the frame and the message", () => {
    const first = roomState({ current: false });
    const second = roomState({ current: false });
    for (const state of [first, second]) run(state, created(4, { mentions: me() }));
    const read = unread(5, { unread_count: 0, mention_count: 0, last_read_seq: 5 });
    // First tab: the message, then the unread frame of the read in a third tab.
    run(first, created(5, { mentions: me() }));
    run(first, read);
    // Second tab: the frame first, then the message it already covers.
    run(second, read);
    run(second, created(5, { mentions: me() }));
    assert.deepEqual(counts(first), { unread: 0, mentions: 0 });
    assert.deepEqual(counts(second), counts(first));
    // And a new message after it counts in both.
    for (const state of [first, second]) run(state, created(6, { mentions: me() }));
    assert.deepEqual(counts(first), { unread: 1, mentions: 1 });
    assert.deepEqual(counts(second), counts(first));
  });

  test("a mute set in one tab reaches the other: no unread badge there, the mention still shown", () => {
    const other = roomState({ current: false });
    run(other, created(4, { mentions: me() }));
    run(other, created(5));
    run(other, unread(5, { unread_count: 2, mention_count: 1, last_read_seq: 3, notifications_muted: true }));
    const room = other.rooms.get(ROOM);
    assert.deepEqual(roomBadges(room), { unread: 0, mentions: 1, total: 1 });
  });
});

describe("what the room list shows", () => {
  test("unread and mention badges; muted: mentions only; the open room: nothing", () => {
    const room = { id: ROOM, room_type: "group", unread_count: 4, mention_count: 1 };
    assert.deepEqual(roomBadges(room), { unread: 4, mentions: 1, total: 4 });
    assert.deepEqual(roomBadges({ ...room, notifications_muted: true }), { unread: 0, mentions: 1, total: 1 });
    assert.deepEqual(roomBadges(room, { current: true }), { unread: 0, mentions: 0, total: 0 });
  });

  test("the level in force: the member's, or all for direct rooms and mentions for the others", () => {
    assert.equal(notifyLevel({ room_type: "direct" }), "all");
    assert.equal(notifyLevel({ room_type: "group" }), "mentions");
    assert.equal(notifyLevel({ room_type: "group", notify_level: "nothing" }), "nothing");
  });

  test("a room item from REST sets the counts' seq; later events count from there", () => {
    const state = roomState({ current: false, loaded: false });
    state.rooms.clear();
    const { room } = mergeRoomItem(state, { id: ROOM, room_type: "group", seq: 3, unread_count: 1, mention_count: 1, last_read_seq: 2 });
    assert.equal(room.counts_seq, 3);
    assert.deepEqual(countCreated(room, message(3), ME.id), { unread: false, mention: false });
    assert.deepEqual(countCreated(room, message(4, { mentions: me() }), ME.id), { unread: true, mention: true });
    assert.deepEqual(counts(state), { unread: 2, mentions: 2 });
  });
});
