// A file card's icon and kind (static/chat/views/message.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { fileKind } from "../../../static/chat/views/message.js";

test("a file's kind in plain words, by its detected type", () => {
  assert.deepEqual(fileKind("application/pdf"), { icon: "📕", label: "PDF document" });
  assert.equal(fileKind("audio/mpeg").label, "Audio");
  assert.equal(fileKind("video/webm").label, "Video");
  assert.equal(fileKind("text/plain").label, "Text");
  assert.equal(fileKind("application/zip").label, "ZIP archive");
  assert.deepEqual(fileKind("application/x-unknown"), { icon: "📎", label: "File" });
  assert.deepEqual(fileKind(undefined), { icon: "📎", label: "File" });
});
