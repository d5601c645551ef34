// The chat page: boot and wiring. Each part lives in its own module and gets
// `app`, the page's context: config, state, the wire vocabulary, the socket
// and the other parts. Socket frames go through the reducer (events.js), and
// the effects it returns are performed here, after it.

import { describeError, setUnauthenticatedHandler } from "./api.js";
import { createActions } from "./actions.js";
import { createComposer } from "./composer.js";
import { createBlocking } from "./blocking.js";
import { createPins } from "./pins.js";
import { createSaved } from "./saved.js";
import { createShortcuts } from "./switcher.js";
import { createConnection } from "./connection.js";
import { $ } from "./dom.js";
import { applyHelloCounts, createEffectRunner, createReducer } from "./events.js";
import { createHistory } from "./history.js";
import { createNotifier } from "./notifier.js";
import { Outbox } from "./outbox.js";
import { createPush } from "./push.js";
import { createReading } from "./reading.js";
import { createRooms } from "./rooms.js";
import { createNotificationSettings } from "./settings.js";
import { ChatSocket } from "./socket.js";
import { displayName, state } from "./state.js";
import { Syncer } from "./sync.js";
import { invalidate, registerRenderer, showError } from "./ui.js";
import { createBanner } from "./views/banner.js";
import { createEmojiPicker } from "./views/emoji-picker.js";
import { renderHeader, renderTyping } from "./views/header.js";
import { createMentionsView } from "./views/mentions.js";
import { createMessageList } from "./views/messages.js";
import { newChatDialog, renderDetails, renderWelcome, toggleDetails } from "./views/panels.js";
import { createRoomView } from "./views/room.js";
import { renderRooms } from "./views/rooms.js";
import { createSearch } from "./views/search.js";
import { createProfileView } from "./views/profile.js";
import { createSettingsView } from "./views/settings.js";
import { createThreadsView } from "./views/threads.js";
import { createThreadPanel } from "./thread.js";
import { createWire } from "./wire.js";

const config = JSON.parse($("#chat-config").textContent);
state.config = config;
state.me = config.user;
state.blocked = new Set(config.blocked_user_ids || []);

const app = { config, state, wire: createWire(config.wire), socket: null, invalidate };
app.rooms = createRooms(app);
app.history = createHistory(app);
app.reading = createReading(app);
app.messageList = createMessageList(app);
app.emoji = createEmojiPicker(app);
app.composer = createComposer(app);
app.actions = createActions(app);
app.search = createSearch(app);
app.room = createRoomView(app);
app.shortcuts = createShortcuts(app);
app.pins = createPins(app);
app.saved = createSaved(app);
app.blocking = createBlocking(app);
app.connection = createConnection(app);
app.settings = createNotificationSettings(app);
app.notifier = createNotifier(app);
app.push = createPush(app);
app.mentionsView = createMentionsView(app);
app.settingsView = createSettingsView(app);
app.profileView = createProfileView(app);
app.thread = createThreadPanel(app);
app.threadsView = createThreadsView(app);
app.reloadThreads = () => app.threadsView.reload();
app.outbox = new Outbox(state, {
  socket: () => app.socket,
  upload: (pending) => app.composer.upload(pending),
  accept: (message) => app.actions.accept(message),
  changed: (pending) => {
    pending.dirty = true;
    invalidate("messages", "composer");
  },
  failed: (pending, error) => {
    showError(error, "Message not sent: ");
    return describeError(error);
  },
});
app.sync = new Syncer(state, {
  socket: () => app.socket,
  removeRoom: (id, options) => app.rooms.remove(id, options),
  fetchRoom: (id) => app.rooms.fetch(id),
  reloadRooms: () => app.rooms.loadAll(),
  helloCounts: (frame) => {
    if (applyHelloCounts(state, frame).length) invalidate("rooms");
  },
  whenLive: () => {
    app.connection.afterHello();
    app.settings.load();
    const rd = state.loaded.get(state.currentId);
    if (rd && !rd.ready) app.history.loadInitial(rd);
    app.reading.soon();
    // Thread counts are not in the hello: the badge and the list are asked again.
    app.threadsView.loadTotals();
    app.threadsView.reload();
    app.thread.readSoon();
    app.saved.load();
    app.outbox.flush();
  },
});

// --- socket frames: the reducer changes the state, then its effects run ----------
const reduce = createReducer(app.wire);
const typingExpiry = (effect) =>
  setTimeout(() => {
    const panel = state.thread;
    const rd = effect.thread ? (panel && panel.rootId === effect.thread ? panel : null) : state.loaded.get(effect.room);
    const entry = rd && rd.typing.get(effect.user_id);
    if (entry && entry.until === effect.until) {
      rd.typing.delete(effect.user_id);
      invalidate(effect.thread ? "thread-typing" : "typing");
    }
  }, effect.after);
const runEffects = createEffectRunner({
  render: (effect) => invalidate(...effect.parts),
  "refresh-room": (effect) => app.rooms.refresh(effect.id),
  "refresh-pins": (effect) => app.pins.load(effect.id),
  "fetch-room": (effect) => app.rooms.fetch(effect.id),
  "sync-room": (effect) => app.sync.syncRoom(effect.id),
  "mark-read": () => app.reading.soon(),
  "mark-thread-read": () => app.thread.readSoon(),
  "refresh-threads": () => app.thread.refreshTotals(),
  "thread-activity": (effect) => app.threadsView.threadActivity(effect),
  "room-removed": (effect) => {
    app.mentionsView.roomRemoved(effect.room.id);
    app.threadsView.roomRemoved(effect.room.id);
    app.saved.roomRemoved(effect.room.id);
    app.rooms.removed(effect.room, { reason: effect.reason });
  },
  "message-arrived": (effect) => {
    app.mentionsView.messageArrived(effect);
    app.notifier.messageArrived(effect);
  },
  "message-changed": (effect) => {
    app.mentionsView.messageChanged(effect);
    app.saved.messageChanged(effect.message);
  },
  saved: (effect) => app.saved.frame(effect.frame),
  "reload-room": (effect) => {
    const rd = state.loaded.get(effect.id);
    app.messageList.clear(effect.id);
    app.history.loadInitial(rd);
    app.history.loadMembers(rd);
  },
  "expire-typing": typingExpiry,
  "show-error": (effect) => showError(effect.error),
});

function onFrame(frame) {
  app.profileView.notePerson((frame.message && frame.message.sender) || frame.user);
  runEffects(reduce(state, frame));
}

// --- rendering ------------------------------------------------------------------
registerRenderer("rooms", () => {
  renderRooms();
  renderWelcome(app);
});
registerRenderer("header", renderHeader);
registerRenderer("messages", app.messageList.render);
registerRenderer("seen", app.messageList.renderSeen);
registerRenderer("typing", renderTyping);
registerRenderer("composer", app.composer.render);
registerRenderer("details", () => renderDetails(app));
registerRenderer("settings", () => app.settingsView.render());
registerRenderer("thread", () => app.thread.render());
registerRenderer("thread-typing", () => app.thread.renderTyping());
registerRenderer("thread-composer", () => app.thread.renderComposer());
registerRenderer("threads", () => app.threadsView.render());

function wire() {
  setUnauthenticatedHandler(() => {
    window.location.assign(`${config.urls.login}?next=${encodeURIComponent(window.location.pathname + window.location.hash)}`);
  });
  $("#me-name").textContent = displayName(state.me);
  $("#room-filter").addEventListener("change", (event) => {
    state.filter = event.target.value;
    invalidate("rooms");
  });
  $("#new-chat").addEventListener("click", () => newChatDialog(app));
  $("#details-toggle").addEventListener("click", () => toggleDetails(app));
  $("#reconnect-now").addEventListener("click", () => app.socket.reconnectNow());
  $(".logout-form").addEventListener("submit", (event) => {
    // Logging out: a request answered 401 meanwhile must not start a second
    // navigation (to the login page) that cuts this one off.
    setUnauthenticatedHandler(() => {});
    app.composer.stopTyping();
    app.composer.forgetDrafts(); // a shared browser keeps nothing typed by this person
    app.socket.stop();
    // This browser's pushes are this person's: a shared browser must not keep
    // getting them after logout. Unsubscribed first (at most 3 s), then logged out.
    const form = event.currentTarget;
    if (form.dataset.pushDone) return;
    event.preventDefault();
    form.dataset.pushDone = "1";
    const timeout = new Promise((resolve) => setTimeout(resolve, 3000));
    Promise.race([app.push.disable().catch(() => {}), timeout]).finally(() => form.requestSubmit());
  });
  app.composer.wire();
  app.messageList.wire();
  app.search.wire();
  app.room.wire();
  app.connection.wire();
  app.settings.wire();
  app.notifier.wire();
  app.mentionsView.wire();
  app.settingsView.wire();
  app.profileView.wire();
  app.thread.wire();
  app.threadsView.wire();
  app.saved.wire();
  app.shortcuts.wire();
}

async function boot() {
  wire();
  try {
    await app.rooms.loadAll();
    state.roomsLoaded = true; // a welcome for someone in no room: only once we know
  } catch (error) {
    showError(error, "Could not load your rooms: ");
  }
  document.body.dataset.ready = "rooms";
  invalidate("rooms");
  app.settings.load();
  app.threadsView.loadTotals();
  app.push.register();
  const banner = createBanner(() => app.sync.everLive);
  app.socket = new ChatSocket(
    config.urls.socket,
    {
      onHello: (frame) => app.sync.hello(frame),
      onFrame,
      onStatus: (status, info) => {
        banner(status, info);
        app.connection.onStatus(status);
      },
      onAuthLost: app.connection.onAuthLost,
      onRefused: app.connection.onRefused,
    },
    app.wire.close,
  );
  app.socket.connect();
  app.room.route();
  invalidate("rooms");
}

boot();

// For debugging in the console (and the browser tests): what the page holds.
window.chatState = state;
