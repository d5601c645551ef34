// Times and days in the time zone chosen in the profile (static/chat/zone.js, grouping.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { dayLabel, localDay } from "../../../static/chat/grouping.js";
import { dayBefore, dayOf, formatter, setTimeZone, timeZone, validTimeZone } from "../../../static/chat/zone.js";

test("days and times follow the chosen zone, and the browser's without one", () => {
  const lateInLondon = "2025-01-15T23:30:00Z";
  try {
    setTimeZone("Asia/Tokyo");
    assert.equal(timeZone(), "Asia/Tokyo");
    assert.equal(dayOf(lateInLondon), "2025-01-16");
    assert.equal(localDay(lateInLondon), "2025-01-16");
    assert.equal(formatter({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }, "en-GB").format(new Date(lateInLondon)), "08:30");
    assert.equal(dayLabel(lateInLondon, new Date("2025-01-16T05:00:00Z")), "Today"); // 14:00 in Tokyo
    assert.equal(dayLabel(lateInLondon, new Date("2025-01-16T20:00:00Z")), "Yesterday"); // the 17th in Tokyo
    setTimeZone("America/Los_Angeles");
    assert.equal(dayOf(lateInLondon), "2025-01-15");
    setTimeZone("Not/AZone"); // unknown: the browser's
    assert.equal(timeZone(), undefined);
  } finally {
    setTimeZone("");
  }
});

test("zone names are checked and the day before crosses months and years", () => {
  assert.equal(validTimeZone("Europe/Paris"), true);
  assert.equal(validTimeZone("Mars/Olympus_Mons"), false);
  assert.equal(dayBefore("2025-03-01"), "2025-02-28");
  assert.equal(dayBefore("2025-01-01"), "2024-12-31");
});
