// Drafts per room in the browser's storage (static/chat/drafts.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { DRAFT_DAYS, Drafts } from "../../../static/chat/drafts.js";
import { FakeStorage } from "./helpers.mjs";


test("a draft is kept per user and room, and cleared when sent or emptied", () => {
  const storage = new FakeStorage();
  const alice = new Drafts(storage, "u-alice");
  alice.set("r1", "half a thought");
  alice.set("r2", "other room");
  assert.equal(new Drafts(storage, "u-alice").get("r1"), "half a thought"); // a reload
  assert.equal(new Drafts(storage, "u-bob").get("r1"), ""); // someone else on this browser
  alice.clear("r1");
  assert.equal(alice.get("r1"), "");
  alice.set("r2", "   ");
  assert.equal(alice.get("r2"), "");
  assert.equal(storage.items.size, 0);
});

test("an old draft is forgotten; broken or missing storage never throws", () => {
  const storage = new FakeStorage();
  let now = 0;
  const drafts = new Drafts(storage, "u", () => now);
  drafts.set("r", "old");
  now = (DRAFT_DAYS + 1) * 86400000;
  assert.equal(drafts.get("r"), "");
  assert.equal(storage.items.size, 0);
  storage.setItem("chatsite:draft:u:r", "{not json");
  assert.equal(drafts.get("r"), "");
  const none = new Drafts(null, "u");
  none.set("r", "x");
  assert.equal(none.get("r"), "");
  const full = new Drafts({ getItem: () => null, setItem: () => { throw new Error("QuotaExceededError"); }, removeItem() {} }, "u");
  full.set("r", "x");
  assert.equal(full.get("r"), "");
});

test("logging out forgets this user's drafts, not someone else's", () => {
  const storage = new FakeStorage();
  const alice = new Drafts(storage, "u-alice");
  alice.set("r1", "one");
  alice.set("r2", "two");
  new Drafts(storage, "u-bob").set("r1", "bob's");
  storage.setItem("unrelated", "x");
  alice.clearAll();
  assert.equal(alice.get("r1"), "");
  assert.equal(alice.get("r2"), "");
  assert.equal(new Drafts(storage, "u-bob").get("r1"), "bob's");
  assert.equal(storage.getItem("unrelated"), "x");
});
