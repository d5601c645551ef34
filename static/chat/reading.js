// Read marks: the open room is marked read when the reader sees its end.

import { post } from "./api.js";
import { applyCounts } from "./counts.js";
import { RETRYABLE } from "./outbox.js";

const READ_DELAY = 200;

export function createReading(app) {
  const { state } = app;
  const marks = { timer: null, inFlight: new Set() };

  function myMember(rd) {
    return rd && rd.members ? rd.members.get(state.me.id) : null;
  }

  function soon() {
    if (marks.timer) return;
    marks.timer = setTimeout(() => {
      marks.timer = null;
      mark();
    }, READ_DELAY);
  }

  function send(room, seq) {
    const socket = app.socket;
    return socket && socket.live ? socket.request({ type: "read", room: room.id, seq }) : post(`rooms/${room.id}/read/`, { seq });
  }

  async function mark() {
    const room = state.rooms.get(state.currentId);
    const rd = state.loaded.get(state.currentId);
    if (!room || !rd || !rd.ready || document.visibilityState !== "visible" || !app.messageList.nearBottom()) return;
    if (room.seq <= (room.last_read_seq || 0) && !room.unread_count && !room.mention_count) return;
    if (marks.inFlight.has(room.id)) {
      soon();
      return;
    }
    marks.inFlight.add(room.id);
    const seq = room.seq;
    try {
      const result = await send(room, seq);
      // The answer's counts are as of its seq (or of ours, when nothing came since).
      const asOf = typeof result.seq === "number" ? result.seq : room.seq === seq ? seq : -1;
      if (!applyCounts(room, { ...result, seq: asOf })) room.last_read_seq = Math.max(room.last_read_seq || 0, result.last_read_seq);
      const me = myMember(rd);
      if (me) me.last_read_seq = Math.max(me.last_read_seq, result.last_read_seq);
      app.invalidate("rooms");
    } catch (error) {
      if (!RETRYABLE.has(error.code)) console.warn("read failed", error);
    } finally {
      marks.inFlight.delete(room.id);
    }
    if (room.seq > seq) soon();
  }

  return { soon, myMember };
}
