// Web Push for this browser: the service worker (/sw.js) is registered on
// load (that needs no permission); turning Web Push on subscribes with the
// server's VAPID key and hands the subscription to POST /api/push-subscriptions/,
// turning it off unsubscribes and DELETEs it. The worker asks an open chat
// window to show a message (postMessage "open-message").

import { del, get, post } from "./api.js";

/** A base64url string (the VAPID public key) as bytes. */
export function base64UrlToBytes(text) {
  const base64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function sameKey(buffer, bytes) {
  if (!buffer) return true;
  const held = new Uint8Array(buffer);
  return held.length === bytes.length && held.every((value, index) => value === bytes[index]);
}

export function createPush(app) {
  const { state } = app;

  function supported() {
    return "serviceWorker" in navigator && "PushManager" in window;
  }

  async function register() {
    if (!("serviceWorker" in navigator)) return null;
    navigator.serviceWorker.addEventListener("message", (event) => {
      const data = event.data || {};
      if (data.type === "open-message" && data.room) app.room.openMessage(data.room, data.message);
    });
    try {
      return await navigator.serviceWorker.register(app.config.urls.service_worker, { scope: "/" });
    } catch (error) {
      console.warn("the service worker did not register", error);
      return null;
    }
  }

  async function current() {
    if (!supported()) return null;
    // getRegistration, not ready: it answers at once when nothing registered.
    const registration = await navigator.serviceWorker.getRegistration("/");
    return registration ? registration.pushManager.getSubscription() : null;
  }

  // Whether this browser is subscribed now.
  async function enabled() {
    try {
      return Boolean(await current());
    } catch (_error) {
      return false;
    }
  }

  async function enable() {
    if (!supported()) throw new Error("This browser has no Web Push.");
    const key = state.notificationSettings.push_public_key;
    if (!key) throw new Error("Web Push is not set up on this server.");
    const applicationServerKey = base64UrlToBytes(key);
    const registration = await navigator.serviceWorker.ready;
    let subscription = await registration.pushManager.getSubscription();
    // Subscribed with another key (the server's keys changed): start again.
    if (subscription && !sameKey(subscription.options && subscription.options.applicationServerKey, applicationServerKey)) {
      await subscription.unsubscribe();
      subscription = null;
    }
    if (!subscription) subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey });
    await post("push-subscriptions/", subscription.toJSON());
  }

  async function disable() {
    const subscription = await current();
    if (!subscription) return;
    const endpoint = subscription.endpoint;
    await subscription.unsubscribe();
    const listed = await get("push-subscriptions/");
    const mine = (Array.isArray(listed) ? listed : listed.results || []).find((item) => item.endpoint === endpoint);
    if (mine) await del(`push-subscriptions/${mine.id}/`);
  }

  return { supported, register, enabled, enable, disable };
}
