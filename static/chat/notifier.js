// In-browser notifications, the effects: a new message the reducer reports
// (effect "message-arrived") becomes a desktop notification and a short sound
// when notify.js says so, in exactly one of the person's open tabs. Clicking
// it brings this window forward and opens the room at the message.

import { claimNotification, notificationContent, pruneMarkers, shouldNotify } from "./notify.js";
import { displayName, roomTitle } from "./state.js";

const PRUNE_EVERY = 10 * 60 * 1000;

export function createNotifier(app) {
  const { state } = app;
  const sound = { audio: null };

  function supported() {
    return typeof window.Notification === "function";
  }

  function storage() {
    try {
      return window.localStorage;
    } catch (_error) {
      return null;
    }
  }

  function playSound() {
    try {
      if (!sound.audio) sound.audio = new Audio(app.config.urls.notification_sound);
      sound.audio.currentTime = 0;
      const playing = sound.audio.play();
      // Refused without a gesture on the page first (autoplay policy): silence then.
      if (playing && playing.catch) playing.catch(() => {});
    } catch (_error) {
      // No audio in this browser.
    }
  }

  function show(message, room) {
    const { title, options } = notificationContent({
      message,
      room,
      roomName: roomTitle(room),
      senderName: displayName(message.sender),
      meId: state.me.id,
      url: `/#room/${room.id}/${message.id}`,
    });
    const notification = new window.Notification(title, { ...options, icon: app.config.urls.icon });
    notification.onclick = (event) => {
      if (event && event.preventDefault) event.preventDefault();
      window.focus();
      notification.close();
      app.room.openMessage(room.id, message.id);
    };
    return notification;
  }

  // The effect of the reducer: {room, message}.
  async function messageArrived(effect) {
    const room = state.rooms.get(effect.room);
    const settings = state.notificationSettings;
    const wanted = shouldNotify({
      message: effect.message,
      room,
      meId: state.me.id,
      settings,
      currentId: state.currentId,
      hidden: document.visibilityState === "hidden",
      blocked: state.blocked,
      followedThread: Boolean(effect.followed_thread),
      threadOpen: Boolean(state.thread && effect.message.thread === state.thread.rootId),
    });
    if (!wanted || !supported() || window.Notification.permission !== "granted") return;
    const mine = await claimNotification(effect.message.id, { locks: navigator.locks || null, storage: storage() });
    if (!mine) return;
    try {
      show(effect.message, room);
    } catch (error) {
      // Chrome on Android allows notifications only from a service worker.
      console.warn("notification failed", error);
    }
    if (settings.sound_enabled) playSound();
  }

  // Asked only when the person turns desktop notifications on: whether they are allowed now.
  async function askPermission() {
    if (!supported()) return "unsupported";
    if (window.Notification.permission !== "default") return window.Notification.permission;
    return window.Notification.requestPermission();
  }

  function permission() {
    return supported() ? window.Notification.permission : "unsupported";
  }

  function wire() {
    pruneMarkers(storage());
    setInterval(() => pruneMarkers(storage()), PRUNE_EVERY);
  }

  return { messageArrived, askPermission, permission, playSound, wire };
}
