"""Pieces every chat service shares: seq allocation, permission checks, system
messages, the audit log and text validation."""

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .. import crypto, events
from ..exceptions import Forbidden, Invalid, NotFound
from ..models import AuditLog, ChatMember, ChatMessage, ChatRoom, MessageType, Role, RoomEvent, SearchToken

ROLE_RANK = {Role.GUEST: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}
MODERATOR_ROLES = frozenset({Role.OWNER, Role.ADMIN})


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


def is_site_moderator(user) -> bool:
    """Staff with the moderation permission may moderate any room (Django admin)."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm("chat.moderate_chatroom")
    )


def get_membership(room: ChatRoom, user) -> ChatMember | None:
    if user is None or not user.is_authenticated:
        return None
    return ChatMember.objects.filter(room=room, user=user, is_active=True).first()


def require_member(room: ChatRoom, user) -> ChatMember:
    """The caller's active membership; a non-member learns nothing (NotFound)."""
    member = get_membership(room, user)
    if member is None:
        raise NotFound("Room not found.", code="room_not_found")
    return member


def require_active_room(room: ChatRoom) -> None:
    if not room.is_active:
        raise Forbidden("This room has been deactivated.", code="room_inactive")


def require_moderator(room: ChatRoom, actor, target: ChatMember | None = None) -> ChatMember | None:
    """Owner or admin of ``room``, or a site moderator (returned as None: staff
    moderate every room whatever their own role in it).

    With ``target``: an admin cannot act on an owner or another admin, an owner
    not on another owner, and nobody on themselves through these actions.
    """
    if target is not None and target.user_id == getattr(actor, "pk", None):
        raise Invalid("You cannot do this to yourself.", code="self_action")
    if is_site_moderator(actor):
        return None
    member = require_member(room, actor)
    if member.role not in MODERATOR_ROLES:
        raise Forbidden("Only the room's owners and admins can do this.", code="not_room_admin")
    if target is not None and target.role in MODERATOR_ROLES and ROLE_RANK[member.role] <= ROLE_RANK[target.role]:
        raise Forbidden(
            f"A room {member.role} cannot act on a room {target.role}.", code="insufficient_role"
        )
    return member


def require_owner(room: ChatRoom, actor) -> ChatMember | None:
    if is_site_moderator(actor):
        return None
    member = require_member(room, actor)
    if member.role != Role.OWNER:
        raise Forbidden("Only the room's owner can do this.", code="not_room_owner")
    return member


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


def index_message(message: ChatMessage, text: str) -> None:
    """(Re)build the keyed-hash search index of ``message`` from ``text``."""
    SearchToken.objects.filter(message=message).delete()
    SearchToken.objects.bulk_create(
        [SearchToken(message=message, room_id=message.room_id, token=t) for t in crypto.search_tokens(text)]
    )


def create_message(
    *,
    room: ChatRoom,
    sender,
    text: str,
    message_type: str,
    extra_metadata: dict | None = None,
    reply_to: ChatMessage | None = None,
    forwarded_from: ChatMessage | None = None,
    attachment=None,
    client_msg_id: str | None = None,
    is_flagged: bool = False,
    flag_reason: str = "",
) -> ChatMessage:
    """Allocate a seq, store the encrypted message and its search tokens, log
    and announce ``message.created``. Callers have checked permission."""
    if connection.vendor == "postgresql":
        return _create_message_one_statement(
            room=room, sender=sender, text=text, message_type=message_type, extra_metadata=extra_metadata,
            reply_to=reply_to, forwarded_from=forwarded_from, attachment=attachment, client_msg_id=client_msg_id,
            is_flagged=is_flagged, flag_reason=flag_reason,
        )
    seq = allocate_seq(room, last_message_at=timezone.now())
    message = ChatMessage(
        room=room,
        seq=seq,
        sender=sender,
        message_type=message_type,
        content_encrypted=crypto.encrypt(text),
        extra_metadata=extra_metadata or {},
        reply_to=reply_to,
        forwarded_from=forwarded_from,
        attachment=attachment,
        client_msg_id=client_msg_id,
        is_flagged=is_flagged,
        flag_reason=flag_reason,
    )
    message._is_new = True
    message.save(force_insert=True)
    if text and message_type != MessageType.SYSTEM:
        SearchToken.objects.bulk_create(
            [SearchToken(message=message, room_id=room.pk, token=t) for t in crypto.search_tokens(text)]
        )
    events.append(room=room, seq=seq, kind=events.MESSAGE_CREATED, body={}, message=message)
    return message


# The columns a new message writes, in model order (the seq comes from the room).
def _message_columns() -> list:
    return [f for f in ChatMessage._meta.concrete_fields if f.attname != "seq"]


def _create_message_one_statement(
    *, room, sender, text, message_type, extra_metadata, reply_to, forwarded_from, attachment, client_msg_id,
    is_flagged, flag_reason,
) -> ChatMessage:
    """create_message on PostgreSQL in one round trip: the room's seq, the
    message, its search tokens and its log event in one statement (data-modifying
    CTEs), the same rows the ORM would write. Sending is the hottest write there
    is; the ORM's four statements cost several milliseconds of CPU per message
    (docs/performance.md)."""
    now = timezone.now()
    message = ChatMessage(
        room=room,
        seq=0,
        sender=sender,
        message_type=message_type,
        content_encrypted=crypto.encrypt(text),
        extra_metadata=extra_metadata or {},
        reply_to=reply_to,
        forwarded_from=forwarded_from,
        attachment=attachment,
        client_msg_id=client_msg_id,
        is_flagged=is_flagged,
        flag_reason=flag_reason,
        created_at=now,
        updated_at=now,
    )
    fields = _message_columns()
    values = [f.get_db_prep_save(getattr(message, f.attname), connection) for f in fields]
    tokens = list(crypto.search_tokens(text)) if text and message_type != MessageType.SYSTEM else []
    event = RoomEvent(room=room, seq=0, kind=events.MESSAGE_CREATED, payload={}, message=message, created_at=now, updated_at=now)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    pk = ChatRoom._meta.pk
    room_id = pk.get_db_prep_value(room.pk, connection)
    message_id = ChatMessage._meta.pk.get_db_prep_value(message.pk, connection)
    sql = f"""
        WITH r AS (
            UPDATE {quote(ChatRoom._meta.db_table)} SET "seq" = "seq" + 1, "last_message_at" = %s
            WHERE "id" = %s RETURNING "seq"
        ), m AS (
            INSERT INTO {quote(ChatMessage._meta.db_table)} ({columns}, "seq")
            SELECT {placeholders}, r."seq" FROM r RETURNING "seq"
        ), t AS (
            INSERT INTO {quote(SearchToken._meta.db_table)} ("id", "created_at", "updated_at", "message_id", "room_id", "token")
            SELECT gen_random_uuid(), %s, %s, %s, %s, token FROM m, unnest(%s::bigint[]) AS token
        ), e AS (
            INSERT INTO {quote(RoomEvent._meta.db_table)} ("id", "created_at", "updated_at", "room_id", "seq", "kind", "payload", "message_id")
            SELECT %s, %s, %s, %s, m."seq", %s, %s, %s FROM m
        )
        SELECT "seq" FROM m
    """
    payload_field = RoomEvent._meta.get_field("payload")
    params = [
        now, room_id,
        *values,
        now, now, message_id, room_id, tokens,
        RoomEvent._meta.pk.get_db_prep_value(event.pk, connection), now, now, room_id, event.kind,
        payload_field.get_db_prep_save(event.payload, connection), message_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise NotFound("Room not found.", code="room_not_found")
    message.seq = event.seq = room.seq = row[0]
    room.last_message_at = now
    message._state.adding = False
    message._is_new = True
    events.announce(room=room, seq=message.seq, kind=events.MESSAGE_CREATED, body={}, message=message)
    return message


def post_system_message(*, room: ChatRoom, actor, text: str, event: str, **metadata) -> ChatMessage:
    """A system line in the room's history ("Alice added Bob")."""
    extra = {"event": event, **{key: str(value) for key, value in metadata.items() if value is not None}}
    return create_message(room=room, sender=actor, text=text, message_type=MessageType.SYSTEM, extra_metadata=extra)


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


def max_members() -> int:
    return settings.CHAT_MAX_ROOM_MEMBERS
