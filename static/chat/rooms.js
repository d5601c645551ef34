// The rooms the reader is in, from the REST API: the list, one room fetched or
// fetched again (debounced), and a room dropped with a word to the reader.

import { get, getPages } from "./api.js";
import { forgetRoom, roomTitle } from "./state.js";
import { mergeRoomItem } from "./sync.js";
import { showError, toast } from "./ui.js";

const REFRESH_WAIT = 250;
const STALE_WAIT = 400;
const STALE_ATTEMPTS = 3;
const WHY = { banned: "You were banned from", removed: "You were removed from", left: "You left", left_company: "You left the company of" };

export function createRooms(app) {
  const { state } = app;
  const refreshTimers = new Map(); // room id -> timer of its pending refresh

  // A room item from the API; fetched again while it is ahead of our events.
  function merge(item, attempt = 0) {
    const { room, added, stale } = mergeRoomItem(state, item);
    if (stale && attempt < STALE_ATTEMPTS) refresh(item.id, attempt + 1, STALE_WAIT);
    app.invalidate(...(added ? ["rooms", "header"] : ["rooms", "header", "composer"]));
    return room;
  }

  function refresh(id, attempt = 0, wait = REFRESH_WAIT) {
    clearTimeout(refreshTimers.get(id));
    refreshTimers.set(
      id,
      setTimeout(async () => {
        refreshTimers.delete(id);
        if (!state.rooms.has(id)) return;
        try {
          merge(await get(`rooms/${id}/`), attempt);
        } catch (error) {
          if (error.status === 404) remove(id, {});
        }
      }, wait),
    );
  }

  // A room we were just added to.
  async function fetch(id) {
    try {
      const item = await get(`rooms/${id}/`);
      if (!state.rooms.has(id)) merge(item);
    } catch (error) {
      if (error.status !== 404) showError(error);
    }
  }

  // After the room left the state: tell the reader, and leave it if it is open.
  function removed(room, { reason = "", quiet = false } = {}) {
    if (!quiet) toast(`${WHY[reason] || "You are no longer in"} ${roomTitle(room)}.`);
    if (state.currentId === room.id) window.location.hash = "";
    app.invalidate("rooms");
  }

  function remove(id, options = {}) {
    const room = forgetRoom(state, id);
    if (room) removed(room, options);
  }

  function loadAll() {
    return getPages("rooms/", { limit: 200 }, (page) => page.forEach((item) => merge(item)));
  }

  return { merge, refresh, fetch, remove, removed, loadAll };
}
