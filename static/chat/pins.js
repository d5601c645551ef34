// The open room's pinned messages: loaded when the room opens, kept by the
// message.pinned / message.unpinned events (static/chat/events.js), pinned and
// unpinned over REST.

import { del, get, post } from "./api.js";
import { showError } from "./ui.js";

export function createPins(app) {
  const { state } = app;
  const loading = new Map(); // room id -> the request under way
  const again = new Set(); // rooms asked for while a request was under way: it may predate a change

  function load(roomId) {
    if (loading.has(roomId)) {
      again.add(roomId);
      return loading.get(roomId);
    }
    const request = get(`rooms/${roomId}/pins/`)
      .then((pins) => {
        const rd = state.loaded.get(roomId);
        if (!rd) return;
        const before = rd.pins ? [...rd.pins.keys()] : [];
        rd.pins = new Map(pins.map((pin) => [pin.message_id, pin]));
        for (const id of new Set([...before, ...rd.pins.keys()])) rd.dirty.add(id);
        app.invalidate("messages", "details");
      })
      .catch(() => {}) // the room list still works; the next open tries again
      .finally(() => {
        loading.delete(roomId);
        if (again.delete(roomId)) load(roomId);
      });
    loading.set(roomId, request);
    return request;
  }

  async function toggle(message) {
    const rd = state.loaded.get(message.room);
    const pinned = Boolean(rd && rd.pins && rd.pins.has(message.id));
    try {
      if (pinned) await del(`messages/${message.id}/pin/`);
      else await post(`messages/${message.id}/pin/`);
    } catch (error) {
      showError(error, pinned ? "Not unpinned: " : "Not pinned: ");
      return;
    }
    load(message.room);
  }

  return { load, toggle };
}
