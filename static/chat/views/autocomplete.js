// The composer's `@` autocomplete: a listbox of the room's members (and
// @here, @room for owners and admins) while the caret ends an `@word`.
// Up/Down move, Enter or Tab insert `@username `, Esc closes, a click inserts.
// The text box keeps the focus; aria-activedescendant names the option.

import { $, h } from "../dom.js";
import { mentionCandidates, mentionQuery, insertMention } from "../mentions.js";
import { canModerate } from "../state.js";

// options (the thread panel's composer has its own): list, status (the
// listbox and its live region) and prefix (of the option ids).
export function createAutocomplete(app, input, { list = $("#mention-list"), status = $("#mention-status"), prefix = "mention-option" } = {}) {
  const { state } = app;
  const ac = { open: false, items: [], active: 0, start: 0, query: null };

  function members() {
    const rd = state.loaded.get(state.currentId);
    return rd && rd.members ? [...rd.members.values()] : [];
  }

  function optionId(index) {
    return `${prefix}-${index}`;
  }

  function close() {
    if (!ac.open && list.hidden) return;
    ac.open = false;
    ac.items = [];
    ac.query = null;
    list.hidden = true;
    list.replaceChildren();
    status.textContent = "";
    input.removeAttribute("aria-activedescendant");
  }

  function render() {
    list.replaceChildren(
      ...ac.items.map((item, index) =>
        h(
          "li",
          {
            id: optionId(index),
            role: "option",
            class: `mention-option${item.special ? " special" : ""}`,
            "aria-selected": index === ac.active ? "true" : "false",
            dataset: { username: item.username },
            // Keeps the focus (and the caret) in the text box.
            onmousedown: (event) => event.preventDefault(),
            onclick: () => choose(index),
          },
          h("span", { class: "option-label", text: item.label }),
          h("span", { class: "option-detail", text: item.detail }),
        ),
      ),
    );
    list.hidden = false;
    input.setAttribute("aria-activedescendant", optionId(ac.active));
    const active = document.getElementById(optionId(ac.active));
    if (active) active.scrollIntoView({ block: "nearest" });
  }

  // After each keystroke or caret move: open, narrow or close the list.
  function update() {
    const room = state.rooms.get(state.currentId);
    if (!room || input.selectionStart !== input.selectionEnd) return close();
    const found = mentionQuery(input.value, input.selectionStart);
    if (!found) return close();
    const items = mentionCandidates({
      members: members(),
      me: state.me,
      query: found.query,
      roomType: room.room_type,
      canMentionRoom: canModerate(room),
    });
    if (!items.length) return close();
    if (found.query !== ac.query || found.start !== ac.start) ac.active = 0;
    ac.items = items;
    ac.start = found.start;
    ac.query = found.query;
    ac.open = true;
    status.textContent = `${items.length} suggestion${items.length === 1 ? "" : "s"}: up and down to choose, Enter to insert`;
    render();
  }

  function choose(index) {
    const item = ac.items[index];
    if (!item) return;
    const { text, caret } = insertMention(input.value, ac.start, input.selectionStart, item.username);
    close();
    input.value = text;
    input.setSelectionRange(caret, caret);
    input.focus();
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function move(step) {
    ac.active = (ac.active + step + ac.items.length) % ac.items.length;
    render();
  }

  // The composer's keydown asks first: true when the key was the list's.
  function onKeydown(event) {
    if (!ac.open || event.isComposing) return false;
    if (event.key === "ArrowDown") move(1);
    else if (event.key === "ArrowUp") move(-1);
    else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey) choose(ac.active);
    else if (event.key === "Escape") close();
    else return false;
    event.preventDefault();
    event.stopImmediatePropagation();
    return true;
  }

  function wire() {
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.addEventListener("input", update);
    input.addEventListener("click", update);
    input.addEventListener("keyup", (event) => {
      if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) update();
    });
    input.addEventListener("blur", close);
  }

  return { update, close, onKeydown, isOpen: () => ac.open, wire };
}
