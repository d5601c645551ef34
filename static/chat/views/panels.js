// The room details panel (members, room admin tools, settings) and the dialogs
// (new chat, forward). Changes go through the REST API; what they cause comes
// back as room events over the socket, like anyone else's change.

import { del, get, patch, post, query } from "../api.js";
import { BLOCK_EFFECT } from "../blocking.js";
import { applyCounts, applyNotifySettings } from "../counts.js";
import { $, avatarOf, debounce, fullTime, h, uuid4 } from "../dom.js";
import { canModerate, displayName, presenceOf, roomData, roomTitle, sortedRooms, state } from "../state.js";
import { closeDialog, confirmDialog, openDialog, showError, toast } from "../ui.js";
import { exportControl } from "./exports.js";
import { renderInvites } from "./invites.js";

const ROLES = ["owner", "admin", "member", "guest"];
const MUTE_CHOICES = [
  [15, "15 minutes"],
  [60, "1 hour"],
  [480, "8 hours"],
  [1440, "1 day"],
  [10080, "1 week"],
];

// What the details panel shows now: the room it was built for, and what the
// banned list was loaded for (room, role and member events seen).
const built = { room: null, banned: null };

export function resetDetails() {
  built.room = null;
  built.banned = null;
}

export function toggleDetails(app) {
  const panel = $("#details-panel");
  const open = panel.hidden;
  // One panel beside the room at a time: the details replace an open thread.
  if (open && app.state.thread) {
    const roomId = app.state.thread.id;
    app.thread.close();
    window.location.hash = `#room/${roomId}`;
  }
  panel.hidden = !open;
  $("#layout").classList.toggle("with-details", open);
  $("#details-toggle").setAttribute("aria-expanded", String(open));
  built.room = null;
  if (open) {
    renderDetails(app);
    const heading = panel.querySelector("h2");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  } else {
    $("#details-toggle").focus();
  }
}

function closeDetails() {
  const panel = $("#details-panel");
  panel.hidden = true;
  $("#layout").classList.remove("with-details");
  $("#details-toggle").setAttribute("aria-expanded", "false");
  $("#details-toggle").focus();
}

export function renderDetails(app) {
  const panel = $("#details-panel");
  const room = state.rooms.get(state.currentId);
  if (!room) {
    panel.hidden = true;
    $("#layout").classList.remove("with-details");
    return;
  }
  if (panel.hidden) return;
  if (built.room !== room.id) {
    panel.replaceChildren(
      h(
        "div",
        { class: "panel-head" },
        h("h2", { text: room.room_type === "direct" ? "Details" : "Members and settings" }),
        h("button", { type: "button", class: "btn small", text: "Close", "aria-label": "Close the details panel", onclick: closeDetails }),
      ),
      h("section", { id: "pins-section", "aria-labelledby": "pins-heading" }, h("h2", { id: "pins-heading", text: "Pinned messages" }), h("ul", { id: "pin-list", class: "pin-list" })),
      h("section", { id: "settings-section", "aria-label": "Room settings" }),
      h("section", { id: "notify-section", "aria-labelledby": "notify-heading" }),
      h("section", { "aria-labelledby": "members-heading" }, h("h2", { id: "members-heading", text: "Members" }), h("div", { id: "add-member" }), h("ul", { id: "member-list", class: "member-list" })),
      h("section", { id: "invites-section", "aria-labelledby": "invites-heading" }),
      h("section", { id: "export-section", "aria-labelledby": "export-heading" }),
      h("section", { id: "banned-section", "aria-label": "Banned people" }),
      h("section", { id: "block-section", "aria-label": "Blocking" }),
      h("section", { id: "leave-section", "aria-label": "Leave or close" }),
    );
    built.room = room.id;
    built.banned = null;
    renderAddMember(app, room);
    renderInvites(app, room, $("#invites-section"));
    renderExport(room);
    renderLeave(app, room);
  }
  const bannedKey = `${room.id}:${canModerate(room)}:${roomData(room.id).memberEvents}`;
  if (built.banned !== bannedKey) {
    built.banned = bannedKey;
    renderBanned(room);
  }
  renderPins(app, room);
  renderBlock(app, room);
  renderSettings(app, room);
  renderNotifications(app, room);
  renderMembers(app, room);
}

// --- the room's export (owners and admins) -------------------------------------------
function renderExport(room) {
  const section = $("#export-section");
  if (!canModerate(room)) {
    section.replaceChildren();
    return;
  }
  section.replaceChildren(
    h("h2", { id: "export-heading", text: "Export" }),
    h("p", { class: "muted", text: "A ZIP of every message (edits, deleted ones as tombstones, reactions, threads) with a page to read it offline. Only you can download it, for 24 hours." }),
    exportControl({ path: `rooms/${room.id}/export/`, what: "this room", filesLabel: "Include attached files (up to 100 MB)", idPrefix: "room-export" }),
  );
}

// --- blocking the other person of a direct room ------------------------------------------
function renderBlock(app, room) {
  const section = $("#block-section");
  const peer = room.room_type === "direct" ? state.peers.get(room.id) : null;
  if (!peer) {
    section.replaceChildren();
    return;
  }
  const blocked = state.blocked.has(peer.id);
  const key = `${peer.id}:${blocked}`;
  if (section.dataset.key === key) return;
  section.dataset.key = key;
  section.replaceChildren(
    h("h2", { text: blocked ? `You blocked ${displayName(peer)}` : "Block" }),
    h("p", { class: "muted", text: blocked ? "Unblock to write to each other here again." : BLOCK_EFFECT }),
    h("button", {
      type: "button",
      class: blocked ? "btn small" : "btn small danger",
      text: blocked ? `Unblock ${displayName(peer)}` : `Block ${displayName(peer)}`,
      onclick: () => (blocked ? app.blocking.unblock(peer) : app.blocking.block(peer)),
    }),
  );
}

// --- pinned messages -----------------------------------------------------------------
function renderPins(app, room) {
  const rd = roomData(room.id);
  const list = $("#pin-list");
  if (!rd.pins) {
    list.replaceChildren(h("li", { class: "muted", text: "Loading…" }));
    return;
  }
  // The copy of the message we hold is the newest (edits, deletes); a deleted one is not listed.
  const shown = (pin) => rd.messages.get(pin.message_id) || pin.message;
  const pins = [...rd.pins.values()]
    .filter((pin) => !(shown(pin) && shown(pin).is_deleted))
    .sort((a, b) => Date.parse(b.pinned_at) - Date.parse(a.pinned_at));
  if (!pins.length) {
    list.replaceChildren(h("li", { class: "muted", text: room.room_type === "direct" ? "Nothing pinned. Pin a message from its actions." : "Nothing pinned. Owners and admins pin messages from their actions." }));
    return;
  }
  list.replaceChildren(
    ...pins.map((pin) => {
      const message = shown(pin);
      const text = message ? message.content || (message.attachment ? `📎 ${message.attachment.name}` : "") : "…";
      const author = message && message.sender ? displayName(message.sender) : "";
      return h(
        "li",
        { class: "pin-item" },
        h("button", {
          type: "button",
          class: "link pin-jump",
          onclick: () => app.actions.jumpTo(pin.message_id),
        }, h("span", { class: "visually-hidden", text: "Go to the pinned message: " }), h("span", { class: "pin-author", text: author }), h("span", { class: "pin-text", dir: "auto", text: text.slice(0, 140) })),
        h("span", { class: "muted pin-by", text: pin.pinned_by ? `pinned by ${displayName(pin.pinned_by)}` : "" }),
      );
    }),
  );
}

// --- my notifications of this room ----------------------------------------------
const PRESENCE_LABELS = { online: "online", away: "away", offline: "offline", unknown: "presence unknown" };
const LEVEL_LABELS = { all: "Every message", mentions: "Mentions only", nothing: "Nothing" };

async function saveNotifications(app, room, changes, field) {
  field.disabled = true;
  try {
    const result = await patch(`rooms/${room.id}/notifications/`, changes);
    applyNotifySettings(room, result);
    applyCounts(room, result);
    app.invalidate("rooms");
  } catch (error) {
    showError(error, "Not saved: ");
  } finally {
    field.disabled = false;
    renderNotifications(app, room, { force: true });
  }
}

function renderNotifications(app, room, { force = false } = {}) {
  const section = $("#notify-section");
  if (!section) return;
  if (!force && section.contains(document.activeElement) && document.activeElement.tagName === "SELECT") return;
  const fallback = room.room_type === "direct" ? "all" : "mentions";
  const isDefault = room.notify_level_is_default !== false;
  const level = isDefault ? "default" : room.notify_level || fallback;
  const hadFocus = section.contains(document.activeElement) ? document.activeElement.id : null;
  const select = h(
    "select",
    {
      id: "room-notify-level",
      onchange: (event) => saveNotifications(app, room, { level: event.target.value }, event.target),
    },
    h("option", { value: "default", selected: level === "default", text: `Default (${LEVEL_LABELS[fallback].toLowerCase()})` }),
    Object.entries(LEVEL_LABELS).map(([value, label]) => h("option", { value, selected: level === value, text: label })),
  );
  const muted = h("input", {
    type: "checkbox",
    id: "room-notify-muted",
    checked: Boolean(room.notifications_muted),
    onchange: (event) => saveNotifications(app, room, { muted: event.target.checked }, event.target),
  });
  section.replaceChildren(
    h("h2", { id: "notify-heading", text: "Notifications" }),
    h(
      "div",
      { class: "stack" },
      h("label", { for: "room-notify-level", text: "Notify me about" }),
      select,
      h("label", { class: "check" }, muted, "Mute this room"),
      h("p", { class: "muted hint", text: "A muted room shows no unread count and sends no notifications; mentions of you still count." }),
    ),
  );
  if (hadFocus) {
    const again = document.getElementById(hadFocus);
    if (again) again.focus();
  }
}

// --- settings ---------------------------------------------------------------
function renderSettings(app, room) {
  const section = $("#settings-section");
  const form = section.querySelector("form");
  if (form && (form.dataset.dirty === "1" || form.contains(document.activeElement))) return;
  if (room.room_type === "direct") {
    section.replaceChildren();
    return;
  }
  if (!canModerate(room)) {
    section.replaceChildren(
      h("h2", { text: roomTitle(room) }),
      room.description ? h("p", { text: room.description }) : h("p", { class: "muted", text: "No description." }),
      h("p", { class: "muted", text: `${room.room_type[0].toUpperCase()}${room.room_type.slice(1)} room${room.is_public ? " · public" : ""}${room.is_active ? "" : " · closed"}` }),
    );
    return;
  }
  const name = h("input", { type: "text", id: "room-setting-name", value: room.name, maxlength: 200, required: true });
  const description = h("textarea", { id: "room-setting-description", rows: 3, maxlength: 2000 });
  description.value = room.description || "";
  const isPublic = h("input", { type: "checkbox", id: "room-setting-public", checked: Boolean(room.is_public) });
  const save = h("button", { type: "submit", class: "btn small primary", text: "Save settings" });
  const settings = h(
    "form",
    {
      class: "stack",
      oninput: () => {
        settings.dataset.dirty = "1";
      },
      onsubmit: async (event) => {
        event.preventDefault();
        const body = { name: name.value, description: description.value };
        if (room.room_type === "group") body.is_public = isPublic.checked;
        save.disabled = true;
        try {
          app.rooms.merge(await patch(`rooms/${room.id}/`, body));
          delete settings.dataset.dirty;
          toast("Room settings saved.");
        } catch (error) {
          showError(error, "Not saved: ");
        } finally {
          save.disabled = false;
        }
      },
    },
    h("h2", { text: "Settings" }),
    h("label", { for: "room-setting-name", text: "Name" }),
    name,
    h("label", { for: "room-setting-description", text: "Description" }),
    description,
    room.room_type === "group" ? h("label", { class: "check" }, isPublic, "Public: anyone in the company can find and join it") : null,
    h("div", { class: "row" }, save),
  );
  section.replaceChildren(settings);
}

// --- members ----------------------------------------------------------------
function renderAddMember(app, room) {
  const box = $("#add-member");
  if (!canModerate(room) || room.room_type !== "group" || !room.is_active) {
    box.replaceChildren();
    return;
  }
  const results = h("ul", { class: "people-results", "aria-live": "polite" });
  const search = h("input", { type: "search", id: "add-member-search", placeholder: "Find people to add", autocomplete: "off", maxlength: 100 });
  const find = debounce(async () => {
    try {
      const people = await get(`users/${query({ q: search.value.trim() })}`);
      const members = roomData(room.id).members || new Map();
      const candidates = people.filter((person) => !members.has(person.id));
      results.replaceChildren(
        ...candidates.map((person) =>
          h(
            "li",
            {},
            h("span", { class: "person-name", text: `${displayName(person)} (@${person.username})` }),
            h("button", {
              type: "button",
              class: "btn small",
              text: "Add",
              "aria-label": `Add ${displayName(person)}`,
              onclick: async (event) => {
                event.target.disabled = true;
                try {
                  const member = await post(`rooms/${room.id}/members/`, { user_id: person.id });
                  const rd = roomData(room.id);
                  if (rd.members && !rd.members.has(member.user.id)) rd.members.set(member.user.id, member);
                  event.target.closest("li").remove();
                  toast(`${displayName(person)} was added.`);
                  app.invalidate("details", "header");
                } catch (error) {
                  event.target.disabled = false;
                  showError(error, "Not added: ");
                }
              },
            }),
          ),
        ),
      );
      if (!candidates.length) results.replaceChildren(h("li", { class: "muted", text: "Nobody found." }));
    } catch (error) {
      showError(error);
    }
  }, 250);
  search.addEventListener("input", find);
  box.replaceChildren(h("label", { for: "add-member-search", class: "visually-hidden", text: "Find people to add" }), search, results);
}

async function memberAction(app, room, member, request, done) {
  try {
    const result = await request();
    const rd = roomData(room.id);
    if (result && result.user && rd.members) {
      if (result.is_active) rd.members.set(result.user.id, result);
      else rd.members.delete(result.user.id);
    } else if (result === null && rd.members) {
      rd.members.delete(member.user.id);
    }
    if (done) toast(done);
    app.invalidate("details", "header", "composer");
  } catch (error) {
    showError(error);
  }
}

function memberControls(app, room, member) {
  const name = displayName(member.user);
  const base = `rooms/${room.id}/members/${member.user.id}/`;
  const controls = h("div", { class: "member-controls" });
  // Only the owner grants or takes admin and owner (the server checks it too).
  const roles = room.my_role === "owner" ? ROLES : ["member", "guest"];
  const roleSelect = h(
    "select",
    {
      "aria-label": `Role of ${name}`,
      onchange: (event) =>
        memberAction(app, room, member, () => patch(base, { role: event.target.value }), `${name} is now ${event.target.value}.`),
    },
    roles.map((role) => h("option", { value: role, selected: role === member.role, text: role[0].toUpperCase() + role.slice(1) })),
  );
  controls.append(roleSelect);
  const muted = member.muted_until && Date.parse(member.muted_until) > Date.now();
  if (muted) {
    controls.append(
      h("button", {
        type: "button",
        class: "btn small",
        text: "Unmute",
        "aria-label": `Unmute ${name}`,
        onclick: () => memberAction(app, room, member, () => post(`${base}unmute/`, {}), `${name} can write again.`),
      }),
    );
  } else {
    const duration = h(
      "select",
      { "aria-label": `How long to mute ${name}` },
      MUTE_CHOICES.map(([minutes, label]) => h("option", { value: minutes, text: label })),
    );
    controls.append(
      duration,
      h("button", {
        type: "button",
        class: "btn small",
        text: "Mute",
        "aria-label": `Mute ${name}`,
        onclick: () =>
          memberAction(app, room, member, () => post(`${base}mute/`, { minutes: Number(duration.value) }), `${name} is muted.`),
      }),
    );
  }
  controls.append(
    h("button", {
      type: "button",
      class: "btn small",
      text: "Remove",
      "aria-label": `Remove ${name}`,
      onclick: async () => {
        if (await confirmDialog(`Remove ${name} from ${roomTitle(room)}?`, "Remove", { danger: true }))
          memberAction(app, room, member, () => del(base), `${name} was removed.`);
      },
    }),
    h("button", {
      type: "button",
      class: "btn small danger",
      text: "Ban",
      "aria-label": `Ban ${name}`,
      onclick: async () => {
        if (await confirmDialog(`Ban ${name}? They are removed and cannot come back.`, "Ban", { danger: true }))
          memberAction(app, room, member, () => post(`${base}ban/`, {}), `${name} was banned.`);
      },
    }),
  );
  return controls;
}

// Owners act on everyone but owners, admins on members and guests.
function outranks(mine, theirs) {
  if (mine === "owner") return theirs !== "owner";
  if (mine === "admin") return theirs === "member" || theirs === "guest";
  return false;
}

function renderMembers(app, room) {
  const list = $("#member-list");
  if (!list) return;
  const rd = roomData(room.id);
  if (!rd.members) {
    list.replaceChildren(h("li", { class: "muted", text: "Loading…" }));
    return;
  }
  // Keep the focus on the control the person is using.
  const active = document.activeElement;
  const activeLabel = active && list.contains(active) ? active.getAttribute("aria-label") : null;
  const order = { owner: 0, admin: 1, member: 2, guest: 3 };
  const members = [...rd.members.values()].sort(
    (a, b) => order[a.role] - order[b.role] || displayName(a.user).localeCompare(displayName(b.user)),
  );
  const manage = canModerate(room) && room.room_type !== "direct" && room.is_active;
  list.replaceChildren(
    ...members.map((member) => {
      const me = member.user.id === state.me.id;
      const status = presenceOf(state, member.user.id);
      const muted = member.muted_until && Date.parse(member.muted_until) > Date.now();
      const item = h(
        "li",
        { class: "member", dataset: { userId: member.user.id } },
        h(
          "div",
          { class: "member-line" },
          h("span", { class: `presence-dot ${status}`, title: PRESENCE_LABELS[status], "aria-hidden": "true" }),
          avatarOf(member.user, displayName(member.user), { className: "avatar small", px: 28 }),
          h("span", { class: "member-name", text: `${displayName(member.user)}${me ? " (you)" : ""}` }),
          h("span", { class: "visually-hidden", text: `, ${PRESENCE_LABELS[status]}` }),
          h("span", { class: "member-role", text: member.role }),
        ),
        muted ? h("div", { class: "member-note", text: `Muted until ${fullTime(member.muted_until)}` }) : null,
      );
      if (manage && !me && outranks(room.my_role, member.role)) item.append(memberControls(app, room, member));
      return item;
    }),
  );
  if (activeLabel) {
    const again = [...list.querySelectorAll("[aria-label]")].find((el) => el.getAttribute("aria-label") === activeLabel);
    if (again) again.focus();
  }
}

// Owners and admins see who is banned, to lift a ban (the person can then be added again).
async function renderBanned(room) {
  const section = $("#banned-section");
  if (!section) return;
  if (!canModerate(room) || room.room_type === "direct") {
    section.replaceChildren();
    return;
  }
  let banned;
  try {
    banned = (await get(`rooms/${room.id}/members/${query({ include: "banned" })}`)).filter((member) => member.is_banned);
  } catch (error) {
    if (error.status !== 403 && error.status !== 404) showError(error, "Could not load the banned people: ");
    return;
  }
  if (built.room !== room.id) return;
  const items = banned.map((member) => {
    const name = displayName(member.user);
    return h(
      "li",
      { class: "member", dataset: { userId: member.user.id } },
      h(
        "div",
        { class: "member-line" },
        h("span", { class: "member-name", text: name }),
        h("button", {
          type: "button",
          class: "btn small",
          text: "Unban",
          "aria-label": `Unban ${name}`,
          onclick: async () => {
            try {
              await post(`rooms/${room.id}/members/${member.user.id}/unban/`, {});
              toast(`${name} is no longer banned and can be added again.`);
            } catch (error) {
              showError(error, "Could not unban: ");
            }
          },
        }),
      ),
    );
  });
  section.replaceChildren(
    h("h2", { text: "Banned" }),
    items.length ? h("ul", { class: "member-list", id: "banned-list" }, items) : h("p", { class: "muted", text: "Nobody is banned." }),
  );
}

function renderLeave(app, room) {
  const section = $("#leave-section");
  if (room.room_type === "direct") {
    section.replaceChildren();
    return;
  }
  const buttons = [
    h("button", {
      type: "button",
      class: "btn small",
      text: "Leave room",
      onclick: async () => {
        if (!(await confirmDialog(`Leave ${roomTitle(room)}?`, "Leave"))) return;
        try {
          await post(`rooms/${room.id}/leave/`, {});
          app.rooms.remove(room.id, { reason: "left" });
        } catch (error) {
          showError(error, "Could not leave: ");
        }
      },
    }),
  ];
  if (room.my_role === "owner" && room.is_active) {
    buttons.push(
      h("button", {
        type: "button",
        class: "btn small danger",
        text: "Close room",
        onclick: async () => {
          if (!(await confirmDialog(`Close ${roomTitle(room)}? The history stays, nobody can post any more.`, "Close room", { danger: true }))) return;
          try {
            await post(`rooms/${room.id}/deactivate/`, {});
            toast("The room is closed.");
          } catch (error) {
            showError(error, "Could not close the room: ");
          }
        },
      }),
    );
  }
  section.replaceChildren(h("h2", { text: "Leave" }), h("div", { class: "row" }, buttons));
}

// --- new chat dialog ---------------------------------------------------------
function peoplePicker({ label, onPick, pickLabel, exclude = () => false }) {
  const results = h("ul", { class: "people-results", "aria-live": "polite" });
  const id = `people-${Math.random().toString(36).slice(2)}`;
  const search = h("input", { type: "search", id, placeholder: "Name or username", autocomplete: "off", maxlength: 100 });
  const find = debounce(async () => {
    try {
      const people = (await get(`users/${query({ q: search.value.trim() })}`)).filter((person) => !exclude(person));
      results.replaceChildren(
        ...people.map((person) =>
          h(
            "li",
            {},
            avatarOf(person, displayName(person), { px: 32 }),
            h("span", { class: "person-name", text: `${displayName(person)} (@${person.username})` }),
            h("button", { type: "button", class: "btn small", text: pickLabel, "aria-label": `${pickLabel} ${displayName(person)}`, onclick: (event) => onPick(person, event) }),
          ),
        ),
      );
      if (!people.length) results.replaceChildren(h("li", { class: "muted", text: "Nobody found. You can find people of your company and people you share a room with." }));
    } catch (error) {
      showError(error);
    }
  }, 250);
  search.addEventListener("input", find);
  find();
  return [h("label", { for: id, text: label }), search, results];
}

function directTab(app) {
  return h(
    "div",
    { class: "stack" },
    peoplePicker({
      label: "Find a person",
      pickLabel: "Message",
      onPick: async (person, event) => {
        event.target.disabled = true;
        try {
          const room = app.rooms.merge(await post("rooms/direct/", { user_id: person.id }));
          closeDialog();
          app.room.go(room.id);
        } catch (error) {
          event.target.disabled = false;
          showError(error, "Could not start the chat: ");
        }
      },
    }),
  );
}

function groupTab(app) {
  const chosen = new Map();
  const chosenList = h("p", { class: "muted", text: "Nobody added yet." });
  const showChosen = () => {
    chosenList.textContent = chosen.size ? `Adding: ${[...chosen.values()].map(displayName).join(", ")}` : "Nobody added yet.";
  };
  const name = h("input", { type: "text", id: "group-name", required: true, maxlength: 200 });
  const description = h("textarea", { id: "group-description", rows: 2, maxlength: 2000 });
  const isPublic = h("input", { type: "checkbox", id: "group-public" });
  const create = h("button", { type: "submit", class: "btn primary", text: "Create group" });
  return h(
    "form",
    {
      class: "stack",
      onsubmit: async (event) => {
        event.preventDefault();
        if (!name.value.trim()) {
          name.focus();
          toast("Give the group a name.", { kind: "error" });
          return;
        }
        create.disabled = true;
        try {
          const room = app.rooms.merge(
            await post("rooms/", { name: name.value, description: description.value, is_public: isPublic.checked, member_ids: [...chosen.keys()] }),
          );
          closeDialog();
          app.room.go(room.id);
        } catch (error) {
          create.disabled = false;
          showError(error, "Not created: ");
        }
      },
    },
    h("label", { for: "group-name", text: "Name" }),
    name,
    h("label", { for: "group-description", text: "Description (optional)" }),
    description,
    app.config.has_company
      ? h("label", { class: "check" }, isPublic, "Public: anyone in your company can find it in the room directory and join")
      : null,
    peoplePicker({
      label: "Add people",
      pickLabel: "Add",
      onPick: (person, event) => {
        chosen.set(person.id, person);
        event.target.disabled = true;
        event.target.textContent = "Added";
        showChosen();
      },
    }),
    chosenList,
    h("div", { class: "row" }, create),
  );
}

function supportTab(app) {
  const button = h("button", {
    type: "button",
    class: "btn primary",
    text: "Open my support chat",
    onclick: async () => {
      button.disabled = true;
      try {
        const room = app.rooms.merge(await post("rooms/support/"));
        closeDialog();
        app.room.go(room.id);
      } catch (error) {
        button.disabled = false;
        showError(error, "Could not open support: ");
      }
    },
  });
  return h("div", { class: "stack" }, h("p", { text: "Talk to the support team. Your support chat stays open until it is closed." }), h("div", { class: "row" }, button));
}

// Why a room offered under "Join a room" can no longer be joined (refused since the list was drawn).
const JOIN_REFUSED = { banned: (name) => `You are banned from ${name}.`, room_not_found: (name) => `${name} can no longer be joined.` };

// The room directory: public rooms of my company with what they are about and
// how many are in them, searchable; one click joins.
export function joinTab(app) {
  const list = h("ul", { class: "room-choices directory" }, h("li", { class: "muted", text: "Loading…" }));
  const searchId = `directory-${Math.random().toString(36).slice(2)}`;
  const search = h("input", { type: "search", id: searchId, placeholder: "Name or topic", autocomplete: "off", maxlength: 100 });
  const nothingLeft = () => {
    if (!list.querySelector("button")) list.append(h("li", { class: "muted", text: search.value.trim() ? "No public room matches." : "No public rooms to join." }));
  };
  // A refusal that will not change by trying again: the room leaves the list, with the reason.
  const refused = (item, room, error) => {
    const note = h("li", { class: "muted", role: "status", tabindex: "-1", text: JOIN_REFUSED[error.code](room.name) });
    item.replaceWith(note);
    note.focus();
    nothingLeft();
  };
  const entry = (room) => {
    const item = h(
      "li",
      { class: "directory-room" },
      h(
        "div",
        { class: "directory-text" },
        h("span", { class: "directory-name", text: room.name }),
        h("span", { class: "muted directory-count", text: `${room.member_count} member${room.member_count === 1 ? "" : "s"}` }),
        room.description ? h("p", { class: "muted directory-description", dir: "auto", text: room.description }) : null,
      ),
      h("button", {
        type: "button",
        class: "btn",
        text: `Join ${room.name}`,
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            const joined = app.rooms.merge(await post(`rooms/${room.id}/join/`));
            closeDialog();
            app.room.go(joined.id);
          } catch (error) {
            if (Object.hasOwn(JOIN_REFUSED, error.code)) {
              refused(item, room, error);
              return;
            }
            event.target.disabled = false;
            showError(error, "Could not join: ");
          }
        },
      }),
    );
    return item;
  };
  const load = debounce(async () => {
    const asked = search.value.trim();
    try {
      const rooms = await get(`rooms/public/${query({ q: asked })}`);
      if (search.value.trim() !== asked) return; // a newer search is on its way
      list.replaceChildren(...rooms.filter((room) => !state.rooms.has(room.id)).map(entry));
      nothingLeft();
    } catch (error) {
      list.replaceChildren(h("li", { class: "muted", text: error.detail || "Could not load the rooms." }));
    }
  }, 200);
  search.addEventListener("input", load);
  load();
  return h("div", { class: "stack" }, h("label", { for: searchId, text: "Find a public room" }), search, list);
}

export function newChatDialog(app) {
  const tabs = [
    ["Direct message", directTab],
    ["New group", groupTab],
    ["Support", supportTab],
    ["Join a room", joinTab],
  ];
  const body = h("div", { id: "new-chat-body" });
  const buttons = tabs.map(([label, make], index) =>
    h("button", {
      type: "button",
      class: "btn small",
      role: "tab",
      "aria-selected": index === 0 ? "true" : "false",
      text: label,
      onclick: (event) => {
        for (const button of buttons) button.setAttribute("aria-selected", "false");
        event.target.setAttribute("aria-selected", "true");
        body.replaceChildren(make(app));
        const first = body.querySelector("input, button");
        if (first) first.focus();
      },
    }),
  );
  body.append(tabs[0][1](app));
  openDialog("New chat", h("div", { class: "tabs", role: "tablist", "aria-label": "Kind of chat" }, buttons), body);
}

// --- welcome -------------------------------------------------------------------
// Someone in no room at all (a new account, no company): what there is to do
// here, the public rooms to join, and the ways to start a chat.
export function renderWelcome(app) {
  const panel = $("#no-room");
  if (state.rooms.size > 0 || !state.roomsLoaded) {
    if (panel.dataset.welcome) {
      delete panel.dataset.welcome;
      panel.replaceChildren(h("p", { text: "Pick a room on the left, or start a new chat." }));
    }
    return;
  }
  if (panel.dataset.welcome) return;
  panel.dataset.welcome = "1";
  panel.replaceChildren(
    h("h1", { text: `Welcome, ${displayName(state.me)}` }),
    h("p", { text: "You are not in any room yet. Join a public room below, or start a chat with someone." }),
    app.config.has_company
      ? null
      : h("p", { class: "muted", text: "You do not belong to a company, so there is no company room for you; an administrator can add you to one. You can find people you share a room with." }),
    h("h2", { text: "Public rooms" }),
    joinTab(app),
    h(
      "p",
      { class: "welcome-actions" },
      h("button", { type: "button", class: "btn primary", text: "Start a chat", onclick: () => newChatDialog(app) }),
    ),
  );
}

// --- edit history --------------------------------------------------------------
// The earlier versions of a message, newest first, under the current one. Shown
// as the text that was typed (a past version has no HTML of its own).
export async function editHistoryDialog(app, message, rd) {
  let versions;
  try {
    versions = await get(`messages/${message.id}/history/`);
  } catch (error) {
    showError(error, "Could not load the edit history: ");
    return;
  }
  const editor = (id) => {
    const member = rd && rd.members ? rd.members.get(id) : null;
    return member ? displayName(member.user) : id === (message.sender && message.sender.id) ? displayName(message.sender) : "a moderator";
  };
  const item = (label, when, text) =>
    h("li", { class: "version" }, h("div", { class: "version-head muted" }, h("span", { text: label }), when ? h("time", { datetime: when, text: fullTime(when) }) : null), h("p", { class: "version-text", dir: "auto", text: text ?? "" }));
  const rows = [item("Now", message.edited_at, message.content)];
  for (const version of [...versions].reverse()) rows.push(item(`Before ${editor(version.edited_by)} edited it, until`, version.replaced_at, version.content));
  openDialog("Edit history", h("ol", { class: "edit-history", "aria-label": "Versions, newest first" }, rows));
}

// --- forward dialog ----------------------------------------------------------
export function forwardDialog(app, message) {
  const rooms = sortedRooms().filter((room) => room.is_active);
  openDialog(
    "Forward to…",
    h("p", { class: "muted", text: message.content ? `“${message.content.slice(0, 120)}”` : "An attachment" }),
    h(
      "ul",
      { class: "room-choices" },
      rooms.map((room) =>
        h(
          "li",
          {},
          h("button", {
            type: "button",
            class: "btn",
            text: roomTitle(room),
            onclick: async (event) => {
              event.target.disabled = true;
              try {
                await post(`messages/${message.id}/forward/`, { room: room.id, client_msg_id: uuid4() });
                closeDialog();
                toast(`Forwarded to ${roomTitle(room)}.`);
              } catch (error) {
                event.target.disabled = false;
                showError(error, "Not forwarded: ");
              }
            },
          }),
        ),
      ),
    ),
  );
}

