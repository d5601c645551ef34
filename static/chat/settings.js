// The person's notification settings (GET/PATCH /api/notification-settings/):
// desktop notifications, sound, email and its delay, and the server's VAPID
// key for Web Push. Kept in state.notificationSettings; a change made in one
// tab reaches the others through a BroadcastChannel, and every tab reads them
// again when it goes live (a change made on another device).

import { get, patch } from "./api.js";

export const DEFAULT_SETTINGS = Object.freeze({
  desktop_enabled: false,
  sound_enabled: true,
  email_enabled: true,
  email_delay_minutes: 10,
  push_public_key: "",
});
const CHANNEL = "chatsite-notification-settings";
const FRESH = 10000;

export function createNotificationSettings(app) {
  const { state } = app;
  state.notificationSettings = { ...DEFAULT_SETTINGS };
  const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;

  function set(values) {
    for (const key of Object.keys(DEFAULT_SETTINGS)) if (values && key in values) state.notificationSettings[key] = values[key];
    app.invalidate("settings");
  }

  const loaded = { at: 0 };

  // At boot, and again when the socket goes live after a while (changed on another device?).
  async function load() {
    if (Date.now() - loaded.at < FRESH) return;
    loaded.at = Date.now();
    try {
      set(await get("notification-settings/"));
      document.body.dataset.settings = "loaded";
    } catch (error) {
      loaded.at = 0;
      if (error.status !== 404) console.warn("could not load the notification settings", error);
    }
  }

  // PATCH some of them; the server's answer is taken (and told to the other tabs).
  async function save(changes) {
    const result = await patch("notification-settings/", changes);
    set(result);
    if (channel) channel.postMessage(result);
    return result;
  }

  function wire() {
    if (channel) channel.onmessage = (event) => set(event.data);
  }

  return { load, save, wire };
}
