// What the reader does to a message: reply, react, edit, delete, forward,
// jump to it, open its thread, and retry or discard a send that failed. Over
// the socket while it is live, else over REST; the server's answer is taken
// as it comes. The same actions work in the room's list and in the thread
// panel: `within(view)` gives them for another list (where a message's
// editing and reacting state is held, which part to draw again, what to focus).

import { api, post } from "./api.js";
import { acceptMessage, displayName } from "./state.js";
import { confirmDialog, showError, toast } from "./ui.js";
import { editHistoryDialog, forwardDialog } from "./views/panels.js";

const JUMP_TRIES = 20;
const HIGHLIGHT = 2500;

export function createActions(app) {
  const { state } = app;
  const roomView = {
    holder: (message) => state.loaded.get(message.room),
    part: "messages",
    prefix: "m", // of the list items' ids
    focusAfterRender: (selector) => app.messageList.focusAfterRender(selector),
    focusComposer: (options) => app.composer.focus(options),
  };

  function perform(frame, rest) {
    const socket = app.socket;
    return socket && socket.live ? socket.request(frame) : rest();
  }

  function accept(message) {
    acceptMessage(state, message);
    app.invalidate("messages", "rooms", "thread");
  }

  return { ...build(roomView), accept, within: build };

  function build(view) {
    // Redraw these messages; focus `selector` once drawn.
    function redraw(rd, ids, selector = null) {
      for (const id of ids) if (id) rd.dirty.add(id);
      if (rd.rootId && ids.includes(rd.rootId)) rd.rootDirty = true;
      if (selector) view.focusAfterRender(selector);
      app.invalidate(view.part);
    }

    const actions = {
      reply(message) {
        view.holder(message).replyTo = message;
        app.invalidate("composer");
        app.composer.focus();
      },
      toggleReactPicker(message) {
        const rd = view.holder(message);
        const previous = rd.reactingId;
        rd.reactingId = previous === message.id ? null : message.id;
        redraw(rd, [previous, message.id], rd.reactingId ? `#${view.prefix}-${CSS.escape(message.id)} .emoji-picker button` : null);
      },
      // The full emoji picker for a reaction; the message keeps the focus after.
      moreReactions(message, anchor) {
        const item = () => document.getElementById(`${view.prefix}-${message.id}`);
        app.emoji.open({
          anchor,
          label: "React with an emoji",
          onPick: (emoji) => {
            view.focusAfterRender(`#${view.prefix}-${CSS.escape(message.id)}`);
            actions.react(message, emoji);
          },
          returnFocus: () => item() && item().focus(),
        });
      },
      async react(message, emoji) {
        const rd = view.holder(message);
        rd.reactingId = null;
        redraw(rd, [message.id]);
        const current = rd.messages.get(message.id) || (rd.rootId === message.id && rd.root) || message;
        const mine = (current.reactions || []).some((r) => r.reaction === emoji && r.user_ids.includes(state.me.id));
        if (!mine) await actions.toggleReaction(current, emoji, false);
      },
      async toggleReaction(message, emoji, reacted) {
        const type = reacted ? "reaction.remove" : "reaction.add";
        try {
          const result = await perform({ type, message_id: message.id, reaction: emoji }, () =>
            post(`messages/${message.id}/reactions/${reacted ? "remove/" : ""}`, { reaction: emoji }).then((reactions) => ({ reactions })),
          );
          const rd = view.holder(message);
          const held = rd && (rd.messages.get(message.id) || (rd.rootId === message.id ? rd.root : null));
          if (held) {
            held.reactions = result.reactions.map(({ me: _me, ...rest }) => rest);
            redraw(rd, [held.id]);
          }
        } catch (error) {
          showError(error, "Reaction failed: ");
        }
      },
      // The thread of a root, or a reply's thread at that reply.
      openThread(message) {
        if (message.thread) app.thread.go(message.room, message.thread, { at: message.id });
        else app.thread.go(message.room, message.id);
      },
      forward(message) {
        forwardDialog(app, message);
      },
      togglePin(message) {
        app.pins.toggle(message);
      },
      toggleSaved(message) {
        app.saved.toggle(message);
      },
      showEdits(message) {
        editHistoryDialog(app, message, state.loaded.get(message.room));
      },
      edit(message) {
        const rd = view.holder(message);
        const previous = rd.editingId;
        rd.editingId = message.id;
        rd.editDraft = message.content || "";
        redraw(rd, [previous, message.id], `#${view.prefix}-${CSS.escape(message.id)} .edit-form textarea`);
      },
      cancelEdit(message) {
        const rd = view.holder(message);
        rd.editingId = null;
        redraw(rd, [message.id]);
        view.focusComposer({ preventScroll: true });
      },
      async saveEdit(message, content) {
        if (content === message.content) {
          actions.cancelEdit(message);
          return;
        }
        try {
          const result = await perform({ type: "message.edit", message_id: message.id, content }, () =>
            api("PATCH", `messages/${message.id}/`, { content }).then((m) => ({ message: m })),
          );
          view.holder(message).editingId = null;
          accept(result.message);
          view.focusComposer({ preventScroll: true });
        } catch (error) {
          showError(error, "Not saved: ");
        }
      },
      async remove(message) {
        const mine = message.sender && message.sender.id === state.me.id;
        const question = mine
          ? "Delete this message? Everyone in the room will see that a message was deleted."
          : `Delete this message from ${displayName(message.sender)}? Everyone in the room will see that it was deleted.`;
        if (!(await confirmDialog(question, "Delete", { danger: true }))) return;
        try {
          const result = await perform({ type: "message.delete", message_id: message.id }, () =>
            api("DELETE", `messages/${message.id}/`).then((m) => ({ message: m })),
          );
          accept(result.message);
          if (mine) {
            // The sender may take it back for a short while (CHAT_UNDO_DELETE_SECONDS).
            toast("Message deleted.", { timeout: app.config.undo_delete_seconds * 1000, action: { label: "Undo", run: () => actions.restore(message) } });
          }
        } catch (error) {
          showError(error, "Not deleted: ");
        }
      },
      async restore(message) {
        try {
          accept(await post(`messages/${message.id}/restore/`));
        } catch (error) {
          showError(error, "Not restored: ");
        }
      },
      retry(pending) {
        app.outbox.retry(pending);
      },
      discard(pending) {
        app.outbox.discard(pending);
        app.invalidate("messages");
      },
      async jumpTo(messageId) {
        const rd = state.loaded.get(state.currentId);
        if (!rd) return;
        for (let tries = 0; !rd.messages.has(messageId) && rd.hasOlder && tries < JUMP_TRIES; tries += 1) {
          await app.history.loadOlder(rd);
          app.messageList.render();
        }
        const el = document.getElementById(`m-${messageId}`);
        if (!el) {
          toast("That message is no longer in this room's history.");
          return;
        }
        el.setAttribute("tabindex", "-1");
        el.scrollIntoView({ block: "center" });
        el.focus({ preventScroll: true });
        // Kept on the room too, so that a redraw of the message meanwhile keeps it.
        const highlight = { id: messageId, until: Date.now() + HIGHLIGHT };
        rd.highlight = highlight;
        el.classList.add("highlight");
        setTimeout(() => {
          if (rd.highlight === highlight) rd.highlight = null;
          const current = document.getElementById(`m-${messageId}`);
          if (current) current.classList.remove("highlight");
        }, HIGHLIGHT);
      },
    };
    return actions;
  }
}
