// The search language in the page: the words of a query, marking them in a
// result (prefixes, as the server matches them) and grouping results by room.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { groupByRoom, highlightPieces, queryWords, wordMatches } from "../../../static/chat/searchtext.js";

describe("search text", () => {
  test("filters are not words; words are folded and distinct", () => {
    assert.deepEqual(queryWords('Check from:bob in:"launch" has:file LOGS check before:2026-11-30'), ["check", "logs"]);
    assert.deepEqual(queryWords("ticket:1234"), ["ticket", "1234"]);
    assert.deepEqual(queryWords("from: alone"), ["from", "alone"]);
    assert.deepEqual(queryWords(""), []);
  });

  test("a word matches the words it starts, within 3 to 12 characters; else whole words", () => {
    assert.ok(wordMatches("Checklist", "check"));
    assert.ok(!wordMatches("recheck", "check"));
    assert.ok(wordMatches("go", "go") && !wordMatches("gone", "go"));
    assert.ok(wordMatches("internationalization", "internationalization"));
    assert.ok(!wordMatches("internationalizations", "internationalization"));
  });

  test("the pieces of a text mark each matching word and keep every character", () => {
    const pieces = highlightPieces("The checklist, then check-in!", ["check"]);
    assert.deepEqual(pieces, [
      { text: "The ", hit: false },
      { text: "checklist", hit: true },
      { text: ", then ", hit: false },
      { text: "check", hit: true },
      { text: "-in!", hit: false },
    ]);
    assert.equal(pieces.map((p) => p.text).join(""), "The checklist, then check-in!");
    assert.deepEqual(highlightPieces("<b>x</b>", []), [{ text: "<b>x</b>", hit: false }]);
  });

  test("results are grouped by room, the room of the newest first", () => {
    const groups = groupByRoom([
      { id: "1", room: "a" },
      { id: "2", room: "b" },
      { id: "3", room: "a" },
    ]);
    assert.deepEqual(groups.map((g) => [g.roomId, g.messages.map((m) => m.id)]), [["a", ["1", "3"]], ["b", ["2"]]]);
  });
});
