// The Mentions view (#mentions): the messages that mention me across rooms,
// newest first, from GET /api/mentions/ a page at a time (X-Next-Cursor).
// A new message that mentions me is added live; an edit that takes the
// mention out, or a delete, takes it away. A click opens the room at it.

import { api, describeError, query } from "../api.js";
import { $ } from "../dom.js";
import { messageItem } from "./items.js";

const PAGE = 30;

export function createMentionsView(app) {
  const { state } = app;
  const view = {
    items: new Map(), // message id -> {id, kind, created_at, room, message}
    cursor: null,
    loaded: false,
    loading: false,
    visible: false,
    error: "",
  };

  const newest = (a, b) => Date.parse(b.message.created_at) - Date.parse(a.message.created_at) || b.message.seq - a.message.seq;

  function itemNode(item) {
    return messageItem(app, item.room, item.message);
  }

  function render() {
    if (!view.visible) return;
    const items = [...view.items.values()].sort(newest);
    $("#mentions-list").replaceChildren(...items.map(itemNode));
    $("#mentions-more").hidden = !view.cursor;
    $("#mentions-more").disabled = view.loading;
    let summary = "";
    if (view.error) summary = view.error;
    else if (view.loading && !items.length) summary = "Loading…";
    else if (view.loaded && !items.length) summary = "Nobody has mentioned you yet.";
    $("#mentions-summary").textContent = summary;
  }

  async function loadPage() {
    if (view.loading) return;
    view.loading = true;
    view.error = "";
    render();
    try {
      const { data, headers } = await api("GET", `mentions/${query({ limit: PAGE, cursor: view.cursor })}`, undefined, { withHeaders: true });
      for (const item of data) if (!view.items.has(item.message.id)) view.items.set(item.message.id, item);
      view.cursor = headers.get("X-Next-Cursor") || null;
      view.loaded = true;
    } catch (error) {
      view.error = `Could not load your mentions: ${describeError(error)}`;
    } finally {
      view.loading = false;
      render();
    }
  }

  function show() {
    view.visible = true;
    $("#mentions-toggle").setAttribute("aria-pressed", "true");
    if (!view.loaded) loadPage();
    else render();
    const heading = $("#mentions-title");
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }

  function hide() {
    view.visible = false;
    $("#mentions-toggle").setAttribute("aria-pressed", "false");
  }

  // The reducer's "message-arrived": a new message of someone else.
  function messageArrived(effect) {
    if (!effect.mentioned || !view.loaded || view.items.has(effect.message.id)) return;
    const room = state.rooms.get(effect.room) || { id: effect.room, name: "", room_type: "group" };
    view.items.set(effect.message.id, {
      id: effect.message.id,
      kind: "live",
      created_at: effect.message.created_at,
      room: { id: room.id, name: room.name, room_type: room.room_type },
      message: effect.message,
    });
    render();
  }

  // "message-changed": an edit or delete of a message that may be listed.
  function messageChanged(effect) {
    const held = view.items.get(effect.message.id);
    if (held && !effect.mentioned) view.items.delete(effect.message.id);
    else if (held) held.message = effect.message;
    else if (effect.mentioned && view.loaded) return messageArrived({ ...effect, mentioned: true });
    else return;
    render();
  }

  // A room I left: its mentions go (GET /api/mentions/ would no longer list them).
  function roomRemoved(roomId) {
    for (const [id, item] of view.items) if (item.room.id === roomId) view.items.delete(id);
    render();
  }

  function wire() {
    $("#mentions-toggle").addEventListener("click", () => {
      window.location.hash = window.location.hash === "#mentions" ? "" : "#mentions";
    });
    $("#mentions-more").addEventListener("click", loadPage);
    $("#mentions-close").addEventListener("click", () => {
      window.location.hash = "";
    });
  }

  return { show, hide, render, messageArrived, messageChanged, roomRemoved, wire };
}
