// Keyboard shortcuts and the quick switcher's matching (static/chat/shortcuts.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { matchScore, neighbourRoom, rankMatches, shortcutFor } from "../../../static/chat/shortcuts.js";

const key = (k, mods = {}) => ({ key: k, ctrlKey: false, metaKey: false, altKey: false, shiftKey: false, ...mods });

test("keys map to what they do", () => {
  assert.equal(shortcutFor(key("k", { ctrlKey: true })), "switcher");
  assert.equal(shortcutFor(key("k", { metaKey: true }), { typing: true }), "switcher");
  assert.equal(shortcutFor(key("F", { ctrlKey: true, shiftKey: true }), { typing: true }), "search");
  assert.equal(shortcutFor(key("f", { ctrlKey: true })), null); // the browser's find
  assert.equal(shortcutFor(key("ArrowUp", { altKey: true })), "previous");
  assert.equal(shortcutFor(key("ArrowDown", { altKey: true }), { typing: true }), "next");
  assert.equal(shortcutFor(key("ArrowUp", { altKey: true, shiftKey: true })), "previousUnread");
  assert.equal(shortcutFor(key("ArrowDown", { altKey: true, shiftKey: true })), "nextUnread");
  assert.equal(shortcutFor(key("?", { shiftKey: true })), "help");
  assert.equal(shortcutFor(key("?", { shiftKey: true }), { typing: true }), null); // a question mark typed
  assert.equal(shortcutFor(key("k")), null);
  assert.equal(shortcutFor(key("ArrowUp")), null);
});

test("the room above or below, or the nearest unread one; none past the ends", () => {
  const ids = ["a", "b", "c", "d"];
  assert.equal(neighbourRoom(ids, "b", 1), "c");
  assert.equal(neighbourRoom(ids, "b", -1), "a");
  assert.equal(neighbourRoom(ids, "a", -1), null);
  assert.equal(neighbourRoom(ids, "d", 1), null);
  assert.equal(neighbourRoom(ids, null, 1), "a");
  assert.equal(neighbourRoom(ids, null, -1), "d");
  const unread = new Set(["a", "d"]);
  assert.equal(neighbourRoom(ids, "b", 1, (id) => unread.has(id)), "d");
  assert.equal(neighbourRoom(ids, "b", -1, (id) => unread.has(id)), "a");
  assert.equal(neighbourRoom(ids, "d", 1, (id) => unread.has(id)), null);
});

test("matching prefers whole names, then starts, then word starts, then anywhere", () => {
  assert.equal(matchScore("design", ["Design"]), 3);
  assert.equal(matchScore("des", ["Design"]), 2);
  assert.equal(matchScore("rev", ["Design review"]), 1);
  assert.equal(matchScore("sig", ["Design"]), 0.5);
  assert.equal(matchScore("zz", ["Design"]), 0);
  assert.equal(matchScore("jose", ["José Álvarez"]), 2); // accents folded
  const entries = [{ names: ["Sales — General"], id: 1 }, { names: ["General"], id: 2 }, { names: ["Bob", "bob"], id: 3 }, { names: ["Generators"], id: 4 }];
  assert.deepEqual(rankMatches(entries, "gen").map((e) => e.id), [2, 4, 1]);
  assert.deepEqual(rankMatches(entries, "").map((e) => e.id), [1, 2, 3, 4]);
  assert.deepEqual(rankMatches(entries, "", 2).map((e) => e.id), [1, 2]);
});
