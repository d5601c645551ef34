// In-browser notifications, the pure part (static/chat/notify.js): whether a
// message notifies, what the notification says, and the one tab that shows
// it (Web Locks and a localStorage marker, both faked here).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { MARKER_PREFIX, MARKER_TTL, claimNotification, notificationContent, pruneMarkers, shouldNotify } from "../../../static/chat/notify.js";
import { base64UrlToBytes } from "../../../static/chat/push.js";
import { FakeStorage, ME, OTHER_ROOM, ROOM, message } from "./helpers.mjs";

const NOW = Date.UTC(2026, 0, 1, 12, 1, 0);
const group = (rest = {}) => ({ id: ROOM, name: "Lobby", room_type: "group", notify_level: "mentions", notifications_muted: false, ...rest });
const mentioning = (rest = {}) => message(4, { mentions: [{ kind: "user", user_id: ME.id }], ...rest });
const ON = { desktop_enabled: true, sound_enabled: true };

function decide({ msg = mentioning(), room = group(), settings = ON, currentId = OTHER_ROOM, hidden = false, blocked = null } = {}) {
  return shouldNotify({ message: msg, room, meId: ME.id, settings, currentId, hidden, blocked, now: NOW });
}

describe("whether a message notifies", () => {
  test("a mention of me while another room is open, or while the tab is hidden", () => {
    assert.equal(decide(), true);
    assert.equal(decide({ currentId: ROOM, hidden: true }), true);
  });

  test("not while I am looking at that room", () => {
    assert.equal(decide({ currentId: ROOM, hidden: false }), false);
  });

  test("not with desktop notifications off, nor for my own message or a system line", () => {
    assert.equal(decide({ settings: { desktop_enabled: false } }), false);
    assert.equal(decide({ settings: null }), false);
    assert.equal(decide({ msg: mentioning({ sender: ME }) }), false);
    assert.equal(decide({ msg: mentioning({ sender: null, message_type: "system" }) }), false);
  });

  test("not in a muted room, nor at level nothing", () => {
    assert.equal(decide({ room: group({ notifications_muted: true }) }), false);
    assert.equal(decide({ room: group({ notify_level: "nothing" }) }), false);
    assert.equal(decide({ room: group({ room_type: "direct", notify_level: "nothing" }) }), false);
  });

  test("a plain message: in a direct room, or at level all; not at level mentions", () => {
    const plain = message(4);
    assert.equal(decide({ msg: plain }), false);
    assert.equal(decide({ msg: plain, room: group({ notify_level: "all" }) }), true);
    assert.equal(decide({ msg: plain, room: group({ room_type: "direct", notify_level: undefined }) }), true);
    assert.equal(decide({ msg: message(4, { mentions: [{ kind: "room", user_id: null }] }) }), true);
  });

  test("never from someone I blocked: not a mention, not @room, not in a direct room", () => {
    const sender = mentioning().sender;
    const blocked = new Set([sender.id]);
    assert.equal(decide({ blocked }), false);
    assert.equal(decide({ blocked, msg: message(4, { mentions: [{ kind: "room", user_id: null }] }) }), false);
    assert.equal(decide({ blocked, msg: message(4), room: group({ room_type: "direct", notify_level: undefined }) }), false);
    assert.equal(decide({ blocked: new Set(["someone else"]) }), true);
  });

  test("not for a message long past (a sync after the laptop slept)", () => {
    assert.equal(decide({ msg: mentioning({ created_at: new Date(NOW - 11 * 60 * 1000).toISOString() }) }), false);
  });
});

describe("what it says", () => {
  test("who mentioned me where; the text; the message id as its tag", () => {
    const { title, options } = notificationContent({ message: mentioning({ content: "@me look" }), room: group(), roomName: "Lobby", senderName: "Bob", meId: ME.id, url: "/#room/x/m4" });
    assert.equal(title, "Bob mentioned you in Lobby");
    assert.deepEqual(options, { body: "@me look", tag: "m4", data: { room: ROOM, message: "m4", url: "/#room/x/m4" } });
  });

  test("a direct message is titled with its sender; level all with sender and room; long text is cut", () => {
    assert.equal(notificationContent({ message: message(4), room: group({ room_type: "direct" }), roomName: "Bob", senderName: "Bob", meId: ME.id }).title, "Bob");
    assert.equal(notificationContent({ message: message(4), room: group(), roomName: "Lobby", senderName: "Bob", meId: ME.id }).title, "Bob in Lobby");
    const long = notificationContent({ message: message(4, { content: "x".repeat(500) }), room: group(), roomName: "Lobby", senderName: "Bob", meId: ME.id });
    assert.equal(long.options.body.length, 180);
    const file = notificationContent({ message: message(4, { content: "", attachment: { name: "a.pdf" } }), room: group(), roomName: "Lobby", senderName: "Bob", meId: ME.id });
    assert.equal(file.options.body, "📎 a.pdf");
  });
});

// --- one tab shows it -------------------------------------------------------------

// navigator.locks of one origin: a lock is held while its callback runs;
// ifAvailable hands null to the callback when another holds it.
class FakeLocks {
  constructor() {
    this.held = new Set();
    this.requests = [];
  }
  async request(name, options, callback) {
    this.requests.push({ name, options });
    if (this.held.has(name)) {
      assert.equal(options.ifAvailable, true, "a claim never waits for a lock");
      return callback(null);
    }
    this.held.add(name);
    try {
      // The claim's work happens a tick later, as a real lock is granted asynchronously.
      await null;
      return await callback({ name, mode: "exclusive" });
    } finally {
      this.held.delete(name);
    }
  }
}

describe("exactly one tab claims a message", () => {
  test("three tabs at once (one origin: one lock manager, one storage): one claim", async () => {
    const locks = new FakeLocks();
    const storage = new FakeStorage();
    const tabs = await Promise.all([1, 2, 3].map(() => claimNotification("m4", { locks, storage, now: NOW })));
    assert.deepEqual(tabs.filter(Boolean).length, 1);
    assert.equal(storage.getItem(`${MARKER_PREFIX}m4`), String(NOW));
    assert.deepEqual(locks.requests.map((r) => r.name), ["chatsite-notify-m4", "chatsite-notify-m4", "chatsite-notify-m4"]);
  });

  test("a tab that comes after the lock is released sees the marker", async () => {
    const locks = new FakeLocks();
    const storage = new FakeStorage();
    assert.equal(await claimNotification("m4", { locks, storage, now: NOW }), true);
    assert.equal(await claimNotification("m4", { locks, storage, now: NOW }), false);
    assert.equal(await claimNotification("m5", { locks, storage, now: NOW }), true);
  });

  test("while another tab holds the lock, the marker is not even looked at", async () => {
    const locks = new FakeLocks();
    const storage = new FakeStorage();
    locks.held.add("chatsite-notify-m4");
    assert.equal(await claimNotification("m4", { locks, storage, now: NOW }), false);
    assert.equal(storage.length, 0);
  });

  test("without Web Locks, the marker alone decides", async () => {
    const storage = new FakeStorage();
    assert.equal(await claimNotification("m4", { locks: null, storage, now: NOW }), true);
    assert.equal(await claimNotification("m4", { locks: null, storage, now: NOW }), false);
  });

  test("a storage that throws (private mode): the lock alone decides", async () => {
    const broken = { getItem: () => { throw new Error("SecurityError"); }, setItem: () => { throw new Error("QuotaExceeded"); } };
    assert.equal(await claimNotification("m4", { locks: new FakeLocks(), storage: broken, now: NOW }), true);
    assert.equal(await claimNotification("m4", { locks: null, storage: null, now: NOW }), true);
  });

  test("old markers are pruned, other keys and recent markers kept", () => {
    const storage = new FakeStorage();
    storage.setItem(`${MARKER_PREFIX}old`, String(NOW - MARKER_TTL - 1));
    storage.setItem(`${MARKER_PREFIX}new`, String(NOW - 1000));
    storage.setItem(`${MARKER_PREFIX}junk`, "not a time");
    storage.setItem("draft", "keep me");
    assert.equal(pruneMarkers(storage, NOW), 2);
    assert.deepEqual([...storage.items.keys()].sort(), [`${MARKER_PREFIX}new`, "draft"]);
  });
});

test("the VAPID key (base64url, unpadded) becomes the bytes pushManager.subscribe takes", () => {
  const bytes = Uint8Array.from({ length: 65 }, (_, i) => (i * 37 + 4) % 256);
  const key = Buffer.from(bytes).toString("base64url");
  assert.ok(!key.includes("=") && !key.includes("+"));
  assert.deepEqual(base64UrlToBytes(key), bytes);
});
