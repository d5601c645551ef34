// The one WebSocket of the page (docs/realtime.md): session cookie auth,
// ?sync=1, request/answer by `ref`, heartbeat, reconnect with backoff. The
// close codes are the server's (wire.close, from the page config).

// The ref of every typing notice: an answer to one (an error) is never shown.
export const TYPING_REF = "typing";

const PING_EVERY = 25000;
const PING_TIMEOUT = 10000;
const BACKOFF_FIRST = 500;
const BACKOFF_MAX = 30000;

export class SocketError extends Error {
  constructor(code, detail, extra = {}) {
    super(detail);
    this.code = code;
    this.detail = detail;
    Object.assign(this, extra);
  }
}

// What a close code asks of the client (close: wire.close). Every other code,
// TOO_SLOW (the server stopped waiting for us) and LAYER_LOST (the server lost
// Redis) among them, is a reconnect: the hello that follows syncs every room
// from its seq.
export function closePlan(code, close) {
  if (code === close.LOGGED_OUT || code === close.UNAUTHENTICATED) return { authLost: true };
  if (code === close.TOO_MANY_SOCKETS) return { reconnect: true, minAttempt: 5, reason: "Too many open windows or devices." };
  return { reconnect: true, minAttempt: 0, reason: "" };
}

export class ChatSocket {
  /**
   * handlers: onHello(frame), onFrame(frame), onStatus(status, info),
   * onAuthLost(code). Status is "connecting", "live" (after the app called
   * markLive()), or "offline" with {retryIn}. close: the close codes (wire.close).
   */
  constructor(path, handlers, close) {
    this.path = path;
    this.handlers = handlers;
    this.close = close;
    this.ws = null;
    this.refs = 0;
    this.waiting = new Map();
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.live = false;
    this.stopped = false;
    window.addEventListener("online", () => this.reconnectNow());
  }

  url() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}${this.path}?sync=1`;
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.live = false;
    this.handlers.onStatus("connecting", {});
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (_error) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.opened = false;
    ws.onopen = () => {
      this.opened = true;
    };
    ws.onmessage = (event) => this.receive(ws, event);
    ws.onclose = (event) => this.closed(ws, event);
    ws.onerror = () => {};
  }

  receive(ws, event) {
    if (ws !== this.ws) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (_error) {
      return;
    }
    if ((frame.type === "ack" || frame.type === "error" || frame.type === "pong") && frame.ref !== undefined) {
      const waiter = this.waiting.get(String(frame.ref));
      if (waiter) {
        this.waiting.delete(String(frame.ref));
        clearTimeout(waiter.timer);
        if (frame.type === "error") {
          const { code, detail, ...extra } = frame;
          waiter.reject(new SocketError(code, detail, extra));
        } else {
          waiter.resolve(frame.result);
        }
        return;
      }
    }
    if (frame.type === "hello") {
      this.startHeartbeat();
      this.handlers.onHello(frame);
      return;
    }
    this.handlers.onFrame(frame);
  }

  markLive() {
    this.live = true;
    this.attempt = 0;
    this.handlers.onStatus("live", {});
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.live = false;
    clearInterval(this.pingTimer);
    for (const waiter of this.waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new SocketError("disconnected", "The connection was lost."));
    }
    this.waiting.clear();
    if (this.stopped) return;
    const plan = closePlan(event.code, this.close);
    if (plan.authLost) {
      this.handlers.onAuthLost(event.code);
      return;
    }
    if (!this.opened) {
      this.refusals = (this.refusals || 0) + 1;
      if (this.refusals % 3 === 2 && this.handlers.onRefused) this.handlers.onRefused();
    } else {
      this.refusals = 0;
    }
    this.attempt = Math.max(this.attempt, plan.minAttempt);
    this.scheduleReconnect(plan.reason);
  }

  scheduleReconnect(reason = "") {
    clearTimeout(this.retryTimer);
    const ceiling = Math.min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempt += 1;
    this.handlers.onStatus("offline", { retryIn: delay, reason });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped || this.isOpen || (this.ws && this.ws.readyState === WebSocket.CONNECTING)) return;
    this.attempt = 0;
    this.connect();
  }

  // Ask for a fresh connection (e.g. after a session check): drops the socket.
  restart() {
    if (this.ws) {
      const ws = this.ws;
      this.closed(ws, { code: 4000 });
      ws.close(4000, "restart");
    } else {
      this.reconnectNow();
    }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000, "bye");
  }

  startHeartbeat() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (!this.isOpen) return;
      this.request({ type: "ping" }, { timeout: PING_TIMEOUT }).catch((error) => {
        if (error.code === "timeout" && this.ws) this.restart();
      });
    }, PING_EVERY);
  }

  // Send a frame and wait for its ack (resolves with `result`) or error (rejects).
  request(frame, { timeout = 15000 } = {}) {
    if (!this.isOpen) return Promise.reject(new SocketError("offline", "Not connected. Reconnecting…"));
    const ref = `r${++this.refs}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(ref);
        reject(new SocketError("timeout", "The server did not answer in time."));
      }, timeout);
      this.waiting.set(ref, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ ...frame, ref }));
    });
  }

  // Fire and forget (typing).
  send(frame) {
    if (this.isOpen && this.live) this.ws.send(JSON.stringify(frame));
  }
}
