// The page's keyboard shortcuts (static/chat/shortcuts.js says which key does
// what): the quick switcher over rooms and people (Ctrl/Cmd+K), the room
// above or below (Alt+↑/↓), the unread one (Alt+Shift+↑/↓), and the list (?).

import { get, post, query } from "./api.js";
import { $, debounce, h, initials } from "./dom.js";
import { SHORTCUTS, neighbourRoom, rankMatches, shortcutFor } from "./shortcuts.js";
import { displayName, roomTitle, sortedRooms, state } from "./state.js";
import { closeDialog, openDialog, showError } from "./ui.js";

function typingIn(element) {
  if (!element) return false;
  return element.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName);
}

export function createShortcuts(app) {
  // The rooms in the order the sidebar shows them (its filter applied).
  function listedIds() {
    return [...document.querySelectorAll("#room-list [data-room-id]")].map((el) => el.dataset.roomId);
  }

  function isUnread(id) {
    const el = document.querySelector(`#room-list [data-room-id="${CSS.escape(id)}"]`);
    return Boolean(el && el.classList.contains("unread"));
  }

  function move(step, unreadOnly) {
    const id = neighbourRoom(listedIds(), state.currentId, step, unreadOnly ? isUnread : null);
    if (id) app.room.go(id);
  }

  function help() {
    openDialog(
      "Keyboard shortcuts",
      h("dl", { class: "shortcuts" }, SHORTCUTS.map((s) => [h("dt", {}, h("kbd", { text: s.keys })), h("dd", { text: s.does })])),
    );
  }

  // --- the quick switcher ------------------------------------------------------
  function roomEntries() {
    return sortedRooms()
      .filter((room) => room.is_active !== false)
      .map((room) => {
        const peer = state.peers.get(room.id);
        return { kind: "room", room, label: roomTitle(room), names: [roomTitle(room), room.name, peer && peer.username, peer && displayName(peer)] };
      });
  }

  function switcher() {
    const listId = "switcher-options";
    const input = h("input", {
      type: "search",
      id: "switcher-input",
      role: "combobox",
      "aria-expanded": "true",
      "aria-controls": listId,
      "aria-autocomplete": "list",
      "aria-label": "Room or person",
      placeholder: "Room or person",
      autocomplete: "off",
      maxlength: 100,
    });
    const list = h("ul", { id: listId, role: "listbox", class: "switcher-options", "aria-label": "Matches" });
    let options = [];
    let people = [];
    let active = 0;

    function choose(entry) {
      if (!entry) return;
      if (entry.kind === "room") {
        closeDialog();
        app.room.go(entry.room.id);
        return;
      }
      post("rooms/direct/", { user_id: entry.person.id })
        .then((room) => {
          closeDialog();
          app.room.go(app.rooms.merge(room).id);
        })
        .catch((error) => showError(error, "Could not start the chat: "));
    }

    function draw() {
      const rooms = rankMatches(roomEntries(), input.value, 8);
      const withDirect = new Set([...state.peers.values()].map((peer) => peer.id));
      const others = rankMatches(
        people.filter((person) => !withDirect.has(person.id) && person.id !== state.me.id).map((person) => ({ kind: "person", person, label: displayName(person), names: [displayName(person), person.username] })),
        input.value,
        5,
      );
      options = [...rooms, ...others];
      active = Math.min(active, Math.max(0, options.length - 1));
      list.replaceChildren(
        ...options.map((entry, index) =>
          h(
            "li",
            {
              id: `switcher-option-${index}`,
              role: "option",
              class: "switcher-option",
              "aria-selected": index === active ? "true" : "false",
              onmousedown: (event) => event.preventDefault(), // keep the focus in the box
              onclick: () => choose(entry),
            },
            h("span", { class: "avatar tiny", "aria-hidden": "true", text: initials(entry.label) }),
            h("span", { class: "switcher-label", text: entry.label }),
            h("span", { class: "muted switcher-kind", text: entry.kind === "room" ? (entry.room.room_type === "direct" ? "direct chat" : "room") : `@${entry.person.username} · start a chat` }),
          ),
        ),
      );
      if (!options.length) list.append(h("li", { class: "muted", role: "presentation", text: "Nothing matches." }));
      if (options.length) input.setAttribute("aria-activedescendant", `switcher-option-${active}`);
      else input.removeAttribute("aria-activedescendant");
    }

    const findPeople = debounce(async () => {
      const q = input.value.trim();
      if (!q) {
        people = [];
        draw();
        return;
      }
      try {
        people = await get(`users/${query({ q })}`);
      } catch (_error) {
        people = [];
      }
      if (input.value.trim() === q) draw();
    }, 200);

    input.addEventListener("input", () => {
      active = 0;
      draw();
      findPeople();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!options.length) return;
        active = (active + (event.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
        draw();
        const el = $(`#switcher-option-${active}`);
        if (el) el.scrollIntoView({ block: "nearest" });
      } else if (event.key === "Enter") {
        event.preventDefault();
        choose(options[active]);
      }
    });
    openDialog("Jump to…", input, list, h("p", { class: "muted small", text: "↑ ↓ to choose, Enter to open, Esc to close. ? lists every shortcut." }));
    draw();
    input.focus();
  }

  function onKeydown(event) {
    const dialogOpen = $("#dialog") && $("#dialog").open;
    const action = shortcutFor(event, { typing: typingIn(document.activeElement) });
    if (!action || (dialogOpen && action !== "switcher")) return;
    event.preventDefault();
    if (action === "switcher") switcher();
    else if (action === "help") help();
    else if (action === "search") {
      if (window.location.hash === "#search") $("#search-all-input").focus();
      else window.location.hash = "#search";
    } else move(action.startsWith("previous") ? -1 : 1, action.endsWith("Unread"));
  }

  return {
    wire() {
      document.addEventListener("keydown", onKeydown);
    },
    switcher,
    help,
  };
}
