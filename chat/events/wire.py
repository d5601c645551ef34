"""The wire protocol's vocabulary, in one place: event kinds, frame types, close
codes, group names and the JSON encoding.

The browser gets :func:`client_constants` in its page config (chat/web.py), so
no kind or code is typed a second time in JavaScript; docs/realtime.md
describes the same names.
"""

import datetime
import decimal
import uuid

import msgspec

# --- Logged events: each is a row of the room's log with a gap-free seq. -------
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
MESSAGE_DELETED = "message.deleted"
REACTION_ADDED = "reaction.added"
REACTION_REMOVED = "reaction.removed"
MEMBER_ADDED = "member.added"
MEMBER_UPDATED = "member.updated"
MEMBER_REMOVED = "member.removed"
ROOM_UPDATED = "room.updated"
THREAD_UPDATED = "thread.updated"  # a root's summary changed (a reply, a reply deleted or restored)
MESSAGE_PINNED = "message.pinned"
MESSAGE_UNPINNED = "message.unpinned"
LOGGED_KINDS = frozenset(
    {
        MESSAGE_PINNED,
        MESSAGE_UNPINNED,
        MESSAGE_CREATED,
        MESSAGE_UPDATED,
        MESSAGE_DELETED,
        REACTION_ADDED,
        REACTION_REMOVED,
        MEMBER_ADDED,
        MEMBER_UPDATED,
        MEMBER_REMOVED,
        ROOM_UPDATED,
        THREAD_UPDATED,
    }
)
MESSAGE_KINDS = frozenset({MESSAGE_CREATED, MESSAGE_UPDATED, MESSAGE_DELETED})

# --- Ephemeral notices: broadcast, never logged. --------------------------------
TYPING = "typing"
PRESENCE = "presence"
READ = "read"
EPHEMERAL_KINDS = frozenset({TYPING, PRESENCE, READ})

# --- Frames only the server sends. -----------------------------------------------
HELLO = "hello"
ACK = "ack"
ERROR = "error"
PONG = "pong"
RESYNC_REQUIRED = "resync_required"
DISCONNECTED = "disconnected"
UNREAD = "unread"  # to one user's sockets: a room's counts and notification settings
THREAD_READ = "thread.read"  # to one user's sockets: their read position and unread count of a thread
SAVED = "saved"  # to one user's sockets: a message saved or unsaved (another tab of theirs did it)

# --- Frames a client sends. ----------------------------------------------------------
CLIENT_FRAMES = (
    "message.send",
    "message.edit",
    "message.delete",
    "reaction.add",
    "reaction.remove",
    "typing",
    "read",
    "thread.read",
    "sync",
    "presence",
    "ping",
)

# --- Close codes (docs/realtime.md). -------------------------------------------------
CLOSE_LOGGED_OUT = 4001  # the session or token ended: stop, log in again
CLOSE_TOO_SLOW = 4008  # the client stopped reading: reconnect and sync
CLOSE_LAYER_LOST = 4012  # the server lost Redis: reconnect and sync (daphne cannot send 1012)
CLOSE_UNAUTHENTICATED = 4401  # no valid ticket or session, or the user was deactivated
CLOSE_TOO_MANY_SOCKETS = 4429  # CHAT_MAX_SOCKETS_PER_USER reached
CLOSE_CODES = {
    "LOGGED_OUT": CLOSE_LOGGED_OUT,
    "TOO_SLOW": CLOSE_TOO_SLOW,
    "LAYER_LOST": CLOSE_LAYER_LOST,
    "UNAUTHENTICATED": CLOSE_UNAUTHENTICATED,
    "TOO_MANY_SOCKETS": CLOSE_TOO_MANY_SOCKETS,
}


# --- Channel-layer groups. ------------------------------------------------------------
def room_group(room_id) -> str:
    return f"room.{room_id}"


def user_group(user_id) -> str:
    return f"user.{user_id}"


# --- Channel-layer extensions (Channels' ``layer.extensions``): what chat's
# layer offers beyond the specification (chat/realtime/layer.py implements
# them, chat/events/broadcast.py uses them). ------------------------------------
LAYER_BLOCKING_GROUP_SEND = "blocking_group_send"  # group_send_blocking(group, message): no event loop needed
LAYER_DIRECT = "direct"  # attach(channel, handler) / detach(channel)


# --- Encoding. -----------------------------------------------------------------------
Raw = msgspec.Raw  # JSON already encoded: spliced into a frame as it is, never encoded twice


def _encode_other(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_encoder = msgspec.json.Encoder(enc_hook=_encode_other)


def encode_bytes(value) -> bytes:
    """Compact JSON, UTF-8 (no ASCII escaping); :data:`Raw` parts go in verbatim."""
    return _encoder.encode(value)


def encode(value) -> str:
    return encode_bytes(value).decode()


def client_constants() -> dict:
    """What the browser client needs to speak the protocol (page config)."""
    return {
        "events": {
            "logged": sorted(LOGGED_KINDS),
            "message": sorted(MESSAGE_KINDS),
            "ephemeral": sorted(EPHEMERAL_KINDS),
            "server": [HELLO, ACK, ERROR, PONG, RESYNC_REQUIRED, DISCONNECTED, UNREAD, THREAD_READ, SAVED],
            "client": list(CLIENT_FRAMES),
        },
        "close": dict(CLOSE_CODES),
    }
