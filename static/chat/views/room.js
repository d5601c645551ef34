// Which room is open: the #room/<id> hash decides (#room/<id>/<message id>
// opens it at a message, or at a reply in its thread panel;
// #room/<id>/thread/<root id> opens the room with that thread beside it;
// #mentions, #threads, #saved and #search show those views); opening one shows its panel, its
// draft and its messages (loaded when first opened).

import { get } from "../api.js";
import { $ } from "../dom.js";
import { roomData } from "../state.js";
import { toast } from "../ui.js";
import { resetDetails } from "./panels.js";

const ROOM_HASH = /^#room\/([0-9a-f-]{36})(?:\/([0-9a-f-]{36})|\/thread\/([0-9a-f-]{36}))?$/i;
const MENTIONS_HASH = "#mentions";
const THREADS_HASH = "#threads";
const SAVED_HASH = "#saved";
const SEARCH_HASH = "#search";
const READY_WAIT = 50;
const READY_TRIES = 200;

export function createRoomView(app) {
  const { state } = app;
  const layout = $("#layout");
  const narrow = window.matchMedia("(max-width: 720px)");

  // "room", "mentions", "threads", "saved", "search" or "none" (the hint to pick a room).
  function showPanel(which) {
    $("#room-panel").hidden = which !== "room";
    $("#mentions-view").hidden = which !== "mentions";
    $("#threads-view").hidden = which !== "threads";
    $("#saved-view").hidden = which !== "saved";
    $("#search-view").hidden = which !== "search";
    $("#no-room").hidden = which !== "none";
  }

  function close(which = "none") {
    app.thread.close();
    app.composer.stopTyping();
    state.currentId = null;
    layout.classList.remove("room-open", "with-details");
    if (which !== "none") layout.classList.add("room-open");
    showPanel(which);
    $("#details-panel").hidden = true;
    app.messageList.clear();
    app.invalidate("rooms");
  }

  function open(id) {
    if (state.currentId === id) return;
    app.thread.close();
    app.composer.leaveRoom(state.loaded.get(state.currentId));
    state.currentId = id;
    const room = state.rooms.get(id);
    const rd = roomData(id);
    layout.classList.add("room-open");
    showPanel("room");
    app.mentionsView.hide();
    app.threadsView.hide();
    app.saved.hide();
    app.search.hide();
    app.search.close();
    app.composer.enterRoom(rd);
    app.pins.load(id);
    rd.firstUnreadSeq = room.unread_count > 0 ? room.last_read_seq || 0 : null;
    rd.scrollToBottom = true;
    app.messageList.clear(id);
    rd.redrawAll();
    if (!rd.ready) app.history.loadInitial(rd);
    if (!rd.members) app.history.loadMembers(rd);
    resetDetails();
    app.invalidate("rooms", "header", "messages", "composer", "typing", "details");
    if (!narrow.matches) app.composer.focus({ preventScroll: true });
    else $("#main").focus({ preventScroll: true });
    // A room already loaded is read once drawn at its end: when its messages
    // fit, no scroll event will say so (a first load marks it when it lands).
    if (rd.ready) app.reading.soon();
  }

  function route() {
    if (window.location.hash === MENTIONS_HASH) {
      close("mentions");
      app.mentionsView.show();
      return;
    }
    app.mentionsView.hide();
    if (window.location.hash === THREADS_HASH) {
      close("threads");
      app.threadsView.show();
      return;
    }
    app.threadsView.hide();
    if (window.location.hash === SAVED_HASH) {
      close("saved");
      app.saved.show();
      return;
    }
    app.saved.hide();
    if (window.location.hash === SEARCH_HASH) {
      close("search");
      app.search.show();
      return;
    }
    app.search.hide();
    const match = window.location.hash.match(ROOM_HASH);
    if (match && state.rooms.has(match[1])) {
      open(match[1]);
      if (match[3]) app.thread.show(match[1], match[3]);
      else app.thread.close();
      if (match[2]) {
        // Opened at a message (a notification, the Mentions view): the hash keeps only the room.
        window.history.replaceState(null, "", `#room/${match[1]}`);
        jumpWhenReady(match[1], match[2]);
      }
    } else {
      if (match && state.rooms.size) toast("That room is not available.");
      close();
    }
  }

  // Once the room's first page is there, its message is looked for and shown.
  async function jumpWhenReady(roomId, messageId) {
    for (let tries = 0; tries < READY_TRIES; tries += 1) {
      const rd = state.loaded.get(roomId);
      if (state.currentId !== roomId) return;
      if (rd && rd.ready) {
        app.messageList.render();
        // A reply that is not in the room's list: its thread opens at it.
        if (!rd.messages.has(messageId)) {
          const found = await get(`messages/${messageId}/`).catch(() => null);
          if (state.currentId !== roomId) return;
          if (found && found.thread && found.room === roomId) {
            app.thread.go(roomId, found.thread, { at: messageId });
            return;
          }
        }
        app.actions.jumpTo(messageId);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, READY_WAIT));
    }
  }

  // The way to open a room from anywhere: through the hash, so Back works.
  function go(id) {
    window.location.hash = `#room/${id}`;
  }

  function openMessage(roomId, messageId) {
    window.location.hash = messageId ? `#room/${roomId}/${messageId}` : `#room/${roomId}`;
  }

  function wire() {
    $("#back").addEventListener("click", (event) => {
      event.preventDefault();
      window.location.hash = "";
    });
    window.addEventListener("hashchange", route);
    narrow.addEventListener("change", () => app.invalidate("details"));
  }

  return { route, go, openMessage, wire };
}
