// The composer's autocomplete: a listbox of the room's members (and @here,
// @room for owners and admins) while the caret ends an `@word`, and of the
// emoji whose shortcode or name starts so while it ends a `:word` (two
// characters or more; the data is the emoji picker's, fetched on first need).
// Up/Down move, Enter or Tab insert `@username ` or the emoji, Esc closes, a
// click inserts. A known `:shortcode:` is replaced by its emoji as its closing
// `:` is typed (expand() does it to a whole text, when it is sent).
// The text box keeps the focus; aria-activedescendant names the option.

import { $, h } from "../dom.js";
import { MAX_SUGGESTIONS as MAX_EMOJI, emojiChar, emojiName, insertEmoji, replaceShortcodes, searchEmoji, shortcodeQuery, typedShortcode } from "../emoji.js";
import { mentionCandidates, mentionQuery, insertMention } from "../mentions.js";
import { canModerate } from "../state.js";

// options (the thread panel's composer has its own): list, status (the
// listbox and its live region) and prefix (of the option ids).
export function createAutocomplete(app, input, { list = $("#mention-list"), status = $("#mention-status"), prefix = "mention-option" } = {}) {
  const { state } = app;
  const ac = { open: false, items: [], active: 0, start: 0, query: null, source: null };
  const peopleLabel = list.getAttribute("aria-label");

  function members() {
    const rd = state.loaded.get(state.currentId);
    return rd && rd.members ? [...rd.members.values()] : [];
  }

  // What completes what: find(text, caret) -> {start, query} or null;
  // items(found) -> the options; insert(text, start, caret, item) -> {text, caret}.
  const sources = {
    mention: {
      label: peopleLabel,
      find: mentionQuery,
      items(found) {
        const room = state.rooms.get(state.currentId);
        if (!room) return [];
        return mentionCandidates({
          members: members(),
          me: state.me,
          query: found.query,
          roomType: room.room_type,
          canMentionRoom: canModerate(room),
        }).map((item) => ({ ...item, dataset: { username: item.username } }));
      },
      insert: (text, start, caret, item) => insertMention(text, start, caret, item.username),
    },
    emoji: {
      label: "Emoji",
      find: shortcodeQuery,
      items(found) {
        const index = app.emoji.index();
        if (!index) {
          app.emoji.load().then(
            () => document.activeElement === input && update(),
            () => {}, // no suggestions then; the picker says why when opened
          );
          return [];
        }
        const query = found.query.toLowerCase();
        const tone = app.emoji.tone();
        return searchEmoji(index, query, { limit: MAX_EMOJI, recent: app.emoji.recents.list() }).map((item) => {
          const char = emojiChar(item, tone);
          return {
            key: item.char,
            char,
            icon: char,
            label: `:${item.codes.find((code) => code.startsWith(query)) || item.codes[0]}:`,
            detail: emojiName(item, char),
            dataset: { emoji: char },
          };
        });
      },
      insert: (text, start, caret, item) => {
        app.emoji.recents.add(item.char);
        return insertEmoji(text, start, caret, item.char);
      },
    },
  };

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
    list.setAttribute("aria-label", peopleLabel);
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
            dataset: item.dataset,
            // Keeps the focus (and the caret) in the text box.
            onmousedown: (event) => event.preventDefault(),
            onclick: () => choose(index),
          },
          item.icon ? h("span", { class: "option-icon", "aria-hidden": "true", text: item.icon }) : null,
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
    if (input.selectionStart !== input.selectionEnd) return close();
    for (const [name, source] of Object.entries(sources)) {
      const found = source.find(input.value, input.selectionStart);
      if (!found) continue;
      const items = source.items(found);
      if (!items.length) return close();
      if (name !== ac.source || found.query !== ac.query || found.start !== ac.start) ac.active = 0;
      Object.assign(ac, { items, start: found.start, query: found.query, source: name, open: true });
      list.setAttribute("aria-label", source.label);
      status.textContent = `${items.length} suggestion${items.length === 1 ? "" : "s"}: up and down to choose, Enter to insert`;
      return render();
    }
    return close();
  }

  function choose(index) {
    const item = ac.items[index];
    if (!item) return;
    const { text, caret } = sources[ac.source].insert(input.value, ac.start, input.selectionStart, item);
    close();
    input.value = text;
    input.setSelectionRange(caret, caret);
    input.focus();
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // A `:shortcode:` closed by the `:` just typed becomes its emoji.
  function replaceTyped(event) {
    const index = app.emoji.index();
    if (!index || !event.data || !event.data.endsWith(":") || input.selectionStart !== input.selectionEnd) return;
    const done = typedShortcode(input.value, input.selectionStart, index.byCode, app.emoji.tone());
    if (!done) return;
    input.value = done.text;
    input.setSelectionRange(done.caret, done.caret);
    app.emoji.recents.add(done.char);
  }

  /** The text to send: its known `:shortcode:`s (not in code) made emoji. */
  function expand(text) {
    const index = app.emoji.index();
    return index ? replaceShortcodes(text, index.byCode, app.emoji.tone()) : text;
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
    // Before the composer's own listener: it sees (and keeps as the draft) the text replaced.
    input.addEventListener("input", (event) => {
      replaceTyped(event);
      update();
    });
    input.addEventListener("click", update);
    input.addEventListener("keyup", (event) => {
      if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) update();
    });
    input.addEventListener("blur", close);
  }

  return { update, close, onKeydown, expand, isOpen: () => ac.open, wire };
}
