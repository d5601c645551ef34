// Shared by the Node tests of the browser client (node --test chat/tests/js/).
// The modules under test are the page's own files in static/chat/.

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { createState, RoomData } from "../../../static/chat/state.js";
import { createWire } from "../../../static/chat/wire.js";

export const PROJECT = fileURLToPath(new URL("../../../", import.meta.url));

// What chat/events/wire.py's client_constants() returns (the page gets it in its
// config); wire.test.mjs checks that this copy still matches the server's.
export const WIRE_CONSTANTS = {
  events: {
    logged: [
      "member.added",
      "member.removed",
      "member.updated",
      "message.created",
      "message.deleted",
      "message.pinned",
      "message.unpinned",
      "message.updated",
      "reaction.added",
      "reaction.removed",
      "room.updated",
      "thread.updated",
    ],
    message: ["message.created", "message.deleted", "message.updated"],
    ephemeral: ["presence", "read", "typing"],
    server: ["hello", "ack", "error", "pong", "resync_required", "disconnected", "unread", "thread.read", "saved"],
    client: ["message.send", "message.edit", "message.delete", "reaction.add", "reaction.remove", "typing", "read", "thread.read", "sync", "presence", "ping"],
  },
  close: { LOGGED_OUT: 4001, TOO_SLOW: 4008, LAYER_LOST: 4012, UNAUTHENTICATED: 4401, TOO_MANY_SOCKETS: 4429 },
};

export const WIRE = createWire(WIRE_CONSTANTS);

// The server's constants, read from chat/events/wire.py by Python (null without one that has msgspec).
export function serverWireConstants() {
  const python = process.env.PYTHON || [`${PROJECT}.venv/bin/python`, "python3"].find((path) => path === "python3" || existsSync(path));
  const script = [
    "import importlib.util, json, sys",
    "spec = importlib.util.spec_from_file_location('wire', 'chat/events/wire.py')",
    "module = importlib.util.module_from_spec(spec)",
    "spec.loader.exec_module(module)",
    "print(json.dumps(module.client_constants()))",
  ].join("\n");
  try {
    return JSON.parse(execFileSync(python, ["-c", script], { cwd: PROJECT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
  } catch (_error) {
    return null;
  }
}

export const ME = { id: "u-me", username: "me", display_name: "Me" };
export const BOB = { id: "u-bob", username: "bob", display_name: "Bob" };
export const CAROL = { id: "u-carol", username: "carol", display_name: "Carol" };
export const ROOM = "11111111-1111-4111-8111-111111111111";
export const OTHER_ROOM = "22222222-2222-4222-8222-222222222222";

export function message(seq, { sender = BOB, room = ROOM, ...rest } = {}) {
  return {
    id: `m${seq}`,
    room,
    seq,
    sender,
    content: `message ${seq}`,
    message_type: "text",
    is_deleted: false,
    reactions: [],
    created_at: new Date(Date.UTC(2026, 0, 1, 12, 0, seq)).toISOString(),
    client_msg_id: null,
    ...rest,
  };
}

export function member(user, rest = {}) {
  return { user, role: "member", is_active: true, last_read_seq: 0, ...rest };
}

// A page state with ROOM at seq 3: its three messages and its members loaded.
export function roomState({ seq = 3, current = true, loaded = true, members = [ME, BOB] } = {}) {
  const state = createState({ me: ME });
  state.rooms.set(ROOM, {
    id: ROOM,
    name: "Lobby",
    room_type: "group",
    seq,
    unread_count: 0,
    last_read_seq: seq,
    member_count: members.length,
    my_role: "member",
    is_active: true,
    last_message: null,
  });
  if (loaded) {
    const rd = new RoomData(ROOM);
    rd.ready = true;
    rd.merge(Array.from({ length: seq }, (_, i) => message(i + 1)));
    rd.members = new Map(members.map((user) => [user.id, member(user)]));
    rd.dirty.clear();
    state.loaded.set(ROOM, rd);
  }
  if (current) state.currentId = ROOM;
  return state;
}

export const effectTypes = (effects) => effects.map((effect) => effect.type);
export const rendered = (effects) => new Set(effects.filter((e) => e.type === "render").flatMap((e) => e.parts));

// A stand-in for ChatSocket: records requests, answers them with `answer(frame)`.
export class FakeSocket {
  constructor({ live = true, answer = () => ({}) } = {}) {
    this.live = live;
    this.answer = answer;
    this.requests = [];
    this.sent = [];
    this.restarts = 0;
    this.markedLive = 0;
  }

  request(frame) {
    this.requests.push(frame);
    try {
      return Promise.resolve(this.answer(frame));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  send(frame) {
    this.sent.push(frame);
  }

  restart() {
    this.restarts += 1;
  }

  markLive() {
    this.live = true;
    this.markedLive += 1;
  }
}

export function socketError(code, detail = code) {
  return Object.assign(new Error(detail), { code, detail });
}

// localStorage of one origin, in memory.
export class FakeStorage {
  constructor() {
    this.items = new Map();
  }
  get length() {
    return this.items.size;
  }
  key(index) {
    return [...this.items.keys()][index] ?? null;
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}
