// One message as a list item. Every piece of user data goes in as text.

import { avatarOf, fileSize, formatted, fullTime, h, linkified, messageTime } from "../dom.js";
import { fold, mentionSegments, mentionsUser } from "../mentions.js";
import { canModerate, canPin, displayName, roomTitle, state } from "../state.js";
import { canStartThread, summaryText } from "../threads.js";
import { openViewer } from "./viewer.js";

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

function reactionLabel(reaction, me) {
  const others = reaction.count - (me ? 1 : 0);
  if (me && others === 0) return `${reaction.reaction}: you reacted`;
  if (me) return `${reaction.reaction}: you and ${others} other${others === 1 ? "" : "s"}`;
  return `${reaction.reaction}: ${reaction.count} reaction${reaction.count === 1 ? "" : "s"}`;
}

// A file's kind, for its card: an icon and a word anyone understands.
const FILE_KINDS = [
  ["application/pdf", "📕", "PDF document"],
  ["application/zip", "🗜️", "ZIP archive"],
  ["application/gzip", "🗜️", "gzip archive"],
  ["audio/", "🎵", "Audio"],
  ["video/", "🎬", "Video"],
  ["text/plain", "📄", "Text"],
  ["image/", "🖼️", "Image"],
];

export function fileKind(contentType) {
  const found = FILE_KINDS.find(([prefix]) => (contentType || "").startsWith(prefix));
  return found ? { icon: found[1], label: found[2] } : { icon: "📎", label: "File" };
}

function imageNode(attachment) {
  const small = attachment.previews && attachment.previews.small;
  const large = attachment.previews && attachment.previews.large;
  const props = { src: small ? small.url : attachment.url, alt: attachment.name, loading: "lazy", decoding: "async" };
  const [width, height] = small ? [small.width, small.height] : [attachment.width, attachment.height];
  // The size before it loads: no jump of the list when it does.
  if (width && height) Object.assign(props, { width, height });
  return h(
    "a",
    {
      class: "msg-image",
      href: attachment.url,
      target: "_blank",
      rel: "noopener",
      "aria-label": `Open image ${attachment.name}`,
      "aria-haspopup": "dialog",
      dataset: {
        viewer: "1",
        attachment: attachment.id,
        name: attachment.name,
        original: attachment.url,
        size: String(attachment.size || 0),
        large: large ? large.url : attachment.url,
        largeWidth: String((large ? large.width : attachment.width) || ""),
        largeHeight: String((large ? large.height : attachment.height) || ""),
      },
      onclick: (event) => {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button === 1) return; // a new tab, as asked
        event.preventDefault();
        openViewer(event.currentTarget);
      },
    },
    h("img", props),
  );
}

function attachmentNode(attachment) {
  if (!attachment) return null;
  if (attachment.content_type && attachment.content_type.startsWith("image/")) return imageNode(attachment);
  const kind = fileKind(attachment.content_type);
  const small = attachment.previews && attachment.previews.small;
  return h(
    "a",
    {
      class: `msg-file${small ? " with-preview" : ""}`,
      href: attachment.url,
      download: attachment.name,
      "aria-label": `Download ${attachment.name}`,
      dataset: { contentType: attachment.content_type || "" },
    },
    small
      ? h("img", { class: "file-preview", src: small.url, alt: "", width: small.width, height: small.height, loading: "lazy", decoding: "async" })
      : h("span", { class: "file-icon", "aria-hidden": "true", text: kind.icon }),
    h(
      "span",
      { class: "file-text" },
      h("span", { class: "file-name", text: attachment.name }),
      h("span", { class: "file-meta muted", text: `${kind.label} · ${fileSize(attachment.size)}` }),
    ),
  );
}

function quoteNode(reply) {
  if (!reply) return null;
  const text = reply.is_deleted || reply.content === null ? "Message deleted" : reply.content || "Attachment";
  return h(
    "blockquote",
    { class: "msg-quote", dataset: { jump: reply.id }, title: "Replying to this message" },
    h("span", { class: "quote-author", text: displayName(reply.sender) }),
    h("span", { class: "quote-text", text }),
  );
}

function editForm(message, rd, actions) {
  const area = h("textarea", {
    "aria-label": "Edit message",
    value: rd.editDraft,
    oninput: (event) => {
      rd.editDraft = event.target.value;
    },
    onkeydown: (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        actions.saveEdit(message, area.value);
      } else if (event.key === "Escape") {
        event.preventDefault();
        actions.cancelEdit(message);
      }
    },
  });
  return h(
    "form",
    {
      class: "edit-form",
      onsubmit: (event) => {
        event.preventDefault();
        actions.saveEdit(message, area.value);
      },
    },
    area,
    h(
      "div",
      { class: "edit-buttons" },
      h("button", { type: "submit", class: "btn small primary", text: "Save" }),
      h("button", { type: "button", class: "btn small", text: "Cancel", onclick: () => actions.cancelEdit(message) }),
      h("span", { class: "muted", text: "Enter saves · Esc cancels" }),
    ),
  );
}

// The folded usernames of the room's members -> their ids (for `@name` tokens).
function usernames(rd) {
  const key = rd.members ? rd.members.size + rd.memberEvents : -1;
  if (!rd.usernames || rd.usernamesKey !== key) {
    rd.usernames = new Map([...(rd.members ? rd.members.values() : [])].map((m) => [fold(m.user.username), m.user.id]));
    rd.usernamesKey = key;
  }
  return rd.usernames;
}

// The message's formatted text (the server's sanitized HTML), with the mentions
// the server resolved marked in its text (not in code or links): the reader's
// own highlighted, the others styled. A send not yet answered has no HTML: its
// text as typed, links made.
function bodyNodes(message, rd) {
  const mentions = message.mentions || [];
  const options = { mentions, meId: state.me.id, meUsername: state.me.username, usernames: usernames(rd) };
  const marked = (text, parents = []) =>
    !mentions.length || parents.some((tag) => tag === "CODE" || tag === "A")
      ? text
      : mentionSegments(text, options).map((part) =>
          !part.mention
            ? part.text
            : part.mention === "me"
              ? h("mark", { class: "mention to-me", text: part.text })
              : h("span", { class: "mention", text: part.text }),
        );
  if (typeof message.html !== "string") return linkified(message.content).map((node) => (typeof node === "string" ? marked(node) : node));
  return formatted(message.html, marked);
}

// "Forwarded from Alice in Design" — the room only when the reader is in it.
export function forwardedText(forwarded, rooms = state.rooms) {
  if (!forwarded) return "Forwarded";
  const who = forwarded.sender ? displayName(forwarded.sender) : "someone";
  const room = forwarded.room ? rooms.get(forwarded.room) : null;
  return room ? `Forwarded from ${who} in ${roomTitle(room)}` : `Forwarded from ${who}`;
}

// Under a root with replies: "3 replies · last reply 5 min ago" and up to three
// of the people who replied; a button that opens the thread.
function threadSummaryNode(message, actions) {
  const summary = message.thread_summary;
  const text = summaryText(summary);
  if (!text) return null;
  const people = (summary.participants || []).slice(0, 3);
  const names = people.map(displayName);
  return h(
    "button",
    {
      type: "button",
      class: "thread-summary",
      "aria-label": `Open the thread: ${text}${names.length ? `, with ${names.join(", ")}` : ""}`,
      onclick: () => actions.openThread(message),
    },
    h("span", { class: "thread-avatars", "aria-hidden": "true" }, people.map((person) => {
      const tiny = avatarOf(person, displayName(person), { className: "avatar tiny", px: 20 });
      tiny.title = displayName(person);
      return tiny;
    })),
    h("span", { class: "thread-count", text }),
    names.length ? h("span", { class: "thread-names muted", text: names.join(", ") }) : null,
  );
}

/**
 * ctx: rd (what holds the message's state: a RoomData, or the thread panel's
 * ThreadData), room, actions, pending (an unsent message), prefix (of the
 * item's id: "m" in the room, "t" in the thread panel), place ("room", or
 * "root" / "reply" in the thread panel).
 */
export function renderMessage(message, { rd, room, actions, pending = null, prefix = "m", place = "room" }) {
  const me = state.me;
  const mine = message.sender && message.sender.id === me.id;
  const id = pending ? `${prefix === "m" ? "" : `${prefix}-`}pending-${pending.client_msg_id}` : `${prefix}-${message.id}`;

  if (message.message_type === "system") {
    return h(
      "li",
      { class: "msg system", id, dataset: { id: message.id, seq: message.seq } },
      h("p", { class: "msg-body" }, h("bdi", { text: message.content || "" }), h("time", { datetime: message.created_at, title: fullTime(message.created_at), text: messageTime(message.created_at) })),
    );
  }

  const author = displayName(message.sender);
  const classes = ["msg"];
  if (place !== "room") classes.push(`thread-${place}`);
  if (mine) classes.push("mine");
  if (message.is_deleted) classes.push("deleted");
  if (pending) classes.push("pending", pending.status === "failed" ? "failed" : "");
  const forMe = !pending && !mine && !message.is_deleted && mentionsUser(message, me.id);
  if (forMe) classes.push("mentions-me");
  if (rd.highlight && rd.highlight.id === message.id && rd.highlight.until > Date.now()) classes.push("highlight");

  const head = h(
    "div",
    { class: "msg-head" },
    h("span", { class: "msg-author", text: author }),
    h("time", { datetime: message.created_at, title: fullTime(message.created_at), text: messageTime(message.created_at) }),
    message.is_edited && !message.is_deleted
      ? h("button", { type: "button", class: "link msg-flag", title: `Edited ${fullTime(message.edited_at)}: show the earlier versions`, text: "(edited)", onclick: () => actions.showEdits(message) })
      : null,
    forMe ? h("span", { class: "mention-flag", text: "Mentions you" }) : null,
    !pending && !message.is_deleted && rd.pins && rd.pins.has(message.id) ? h("span", { class: "pin-flag", text: "📌 Pinned" }) : null,
    !pending && !message.is_deleted && state.saved.has(message.id) ? h("span", { class: "saved-flag", text: "🔖 Saved" }) : null,
  );

  const card = h("div", { class: "msg-card" }, head);
  // A reply also sent to the room, shown in the room: a way to its thread.
  if (place === "room" && message.thread && !pending) {
    card.append(
      h("button", {
        type: "button",
        class: "link thread-link",
        text: "replied to a thread",
        "aria-label": `Replied to a thread: open the thread at this reply`,
        onclick: () => actions.openThread(message),
      }),
    );
  }
  if (message.forwarded_from && !message.is_deleted) card.append(h("div", { class: "msg-forwarded", text: forwardedText(message.forwarded) }));
  if (!message.is_deleted) {
    const quote = quoteNode(message.reply_to);
    if (quote) card.append(quote);
  }

  if (message.is_deleted) {
    card.append(h("p", { class: "msg-body", text: "Message deleted" }));
    // Owners and admins may bring it back (the sender has the Undo of the toast).
    if (!pending && canModerate(room) && message.message_type !== "system") {
      card.append(h("button", { type: "button", class: "btn small restore", text: "Restore", "aria-label": `Restore the deleted message from ${author}`, onclick: () => actions.restore(message) }));
    }
  } else if (!pending && rd.editingId === message.id) {
    card.append(editForm(message, rd, actions));
  } else if (message.content) {
    const body = bodyNodes(message, rd);
    const formattedBody = typeof message.html === "string";
    card.append(h("div", { class: `msg-body${formattedBody ? " formatted" : ""}`, dir: "auto" }, message.message_type === "action" ? h("em", {}, body) : body));
  }
  if (!message.is_deleted) {
    const attachment = pending ? pending.attachmentPreview : attachmentNode(message.attachment);
    if (attachment) card.append(attachment);
  }

  if (!message.is_deleted && !pending && message.reactions && message.reactions.length) {
    card.append(
      h(
        "div",
        { class: "msg-reactions" },
        message.reactions.map((reaction) => {
          const reacted = reaction.user_ids.includes(me.id);
          return h("button", {
            type: "button",
            class: "chip",
            "aria-pressed": reacted ? "true" : "false",
            "aria-label": reactionLabel(reaction, reacted),
            dataset: { reaction: reaction.reaction },
            text: `${reaction.reaction} ${reaction.count}`,
            onclick: () => actions.toggleReaction(message, reaction.reaction, reacted),
          });
        }),
      ),
    );
  }

  if (!message.is_deleted && !pending && rd.reactingId === message.id) {
    card.append(
      h(
        "div",
        { class: "emoji-picker", role: "group", "aria-label": "Pick a reaction" },
        QUICK_REACTIONS.map((emoji) =>
          h("button", { type: "button", "aria-label": `React with ${emoji}`, text: emoji, onclick: () => actions.react(message, emoji) }),
        ),
        h("button", {
          type: "button",
          class: "more-reactions",
          "aria-label": "More reactions",
          title: "More reactions",
          "aria-haspopup": "dialog",
          "aria-expanded": "false",
          text: "…",
          onclick: (event) => actions.moreReactions(message, event.currentTarget),
        }),
      ),
    );
  }

  // The root's summary: in the room (also when the root was deleted, so its
  // thread stays reachable); before the actions, which a tap may show above it.
  if (!pending && place === "room" && !message.thread) {
    const summary = threadSummaryNode(message, actions);
    if (summary) card.append(summary);
  }

  if (pending) {
    const state_ = h("div", { class: "msg-state", role: pending.status === "failed" ? "alert" : null });
    const label = {
      sending: "Sending…",
      uploading: "Uploading…",
      queued: pending.note || "Waiting for the connection…",
      waiting: pending.note || "Sending again in a moment…",
      failed: `Not sent: ${pending.error || "error"}`,
    }[pending.status];
    state_.append(h("span", { text: label }));
    if (pending.status === "failed") {
      state_.append(
        h("button", { type: "button", class: "btn small", text: "Retry", onclick: () => actions.retry(pending) }),
        h("button", { type: "button", class: "btn small", text: "Discard", onclick: () => actions.discard(pending) }),
      );
    }
    card.append(state_);
  } else if (!message.is_deleted) {
    const bar = h("div", { class: "msg-actions", role: "toolbar", "aria-label": `Actions for the message from ${author}` });
    const canPost = room && room.is_active;
    // In the thread panel a quote-reply would go to the room's composer: only the room offers it.
    if (canPost && place === "room") bar.append(h("button", { type: "button", text: "Reply", onclick: () => actions.reply(message) }));
    if (canPost && place === "room" && canStartThread(message)) {
      bar.append(h("button", { type: "button", class: "reply-in-thread", text: "Reply in thread", onclick: () => actions.openThread(message) }));
    }
    if (canPost) bar.append(h("button", { type: "button", text: "React", "aria-expanded": rd.reactingId === message.id ? "true" : "false", onclick: () => actions.toggleReactPicker(message) }));
    bar.append(h("button", { type: "button", text: "Forward", onclick: () => actions.forward(message) }));
    if (message.message_type !== "system") {
      const saved = state.saved.has(message.id);
      bar.append(h("button", { type: "button", class: "save-toggle", "aria-pressed": saved ? "true" : "false", text: saved ? "Saved" : "Save", title: saved ? "Remove from your saved messages" : "Save for later (Saved, in the sidebar)", onclick: () => actions.toggleSaved(message) }));
    }
    if (place === "room" && canPin(room) && message.message_type !== "system") {
      bar.append(h("button", { type: "button", text: rd.pins && rd.pins.has(message.id) ? "Unpin" : "Pin", onclick: () => actions.togglePin(message) }));
    }
    if (mine && message.content !== null && canPost) bar.append(h("button", { type: "button", text: "Edit", onclick: () => actions.edit(message) }));
    if (mine || canModerate(room)) bar.append(h("button", { type: "button", text: "Delete", onclick: () => actions.remove(message) }));
    card.append(bar);
  }

  card.append(h("div", { class: "msg-seen", hidden: true }));

  return h(
    "li",
    {
      class: classes.filter(Boolean).join(" "),
      id,
      tabindex: "-1",
      dataset: { id: message.id || "", seq: message.seq || "" },
      onclick: (event) => {
        const jump = event.target.closest("[data-jump]");
        if (jump) actions.jumpTo(jump.dataset.jump);
        else if (!event.target.closest("button, a, textarea, input")) event.currentTarget.classList.toggle("show-actions");
      },
    },
    avatarOf(message.sender, author, { px: 34 }),
    card,
  );
}
