"""Client frames: parsing and validation, in plain Python (docs/realtime.md).

:func:`parse` turns a WebSocket text frame into a dict with a ``type``, or
raises :class:`FrameError` (answered with an ``error`` frame, the socket stays
open). The ``*_args`` functions check one frame type's fields and return the
keyword arguments of its command; a bad field raises
``Invalid(code="invalid", detail="Invalid frame.", fields={name: [message]})``
with the REST API's field messages (chat/api/serializers.py), so a client sees
the same error whichever way it sent the request.
"""

import json
import uuid

from chatsite.core import json_values
from chatsite.core.exceptions import Invalid

from ..events import wire
from ..presence import STATUSES as PRESENCE_STATUSES

MAX_REF_LENGTH = 64
MAX_SYNC_ROOMS = 5000
MAX_CLIENT_MSG_ID = 64
MAX_REACTION = 32
MAX_SEQ = 2**62
SENDABLE_MESSAGE_TYPES = ("text", "image", "file", "action")

REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."


class FrameError(Exception):
    """A frame that cannot be read at all: ``code`` and ``detail`` of the error frame."""

    def __init__(self, code: str, detail: str, ref=None):
        super().__init__(detail)
        self.code, self.detail, self.ref = code, detail, ref


def error_frame(ref, code: str, detail: str, **extra) -> dict:
    frame = {"type": wire.ERROR, "code": code, "detail": detail}
    if ref is not None:
        frame["ref"] = ref
    frame.update(extra)
    return frame


def parse(text_data: str | None, *, max_bytes: int) -> dict:
    """The frame as a dict with a known ``type`` and a valid ``ref`` (or FrameError)."""
    if text_data is None:
        raise FrameError("invalid_frame", "Only JSON text frames are accepted.")
    if len(text_data) > max_bytes:
        raise FrameError("frame_too_large", f"Frames are limited to {max_bytes:,} bytes.")
    try:
        frame = json.loads(text_data)
    except ValueError:
        raise FrameError("invalid_json", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise FrameError("invalid_frame", "A frame is a JSON object with a type.")
    ref = frame.get("ref")
    if ref is not None and (not isinstance(ref, (str, int)) or isinstance(ref, bool) or len(str(ref)) > MAX_REF_LENGTH):
        raise FrameError("invalid_ref", f"ref is a string or number of at most {MAX_REF_LENGTH} characters.")
    if frame.get("type") not in wire.CLIENT_FRAMES:
        raise FrameError("unknown_type", f"Unknown frame type {str(frame.get('type'))[:40]!r}.", ref)
    return frame


# --- fields ---------------------------------------------------------------------------
class _Fields:
    """Collects field errors of one frame; ``done()`` raises them together."""

    def __init__(self, frame: dict):
        self.frame = frame
        self.errors: dict[str, list[str]] = {}

    def fail(self, name: str, message: str):
        self.errors.setdefault(name, []).append(message)

    def done(self) -> None:
        if self.errors:
            raise Invalid("Invalid frame.", code="invalid", fields=self.errors)

    def _get(self, name, *, required, allow_null, default):
        if name not in self.frame:
            if required:
                self.fail(name, REQUIRED)
            return False, default
        value = self.frame[name]
        if value is None:
            if not allow_null:
                self.fail(name, NOT_NULL)
                return False, default
            return False, None
        return True, value

    def uuid(self, name, *, required=True, allow_null=False, default=None):
        present, value = self._get(name, required=required, allow_null=allow_null, default=default)
        if not present:
            return value
        try:
            if isinstance(value, int) and not isinstance(value, bool):
                return uuid.UUID(int=value)
            if isinstance(value, str):
                return uuid.UUID(hex=value)
        except ValueError:
            pass
        self.fail(name, "Must be a valid UUID.")
        return None

    def text(self, name, *, required=True, allow_null=False, allow_blank=False, trim=True, max_length=None, default=None):
        present, value = self._get(name, required=required, allow_null=allow_null, default=default)
        if not present:
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.fail(name, "Not a valid string.")
            return None
        value = str(value)
        if trim:
            value = value.strip()
        if value == "":
            if not allow_blank:
                self.fail(name, "This field may not be blank.")
            return ""
        if max_length is not None and len(value) > max_length:
            self.fail(name, f"Ensure this field has no more than {max_length} characters.")
        if "\x00" in value:
            self.fail(name, "Null characters are not allowed.")
        for char in value:
            if "\ud800" <= char <= "\udfff":
                self.fail(name, f"Surrogate characters are not allowed: U+{ord(char):X}.")
                break
        return value

    def choice(self, name, choices, *, required=True, default=None):
        present, value = self._get(name, required=required, allow_null=False, default=default)
        if not present:
            return value
        if not isinstance(value, str) or value not in choices:
            self.fail(name, f'"{value}" is not a valid choice.')
            return None
        return value

    def integer(self, name, *, min_value=None, max_value=None):
        present, value = self._get(name, required=True, allow_null=False, default=None)
        if not present:
            return value
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            number = int(value.strip())
        else:
            number = None
        if number is None:
            self.fail(name, "A valid integer is required.")
            return None
        if min_value is not None and number < min_value:
            self.fail(name, f"Ensure this value is greater than or equal to {min_value}.")
        if max_value is not None and number > max_value:
            self.fail(name, f"Ensure this value is less than or equal to {max_value}.")
        return number

    def boolean(self, name, *, default=False):
        present, value = self._get(name, required=False, allow_null=False, default=default)
        if not present:
            return value
        if not isinstance(value, bool):
            self.fail(name, "Must be true or false.")
            return None
        return value

    def json_object(self, name):
        """JSONObjectField: an object every store and client can take back."""
        present, value = self._get(name, required=False, allow_null=False, default=None)
        if not present:
            return value
        if not isinstance(value, dict):
            self.fail(name, f'Expected a dictionary of items but got type "{type(value).__name__}".')
            return None
        problem = json_values.problem(value)
        if problem:
            self.fail(name, problem)
        return value


def room_id(frame: dict) -> str:
    """The frame's ``room`` as a canonical id."""
    try:
        return str(uuid.UUID(str(frame.get("room"))))
    except (ValueError, TypeError):
        raise Invalid("room must be a room id.", code="invalid", fields={"room": ["A room id."]}) from None


# --- one function per frame type: the command's keyword arguments -------------------------
def message_send_args(frame: dict) -> dict:
    room = room_id(frame)
    fields = _Fields(frame)
    args = {
        "room_id": room,
        "content": fields.text("content", required=False, allow_blank=True, trim=False, default=""),
        "message_type": fields.choice("message_type", SENDABLE_MESSAGE_TYPES, required=False),
        "client_msg_id": fields.text("client_msg_id", required=False, allow_null=True, max_length=MAX_CLIENT_MSG_ID),
        "reply_to_id": fields.uuid("reply_to", required=False, allow_null=True),
        "attachment_id": fields.uuid("attachment_id", required=False, allow_null=True),
        "extra_metadata": fields.json_object("extra_metadata"),
        "thread_id": fields.uuid("thread", required=False, allow_null=True),
        "also_in_room": fields.boolean("also_in_room"),
    }
    fields.done()
    return args


def message_id_arg(frame: dict) -> uuid.UUID:
    fields = _Fields(frame)
    message_id = fields.uuid("message_id")
    fields.done()
    return message_id


def message_edit_args(frame: dict) -> dict:
    fields = _Fields(frame)
    content = fields.text("content", allow_blank=True, trim=False)
    fields.done()
    return {"message_id": message_id_arg(frame), "content": content}


def reaction_args(frame: dict) -> dict:
    message_id = message_id_arg(frame)
    fields = _Fields(frame)
    reaction = fields.text("reaction", trim=False, max_length=MAX_REACTION)
    fields.done()
    return {"message_id": message_id, "reaction": reaction}


def read_args(frame: dict) -> dict:
    room = room_id(frame)
    fields = _Fields(frame)
    seq = fields.integer("seq", min_value=0, max_value=MAX_SEQ)
    fields.done()
    return {"room_id": room, "seq": seq}


def thread_read_args(frame: dict) -> dict:
    room = room_id(frame)
    fields = _Fields(frame)
    thread = fields.uuid("thread")
    seq = fields.integer("seq", min_value=0, max_value=MAX_SEQ)
    fields.done()
    return {"room_id": room, "message_id": thread, "seq": seq}


def typing_thread(frame: dict) -> str | None:
    """The thread typed in (its root's id), or None for the room itself."""
    thread = frame.get("thread")
    if thread is None:
        return None
    try:
        return str(uuid.UUID(str(thread)))
    except ValueError:
        raise Invalid("thread must be a message id.", code="invalid", fields={"thread": ["A message id."]}) from None


def typing_is_typing(frame: dict) -> bool:
    is_typing = frame.get("is_typing", True)
    if not isinstance(is_typing, bool):
        raise Invalid("is_typing must be true or false.", code="invalid", fields={"is_typing": ["A boolean."]})
    return is_typing


def presence_status(frame: dict) -> str:
    status = frame.get("status")
    if status not in PRESENCE_STATUSES:
        raise Invalid("status is online or away.", code="invalid", fields={"status": ["online or away"]})
    return status


def sync_rooms(frame: dict) -> dict:
    """``{room_id: last seen seq}`` as sent; each entry is checked by :func:`sync_entry`."""
    rooms = frame.get("rooms")
    if not isinstance(rooms, dict) or len(rooms) > MAX_SYNC_ROOMS:
        raise Invalid("rooms is an object {room_id: last seen seq}.", code="invalid", fields={"rooms": ["An object."]})
    return rooms


def sync_room_id(raw_id) -> str | None:
    """A ``sync`` key as a canonical room id, or None when it is not one."""
    try:
        return str(uuid.UUID(str(raw_id)))
    except ValueError:
        return None


def valid_seq(last_seen) -> bool:
    return isinstance(last_seen, int) and not isinstance(last_seen, bool) and last_seen >= 0
