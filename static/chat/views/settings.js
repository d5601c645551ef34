// The notification settings dialog: desktop notifications (the browser's
// permission is asked here, when they are turned on, never on page load),
// sound, email and its delay, and Web Push for this browser. Each change is
// saved at once (PATCH /api/notification-settings/).

import { describeError } from "../api.js";
import { $, h } from "../dom.js";
import { openDialog } from "../ui.js";

const BLOCKED = "This browser blocks notifications from this site: allow them in the site settings, then try again.";

export function createSettingsView(app) {
  const { state } = app;

  function say(text) {
    const note = $("#notification-settings-note");
    if (note) note.textContent = text;
  }

  async function save(changes, field) {
    field.disabled = true;
    try {
      await app.settings.save(changes);
      say("Saved.");
    } catch (error) {
      say(`Not saved: ${describeError(error)}`);
    } finally {
      field.disabled = false;
      render();
    }
  }

  async function toggleDesktop(event) {
    const box = event.target;
    if (!box.checked) return save({ desktop_enabled: false }, box);
    const permission = await app.notifier.askPermission();
    if (permission !== "granted") {
      box.checked = false;
      say(permission === "unsupported" ? "This browser has no desktop notifications." : BLOCKED);
      return null;
    }
    return save({ desktop_enabled: true }, box);
  }

  async function toggleSound(event) {
    if (event.target.checked) app.notifier.playSound();
    return save({ sound_enabled: event.target.checked }, event.target);
  }

  async function togglePush(event) {
    const box = event.target;
    box.disabled = true;
    try {
      if (box.checked) {
        const permission = await app.notifier.askPermission();
        if (permission !== "granted") throw new Error(permission === "unsupported" ? "This browser has no notifications." : BLOCKED);
        await app.push.enable();
        say("Web Push is on for this browser.");
      } else {
        await app.push.disable();
        say("Web Push is off for this browser.");
      }
    } catch (error) {
      box.checked = !box.checked;
      say(`Web Push: ${describeError(error)}`);
    } finally {
      box.disabled = !app.push.supported() || !state.notificationSettings.push_public_key;
    }
  }

  function changeDelay(event) {
    const minutes = Number(event.target.value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) {
      say("The delay is a whole number of minutes, from 1 to 1440.");
      return null;
    }
    return save({ email_delay_minutes: minutes }, event.target);
  }

  // The dialog's fields follow the settings (changed in another tab too).
  function render() {
    const form = $("#notification-settings");
    if (!form) return;
    const settings = state.notificationSettings;
    $("#notify-desktop").checked = Boolean(settings.desktop_enabled);
    $("#notify-sound").checked = Boolean(settings.sound_enabled);
    $("#notify-email").checked = Boolean(settings.email_enabled);
    const delay = $("#notify-email-delay");
    if (document.activeElement !== delay) delay.value = String(settings.email_delay_minutes);
    delay.disabled = !settings.email_enabled;
    const permission = app.notifier.permission();
    $("#notify-desktop-hint").textContent =
      permission === "denied" ? BLOCKED : permission === "unsupported" ? "This browser has no desktop notifications." : "When a room you are not looking at has something for you.";
  }

  async function open() {
    const check = (id, label, onchange, hint = null) =>
      h("div", { class: "setting" }, h("label", { class: "check" }, h("input", { type: "checkbox", id, onchange }), label), hint);
    const push = h("input", { type: "checkbox", id: "notify-push", onchange: togglePush, disabled: true });
    openDialog(
      "Notifications",
      h(
        "form",
        { id: "notification-settings", class: "stack", onsubmit: (event) => event.preventDefault() },
        check("notify-desktop", "Desktop notifications", toggleDesktop, h("p", { id: "notify-desktop-hint", class: "muted hint" })),
        check("notify-sound", "Play a sound with them", toggleSound),
        check("notify-email", "Email me about direct messages and mentions I have not read", (event) => save({ email_enabled: event.target.checked }, event.target)),
        h(
          "div",
          { class: "setting row" },
          h("label", { for: "notify-email-delay", text: "Send the email after (minutes)" }),
          h("input", { type: "number", id: "notify-email-delay", min: 1, max: 1440, step: 1, inputmode: "numeric", onchange: changeDelay }),
        ),
        h(
          "div",
          { class: "setting" },
          h("label", { class: "check" }, push, "Web Push on this browser (when no chatsite tab is open)"),
          h("p", { id: "notify-push-hint", class: "muted hint" }),
        ),
        h("p", { id: "notification-settings-note", class: "muted", role: "status", "aria-live": "polite" }),
      ),
      h("p", { class: "muted hint" }, "The people you blocked are listed in ", h("button", { type: "button", class: "link", text: "your profile", onclick: () => app.profileView.open("blocked") }), "."),
    );
    render();
    const pushHint = $("#notify-push-hint");
    if (!app.push.supported()) pushHint.textContent = "This browser has no Web Push.";
    else if (!state.notificationSettings.push_public_key) pushHint.textContent = "Web Push is not set up on this server.";
    else {
      push.checked = await app.push.enabled();
      push.disabled = false;
    }
  }

  function wire() {
    $("#settings-toggle").addEventListener("click", open);
  }

  return { open, render, wire };
}
