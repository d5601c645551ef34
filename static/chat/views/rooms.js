// The room list of the sidebar, and the unread total in the page title.

import { $, h, initials, shortTime } from "../dom.js";
import { displayName, roomTitle, sortedRooms, state } from "../state.js";

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

export function renderRooms() {
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
