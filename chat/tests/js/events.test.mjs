// The reducer of socket frames (static/chat/events.js): state changes, and
// effects returned rather than performed.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createEffectRunner, createReducer } from "../../../static/chat/events.js";
import { TYPING_REF } from "../../../static/chat/socket.js";
import { createWire } from "../../../static/chat/wire.js";
import { BOB, CAROL, ME, OTHER_ROOM, ROOM, WIRE, WIRE_CONSTANTS, effectTypes, member, message, rendered, roomState } from "./helpers.mjs";

const reduce = createReducer(WIRE);
const NOW = 1_000_000;
const run = (state, frame) => reduce(state, frame, { now: NOW });

// One frame of each kind the server sends, at the next seq of ROOM (seq 3).
const SAMPLES = {
  "message.created": { type: "message.created", room: ROOM, seq: 4, message: message(4) },
  "message.updated": { type: "message.updated", room: ROOM, seq: 4, message: message(2, { content: "edited", is_edited: true }) },
  "message.deleted": { type: "message.deleted", room: ROOM, seq: 4, message: message(3, { content: null, is_deleted: true }) },
  "reaction.added": { type: "reaction.added", room: ROOM, seq: 4, message_id: "m2", reaction: "👍", user_id: BOB.id, count: 1 },
  "reaction.removed": { type: "reaction.removed", room: ROOM, seq: 4, message_id: "m2", reaction: "👍", user_id: BOB.id, count: 0 },
  "member.added": { type: "member.added", room: ROOM, seq: 4, member: member(CAROL) },
  "member.updated": { type: "member.updated", room: ROOM, seq: 4, member: member(BOB, { role: "admin" }) },
  "member.removed": { type: "member.removed", room: ROOM, seq: 4, member: member(BOB, { is_active: false }), reason: "removed" },
  "room.updated": { type: "room.updated", room: ROOM, seq: 4, room_data: { name: "Renamed", seq: 99 } },
  "message.pinned": { type: "message.pinned", room: ROOM, seq: 4, message_id: "m2", pinned_by: BOB, pinned_at: message(4).created_at },
  "message.unpinned": { type: "message.unpinned", room: ROOM, seq: 4, message_id: "m2", unpinned_by: BOB.id },
  "thread.updated": { type: "thread.updated", room: ROOM, seq: 4, thread: "m2", summary: { reply_count: 1, last_reply_at: message(4).created_at, participants: [BOB] } },
  typing: { type: "typing", room: ROOM, user: BOB, is_typing: true, expires_in: 5 },
  presence: { type: "presence", user: BOB, status: "away" },
  read: { type: "read", room: ROOM, user_id: BOB.id, seq: 2 },
};

describe("every kind the server names", () => {
  test("has a sample here, and each sample changes the state", () => {
    const kinds = [...WIRE.logged, ...WIRE.ephemeral].sort();
    assert.deepEqual(Object.keys(SAMPLES).sort(), kinds);
    for (const kind of kinds) {
      const state = roomState();
      const before = JSON.stringify([...state.rooms.values(), [...state.presence], [...state.loaded.get(ROOM).members.values()]]);
      const effects = run(state, structuredClone(SAMPLES[kind]));
      assert.ok(effects.length > 0, `${kind}: no effects`);
      const after = JSON.stringify([...state.rooms.values(), [...state.presence], [...state.loaded.get(ROOM)?.members.values() ?? []]]);
      const rd = state.loaded.get(ROOM);
      const changed = before !== after || (rd && (rd.dirty.size > 0 || rd.typing.size > 0)) || !rd;
      assert.ok(changed, `${kind}: the state did not change`);
      if (WIRE.logged.has(kind) && state.rooms.has(ROOM)) assert.equal(state.rooms.get(ROOM).seq, 4, `${kind}: the cursor did not move`);
    }
  });

  test("a reducer refuses a wire vocabulary it has no handler for", () => {
    const constants = structuredClone(WIRE_CONSTANTS);
    constants.events.logged.push("poll.created");
    assert.throws(() => createReducer(createWire(constants)), /poll\.created/);
  });

  test("which kinds are logged comes from the wire constants, not from the reducer", () => {
    const constants = structuredClone(WIRE_CONSTANTS);
    constants.events.ephemeral = constants.events.ephemeral.filter((kind) => kind !== "typing");
    const state = roomState();
    const effects = createReducer(createWire(constants))(state, SAMPLES.typing, { now: NOW });
    assert.deepEqual(effects, []);
    assert.equal(state.loaded.get(ROOM).typing.size, 0);
  });
});

describe("logged events and the seq cursor", () => {
  test("the next seq is applied and moves the cursor", () => {
    const state = roomState();
    run(state, SAMPLES["message.created"]);
    assert.equal(state.rooms.get(ROOM).seq, 4);
    assert.deepEqual(state.loaded.get(ROOM).order, ["m1", "m2", "m3", "m4"]);
  });

  test("a duplicate (at or below the cursor) is dropped without effects", () => {
    const state = roomState();
    for (const seq of [3, 2]) {
      const effects = run(state, { ...SAMPLES["message.created"], seq, message: message(seq, { content: "again" }) });
      assert.deepEqual(effects, []);
    }
    assert.equal(state.rooms.get(ROOM).seq, 3);
    assert.equal(state.loaded.get(ROOM).messages.get("m3").content, "message 3");
    assert.equal(state.rooms.get(ROOM).unread_count, 0);
  });

  test("a gap asks for a sync of the room and applies nothing", () => {
    const state = roomState();
    const effects = run(state, { ...SAMPLES["message.created"], seq: 6, message: message(6) });
    assert.deepEqual(effects, [{ type: "sync-room", id: ROOM }]);
    assert.equal(state.rooms.get(ROOM).seq, 3);
    assert.equal(state.loaded.get(ROOM).messages.has("m6"), false);
  });

  test("an event of an unknown room is ignored, unless it adds me", () => {
    const state = roomState();
    assert.deepEqual(run(state, { ...SAMPLES["message.created"], room: OTHER_ROOM }), []);
    const effects = run(state, { type: "member.added", room: OTHER_ROOM, seq: 1, member: member(ME) });
    assert.deepEqual(effects, [{ type: "fetch-room", id: OTHER_ROOM }]);
    assert.equal(state.rooms.has(OTHER_ROOM), false);
  });

  test("a logged kind without a seq is ignored", () => {
    const state = roomState();
    const { seq: _seq, ...frame } = SAMPLES["message.created"];
    assert.deepEqual(run(state, frame), []);
    assert.equal(state.rooms.get(ROOM).seq, 3);
  });
});

describe("messages", () => {
  test("someone else's message: last message, unread count, typing stops, mark-read in the open room", () => {
    const state = roomState();
    const rd = state.loaded.get(ROOM);
    rd.typing.set(BOB.id, { user: BOB, until: NOW + 5000 });
    const effects = run(state, SAMPLES["message.created"]);
    const room = state.rooms.get(ROOM);
    assert.equal(room.last_message.id, "m4");
    assert.equal(room.unread_count, 1);
    assert.equal(rd.typing.has(BOB.id), false);
    assert.ok(effects.some((e) => e.type === "mark-read" && e.room === ROOM));
    assert.deepEqual(rendered(effects), new Set(["typing", "rooms", "messages"]));
  });

  test("no read mark for a room that is not open, no unread count for my own message", () => {
    const state = roomState({ current: false });
    const effects = run(state, { ...SAMPLES["message.created"], message: message(4, { sender: ME }) });
    assert.equal(effectTypes(effects).includes("mark-read"), false);
    assert.equal(state.rooms.get(ROOM).unread_count, 0);
  });

  test("an edit replaces the held copy and the room's last message", () => {
    const state = roomState();
    state.rooms.get(ROOM).last_message = message(2);
    const effects = run(state, SAMPLES["message.updated"]);
    assert.equal(state.loaded.get(ROOM).messages.get("m2").content, "edited");
    assert.equal(state.rooms.get(ROOM).last_message.content, "edited");
    assert.equal(effectTypes(effects).includes("refresh-room"), false);
  });

  test("deleting the last message, or an unread one of someone else, refreshes the room", () => {
    const state = roomState();
    state.rooms.get(ROOM).last_message = message(3);
    state.rooms.get(ROOM).last_read_seq = 2;
    const effects = run(state, SAMPLES["message.deleted"]);
    assert.equal(state.loaded.get(ROOM).messages.get("m3").is_deleted, true);
    assert.deepEqual(
      effects.filter((e) => e.type === "refresh-room"),
      [
        { type: "refresh-room", id: ROOM },
        { type: "refresh-room", id: ROOM },
      ],
    );
  });

  test("an edit of a message not loaded yet waits for the page of history", () => {
    const state = roomState();
    const rd = state.loaded.get(ROOM);
    rd.ready = false;
    run(state, { ...SAMPLES["message.updated"], message: message(1, { id: "old", content: "edited early" }) });
    rd.merge([message(1, { id: "old" })]);
    assert.equal(rd.messages.get("old").content, "edited early");
  });
});

describe("reactions", () => {
  test("added then removed, idempotently", () => {
    const state = roomState();
    const rd = state.loaded.get(ROOM);
    run(state, SAMPLES["reaction.added"]);
    assert.deepEqual(rd.messages.get("m2").reactions, [{ reaction: "👍", count: 1, user_ids: [BOB.id] }]);
    run(state, { ...SAMPLES["reaction.added"], seq: 5 });
    assert.equal(rd.messages.get("m2").reactions[0].user_ids.length, 1);
    const effects = run(state, { ...SAMPLES["reaction.removed"], seq: 6 });
    assert.deepEqual(rd.messages.get("m2").reactions, []);
    assert.deepEqual(rendered(effects), new Set(["messages"]));
  });
});

describe("members and the room", () => {
  test("someone added: counted once, listed", () => {
    const state = roomState();
    run(state, SAMPLES["member.added"]);
    const rd = state.loaded.get(ROOM);
    assert.equal(state.rooms.get(ROOM).member_count, 3);
    assert.ok(rd.members.has(CAROL.id));
    assert.equal(rd.memberEvents, 1);
  });

  test("my role changes: the room knows it and every message is drawn again", () => {
    const state = roomState();
    const effects = run(state, { ...SAMPLES["member.updated"], member: member(ME, { role: "admin" }) });
    assert.equal(state.rooms.get(ROOM).my_role, "admin");
    assert.deepEqual([...state.loaded.get(ROOM).dirty].sort(), ["m1", "m2", "m3"]);
    assert.ok(rendered(effects).has("composer"));
  });

  test("someone removed: uncounted, unlisted, no longer typing", () => {
    const state = roomState();
    const rd = state.loaded.get(ROOM);
    rd.typing.set(BOB.id, { user: BOB, until: NOW + 5000 });
    run(state, SAMPLES["member.removed"]);
    assert.equal(state.rooms.get(ROOM).member_count, 1);
    assert.equal(rd.members.has(BOB.id), false);
    assert.equal(rd.typing.has(BOB.id), false);
  });

  test("I am removed: the room leaves the state, the notice is an effect", () => {
    const state = roomState();
    const room = state.rooms.get(ROOM);
    const effects = run(state, { ...SAMPLES["member.removed"], member: member(ME), reason: "banned" });
    assert.equal(state.rooms.has(ROOM), false);
    assert.equal(state.loaded.has(ROOM), false);
    assert.deepEqual(effects, [{ type: "room-removed", room, reason: "banned" }]);
  });

  test("room.updated merges the room's fields, not its seq", () => {
    const state = roomState();
    run(state, SAMPLES["room.updated"]);
    assert.equal(state.rooms.get(ROOM).name, "Renamed");
    assert.equal(state.rooms.get(ROOM).seq, 4);
  });
});

describe("ephemeral notices", () => {
  test("typing: shown until it expires (an effect), and its author counts as online", () => {
    const state = roomState();
    const effects = run(state, SAMPLES.typing);
    assert.deepEqual(state.loaded.get(ROOM).typing.get(BOB.id), { user: BOB, until: NOW + 5000 });
    assert.deepEqual(effects[0], { type: "expire-typing", room: ROOM, user_id: BOB.id, until: NOW + 5000, after: 5000 });
    assert.equal(state.presence.get(BOB.id), "online");
    run(state, { ...SAMPLES.typing, is_typing: false });
    assert.equal(state.loaded.get(ROOM).typing.size, 0);
  });

  test("my own typing and typing in a room not loaded are ignored", () => {
    const state = roomState();
    assert.deepEqual(run(state, { ...SAMPLES.typing, user: ME }), []);
    assert.deepEqual(run(state, { ...SAMPLES.typing, room: OTHER_ROOM }), []);
  });

  test("presence: away, then offline", () => {
    const state = roomState();
    run(state, SAMPLES.presence);
    assert.equal(state.presence.get(BOB.id), "away");
    run(state, { ...SAMPLES.presence, status: "offline" });
    assert.equal(state.presence.has(BOB.id), false);
    assert.deepEqual(run(state, { ...SAMPLES.presence, user: ME }), []);
  });

  test("read by someone else moves their read position", () => {
    const state = roomState();
    const effects = run(state, SAMPLES.read);
    assert.equal(state.loaded.get(ROOM).members.get(BOB.id).last_read_seq, 2);
    assert.deepEqual(rendered(effects), new Set(["seen"]));
  });

  test("read in another window of mine: unread cleared, or the count fetched again", () => {
    const state = roomState();
    const room = state.rooms.get(ROOM);
    room.unread_count = 2;
    room.last_read_seq = 1;
    let effects = run(state, { type: "read", room: ROOM, user_id: ME.id, seq: 2 });
    assert.equal(room.last_read_seq, 2);
    assert.equal(room.unread_count, 2);
    assert.deepEqual(effects.filter((e) => e.type === "refresh-room"), [{ type: "refresh-room", id: ROOM }]);
    effects = run(state, { type: "read", room: ROOM, user_id: ME.id, seq: 3 });
    assert.equal(room.unread_count, 0);
    assert.equal(effectTypes(effects).includes("refresh-room"), false);
  });
});

describe("server frames", () => {
  test("resync_required starts the open room's log over, keeping unsent messages and the draft", () => {
    const state = roomState();
    const old = state.loaded.get(ROOM);
    old.pending.set("c1", { client_msg_id: "c1" });
    old.draft = "half a sentence";
    const effects = run(state, { type: "resync_required", room: ROOM, seq: 40 });
    const fresh = state.loaded.get(ROOM);
    assert.notEqual(fresh, old);
    assert.equal(fresh.ready, false);
    assert.equal(fresh.pending.get("c1").client_msg_id, "c1");
    assert.equal(fresh.draft, "half a sentence");
    assert.equal(state.rooms.get(ROOM).seq, 40);
    assert.deepEqual(effectTypes(effects), ["reload-room", "refresh-room", "render"]);
  });

  test("resync_required of a room not open reloads nothing now", () => {
    const state = roomState({ current: false });
    assert.deepEqual(effectTypes(run(state, { type: "resync_required", room: ROOM, seq: 2 })), ["refresh-room", "render"]);
    assert.equal(state.rooms.get(ROOM).seq, 3);
  });

  test("an error frame without a request is shown, but never one about a typing notice", () => {
    const frame = { type: "error", code: "rate_limited", detail: "Slow down." };
    assert.deepEqual(run(roomState(), frame), [{ type: "show-error", error: frame }]);
    assert.deepEqual(run(roomState(), { ...frame, ref: TYPING_REF }), []);
    assert.deepEqual(run(roomState(), { ...frame, code: "overloaded", ref: TYPING_REF }), []);
  });

  test("unknown frames change nothing", () => {
    assert.deepEqual(run(roomState(), { type: "poll.created", room: ROOM, seq: 4 }), []);
  });
});

describe("effects", () => {
  test("the reducer performs nothing: its effects are data", () => {
    for (const sample of Object.values(SAMPLES)) {
      for (const effect of run(roomState(), structuredClone(sample))) {
        assert.equal(typeof effect.type, "string");
        assert.equal(Object.values(effect).some((value) => typeof value === "function"), false);
      }
    }
  });

  test("the runner performs them in order, after the reducer, and refuses unknown ones", () => {
    const done = [];
    const runEffects = createEffectRunner({
      render: (effect) => done.push(`render:${effect.parts.join(",")}`),
      "mark-read": (effect) => done.push(`mark-read:${effect.room}`),
      "expire-typing": () => done.push("expire-typing"),
      "message-arrived": (effect) => done.push(`message-arrived:${effect.message.id}`),
    });
    const state = roomState();
    runEffects(run(state, SAMPLES["message.created"]));
    assert.deepEqual(done, ["render:typing", `mark-read:${ROOM}`, "message-arrived:m4", "render:rooms,messages"]);
    assert.throws(() => runEffects([{ type: "launch" }]), /launch/);
  });
});

describe("pins", () => {
  test("a pin marks the message at once; an unpin takes it off", () => {
    const state = roomState();
    const rd = state.loaded.get(ROOM);
    rd.pins = new Map();
    const pinned = run(state, { type: "message.pinned", room: ROOM, seq: 4, message_id: "m2", pinned_by: BOB, pinned_at: "2026-11-30T10:00:00Z" });
    assert.deepEqual(rd.pins.get("m2"), { message_id: "m2", pinned_by: BOB, pinned_at: "2026-11-30T10:00:00Z" });
    assert.ok(rd.dirty.has("m2"));
    assert.deepEqual(effectTypes(pinned), ["render"]); // we hold m2: nothing to fetch
    run(state, { type: "message.unpinned", room: ROOM, seq: 5, message_id: "m2", unpinned_by: BOB.id });
    assert.equal(rd.pins.size, 0);
    assert.equal(state.rooms.get(ROOM).seq, 5);
  });

  test("a message we do not hold is fetched with the list; another room's list is forgotten", () => {
    const state = roomState();
    state.loaded.get(ROOM).pins = new Map();
    const effects = run(state, { type: "message.pinned", room: ROOM, seq: 4, message_id: "m-old", pinned_by: BOB, pinned_at: "2026-11-30T10:00:00Z" });
    assert.deepEqual(effectTypes(effects), ["refresh-pins", "render"]);
    const away = roomState({ current: false });
    away.loaded.get(ROOM).pins = new Map();
    assert.deepEqual(effectTypes(run(away, { type: "message.pinned", room: ROOM, seq: 4, message_id: "m2", pinned_by: BOB, pinned_at: "2026-11-30T10:00:00Z" })), ["render"]);
    assert.equal(away.loaded.get(ROOM).pins, null); // loaded again when the room is opened
  });

  test("a pinned message deleted redraws the room's details", () => {
    const state = roomState();
    const rd = state.loaded.get(ROOM);
    rd.pins = new Map([["m2", { message_id: "m2", message: message(2) }]]);
    const effects = run(state, { type: "message.deleted", room: ROOM, seq: 4, message: message(2, { content: null, is_deleted: true }) });
    assert.ok(effects.some((effect) => effect.type === "render" && effect.parts.includes("details")));
    assert.equal(rd.pins.get("m2").message.is_deleted, true);
  });
});
