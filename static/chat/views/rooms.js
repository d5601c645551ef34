// The room list of the sidebar (unread and mention badges, muted rooms), and
// the total in the page title.

import { isMuted, roomBadges } from "../counts.js";
import { $, avatarOf, h, initials, shortTime } from "../dom.js";
import { displayName, presenceOf, roomTitle, sortedRooms, state } from "../state.js";

function lastMessageText(room) {
  const last = room.last_message;
  if (!last) return room.description || "No messages yet";
  const body = last.content || (last.attachment ? `📎 ${last.attachment.name}` : "");
  if (last.message_type === "system" || !last.sender) return body;
  const who = last.sender.id === state.me.id ? "You" : displayName(last.sender);
  return `${who}: ${body}`;
}

const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;

// The unread badge (not for a muted room), and the mention badge beside it. A
// direct room's messages all count as mentions: one badge, marked urgent.
function badges(room, { unread, mentions }) {
  const direct = room.room_type === "direct";
  const nodes = [];
  if (unread) {
    nodes.push(
      h("span", { class: `badge${mentions && direct ? " urgent" : ""}`, dataset: { unread } }, String(unread), h("span", { class: "visually-hidden", text: " unread" })),
    );
  }
  if (mentions && !(direct && unread)) {
    nodes.push(
      h(
        "span",
        { class: "mention-badge", dataset: { mentions }, title: plural(mentions, "mention") },
        h("span", { "aria-hidden": "true", text: `@${mentions}` }),
        h("span", { class: "visually-hidden", text: plural(mentions, "mention") }),
      ),
    );
  }
  return h("span", { class: "room-badges" }, nodes);
}

function roomItem(room) {
  const title = roomTitle(room);
  const current = room.id === state.currentId;
  const counts = roomBadges(room, { current });
  const unread = counts.unread;
  const muted = isMuted(room);
  const peer = room.room_type === "direct" ? state.peers.get(room.id) : null;
  // Offline shows nothing; unknown (the socket is down) a hollow dot, never the last one known.
  const status = peer ? presenceOf(state, peer.id) : null;
  const shown = status && status !== "offline" ? status : null;
  const avatar = peer ? avatarOf(peer, title) : h("span", { class: "avatar", "aria-hidden": "true", text: initials(title) });
  if (shown) avatar.append(h("span", { class: `presence-dot ${shown}` }));
  const button = h(
    "button",
    {
      type: "button",
      class: `room-item${unread || counts.mentions ? " unread" : ""}${muted ? " muted-room" : ""}`,
      "aria-current": current ? "page" : null,
      dataset: { roomId: room.id, type: room.room_type },
      onclick: () => {
        window.location.hash = `#room/${room.id}`;
      },
    },
    avatar,
    h(
      "span",
      { class: "room-name" },
      title,
      muted ? h("span", { class: "muted-tag", title: "Muted: no unread count, no notifications", "aria-hidden": "true", text: "Muted" }) : null,
      muted ? h("span", { class: "visually-hidden", text: " (muted)" }) : null,
    ),
    h("span", { class: "room-time", text: shortTime(room.last_message_at) }),
    h("span", { class: "room-last", text: lastMessageText(room) }),
    badges(room, counts),
  );
  if (shown) button.append(h("span", { class: "visually-hidden", text: ` (${shown === "unknown" ? "presence unknown" : shown})` }));
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
  // Muted rooms add their mentions only; the open room nothing.
  let total = 0;
  let mentions = 0;
  for (const room of state.rooms.values()) {
    const counts = roomBadges(room, { current: room.id === state.currentId });
    total += counts.total;
    mentions += room.mention_count || 0;
  }
  const count = $("#mentions-count");
  if (count) {
    count.hidden = !mentions;
    count.textContent = mentions ? `@${mentions}` : "";
    $("#mentions-toggle").setAttribute("aria-label", mentions ? `Mentions, ${plural(mentions, "unread mention")}` : "Mentions");
  }
  const current = state.rooms.get(state.currentId);
  document.title = `${total ? `(${total}) ` : ""}${current ? `${roomTitle(current)} · ` : ""}chatsite`;
}
