// The emoji picker: a popover (a non-modal dialog) beside the button that
// opened it, with a search box, the groups (the recently used first) as grids
// of buttons named by the emoji's name, a button per group to jump to it, and
// the skin tone (kept in this browser) of the emoji that take one.
// The data (static/chat/emoji.json) is fetched once, on first need. Keys:
// typing searches, ↓ from the search box goes into the grid, arrows move in
// it, Enter picks (in the search box: the first match), Tab stays inside,
// Esc closes and gives the focus back to the button. Used by the composer's
// emoji buttons and by a message's "More reactions"; the `:` autocomplete
// (views/autocomplete.js) uses its data and its recently used.

import { h } from "../dom.js";
import { EmojiRecents, SKIN_TONES, emojiChar, emojiIndex, emojiName, insertAtCaret, saveTone, savedTone, searchEmoji, withTone } from "../emoji.js";

const SEARCH_LIMIT = 160;
const RECENT_ICON = "🕘";
// A group's button shows one of its emoji: these, else its first.
const GROUP_ICONS = {
  "Smileys & Emotion": "😀",
  "People & Body": "👋",
  "Animals & Nature": "🐻",
  "Food & Drink": "🍔",
  "Travel & Places": "🚗",
  Activities: "⚽",
  Objects: "💡",
  Symbols: "🔣",
  Flags: "🏁",
  Other: "✨",
};

export function createEmojiPicker(app) {
  const { state, config } = app;
  const storage = browserStorage();
  const userId = state.me && state.me.id;
  const recents = new EmojiRecents(storage, userId);
  const picker = { index: null, loading: null, el: null, open: false, anchor: null, onPick: null, returnFocus: null, tone: savedTone(storage, userId) };
  let search;
  let toneSelect;
  let nav;
  let scroll;
  let status;

  // The data, fetched once (again after a failure).
  function load() {
    if (picker.index) return Promise.resolve(picker.index);
    if (!picker.loading) {
      picker.loading = fetch(config.urls.emoji_data, { credentials: "same-origin" })
        .then((response) => {
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          return response.json();
        })
        .then((data) => {
          picker.index = emojiIndex(data);
          return picker.index;
        })
        .finally(() => {
          picker.loading = null;
        });
    }
    return picker.loading;
  }

  function build() {
    search = h("input", {
      type: "search",
      class: "emoji-search",
      placeholder: "Search emoji",
      "aria-label": "Search emoji",
      autocomplete: "off",
      spellcheck: "false",
      oninput: render,
      onkeydown: onSearchKeydown,
    });
    toneSelect = h(
      "select",
      {
        class: "emoji-tone",
        "aria-label": "Skin tone",
        title: "Skin tone",
        onchange: () => {
          picker.tone = Number(toneSelect.value);
          saveTone(storage, userId, picker.tone);
          render();
        },
      },
      SKIN_TONES.map((tone, index) => h("option", { value: String(index), text: `${withTone("✋", index)} ${index ? tone.name.replace(/ skin tone$/, "") : "default"}` })),
    );
    nav = h("div", { class: "emoji-nav", role: "group", "aria-label": "Emoji groups" });
    scroll = h("div", { class: "emoji-scroll", onkeydown: onGridKeydown, onclick: onGridClick });
    status = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
    picker.el = h("div", { id: "emoji-picker", class: "emoji-popover", role: "dialog", "aria-label": "Emoji", hidden: true, onkeydown: onKeydown }, h("div", { class: "emoji-head" }, search, toneSelect), nav, scroll, status);
    document.body.append(picker.el);
    document.addEventListener("pointerdown", onOutside, true);
    // A phone's keyboard coming up resizes the page: the picker follows its button.
    window.addEventListener("resize", () => {
      if (picker.open && picker.anchor.isConnected) place(picker.anchor);
    });
  }

  // --- drawing -----------------------------------------------------------------------
  // `char`: as it is written (a recently used one keeps the tone it was picked with).
  function emojiButton(item, char = emojiChar(item, picker.tone)) {
    return h("button", { type: "button", class: "emoji", tabindex: "-1", "aria-label": emojiName(item, char), title: `:${item.codes[0]}:`, dataset: { char }, text: char });
  }

  function section(id, title, items) {
    const headingId = `emoji-heading-${id}`;
    return h(
      "div",
      { class: "emoji-section", role: "group", "aria-labelledby": headingId, dataset: { group: id } },
      h("h2", { id: headingId, text: title }),
      h("div", { class: "emoji-grid" }, items.map((entry) => (entry.item ? emojiButton(entry.item, entry.char) : emojiButton(entry)))),
    );
  }

  function groups() {
    const recent = recents
      .list()
      .map((char) => ({ char, item: picker.index.byChar.get(char) }))
      .filter((entry) => entry.item);
    const all = picker.index.groups.map((group, index) => ({ id: String(index), name: group.name, emoji: group.emoji, icon: GROUP_ICONS[group.name] || group.emoji[0].char }));
    return recent.length ? [{ id: "recent", name: "Recently used", emoji: recent, icon: RECENT_ICON }, ...all] : all;
  }

  function render() {
    if (!picker.open || !picker.index) return;
    const query = search.value.trim();
    if (query) {
      const found = searchEmoji(picker.index, query, { limit: SEARCH_LIMIT, recent: recents.list() });
      nav.hidden = true;
      scroll.replaceChildren(found.length ? section("results", `Results for “${query}”`, found) : h("p", { class: "muted emoji-empty", text: `No emoji match “${query}”.` }));
      status.textContent = found.length ? `${found.length} emoji found` : "No emoji found";
    } else {
      const shown = groups();
      nav.hidden = false;
      nav.replaceChildren(...shown.map((group) => h("button", { type: "button", "aria-label": group.name, title: group.name, text: group.icon, onclick: () => jump(group.id) })));
      scroll.replaceChildren(...shown.map((group) => section(group.id, group.name, group.emoji)));
      status.textContent = "";
    }
    const first = scroll.querySelector("button.emoji");
    if (first) first.tabIndex = 0;
    scroll.scrollTop = 0;
    picker.el.dataset.ready = "true";
  }

  function jump(id) {
    const group = scroll.querySelector(`[data-group="${id}"]`);
    if (!group) return;
    scroll.scrollTop = group.offsetTop - scroll.offsetTop;
    const first = group.querySelector("button.emoji");
    if (first) focusEmoji(first);
  }

  // --- keys ----------------------------------------------------------------------------
  function buttons() {
    return [...scroll.querySelectorAll("button.emoji")];
  }

  // Roving focus: the grid is one Tab stop, at the emoji last focused.
  function focusEmoji(button) {
    for (const other of scroll.querySelectorAll('button.emoji[tabindex="0"]')) other.tabIndex = -1;
    button.tabIndex = 0;
    button.focus();
    button.scrollIntoView({ block: "nearest" });
  }

  // The emoji in the row below (step 1) or above (-1), nearest in x.
  function vertical(all, at, step) {
    const here = all[at].getBoundingClientRect();
    let rowTop = null;
    let best = null;
    for (let i = at + step; i >= 0 && i < all.length; i += step) {
      const rect = all[i].getBoundingClientRect();
      if (Math.abs(rect.top - here.top) < 2) continue;
      if (rowTop === null) rowTop = rect.top;
      else if (Math.abs(rect.top - rowTop) >= 2) break;
      if (!best || Math.abs(rect.left - here.left) < Math.abs(best.rect.left - here.left)) best = { index: i, rect };
    }
    return best ? best.index : at;
  }

  function onGridKeydown(event) {
    const button = event.target.closest("button.emoji");
    if (!button) return;
    const all = buttons();
    const at = all.indexOf(button);
    let next = null;
    if (event.key === "ArrowRight") next = Math.min(all.length - 1, at + 1);
    else if (event.key === "ArrowLeft") next = Math.max(0, at - 1);
    else if (event.key === "ArrowDown") next = vertical(all, at, 1);
    else if (event.key === "ArrowUp") {
      next = vertical(all, at, -1);
      if (next === at) {
        event.preventDefault();
        search.focus();
        return;
      }
    } else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = all.length - 1;
    if (next === null) return;
    event.preventDefault();
    focusEmoji(all[next]);
  }

  function onGridClick(event) {
    const button = event.target.closest("button.emoji");
    if (button) pick(button.dataset.char);
  }

  function onSearchKeydown(event) {
    if (event.key === "ArrowDown") {
      const first = scroll.querySelector("button.emoji");
      if (first) {
        event.preventDefault();
        focusEmoji(first);
      }
    } else if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      const first = search.value.trim() && scroll.querySelector("button.emoji");
      if (first) pick(first.dataset.char);
    }
  }

  // Esc closes; Tab goes round the search box, the group buttons and the grid.
  function onKeydown(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === "Tab") {
      const stops = [search, toneSelect, ...(nav.hidden ? [] : nav.querySelectorAll("button")), scroll.querySelector('button.emoji[tabindex="0"]')].filter(Boolean);
      const at = stops.indexOf(document.activeElement);
      const next = event.shiftKey ? (at <= 0 ? stops.length - 1 : at - 1) : at === stops.length - 1 ? 0 : at + 1;
      event.preventDefault();
      stops[next].focus();
    }
  }

  function onOutside(event) {
    if (!picker.open || picker.el.contains(event.target)) return;
    if (picker.anchor && picker.anchor.contains(event.target)) return; // its click toggles
    close({ restore: false });
  }

  // --- opening and picking -----------------------------------------------------------
  function place(anchor) {
    const rect = anchor.getBoundingClientRect();
    const el = picker.el;
    const width = el.offsetWidth;
    const height = el.offsetHeight;
    const left = Math.max(8, Math.min(rect.left, window.innerWidth - width - 8));
    let top = rect.top - height - 6;
    if (top < 8) top = Math.max(8, Math.min(rect.bottom + 6, window.innerHeight - height - 8));
    el.style.left = `${Math.round(left)}px`;
    el.style.top = `${Math.round(top)}px`;
  }

  /**
   * Open beside `anchor` (a button: aria-expanded follows; opening again from
   * it closes). `onPick(char)` gets the emoji picked (the picker is closed by
   * then and the focus is the caller's); `returnFocus()` is called on Esc when
   * the anchor is gone.
   */
  async function open({ anchor, label = "Emoji", onPick, returnFocus = null }) {
    if (picker.open && picker.anchor === anchor) {
      close();
      return;
    }
    if (!picker.el) build();
    close({ restore: false });
    Object.assign(picker, { open: true, anchor, onPick, returnFocus });
    anchor.setAttribute("aria-expanded", "true");
    picker.el.setAttribute("aria-label", label);
    delete picker.el.dataset.ready;
    search.value = "";
    toneSelect.value = String(picker.tone);
    nav.replaceChildren();
    scroll.replaceChildren(h("p", { class: "muted emoji-empty", text: "Loading emoji…" }));
    picker.el.hidden = false;
    place(anchor);
    search.focus();
    try {
      await load();
    } catch (_error) {
      if (picker.anchor === anchor) scroll.replaceChildren(h("p", { class: "muted emoji-empty", role: "alert", text: "The emoji could not be loaded. Close and try again." }));
      return;
    }
    if (picker.open && picker.anchor === anchor) render();
  }

  // For a text box: the emoji goes where its caret (or selection) was when the picker opened.
  function openFor(input, anchor, label = "Insert an emoji") {
    const start = input.selectionStart;
    const end = input.selectionEnd;
    return open({
      anchor,
      label,
      onPick: (char) => {
        const length = input.value.length;
        const { text, caret } = insertAtCaret(input.value, Math.min(start, length), Math.min(end, length), char);
        input.value = text;
        input.focus();
        input.setSelectionRange(caret, caret);
        input.dispatchEvent(new Event("input", { bubbles: true }));
      },
    });
  }

  function close({ restore = true } = {}) {
    if (!picker.open) return;
    const { anchor, returnFocus } = picker;
    Object.assign(picker, { open: false, anchor: null, onPick: null, returnFocus: null });
    picker.el.hidden = true;
    scroll.replaceChildren();
    nav.replaceChildren();
    if (anchor) anchor.setAttribute("aria-expanded", "false");
    if (!restore) return;
    if (anchor && anchor.isConnected && !anchor.disabled) anchor.focus();
    else if (returnFocus) returnFocus();
  }

  function pick(char) {
    const onPick = picker.onPick;
    recents.add(char);
    close({ restore: false });
    if (onPick) onPick(char);
  }

  return { open, openFor, close, load, recents, tone: () => picker.tone, index: () => picker.index, isOpen: () => picker.open };
}

function browserStorage() {
  try {
    return window.localStorage;
  } catch (_error) {
    return null;
  }
}
