// A room's messages, members and presence, from the REST API when it is opened.

import { get, query } from "./api.js";
import { showError } from "./ui.js";

const PAGE = 50;

export function createHistory(app) {
  const { state } = app;

  // A page of history; a full page that does not reach seq 1 means there is more.
  async function page(rd, before) {
    const messages = await get(`rooms/${rd.id}/messages/${query({ before, limit: PAGE })}`);
    rd.hasOlder = messages.length === PAGE && messages[0].seq > 1;
    return messages;
  }

  async function loadInitial(rd) {
    if (rd.loadingInitial) return;
    rd.loadingInitial = true;
    try {
      const messages = await page(rd);
      rd.ready = true;
      rd.merge(messages);
      rd.scrollToBottom = true;
      app.invalidate("messages");
      app.reading.soon();
    } catch (error) {
      showError(error, "Could not load the messages: ");
    } finally {
      rd.loadingInitial = false;
    }
  }

  async function loadOlder(rd) {
    if (!rd.ready || rd.loadingOlder || !rd.hasOlder || rd.oldestSeq === null) return;
    rd.loadingOlder = true;
    const button = document.getElementById("load-older");
    button.disabled = true;
    app.messageList.setBusy();
    try {
      const messages = await page(rd, rd.oldestSeq);
      rd.loadingOlder = false;
      rd.prepending = true;
      rd.merge(messages);
      app.invalidate("messages");
    } catch (error) {
      showError(error, "Could not load older messages: ");
    } finally {
      rd.loadingOlder = false;
      button.disabled = false;
      app.invalidate("messages");
    }
  }

  async function loadMembers(rd) {
    try {
      const members = await get(`rooms/${rd.id}/members/`);
      rd.members = new Map(members.map((m) => [m.user.id, m]));
      const room = state.rooms.get(rd.id);
      if (room) room.member_count = members.length;
      app.invalidate("seen", "details", "header", "composer");
      // Mentions of others are styled once their usernames are known.
      const others = (message) => (message.mentions || []).some((m) => m.kind === "user" && m.user_id !== state.me.id);
      for (const id of rd.order) if (others(rd.messages.get(id))) rd.dirty.add(id);
      if (rd.dirty.size) app.invalidate("messages");
    } catch (error) {
      if (error.status !== 404) showError(error, "Could not load the members: ");
      return;
    }
    loadPresence(rd.id);
  }

  // Who was already online before this page connected (or reconnected); live
  // `presence` frames keep it current from then on.
  async function loadPresence(id) {
    try {
      for (const { user_id: userId, status } of await get(`rooms/${id}/presence/`)) {
        if (userId === state.me.id) continue;
        if (status === "offline") state.presence.delete(userId);
        else state.presence.set(userId, status);
      }
      app.invalidate("rooms", "header", "details");
    } catch (_error) {
      // Presence is a nicety: without Redis for a moment the dots just stay as they are.
    }
  }

  return { loadInitial, loadOlder, loadMembers, loadPresence };
}
