// Which room is open: the #room/<id> hash decides; opening one shows its
// panel, its draft and its messages (loaded when first opened).

import { $ } from "../dom.js";
import { roomData } from "../state.js";
import { toast } from "../ui.js";
import { resetDetails } from "./panels.js";

const ROOM_HASH = /^#room\/([0-9a-f-]{36})$/i;

export function createRoomView(app) {
  const { state } = app;
  const layout = $("#layout");
  const narrow = window.matchMedia("(max-width: 720px)");

  function showPanel(open) {
    $("#room-panel").hidden = !open;
    $("#no-room").hidden = open;
  }

  function close() {
    app.composer.stopTyping();
    state.currentId = null;
    layout.classList.remove("room-open", "with-details");
    showPanel(false);
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
    showPanel(true);
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
    const match = window.location.hash.match(ROOM_HASH);
    if (match && state.rooms.has(match[1])) open(match[1]);
    else {
      if (match && state.rooms.size) toast("That room is not available.");
      close();
    }
  }

  // The way to open a room from anywhere: through the hash, so Back works.
  function go(id) {
    window.location.hash = `#room/${id}`;
  }

  function wire() {
    $("#back").addEventListener("click", (event) => {
      event.preventDefault();
      window.location.hash = "";
    });
    window.addEventListener("hashchange", route);
    narrow.addEventListener("change", () => app.invalidate("details"));
  }

  return { route, go, wire };
}
