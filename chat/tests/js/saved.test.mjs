// Saved messages in the browser client: a `saved` frame (from any tab of
// mine) becomes an effect, and marks or unmarks the message where it is drawn.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createReducer } from "../../../static/chat/events.js";
import { createSaved } from "../../../static/chat/saved.js";
import { ROOM, WIRE, message, roomState } from "./helpers.mjs";

const reduce = createReducer(WIRE);

function fakeApp(state) {
  const parts = [];
  return { state, parts, invalidate: (...names) => parts.push(...names) };
}

describe("saved frames", () => {
  test("the reducer hands a saved frame to the saved module and changes nothing itself", () => {
    const state = roomState();
    const frame = { type: "saved", message_id: "m2", saved: true };
    const effects = reduce(state, frame, { now: 1 });
    assert.deepEqual(effects, [{ type: "saved", frame }]);
    assert.equal(state.saved.size, 0);
  });

  test("saving in another tab marks the message and redraws it; taking it off unmarks it", () => {
    const state = roomState();
    const rd = state.loaded.get(ROOM);
    const held = message(3);
    rd.messages.set(held.id, held);
    const app = fakeApp(state);
    const saved = createSaved(app);

    saved.frame({ type: "saved", message_id: held.id, saved: true });
    assert.ok(saved.has(held.id));
    assert.ok(rd.dirty.has(held.id));
    assert.ok(app.parts.includes("messages"));

    rd.dirty.clear();
    saved.frame({ type: "saved", message_id: held.id, saved: true }); // this tab's own save, heard back
    assert.ok(saved.has(held.id));
    assert.equal(rd.dirty.size, 0); // nothing changed: nothing redrawn

    saved.frame({ type: "saved", message_id: held.id, saved: false });
    assert.ok(!saved.has(held.id));
    assert.ok(rd.dirty.has(held.id));
  });
});
