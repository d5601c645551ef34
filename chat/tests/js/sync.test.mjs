// Sync logic (static/chat/sync.js): seq cursors, room items from REST,
// resync, and the requests after a hello or a gap.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createState } from "../../../static/chat/state.js";
import {
  DUPLICATE,
  GAP,
  NEXT,
  Syncer,
  mergeRoomItem,
  notFoundInSync,
  placeSeq,
  planHello,
  restartRoomLog,
} from "../../../static/chat/sync.js";
import { BOB, FakeSocket, ME, OTHER_ROOM, ROOM, roomState, socketError } from "./helpers.mjs";

const THIRD_ROOM = "33333333-3333-4333-8333-333333333333";

describe("the seq cursor", () => {
  test("next, duplicate or gap", () => {
    assert.equal(placeSeq(3, 4), NEXT);
    assert.equal(placeSeq(3, 3), DUPLICATE);
    assert.equal(placeSeq(3, 1), DUPLICATE);
    assert.equal(placeSeq(3, 5), GAP);
    assert.equal(placeSeq(0, 1), NEXT);
  });
});

describe("room items from REST", () => {
  const item = (seq, rest = {}) => ({ id: ROOM, name: "Lobby", seq, unread_count: 5, last_read_seq: 1, last_message: { id: "m9" }, last_message_at: "2026-01-01T00:00:00Z", ...rest });

  test("a new room is taken as it is, with the peer of a direct room", () => {
    const state = createState({ me: ME });
    const { room, added, stale } = mergeRoomItem(state, item(3, { room_type: "direct", peer: BOB }));
    assert.equal(added, true);
    assert.equal(stale, false);
    assert.equal(state.rooms.get(ROOM), room);
    assert.equal(state.peers.get(ROOM), BOB);
  });

  test("at our seq, the counts and the last message are taken; the read position only moves forward", () => {
    const state = roomState();
    state.rooms.get(ROOM).last_read_seq = 2;
    const { room, stale } = mergeRoomItem(state, item(3, { name: "New name" }));
    assert.equal(stale, false);
    assert.equal(room.name, "New name");
    assert.equal(room.unread_count, 5);
    assert.equal(room.last_message.id, "m9");
    assert.equal(room.last_read_seq, 2);
  });

  test("ahead of our events, the counts are taken as of the item's seq (the events up to it add nothing) and the item is stale", () => {
    const state = roomState();
    const { room, stale } = mergeRoomItem(state, item(7, { name: "New name", mention_count: 2 }));
    assert.equal(stale, true);
    assert.equal(room.name, "New name");
    assert.equal(room.unread_count, 5);
    assert.equal(room.mention_count, 2);
    assert.equal(room.counts_seq, 7);
    assert.equal(room.seq, 3);
    assert.equal(room.last_message, null);
  });

  test("behind our events, the counts stay and nothing is fetched again", () => {
    const state = roomState();
    const { room, stale } = mergeRoomItem(state, item(2));
    assert.equal(stale, false);
    assert.equal(room.unread_count, 0);
  });
});

describe("resync", () => {
  test("the cursor only moves forward; a room not loaded just gets refreshed", () => {
    const state = roomState({ loaded: false });
    const effects = restartRoomLog(state, ROOM, 1);
    assert.equal(state.rooms.get(ROOM).seq, 3);
    assert.equal(state.loaded.has(ROOM), false);
    assert.deepEqual(effects[0], { type: "refresh-room", id: ROOM });
  });

  test("an unknown room is ignored", () => {
    assert.deepEqual(restartRoomLog(roomState(), OTHER_ROOM, 9), []);
  });
});

describe("hello", () => {
  const hello = (...ids) => ({ type: "hello", rooms: ids.map((id) => ({ id, seq: 1 })) });

  test("the plan: gone rooms, known ones with their cursors, unknown ones", () => {
    const state = roomState();
    state.rooms.set(OTHER_ROOM, { id: OTHER_ROOM, seq: 8 });
    assert.deepEqual(planHello(state, hello(ROOM, THIRD_ROOM)), { gone: [OTHER_ROOM], known: { [ROOM]: 3 }, unknown: [THIRD_ROOM] });
  });

  test("rooms the sync answer cannot find", () => {
    assert.deepEqual(notFoundInSync({ rooms: { a: "ok", b: "not_found", c: 4 } }), ["b"]);
    assert.deepEqual(notFoundInSync(undefined), []);
  });

  function syncer(state, socket) {
    const calls = { removed: [], fetched: [], reloads: 0, live: 0 };
    const sync = new Syncer(state, {
      socket: () => socket,
      removeRoom: (id, options) => {
        calls.removed.push([id, options]);
        state.rooms.delete(id);
      },
      fetchRoom: async (id) => calls.fetched.push(id),
      reloadRooms: async () => {
        calls.reloads += 1;
      },
      whenLive: () => {
        calls.live += 1;
      },
    });
    return { sync, calls };
  }

  test("syncs every known room from its cursor before going live; the room list is reloaded only after a reconnect", async () => {
    const state = roomState();
    state.rooms.set(OTHER_ROOM, { id: OTHER_ROOM, seq: 8 });
    const socket = new FakeSocket({ live: false, answer: () => ({ rooms: { [ROOM]: "ok" } }) });
    const { sync, calls } = syncer(state, socket);

    assert.equal(await sync.hello(hello(ROOM, THIRD_ROOM)), true);
    assert.deepEqual(socket.requests, [{ type: "sync", rooms: { [ROOM]: 3 } }]);
    assert.deepEqual(calls.removed, [[OTHER_ROOM, { quiet: true }]]); // first hello: quiet
    assert.deepEqual(calls.fetched, [THIRD_ROOM]);
    assert.equal(socket.markedLive, 1);
    assert.equal(calls.reloads, 0);
    assert.equal(calls.live, 1);
    assert.equal(sync.everLive, true);

    state.rooms.set(OTHER_ROOM, { id: OTHER_ROOM, seq: 8 });
    socket.answer = () => ({ rooms: { [ROOM]: "not_found" } });
    await sync.hello(hello(ROOM));
    assert.deepEqual(calls.removed.slice(1), [
      [OTHER_ROOM, { quiet: false }], // reconnected: said out loud
      [ROOM, { quiet: true }],
    ]);
    assert.equal(calls.reloads, 1);
  });

  test("a refused sync restarts the socket; a lost one waits for the next hello", async () => {
    for (const [code, restarts] of [
      ["invalid", 1],
      ["offline", 0],
      ["disconnected", 0],
    ]) {
      const socket = new FakeSocket({
        answer: () => {
          throw socketError(code);
        },
      });
      const { sync, calls } = syncer(roomState(), socket);
      assert.equal(await sync.hello(hello(ROOM)), false);
      assert.equal(socket.restarts, restarts, code);
      assert.equal(socket.markedLive, 0);
      assert.equal(calls.live, 0);
    }
  });
});

describe("a gap in one room", () => {
  test("one sync at a time per room, from the room's cursor", async () => {
    const state = roomState();
    const socket = new FakeSocket();
    const sync = new Syncer(state, { socket: () => socket });
    const first = sync.syncRoom(ROOM);
    assert.equal(sync.syncRoom(ROOM), null);
    assert.deepEqual(socket.requests, [{ type: "sync", rooms: { [ROOM]: 3 } }]);
    await first;
    assert.notEqual(sync.syncRoom(ROOM), null);
    assert.equal(socket.requests.length, 2);
  });

  test("nothing while the socket is not live, nor for an unknown room", () => {
    const socket = new FakeSocket({ live: false });
    const sync = new Syncer(roomState(), { socket: () => socket });
    assert.equal(sync.syncRoom(ROOM), null);
    socket.live = true;
    assert.equal(sync.syncRoom(OTHER_ROOM), null);
    assert.equal(socket.requests.length, 0);
  });

  test("a failed sync is forgotten: the next gap asks again", async () => {
    const socket = new FakeSocket({
      answer: () => {
        throw socketError("timeout");
      },
    });
    const sync = new Syncer(roomState(), { socket: () => socket });
    await sync.syncRoom(ROOM);
    assert.equal(sync.inFlight.size, 0);
  });
});
