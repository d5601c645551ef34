// chatsite's service worker, served at /sw.js (scope "/"). It shows Web Push
// notifications ({title, body, url, tag, room, message}: what the server
// chose to let leave it) and, on a click, brings an open chat window forward
// and asks it to open the room at the message, or opens the link.

const ICON = "/static/chat/icon.svg";

self.addEventListener("install", () => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

function payload(event) {
  if (!event.data) return {};
  try {
    return event.data.json();
  } catch (_error) {
    return { body: event.data.text() };
  }
}

self.addEventListener("push", (event) => {
  const data = payload(event);
  const options = {
    body: data.body || "",
    icon: ICON,
    data: { url: data.url || "/", room: data.room || null, message: data.message || null },
  };
  if (data.tag || data.message) options.tag = data.tag || data.message;
  event.waitUntil(self.registration.showNotification(data.title || "chatsite", options));
});

// Only this site's pages are opened.
function sameOrigin(url) {
  try {
    const parsed = new URL(url, self.location.origin);
    return parsed.origin === self.location.origin ? parsed.href : null;
  } catch (_error) {
    return null;
  }
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const url = sameOrigin(data.url || "/") || self.location.origin + "/";
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const chat = windows.find((client) => new URL(client.url).origin === self.location.origin && new URL(client.url).pathname === "/");
      if (chat) {
        try {
          await chat.focus();
        } catch (_error) {
          // Focus may be refused; the room still opens in that window.
        }
        if (data.room) chat.postMessage({ type: "open-message", room: data.room, message: data.message });
        return;
      }
      await self.clients.openWindow(url);
    })(),
  );
});
