// What a forwarded message says of its original (static/chat/views/message.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { forwardedText } from "../../../static/chat/views/message.js";

test("the author always; the room only when the reader is in it", () => {
  const rooms = new Map([["r-design", { id: "r-design", name: "Design", room_type: "group" }]]);
  const bob = { id: "u-bob", username: "bob", display_name: "Bob B" };
  assert.equal(forwardedText({ sender: bob, room: "r-design" }, rooms), "Forwarded from Bob B in Design");
  assert.equal(forwardedText({ sender: bob, room: "r-secret" }, rooms), "Forwarded from Bob B");
  assert.equal(forwardedText({ sender: null, room: "r-secret" }, rooms), "Forwarded from someone");
  assert.equal(forwardedText(null, rooms), "Forwarded"); // the original is gone
});
