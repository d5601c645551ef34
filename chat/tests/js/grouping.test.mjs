// Day separators and grouping of the message list (static/chat/grouping.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { continuesGroup, dayLabel, localDay } from "../../../static/chat/grouping.js";

const at = (y, mo, d, h, mi = 0) => new Date(y, mo - 1, d, h, mi).toISOString();
const msg = (sender, created_at, rest = {}) => ({ sender: { id: sender }, created_at, message_type: "text", ...rest });

test("days are named Today, Yesterday, then by their date", () => {
  const now = new Date(2026, 10, 30, 9, 0);
  assert.equal(dayLabel(at(2026, 11, 30, 0, 1), now), "Today");
  assert.equal(dayLabel(at(2026, 11, 29, 23, 59), now), "Yesterday");
  assert.match(dayLabel(at(2026, 11, 20, 12), now), /20/);
  assert.doesNotMatch(dayLabel(at(2026, 11, 20, 12), now), /2026/);
  assert.match(dayLabel(at(2025, 12, 31, 12), now), /2025/);
  assert.equal(dayLabel(at(2026, 3, 1, 12), new Date(2026, 2, 2, 8)), "Yesterday"); // across a month
  assert.equal(localDay(at(2026, 1, 5, 23, 30)), "2026-01-05");
});

test("one sender's messages within five minutes are grouped; anything else starts a new group", () => {
  const first = msg("a", at(2026, 11, 30, 10, 0));
  assert.equal(continuesGroup(first, msg("a", at(2026, 11, 30, 10, 5))), true);
  assert.equal(continuesGroup(first, msg("a", at(2026, 11, 30, 10, 6))), false);
  assert.equal(continuesGroup(first, msg("b", at(2026, 11, 30, 10, 1))), false);
  assert.equal(continuesGroup(first, msg("a", at(2026, 11, 30, 10, 1), { message_type: "system" })), false);
  assert.equal(continuesGroup(msg("a", at(2026, 11, 30, 23, 58)), msg("a", at(2026, 12, 1, 0, 1))), false); // a new day
  assert.equal(continuesGroup(null, first), false);
  assert.equal(continuesGroup({ ...first, sender: null }, first), false);
});
