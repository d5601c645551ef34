// The chat page: rooms, the open room, the composer, and the one WebSocket.
//
// Consistency model (docs/realtime.md): each room keeps the last event seq
// processed. Events at or below it are duplicates; one past a gap triggers a
// `sync` of that room. On every (re)connect the page sends `sync` with all its
// seqs before it calls itself live, so nothing is missed and nothing repeats.

import { api, describeError, get, getPages, post, query, setUnauthenticatedHandler } from "./api.js";
import { $, fileSize, h, initials, shortTime, uuid4 } from "./dom.js";
import { renderMessage } from "./messages.js";
import * as panels from "./panels.js";
import { ChatSocket } from "./socket.js";
import { displayName, roomData, roomTitle, sortedRooms, state } from "./state.js";
import { confirmDialog, invalidate, registerRenderer, showError, toast } from "./ui.js";

const config = JSON.parse($("#chat-config").textContent);
state.config = config;
state.me = config.user;

const layout = $("#layout");
const scroller = $("#messages-scroll");
const messageList = $("#messages");
const input = $("#message-input");
const fileInput = $("#file-input");
const narrow = window.matchMedia("(max-width: 720px)");

let socket = null;
let everLive = false;
let stuckToBottom = true;
let chosenFile = null;
let chosenPreviewUrl = null;
let typingRoom = null;
let typingSentAt = 0;
const elements = new Map(); // message id or "pending:<client_msg_id>" -> <li>
const syncing = new Set();
const readInFlight = new Set();
const refreshTimers = new Map();

setUnauthenticatedHandler(() => {
  window.location.assign(`${config.urls.login}?next=${encodeURIComponent(window.location.pathname + window.location.hash)}`);
});

// --- rooms -------------------------------------------------------------------
// A room item from the API. For a room we already follow, the counts and the
// last message are taken only when the item is exactly at the seq we have
// processed: newer, and the events in between would be counted twice.
function mergeRoomItem(item, attempt = 0) {
  // Direct rooms have no name: their title is the other person.
  if (item.peer) state.peers.set(item.id, item.peer);
  const existing = state.rooms.get(item.id);
  if (!existing) {
    state.rooms.set(item.id, { ...item });
    invalidate("rooms", "header");
    return state.rooms.get(item.id);
  }
  const { seq, unread_count, last_read_seq, last_message, last_message_at, ...rest } = item;
  Object.assign(existing, rest);
  if (seq === existing.seq) {
    Object.assign(existing, { unread_count, last_message, last_message_at });
    existing.last_read_seq = Math.max(existing.last_read_seq || 0, last_read_seq || 0);
  } else if (seq > existing.seq && attempt < 3) {
    refreshRoom(item.id, attempt + 1, 400);
  }
  invalidate("rooms", "header", "composer");
  return existing;
}

function refreshRoom(id, attempt = 0, wait = 250) {
  clearTimeout(refreshTimers.get(id));
  refreshTimers.set(
    id,
    setTimeout(async () => {
      refreshTimers.delete(id);
      if (!state.rooms.has(id)) return;
      try {
        mergeRoomItem(await get(`rooms/${id}/`), attempt);
      } catch (error) {
        if (error.status === 404) removeRoom(id, {});
      }
    }, wait),
  );
}

async function fetchRoom(id) {
  try {
    const item = await get(`rooms/${id}/`);
    if (!state.rooms.has(id)) mergeRoomItem(item);
  } catch (error) {
    if (error.status !== 404) showError(error);
  }
}

function removeRoom(id, { reason = "", quiet = false } = {}) {
  const room = state.rooms.get(id);
  if (!room) return;
  state.rooms.delete(id);
  state.loaded.delete(id);
  if (!quiet) {
    const why = { banned: "You were banned from", removed: "You were removed from", left: "You left", left_company: "You left the company of" }[reason];
    toast(`${why || "You are no longer in"} ${roomTitle(room)}.`);
  }
  if (state.currentId === id) window.location.hash = "";
  invalidate("rooms");
}

function renderRooms() {
  const list = $("#room-list");
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.roomId : null;
  const rooms = sortedRooms().filter((room) => !state.filter || room.room_type === state.filter);
  list.replaceChildren(...rooms.map(roomItem));
  $("#room-list-empty").hidden = rooms.length > 0;
  if (focused) {
    const again = list.querySelector(`[data-room-id="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
  const total = [...state.rooms.values()].reduce((sum, room) => sum + (room.id === state.currentId ? 0 : room.unread_count || 0), 0);
  const current = state.rooms.get(state.currentId);
  document.title = `${total ? `(${total}) ` : ""}${current ? `${roomTitle(current)} · ` : ""}chatsite`;
}

function lastMessageText(room) {
  const last = room.last_message;
  if (!last) return room.description || "No messages yet";
  const body = last.content || (last.attachment ? `📎 ${last.attachment.name}` : "");
  if (last.message_type === "system" || !last.sender) return body;
  const who = last.sender.id === state.me.id ? "You" : displayName(last.sender);
  return `${who}: ${body}`;
}

function roomItem(room) {
  const title = roomTitle(room);
  const current = room.id === state.currentId;
  const unread = current ? 0 : room.unread_count || 0;
  const peer = room.room_type === "direct" ? state.peers.get(room.id) : null;
  const status = peer ? state.presence.get(peer.id) : null;
  const avatar = h("span", { class: "avatar", "aria-hidden": "true", text: initials(title) });
  if (status) avatar.append(h("span", { class: `presence-dot ${status}` }));
  const button = h(
    "button",
    {
      type: "button",
      class: `room-item${unread ? " unread" : ""}`,
      "aria-current": current ? "page" : null,
      dataset: { roomId: room.id, type: room.room_type },
      onclick: () => {
        window.location.hash = `#room/${room.id}`;
      },
    },
    avatar,
    h("span", { class: "room-name", text: title }),
    h("span", { class: "room-time", text: shortTime(room.last_message_at) }),
    h("span", { class: "room-last", text: lastMessageText(room) }),
    unread
      ? h("span", { class: "badge", dataset: { unread } }, String(unread), h("span", { class: "visually-hidden", text: " unread" }))
      : h("span"),
  );
  if (peer && status) button.append(h("span", { class: "visually-hidden", text: ` (${status})` }));
  return h("li", {}, button);
}

// --- opening a room ------------------------------------------------------------
function route() {
  const match = window.location.hash.match(/^#room\/([0-9a-f-]{36})$/i);
  if (match && state.rooms.has(match[1])) openRoom(match[1]);
  else {
    if (match && state.rooms.size) toast("That room is not available.");
    closeRoom();
  }
}

function closeRoom() {
  stopTyping();
  state.currentId = null;
  layout.classList.remove("room-open", "with-details");
  $("#room-panel").hidden = true;
  $("#no-room").hidden = false;
  $("#details-panel").hidden = true;
  messageList.replaceChildren();
  delete messageList.dataset.room;
  elements.clear();
  invalidate("rooms");
}

function openRoom(id) {
  if (state.currentId === id) return;
  stopTyping();
  const previous = state.loaded.get(state.currentId);
  if (previous) previous.draft = input.value;
  state.currentId = id;
  const room = state.rooms.get(id);
  const rd = roomData(id);
  layout.classList.add("room-open");
  $("#room-panel").hidden = false;
  $("#no-room").hidden = true;
  closeSearch();
  clearAttachment();
  input.value = rd.draft || "";
  growInput();
  rd.firstUnreadSeq = room.unread_count > 0 ? room.last_read_seq || 0 : null;
  rd.scrollToBottom = true;
  messageList.replaceChildren();
  messageList.dataset.room = id;
  elements.clear();
  for (const messageId of rd.order) rd.dirty.add(messageId);
  if (!rd.ready) loadInitial(rd);
  if (!rd.members) loadMembers(rd);
  panels.resetDetails();
  invalidate("rooms", "header", "messages", "composer", "typing", "details");
  if (!narrow.matches) input.focus({ preventScroll: true });
  else $("#main").focus({ preventScroll: true });
}

async function loadInitial(rd) {
  if (rd.loadingInitial) return;
  rd.loadingInitial = true;
  try {
    const page = await get(`rooms/${rd.id}/messages/${query({ limit: 50 })}`);
    rd.hasOlder = page.length === 50 && page[0].seq > 1;
    rd.ready = true;
    rd.merge(page);
    rd.scrollToBottom = true;
    invalidate("messages");
    markReadSoon();
  } catch (error) {
    showError(error, "Could not load the messages: ");
  } finally {
    rd.loadingInitial = false;
  }
}

async function loadOlder(rd) {
  if (!rd.ready || rd.loadingOlder || !rd.hasOlder || rd.oldestSeq === null) return;
  rd.loadingOlder = true;
  $("#load-older").disabled = true;
  messageList.setAttribute("aria-busy", "true");
  try {
    const page = await get(`rooms/${rd.id}/messages/${query({ before: rd.oldestSeq, limit: 50 })}`);
    rd.hasOlder = page.length === 50 && page[0].seq > 1;
    rd.loadingOlder = false;
    rd.prepending = true;
    rd.merge(page);
    invalidate("messages");
  } catch (error) {
    showError(error, "Could not load older messages: ");
  } finally {
    rd.loadingOlder = false;
    $("#load-older").disabled = false;
    invalidate("messages");
  }
}

async function loadMembers(rd) {
  try {
    const members = await get(`rooms/${rd.id}/members/`);
    rd.members = new Map(members.map((m) => [m.user.id, m]));
    const room = state.rooms.get(rd.id);
    if (room) room.member_count = members.length;
    invalidate("seen", "details", "header", "composer");
  } catch (error) {
    if (error.status !== 404) showError(error, "Could not load the members: ");
    return;
  }
  loadPresence(rd.id);
}

// Who was already online before this page connected; live `presence` frames
// keep it current from then on.
async function loadPresence(id) {
  try {
    for (const { user_id: userId, status } of await get(`rooms/${id}/presence/`)) {
      if (userId === state.me.id) continue;
      if (status === "offline") state.presence.delete(userId);
      else state.presence.set(userId, status);
    }
    invalidate("rooms", "header", "details");
  } catch (error) {
    // Presence is a nicety: without Redis for a moment the dots just stay as they are.
  }
}

// --- rendering the open room ---------------------------------------------------
function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function renderHeader() {
  const room = state.rooms.get(state.currentId);
  if (!room) return;
  $("#room-name").textContent = roomTitle(room);
  const rd = state.loaded.get(room.id);
  const parts = [];
  if (!room.is_active) parts.push("Closed");
  if (room.room_type === "direct") {
    const peer = state.peers.get(room.id);
    const status = peer ? state.presence.get(peer.id) : null;
    if (status) parts.push(status === "away" ? "Away" : "Online");
  } else {
    const count = rd && rd.members ? rd.members.size : room.member_count;
    if (count) parts.push(`${count} member${count === 1 ? "" : "s"}`);
    if (rd && rd.members) {
      const online = [...rd.members.keys()].filter((id) => id === state.me.id || state.presence.has(id)).length;
      parts.push(`${online} online`);
    }
  }
  $("#room-status").textContent = parts.join(" · ");
  $("#details-toggle").textContent = room.room_type === "direct" ? "Details" : "Members";
}

function messageContext(rd, room) {
  return { rd, room, actions };
}

function renderMessages() {
  const id = state.currentId;
  const rd = state.loaded.get(id);
  const room = state.rooms.get(id);
  if (!rd || !room) return;
  if (messageList.dataset.room !== id) {
    messageList.replaceChildren();
    messageList.dataset.room = id;
    elements.clear();
  }
  const wasNearBottom = nearBottom();
  const before = { height: scroller.scrollHeight, top: scroller.scrollTop };
  const focus = rememberFocus();
  const ctx = messageContext(rd, room);
  const desired = [];
  let dividerPlaced = false;
  const wanted = new Set();
  for (const messageId of rd.order) {
    const message = rd.messages.get(messageId);
    let el = elements.get(messageId);
    if (!el || rd.dirty.has(messageId)) {
      const fresh = renderMessage(message, ctx);
      if (el) el.replaceWith(fresh);
      el = fresh;
      elements.set(messageId, el);
    }
    if (
      !dividerPlaced &&
      rd.firstUnreadSeq !== null &&
      message.seq > rd.firstUnreadSeq &&
      message.message_type !== "system" &&
      (!message.sender || message.sender.id !== state.me.id)
    ) {
      let divider = elements.get("divider");
      if (!divider) {
        divider = h("li", { class: "unread-divider", role: "separator", text: "New messages" });
        elements.set("divider", divider);
      }
      desired.push(divider);
      wanted.add("divider");
      dividerPlaced = true;
    }
    desired.push(el);
    wanted.add(messageId);
  }
  for (const pending of rd.pending.values()) {
    const key = `pending:${pending.client_msg_id}`;
    let el = elements.get(key);
    if (!el || pending.dirty) {
      const fresh = renderMessage(pending, { ...ctx, pending });
      if (el) el.replaceWith(fresh);
      el = fresh;
      elements.set(key, el);
      pending.dirty = false;
    }
    desired.push(el);
    wanted.add(key);
  }
  rd.dirty.clear();
  let cursor = messageList.firstChild;
  for (const el of desired) {
    if (el === cursor) cursor = cursor.nextSibling;
    else messageList.insertBefore(el, cursor);
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
  for (const key of [...elements.keys()]) if (!wanted.has(key)) elements.delete(key);

  $("#load-older").hidden = !rd.ready || !rd.hasOlder;
  messageList.removeAttribute("aria-busy");
  updateRoving();
  renderSeen();
  if (rd.scrollToBottom || (wasNearBottom && !rd.prepending)) {
    scroller.scrollTop = scroller.scrollHeight;
    rd.scrollToBottom = false;
    stuckToBottom = true;
    $("#jump-bottom").hidden = true;
  } else if (rd.prepending) {
    scroller.scrollTop = before.top + (scroller.scrollHeight - before.height);
  } else if (scroller.scrollHeight > before.height) {
    $("#jump-bottom").hidden = false;
  }
  rd.prepending = false;
  restoreFocus(focus);
}

// Keyboard: one message is in the tab order (the last one, or the one last
// focused); arrow keys, Home and End move between messages, Tab reaches the
// focused message's actions.
let rovingId = null;
function messageItems() {
  return [...messageList.querySelectorAll(":scope > .msg")];
}

function updateRoving() {
  const items = messageItems();
  const chosen = items.find((el) => el.id === rovingId) || items[items.length - 1];
  for (const el of items) el.tabIndex = el === chosen ? 0 : -1;
}

function moveFocus(event) {
  const item = event.target.closest(".msg");
  if (!item || item !== event.target) {
    if (event.key === "Escape" && item) {
      const rd = state.loaded.get(state.currentId);
      if (rd && rd.reactingId) {
        const id = rd.reactingId;
        rd.reactingId = null;
        rd.dirty.add(id);
        pendingFocus = `#m-${CSS.escape(id)}`;
        invalidate("messages");
      }
    }
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
  if (!active || !messageList.contains(active)) return null;
  const item = active.closest(".msg");
  return item ? { id: item.id, tag: active.tagName, label: active.getAttribute("aria-label"), text: active.textContent } : null;
}

function restoreFocus(focus) {
  const hint = pendingFocus;
  pendingFocus = null;
  if (hint) {
    const target = document.querySelector(hint);
    if (target) {
      target.focus({ preventScroll: true });
      if (target.tagName === "TEXTAREA") target.setSelectionRange(target.value.length, target.value.length);
      return;
    }
  }
  if (!focus || messageList.contains(document.activeElement)) return;
  const item = document.getElementById(focus.id);
  if (!item) return;
  const candidates = [...item.querySelectorAll(focus.tag)];
  const match =
    candidates.find((el) => focus.label && el.getAttribute("aria-label") === focus.label) ||
    candidates.find((el) => el.textContent === focus.text);
  (match || item).focus({ preventScroll: true });
}
let pendingFocus = null;

// "Seen by": each other member under the last message their read position covers.
function renderSeen() {
  const rd = state.loaded.get(state.currentId);
  if (!rd) return;
  for (const el of messageList.querySelectorAll(".msg-seen")) {
    el.hidden = true;
    el.textContent = "";
  }
  if (!rd.members || !rd.order.length) return;
  const seqs = rd.order.map((id) => rd.messages.get(id).seq);
  const readers = new Map();
  for (const member of rd.members.values()) {
    if (member.user.id === state.me.id || !member.last_read_seq) continue;
    let low = 0;
    let high = seqs.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (seqs[mid] <= member.last_read_seq) low = mid + 1;
      else high = mid;
    }
    // Under the last message they have read that is not theirs (nor a system line, nor deleted).
    let index = low - 1;
    while (index >= 0) {
      const message = rd.messages.get(rd.order[index]);
      const theirs = message.sender && message.sender.id === member.user.id;
      if (message.message_type !== "system" && !message.is_deleted && !theirs) break;
      index -= 1;
    }
    if (index < 0) continue;
    const messageId = rd.order[index];
    if (!readers.has(messageId)) readers.set(messageId, []);
    readers.get(messageId).push(displayName(member.user));
  }
  for (const [messageId, names] of readers) {
    const el = elements.get(messageId);
    const seen = el && el.querySelector(".msg-seen");
    if (!seen) continue;
    const shown = names.length > 4 ? `${names.slice(0, 3).join(", ")} and ${names.length - 3} others` : names.join(", ");
    seen.textContent = `Seen by ${shown}`;
    seen.hidden = false;
  }
}

function renderTyping() {
  const rd = state.loaded.get(state.currentId);
  const names = rd ? [...rd.typing.values()].map((t) => displayName(t.user)) : [];
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = "Several people are typing…";
  $("#typing").textContent = text;
}

function myMember(rd) {
  return rd && rd.members ? rd.members.get(state.me.id) : null;
}

function renderComposer() {
  const room = state.rooms.get(state.currentId);
  const rd = state.loaded.get(state.currentId);
  if (!room || !rd) return;
  const note = $("#composer-note");
  const me = myMember(rd);
  const mutedUntil = me && me.muted_until && Date.parse(me.muted_until) > Date.now() ? me.muted_until : null;
  let text = "";
  if (!room.is_active) text = "This room is closed: nothing new can be posted.";
  else if (mutedUntil) text = `You are muted in this room until ${new Date(mutedUntil).toLocaleString()}.`;
  else if (room.my_role === "guest") text = "";
  note.textContent = text;
  note.hidden = !text;
  const disabled = !room.is_active;
  input.disabled = disabled;
  $("#send").disabled = disabled;
  $("#attach").disabled = disabled;
  const reply = rd.replyTo;
  $("#reply-bar").hidden = !reply;
  if (reply) {
    const preview = reply.content || (reply.attachment ? reply.attachment.name : "");
    $("#reply-text").textContent = `Replying to ${displayName(reply.sender)}: ${preview}`;
  }
  const counter = input.value.length;
  const max = config.max_message_length;
  $("#composer-hint").textContent =
    counter > max * 0.9 ? `${counter} / ${max} characters` : "Enter sends · Shift+Enter adds a line";
}

registerRenderer("rooms", renderRooms);
registerRenderer("header", renderHeader);
registerRenderer("messages", renderMessages);
registerRenderer("seen", renderSeen);
registerRenderer("typing", renderTyping);
registerRenderer("composer", renderComposer);
registerRenderer("details", () => panels.renderDetails(app));

// --- reading -------------------------------------------------------------------
let readTimer = null;
function markReadSoon() {
  if (readTimer) return;
  readTimer = setTimeout(() => {
    readTimer = null;
    markRead();
  }, 200);
}

async function markRead() {
  const room = state.rooms.get(state.currentId);
  const rd = state.loaded.get(state.currentId);
  if (!room || !rd || !rd.ready || document.visibilityState !== "visible" || !nearBottom()) return;
  if (room.seq <= (room.last_read_seq || 0) && !room.unread_count) return;
  if (readInFlight.has(room.id)) {
    markReadSoon();
    return;
  }
  readInFlight.add(room.id);
  const seq = room.seq;
  try {
    const result = socket && socket.live
      ? await socket.request({ type: "read", room: room.id, seq })
      : await post(`rooms/${room.id}/read/`, { seq });
    room.last_read_seq = Math.max(room.last_read_seq || 0, result.last_read_seq);
    room.unread_count = room.seq === seq ? result.unread_count : room.unread_count;
    const me = myMember(rd);
    if (me) me.last_read_seq = Math.max(me.last_read_seq, result.last_read_seq);
    invalidate("rooms");
  } catch (error) {
    if (!["offline", "disconnected", "timeout"].includes(error.code)) console.warn("read failed", error);
  } finally {
    readInFlight.delete(room.id);
  }
  if (room.seq > seq) markReadSoon();
}

// --- sending -------------------------------------------------------------------
function perform(frame, rest) {
  return socket && socket.live ? socket.request(frame) : rest();
}

function acceptMessage(message) {
  const rd = state.loaded.get(message.room);
  if (rd) rd.upsert(message);
  const room = state.rooms.get(message.room);
  if (room && (!room.last_message || message.seq >= room.last_message.seq) && !message.is_deleted) {
    room.last_message = message;
    room.last_message_at = message.created_at;
  }
  invalidate("messages", "rooms");
}

function pendingChanged(pending) {
  pending.dirty = true;
  invalidate("messages");
}

async function deliver(pending) {
  const rd = roomData(pending.room);
  try {
    if (pending.file && !pending.attachment) {
      pending.status = "uploading";
      pendingChanged(pending);
      const form = new FormData();
      form.append("file", pending.file, pending.file.name);
      form.append("room", pending.room);
      pending.attachment = await api("POST", "attachments/", form);
    }
    if (!socket.live) {
      pending.status = "queued";
      pendingChanged(pending);
      return;
    }
    pending.status = "sending";
    pendingChanged(pending);
    const result = await socket.request({
      type: "message.send",
      room: pending.room,
      content: pending.content,
      client_msg_id: pending.client_msg_id,
      reply_to: pending.reply_to ? pending.reply_to.id : null,
      attachment_id: pending.attachment ? pending.attachment.id : null,
    });
    acceptMessage(result.message);
  } catch (error) {
    if (!rd.pending.has(pending.client_msg_id)) return;
    if (["offline", "disconnected", "timeout"].includes(error.code)) {
      // Sent again after the next hello (or soon, if the socket stayed up):
      // the same client_msg_id never makes a second message.
      pending.status = "queued";
      if (error.code === "timeout") setTimeout(() => socket.live && flushQueued(), 3000);
    } else {
      pending.status = "failed";
      pending.error = describeError(error);
      showError(error, "Message not sent: ");
    }
    pendingChanged(pending);
  }
}

async function flushQueued() {
  for (const rd of state.loaded.values()) {
    for (const pending of [...rd.pending.values()]) {
      if (pending.status === "queued") await deliver(pending);
    }
  }
}

function sendFromComposer() {
  const room = state.rooms.get(state.currentId);
  const rd = state.loaded.get(state.currentId);
  if (!room || !rd) return;
  const content = input.value;
  if (!content.trim() && !chosenFile) return;
  const file = chosenFile;
  let attachmentPreview = null;
  if (file) {
    attachmentPreview = chosenPreviewUrl
      ? h("span", { class: "msg-image" }, h("img", { src: chosenPreviewUrl, alt: file.name }))
      : h("span", { class: "msg-file" }, h("span", { text: "📄" }), h("span", { text: file.name }), h("span", { class: "muted", text: `(${fileSize(file.size)})` }));
    chosenPreviewUrl = null; // now owned by the pending message
  }
  const pending = {
    client_msg_id: uuid4(),
    room: room.id,
    content,
    reply_to: rd.replyTo ? { id: rd.replyTo.id, sender: rd.replyTo.sender, content: rd.replyTo.content, is_deleted: false } : null,
    file,
    attachment: null,
    attachmentPreview,
    status: "sending",
    created_at: new Date().toISOString(),
    sender: state.me,
    message_type: "text",
    reactions: [],
    seq: null,
    id: null,
  };
  rd.pending.set(pending.client_msg_id, pending);
  rd.replyTo = null;
  rd.firstUnreadSeq = null;
  rd.scrollToBottom = true;
  input.value = "";
  rd.draft = "";
  growInput();
  clearAttachment();
  stopTyping();
  invalidate("messages", "composer");
  deliver(pending);
}

// --- message actions ------------------------------------------------------------
const actions = {
  reply(message) {
    const rd = state.loaded.get(message.room);
    rd.replyTo = message;
    invalidate("composer");
    input.focus();
  },
  toggleReactPicker(message) {
    const rd = state.loaded.get(message.room);
    const previous = rd.reactingId;
    rd.reactingId = previous === message.id ? null : message.id;
    if (previous) rd.dirty.add(previous);
    rd.dirty.add(message.id);
    if (rd.reactingId) pendingFocus = `#m-${CSS.escape(message.id)} .emoji-picker button`;
    invalidate("messages");
  },
  async react(message, emoji) {
    const rd = state.loaded.get(message.room);
    rd.reactingId = null;
    rd.dirty.add(message.id);
    invalidate("messages");
    const current = rd.messages.get(message.id) || message;
    const mine = (current.reactions || []).some((r) => r.reaction === emoji && r.user_ids.includes(state.me.id));
    if (!mine) await actions.toggleReaction(current, emoji, false);
  },
  async toggleReaction(message, emoji, reacted) {
    const type = reacted ? "reaction.remove" : "reaction.add";
    try {
      const result = await perform({ type, message_id: message.id, reaction: emoji }, () =>
        post(`messages/${message.id}/reactions/${reacted ? "remove/" : ""}`, { reaction: emoji }).then((reactions) => ({ reactions })),
      );
      const rd = state.loaded.get(message.room);
      const held = rd && rd.messages.get(message.id);
      if (held) {
        held.reactions = result.reactions.map(({ me: _me, ...rest }) => rest);
        rd.dirty.add(held.id);
        invalidate("messages");
      }
    } catch (error) {
      showError(error, "Reaction failed: ");
    }
  },
  forward(message) {
    panels.forwardDialog(app, message);
  },
  edit(message) {
    const rd = state.loaded.get(message.room);
    if (rd.editingId) rd.dirty.add(rd.editingId);
    rd.editingId = message.id;
    rd.editDraft = message.content || "";
    rd.dirty.add(message.id);
    pendingFocus = `#m-${CSS.escape(message.id)} .edit-form textarea`;
    invalidate("messages");
  },
  cancelEdit(message) {
    const rd = state.loaded.get(message.room);
    rd.editingId = null;
    rd.dirty.add(message.id);
    invalidate("messages");
    input.focus({ preventScroll: true });
  },
  async saveEdit(message, content) {
    if (content === message.content) {
      actions.cancelEdit(message);
      return;
    }
    try {
      const result = await perform({ type: "message.edit", message_id: message.id, content }, () =>
        api("PATCH", `messages/${message.id}/`, { content }).then((m) => ({ message: m })),
      );
      const rd = state.loaded.get(message.room);
      rd.editingId = null;
      acceptMessage(result.message);
      input.focus({ preventScroll: true });
    } catch (error) {
      showError(error, "Not saved: ");
    }
  },
  async remove(message) {
    const mine = message.sender && message.sender.id === state.me.id;
    const question = mine
      ? "Delete this message? Everyone in the room will see that a message was deleted."
      : `Delete this message from ${displayName(message.sender)}? Everyone in the room will see that it was deleted.`;
    if (!(await confirmDialog(question, "Delete", { danger: true }))) return;
    try {
      const result = await perform({ type: "message.delete", message_id: message.id }, () =>
        api("DELETE", `messages/${message.id}/`).then((m) => ({ message: m })),
      );
      acceptMessage(result.message);
    } catch (error) {
      showError(error, "Not deleted: ");
    }
  },
  retry(pending) {
    pending.status = "sending";
    pending.error = null;
    deliver(pending);
  },
  discard(pending) {
    const rd = state.loaded.get(pending.room);
    rd.pending.delete(pending.client_msg_id);
    invalidate("messages");
  },
  async jumpTo(messageId) {
    const rd = state.loaded.get(state.currentId);
    if (!rd) return;
    for (let tries = 0; !rd.messages.has(messageId) && rd.hasOlder && tries < 20; tries += 1) {
      await loadOlder(rd);
      renderMessages();
    }
    const el = document.getElementById(`m-${messageId}`);
    if (!el) {
      toast("That message is no longer in this room's history.");
      return;
    }
    el.setAttribute("tabindex", "-1");
    el.scrollIntoView({ block: "center" });
    el.focus({ preventScroll: true });
    el.classList.add("highlight");
    setTimeout(() => el.classList.remove("highlight"), 2500);
  },
};

// --- typing ---------------------------------------------------------------------
function noteTyping() {
  const id = state.currentId;
  if (!id || !socket || !socket.live) return;
  if (!input.value.trim()) {
    stopTyping();
    return;
  }
  const now = Date.now();
  if (typingRoom === id && now - typingSentAt < 3000) return;
  socket.send({ type: "typing", room: id, is_typing: true });
  typingRoom = id;
  typingSentAt = now;
}

function stopTyping() {
  if (!typingRoom) return;
  if (socket) socket.send({ type: "typing", room: typingRoom, is_typing: false });
  typingRoom = null;
  typingSentAt = 0;
}

function setTyping(rd, user, isTyping, seconds) {
  const known = rd.typing.get(user.id);
  if (known) clearTimeout(known.timer);
  if (isTyping) {
    const timer = setTimeout(() => {
      rd.typing.delete(user.id);
      invalidate("typing");
    }, (seconds || 6) * 1000);
    rd.typing.set(user.id, { user, timer });
  } else {
    rd.typing.delete(user.id);
  }
  invalidate("typing");
}

// --- socket events ----------------------------------------------------------------
const LOGGED = new Set([
  "message.created",
  "message.updated",
  "message.deleted",
  "reaction.added",
  "reaction.removed",
  "member.added",
  "member.updated",
  "member.removed",
  "room.updated",
]);

function onFrame(frame) {
  if (LOGGED.has(frame.type) && typeof frame.seq === "number") {
    roomEvent(frame);
    return;
  }
  switch (frame.type) {
    case "typing": {
      const rd = state.loaded.get(frame.room);
      if (!rd || !frame.user || frame.user.id === state.me.id) return;
      setTyping(rd, frame.user, frame.is_typing, frame.expires_in);
      if (frame.is_typing && !state.presence.has(frame.user.id)) {
        state.presence.set(frame.user.id, "online");
        invalidate("rooms", "header", "details");
      }
      return;
    }
    case "read":
      readEvent(frame);
      return;
    case "presence":
      if (!frame.user || frame.user.id === state.me.id) return;
      if (frame.status === "offline") state.presence.delete(frame.user.id);
      else state.presence.set(frame.user.id, frame.status);
      invalidate("rooms", "header", "details");
      return;
    case "resync_required":
      resync(frame.room, frame.seq);
      return;
    case "error":
      showError(frame);
      return;
    default:
  }
}

function roomEvent(frame) {
  const room = state.rooms.get(frame.room);
  if (!room) {
    if (frame.type === "member.added" && frame.member && frame.member.user.id === state.me.id) fetchRoom(frame.room);
    return;
  }
  if (frame.seq <= room.seq) return;
  if (frame.seq > room.seq + 1) {
    syncRoom(room.id);
    return;
  }
  room.seq = frame.seq;
  applyEvent(room, frame);
}

function syncRoom(id) {
  const room = state.rooms.get(id);
  if (!room || syncing.has(id) || !socket.live) return;
  syncing.add(id);
  socket
    .request({ type: "sync", rooms: { [id]: room.seq } }, { timeout: 30000 })
    .catch(() => {})
    .finally(() => syncing.delete(id));
}

function applyEvent(room, frame) {
  const rd = state.loaded.get(room.id);
  const current = room.id === state.currentId;
  switch (frame.type) {
    case "message.created": {
      const message = frame.message;
      const fromOther = !message.sender || message.sender.id !== state.me.id;
      if (!message.is_deleted) {
        room.last_message = message;
        room.last_message_at = message.created_at;
        if (fromOther) room.unread_count = (room.unread_count || 0) + 1;
      }
      if (rd) {
        rd.upsert(message);
        if (message.sender) setTyping(rd, message.sender, false);
      }
      if (current) markReadSoon();
      invalidate("rooms", "messages");
      break;
    }
    case "message.updated":
    case "message.deleted": {
      const message = frame.message;
      if (rd) rd.update(message);
      if (room.last_message && room.last_message.id === message.id) {
        if (message.is_deleted) refreshRoom(room.id);
        else room.last_message = message;
      }
      const fromOther = !message.sender || message.sender.id !== state.me.id;
      if (frame.type === "message.deleted" && fromOther && message.seq > (room.last_read_seq || 0)) refreshRoom(room.id);
      invalidate("rooms", "messages");
      break;
    }
    case "reaction.added":
    case "reaction.removed":
      if (rd) rd.react(frame);
      invalidate("messages");
      break;
    case "member.added":
    case "member.updated": {
      const member = frame.member;
      if (rd) rd.memberEvents += 1;
      if (rd && rd.members) {
        if (frame.type === "member.added" && !rd.members.has(member.user.id)) room.member_count = (room.member_count || 0) + 1;
        // A ban lifted from (or set on) someone who had left changes a member who is not in the room.
        if (member.is_active) rd.members.set(member.user.id, member);
        else rd.members.delete(member.user.id);
      } else if (frame.type === "member.added") {
        room.member_count = (room.member_count || 0) + 1;
      }
      if (member.user.id === state.me.id) {
        room.my_role = member.role;
        if (rd) for (const id of rd.order) rd.dirty.add(id);
      }
      invalidate("details", "header", "composer", "messages", "seen");
      break;
    }
    case "member.removed": {
      const member = frame.member;
      if (member.user.id === state.me.id) {
        removeRoom(room.id, { reason: frame.reason });
        return;
      }
      if (rd) rd.memberEvents += 1;
      if (rd && rd.members) rd.members.delete(member.user.id);
      room.member_count = Math.max(0, (room.member_count || 1) - 1);
      if (rd) setTyping(rd, member.user, false);
      invalidate("details", "header", "seen");
      break;
    }
    case "room.updated": {
      const { seq: _seq, ...data } = frame.room_data || {};
      Object.assign(room, data);
      if (rd) for (const id of rd.order) rd.dirty.add(id);
      invalidate("rooms", "header", "composer", "details", "messages");
      break;
    }
    default:
  }
}

function readEvent(frame) {
  const room = state.rooms.get(frame.room);
  if (!room) return;
  const rd = state.loaded.get(frame.room);
  const member = rd && rd.members ? rd.members.get(frame.user_id) : null;
  if (member) member.last_read_seq = Math.max(member.last_read_seq || 0, frame.seq);
  if (frame.user_id === state.me.id) {
    // Read in another window of mine.
    room.last_read_seq = Math.max(room.last_read_seq || 0, frame.seq);
    if (frame.seq >= room.seq) room.unread_count = 0;
    else refreshRoom(room.id);
    invalidate("rooms");
  }
  invalidate("seen");
}

async function resync(id, seq) {
  const room = state.rooms.get(id);
  if (!room) return;
  // The log no longer reaches back to what we hold: start this room over from REST.
  room.seq = Math.max(room.seq, seq);
  const old = state.loaded.get(id);
  if (old) {
    state.loaded.delete(id);
    const fresh = roomData(id);
    fresh.pending = old.pending;
    fresh.draft = old.draft;
    if (state.currentId === id) {
      messageList.replaceChildren();
      elements.clear();
      loadInitial(fresh);
      loadMembers(fresh);
    }
  }
  refreshRoom(id);
  invalidate("messages", "details");
}

async function onHello(frame) {
  const helloRooms = new Map(frame.rooms.map((room) => [room.id, room.seq]));
  for (const id of [...state.rooms.keys()]) if (!helloRooms.has(id)) removeRoom(id, { quiet: !everLive });
  const known = {};
  const unknown = [];
  for (const id of helloRooms.keys()) {
    if (state.rooms.has(id)) known[id] = state.rooms.get(id).seq;
    else unknown.push(id);
  }
  let result;
  try {
    result = await socket.request({ type: "sync", rooms: known }, { timeout: 30000 });
  } catch (error) {
    // Lost again (the next hello syncs), or refused: start over with backoff.
    if (!["offline", "disconnected"].includes(error.code)) socket.restart();
    return;
  }
  for (const [id, value] of Object.entries(result.rooms || {})) {
    if (value === "not_found") removeRoom(id, { quiet: true });
  }
  await Promise.all(unknown.map((id) => fetchRoom(id)));
  const reconnected = everLive;
  everLive = true;
  socket.markLive();
  if (reconnected) {
    try {
      await getPages("rooms/", { limit: 200 }, (page) => page.forEach((item) => mergeRoomItem(item)));
    } catch (_error) {
      // The counts stay as the events left them.
    }
  }
  if (document.visibilityState === "hidden") socket.send({ type: "presence", status: "away" });
  const rd = state.loaded.get(state.currentId);
  if (rd && !rd.ready) loadInitial(rd);
  markReadSoon();
  flushQueued();
}

// --- connection banner --------------------------------------------------------------
let bannerTimer = null;
function onStatus(status, info) {
  const banner = $("#connection-banner");
  const text = $("#connection-text");
  clearTimeout(bannerTimer);
  document.body.dataset.connection = status;
  if (status === "live") {
    banner.hidden = true;
    return;
  }
  if (status === "offline") {
    const seconds = Math.max(1, Math.round(info.retryIn / 1000));
    text.textContent = `${info.reason ? `${info.reason} ` : ""}Connection lost. Reconnecting in ${seconds} s…`;
    banner.hidden = false;
    return;
  }
  // connecting: only worth a word when it takes a while.
  if (everLive || !banner.hidden) {
    text.textContent = "Connection lost. Reconnecting…";
    banner.hidden = false;
  } else {
    bannerTimer = setTimeout(() => {
      text.textContent = "Connecting…";
      banner.hidden = false;
    }, 1500);
  }
}

async function onAuthLost() {
  // Logged out here or elsewhere: go on only if this session still works.
  try {
    await get("auth/me/");
    setTimeout(() => socket.reconnectNow(), 1000);
  } catch (_error) {
    // 401: the handler sends the page to the login form.
  }
}

// --- search ---------------------------------------------------------------------------
function closeSearch() {
  $("#search-panel").hidden = true;
  $("#search-toggle").setAttribute("aria-expanded", "false");
  $("#search-results").replaceChildren();
  $("#search-summary").textContent = "";
}

async function runSearch(event) {
  event.preventDefault();
  const q = $("#search-input").value.trim();
  const id = state.currentId;
  if (!q || !id) return;
  $("#search-summary").textContent = "Searching…";
  try {
    const results = await get(`search/${query({ q, room: id, limit: 50 })}`);
    if (state.currentId !== id) return;
    $("#search-summary").textContent = results.length ? `${results.length} message${results.length === 1 ? "" : "s"} found` : "No messages found.";
    $("#search-results").replaceChildren(
      ...results.map((message) =>
        h(
          "li",
          {},
          h(
            "button",
            { type: "button", onclick: () => actions.jumpTo(message.id) },
            h("span", { class: "result-meta", text: `${displayName(message.sender)} · ${shortTime(message.created_at)}` }),
            h("span", { class: "result-text", text: message.content || "" }),
          ),
        ),
      ),
    );
  } catch (error) {
    $("#search-summary").textContent = describeError(error);
  }
}

// --- attachments -------------------------------------------------------------------------
function clearAttachment() {
  if (chosenPreviewUrl) URL.revokeObjectURL(chosenPreviewUrl);
  chosenPreviewUrl = null;
  chosenFile = null;
  fileInput.value = "";
  $("#attachment-bar").hidden = true;
  $("#attachment-preview").hidden = true;
  $("#attachment-preview").removeAttribute("src");
}

function chooseFile() {
  const file = fileInput.files && fileInput.files[0];
  if (!file) return;
  if (file.size > config.max_attachment_bytes) {
    toast(`${file.name} is too large: files are limited to ${fileSize(config.max_attachment_bytes)}.`, { kind: "error" });
    fileInput.value = "";
    return;
  }
  clearAttachment();
  chosenFile = file;
  const preview = $("#attachment-preview");
  if (file.type.startsWith("image/")) {
    chosenPreviewUrl = URL.createObjectURL(file);
    preview.src = chosenPreviewUrl;
    preview.alt = `Preview of ${file.name}`;
    preview.hidden = false;
  }
  $("#attachment-text").textContent = `${file.name} (${fileSize(file.size)})`;
  $("#attachment-bar").hidden = false;
  input.focus();
}

// --- composer ------------------------------------------------------------------------------
function growInput() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight + 2, 180)}px`;
}

function editLastOwnMessage() {
  const rd = state.loaded.get(state.currentId);
  if (!rd) return false;
  for (let i = rd.order.length - 1; i >= 0; i -= 1) {
    const message = rd.messages.get(rd.order[i]);
    if (message.sender && message.sender.id === state.me.id && !message.is_deleted && message.content !== null && message.message_type !== "system") {
      actions.edit(message);
      return true;
    }
  }
  return false;
}

function wire() {
  $("#me-name").textContent = displayName(state.me);
  $("#room-filter").addEventListener("change", (event) => {
    state.filter = event.target.value;
    invalidate("rooms");
  });
  $("#new-chat").addEventListener("click", () => panels.newChatDialog(app));
  $("#back").addEventListener("click", (event) => {
    event.preventDefault();
    window.location.hash = "";
  });
  $("#composer").addEventListener("submit", (event) => {
    event.preventDefault();
    sendFromComposer();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendFromComposer();
    } else if (event.key === "ArrowUp" && !input.value && editLastOwnMessage()) {
      event.preventDefault();
    } else if (event.key === "Escape") {
      const rd = state.loaded.get(state.currentId);
      if (rd && rd.replyTo) {
        rd.replyTo = null;
        invalidate("composer");
      } else if (chosenFile) clearAttachment();
    }
  });
  input.addEventListener("input", () => {
    growInput();
    noteTyping();
    invalidate("composer");
  });
  $("#reply-cancel").addEventListener("click", () => {
    const rd = state.loaded.get(state.currentId);
    if (rd) rd.replyTo = null;
    invalidate("composer");
    input.focus();
  });
  $("#attach").addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", chooseFile);
  $("#attachment-cancel").addEventListener("click", () => {
    clearAttachment();
    input.focus();
  });
  // Paste or drop a file into the composer.
  input.addEventListener("paste", (event) => {
    const file = event.clipboardData && event.clipboardData.files[0];
    if (file) {
      const transfer = new DataTransfer();
      transfer.items.add(file);
      fileInput.files = transfer.files;
      chooseFile();
    }
  });
  scroller.addEventListener("scroll", () => {
    stuckToBottom = nearBottom();
    if (stuckToBottom) {
      $("#jump-bottom").hidden = true;
      markReadSoon();
    }
    const rd = state.loaded.get(state.currentId);
    if (rd && scroller.scrollTop < 150) loadOlder(rd);
  });
  messageList.addEventListener("keydown", moveFocus);
  messageList.addEventListener("focusin", (event) => {
    const item = event.target.closest(".msg");
    if (item && item.id !== rovingId) {
      rovingId = item.id;
      updateRoving();
    }
  });
  messageList.addEventListener(
    "load",
    (event) => {
      if (event.target.tagName === "IMG" && stuckToBottom) scroller.scrollTop = scroller.scrollHeight;
    },
    true,
  );
  $("#load-older").addEventListener("click", () => {
    const rd = state.loaded.get(state.currentId);
    if (rd) loadOlder(rd);
  });
  $("#jump-bottom").addEventListener("click", () => {
    scroller.scrollTop = scroller.scrollHeight;
    input.focus({ preventScroll: true });
  });
  $("#search-toggle").addEventListener("click", () => {
    const panel = $("#search-panel");
    if (panel.hidden) {
      panel.hidden = false;
      $("#search-toggle").setAttribute("aria-expanded", "true");
      $("#search-input").focus();
    } else {
      closeSearch();
    }
  });
  $("#search-close").addEventListener("click", () => {
    closeSearch();
    $("#search-toggle").focus();
  });
  $("#search-form").addEventListener("submit", runSearch);
  $("#details-toggle").addEventListener("click", () => panels.toggleDetails(app));
  $("#reconnect-now").addEventListener("click", () => socket.reconnectNow());
  $(".logout-form").addEventListener("submit", () => {
    stopTyping();
    socket.stop();
  });
  window.addEventListener("hashchange", route);
  let awayTimer = null;
  document.addEventListener("visibilitychange", () => {
    clearTimeout(awayTimer);
    if (document.visibilityState === "visible") {
      if (socket.awaySent) socket.send({ type: "presence", status: "online" });
      socket.awaySent = false;
      markReadSoon();
    } else {
      awayTimer = setTimeout(() => {
        socket.send({ type: "presence", status: "away" });
        socket.awaySent = true;
      }, 60000);
    }
  });
  narrow.addEventListener("change", () => invalidate("details"));
}

// What panels.js may use.
const app = {
  config,
  mergeRoomItem,
  removeRoom,
  loadMembers,
  openRoom: (id) => {
    window.location.hash = `#room/${id}`;
  },
  invalidate,
  get socket() {
    return socket;
  },
};

async function boot() {
  wire();
  try {
    await getPages("rooms/", { limit: 200 }, (page) => page.forEach((item) => mergeRoomItem(item)));
  } catch (error) {
    showError(error, "Could not load your rooms: ");
  }
  document.body.dataset.ready = "rooms";
  socket = new ChatSocket(config.urls.socket, {
    onHello,
    onFrame,
    onStatus,
    onAuthLost,
    // Refused handshakes: if the session is gone, the 401 handler goes to the login form.
    onRefused: () => get("auth/me/").catch(() => {}),
  });
  socket.connect();
  route();
  invalidate("rooms");
}

boot();

// For debugging in the console (and the browser tests): what the page holds.
window.chatState = state;
