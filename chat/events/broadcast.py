"""The only code that touches the channel layer.

Everything other sockets must hear goes out from here: logged room events
(from :mod:`chat.events.log`, after commit), ephemeral notices (typing,
presence, read positions), notices to one user's sockets, and the group
subscriptions of a socket (the consumer passes itself).

Layer messages carry the frame already encoded as JSON text, so a fan-out to
many sockets encodes once:

    {"type": "chat.event", "room": "<uuid>", "seq": 7, "text": "<frame json>"}
    {"type": "chat.membership", "action": "added" | "removed", "room", "seq", "text"}
    {"type": "chat.ephemeral", "text": "<frame json>"}
    {"type": "chat.disconnect", "reason": "logged_out", "code": 4001}
    {"type": "chat.profile"}   the user's name or picture changed: reload the user
    {"type": "chat.disconnect", "reason": "session_revoked", "code": 4001,
     "sessions": ["<session id>", ...]}     only the sockets of those sessions
     "keep_session": "<session id>"}        every socket but those of this session

Delivery through the layer is best-effort: a failure is logged and the
change stays committed; clients fill gaps from the room log.
"""

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from chatsite.core import metrics

from . import wire

logger = logging.getLogger(__name__)


def _has(layer, extension: str) -> bool:
    return extension in getattr(layer, "extensions", ())


def _publish(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    metrics.commit_stamp(message)  # for the commit-to-socket latency
    try:
        if _has(layer, wire.LAYER_BLOCKING_GROUP_SEND):
            layer.group_send_blocking(group, message)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:  # noqa: BLE001 - the change is committed; clients resync from the room log
        logger.warning("broadcast to %s failed; clients will resync from the room log", group, exc_info=True)
        metrics.redis_error("publish")


def _on_commit(group: str, message: dict) -> None:
    """Publish once the surrounding transaction commits (at once outside one)."""
    transaction.on_commit(partial(_publish, group, message))


# --- from services (synchronous, after commit) -------------------------------------------
def room_event(*, room_id, seq: int, text: str, removed_user_ids: tuple = ()) -> None:
    message = {"type": "chat.event", "room": str(room_id), "seq": seq, "text": text}
    if removed_user_ids:
        # The removed people's sockets must handle this one in order with their
        # own group's notice (chat/realtime/delivery.py).
        message["removes"] = [str(user_id) for user_id in removed_user_ids]
    _on_commit(wire.room_group(room_id), message)


def membership(*, user_id, action: str, room_id, seq: int, text: str) -> None:
    """Tell one user's sockets to join (``added``) or leave (``removed``) a room's group."""
    _on_commit(
        wire.user_group(user_id),
        {"type": "chat.membership", "action": action, "room": str(room_id), "seq": seq, "text": text},
    )


def ephemeral(room_id, frame: dict) -> None:
    """Typing, read and presence notices to a room: never logged."""
    _on_commit(wire.room_group(room_id), {"type": "chat.ephemeral", "text": wire.encode(frame)})


def to_user(user_id, frame: dict) -> None:
    _on_commit(wire.user_group(user_id), {"type": "chat.ephemeral", "text": wire.encode(frame)})


def disconnect_user(
    user_id, *, reason: str, code: int = wire.CLOSE_LOGGED_OUT, sessions: list | None = None, keep_session: str | None = None
) -> None:
    """Ask every socket of the user to close (logout, deactivation); with
    ``sessions`` only the sockets of those sessions (accounts/sessions.py), with
    ``keep_session`` all but that session's."""
    message = {"type": "chat.disconnect", "reason": reason, "code": code}
    if sessions is not None:
        message["sessions"] = [str(session) for session in sessions]
    if keep_session is not None:
        message["keep_session"] = str(keep_session)
    _on_commit(wire.user_group(user_id), message)


def profile_changed(user_id) -> None:
    """The user's sockets reload the user (their name or picture changed)."""
    _on_commit(wire.user_group(user_id), {"type": "chat.profile"})


# --- from a consumer (asynchronous, on its event loop) -------------------------------------
async def join(consumer, group: str) -> None:
    await consumer.channel_layer.group_add(group, consumer.channel_name)


async def leave(consumer, group: str) -> None:
    await consumer.channel_layer.group_discard(group, consumer.channel_name)


async def ephemeral_async(consumer, room_id, frame: dict) -> None:
    """An ephemeral notice from a consumer's event loop; best-effort."""
    try:
        await consumer.channel_layer.group_send(wire.room_group(room_id), {"type": "chat.ephemeral", "text": wire.encode(frame)})
    except Exception:  # noqa: BLE001 - ephemeral notices are best-effort
        logger.info("ephemeral send to room %s failed", room_id)


def attach_direct(consumer, handler) -> bool:
    """Let the layer hand this socket's messages to ``handler`` in its receiving
    task (chat/realtime/layer.py); False when the layer does not offer it."""
    layer = consumer.channel_layer
    if not _has(layer, wire.LAYER_DIRECT):
        return False
    layer.attach(consumer.channel_name, handler)
    return True


def detach_direct(consumer) -> None:
    layer = consumer.channel_layer
    if layer is not None and consumer.channel_name and _has(layer, wire.LAYER_DIRECT):
        layer.detach(consumer.channel_name)


# --- readiness (chatsite/health.py) ----------------------------------------------------------
async def subscriber_ready(*, timeout: float) -> bool:
    """Whether this process, on the calling event loop, can hear fan-out now:
    the layer's subscription connection is up (opened on demand, as the first
    socket would), within ``timeout`` seconds. A layer that cannot say (not
    chatsite's own) counts as ready; no layer at all does not."""
    layer = get_channel_layer()
    if layer is None:
        return False
    check = getattr(layer, "subscriber_ready", None)
    if check is None:
        return True
    return await check(timeout=timeout)
