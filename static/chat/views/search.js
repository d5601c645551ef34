// Search: in the open room (the panel under its header) and across all my
// rooms (the #search view, results grouped by room). Both speak the same
// language (words that start words, and filters: static/chat/searchtext.js)
// and mark the words found; a result opens its room at it (a reply: in its
// thread).

import { describeError, get, query } from "../api.js";
import { $, h, shortTime } from "../dom.js";
import { FILTER_HELP, groupByRoom, highlightPieces, queryWords } from "../searchtext.js";
import { displayName, state } from "../state.js";
import { listedRoomName, messageItem } from "./items.js";

const LIMIT = 50;

function marked(text, words) {
  return highlightPieces(text, words).map((piece) => (piece.hit ? h("mark", { class: "search-hit", text: piece.text }) : piece.text));
}

const textOf = (message) => message.content || (message.attachment ? `📎 ${message.attachment.name}` : "");
const counted = (n) => `${n} message${n === 1 ? "" : "s"}`;

export function createSearch(app) {
  const view = { visible: false, asked: "", results: [], error: "", searching: false };

  // --- in the open room -------------------------------------------------------------
  function close() {
    $("#search-panel").hidden = true;
    $("#search-toggle").setAttribute("aria-expanded", "false");
    $("#search-results").replaceChildren();
    $("#search-summary").textContent = "";
  }

  function open(message) {
    // A reply opens its thread at it; anything else is in the room's list.
    if (message.thread) app.thread.go(message.room, message.thread, { at: message.id });
    else app.actions.jumpTo(message.id);
  }

  function resultItem(message, words) {
    return h(
      "li",
      {},
      h(
        "button",
        { type: "button", onclick: () => open(message) },
        h("span", { class: "result-meta", text: `${displayName(message.sender)} · ${shortTime(message.created_at)}${message.thread ? " · in a thread" : ""}` }),
        h("span", { class: "result-text" }, marked(textOf(message), words)),
      ),
    );
  }

  async function runInRoom(event) {
    event.preventDefault();
    const q = $("#search-input").value.trim();
    const id = state.currentId;
    if (!q || !id) return;
    $("#search-summary").textContent = "Searching…";
    try {
      const results = await get(`search/${query({ q, room: id, limit: LIMIT })}`);
      if (state.currentId !== id) return;
      $("#search-summary").textContent = results.length ? `${counted(results.length)} found` : "No messages found.";
      const words = queryWords(q);
      $("#search-results").replaceChildren(...results.map((message) => resultItem(message, words)));
    } catch (error) {
      $("#search-summary").textContent = describeError(error);
    }
  }

  // --- across my rooms (#search) -----------------------------------------------------
  function renderAll() {
    if (!view.visible) return;
    const words = queryWords(view.asked);
    const groups = groupByRoom(view.results);
    $("#search-all-results").replaceChildren(
      ...groups.map((group) => {
        const room = state.rooms.get(group.roomId) || { id: group.roomId, name: "", room_type: "group" };
        const name = listedRoomName(state, room);
        const headingId = `search-room-${group.roomId}`;
        return h(
          "li",
          { class: "search-group", dataset: { roomId: group.roomId } },
          h("h2", { id: headingId, class: "search-room" }, name, h("span", { class: "muted", text: ` · ${counted(group.messages.length)}` })),
          h(
            "ul",
            { class: "mentions-list", "aria-labelledby": headingId },
            ...group.messages.map((message) => messageItem(app, room, message, { showRoom: false, body: marked(textOf(message), words) })),
          ),
        );
      }),
    );
    let summary = "";
    if (view.error) summary = view.error;
    else if (view.searching) summary = "Searching…";
    else if (view.asked && !view.results.length) summary = "No messages found.";
    else if (view.asked) {
      const rooms = groups.length;
      summary = `${counted(view.results.length)} in ${rooms} room${rooms === 1 ? "" : "s"}${view.results.length === LIMIT ? " (the newest; add words or filters to narrow it)" : ""}`;
    }
    $("#search-all-summary").textContent = summary;
  }

  async function runAll(event) {
    event.preventDefault();
    const q = $("#search-all-input").value.trim();
    if (!q) return;
    view.asked = q;
    view.searching = true;
    view.error = "";
    renderAll();
    try {
      const results = await get(`search/${query({ q, limit: LIMIT })}`);
      if (view.asked !== q) return;
      view.results = results;
    } catch (error) {
      view.results = [];
      view.error = describeError(error);
    } finally {
      if (view.asked === q) view.searching = false;
      renderAll();
    }
  }

  function show() {
    view.visible = true;
    $("#search-all-toggle").setAttribute("aria-pressed", "true");
    renderAll();
    $("#search-all-input").focus({ preventScroll: true });
  }

  function hide() {
    view.visible = false;
    $("#search-all-toggle").setAttribute("aria-pressed", "false");
  }

  function wire() {
    $("#search-toggle").addEventListener("click", () => {
      const panel = $("#search-panel");
      if (panel.hidden) {
        panel.hidden = false;
        $("#search-toggle").setAttribute("aria-expanded", "true");
        $("#search-input").focus();
      } else {
        close();
      }
    });
    $("#search-close").addEventListener("click", () => {
      close();
      $("#search-toggle").focus();
    });
    $("#search-form").addEventListener("submit", runInRoom);
    $("#search-all-form").addEventListener("submit", runAll);
    $("#search-all-toggle").addEventListener("click", () => {
      window.location.hash = window.location.hash === "#search" ? "" : "#search";
    });
    $("#search-all-close").addEventListener("click", () => {
      window.location.hash = "";
    });
    $("#search-all-help").textContent = FILTER_HELP;
    $("#search-input").setAttribute("title", FILTER_HELP);
  }

  return { close, wire, show, hide };
}
