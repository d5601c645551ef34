// The outbox (static/chat/outbox.js): pending sends keyed by client_msg_id,
// queued while offline, retried with the same id, settled by the server's copy.

import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";

import { createReducer } from "../../../static/chat/events.js";
import { BUSY_TRIES, Outbox, busyDelay, createPending, sendFrame, settle } from "../../../static/chat/outbox.js";
import { acceptMessage } from "../../../static/chat/state.js";
import { FakeSocket, ME, ROOM, WIRE, message, roomState, socketError } from "./helpers.mjs";

function setup({ live = true, answer } = {}) {
  const state = roomState();
  const socket = new FakeSocket({
    live,
    answer:
      answer ||
      ((frame) => ({ message: message(4, { sender: ME, content: frame.content, client_msg_id: frame.client_msg_id, attachment: frame.attachment_id ? { id: frame.attachment_id } : null }) })),
  });
  const log = { changed: [], failed: [], later: [], uploads: 0 };
  const outbox = new Outbox(state, {
    socket: () => socket,
    upload: async () => {
      log.uploads += 1;
      return { id: "att-1" };
    },
    accept: (msg) => acceptMessage(state, msg),
    changed: (pending) => log.changed.push(pending.status),
    failed: (pending, error) => {
      log.failed.push(error.code);
      return error.detail;
    },
    later: (fn, ms) => log.later.push([fn, ms]),
  });
  return { state, socket, outbox, log, rd: state.loaded.get(ROOM) };
}

const pendingMessage = (id = "c-1", rest = {}) => createPending({ clientMsgId: id, room: ROOM, content: "hello", sender: ME, now: new Date(0), ...rest });

describe("a pending send", () => {
  test("looks like a message, and its frame carries its client_msg_id", () => {
    const pending = pendingMessage("c-1", { replyTo: message(2) });
    assert.equal(pending.status, "sending");
    assert.equal(pending.created_at, "1970-01-01T00:00:00.000Z");
    assert.equal(pending.sender, ME);
    assert.deepEqual(sendFrame(pending), { type: "message.send", room: ROOM, content: "hello", client_msg_id: "c-1", reply_to: "m2", attachment_id: null });
  });

  test("is settled by a message with its client_msg_id, and only by that", () => {
    const pending = new Map([["c-1", pendingMessage()]]);
    settle(pending, message(5));
    assert.equal(pending.size, 1);
    settle(pending, message(5, { client_msg_id: "c-1" }));
    assert.equal(pending.size, 0);
  });
});

describe("delivery", () => {
  let ctx;
  beforeEach(() => {
    ctx = setup();
  });

  test("live: sent once, and the answer settles it", async () => {
    await ctx.outbox.add(pendingMessage());
    assert.deepEqual(ctx.socket.requests.map((f) => f.client_msg_id), ["c-1"]);
    assert.equal(ctx.rd.pending.size, 0);
    assert.equal(ctx.rd.messages.get("m4").content, "hello");
    assert.equal(ctx.state.rooms.get(ROOM).last_message.id, "m4");
  });

  test("the echo (message.created) settles it even before the answer", async () => {
    const reduce = createReducer(WIRE);
    ctx.rd.pending.set("c-1", pendingMessage());
    reduce(ctx.state, { type: "message.created", room: ROOM, seq: 4, message: message(4, { sender: ME, client_msg_id: "c-1" }) });
    assert.equal(ctx.rd.pending.size, 0);
    assert.deepEqual(ctx.rd.order, ["m1", "m2", "m3", "m4"]);
  });

  test("a page of history holding it settles it too", () => {
    ctx.rd.pending.set("c-1", pendingMessage());
    ctx.rd.merge([message(4, { sender: ME, client_msg_id: "c-1" })]);
    assert.equal(ctx.rd.pending.size, 0);
  });

  test("offline: queued, then sent by flush with the same client_msg_id", async () => {
    ctx.socket.live = false;
    await ctx.outbox.add(pendingMessage());
    assert.equal(ctx.rd.pending.get("c-1").status, "queued");
    assert.equal(ctx.socket.requests.length, 0);
    ctx.socket.live = true;
    await ctx.outbox.flush();
    assert.deepEqual(ctx.socket.requests.map((f) => f.client_msg_id), ["c-1"]);
    assert.equal(ctx.rd.pending.size, 0);
  });

  test("flush sends every queued message in order, and leaves failed ones alone", async () => {
    ctx.socket.live = false;
    await ctx.outbox.add(pendingMessage("c-1"));
    await ctx.outbox.add(pendingMessage("c-2"));
    ctx.rd.pending.get("c-2").status = "failed";
    await ctx.outbox.add(pendingMessage("c-3"));
    ctx.socket.live = true;
    ctx.socket.answer = () => ({ message: message(9, { client_msg_id: null }) });
    await ctx.outbox.flush();
    assert.deepEqual(ctx.socket.requests.map((f) => f.client_msg_id), ["c-1", "c-3"]);
  });

  test("lost with the connection: queued again; a timeout also tries again a little later", async () => {
    for (const code of ["offline", "disconnected", "timeout"]) {
      const { outbox, socket, rd, log } = setup({
        answer: () => {
          throw socketError(code);
        },
      });
      await outbox.add(pendingMessage());
      assert.equal(rd.pending.get("c-1").status, "queued", code);
      assert.equal(log.later.length, code === "timeout" ? 1 : 0, code);
      assert.equal(log.failed.length, 0);
      if (code === "timeout") {
        socket.answer = (frame) => ({ message: message(4, { client_msg_id: frame.client_msg_id }) });
        const [retryLater, ms] = log.later[0];
        assert.equal(ms, 3000);
        await retryLater();
        assert.deepEqual(socket.requests.map((f) => f.client_msg_id), ["c-1", "c-1"]);
        assert.equal(rd.pending.size, 0);
      }
    }
  });

  test("refused for now (overloaded): sent again after retry_after, a few times, then failed", async () => {
    const { outbox, socket, rd, log } = setup({
      answer: () => {
        throw Object.assign(socketError("overloaded", "The server is overloaded."), { retry_after: 2 });
      },
    });
    await outbox.add(pendingMessage());
    const pending = rd.pending.get("c-1");
    assert.equal(pending.status, "waiting");
    assert.match(pending.note, /^The server is busy; sending again in [2-6] s…$/);
    assert.equal(log.later.length, 1);
    const [, ms] = log.later[0];
    assert.ok(ms >= 2000 && ms <= 6000, `${ms}`);
    for (let tries = 1; tries < BUSY_TRIES; tries += 1) await log.later[tries - 1][0]();
    assert.equal(socket.requests.length, BUSY_TRIES);
    assert.equal(pending.status, "waiting");
    await log.later[BUSY_TRIES - 1][0]();
    assert.equal(pending.status, "failed");
    assert.deepEqual(log.failed, ["overloaded"]);
    assert.ok(socket.requests.every((f) => f.client_msg_id === "c-1"));
  });

  test("a retry scheduled for a send discarded while it waited does nothing", async () => {
    const { outbox, socket, rd, log } = setup({
      answer: () => {
        throw Object.assign(socketError("overloaded"), { retry_after: 1 });
      },
    });
    await outbox.add(pendingMessage());
    const pending = rd.pending.get("c-1");
    assert.equal(pending.status, "waiting");
    outbox.discard(pending);
    await log.later[0][0]();
    assert.equal(socket.requests.length, 1);
  });

  test("sends stay in the order typed: one waiting for a retry holds back the next", async () => {
    let refuse = true;
    const { outbox, socket, rd, log } = setup({
      answer: (frame) => {
        if (refuse && frame.client_msg_id === "c-1") throw Object.assign(socketError("overloaded"), { retry_after: 1 });
        return { message: message(frame.client_msg_id === "c-1" ? 4 : 5, { client_msg_id: frame.client_msg_id }) };
      },
    });
    await outbox.add(pendingMessage("c-1"));
    await outbox.add(pendingMessage("c-2"));
    assert.equal(rd.pending.get("c-2").status, "queued");
    assert.equal(rd.pending.get("c-2").note, "Sent after the message before it…");
    assert.deepEqual(socket.requests.map((f) => f.client_msg_id), ["c-1"]);
    refuse = false;
    await log.later[0][0](); // c-1's retry: stored, then what it held back goes
    const release = log.later.at(-1)[0];
    await release();
    assert.deepEqual(socket.requests.map((f) => f.client_msg_id), ["c-1", "c-1", "c-2"]);
    assert.equal(rd.pending.size, 0);
  });

  test("the wait after a refusal: retry_after, then a random share of a window that doubles, up to 8×", () => {
    assert.equal(busyDelay(1, 1, () => 0), 1000);
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => busyDelay(1, n, () => 1)), [3000, 5000, 9000, 9000, 9000]);
    assert.equal(busyDelay(undefined, 1, () => 0.5), 2000);
    assert.equal(busyDelay(3, 2, () => 0.5), 9000);
  });

  test("rate limited: sent again once its retry_after is over, saying so in plain words", async () => {
    let calls = 0;
    const { outbox, rd, log } = setup({
      answer: (frame) => {
        calls += 1;
        if (calls === 1) throw Object.assign(socketError("rate_limited", "You're sending messages too fast; wait 3 seconds."), { retry_after: 3 });
        return { message: message(4, { client_msg_id: frame.client_msg_id }) };
      },
    });
    await outbox.add(pendingMessage());
    const pending = rd.pending.get("c-1");
    assert.equal(pending.status, "waiting");
    assert.match(pending.note, /^You're sending messages too fast; sending again in [34] s…$/);
    assert.ok(log.later[0][1] >= 3000 && log.later[0][1] <= 3500, `${log.later[0][1]}`);
    await log.later[0][0]();
    assert.equal(rd.pending.size, 0);
    assert.deepEqual(log.failed, []);
  });

  test("refused for now, then accepted: one message", async () => {
    let calls = 0;
    const { outbox, rd, log } = setup({
      answer: (frame) => {
        calls += 1;
        if (calls === 1) throw socketError("database_unavailable");
        return { message: message(4, { client_msg_id: frame.client_msg_id }) };
      },
    });
    await outbox.add(pendingMessage());
    assert.ok(log.later[0][1] >= 1000 && log.later[0][1] <= 3000);
    await log.later[0][0]();
    assert.equal(rd.pending.size, 0);
    assert.deepEqual(log.failed, []);
  });

  test("refused: failed with the reason; retry sends it again with the same client_msg_id", async () => {
    const { outbox, socket, rd, log } = setup({
      answer: () => {
        throw socketError("muted", "You are muted.");
      },
    });
    await outbox.add(pendingMessage());
    const pending = rd.pending.get("c-1");
    assert.equal(pending.status, "failed");
    assert.equal(pending.error, "You are muted.");
    assert.deepEqual(log.failed, ["muted"]);
    socket.answer = (frame) => ({ message: message(4, { client_msg_id: frame.client_msg_id }) });
    await outbox.retry(pending);
    assert.deepEqual(socket.requests.map((f) => f.client_msg_id), ["c-1", "c-1"]);
    assert.equal(rd.pending.size, 0);
  });

  test("discarded while on its way: the late error changes nothing", async () => {
    let fail;
    const { outbox, rd, log } = setup({ answer: () => new Promise((_resolve, reject) => (fail = reject)) });
    const delivery = outbox.add(pendingMessage());
    const pending = rd.pending.get("c-1");
    outbox.discard(pending);
    assert.equal(rd.pending.size, 0);
    fail(socketError("invalid"));
    await delivery;
    assert.equal(pending.status, "sending");
    assert.deepEqual(log.failed, []);
  });

  test("a file is uploaded once, before the send, even when the send is retried", async () => {
    ctx.socket.live = false;
    await ctx.outbox.add(pendingMessage("c-1", { file: { name: "a.png" } }));
    assert.deepEqual(ctx.log.changed, ["uploading", "queued"]);
    ctx.socket.live = true;
    await ctx.outbox.flush();
    assert.equal(ctx.log.uploads, 1);
    assert.equal(ctx.socket.requests[0].attachment_id, "att-1");
  });
});
