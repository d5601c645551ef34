// The open room's message list: drawn again only where something changed,
// scrolled as a chat scrolls, "Seen by" under messages, and keyboard focus
// that one message holds at a time (arrow keys, Home and End move it; Tab
// reaches the focused message's actions).

import { $, h } from "../dom.js";
import { continuesGroup, dayLabel, localDay } from "../grouping.js";
import { displayName } from "../state.js";
import { renderMessage } from "./message.js";

const NEAR_BOTTOM = 80;
const LOAD_OLDER_AT = 150;

export function createMessageList(app) {
  const { state } = app;
  const scroller = $("#messages-scroll");
  const list = $("#messages");
  // What the list shows and where the reader is in it.
  const view = {
    elements: new Map(), // message id, "pending:<client_msg_id>" or "divider" -> <li>
    rovingId: null, // the message in the tab order
    focusAfterRender: null, // a selector to focus once drawn
    stuckToBottom: true,
  };

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM;
  }

  // Every message drawn again (the time zone or my picture changed).
  function redrawAll() {
    const roomId = list.dataset.room || null;
    clear(roomId);
    app.invalidate("messages");
  }

  function clear(roomId = null) {
    list.replaceChildren();
    if (roomId) list.dataset.room = roomId;
    else delete list.dataset.room;
    view.elements.clear();
  }

  // The element of a message (or a pending send), drawn again when dirty.
  function element(key, dirty, draw) {
    let el = view.elements.get(key);
    if (!el || dirty) {
      const fresh = draw();
      if (el) el.replaceWith(fresh);
      el = fresh;
      view.elements.set(key, el);
    }
    return el;
  }

  function startsUnread(rd, message) {
    return (
      rd.firstUnreadSeq !== null &&
      message.seq > rd.firstUnreadSeq &&
      message.message_type !== "system" &&
      (!message.sender || message.sender.id !== state.me.id)
    );
  }

  function desiredElements(rd, room) {
    const ctx = { rd, room, actions: app.actions };
    const desired = [];
    let dividerPlaced = false;
    let previous = null; // the message drawn just before: a new day, and grouping
    const now = new Date();
    for (const messageId of rd.order) {
      const message = rd.messages.get(messageId);
      const el = element(messageId, rd.dirty.has(messageId), () => renderMessage(message, ctx));
      let separated = false;
      if (!previous || localDay(previous.created_at) !== localDay(message.created_at)) {
        const label = dayLabel(message.created_at, now);
        const key = `day:${localDay(message.created_at)}:${label}`;
        desired.push([key, element(key, false, () => h("li", { class: "day-divider" }, h("span", { text: label })))]);
        separated = true;
      }
      if (!dividerPlaced && startsUnread(rd, message)) {
        desired.push(["divider", element("divider", false, () => h("li", { class: "unread-divider", text: "New messages" }))]);
        dividerPlaced = true;
        separated = true;
      }
      // Grouped under the name above (the name stays for screen readers).
      el.classList.toggle("grouped", !separated && continuesGroup(previous, message));
      desired.push([messageId, el]);
      previous = message;
    }
    for (const pending of rd.pending.values()) {
      if (pending.thread) continue; // the thread panel's
      const key = `pending:${pending.client_msg_id}`;
      desired.push([key, element(key, pending.dirty, () => renderMessage(pending, { ...ctx, pending }))]);
      pending.dirty = false;
    }
    rd.dirty.clear();
    return desired;
  }

  function placeInOrder(desired) {
    let cursor = list.firstChild;
    for (const [, el] of desired) {
      if (el === cursor) cursor = cursor.nextSibling;
      else list.insertBefore(el, cursor);
    }
    while (cursor) {
      const next = cursor.nextSibling;
      cursor.remove();
      cursor = next;
    }
    const wanted = new Set(desired.map(([key]) => key));
    for (const key of [...view.elements.keys()]) if (!wanted.has(key)) view.elements.delete(key);
  }

  function render() {
    const id = state.currentId;
    const rd = state.loaded.get(id);
    const room = state.rooms.get(id);
    if (!rd || !room) return;
    if (list.dataset.room !== id) clear(id);
    const wasNearBottom = nearBottom();
    const before = { height: scroller.scrollHeight, top: scroller.scrollTop };
    const focus = rememberFocus();
    placeInOrder(desiredElements(rd, room));

    $("#load-older").hidden = !rd.ready || !rd.hasOlder;
    list.removeAttribute("aria-busy");
    updateRoving();
    renderSeen();
    if (rd.scrollToBottom || (wasNearBottom && !rd.prepending)) {
      scroller.scrollTop = scroller.scrollHeight;
      rd.scrollToBottom = false;
      view.stuckToBottom = true;
      $("#jump-bottom").hidden = true;
    } else if (rd.prepending) {
      scroller.scrollTop = before.top + (scroller.scrollHeight - before.height);
    } else if (scroller.scrollHeight > before.height) {
      $("#jump-bottom").hidden = false;
    }
    rd.prepending = false;
    restoreFocus(focus);
  }

  // --- keyboard focus ---------------------------------------------------------------
  function messageItems() {
    return [...list.querySelectorAll(":scope > .msg")];
  }

  function updateRoving() {
    const items = messageItems();
    const chosen = items.find((el) => el.id === view.rovingId) || items[items.length - 1];
    for (const el of items) el.tabIndex = el === chosen ? 0 : -1;
  }

  function closeReactPicker() {
    const rd = state.loaded.get(state.currentId);
    if (!rd || !rd.reactingId) return;
    const id = rd.reactingId;
    rd.reactingId = null;
    rd.dirty.add(id);
    focusAfterRender(`#m-${CSS.escape(id)}`);
    app.invalidate("messages");
  }

  function moveFocus(event) {
    const item = event.target.closest(".msg");
    if (!item || item !== event.target) {
      if (event.key === "Escape" && item) closeReactPicker();
      return;
    }
    const items = messageItems();
    const index = items.indexOf(item);
    const target = { ArrowUp: index - 1, ArrowDown: index + 1, Home: 0, End: items.length - 1 }[event.key];
    if (target === undefined) return;
    event.preventDefault();
    const next = items[Math.max(0, Math.min(items.length - 1, target))];
    if (next) next.focus();
  }

  function rememberFocus() {
    const active = document.activeElement;
    if (!active || !list.contains(active)) return null;
    const item = active.closest(".msg");
    return item ? { id: item.id, tag: active.tagName, label: active.getAttribute("aria-label"), text: active.textContent } : null;
  }

  function restoreFocus(focus) {
    const hint = view.focusAfterRender;
    view.focusAfterRender = null;
    if (hint) {
      const target = document.querySelector(hint);
      if (target) {
        target.focus({ preventScroll: true });
        if (target.tagName === "TEXTAREA") target.setSelectionRange(target.value.length, target.value.length);
        return;
      }
    }
    if (!focus || list.contains(document.activeElement)) return;
    const item = document.getElementById(focus.id);
    if (!item) return;
    const candidates = [...item.querySelectorAll(focus.tag)];
    const match =
      candidates.find((el) => focus.label && el.getAttribute("aria-label") === focus.label) ||
      candidates.find((el) => el.textContent === focus.text);
    (match || item).focus({ preventScroll: true });
  }

  function focusAfterRender(selector) {
    view.focusAfterRender = selector;
  }

  // --- "Seen by": each other member under the last message their read position covers.
  function lastReadBy(rd, seqs, member) {
    let low = 0;
    let high = seqs.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (seqs[mid] <= member.last_read_seq) low = mid + 1;
      else high = mid;
    }
    // The last message they have read that is not theirs (nor a system line, nor deleted).
    for (let index = low - 1; index >= 0; index -= 1) {
      const message = rd.messages.get(rd.order[index]);
      const theirs = message.sender && message.sender.id === member.user.id;
      if (message.message_type !== "system" && !message.is_deleted && !theirs) return rd.order[index];
    }
    return null;
  }

  function renderSeen() {
    const rd = state.loaded.get(state.currentId);
    if (!rd) return;
    for (const el of list.querySelectorAll(".msg-seen")) {
      el.hidden = true;
      el.textContent = "";
    }
    if (!rd.members || !rd.order.length) return;
    const seqs = rd.order.map((id) => rd.messages.get(id).seq);
    const readers = new Map();
    for (const member of rd.members.values()) {
      if (member.user.id === state.me.id || !member.last_read_seq) continue;
      const messageId = lastReadBy(rd, seqs, member);
      if (messageId === null) continue;
      if (!readers.has(messageId)) readers.set(messageId, []);
      readers.get(messageId).push(displayName(member.user));
    }
    for (const [messageId, names] of readers) {
      const el = view.elements.get(messageId);
      const seen = el && el.querySelector(".msg-seen");
      if (!seen) continue;
      const shown = names.length > 4 ? `${names.slice(0, 3).join(", ")} and ${names.length - 3} others` : names.join(", ");
      seen.textContent = `Seen by ${shown}`;
      seen.hidden = false;
    }
  }

  function scrollToEnd() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  function wire() {
    scroller.addEventListener("scroll", () => {
      view.stuckToBottom = nearBottom();
      if (view.stuckToBottom) {
        $("#jump-bottom").hidden = true;
        app.reading.soon();
      }
      const rd = state.loaded.get(state.currentId);
      if (rd && scroller.scrollTop < LOAD_OLDER_AT) app.history.loadOlder(rd);
    });
    list.addEventListener("keydown", moveFocus);
    list.addEventListener("focusin", (event) => {
      const item = event.target.closest(".msg");
      if (item && item.id !== view.rovingId) {
        view.rovingId = item.id;
        updateRoving();
      }
    });
    list.addEventListener(
      "load",
      (event) => {
        if (event.target.tagName === "IMG" && view.stuckToBottom) scrollToEnd();
      },
      true,
    );
    $("#load-older").addEventListener("click", () => {
      const rd = state.loaded.get(state.currentId);
      if (rd) app.history.loadOlder(rd);
    });
    $("#jump-bottom").addEventListener("click", () => {
      scrollToEnd();
      app.composer.focus({ preventScroll: true });
    });
  }

  return { render, renderSeen, clear, redrawAll, nearBottom, focusAfterRender, setBusy: () => list.setAttribute("aria-busy", "true"), wire };
}
