// What the page shows of presence (static/chat/state.js): unknown while the
// socket is not live, never the last status known before it was lost.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createReducer } from "../../../static/chat/events.js";
import { createState, forgetPresence, knowPresence, presenceOf } from "../../../static/chat/state.js";
import { BOB, CAROL, ME, WIRE } from "./helpers.mjs";

const reduce = createReducer(WIRE);

function liveState() {
  const state = createState({ me: ME });
  knowPresence(state);
  return state;
}

describe("presenceOf", () => {
  test("is unknown for everyone, me included, until the socket is live", () => {
    const state = createState({ me: ME });
    state.presence.set(BOB.id, "online");
    assert.equal(presenceOf(state, BOB.id), "unknown");
    assert.equal(presenceOf(state, CAROL.id), "unknown");
    assert.equal(presenceOf(state, ME.id), "unknown");
  });

  test("once known: online, away, offline when absent, me online", () => {
    const state = liveState();
    state.presence.set(BOB.id, "away");
    assert.equal(presenceOf(state, BOB.id), "away");
    assert.equal(presenceOf(state, CAROL.id), "offline");
    assert.equal(presenceOf(state, ME.id), "online");
    reduce(state, { type: "presence", user: CAROL, status: "online" });
    assert.equal(presenceOf(state, CAROL.id), "online");
  });
});

describe("the socket lost and back", () => {
  test("forgetting presence makes everyone unknown and says that something shown changed", () => {
    const state = liveState();
    state.presence.set(BOB.id, "online");
    assert.equal(forgetPresence(state), true);
    assert.equal(presenceOf(state, BOB.id), "unknown");
    assert.equal(state.presence.size, 0);
    // Lost again (each failed reconnect): nothing more to draw.
    assert.equal(forgetPresence(state), false);
  });

  test("after a reconnect, only what the server says again is shown: no stale online", () => {
    const state = liveState();
    state.presence.set(BOB.id, "online");
    state.presence.set(CAROL.id, "online");
    forgetPresence(state);
    // The server's presence (a frame, or the room's presence list) says Bob is online; of Carol, nothing.
    reduce(state, { type: "presence", user: BOB, status: "online" });
    assert.equal(presenceOf(state, BOB.id), "unknown");
    assert.equal(knowPresence(state), true);
    assert.equal(knowPresence(state), false);
    assert.equal(presenceOf(state, BOB.id), "online");
    assert.equal(presenceOf(state, CAROL.id), "offline");
  });
});
