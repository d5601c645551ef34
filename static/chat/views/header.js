// The open room's header (title, presence, member count) and who is typing.

import { $ } from "../dom.js";
import { displayName, presenceOf, roomTitle, state } from "../state.js";

const PEER_STATUS = { online: "Online", away: "Away", unknown: "Presence unknown" };

function roomStatus(room, rd) {
  const parts = [];
  if (!room.is_active) parts.push("Closed");
  if (room.room_type === "direct") {
    const peer = state.peers.get(room.id);
    const status = peer ? PEER_STATUS[presenceOf(state, peer.id)] : null;
    if (status) parts.push(status);
    return parts;
  }
  const count = rd && rd.members ? rd.members.size : room.member_count;
  if (count) parts.push(`${count} member${count === 1 ? "" : "s"}`);
  if (rd && rd.members && !state.presenceKnown) parts.push("presence unknown");
  else if (rd && rd.members) {
    const online = [...rd.members.keys()].filter((id) => presenceOf(state, id) !== "offline").length;
    parts.push(`${online} online`);
  }
  return parts;
}

export function renderHeader() {
  const room = state.rooms.get(state.currentId);
  if (!room) return;
  $("#room-name").textContent = roomTitle(room);
  $("#room-status").textContent = roomStatus(room, state.loaded.get(room.id)).join(" · ");
  $("#details-toggle").textContent = room.room_type === "direct" ? "Details" : "Members";
}

export function renderTyping() {
  const rd = state.loaded.get(state.currentId);
  const names = rd ? [...rd.typing.values()].map((t) => displayName(t.user)) : [];
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = "Several people are typing…";
  $("#typing").textContent = text;
}
