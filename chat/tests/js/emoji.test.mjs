// Emoji (static/chat/emoji.js): the picker's data as an index, searching it,
// the recently used, and the `:shortcode:` the composer completes or replaces.
// The data is the committed static/chat/emoji.json.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import {
  EmojiRecents,
  RECENT_LIMIT,
  SKIN_TONES,
  emojiChar,
  emojiIndex,
  emojiName,
  insertAtCaret,
  insertEmoji,
  replaceShortcodes,
  saveTone,
  savedTone,
  searchEmoji,
  shortcodeQuery,
  typedShortcode,
  withTone,
} from "../../../static/chat/emoji.js";
import { PROJECT } from "./helpers.mjs";

const INDEX = emojiIndex(JSON.parse(readFileSync(`${PROJECT}static/chat/emoji.json`, "utf8")));
const chars = (items) => items.map((item) => item.char);

class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
}

describe("the index", () => {
  test("groups in order, each emoji with its name and shortcodes", () => {
    assert.equal(INDEX.groups[0].name, "Smileys & Emotion");
    const thumbs = INDEX.byChar.get("👍");
    assert.equal(thumbs.name, "thumbs up");
    assert.equal(thumbs.group, "People & Body");
    assert.equal(INDEX.byCode.get("+1"), thumbs);
    assert.equal(INDEX.byCode.get("thumbsup"), thumbs);
    assert.equal(INDEX.byCode.get("tada").char, "🎉");
    assert.equal(INDEX.all.length, INDEX.groups.reduce((sum, group) => sum + group.emoji.length, 0));
  });

  test("empty data gives an empty index", () => {
    assert.equal(emojiIndex(null).all.length, 0);
    assert.deepEqual(searchEmoji(emojiIndex({ groups: [] }), "smile"), []);
  });
});

describe("searching", () => {
  test("a shortcode that is the query comes first, then those that start with it", () => {
    assert.equal(chars(searchEmoji(INDEX, "tada"))[0], "🎉");
    assert.deepEqual(chars(searchEmoji(INDEX, "thumbs", { limit: 2 })), ["👍", "👎"]);
    assert.equal(chars(searchEmoji(INDEX, "+1"))[0], "👍");
    assert.equal(chars(searchEmoji(INDEX, "-1"))[0], "👎");
    assert.equal(chars(searchEmoji(INDEX, "heart"))[0], "❤️");
  });

  test("every word of the query starts a word of the name, in any case, with or without colons", () => {
    assert.ok(chars(searchEmoji(INDEX, "Face Tears")).includes("😂"));
    assert.equal(chars(searchEmoji(INDEX, ":party pop:"))[0], "🎉");
    assert.ok(chars(searchEmoji(INDEX, "flag fr")).includes("🇫🇷"));
    assert.deepEqual(searchEmoji(INDEX, "zzqx"), []);
    assert.deepEqual(searchEmoji(INDEX, "  "), []);
  });

  test("the middle of a word matches only from three characters, after the prefixes", () => {
    const found = chars(searchEmoji(INDEX, "ok"));
    assert.ok(found.includes("👌"));
    assert.ok(!found.includes("💔"), "broken heart does not start with ok");
    const lith = chars(searchEmoji(INDEX, "thu"));
    assert.ok(lith.includes("🇱🇹"), "lithuania contains thu");
    assert.ok(lith.indexOf("👍") < lith.indexOf("🇱🇹"));
  });

  test("among equals the recently used come first", () => {
    const plain = chars(searchEmoji(INDEX, "thumbs"));
    assert.equal(plain[0], "👍");
    assert.equal(chars(searchEmoji(INDEX, "thumbs", { recent: ["👎"] }))[0], "👎");
    // …but never above a better match.
    assert.equal(chars(searchEmoji(INDEX, "tada", { recent: ["👍"] }))[0], "🎉");
  });

  test("limit", () => {
    assert.equal(searchEmoji(INDEX, "face", { limit: 5 }).length, 5);
  });
});

describe("the :shortcode: at the caret", () => {
  test("a colon at the start or after a space, with two characters or more", () => {
    assert.deepEqual(shortcodeQuery(":th"), { start: 0, query: "th" });
    assert.deepEqual(shortcodeQuery("well :thu"), { start: 5, query: "thu" });
    assert.deepEqual(shortcodeQuery("(:+1"), { start: 1, query: "+1" });
    assert.deepEqual(shortcodeQuery("ok :-1"), { start: 3, query: "-1" });
    assert.deepEqual(shortcodeQuery("say :tada now", 9), { start: 4, query: "tada" });
  });

  test("not after a letter (links, times), not with one character, not smileys, not in code", () => {
    assert.equal(shortcodeQuery("see http://example"), null);
    assert.equal(shortcodeQuery("at 12:30"), null);
    assert.equal(shortcodeQuery("a:thu"), null);
    assert.equal(shortcodeQuery("hi :t"), null);
    assert.equal(shortcodeQuery("hi :-)"), null);
    assert.equal(shortcodeQuery("hi :-P"), null);
    assert.equal(shortcodeQuery("run `x :thu"), null);
    assert.equal(shortcodeQuery("run `x` :thu").query, "thu");
    assert.equal(shortcodeQuery("```\ncode :thu"), null);
    assert.equal(shortcodeQuery("hi :thu "), null);
  });

  test("picking puts the emoji and a space in place of the :word", () => {
    assert.deepEqual(insertEmoji("well :thu", 5, 9, "👍"), { text: "well 👍 ", caret: 8 });
    assert.deepEqual(insertEmoji("well :thu and", 5, 9, "👍"), { text: "well 👍 and", caret: 8 });
    assert.deepEqual(insertEmoji(":ta", 0, 3, "🎉"), { text: "🎉 ", caret: 3 });
  });

  test("a known shortcode closed at the caret is replaced", () => {
    assert.deepEqual(typedShortcode("nice :tada:", 11, INDEX.byCode).text, "nice 🎉");
    const done = typedShortcode("nice :+1: after", 9, INDEX.byCode);
    assert.equal(done.text, "nice 👍 after");
    assert.equal(done.caret, 7);
    assert.equal(done.emoji.char, "👍");
    assert.equal(typedShortcode(":THUMBS_UP:", 11, INDEX.byCode).text, "👍");
  });

  test("an unknown one, one after a letter, or one in code stays", () => {
    assert.equal(typedShortcode("nice :nope:", 11, INDEX.byCode), null);
    assert.equal(typedShortcode("a:tada:", 7, INDEX.byCode), null);
    assert.equal(typedShortcode("`x :tada:", 9, INDEX.byCode), null);
    assert.equal(typedShortcode("nice :tada", 10, INDEX.byCode), null);
    assert.equal(typedShortcode("nice :tada:", 11, null), null);
  });

  test("a text to send gets its known shortcodes replaced, outside code", () => {
    assert.equal(replaceShortcodes(":+1: ok :tada:, `:tada:` a:tada: :nope: (:heart:)", INDEX.byCode), "👍 ok 🎉, `:tada:` a:tada: :nope: (❤️)");
    assert.equal(replaceShortcodes(":tada::tada: x:+1::tada:", INDEX.byCode), "🎉🎉 x:+1::tada:");
    assert.equal(replaceShortcodes("no colons", INDEX.byCode), "no colons");
    assert.equal(replaceShortcodes(":tada:", null), ":tada:");
  });

  test("the picker's emoji replaces the selection", () => {
    assert.deepEqual(insertAtCaret("hello world", 6, 11, "🌍"), { text: "hello 🌍", caret: 8 });
    assert.deepEqual(insertAtCaret("hi", 2, 2, "👋"), { text: "hi👋", caret: 4 });
  });
});

describe("skin tones", () => {
  test("the modifier goes after the first code point, in place of a U+FE0F there", () => {
    assert.equal(withTone("👍", 3), "👍🏽");
    assert.equal(withTone("☝️", 1), "☝🏻");
    assert.equal(withTone("🏃‍♂️", 5), "🏃🏿‍♂️");
    assert.equal(withTone("👍", 0), "👍");
    assert.equal(SKIN_TONES.length, 6);
  });

  test("only the emoji that take one get it; the name says which", () => {
    const thumbs = INDEX.byChar.get("👍");
    assert.equal(thumbs.tones, true);
    assert.equal(INDEX.byChar.get("😀").tones, false);
    assert.equal(emojiChar(thumbs, 2), "👍🏼");
    assert.equal(emojiChar(INDEX.byChar.get("😀"), 2), "😀");
    assert.equal(INDEX.byChar.get("👍🏿"), thumbs);
    assert.equal(emojiName(thumbs, "👍🏿"), "thumbs up: dark skin tone");
    assert.equal(emojiName(thumbs), "thumbs up");
  });

  test("shortcodes typed or sent take the tone too; a toned recent one counts for its emoji", () => {
    assert.equal(typedShortcode("ok :+1:", 7, INDEX.byCode, 4).text, "ok 👍🏾");
    assert.equal(typedShortcode("ok :+1:", 7, INDEX.byCode, 4).char, "👍🏾");
    assert.equal(typedShortcode("ok :tada:", 9, INDEX.byCode, 4).text, "ok 🎉");
    assert.equal(replaceShortcodes(":wave: :tada:", INDEX.byCode, 1), "👋🏻 🎉");
    assert.equal(chars(searchEmoji(INDEX, "thumbs", { recent: ["👎🏽"] }))[0], "👎");
  });

  test("the chosen tone is kept per person", () => {
    const storage = new MemoryStorage();
    assert.equal(savedTone(storage, "u1"), 0);
    saveTone(storage, "u1", 3);
    assert.equal(savedTone(storage, "u1"), 3);
    assert.equal(savedTone(storage, "u2"), 0);
    storage.setItem("chatsite:emoji-tone:u2", "9");
    assert.equal(savedTone(storage, "u2"), 0);
    assert.equal(savedTone(null, "u1"), 0);
  });
});

describe("recently used", () => {
  test("latest first, no repeats, bounded, per person, kept in the storage", () => {
    const storage = new MemoryStorage();
    const recents = new EmojiRecents(storage, "u1");
    assert.deepEqual(recents.list(), []);
    recents.add("👍");
    recents.add("🎉");
    assert.deepEqual(recents.add("👍"), ["👍", "🎉"]);
    assert.deepEqual(new EmojiRecents(storage, "u1").list(), ["👍", "🎉"]);
    assert.deepEqual(new EmojiRecents(storage, "u2").list(), []);
    for (let i = 0; i < RECENT_LIMIT + 5; i += 1) recents.add(String.fromCodePoint(0x1f600 + i));
    const list = recents.list();
    assert.equal(list.length, RECENT_LIMIT);
    assert.equal(list[0], String.fromCodePoint(0x1f600 + RECENT_LIMIT + 4));
  });

  test("without a storage, or with a broken or refusing one, kept in memory", () => {
    const none = new EmojiRecents(null, "u1");
    none.add("👍");
    assert.deepEqual(none.list(), ["👍"]);
    const broken = new MemoryStorage();
    broken.setItem("chatsite:emoji-recent:u1", "{not json");
    assert.deepEqual(new EmojiRecents(broken, "u1").list(), []);
    const full = { getItem: () => null, setItem: () => { throw new Error("QuotaExceededError"); } };
    const refused = new EmojiRecents(full, "u1");
    refused.add("🎉");
    assert.deepEqual(refused.list(), ["🎉"]);
  });
});
