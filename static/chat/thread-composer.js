// The thread panel's composer: a reply with the `@` and `:` autocomplete, the
// emoji button and an attachment, like the room's composer, and "Also send to
// #room". A reply is a pending message of the room (the outbox sends and
// uploads it with its `thread`, as any other); typing notices carry the
// thread, so they show in the thread's panel only.

import { $, fileSize, h, uuid4 } from "./dom.js";
import { createPending } from "./outbox.js";
import { TYPING_REF } from "./socket.js";
import { roomTitle } from "./state.js";
import { toast } from "./ui.js";
import { createAutocomplete } from "./views/autocomplete.js";

const MAX_HEIGHT = 160;
const TYPING_EVERY = 3000;
const HINT = "Enter sends · Esc closes the thread";

export function createThreadComposer(app, { onEscape }) {
  const { state, config } = app;
  const input = $("#thread-input");
  const fileInput = $("#thread-file-input");
  const also = $("#thread-also");
  const chosen = { file: null, previewUrl: null };
  const typing = { thread: null, room: null, sentAt: 0 };
  const drafts = new Map(); // root id -> unsent text
  const autocomplete = createAutocomplete(app, input, {
    list: $("#thread-mention-list"),
    status: $("#thread-mention-status"),
    prefix: "thread-mention-option",
  });

  function focus(options) {
    input.focus(options);
  }

  function grow() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, MAX_HEIGHT)}px`;
  }

  // --- attachments -------------------------------------------------------------------
  function clearAttachment() {
    if (chosen.previewUrl) URL.revokeObjectURL(chosen.previewUrl);
    chosen.previewUrl = null;
    chosen.file = null;
    fileInput.value = "";
    $("#thread-attachment-bar").hidden = true;
    $("#thread-attachment-preview").hidden = true;
    $("#thread-attachment-preview").removeAttribute("src");
    $("#thread-keep-original-box").hidden = true;
    $("#thread-keep-original").checked = false;
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
    const preview = $("#thread-attachment-preview");
    if (file.type.startsWith("image/")) {
      chosen.previewUrl = URL.createObjectURL(file);
      preview.src = chosen.previewUrl;
      preview.alt = `Preview of ${file.name}`;
      preview.hidden = false;
      $("#thread-keep-original-box").hidden = false; // off by default: the metadata is stripped
    }
    $("#thread-attachment-text").textContent = `${file.name} (${fileSize(file.size)})`;
    $("#thread-attachment-bar").hidden = false;
    input.focus();
  }

  function takeAttachmentPreview(file) {
    if (!file) return null;
    const preview = chosen.previewUrl
      ? h("span", { class: "msg-image" }, h("img", { src: chosen.previewUrl, alt: file.name }))
      : h("span", { class: "msg-file" }, h("span", { text: "📄" }), h("span", { text: file.name }), h("span", { class: "muted", text: `(${fileSize(file.size)})` }));
    chosen.previewUrl = null;
    return preview;
  }

  // --- typing --------------------------------------------------------------------------
  function noteTyping() {
    const panel = state.thread;
    const socket = app.socket;
    if (!panel || !socket || !socket.live) return;
    if (!input.value.trim()) {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (typing.thread === panel.rootId && now - typing.sentAt < TYPING_EVERY) return;
    socket.send({ type: "typing", ref: TYPING_REF, room: panel.id, thread: panel.rootId, is_typing: true });
    Object.assign(typing, { thread: panel.rootId, room: panel.id, sentAt: now });
  }

  function stopTyping() {
    if (!typing.thread) return;
    if (app.socket) app.socket.send({ type: "typing", ref: TYPING_REF, room: typing.room, thread: typing.thread, is_typing: false });
    Object.assign(typing, { thread: null, room: null, sentAt: 0 });
  }

  // --- sending -------------------------------------------------------------------------
  function send() {
    const panel = state.thread;
    const room = panel && state.rooms.get(panel.id);
    if (!panel || !room || !state.loaded.get(room.id)) return;
    const content = autocomplete.expand(input.value);
    if (!content.trim() && !chosen.file) return;
    const file = chosen.file;
    const keepOriginal = Boolean(file) && $("#thread-keep-original").checked;
    const pending = createPending({
      clientMsgId: uuid4(),
      room: room.id,
      content,
      file,
      attachmentPreview: takeAttachmentPreview(file),
      sender: state.me,
      thread: panel.rootId,
      alsoInRoom: also.checked,
    });
    pending.keepOriginal = keepOriginal;
    panel.scrollToBottom = true;
    input.value = "";
    drafts.delete(panel.rootId);
    also.checked = false;
    autocomplete.close();
    grow();
    clearAttachment();
    stopTyping();
    app.invalidate("thread", "thread-composer");
    app.outbox.add(pending);
  }

  // --- switching threads ---------------------------------------------------------------
  function leave(panel) {
    stopTyping();
    autocomplete.close();
    app.emoji.close({ restore: false });
    if (panel && input.value) drafts.set(panel.rootId, input.value);
    else if (panel) drafts.delete(panel.rootId);
  }

  function enter(panel) {
    clearAttachment();
    also.checked = false;
    input.value = drafts.get(panel.rootId) || "";
    grow();
  }

  function render() {
    const panel = state.thread;
    const room = panel && state.rooms.get(panel.id);
    if (!room) return;
    const rd = state.loaded.get(room.id);
    const me = rd ? app.reading.myMember(rd) : null;
    const mutedUntil = me && me.muted_until && Date.parse(me.muted_until) > Date.now() ? me.muted_until : null;
    let text = "";
    if (!room.is_active) text = "This room is closed: nothing new can be posted.";
    else if (mutedUntil) text = `You are muted in this room until ${new Date(mutedUntil).toLocaleString()}.`;
    const note = $("#thread-note");
    note.textContent = text;
    note.hidden = !text;
    for (const el of [input, $("#thread-send"), $("#thread-attach"), $("#thread-emoji-button"), also]) el.disabled = !room.is_active;
    $("#thread-also-label").textContent = `Also send to ${room.name ? `#${room.name}` : roomTitle(room)}`;
    const counter = input.value.length;
    const max = config.max_message_length;
    $("#thread-hint").textContent = counter > max * 0.9 ? `${counter} / ${max} characters` : HINT;
  }

  function onKeydown(event) {
    if (autocomplete.onKeydown(event)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    } else if (event.key === "Escape") {
      event.preventDefault();
      if (chosen.file) clearAttachment();
      else onEscape();
    }
  }

  function onPaste(event) {
    const file = event.clipboardData && event.clipboardData.files[0];
    if (!file) return;
    const transfer = new DataTransfer();
    transfer.items.add(file);
    fileInput.files = transfer.files;
    chooseFile();
  }

  function wire() {
    $("#thread-composer").addEventListener("submit", (event) => {
      event.preventDefault();
      send();
    });
    input.addEventListener("keydown", onKeydown);
    autocomplete.wire();
    input.addEventListener("input", () => {
      grow();
      noteTyping();
      app.invalidate("thread-composer");
    });
    input.addEventListener("paste", onPaste);
    $("#thread-attach").addEventListener("click", () => fileInput.click());
    $("#thread-emoji-button").addEventListener("click", () => app.emoji.openFor(input, $("#thread-emoji-button"), "Insert an emoji in the reply"));
    fileInput.addEventListener("change", chooseFile);
    $("#thread-attachment-cancel").addEventListener("click", () => {
      clearAttachment();
      input.focus();
    });
  }

  return { focus, render, leave, enter, stopTyping, wire };
}
