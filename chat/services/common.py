"""Pieces every chat service shares: seq allocation, the message insert, system
messages, the audit log and text validation. Permission rules are in chat.policies."""

from django.db import connection
from django.utils import timezone

from chatsite.core import metrics
from chatsite.core.exceptions import Invalid, NotFound

from .. import crypto, formatting
from ..events import log, render, wire
from ..models import AuditLog, ChatMessage, ChatRoom, MessageType, SearchToken
from ..search import index_message  # noqa: F401 - services index through here
from . import store


def allocate_seq(room: ChatRoom, count: int = 1, *, last_message_at=None) -> int:
    """Reserve ``count`` consecutive seqs for ``room``; returns the first.

    One ``UPDATE … RETURNING``: it takes the room row's lock until the
    transaction ends, so seqs are gap-free and commit-ordered per room. The
    in-memory ``room.seq`` (and ``last_message_at``, when given) follow.
    """
    table = ChatRoom._meta.db_table
    room_id = ChatRoom._meta.pk.get_db_prep_value(room.pk, connection)
    stamp = ChatRoom._meta.get_field("last_message_at").get_db_prep_value(last_message_at, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{table}" SET "seq" = "seq" + %s, '
            f'"last_message_at" = COALESCE(%s, "last_message_at") WHERE "id" = %s RETURNING "seq"',
            [count, stamp, room_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound("Room not found.", code="room_not_found")
    room.seq = row[0]
    if last_message_at is not None:
        room.last_message_at = last_message_at
    return row[0] - count + 1


def clean_text(value, *, field: str, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string.", code="invalid", fields={field: ["Must be a string."]})
    if "\x00" in value:
        raise Invalid(f"{field} contains a NUL character.", code="invalid", fields={field: ["NUL character."]})
    if len(value) > max_length:
        raise Invalid(
            f"{field} is {len(value):,} characters; the limit is {max_length:,}.",
            code=f"{field}_too_long",
            fields={field: [f"At most {max_length:,} characters."]},
        )
    if required and not value.strip():
        raise Invalid(f"{field} may not be blank.", code=f"{field}_required", fields={field: ["Required."]})
    return value


def create_message(message: ChatMessage, *, text: str, created_at=None) -> ChatMessage:
    """Store ``message`` (built by the caller, not saved, permission checked)
    with ``text`` as its content: allocate a seq, write the encrypted row and
    its search tokens, log and announce ``message.created``.

    The one insert path. On PostgreSQL the seq (an ``UPDATE … RETURNING`` that
    holds the room lock), the message row, its search entries and its log row
    are one statement (chat.services.store); other databases take the same
    steps one statement each.

    ``created_at`` is for imported history only (chat.services.imports): the
    message and its search entries keep that time instead of now (its log row
    is stamped now: retention counts from when it was logged); a send never
    passes it.
    """
    now = created_at or timezone.now()
    room = message.room
    shown_in_room = message.thread_id is None or message.also_in_room
    message.content_encrypted = crypto.encrypt(text)
    if message.message_type != MessageType.SYSTEM:
        render.remember_html(message, formatting.formatted_html(text))
    message.created_at = now
    message.updated_at = timezone.now() if created_at is not None else now
    render.remember_plaintext(message, text)  # rendered without decrypting again
    message.is_new = True  # nobody reacted yet: its payload needs no reaction query
    tokens = crypto.search_tokens(text) if text and message.message_type != MessageType.SYSTEM else []
    last_message_at = now if shown_in_room else None
    metrics.message_stored(room.room_type)  # counted on commit
    if connection.vendor == "postgresql":
        seq = store.insert_message(
            message, tokens=tokens, kind=wire.MESSAGE_CREATED, last_message_at=last_message_at,
            logged_at=message.updated_at,
        )
        if seq is None:
            raise NotFound("Room not found.", code="room_not_found")
        message.seq = room.seq = seq
        if last_message_at is not None:
            room.last_message_at = last_message_at
        log.announce(room=room, seq=seq, kind=wire.MESSAGE_CREATED, message=message)
        return message
    # The same steps as separate statements, for other databases (SQLite).
    message.seq = allocate_seq(room, last_message_at=last_message_at)
    ChatMessage.objects.bulk_create([message])
    if created_at is not None:  # auto_now_add stamped the insert
        ChatMessage.objects.filter(pk=message.pk).update(created_at=created_at)
    entries = SearchToken.objects.bulk_create([SearchToken(message=message, room_id=room.pk, token=t) for t in tokens])
    if created_at is not None and entries:
        # Search walks entries newest first by their time: an imported message's
        # entries sort by the message's time, not by when it was imported.
        SearchToken.objects.filter(message=message).update(created_at=created_at)
    if created_at is not None:
        message.created_at = created_at
    log.append(room=room, seq=message.seq, kind=wire.MESSAGE_CREATED, message=message)
    return message


def post_system_message(*, room: ChatRoom, actor, text: str, event: str, **metadata) -> ChatMessage:
    """A system line in the room's history ("Alice added Bob")."""
    extra = {"event": event, **{key: str(value) for key, value in metadata.items() if value is not None}}
    return create_message(
        ChatMessage(room=room, sender=actor, message_type=MessageType.SYSTEM, extra_metadata=extra), text=text
    )


def audit(*, actor, action: str, room=None, target_user=None, target_message=None, reason: str = "", **details) -> AuditLog:
    return AuditLog.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        room=room,
        target_user=target_user,
        target_message=target_message,
        reason=reason or "",
        details={key: str(value) for key, value in details.items()},
    )
