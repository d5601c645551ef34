// The page's second check of the server's formatted HTML (static/chat/dom.js):
// which link targets it keeps. The rebuilding itself needs a DOM and is tested
// in the browser (chat/tests/test_ui_formatting.py).

import assert from "node:assert/strict";
import { test } from "node:test";

import { safeHref } from "../../../static/chat/dom.js";

test("links keep only http, https and mailto targets", () => {
  assert.equal(safeHref("https://example.com/a?b=1"), "https://example.com/a?b=1");
  assert.equal(safeHref("http://example.com"), "http://example.com/");
  assert.equal(safeHref("mailto:team@example.com"), "mailto:team@example.com");
  for (const bad of ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "vbscript:x", "/admin/", "//evil.example/", "", null, undefined, "file:///etc/passwd"]) {
    assert.equal(safeHref(bad), null, String(bad));
  }
});
