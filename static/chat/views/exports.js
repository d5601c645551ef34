// An export control (a room's export in its details, my own data in the
// profile): start it, follow its progress while the worker makes the ZIP
// (GET /api/exports/{id}/ every second), then download it. docs/data.md.

import { describeError, get, post } from "../api.js";
import { fileSize, fullTime, h } from "../dom.js";

const POLL = 1000;
const FILES_BUDGET = 100 * 1024 * 1024;

// `path`: where to POST (rooms/<id>/export/ or exports/me/); `what`: words for the button.
export function exportControl({ path, what, filesLabel, idPrefix }) {
  const files = h("input", { type: "checkbox", id: `${idPrefix}-files` });
  const button = h("button", { type: "button", class: "btn small", text: `Export ${what}` });
  const bar = h("progress", { max: "100", value: "0", hidden: true, "aria-label": `Export of ${what}` });
  const status = h("p", { class: "muted export-status", role: "status", "aria-live": "polite" });
  const link = h("p", { class: "export-download" });
  let timer = null;

  function show(job) {
    bar.hidden = job.state !== "pending" && job.state !== "running";
    bar.value = job.progress;
    link.replaceChildren();
    if (job.state === "done" && job.download) {
      status.textContent = `Ready${job.expires_at ? `: it can be downloaded until ${fullTime(job.expires_at)}` : ""}.`;
      link.append(h("a", { href: job.download, download: job.name || "", class: "btn small primary", text: `Download ${job.name || "the export"}${job.size ? ` (${fileSize(job.size)})` : ""}` }));
    } else if (job.state === "failed") {
      status.textContent = job.error || "The export failed; try again.";
    } else if (job.state === "cancelled") {
      status.textContent = "The export was cancelled.";
    } else {
      status.textContent = job.state === "pending" ? "Waiting for the worker…" : `Exporting… ${job.progress}%`;
    }
    button.disabled = job.state === "pending" || job.state === "running";
  }

  async function follow(id) {
    clearTimeout(timer);
    if (!button.isConnected) return; // the panel closed: stop asking
    try {
      const job = await get(`exports/${id}/`);
      show(job);
      if (job.state === "pending" || job.state === "running") timer = setTimeout(() => follow(id), POLL);
    } catch (error) {
      status.textContent = `Could not follow the export: ${describeError(error)}`;
      timer = setTimeout(() => follow(id), POLL * 3);
    }
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const job = await post(path, { attachments_bytes: files.checked ? FILES_BUDGET : 0 });
      show(job);
      timer = setTimeout(() => follow(job.id), POLL);
    } catch (error) {
      button.disabled = false;
      status.textContent = `Not started: ${describeError(error)}`;
    }
  });

  return h(
    "div",
    { class: "stack export-control" },
    h("label", { class: "check" }, files, filesLabel),
    h("div", { class: "row" }, button),
    bar,
    status,
    link,
  );
}
