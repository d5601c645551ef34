// Search in the open room; a result jumps to its message (a reply: in its thread).

import { describeError, get, query } from "../api.js";
import { $, h, shortTime } from "../dom.js";
import { displayName, state } from "../state.js";

export function createSearch(app) {
  function close() {
    $("#search-panel").hidden = true;
    $("#search-toggle").setAttribute("aria-expanded", "false");
    $("#search-results").replaceChildren();
    $("#search-summary").textContent = "";
  }

  function resultItem(message) {
    return h(
      "li",
      {},
      h(
        "button",
        // A reply opens its thread at it; anything else is in the room's list.
        { type: "button", onclick: () => (message.thread ? app.thread.go(message.room, message.thread, { at: message.id }) : app.actions.jumpTo(message.id)) },
        h("span", { class: "result-meta", text: `${displayName(message.sender)} · ${shortTime(message.created_at)}${message.thread ? " · in a thread" : ""}` }),
        h("span", { class: "result-text", text: message.content || "" }),
      ),
    );
  }

  async function run(event) {
    event.preventDefault();
    const q = $("#search-input").value.trim();
    const id = state.currentId;
    if (!q || !id) return;
    $("#search-summary").textContent = "Searching…";
    try {
      const results = await get(`search/${query({ q, room: id, limit: 50 })}`);
      if (state.currentId !== id) return;
      $("#search-summary").textContent = results.length ? `${results.length} message${results.length === 1 ? "" : "s"} found` : "No messages found.";
      $("#search-results").replaceChildren(...results.map(resultItem));
    } catch (error) {
      $("#search-summary").textContent = describeError(error);
    }
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
    $("#search-form").addEventListener("submit", run);
  }

  return { close, wire };
}
