// Invite links in a group room's details, for its owners and admins: make one
// (member or guest, how long it lasts, how many times it can be used), copy
// it, see its uses, revoke it. Whoever opens a link (logged in) sees the room
// and joins with one click (the page /invite/<code>/).

import { del, get, post } from "../api.js";
import { fullTime, h } from "../dom.js";
import { canModerate, displayName } from "../state.js";
import { showError, toast } from "../ui.js";

const EXPIRY_CHOICES = [
  [3600, "1 hour"],
  [86400, "1 day"],
  [7 * 86400, "7 days"],
  [30 * 86400, "30 days"],
];
const USES_CHOICES = [
  ["", "No limit"],
  ["1", "1 use"],
  ["5", "5 uses"],
  ["10", "10 uses"],
  ["25", "25 uses"],
  ["100", "100 uses"],
];

const linkOf = (invite) => new URL(invite.url, window.location.origin).href;

function select(id, choices, selected) {
  return h("select", { id }, ...choices.map(([value, label]) => h("option", { value: String(value), selected: String(value) === String(selected), text: label })));
}

export function renderInvites(app, room, section) {
  if (room.room_type !== "group" || !room.is_active || !canModerate(room)) {
    section.replaceChildren();
    return;
  }
  const list = h("ul", { class: "invite-list", "aria-live": "polite" });
  const role = select("invite-role", [["member", "Member"], ["guest", "Guest"]], "member");
  const expires = select("invite-expiry", EXPIRY_CHOICES, 7 * 86400);
  const uses = select("invite-uses", USES_CHOICES, "");
  const create = h("button", { type: "submit", class: "btn small primary", text: "Create link" });

  async function copy(invite) {
    try {
      await navigator.clipboard.writeText(linkOf(invite));
      toast("Invite link copied.");
    } catch {
      toast("Copy the link from the field.");
    }
  }

  function itemNode(invite) {
    const field = h("input", { type: "text", readonly: true, value: linkOf(invite), "aria-label": "Invite link", class: "invite-url", onfocus: (event) => event.target.select() });
    const usage = invite.max_uses ? `${invite.uses} of ${invite.max_uses} uses` : `${invite.uses} use${invite.uses === 1 ? "" : "s"}`;
    return h(
      "li",
      { class: "invite-item", dataset: { inviteId: invite.id } },
      field,
      h("span", { class: "muted", text: `${invite.role === "guest" ? "Joins as a guest" : "Joins as a member"} · ${usage} · until ${fullTime(invite.expires_at)}${invite.created_by ? ` · by ${displayName(invite.created_by)}` : ""}` }),
      h(
        "div",
        { class: "row" },
        h("button", { type: "button", class: "btn small", text: "Copy", "aria-label": "Copy the invite link", onclick: () => copy(invite) }),
        h("button", {
          type: "button",
          class: "btn small danger",
          text: "Revoke",
          "aria-label": "Revoke the invite link",
          onclick: async (event) => {
            event.target.disabled = true;
            try {
              await del(`rooms/${room.id}/invites/${invite.id}/`);
              toast("The link no longer works.");
              load();
            } catch (error) {
              event.target.disabled = false;
              showError(error, "Not revoked: ");
            }
          },
        }),
      ),
    );
  }

  async function load() {
    try {
      const invites = await get(`rooms/${room.id}/invites/`);
      list.replaceChildren(...(invites.length ? invites.map(itemNode) : [h("li", { class: "muted", text: "No live links." })]));
    } catch (error) {
      list.replaceChildren(h("li", { class: "muted", text: `Could not load the links: ${error.detail || error.message}` }));
    }
  }

  const form = h(
    "form",
    {
      class: "stack invite-form",
      onsubmit: async (event) => {
        event.preventDefault();
        create.disabled = true;
        try {
          const invite = await post(`rooms/${room.id}/invites/`, {
            role: role.value,
            expires_in: Number(expires.value),
            max_uses: uses.value ? Number(uses.value) : null,
          });
          await load();
          copy(invite);
        } catch (error) {
          showError(error, "No link made: ");
        } finally {
          create.disabled = false;
        }
      },
    },
    h("div", { class: "row wrap" }, h("label", { for: "invite-role", text: "Joins as" }), role, h("label", { for: "invite-expiry", text: "Expires after" }), expires, h("label", { for: "invite-uses", text: "Uses" }), uses),
    h("div", { class: "row" }, create),
  );
  section.replaceChildren(
    h("h2", { id: "invites-heading", text: "Invite links" }),
    h("p", { class: "muted", text: "Anyone with a link who is logged in can join this room until the link expires, is used up or is revoked. People banned from the room cannot." }),
    form,
    list,
  );
  load();
}
