// The composer: the text box, the reply and attachment bars, typing notices,
// the `@` and `:` autocomplete, the emoji button, and sending (handed to the
// outbox as a pending message).

import { api } from "./api.js";
import { $, fileSize, h, uuid4 } from "./dom.js";
import { Drafts } from "./drafts.js";
import { createPending } from "./outbox.js";
import { TYPING_REF } from "./socket.js";
import { displayName } from "./state.js";
import { toast } from "./ui.js";
import { createAutocomplete } from "./views/autocomplete.js";

const MAX_HEIGHT = 180;
const TYPING_EVERY = 3000;
const HINT = "Enter sends · Shift+Enter adds a line";

export function createComposer(app) {
  const { state, config } = app;
  const input = $("#message-input");
  const fileInput = $("#file-input");
  const chosen = { file: null, previewUrl: null }; // the attachment of the next send
  const typing = { room: null, sentAt: 0 }; // the room we last said we type in
  const autocomplete = createAutocomplete(app, input);
  const drafts = new Drafts(browserStorage(), state.me && state.me.id);
  let draftTimer = null;

  // What is typed is kept per room in this browser (a reload keeps it), a moment after the last key.
  function keepDraft() {
    clearTimeout(draftTimer);
    const roomId = state.currentId;
    draftTimer = setTimeout(() => drafts.set(roomId, input.value), 300);
  }

  function focus(options) {
    input.focus(options);
  }

  function grow() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, MAX_HEIGHT)}px`;
  }

  // --- attachments -----------------------------------------------------------------
  function clearAttachment() {
    if (chosen.previewUrl) URL.revokeObjectURL(chosen.previewUrl);
    chosen.previewUrl = null;
    chosen.file = null;
    fileInput.value = "";
    $("#attachment-bar").hidden = true;
    $("#attachment-preview").hidden = true;
    $("#attachment-preview").removeAttribute("src");
    $("#keep-original-box").hidden = true;
    $("#keep-original").checked = false;
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
    chosen.file = file;
    const preview = $("#attachment-preview");
    if (file.type.startsWith("image/")) {
      chosen.previewUrl = URL.createObjectURL(file);
      preview.src = chosen.previewUrl;
      preview.alt = `Preview of ${file.name}`;
      preview.hidden = false;
      $("#keep-original-box").hidden = false; // off by default: the metadata is stripped
    }
    $("#attachment-text").textContent = `${file.name} (${fileSize(file.size)})`;
    $("#attachment-bar").hidden = false;
    input.focus();
  }

  // What a pending send shows of its file until the server's copy replaces it.
  function takeAttachmentPreview(file) {
    if (!file) return null;
    const preview = chosen.previewUrl
      ? h("span", { class: "msg-image" }, h("img", { src: chosen.previewUrl, alt: file.name }))
      : h("span", { class: "msg-file" }, h("span", { text: "📄" }), h("span", { text: file.name }), h("span", { class: "muted", text: `(${fileSize(file.size)})` }));
    chosen.previewUrl = null; // now owned by the pending message
    return preview;
  }

  // --- typing ------------------------------------------------------------------------
  function noteTyping() {
    const id = state.currentId;
    const socket = app.socket;
    if (!id || !socket || !socket.live) return;
    if (!input.value.trim()) {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (typing.room === id && now - typing.sentAt < TYPING_EVERY) return;
    socket.send({ type: "typing", ref: TYPING_REF, room: id, is_typing: true });
    typing.room = id;
    typing.sentAt = now;
  }

  function stopTyping() {
    if (!typing.room) return;
    if (app.socket) app.socket.send({ type: "typing", ref: TYPING_REF, room: typing.room, is_typing: false });
    typing.room = null;
    typing.sentAt = 0;
  }

  // --- sending -----------------------------------------------------------------------
  function send() {
    const room = state.rooms.get(state.currentId);
    const rd = state.loaded.get(state.currentId);
    if (!room || !rd) return;
    const content = autocomplete.expand(input.value);
    if (!content.trim() && !chosen.file) return;
    const file = chosen.file;
    const keepOriginal = Boolean(file) && $("#keep-original").checked;
    const pending = createPending({
      clientMsgId: uuid4(),
      room: room.id,
      content,
      replyTo: rd.replyTo,
      file,
      attachmentPreview: takeAttachmentPreview(file),
      sender: state.me,
    });
    pending.keepOriginal = keepOriginal;
    rd.replyTo = null;
    rd.firstUnreadSeq = null;
    rd.scrollToBottom = true;
    input.value = "";
    rd.draft = "";
    clearTimeout(draftTimer);
    drafts.clear(room.id);
    autocomplete.close();
    grow();
    clearAttachment();
    stopTyping();
    app.invalidate("messages", "composer");
    app.outbox.add(pending);
  }

  function upload(pending) {
    const form = new FormData();
    form.append("file", pending.file, pending.file.name);
    form.append("room", pending.room);
    if (pending.keepOriginal) form.append("keep_original", "true");
    return api("POST", "attachments/", form);
  }

  function editLastOwnMessage() {
    const rd = state.loaded.get(state.currentId);
    if (!rd) return false;
    for (let i = rd.order.length - 1; i >= 0; i -= 1) {
      const message = rd.messages.get(rd.order[i]);
      if (message.sender && message.sender.id === state.me.id && !message.is_deleted && message.content !== null && message.message_type !== "system") {
        app.actions.edit(message);
        return true;
      }
    }
    return false;
  }

  // --- switching rooms -----------------------------------------------------------------
  // The page is going away (closed, reloaded): what was typed in the last moment is kept too.
  function keepDraftNow() {
    clearTimeout(draftTimer);
    if (state.currentId) drafts.set(state.currentId, input.value);
  }

  function forgetDrafts() {
    clearTimeout(draftTimer);
    drafts.clearAll();
  }

  function leaveRoom(rd) {
    stopTyping();
    if (rd) {
      rd.draft = input.value;
      clearTimeout(draftTimer);
      drafts.set(rd.id, input.value);
    }
  }

  function enterRoom(rd) {
    autocomplete.close();
    app.emoji.close({ restore: false });
    clearAttachment();
    if (rd.draft === undefined || rd.draft === null) rd.draft = drafts.get(rd.id);
    input.value = rd.draft || "";
    grow();
  }

  function render() {
    const room = state.rooms.get(state.currentId);
    const rd = state.loaded.get(state.currentId);
    if (!room || !rd) return;
    const note = $("#composer-note");
    const me = app.reading.myMember(rd);
    const mutedUntil = me && me.muted_until && Date.parse(me.muted_until) > Date.now() ? me.muted_until : null;
    const peer = room.room_type === "direct" ? state.peers.get(room.id) : null;
    const blockedPeer = Boolean(peer && state.blocked.has(peer.id));
    let text = "";
    if (!room.is_active) text = "This room is closed: nothing new can be posted.";
    else if (blockedPeer) text = `You blocked ${displayName(peer)}: unblock them in this chat's details to write here again.`;
    else if (mutedUntil) text = `You are muted in this room until ${new Date(mutedUntil).toLocaleString()}.`;
    note.textContent = text;
    note.hidden = !text;
    const disabled = !room.is_active || blockedPeer;
    input.disabled = disabled;
    $("#send").disabled = disabled;
    $("#attach").disabled = disabled;
    $("#emoji-button").disabled = disabled;
    const reply = rd.replyTo;
    $("#reply-bar").hidden = !reply;
    if (reply) {
      const preview = reply.content || (reply.attachment ? reply.attachment.name : "");
      $("#reply-text").textContent = `Replying to ${displayName(reply.sender)}: ${preview}`;
    }
    // Several sends failed (a long outage, a refusal): one button sends them all again, in order.
    const failed = [...rd.pending.values()].filter((pending) => !pending.thread && pending.status === "failed");
    $("#retry-all-bar").hidden = failed.length < 2;
    $("#retry-all-text").textContent = `${failed.length} messages were not sent.`;
    const counter = input.value.length;
    const max = config.max_message_length;
    $("#composer-hint").textContent = counter > max * 0.9 ? `${counter} / ${max} characters` : HINT;
  }

  function onKeydown(event) {
    if (autocomplete.onKeydown(event)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    } else if (event.key === "ArrowUp" && !input.value && editLastOwnMessage()) {
      event.preventDefault();
    } else if (event.key === "Escape") {
      const rd = state.loaded.get(state.currentId);
      if (rd && rd.replyTo) {
        rd.replyTo = null;
        app.invalidate("composer");
      } else if (chosen.file) clearAttachment();
    }
  }

  // Paste a file into the composer.
  function onPaste(event) {
    const file = event.clipboardData && event.clipboardData.files[0];
    if (!file) return;
    const transfer = new DataTransfer();
    transfer.items.add(file);
    fileInput.files = transfer.files;
    chooseFile();
  }

  function wire() {
    $("#composer").addEventListener("submit", (event) => {
      event.preventDefault();
      send();
    });
    input.addEventListener("keydown", onKeydown);
    autocomplete.wire();
    input.addEventListener("input", () => {
      grow();
      noteTyping();
      keepDraft();
      app.invalidate("composer");
    });
    input.addEventListener("paste", onPaste);
    window.addEventListener("pagehide", keepDraftNow);
    $("#retry-all").addEventListener("click", async () => {
      const rd = state.loaded.get(state.currentId);
      if (!rd) return;
      const failed = [...rd.pending.values()].filter((pending) => !pending.thread && pending.status === "failed");
      for (const pending of failed) pending.status = "queued";
      app.invalidate("composer", "messages");
      for (const pending of failed) await app.outbox.retry(pending);
      app.invalidate("composer");
    });
    $("#reply-cancel").addEventListener("click", () => {
      const rd = state.loaded.get(state.currentId);
      if (rd) rd.replyTo = null;
      app.invalidate("composer");
      input.focus();
    });
    $("#attach").addEventListener("click", () => fileInput.click());
    $("#emoji-button").addEventListener("click", () => app.emoji.openFor(input, $("#emoji-button")));
    fileInput.addEventListener("change", chooseFile);
    $("#attachment-cancel").addEventListener("click", () => {
      clearAttachment();
      input.focus();
    });
  }

  return { focus, render, upload, stopTyping, leaveRoom, enterRoom, forgetDrafts, wire };
}

function browserStorage() {
  try {
    return window.localStorage;
  } catch (_error) {
    return null;
  }
}
