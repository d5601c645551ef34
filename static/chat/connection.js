// The socket's life as the page sees it: a lost session, and presence (away
// after a minute in the background, online again when visible; others'
// presence unknown while the socket is not live).

import { get } from "./api.js";
import { $ } from "./dom.js";
import { forgetPresence, knowPresence } from "./state.js";

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

  // The socket's status (with the banner's): while it is not live nobody's
  // presence is known; no presence frame would tell us they left.
  function onStatus(status) {
    const live = status === "live";
    const mine = $("#me-presence");
    mine.className = `presence-dot ${live ? "online" : "unknown"}`;
    mine.title = live ? "Online" : "Not connected";
    if (!live && forgetPresence(app.state)) app.invalidate("rooms", "header", "details");
  }

  // After a hello: a page opened (or reconnected) in the background is away;
  // the presence of the loaded rooms' members is the server's again (frames
  // missed while away included) before it is shown.
  async function afterHello() {
    if (document.visibilityState === "hidden") app.socket.send({ type: "presence", status: "away" });
    const rooms = [...app.state.loaded.values()].filter((rd) => rd.members).map((rd) => rd.id);
    await Promise.all(rooms.map((id) => app.history.loadPresence(id)));
    if (app.socket.live && knowPresence(app.state)) app.invalidate("rooms", "header", "details");
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

  return { onAuthLost, onRefused, onStatus, afterHello, wire };
}
