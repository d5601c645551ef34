// Blocking people: from a direct room's details, and the list of the people I
// blocked in my settings. What blocking does is said next to the button.

import { del, get, post } from "./api.js";
import { h } from "./dom.js";
import { displayName, state } from "./state.js";
import { confirmDialog, showError, toast } from "./ui.js";

export const BLOCK_EFFECT =
  "Neither of you can write in your direct chat any more, and nothing they write anywhere notifies you or counts as a mention of you. They are not told, but they will see that they cannot write to you there.";

export function createBlocking(app) {
  async function block(user) {
    if (!(await confirmDialog(`Block ${displayName(user)}? ${BLOCK_EFFECT}`, "Block", { danger: true }))) return false;
    try {
      await post(`users/${user.id}/block/`);
    } catch (error) {
      showError(error, "Not blocked: ");
      return false;
    }
    state.blocked.add(user.id);
    toast(`You blocked ${displayName(user)}.`);
    app.invalidate("details", "composer");
    return true;
  }

  async function unblock(user) {
    try {
      await del(`users/${user.id}/block/`);
    } catch (error) {
      if (error.code !== "block_not_found") {
        showError(error, "Not unblocked: ");
        return false;
      }
    }
    state.blocked.delete(user.id);
    toast(`You unblocked ${displayName(user)}.`);
    app.invalidate("details", "composer");
    return true;
  }

  // The people I blocked, each with Unblock (for the settings dialog).
  function blockedList() {
    const list = h("ul", { class: "blocked-list", "aria-label": "People you blocked" }, h("li", { class: "muted", text: "Loading…" }));
    const draw = (blocks) => {
      if (!blocks.length) {
        list.replaceChildren(h("li", { class: "muted", text: "You have not blocked anyone." }));
        return;
      }
      list.replaceChildren(
        ...blocks.map((item) =>
          h(
            "li",
            { class: "blocked-item" },
            h("span", { class: "person-name", text: `${displayName(item.user)} (@${item.user.username})` }),
            h("button", {
              type: "button",
              class: "btn small",
              text: "Unblock",
              "aria-label": `Unblock ${displayName(item.user)}`,
              onclick: async () => {
                if (await unblock(item.user)) draw(blocks.filter((other) => other !== item));
              },
            }),
          ),
        ),
      );
    };
    get("users/blocked/")
      .then(draw)
      .catch((error) => list.replaceChildren(h("li", { class: "muted", text: error.detail || "Could not load the people you blocked." })));
    return list;
  }

  return { block, unblock, blockedList };
}
