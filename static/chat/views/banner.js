// The connection banner: shown when the socket is lost, and when the first
// connection takes a while.

import { $ } from "../dom.js";

const SLOW_FIRST_CONNECT = 1500;

// isReconnect(): whether the page was live before (then "Connection lost").
export function createBanner(isReconnect) {
  const banner = $("#connection-banner");
  const text = $("#connection-text");
  const timers = { slow: null };

  function show(message) {
    text.textContent = message;
    banner.hidden = false;
  }

  // The socket's onStatus(status, info).
  return function onStatus(status, info) {
    clearTimeout(timers.slow);
    document.body.dataset.connection = status;
    if (status === "live") {
      banner.hidden = true;
      return;
    }
    if (status === "offline") {
      const seconds = Math.max(1, Math.round(info.retryIn / 1000));
      show(`${info.reason ? `${info.reason} ` : ""}Connection lost. Reconnecting in ${seconds} s…`);
      return;
    }
    // connecting: only worth a word when it takes a while.
    if (isReconnect() || !banner.hidden) show("Connection lost. Reconnecting…");
    else timers.slow = setTimeout(() => show("Connecting…"), SLOW_FIRST_CONNECT);
  };
}
