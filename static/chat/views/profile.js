// The profile dialog (opened from my name at the top of the sidebar): display
// name and avatar, password, time zone, my sessions with "log out everywhere
// else", the people I blocked, and deleting my account. Each section saves on its own and says what
// happened in its own live region; a field at fault is marked and described.

import { api, del, describeError, get, patch, post, setUnauthenticatedHandler } from "../api.js";
import { $, avatarOf, fullTime, h } from "../dom.js";
import { displayName } from "../state.js";
import { confirmDialog, openDialog, toast } from "../ui.js";
import { setTimeZone, timeZone, validTimeZone } from "../zone.js";
import { exportControl } from "./exports.js";

const FIELD_IDS = {
  display_name: "profile-name",
  file: "profile-avatar-file",
  current_password: "password-current",
  new_password: "password-new",
  time_zone: "profile-time-zone",
  password: "delete-password",
  confirm: "delete-confirm",
};

export function createProfileView(app) {
  const { state } = app;

  function say(id, text, { error = false } = {}) {
    const note = $(`#${id}`);
    if (!note) return;
    note.textContent = text;
    note.classList.toggle("error-text", error);
  }

  // The fields an error names are marked invalid and described by the message.
  function markFields(form, error) {
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    for (const hint of form.querySelectorAll(".field-error")) hint.remove();
    const fields = (error && error.fields) || {};
    let first = null;
    for (const [field, messages] of Object.entries(fields)) {
      const input = form.querySelector(`#${FIELD_IDS[field] || "none"}`);
      if (!input) continue;
      const hint = h("p", { class: "field-error error-text", id: `${input.id}-error`, text: [].concat(messages).join(" ") });
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", hint.id);
      input.after(hint);
      first = first || input;
    }
    if (first) first.focus();
  }

  // My name and avatar wherever the page shows them.
  function applyMe(me) {
    state.me = { ...state.me, id: me.id, username: me.username, display_name: me.display_name || me.username, avatar: me.avatar };
    state.profile = me;
    renderMe();
    app.messageList.redrawAll();
    app.invalidate("rooms", "details");
  }

  function renderMe() {
    const button = $("#profile-toggle");
    if (!button) return;
    const old = button.querySelector(".avatar");
    const fresh = avatarOf(state.me, displayName(state.me), { className: "avatar small", px: 28 });
    if (old) old.replaceWith(fresh);
    else button.prepend(fresh);
    $("#me-name").textContent = displayName(state.me);
  }

  // --- profile: name and avatar --------------------------------------------
  function profileSection(me) {
    const preview = h("div", { id: "profile-avatar-preview", class: "avatar-preview" }, avatarOf(me, me.display_name || me.username, { className: "avatar large", px: 96 }));
    const file = h("input", { type: "file", id: "profile-avatar-file", accept: "image/png,image/jpeg,image/gif,image/webp", class: "file-field" });
    const remove = h("button", { type: "button", class: "btn small", id: "profile-avatar-remove", text: "Remove picture", hidden: !me.avatar });
    const form = h(
      "form",
      { class: "stack", id: "profile-form", novalidate: true },
      h("div", { class: "avatar-row" }, preview, h("div", { class: "stack" }, h("label", { for: "profile-avatar-file", text: "Picture (PNG, JPEG, GIF or WebP; cropped to a square)" }), file, remove)),
      h("label", { for: "profile-name", text: "Display name" }),
      h("input", { type: "text", id: "profile-name", maxlength: 150, autocomplete: "nickname", value: me.display_name || "" }),
      h("p", { class: "muted hint", text: `How others see you. Your username is @${me.username}.` }),
      h("div", { class: "row" }, h("button", { type: "submit", class: "btn primary", text: "Save name" })),
      h("p", { id: "profile-note", class: "muted", role: "status", "aria-live": "polite" }),
    );
    const showPreview = (person) => preview.replaceChildren(avatarOf(person, person.display_name || person.username, { className: "avatar large", px: 96 }));
    file.addEventListener("change", async () => {
      const chosen = file.files && file.files[0];
      if (!chosen) return;
      const body = new FormData();
      body.append("file", chosen);
      file.disabled = true;
      say("profile-note", "Uploading…");
      try {
        const me = await api("PUT", "auth/me/avatar/", body);
        applyMe(me);
        showPreview(me);
        remove.hidden = !me.avatar;
        markFields(form, null);
        say("profile-note", "Picture saved.");
      } catch (error) {
        markFields(form, { fields: { file: [describeError(error)] } });
        say("profile-note", `Picture not saved: ${describeError(error)}`, { error: true });
      } finally {
        file.disabled = false;
        file.value = "";
      }
    });
    remove.addEventListener("click", async () => {
      try {
        const me = await del("auth/me/avatar/");
        applyMe(me);
        showPreview(me);
        remove.hidden = true;
        file.focus();
        say("profile-note", "Picture removed: your initials are shown.");
      } catch (error) {
        say("profile-note", `Not removed: ${describeError(error)}`, { error: true });
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const me = await patch("auth/me/", { display_name: $("#profile-name").value.trim() });
        applyMe(me);
        markFields(form, null);
        say("profile-note", "Name saved.");
      } catch (error) {
        markFields(form, error);
        say("profile-note", `Not saved: ${describeError(error)}`, { error: true });
      }
    });
    return section("profile-heading", "Profile", form);
  }

  // --- password -------------------------------------------------------------
  function passwordSection() {
    const form = h(
      "form",
      { class: "stack", id: "password-form", novalidate: true },
      h("label", { for: "password-current", text: "Current password" }),
      h("input", { type: "password", id: "password-current", autocomplete: "current-password", required: true }),
      h("label", { for: "password-new", text: "New password" }),
      h("input", { type: "password", id: "password-new", autocomplete: "new-password", required: true, "aria-describedby": "password-rules" }),
      h("p", { id: "password-rules", class: "muted hint", text: "At least 8 characters, not only digits, not a common password, not like your name." }),
      h("div", { class: "row" }, h("button", { type: "submit", class: "btn primary", text: "Change password" })),
      h("p", { class: "muted hint", text: "Your other sessions are logged out; this one stays." }),
      h("p", { id: "password-note", class: "muted", role: "status", "aria-live": "polite" }),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const current = $("#password-current").value;
      const fresh = $("#password-new").value;
      if (!current || !fresh) {
        const fields = {};
        if (!current) fields.current_password = ["Enter your current password."];
        if (!fresh) fields.new_password = ["Enter a new password."];
        markFields(form, { fields });
        say("password-note", "Fill in both passwords.", { error: true });
        return;
      }
      try {
        const result = await post("auth/password/", { current_password: current, new_password: fresh });
        form.reset();
        markFields(form, null);
        say("password-note", `Password changed. ${result.ended ? `${result.ended} other session${result.ended === 1 ? " was" : "s were"} logged out.` : ""}`.trim());
        loadSessions();
      } catch (error) {
        markFields(form, error);
        say("password-note", `Not changed: ${error.detail || describeError(error)}`, { error: true });
      }
    });
    return section("password-heading", "Password", form);
  }

  // --- time zone ------------------------------------------------------------
  function zoneSection(me) {
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const form = h(
      "form",
      { class: "stack", id: "time-zone-form", novalidate: true },
      h("label", { for: "profile-time-zone", text: "Time zone for the times shown" }),
      h("input", { type: "text", id: "profile-time-zone", list: "time-zone-names", autocomplete: "off", spellcheck: "false", placeholder: `This browser's (${browserZone})`, value: me.time_zone || "", "aria-describedby": "time-zone-hint" }),
      h("datalist", { id: "time-zone-names" }, zones.map((name) => h("option", { value: name }))),
      h("p", { id: "time-zone-hint", class: "muted hint", text: "Type to search, e.g. Europe/Paris. Leave it empty to use this browser's zone." }),
      h("div", { class: "row" }, h("button", { type: "submit", class: "btn primary", text: "Save time zone" })),
      h("p", { id: "time-zone-note", class: "muted", role: "status", "aria-live": "polite" }),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = $("#profile-time-zone").value.trim();
      if (value && !validTimeZone(value)) {
        markFields(form, { fields: { time_zone: ["Unknown time zone: pick one from the list."] } });
        say("time-zone-note", "Not saved: unknown time zone.", { error: true });
        return;
      }
      try {
        const saved = await patch("auth/me/", { time_zone: value });
        state.profile = saved;
        setTimeZone(saved.time_zone);
        markFields(form, null);
        app.messageList.redrawAll();
        app.invalidate("rooms", "thread");
        say("time-zone-note", saved.time_zone ? `Times are shown in ${saved.time_zone}.` : `Times are shown in this browser's zone (${browserZone}).`);
      } catch (error) {
        markFields(form, error);
        say("time-zone-note", `Not saved: ${describeError(error)}`, { error: true });
      }
    });
    return section("time-zone-heading", "Time zone", form);
  }

  // --- sessions -------------------------------------------------------------
  function sessionItem(session) {
    const kind = session.kind === "api" ? "App or API client" : "Browser";
    const where = [session.ip ? `IP ${session.ip}` : null, `signed in ${fullTime(session.created_at)}`, `last active ${fullTime(session.last_seen_at)}`].filter(Boolean).join(" · ");
    return h(
      "li",
      { class: "session-item", dataset: { sessionId: session.id } },
      h(
        "div",
        { class: "session-text" },
        h("span", { class: "person-name", text: `${session.device} (${kind})` }),
        session.current ? h("span", { class: "session-current", text: "This session" }) : null,
        h("span", { class: "muted small-text", text: where }),
      ),
      session.current
        ? null
        : h("button", {
            type: "button",
            class: "btn small",
            text: "Log out",
            "aria-label": `Log out ${session.device}, last active ${fullTime(session.last_seen_at)}`,
            onclick: async (event) => {
              event.target.disabled = true;
              try {
                await del(`auth/sessions/${session.id}/`);
                say("sessions-note", `${session.device} is logged out.`);
                await loadSessions();
                $("#sessions-others")?.focus();
              } catch (error) {
                event.target.disabled = false;
                say("sessions-note", `Not logged out: ${describeError(error)}`, { error: true });
              }
            },
          }),
    );
  }

  async function loadSessions() {
    const list = $("#sessions-list");
    if (!list) return;
    try {
      const sessions = await get("auth/sessions/");
      list.replaceChildren(...sessions.map(sessionItem));
      if (!sessions.length) list.replaceChildren(h("li", { class: "muted", text: "No sessions listed." }));
      const others = $("#sessions-others");
      if (others) others.disabled = !sessions.some((session) => !session.current);
    } catch (error) {
      list.replaceChildren(h("li", { class: "muted", text: `Could not load your sessions: ${describeError(error)}` }));
    }
  }

  function sessionsSection() {
    const others = h("button", {
      type: "button",
      class: "btn danger",
      id: "sessions-others",
      text: "Log out everywhere else",
      onclick: async () => {
        if (!(await confirmDialog("Log out every other browser and app signed in as you? Only this session stays signed in.", "Log out everywhere else", { danger: true }))) {
          open("sessions");
          return;
        }
        try {
          const result = await post("auth/sessions/logout-others/");
          toast(result.ended ? `Logged out ${result.ended} other session${result.ended === 1 ? "" : "s"}.` : "No other session was signed in.");
        } catch (error) {
          toast(`Not logged out elsewhere: ${describeError(error)}`, { kind: "error" });
        }
        open("sessions");
      },
    });
    return section(
      "sessions-heading",
      "Sessions",
      h("p", { class: "muted hint", text: "Where you are signed in. Logging a session out ends it at once, its open chats included." }),
      h("ul", { id: "sessions-list", class: "sessions-list", "aria-labelledby": "sessions-heading" }, h("li", { class: "muted", text: "Loading…" })),
      h("div", { class: "row" }, others),
      h("p", { id: "sessions-note", class: "muted", role: "status", "aria-live": "polite" }),
    );
  }

  // --- deleting my account ---------------------------------------------------
  function deleteSection() {
    const erase = Boolean(state.config.erase_messages_on_delete);
    const what = [
      "You are signed out everywhere at once and cannot log in again; this cannot be undone.",
      "Your name becomes \u201cDeleted user\u201d with a number; your picture, email and time zone are removed.",
      "You leave your groups; your direct chats are closed, their history stays for the other person.",
      erase
        ? "Your messages are erased: their text and your files are deleted; others see \u201cThis message was deleted\u201d in their place."
        : "Your messages stay where they are, shown under \u201cDeleted user\u201d.",
      "Your saved messages, notification settings, push notifications and exports are deleted.",
      "To keep a copy, export your data (above) first.",
    ];
    const form = h(
      "form",
      { class: "stack", id: "delete-account-form", novalidate: true },
      h("ul", { class: "muted hint", id: "delete-account-what" }, what.map((text) => h("li", { text }))),
      h("label", { for: "delete-password", text: "Your password" }),
      h("input", { type: "password", id: "delete-password", autocomplete: "current-password", required: true }),
      h("label", { for: "delete-confirm", text: "Type delete to confirm" }),
      h("input", { type: "text", id: "delete-confirm", autocomplete: "off", spellcheck: "false", required: true }),
      h("div", { class: "row" }, h("button", { type: "submit", class: "btn danger", id: "delete-account", text: "Delete my account" })),
      h("p", { id: "delete-note", class: "muted", role: "status", "aria-live": "polite" }),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const password = $("#delete-password").value;
      const confirm = $("#delete-confirm").value.trim();
      const fields = {};
      if (!password) fields.password = ["Enter your password."];
      if (confirm.toLowerCase() !== "delete") fields.confirm = ["Type delete to confirm."];
      if (Object.keys(fields).length) {
        markFields(form, { fields });
        say("delete-note", "Not deleted: fill in both fields.", { error: true });
        return;
      }
      const button = $("#delete-account");
      button.disabled = true;
      try {
        // The socket closes and the session ends: go to the login page ourselves, with the notice.
        setUnauthenticatedHandler(() => {});
        await post("auth/me/delete/", { password, confirm });
        window.location.assign(`${state.config.urls.login}?account_deleted=1`);
      } catch (error) {
        button.disabled = false;
        markFields(form, error);
        say("delete-note", `Not deleted: ${error.code === "wrong_password" ? "the password is wrong." : error.detail || describeError(error)}`, { error: true });
        if (error.status === 401) window.location.assign(state.config.urls.login);
      }
    });
    return section("delete-heading", "Delete account", form);
  }

  function section(id, title, ...body) {
    return h("section", { class: "stack profile-section", "aria-labelledby": id, id: `${id.replace("-heading", "")}-section` }, h("h3", { id, text: title }), body);
  }

  async function open(focusSection = null) {
    let me = state.profile;
    try {
      me = await get("auth/me/");
      state.profile = me;
    } catch (error) {
      if (!me) {
        toast(`Could not open your profile: ${describeError(error)}`, { kind: "error" });
        return;
      }
    }
    const dialog = openDialog(
      "Your profile",
      profileSection(me),
      passwordSection(),
      zoneSection(me),
      sessionsSection(),
      section(
        "my-data-heading",
        "Your data",
        h("p", { class: "hint muted", text: "A ZIP of what chatsite keeps about you: your profile, rooms, messages you wrote, reactions, uploads, settings and sessions. Only you can download it, for 24 hours." }),
        exportControl({ path: "exports/me/", what: "my data", filesLabel: "Include my uploaded files (up to 100 MB)", idPrefix: "my-export" }),
      ),
      section("blocked-heading", "Blocked people", app.blocking.blockedList()),
      deleteSection(),
    );
    dialog.classList.add("profile-dialog");
    dialog.addEventListener("close", () => dialog.classList.remove("profile-dialog"), { once: true });
    loadSessions();
    if (focusSection) $(`#${focusSection}-section button, #${focusSection}-section input`)?.focus();
  }

  // Someone's payload as a frame brings it (a message's sender, a typing or
  // presence notice): a new name or picture replaces the one in the member
  // lists and direct rooms already loaded.
  function notePerson(person) {
    if (!person || !person.id) return;
    const same = (known) => known.display_name === person.display_name && JSON.stringify(known.avatar || null) === JSON.stringify(person.avatar || null);
    let members = false;
    let peers = false;
    for (const rd of state.loaded.values()) {
      const member = rd.members && rd.members.get(person.id);
      if (member && !same(member.user)) {
        member.user = { ...member.user, ...person };
        members = true;
      }
    }
    for (const [roomId, peer] of state.peers) {
      if (peer.id === person.id && !same(peer)) {
        state.peers.set(roomId, { ...peer, ...person });
        peers = true;
      }
    }
    if (members) app.invalidate("details");
    if (peers) app.invalidate("rooms", "header");
  }

  function wire() {
    setTimeZone(state.config.time_zone || "");
    $("#profile-toggle").addEventListener("click", () => open());
    renderMe();
  }

  return { open, wire, renderMe, notePerson, timeZone };
}
