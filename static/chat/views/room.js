// Which room is open: the #room/<id> hash decides (#room/<id>/<message id>
// opens it at a message, #mentions shows the Mentions view); opening one
// shows its panel, its draft and its messages (loaded when first opened).

import { $ } from "../dom.js";
import { roomData } from "../state.js";
import { toast } from "../ui.js";
import { resetDetails } from "./panels.js";

const ROOM_HASH = /^#room\/([0-9a-f-]{36})(?:\/([0-9a-f-]{36}))?$/i;
const MENTIONS_HASH = "#mentions";
const READY_WAIT = 50;
const READY_TRIES = 200;

export function createRoomView(app) {
  const { state } = app;
  const layout = $("#layout");
  const narrow = window.matchMedia("(max-width: 720px)");

  // "room", "mentions" or "none" (the hint to pick a room).
  function showPanel(which) {
    $("#room-panel").hidden = which !== "room";
    $("#mentions-view").hidden = which !== "mentions";
    $("#no-room").hidden = which !== "none";
  }

  function close(which = "none") {
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
    app.composer.leaveRoom(state.loaded.get(state.currentId));
    state.currentId = id;
    const room = state.rooms.get(id);
    const rd = roomData(id);
    layout.classList.add("room-open");
    showPanel("room");
    app.mentionsView.hide();
    app.search.close();
    app.composer.enterRoom(rd);
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
  }

  function route() {
    if (window.location.hash === MENTIONS_HASH) {
      close("mentions");
      app.mentionsView.show();
      return;
    }
    app.mentionsView.hide();
    const match = window.location.hash.match(ROOM_HASH);
    if (match && state.rooms.has(match[1])) {
      open(match[1]);
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
