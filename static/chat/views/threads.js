// The Threads view (#threads): the threads I follow across rooms, those with
// unread replies first, then the newest activity (GET /api/threads/, a page at
// a time with X-Next-Cursor). Each shows its room, the root, and its unread
// replies; a click opens the room and the thread. Replies in followed threads
// update it live (the reducer keeps the counts in state.threads); a thread it
// does not list yet brings the first page again.

import { api, describeError, get, query } from "../api.js";
import { $, fullTime, h, initials, messageTime } from "../dom.js";
import { displayName, roomTitle } from "../state.js";
import { applyThreadItem, applyThreadTotals, summaryText, threadOrder } from "../threads.js";

const PAGE = 20;
const RELOAD_WAIT = 300;

const unreadReplies = (count) => (count === 1 ? "1 unread reply" : `${count} unread replies`);

export function createThreadsView(app) {
  const { state } = app;
  const view = {
    ids: new Set(), // root ids listed
    cursor: null,
    loaded: false,
    loading: false,
    visible: false,
    error: "",
    reloadTimer: null,
  };

  function roomName(entry) {
    const known = state.rooms.get(entry.room);
    if (known) return roomTitle(known);
    const info = entry.roomInfo || {};
    return info.name || (info.room_type === "direct" ? "Direct chat" : "Room");
  }

  function itemNode(entry) {
    const root = entry.root;
    const deleted = root.is_deleted || root.content === null;
    const text = deleted ? "Message deleted" : root.content || (root.attachment ? `📎 ${root.attachment.name}` : "");
    const room = roomName(entry);
    const author = displayName(root.sender);
    const unread = entry.unread_count || 0;
    const summary = summaryText(root.thread_summary) || "No replies yet";
    const label = `${room}: thread of ${author}, ${text}. ${summary}.${unread ? ` ${unreadReplies(unread)}.` : ""}`;
    return h(
      "li",
      { class: `mention-item thread-item${unread ? " unread" : ""}`, dataset: { rootId: root.id, roomId: entry.room } },
      h(
        "button",
        { type: "button", "aria-label": label, onclick: () => app.thread.go(entry.room, root.id) },
        h(
          "span",
          { class: "mention-meta" },
          h("span", { class: "mention-room", text: room }),
          h("span", { class: "mention-sender", text: author }),
          h("time", { datetime: root.created_at, title: fullTime(root.created_at), text: messageTime(root.created_at) }),
          unread ? h("span", { class: "badge thread-unread", dataset: { unread } }, String(unread), h("span", { class: "visually-hidden", text: " unread" })) : null,
        ),
        h("span", { class: `mention-text${deleted ? " muted" : ""}`, text }),
        h(
          "span",
          { class: "thread-line muted" },
          ((root.thread_summary && root.thread_summary.participants) || []).slice(0, 3).map((person) => h("span", { class: "avatar tiny", "aria-hidden": "true", text: initials(displayName(person)) })),
          h("span", { text: summary }),
        ),
      ),
    );
  }

  function render() {
    renderBadge();
    if (!view.visible) return;
    const entries = [...view.ids].map((id) => state.threads.get(id)).filter((entry) => entry && entry.root && entry.following !== false);
    entries.sort(threadOrder);
    $("#threads-list").replaceChildren(...entries.map(itemNode));
    $("#threads-more").hidden = !view.cursor;
    $("#threads-more").disabled = view.loading;
    let summary = "";
    if (view.error) summary = view.error;
    else if (view.loading && !entries.length) summary = "Loading…";
    else if (view.loaded && !entries.length) summary = "You follow no threads yet. Reply in a thread, or follow one, to see it here.";
    $("#threads-summary").textContent = summary;
  }

  // The sidebar's Threads button: the unread replies of every thread I follow.
  function renderBadge() {
    const replies = state.threadTotals.replies || 0;
    const badge = $("#threads-count");
    badge.hidden = !replies;
    badge.textContent = replies ? String(replies) : "";
    $("#threads-toggle").setAttribute("aria-label", replies ? `Threads, ${unreadReplies(replies)}` : "Threads");
  }

  async function loadPage({ first = false } = {}) {
    if (view.loading) return;
    view.loading = true;
    view.error = "";
    render();
    try {
      const cursor = first ? null : view.cursor;
      const { data, headers } = await api("GET", `threads/${query({ limit: PAGE, cursor })}`, undefined, { withHeaders: true });
      for (const item of data) view.ids.add(applyThreadItem(state, item).id);
      if (!first || !view.loaded) view.cursor = headers.get("X-Next-Cursor") || null;
      view.loaded = true;
    } catch (error) {
      view.error = `Could not load your threads: ${describeError(error)}`;
    } finally {
      view.loading = false;
      render();
    }
  }

  // The badge as the server counts it (boot, reconnect).
  async function loadTotals() {
    try {
      applyThreadTotals(state, await get("threads/unread/"));
      renderBadge();
    } catch (_error) {
      // Without the totals the badge waits for the next change.
    }
  }

  // The first page again, soon (a thread it does not list, a follow, a reconnect).
  function reload() {
    if (!view.loaded) return;
    clearTimeout(view.reloadTimer);
    view.reloadTimer = setTimeout(() => loadPage({ first: true }), RELOAD_WAIT);
  }

  // The reducer's "thread-activity": a reply in some thread.
  function threadActivity(effect) {
    const entry = state.threads.get(effect.thread);
    if (!view.loaded) return;
    if (view.ids.has(effect.thread)) render();
    else if (entry && entry.following) reload();
  }

  function show() {
    view.visible = true;
    $("#threads-toggle").setAttribute("aria-pressed", "true");
    if (!view.loaded) loadPage();
    else reload();
    render();
    const heading = $("#threads-title");
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }

  function hide() {
    view.visible = false;
    $("#threads-toggle").setAttribute("aria-pressed", "false");
  }

  function roomRemoved(roomId) {
    for (const id of [...view.ids]) {
      const entry = state.threads.get(id);
      if (!entry || entry.room === roomId) view.ids.delete(id);
    }
    for (const [id, entry] of state.threads) if (entry.room === roomId) state.threads.delete(id);
    loadTotals();
    render();
  }

  function wire() {
    $("#threads-toggle").addEventListener("click", () => {
      window.location.hash = window.location.hash === "#threads" ? "" : "#threads";
    });
    $("#threads-more").addEventListener("click", () => loadPage());
    $("#threads-close").addEventListener("click", () => {
      window.location.hash = "";
    });
  }

  return { show, hide, render, renderBadge, loadTotals, reload, threadActivity, roomRemoved, wire };
}
