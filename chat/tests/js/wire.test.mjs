// The wire vocabulary: the page takes it from the server's page config
// (static/chat/wire.js), and the socket's close handling reads its codes.

import assert from "node:assert/strict";
import { test } from "node:test";

import { closePlan } from "../../../static/chat/socket.js";
import { createWire } from "../../../static/chat/wire.js";
import { WIRE, WIRE_CONSTANTS, serverWireConstants } from "./helpers.mjs";

test("the constants of these tests are chat/events/wire.py's", (t) => {
  const server = serverWireConstants();
  if (!server) {
    // CI always has the project's Python: there the check must run.
    assert.ok(!process.env.CI, "CI: no Python with msgspec to read chat/events/wire.py");
    t.skip("no Python with msgspec to read chat/events/wire.py");
    return;
  }
  assert.deepEqual(server, WIRE_CONSTANTS);
});

test("createWire refuses a page config without them", () => {
  assert.throws(() => createWire(undefined), /wire constants/);
  assert.throws(() => createWire({ events: {} }), /wire constants/);
});

test("kinds are sets by family, close codes by name", () => {
  assert.ok(WIRE.logged.has("message.created"));
  assert.ok(WIRE.ephemeral.has("typing"));
  assert.equal(WIRE.logged.has("typing"), false);
  assert.equal(WIRE.close.TOO_SLOW, 4008);
  assert.ok(Object.isFrozen(WIRE.close));
});

test("too slow (4008) reconnects and syncs exactly like layer lost (4012)", () => {
  const slow = closePlan(WIRE.close.TOO_SLOW, WIRE.close);
  assert.deepEqual(slow, closePlan(WIRE.close.LAYER_LOST, WIRE.close));
  assert.equal(slow.reconnect, true);
  assert.equal(slow.authLost, undefined);
  assert.equal(slow.minAttempt, 0);
});

test("logged out and unauthenticated stop; too many sockets backs off", () => {
  assert.deepEqual(closePlan(WIRE.close.LOGGED_OUT, WIRE.close), { authLost: true });
  assert.deepEqual(closePlan(WIRE.close.UNAUTHENTICATED, WIRE.close), { authLost: true });
  const many = closePlan(WIRE.close.TOO_MANY_SOCKETS, WIRE.close);
  assert.equal(many.minAttempt, 5);
  assert.match(many.reason, /Too many/);
  assert.deepEqual(closePlan(1006, WIRE.close), { reconnect: true, minAttempt: 0, reason: "" });
});

test("the codes are the server's, whatever they are", () => {
  const close = { ...WIRE.close, LOGGED_OUT: 4999 };
  assert.deepEqual(closePlan(4999, close), { authLost: true });
  assert.equal(closePlan(4001, close).authLost, undefined);
});
