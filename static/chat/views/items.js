// One message in a list across rooms (Mentions, Saved, Search): its room, its
// sender, its time and its text, as one button that opens the room at it.

import { fullTime, h, linkified, messageTime } from "../dom.js";
import { displayName, roomTitle } from "../state.js";

// The name of a room a listed message is in: the room list's when it is
// there, else what the list's item says of it.
export function listedRoomName(state, room) {
  const known = state.rooms.get(room.id);
  if (known) return roomTitle(known);
  return room.name || (room.room_type === "direct" ? "Direct chat" : "Room");
}

// `room`: {id, name, room_type}; `extra`: a node after the text (a Remove
// button…); `body`: the text's nodes (marked search words), instead of the text.
export function messageItem(app, room, message, { extra = null, showRoom = true, body = null } = {}) {
  const text = message.content || (message.attachment ? `📎 ${message.attachment.name}` : "");
  const roomName = listedRoomName(app.state, room);
  const sender = displayName(message.sender);
  return h(
    "li",
    { class: "mention-item", dataset: { messageId: message.id, roomId: room.id } },
    h(
      "button",
      {
        type: "button",
        class: "mention-open",
        onclick: () => app.room.openMessage(room.id, message.id),
      },
      h(
        "span",
        { class: "mention-meta" },
        showRoom ? h("span", { class: "mention-room", text: roomName }) : null,
        h("span", { class: "mention-sender", text: sender }),
        h("time", { datetime: message.created_at, title: fullTime(message.created_at), text: messageTime(message.created_at) }),
      ),
      h("span", { class: "mention-text" }, body || linkified(text)),
    ),
    extra,
  );
}
