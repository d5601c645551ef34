// The thread panel beside the open room (on a phone, a full screen with Back):
// the root on top ("Message deleted" when deleted; the replies stay), the
// replies oldest first a page at a time (GET /api/messages/{root}/thread/),
// its composer, follow and unfollow, and the thread's read position, moved
// when the reader sees the end of the panel. The hash says which thread is
// open (#room/<room>/thread/<root>), so Back closes it.

import { del, get, post, query } from "./api.js";
import { $ } from "./dom.js";
import { RETRYABLE } from "./outbox.js";
import { displayName, roomTitle, ThreadData } from "./state.js";
import { createThreadComposer } from "./thread-composer.js";
import { applyThreadRead, applyThreadTotals } from "./threads.js";
import { showError, toast } from "./ui.js";
import { renderMessage } from "./views/message.js";

const PAGE = 50;
const NEAR_BOTTOM = 60;
const READ_DELAY = 200;
const HIGHLIGHT = 2500;
const AT_TRIES = 20;
const TOTALS_WAIT = 400;

export function threadHash(roomId, rootId) {
  return `#room/${roomId}/thread/${rootId}`;
}

export function createThreadPanel(app) {
  const { state } = app;
  const panelEl = $("#thread-panel");
  const scroller = $("#thread-scroll");
  const list = $("#thread-replies");
  const layout = $("#layout");
  const narrow = window.matchMedia("(max-width: 720px)");
  const view = { elements: new Map(), rootEl: null, focusAfterRender: null, openedFrom: null, readTimer: null, reading: false, totalsTimer: null, wantAt: new Map() };
  const composer = createThreadComposer(app, { onEscape: () => leave() });

  // The message actions, for the panel's messages (their state is the panel's).
  const actions = app.actions.within({
    holder: () => state.thread,
    part: "thread",
    prefix: "t",
    focusAfterRender: (selector) => {
      view.focusAfterRender = selector;
    },
    focusComposer: (options) => composer.focus(options),
  });

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM;
  }

  // --- opening and closing -------------------------------------------------------------
  // The way to open a thread from anywhere (at a reply, optionally): through the hash.
  function go(roomId, rootId, { at = null } = {}) {
    if (at) view.wantAt.set(rootId, at);
    const target = threadHash(roomId, rootId);
    if (window.location.hash === target) show(roomId, rootId);
    else window.location.hash = target;
  }

  // The room is open (room.js routes); this shows its thread.
  function show(roomId, rootId) {
    const at = view.wantAt.get(rootId) || null;
    view.wantAt.delete(rootId);
    let panel = state.thread;
    if (!panel || panel.rootId !== rootId || panel.id !== roomId) {
      if (panel) composer.leave(panel);
      else view.openedFrom = document.activeElement;
      panel = new ThreadData(roomId, rootId);
      state.thread = panel;
      list.replaceChildren();
      $("#thread-root").replaceChildren();
      view.elements.clear();
      view.rootEl = null;
      composer.enter(panel);
      load(panel);
    }
    panel.at = at || panel.at;
    closeDetails();
    panelEl.hidden = false;
    layout.classList.add("with-thread");
    app.invalidate("thread", "thread-composer", "thread-typing");
    if (panel.ready && panel.at) showAt(panel);
    if (narrow.matches) $("#thread-title").focus({ preventScroll: true });
    else composer.focus({ preventScroll: true });
  }

  function closeDetails() {
    const details = $("#details-panel");
    if (details.hidden) return;
    details.hidden = true;
    layout.classList.remove("with-details");
    $("#details-toggle").setAttribute("aria-expanded", "false");
  }

  // Hides the panel (the hash no longer names a thread, or the room changed).
  function close() {
    const panel = state.thread;
    if (!panel) return;
    if (view.readTimer) {
      // A read the panel had scheduled: the reader saw those replies before leaving.
      clearTimeout(view.readTimer);
      view.readTimer = null;
      flushRead(panel);
    }
    composer.leave(panel);
    state.thread = null;
    panelEl.hidden = true;
    layout.classList.remove("with-thread");
    list.replaceChildren();
    $("#thread-root").replaceChildren();
    view.elements.clear();
    view.rootEl = null;
    const back = view.openedFrom;
    view.openedFrom = null;
    if (state.currentId === panel.id) {
      if (back && back.isConnected && !panelEl.contains(back)) back.focus({ preventScroll: true });
      else if (!narrow.matches) app.composer.focus({ preventScroll: true });
    }
  }

  // Esc, Close or Back: the room stays open, the hash says so.
  function leave() {
    const panel = state.thread;
    if (!panel) return;
    if (state.currentId === panel.id) window.location.hash = `#room/${panel.id}`;
    else close();
  }

  // --- loading -------------------------------------------------------------------------
  async function page(panel, before) {
    const data = await get(`messages/${panel.rootId}/thread/${query({ before, limit: PAGE })}`);
    panel.hasOlder = data.replies.length === PAGE && (data.replies[0] ? data.replies[0].seq > 1 : false);
    return data;
  }

  // The thread's state as its page states it: following, read position, unread count.
  function takeState(panel, data) {
    panel.following = Boolean(data.following);
    const guessed = applyThreadRead(state, {
      thread: panel.rootId,
      room: panel.id,
      following: panel.following,
      last_read_seq: data.last_read_seq,
      unread_count: data.unread_count,
    });
    const entry = state.threads.get(panel.rootId);
    entry.root = data.root;
    if (guessed) refreshTotals();
    app.invalidate("threads", "rooms");
  }

  async function load(panel) {
    try {
      const data = await page(panel);
      if (state.thread !== panel) return;
      panel.updateRoot(data.root);
      panel.ready = true;
      panel.merge(data.replies);
      takeState(panel, data);
      panel.scrollToBottom = true;
      app.invalidate("thread");
      if (panel.at) showAt(panel);
      readSoon();
    } catch (error) {
      if (state.thread !== panel) return;
      if (error.status === 404 || error.code === "thread_not_found" || error.code === "not_a_thread_root") toast("That thread is not available.");
      else showError(error, "Could not load the thread: ");
      leave();
    }
  }

  async function loadEarlier(panel) {
    if (!panel.ready || panel.loadingOlder || !panel.hasOlder || panel.oldestSeq === null) return;
    panel.loadingOlder = true;
    $("#thread-earlier").disabled = true;
    try {
      const data = await page(panel, panel.oldestSeq);
      if (state.thread !== panel) return;
      panel.loadingOlder = false;
      panel.prepending = true;
      panel.merge(data.replies);
    } catch (error) {
      showError(error, "Could not load earlier replies: ");
    } finally {
      panel.loadingOlder = false;
      $("#thread-earlier").disabled = false;
      app.invalidate("thread");
    }
  }

  // A reply to show (a search hit, a link): paged back to, scrolled to, highlighted.
  async function showAt(panel) {
    const id = panel.at;
    panel.at = null;
    if (id === panel.rootId) return;
    for (let tries = 0; !panel.messages.has(id) && panel.hasOlder && tries < AT_TRIES && state.thread === panel; tries += 1) {
      await loadEarlier(panel);
      render();
    }
    if (state.thread !== panel) return;
    render();
    const el = document.getElementById(`t-${id}`);
    if (!el) {
      toast("That reply is no longer in this thread.");
      return;
    }
    panel.scrollToBottom = false;
    el.scrollIntoView({ block: "center" });
    el.focus({ preventScroll: true });
    const highlight = { id, until: Date.now() + HIGHLIGHT };
    panel.highlight = highlight;
    el.classList.add("highlight");
    setTimeout(() => {
      if (panel.highlight === highlight) panel.highlight = null;
      const current = document.getElementById(`t-${id}`);
      if (current) current.classList.remove("highlight");
    }, HIGHLIGHT);
  }

  // --- reading -------------------------------------------------------------------------
  function readSoon() {
    if (view.readTimer) return;
    view.readTimer = setTimeout(() => {
      view.readTimer = null;
      markRead();
    }, READ_DELAY);
  }

  function sendRead(panel, seq) {
    const socket = app.socket;
    const rest = () => post(`messages/${panel.rootId}/thread/read/`, { seq });
    if (!socket || !socket.live) return rest();
    return socket.request({ type: "thread.read", room: panel.id, thread: panel.rootId, seq }).catch((error) => {
      if (error.code === "unknown_type" || error.code === "invalid") return rest();
      throw error;
    });
  }

  async function markRead() {
    const panel = state.thread;
    const room = panel && state.rooms.get(panel.id);
    if (!room || !panel.ready || panelEl.hidden || document.visibilityState !== "visible" || !nearBottom()) return;
    const entry = state.threads.get(panel.rootId);
    const readTo = entry ? entry.last_read_seq || 0 : 0;
    if (panel.latestSeq <= readTo && !(entry && entry.unread_count)) return;
    if (view.reading) {
      readSoon();
      return;
    }
    view.reading = true;
    const seq = Math.max(room.seq || 0, panel.latestSeq);
    try {
      await readAndApply(panel, seq);
    } finally {
      view.reading = false;
    }
    if (state.thread === panel && panel.latestSeq > seq) readSoon();
  }

  // The read a closing panel had scheduled, sent at once: up to what it showed.
  async function flushRead(panel) {
    const entry = state.threads.get(panel.rootId);
    const seq = panel.latestSeq || 0;
    if (!panel.ready || seq <= (entry ? entry.last_read_seq || 0 : 0)) return;
    await readAndApply(panel, seq);
  }

  // Send the thread's read position and take the server's answer (counts).
  async function readAndApply(panel, seq) {
    try {
      const result = await sendRead(panel, seq);
      if (result && applyThreadRead(state, { thread: panel.rootId, room: panel.id, ...result })) refreshTotals();
      app.invalidate("rooms", "threads");
    } catch (error) {
      if (!RETRYABLE.has(error.code)) console.warn("thread read failed", error);
    }
  }

  // The Threads badge, as the server counts it (after a change the page could not count).
  function refreshTotals() {
    clearTimeout(view.totalsTimer);
    view.totalsTimer = setTimeout(async () => {
      try {
        applyThreadTotals(state, await get("threads/unread/"));
        app.invalidate("rooms", "threads");
      } catch (_error) {
        // The badge stays as the events left it.
      }
    }, TOTALS_WAIT);
  }

  // --- following -----------------------------------------------------------------------
  async function toggleFollow() {
    const panel = state.thread;
    if (!panel || panel.following === null) return;
    const button = $("#thread-follow");
    const follow = !panel.following;
    button.disabled = true;
    try {
      if (follow) await post(`messages/${panel.rootId}/follow/`);
      else await del(`messages/${panel.rootId}/follow/`);
      panel.following = follow;
      const entry = state.threads.get(panel.rootId);
      if (entry) entry.following = follow;
      toast(follow ? "You follow this thread: its replies show in Threads." : "You no longer follow this thread.");
      refreshTotals();
      app.reloadThreads();
    } catch (error) {
      showError(error, follow ? "Could not follow: " : "Could not unfollow: ");
    } finally {
      button.disabled = false;
      app.invalidate("thread");
    }
  }

  // --- rendering -----------------------------------------------------------------------
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

  function rememberFocus() {
    const active = document.activeElement;
    if (!active || !scroller.contains(active)) return null;
    const item = active.closest(".msg");
    return item ? { id: item.id, label: active.getAttribute("aria-label"), text: active.textContent, tag: active.tagName } : null;
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
    if (!focus || scroller.contains(document.activeElement)) return;
    const item = document.getElementById(focus.id);
    if (!item) return;
    const match = [...item.querySelectorAll(focus.tag)].find((el) => (focus.label && el.getAttribute("aria-label") === focus.label) || el.textContent === focus.text);
    (match || item).focus({ preventScroll: true });
  }

  function renderHead(panel, room) {
    $("#thread-room").textContent = room ? `in ${roomTitle(room)}` : "";
    const follow = $("#thread-follow");
    follow.hidden = panel.following === null;
    follow.setAttribute("aria-pressed", panel.following ? "true" : "false");
    follow.textContent = panel.following ? "Following" : "Follow";
    follow.setAttribute("aria-label", panel.following ? "Following this thread: press to unfollow" : "Follow this thread");
    const summary = panel.root && panel.root.thread_summary;
    const count = summary ? summary.reply_count : panel.order.length;
    $("#thread-count").textContent = !panel.ready ? "Loading…" : count ? `${count} ${count === 1 ? "reply" : "replies"}` : "No replies yet";
  }

  // The panel holds no members of its own: the room's, so that the `@name` of
  // others in the replies is marked (once the room's members are loaded, the
  // replies and the root that mention others are drawn again).
  function shareMembers(panel) {
    const rd = state.loaded.get(panel.id);
    const members = rd ? rd.members : null;
    const memberEvents = rd ? rd.memberEvents : 0;
    if (panel.members === members && panel.memberEvents === memberEvents) return;
    panel.members = members;
    panel.memberEvents = memberEvents;
    const others = (message) => Boolean(message) && (message.mentions || []).some((m) => m.kind === "user" && m.user_id !== state.me.id);
    for (const id of panel.order) if (others(panel.messages.get(id))) panel.dirty.add(id);
    if (others(panel.root)) panel.rootDirty = true;
  }

  function render() {
    const panel = state.thread;
    if (!panel) return;
    const room = state.rooms.get(panel.id);
    shareMembers(panel);
    const focus = rememberFocus();
    const wasNearBottom = nearBottom();
    const before = { height: scroller.scrollHeight, top: scroller.scrollTop };
    renderHead(panel, room);
    const ctx = { rd: panel, room, actions, prefix: "t" };
    if (panel.root && (panel.rootDirty || !view.rootEl)) {
      const root = { ...panel.root, thread: null };
      view.rootEl = renderMessage(root, { ...ctx, place: "root" });
      $("#thread-root").replaceChildren(view.rootEl);
      panel.rootDirty = false;
    }
    const desired = [];
    for (const id of panel.order) {
      const message = panel.messages.get(id);
      desired.push([id, element(id, panel.dirty.has(id), () => renderMessage(message, { ...ctx, place: "reply" }))]);
    }
    const rd = state.loaded.get(panel.id);
    for (const pending of rd ? rd.pending.values() : []) {
      if (pending.thread !== panel.rootId) continue;
      const key = `pending:${pending.client_msg_id}`;
      desired.push([key, element(key, pending.dirty, () => renderMessage(pending, { ...ctx, place: "reply", pending }))]);
      pending.dirty = false;
    }
    panel.dirty.clear();
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
    $("#thread-earlier").hidden = !panel.ready || !panel.hasOlder;
    if (panel.scrollToBottom || (wasNearBottom && !panel.prepending)) {
      scroller.scrollTop = scroller.scrollHeight;
      panel.scrollToBottom = false;
    } else if (panel.prepending) {
      scroller.scrollTop = before.top + (scroller.scrollHeight - before.height);
    }
    panel.prepending = false;
    restoreFocus(focus);
    readSoon();
  }

  function renderTyping() {
    const panel = state.thread;
    const names = panel ? [...panel.typing.values()].map((t) => displayName(t.user)) : [];
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = "Several people are typing…";
    $("#thread-typing").textContent = text;
  }

  function wire() {
    composer.wire();
    $("#thread-close").addEventListener("click", leave);
    $("#thread-back").addEventListener("click", leave);
    $("#thread-follow").addEventListener("click", toggleFollow);
    $("#thread-earlier").addEventListener("click", () => state.thread && loadEarlier(state.thread));
    scroller.addEventListener("scroll", () => {
      if (nearBottom()) readSoon();
      if (state.thread && scroller.scrollTop < 80) loadEarlier(state.thread);
    });
    // Esc anywhere in the panel closes it, unless something in it used the key (an edit, the autocomplete).
    panelEl.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || event.defaultPrevented) return;
      event.preventDefault();
      leave();
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") readSoon();
    });
  }

  return {
    go,
    show,
    close,
    render,
    renderTyping,
    renderComposer: () => composer.render(),
    readSoon,
    refreshTotals,
    wire,
    isOpen: (rootId) => Boolean(state.thread && state.thread.rootId === rootId),
  };
}
