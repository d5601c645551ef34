// Saved messages: which messages I saved (ids from GET /api/saved/ids/, kept
// by my `saved` frames: another tab of mine saved or took one off), saving
// and unsaving over REST, and the Saved view (#saved): the list across rooms,
// newest saved first, a page at a time (?before=saved_at).

import { api, del, describeError, get, post, query } from "./api.js";
import { $, h } from "./dom.js";
import { showError } from "./ui.js";
import { messageItem } from "./views/items.js";

const PAGE = 30;

export function createSaved(app) {
  const { state } = app;
  const view = { items: new Map(), loaded: false, loading: false, more: false, visible: false, error: "", stale: false };

  // Redraw a message wherever it is drawn (the room's list, the thread panel).
  function redrawMessage(id) {
    for (const rd of state.loaded.values()) if (rd.messages.has(id)) rd.dirty.add(id);
    const panel = state.thread;
    if (panel && panel.messages && panel.messages.has(id)) panel.dirty.add(id);
    if (panel && panel.rootId === id) panel.rootDirty = true;
    app.invalidate("messages", "thread");
  }

  function mark(id, saved) {
    if (saved) state.saved.add(id);
    else state.saved.delete(id);
    redrawMessage(id);
  }

  async function load() {
    try {
      const ids = await get("saved/ids/");
      const before = new Set(state.saved);
      state.saved = new Set(ids);
      for (const id of new Set([...before, ...state.saved])) if (before.has(id) !== state.saved.has(id)) redrawMessage(id);
    } catch {
      // The marks come with the next load (the socket's next hello); saving still works.
    }
  }

  async function toggle(message) {
    const saved = state.saved.has(message.id);
    try {
      if (saved) await del(`messages/${message.id}/save/`);
      else await post(`messages/${message.id}/save/`);
    } catch (error) {
      showError(error, saved ? "Not removed from saved: " : "Not saved: ");
      return;
    }
    mark(message.id, !saved);
    changed(message.id, !saved);
  }

  // A `saved` frame: one of my tabs (maybe this one) saved or took off a message.
  function frame(saved) {
    if (state.saved.has(saved.message_id) !== saved.saved) mark(saved.message_id, saved.saved);
    changed(saved.message_id, saved.saved);
  }

  function changed(id, saved) {
    if (!saved && view.items.delete(id)) render();
    else if (saved && !view.items.has(id)) {
      view.stale = true; // its payload comes with the list: asked again when shown
      if (view.visible) reload();
    }
  }

  // --- the Saved view -----------------------------------------------------------
  function itemNode(item) {
    const message = item.message;
    const remove = h("button", {
      type: "button",
      class: "btn small item-action",
      text: "Remove",
      "aria-label": `Remove the message from ${message.sender ? message.sender.display_name || message.sender.username : "someone"} from saved`,
      onclick: () => toggle(message),
    });
    const room = state.rooms.get(message.room) || { id: message.room, name: "", room_type: "group" };
    const node = messageItem(app, room, message, { extra: remove });
    node.classList.add("with-action");
    return node;
  }

  function render() {
    if (!view.visible) return;
    const items = [...view.items.values()];
    $("#saved-list").replaceChildren(...items.map(itemNode));
    $("#saved-more").hidden = !view.more;
    $("#saved-more").disabled = view.loading;
    let summary = "";
    if (view.error) summary = view.error;
    else if (view.loading && !items.length) summary = "Loading…";
    else if (view.loaded && !items.length) summary = "Nothing saved yet. Save a message from its actions to find it here later.";
    $("#saved-summary").textContent = summary;
  }

  async function loadPage({ fresh = false } = {}) {
    if (view.loading) return;
    view.loading = true;
    view.error = "";
    render();
    const last = fresh ? null : [...view.items.values()].at(-1);
    try {
      const data = await api("GET", `saved/${query({ limit: PAGE, before: last ? last.saved_at : "" })}`);
      if (fresh) view.items.clear();
      for (const item of data) view.items.set(item.message.id, item);
      view.more = data.length === PAGE;
      view.loaded = true;
      view.stale = false;
    } catch (error) {
      view.error = `Could not load your saved messages: ${describeError(error)}`;
    } finally {
      view.loading = false;
      render();
    }
  }

  function reload() {
    loadPage({ fresh: true });
  }

  function show() {
    view.visible = true;
    $("#saved-toggle").setAttribute("aria-pressed", "true");
    if (!view.loaded || view.stale) reload();
    else render();
    const heading = $("#saved-title");
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }

  function hide() {
    view.visible = false;
    $("#saved-toggle").setAttribute("aria-pressed", "false");
  }

  // A room I left: its messages are no longer listed (the API leaves them out).
  function roomRemoved(roomId) {
    for (const [id, item] of view.items) if (item.message.room === roomId) view.items.delete(id);
    render();
  }

  // An edit or delete of a listed message.
  function messageChanged(message) {
    const held = view.items.get(message.id);
    if (!held) return;
    if (message.is_deleted) view.items.delete(message.id);
    else held.message = message;
    render();
  }

  function wire() {
    $("#saved-toggle").addEventListener("click", () => {
      window.location.hash = window.location.hash === "#saved" ? "" : "#saved";
    });
    $("#saved-more").addEventListener("click", () => loadPage());
    $("#saved-close").addEventListener("click", () => {
      window.location.hash = "";
    });
  }

  return { load, toggle, frame, show, hide, render, roomRemoved, messageChanged, wire, has: (id) => state.saved.has(id) };
}
