"""Per-room delivery state of one socket: cursors, gaps, the hold, leaving rooms.

A plain class (no Channels, no I/O): the consumer asks it what to do with each
layer message and does it. Per room it keeps the last seq delivered to the
client (the *cursor*). For a logged room event:

- at or below the cursor, or in a room the socket does not follow: a
  duplicate, :data:`DROP`;
- the next one (cursor + 1): :data:`SEND` (the cursor moves);
- past a gap: :data:`FILL` — the consumer replays the room's log from the
  cursor first (the layer dropped or reordered something), then asks again
  with ``filled=True``;
- while the socket *holds* (it connected with ``?sync=1`` and has not had its
  first ``sync`` answered): :data:`HOLD`, kept (bounded) until :meth:`release`.

The layer's fast path (:meth:`direct`) takes only what is plainly the next
event of a room while nothing else is under way (no replay, no hold, no
removal of this user pending); everything else goes the slow way, through the
channel's queue, in order, to :meth:`event` and :meth:`membership`.
"""

import enum

MAX_HELD_EVENTS = 1000


class Verdict(enum.Enum):
    SEND = "send"  # send the frame now
    DROP = "drop"  # a duplicate, or a room this socket does not follow
    FILL = "fill"  # replay the room's log from cursor(room) first, then ask again with filled=True
    HOLD = "hold"  # kept until release()


SEND, DROP, FILL, HOLD = Verdict.SEND, Verdict.DROP, Verdict.FILL, Verdict.HOLD


class Delivery:
    def __init__(self, user_id: str, *, holding: bool = False):
        self.user_id = str(user_id)
        self.cursors: dict[str, int] = {}
        self.holding = holding
        self.held: list[dict] = []
        self.busy = 1  # > 0 while connecting or replaying: live events take the slow path
        self.replays = 0
        self.leaving: set[str] = set()  # rooms whose removal of this user is on its way

    # --- rooms ---------------------------------------------------------------------
    def follows(self, room_id: str) -> bool:
        return room_id in self.cursors

    @property
    def rooms(self) -> list[str]:
        return list(self.cursors)

    def start(self, seqs: dict[str, int]) -> None:
        """The rooms and their seqs as ``hello`` announced them; live events may now flow."""
        self.cursors = dict(seqs)
        self.busy -= 1

    # --- the fast path -------------------------------------------------------------
    def direct(self, message: dict) -> bool:
        """True when the layer's receiving task may send ``message["text"]`` right
        away (the cursor has moved); False leaves it to the slow path, in order."""
        kind = message["type"]
        if kind == "chat.event":
            room_id, seq = message["room"], message["seq"]
            if self.user_id in message.get("removes", ()):
                self.leaving.add(room_id)  # until the removal is handled, this room goes the slow way
                return False
            if self.busy or self.holding or room_id in self.leaving or self.cursors.get(room_id) != seq - 1:
                return False
            self.cursors[room_id] = seq
            return True
        return kind == "chat.ephemeral" and not self.busy  # never before hello

    # --- the slow path -------------------------------------------------------------
    def event(self, message: dict, *, filled: bool = False, may_hold: bool = True) -> Verdict:
        """A logged room event from the channel's queue (or released from the hold).
        Membership notices pass ``may_hold=False``: they change what the socket
        follows, so they are never held."""
        if self.holding and may_hold and not filled:
            if len(self.held) < MAX_HELD_EVENTS:
                self.held.append(message)
            return HOLD
        room_id, seq = message["room"], message["seq"]
        cursor = self.cursors.get(room_id)
        if cursor is None or seq <= cursor:
            return DROP
        if seq > cursor + 1 and not filled:
            return FILL
        self.cursors[room_id] = seq
        return SEND

    def joined(self, room_id: str, seq: int) -> bool:
        """This user was added to a room by the event ``seq``: True when the socket
        must join the room's group (then deliver the event, then replay the log
        from cursor(room) for what was committed before the join)."""
        self.leaving.discard(room_id)
        if room_id in self.cursors:
            return False
        self.cursors[room_id] = seq - 1
        return True

    def left(self, room_id: str) -> None:
        """This user's removal from the room was delivered: stop following it."""
        self.leaving.discard(room_id)
        self.cursors.pop(room_id, None)

    def removal_handled(self, room_id: str) -> None:
        self.leaving.discard(room_id)

    # --- replays (sync, gap fill) --------------------------------------------------
    def replay_started(self) -> None:
        self.busy += 1
        self.replays += 1

    def replay_finished(self) -> None:
        self.busy -= 1
        self.replays -= 1

    @property
    def replaying(self) -> bool:
        """A replay (sync, gap fill, a room joined) is under way."""
        return self.replays > 0

    def cursor(self, room_id: str) -> int | None:
        return self.cursors.get(room_id)

    def replayed(self, room_id: str, *, after: int, room_seq: int) -> int:
        """The log was replayed up to ``after``; ``room_seq`` is the room's seq as read
        with it. Live events sent meanwhile may have gone further. The new cursor."""
        cursor = max(after, min(self.cursors.get(room_id, 0), room_seq))
        self.cursors[room_id] = cursor
        return cursor

    def resync(self, room_id: str, seq: int) -> None:
        """The log no longer reaches back: the client refetches; go on from ``seq``."""
        self.cursors[room_id] = seq

    # --- the hold -------------------------------------------------------------------
    def release(self) -> list[dict]:
        """End the hold; the held events, in arrival order, for :meth:`event`."""
        self.holding = False
        held, self.held = self.held, []
        return held
