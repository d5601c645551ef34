// The socket's life as the page sees it: a lost session, and presence (away
// after a minute in the background, online again when visible).

import { get } from "./api.js";

const AWAY_AFTER = 60000;

export function createConnection(app) {
  const presence = { awayTimer: null, awaySent: false };

  async function onAuthLost() {
    // Logged out here or elsewhere: go on only if this session still works.
    try {
      await get("auth/me/");
      setTimeout(() => app.socket.reconnectNow(), 1000);
    } catch (_error) {
      // 401: the handler sends the page to the login form.
    }
  }

  // Refused handshakes: if the session is gone, the 401 handler goes to the login form.
  function onRefused() {
    get("auth/me/").catch(() => {});
  }

  function sayAway() {
    app.socket.send({ type: "presence", status: "away" });
    presence.awaySent = true;
  }

  // After a hello: a page opened (or reconnected) in the background is away.
  function afterHello() {
    if (document.visibilityState === "hidden") app.socket.send({ type: "presence", status: "away" });
  }

  function onVisibility() {
    clearTimeout(presence.awayTimer);
    if (document.visibilityState === "visible") {
      if (presence.awaySent) app.socket.send({ type: "presence", status: "online" });
      presence.awaySent = false;
      app.reading.soon();
    } else {
      presence.awayTimer = setTimeout(sayAway, AWAY_AFTER);
    }
  }

  function wire() {
    document.addEventListener("visibilitychange", onVisibility);
  }

  return { onAuthLost, onRefused, afterHello, wire };
}
