// Toasts, the modal dialog, and batched re-rendering.

import { describeError } from "./api.js";
import { $, h } from "./dom.js";

// action: {label, run} — one button (Undo…) that runs it and closes the toast.
export function toast(message, { kind = "info", timeout, action = null } = {}) {
  const box = $("#toasts");
  const close = () => item.remove();
  const item = h(
    "div",
    { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("p", { text: message }),
    action
      ? h("button", {
          type: "button",
          class: "btn small toast-action",
          text: action.label,
          onclick: () => {
            close();
            action.run();
          },
        })
      : null,
    h("button", { type: "button", class: "link", "aria-label": "Dismiss", text: "✕", onclick: close }),
  );
  box.append(item);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(close, timeout ?? (kind === "error" ? 9000 : 4000));
  return item;
}

export function showError(error, prefix = "") {
  return toast(`${prefix}${describeError(error)}`, { kind: "error" });
}

// --- dialog -------------------------------------------------------------
export function openDialog(title, ...body) {
  const dialog = $("#dialog");
  dialog.replaceChildren(
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: "dialog-title", text: title }),
      h("button", { type: "button", class: "btn small", "aria-label": "Close", text: "Close", onclick: () => closeDialog() }),
    ),
    h("div", { class: "dialog-body" }, body),
  );
  if (!dialog.open) dialog.showModal();
  const first = dialog.querySelector(".dialog-body input, .dialog-body select, .dialog-body textarea, .dialog-body button");
  if (first) first.focus();
  return dialog;
}

export function closeDialog() {
  const dialog = $("#dialog");
  if (dialog.open) dialog.close();
}

export function confirmDialog(question, confirmLabel = "OK", { danger = false } = {}) {
  return new Promise((resolve) => {
    const dialog = $("#dialog");
    let answered = false;
    const answer = (value) => {
      if (answered) return;
      answered = true;
      dialog.removeEventListener("close", onClose);
      closeDialog();
      resolve(value);
    };
    const onClose = () => answer(false);
    openDialog(
      "Please confirm",
      h("p", { text: question }),
      h(
        "div",
        { class: "row" },
        h("button", { type: "button", class: `btn ${danger ? "danger" : "primary"}`, text: confirmLabel, onclick: () => answer(true) }),
        h("button", { type: "button", class: "btn", text: "Cancel", onclick: () => answer(false) }),
      ),
    );
    dialog.addEventListener("close", onClose);
  });
}

// --- batched rendering ----------------------------------------------------
const renderers = new Map();
const batch = { dirty: new Set(), scheduled: false };

export function registerRenderer(name, fn) {
  renderers.set(name, fn);
}

// Mark parts of the page for re-rendering; they render once, after the
// current task (a burst of socket frames renders once).
export function invalidate(...names) {
  for (const name of names) batch.dirty.add(name);
  if (batch.scheduled) return;
  batch.scheduled = true;
  queueMicrotask(flush);
}

function flush() {
  batch.scheduled = false;
  const names = [...batch.dirty];
  batch.dirty.clear();
  for (const [name, fn] of renderers) {
    if (names.includes(name)) {
      try {
        fn();
      } catch (error) {
        console.error(`rendering ${name} failed`, error);
      }
    }
  }
}
