// Messages on their way: each pending send is keyed by its client_msg_id in its
// room's `pending` map until the server's copy (the answer to the send, or the
// echo as message.created) settles it. A send lost with the connection is
// queued and sent again after the next hello with the same client_msg_id, so
// it never makes a second message. No DOM here: the socket and the upload are
// handed in.

// Errors after which the same send is tried again once the socket is back.
export const RETRYABLE = new Set(["offline", "disconnected", "timeout"]);
const RETRY_AFTER_TIMEOUT = 3000;
// The server refused for now without doing anything (overloaded, its database
// away): the same send goes again, a few times, after its retry_after and a
// random share of a wait that doubles with each refusal, so a crowd of clients
// refused together does not come back together and overload it again.
// A rate limit is the sender's own: sent again once its retry_after is over.
export const BUSY = new Set(["overloaded", "database_unavailable", "service_unavailable", "rate_limited"]);
export const BUSY_TRIES = 5;

export function busyDelay(retryAfterSeconds, refusals, random = Math.random, code = "overloaded") {
  const base = (Number(retryAfterSeconds) || 1) * 1000;
  if (code === "rate_limited") return Math.round(base + random() * 500);
  return Math.round(base * (1 + random() * Math.min(2 ** refusals, 8)));
}

// What a message waiting to be sent again says, in plain words.
export function waitingNote(code, ms) {
  const seconds = Math.max(1, Math.round(ms / 1000));
  if (code === "rate_limited") return `You're sending messages too fast; sending again in ${seconds} s…`;
  return `The server is busy; sending again in ${seconds} s…`;
}

// The server's copy of a message settles the pending send it came from.
export function settle(pending, message) {
  if (message.client_msg_id) pending.delete(message.client_msg_id);
}

// A pending send, shaped like a message so the message list can draw it.
export function createPending({ clientMsgId, room, content, replyTo = null, file = null, attachmentPreview = null, sender, thread = null, alsoInRoom = false, now = new Date() }) {
  return {
    thread,
    also_in_room: Boolean(thread && alsoInRoom),
    client_msg_id: clientMsgId,
    room,
    content,
    reply_to: replyTo ? { id: replyTo.id, sender: replyTo.sender, content: replyTo.content, is_deleted: false } : null,
    file,
    attachment: null,
    attachmentPreview,
    status: "sending",
    created_at: now.toISOString(),
    sender,
    message_type: "text",
    reactions: [],
    seq: null,
    id: null,
  };
}

export function sendFrame(pending) {
  return {
    type: "message.send",
    room: pending.room,
    content: pending.content,
    client_msg_id: pending.client_msg_id,
    reply_to: pending.reply_to ? pending.reply_to.id : null,
    attachment_id: pending.attachment ? pending.attachment.id : null,
    // A reply in a thread (only then: the frame of a room message is unchanged).
    ...(pending.thread ? { thread: pending.thread, also_in_room: pending.also_in_room } : {}),
  };
}

/**
 * deps: socket() (the ChatSocket or null), upload(pending) -> attachment,
 * accept(message) (the server's copy), changed(pending) (redraw it),
 * failed(pending, error) (tell the person), later(fn, ms).
 */
export class Outbox {
  constructor(pageState, deps) {
    this.state = pageState;
    this.deps = { later: (fn, ms) => setTimeout(fn, ms), ...deps };
  }

  pendingOf(roomId) {
    const rd = this.state.loaded.get(roomId);
    return rd ? rd.pending : null;
  }

  isPending(pending) {
    const map = this.pendingOf(pending.room);
    return Boolean(map) && map.get(pending.client_msg_id) === pending;
  }

  add(pending) {
    this.pendingOf(pending.room).set(pending.client_msg_id, pending);
    return this.deliver(pending);
  }

  setStatus(pending, status) {
    pending.status = status;
    this.deps.changed(pending);
  }

  // A room's messages are stored in the order they were typed: a send waiting
  // to be tried again holds back the ones typed after it.
  heldBehind(pending) {
    for (const other of this.pendingOf(pending.room).values()) {
      if (other === pending) return false;
      if (other.status === "waiting") return true;
    }
    return false;
  }

  // Once a send is settled either way, what it held back goes.
  release() {
    this.deps.later(() => {
      const socket = this.deps.socket();
      if (socket && socket.live) this.flush();
    }, 0);
  }

  async deliver(pending) {
    const socket = this.deps.socket();
    try {
      if (pending.file && !pending.attachment) {
        this.setStatus(pending, "uploading");
        pending.attachment = await this.deps.upload(pending);
      }
      if (!socket || !socket.live) {
        pending.note = null;
        this.setStatus(pending, "queued");
        return;
      }
      if (this.heldBehind(pending)) {
        pending.note = "Sent after the message before it…";
        this.setStatus(pending, "queued");
        return;
      }
      pending.note = null;
      this.setStatus(pending, "sending");
      const result = await socket.request(sendFrame(pending));
      this.deps.accept(result.message);
      this.release();
    } catch (error) {
      if (!this.isPending(pending)) return;
      if (RETRYABLE.has(error.code)) {
        pending.status = "queued";
        if (error.code === "timeout") this.deps.later(() => this.deps.socket().live && this.flush(), RETRY_AFTER_TIMEOUT);
      } else if (BUSY.has(error.code) && (pending.busyTries || 0) < BUSY_TRIES) {
        pending.busyTries = (pending.busyTries || 0) + 1;
        pending.status = "waiting";
        const ms = busyDelay(error.retry_after ?? error.retryAfter, pending.busyTries, Math.random, error.code);
        pending.note = waitingNote(error.code, ms);
        const again = () => this.isPending(pending) && pending.status === "waiting" && this.deliver(pending);
        this.deps.later(again, ms);
      } else {
        pending.status = "failed";
        pending.error = this.deps.failed(pending, error);
        this.release();
      }
      this.deps.changed(pending);
    }
  }

  // Everything queued, in order (after a hello, or a timeout).
  async flush() {
    for (const rd of [...this.state.loaded.values()]) {
      for (const pending of [...rd.pending.values()]) {
        if (pending.status === "queued") await this.deliver(pending);
      }
    }
  }

  retry(pending) {
    pending.status = "sending";
    pending.busyTries = 0;
    pending.error = null;
    return this.deliver(pending);
  }

  discard(pending) {
    const map = this.pendingOf(pending.room);
    if (map) map.delete(pending.client_msg_id);
  }
}
