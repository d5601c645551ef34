// Mentions in text (static/chat/mentions.js): what the composer completes
// after `@`, the suggestions, the insertion, and which tokens of a message
// are drawn as mentions.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { insertMention, mentionCandidates, mentionQuery, mentionSegments, mentionsUser } from "../../../static/chat/mentions.js";
import { BOB, CAROL, ME, member } from "./helpers.mjs";

const ZOE = { id: "u-zoe", username: "zoe", display_name: "Zoë Brown" };
const BOBBY = { id: "u-bobby", username: "rob", display_name: "Bobby Tables" };
const GONE = { id: "u-gone", username: "bobgone", display_name: "Gone" };
const MEMBERS = [member(ME), member(BOB), member(CAROL), member(ZOE), member(BOBBY), member(GONE, { is_active: false })];
const usernames = (items) => items.map((item) => item.username);

describe("the query at the caret", () => {
  test("an @ at the start or after a space, up to the caret", () => {
    assert.deepEqual(mentionQuery("@"), { start: 0, query: "" });
    assert.deepEqual(mentionQuery("hi @bo"), { start: 3, query: "bo" });
    assert.deepEqual(mentionQuery("hi (@bo"), { start: 4, query: "bo" });
    assert.deepEqual(mentionQuery("hi @bob and", 7), { start: 3, query: "bob" });
  });

  test("not inside a word, an email address or a link, nor after a space", () => {
    assert.equal(mentionQuery("mail me@bob"), null);
    assert.equal(mentionQuery("see https://x.example/@bob"), null);
    assert.equal(mentionQuery("hi @bob "), null);
    assert.equal(mentionQuery("no at sign"), null);
  });
});

describe("the suggestions", () => {
  test("the other active members whose username starts with it come first, then display names", () => {
    const found = mentionCandidates({ members: MEMBERS, me: ME, query: "bo" });
    assert.deepEqual(usernames(found), ["bob", "rob"]);
    assert.deepEqual(found[0], { key: `user:${BOB.id}`, username: "bob", label: "Bob", detail: "@bob", special: false });
  });

  test("any word of the display name, without accents or case; then what merely contains it", () => {
    assert.deepEqual(usernames(mentionCandidates({ members: MEMBERS, me: ME, query: "BROWN" })), ["zoe"]);
    assert.deepEqual(usernames(mentionCandidates({ members: MEMBERS, me: ME, query: "zoe" })), ["zoe"]);
    assert.deepEqual(usernames(mentionCandidates({ members: MEMBERS, me: ME, query: "arol" })), ["carol"]);
  });

  test("not me, not someone who left", () => {
    const all = usernames(mentionCandidates({ members: MEMBERS, me: ME, query: "" }));
    assert.equal(all.includes("me"), false);
    assert.equal(all.includes("bobgone"), false);
  });

  test("@here for everyone; @room and @all only for owners and admins, never in a direct room", () => {
    const plain = usernames(mentionCandidates({ members: [], me: ME, query: "" }));
    assert.deepEqual(plain, ["here"]);
    const admin = usernames(mentionCandidates({ members: [], me: ME, query: "", canMentionRoom: true }));
    assert.deepEqual(admin, ["here", "room", "all"]);
    const direct = usernames(mentionCandidates({ members: [], me: ME, query: "", canMentionRoom: true, roomType: "direct" }));
    assert.deepEqual(direct, ["here"]);
    assert.deepEqual(usernames(mentionCandidates({ members: [], me: ME, query: "ro", canMentionRoom: true })), ["room"]);
  });

  test("at most `limit`", () => {
    const many = Array.from({ length: 20 }, (_, i) => member({ id: `u${i}`, username: `user${i}`, display_name: "" }));
    assert.equal(mentionCandidates({ members: many, me: ME, query: "user" }).length, 8);
  });
});

describe("inserting", () => {
  test("replaces the @query with @username and a space; the caret after it", () => {
    assert.deepEqual(insertMention("hi @bo", 3, 6, "bob"), { text: "hi @bob ", caret: 8 });
  });

  test("in the middle of the text, the rest of the word typed is replaced too", () => {
    assert.deepEqual(insertMention("hi @bo there", 3, 6, "bob"), { text: "hi @bob there", caret: 8 });
    assert.deepEqual(insertMention("hi @boXX there", 3, 6, "bob"), { text: "hi @bob there", caret: 8 });
  });
});

describe("a message's mentions", () => {
  test("mentions me: a user or here mention with my id, or @room", () => {
    assert.equal(mentionsUser({ mentions: [{ kind: "user", user_id: ME.id }] }, ME.id), true);
    assert.equal(mentionsUser({ mentions: [{ kind: "here", user_id: ME.id }] }, ME.id), true);
    assert.equal(mentionsUser({ mentions: [{ kind: "room", user_id: null }] }, ME.id), true);
    assert.equal(mentionsUser({ mentions: [{ kind: "user", user_id: BOB.id }] }, ME.id), false);
    assert.equal(mentionsUser({ mentions: [] }, ME.id), false);
    assert.equal(mentionsUser({}, ME.id), false);
  });

  const options = (mentions) => ({
    mentions,
    meId: ME.id,
    meUsername: ME.username,
    usernames: new Map([
      ["me", ME.id],
      ["bob", BOB.id],
      ["carol", CAROL.id],
    ]),
  });

  test("tokens the server resolved are mentions: mine highlighted, others styled", () => {
    const parts = mentionSegments("hi @me and @bob, not @carol.", options([
      { kind: "user", user_id: ME.id },
      { kind: "user", user_id: BOB.id },
    ]));
    assert.deepEqual(parts, [
      { text: "hi " },
      { text: "@me", mention: "me" },
      { text: " and " },
      { text: "@bob", mention: "other" },
      { text: ", not @carol." },
    ]);
  });

  test("@room and @here; a name nobody was resolved to stays text; case does not matter", () => {
    assert.deepEqual(mentionSegments("@all look", options([{ kind: "room", user_id: null }])), [{ text: "@all", mention: "me" }, { text: " look" }]);
    assert.deepEqual(mentionSegments("@here ok", options([{ kind: "here", user_id: BOB.id }])), [{ text: "@here", mention: "other" }, { text: " ok" }]);
    assert.deepEqual(mentionSegments("@Me!", options([{ kind: "user", user_id: ME.id }])), [{ text: "@Me", mention: "me" }, { text: "!" }]);
    assert.deepEqual(mentionSegments("@nobody hi", options([{ kind: "user", user_id: ME.id }])), [{ text: "@nobody hi" }]);
    assert.deepEqual(mentionSegments("mail me@me.example", options([{ kind: "user", user_id: ME.id }])), [{ text: "mail me@me.example" }]);
  });

  test("the text is only ever cut, never changed", () => {
    const text = "<b>@me</b> & @bob <script>";
    const parts = mentionSegments(text, options([{ kind: "user", user_id: ME.id }, { kind: "user", user_id: BOB.id }]));
    assert.equal(parts.map((part) => part.text).join(""), text);
  });
});
