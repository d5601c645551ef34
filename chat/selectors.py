"""Reads, always scoped to what the asking user may see.

Selectors decide ``select_related`` / ``prefetch_related`` so the edges cannot
cause N+1 queries.
"""

import base64
import binascii
import functools
import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import UserBlock
from chatsite.core.exceptions import Forbidden, Invalid, NotFound
from chatsite.core.models import Job

from . import crypto, policies, search
from .events import log, render, wire
from .models import (
    ATTACHMENT_IMAGE_TYPES,
    EXPORT_JOB_KINDS,
    Attachment,
    ChatMember,
    ChatMessage,
    ChatRoom,
    MessageEdit,
    MessageMention,
    MessageType,
    NotificationPreferences,
    NotifyLevel,
    PinnedMessage,
    PreviewState,
    PushSubscription,
    RoomEvent,
    RoomInvite,
    RoomType,
    SavedMessage,
    SearchToken,
    ThreadFollow,
    default_notify_level,
)

User = get_user_model()
MAX_PAGE = 100
# Search walks a word's index entries a window at a time, the first this many,
# each next one 4 times the last up to SEARCH_WINDOW_MAX (message_search).
SEARCH_WINDOW = 200
SEARCH_WINDOW_MAX = 5000
MAX_THREAD_OFFSET = 1_000_000  # a Threads list cursor further than this is not one we gave out


# What the room itself shows: every message but replies that stay in their thread.
IN_ROOM = Q(thread__isnull=True) | Q(also_in_room=True)


def _unread_filter(user_id, last_read_seq):
    return Q(seq__gt=last_read_seq, is_deleted=False) & IN_ROOM & ~Q(sender_id=user_id)


def _count_per_room(rows):
    """The number of ``rows`` (filtered on an outer room) as a subquery, 0 when none."""
    counted = rows.order_by().values("room").annotate(c=Count("pk")).values("c")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _unread_messages(*, room, user, last_read_seq):
    """Messages of others in the room after a read position (each argument a
    value or an OuterRef); thread replies count in their thread."""
    return ChatMessage.objects.filter(IN_ROOM, room=room, is_deleted=False, seq__gt=last_read_seq).exclude(sender=user)


def _unread_mentions(*, room, user, last_read_seq):
    return MessageMention.objects.filter(room=room, user=user, seq__gt=last_read_seq, message__is_deleted=False)


def mention_count_of(*, room_type: str, muted: bool, unread_count: int, mentions: int) -> int:
    """Direct messages count as mentions, unless the room is muted."""
    return unread_count if room_type == RoomType.DIRECT and not muted else mentions


def room_list_for_user(*, user, room_type: str | None = None):
    """The user's active rooms, newest activity first, annotated with ``my_role``,
    ``my_last_read_seq``, ``my_notify_level``, ``my_notifications_muted``,
    ``member_count``, ``unread_count`` and ``unread_mentions`` (see
    :func:`mention_count_of`); last messages via :func:`last_messages`."""
    membership = ChatMember.objects.filter(room=OuterRef("pk"), user=user, is_active=True)
    rooms = (
        ChatRoom.objects.filter(members__user=user, members__is_active=True)
        .select_related("avatar", "direct_user_low", "direct_user_high")
        .annotate(
            my_role=Subquery(membership.values("role")[:1]),
            my_last_read_seq=Subquery(membership.values("last_read_seq")[:1]),
            my_notify_level=Subquery(membership.values("notify_level")[:1]),
            my_notifications_muted=Subquery(membership.values("notifications_muted")[:1]),
        )
        .annotate(
            member_count=_count_per_room(ChatMember.objects.filter(room=OuterRef("pk"), is_active=True)),
            unread_count=_count_per_room(
                _unread_messages(room=OuterRef("pk"), user=user, last_read_seq=OuterRef("my_last_read_seq"))
            ),
            unread_mentions=_count_per_room(
                _unread_mentions(room=OuterRef("pk"), user=user, last_read_seq=OuterRef("my_last_read_seq"))
            ),
        )
        # Newest activity first; a room without messages counts from its creation.
        .annotate(activity_at=Coalesce("last_message_at", "created_at"))
        .order_by("-activity_at", "-id")
    )
    if room_type:
        rooms = rooms.filter(room_type=room_type)
    return rooms


def room_page(rooms, *, limit: int, cursor: str | None = None) -> tuple[list, str | None]:
    """A page of :func:`room_list_for_user` after ``cursor``: ``(rooms, next cursor or None)``.

    The cursor is the last room's place in the order (activity time, id), so a
    page costs the same however many rooms the user is in, and rooms that move
    up meanwhile are not repeated further down."""
    if cursor:
        activity_at, room_id = _decode_cursor(cursor)
        rooms = rooms.filter(Q(activity_at__lt=activity_at) | Q(activity_at=activity_at, id__lt=room_id))
    # The page's keys first (no per-room subqueries), then the annotated rows of
    # that page only: PostgreSQL would otherwise compute the counts of every room
    # of the user before sorting.
    keys = list(rooms.values_list("pk", "activity_at")[: limit + 1])
    wanted = [pk for pk, _activity in keys[:limit]]
    found = {room.pk: room for room in rooms.filter(pk__in=wanted)} if wanted else {}
    page = [found[pk] for pk in wanted if pk in found]
    if len(keys) <= limit:
        return page, None
    last_pk, last_activity = keys[limit - 1]
    return page, _encode_cursor(last_activity, last_pk)


def _encode_cursor(stamp: datetime, pk) -> str:
    """A place in a (time, id) order, opaque to clients."""
    return base64.urlsafe_b64encode(f"{stamp.isoformat()}|{pk}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str):
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, room_id = raw.split("|")
        activity_at = datetime.fromisoformat(stamp)
        if activity_at.tzinfo is None:
            raise ValueError("naive time")
        return activity_at, uuid.UUID(room_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise Invalid("cursor is not one this API gave out.", code="invalid_cursor", fields={"cursor": ["Unknown cursor."]}) from None


def last_messages(rooms) -> dict:
    """{room_id: newest visible message} for ``rooms``, in one query."""
    ids = [room.pk for room in rooms]
    if not ids:
        return {}
    # Driven from the rooms: one backward probe of the (room, seq) index per room,
    # however many messages the rooms hold.
    newest = ChatMessage.objects.filter(IN_ROOM, room=OuterRef("pk"), is_deleted=False).order_by("-seq").values("pk")[:1]
    newest_ids = ChatRoom.objects.filter(pk__in=ids).annotate(newest=Subquery(newest)).values("newest")
    messages = ChatMessage.objects.filter(pk__in=newest_ids).select_related("sender", "attachment", "reply_to__sender", "forwarded_from__sender")
    return {m.room_id: m for m in messages}


def membership_for(*, room_id, user, with_avatar: bool = False) -> ChatMember:
    """The user's active membership of a room, with the room (NotFound otherwise,
    so a room's existence does not leak). One query, no ordering: it runs on
    every message sent (where the room's avatar is not needed)."""
    if not with_avatar and connection.vendor == "postgresql":
        return _membership_pg(room_id, user)
    related = "room__avatar" if with_avatar else "room"
    try:
        return ChatMember.objects.select_related(related).get(room_id=room_id, user=user, is_active=True)
    except (ChatMember.DoesNotExist, ValidationError):
        raise NotFound("Room not found.", code="room_not_found") from None


@functools.cache
def _membership_statement() -> tuple[str, tuple, tuple]:
    member_fields, room_fields = ChatMember._meta.concrete_fields, ChatRoom._meta.concrete_fields
    quote = connection.ops.quote_name
    columns = ", ".join(
        [f"mm.{quote(f.column)}" for f in member_fields] + [f"r.{quote(f.column)}" for f in room_fields]
    )
    member_table, room_table = quote(ChatMember._meta.db_table), quote(ChatRoom._meta.db_table)
    text = (
        f"SELECT {columns}, EXISTS (SELECT 1 FROM {member_table} o WHERE o.\"room_id\" = mm.\"room_id\" "
        f"AND o.\"is_active\" AND o.\"notify_level\" = %s AND NOT o.\"notifications_muted\" "
        f"AND o.\"user_id\" <> mm.\"user_id\") "
        f"FROM {member_table} mm JOIN {room_table} r ON r.\"id\" = mm.\"room_id\" "
        f"WHERE mm.\"room_id\" = %s AND mm.\"user_id\" = %s AND mm.\"is_active\""
    )
    return text, tuple(member_fields), tuple(room_fields)


def _from_row(model, fields, values):
    """A model instance from a row of its concrete fields, as the ORM would load it."""
    values = [
        field.from_db_value(value, None, connection) if value is not None and hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, None, values)


def _membership_pg(room_id, user) -> ChatMember:
    """The send path's read (every message sent): the membership and its room
    in one statement with server-side parameters (planned once per connection,
    no ORM compilation), and whether anyone else in the room wants every
    message (``room.level_all_besides``, which spares the notification
    scheduler a query)."""
    try:
        room_uuid = room_id if isinstance(room_id, uuid.UUID) else uuid.UUID(str(room_id))
    except ValueError:
        raise NotFound("Room not found.", code="room_not_found") from None
    text, member_fields, room_fields = _membership_statement()
    connection.ensure_connection()
    with connection._prepare_cursor(psycopg.Cursor(connection.connection)) as cursor:
        cursor.execute(text, [NotifyLevel.ALL.value, room_uuid, user.pk])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("Room not found.", code="room_not_found")
    split = len(member_fields)
    member = _from_row(ChatMember, member_fields, row[:split])
    room = _from_row(ChatRoom, room_fields, row[split:-1])
    room.level_all_besides = (member.user_id, row[-1])
    ChatMember.room.field.set_cached_value(member, room)
    ChatMember.user.field.set_cached_value(member, user)
    return member


def room_get_for_member(*, room_id, user) -> ChatRoom:
    """A room the user is an active member of (NotFound otherwise, so it does not leak)."""
    return membership_for(room_id=room_id, user=user, with_avatar=True).room


def room_for_actor(*, room_id, user) -> ChatRoom:
    """A room the user is an active member of, or any room for a site moderator
    (staff moderate every room); NotFound otherwise."""
    try:
        return room_get_for_member(room_id=room_id, user=user)
    except NotFound:
        if not policies.is_site_moderator(user):
            raise
    return _first_or_not_found(ChatRoom.objects.select_related("avatar").filter(pk=room_id), "Room not found.", "room_not_found")


def _first_or_not_found(rows, detail: str, code: str):
    """The first of ``rows``, or NotFound (also for an id that is not a UUID)."""
    try:
        found = rows.first()
    except (ValidationError, ValueError):
        found = None
    if found is None:
        raise NotFound(detail, code=code)
    return found


def public_room(*, room_id, user) -> ChatRoom:
    """A public room of the user's company they may join (NotFound otherwise)."""
    return _first_or_not_found(public_rooms_for_user(user=user).filter(pk=room_id), "Room not found.", "room_not_found")


def member_of(*, room: ChatRoom, user_id) -> ChatMember:
    """The membership row of ``user_id`` in ``room``, whatever its state (the
    member services decide what each state allows); NotFound when there is none."""
    rows = ChatMember.objects.select_related("user").filter(room=room, user_id=user_id)
    return _first_or_not_found(rows, "Member not found.", "member_not_found")


def message_in_room(*, message_id, room: ChatRoom) -> ChatMessage:
    """A message of ``room`` (to reply to)."""
    rows = ChatMessage.objects.select_related("sender").filter(pk=message_id, room=room)
    return _first_or_not_found(rows, "The message replied to is not in this room.", "reply_not_found")


def message_for_member(*, message_id, user, lock: bool = False, moderator: bool = False):
    """``(message, the user's membership of its room)`` for a message the user
    may see (NotFound otherwise). ``lock`` takes the message row's lock for a
    write; ``moderator`` also lets a site moderator in (membership None)."""
    messages = ChatMessage.objects.select_related("room", "sender", "attachment", "reply_to__sender", "forwarded_from__sender")
    if lock:
        messages = messages.select_for_update(of=("self",))
    try:
        message = messages.filter(pk=message_id).first()
    except ValidationError:
        message = None
    member = None
    if message is not None:
        member = ChatMember.objects.filter(room_id=message.room_id, user=user, is_active=True).first()
        if member is not None:
            member.room = message.room
    if message is None or (member is None and not (moderator and policies.is_site_moderator(user))):
        raise NotFound("Message not found.", code="message_not_found")
    return message, member


def room_pins(*, room: ChatRoom) -> list[dict]:
    """The room's pinned messages, newest pin first, each ``{"message", "message_id",
    "pinned_by", "pinned_at"}``; a deleted message is left out while deleted."""
    pins = list(
        PinnedMessage.objects.filter(room=room, message__is_deleted=False)
        .select_related(
            "pinned_by", "message__sender", "message__attachment", "message__reply_to__sender",
            "message__forwarded_from__sender",
        )
        .order_by("-created_at")[: settings.CHAT_MAX_PINS]
    )
    payloads = render.message_payloads([pin.message for pin in pins])
    return [{"message": payload, **render.pin_payload(pin)} for pin, payload in zip(pins, payloads, strict=True)]


def saved_messages(*, user, before: datetime | None = None, limit: int = 50) -> list[dict]:
    """The user's saved messages, newest saved first, each ``{"saved_at", "message"}``:
    those still readable (a member of the room, the message not deleted)."""
    limit = max(1, min(int(limit), MAX_PAGE))
    my_rooms = ChatMember.objects.filter(user=user, is_active=True).values("room_id")
    rows = SavedMessage.objects.filter(user=user, message__room_id__in=my_rooms, message__is_deleted=False)
    if before is not None:
        rows = rows.filter(created_at__lt=before)
    saved = list(
        rows.select_related(
            "message__sender", "message__attachment", "message__reply_to__sender", "message__forwarded_from__sender"
        ).order_by("-created_at")[:limit]
    )
    payloads = render.message_payloads([row.message for row in saved])
    return [{"saved_at": row.created_at, "message": payload} for row, payload in zip(saved, payloads, strict=True)]


def saved_message_ids(*, user) -> list[str]:
    """The ids of every message the user saved (at most CHAT_MAX_SAVED): how a
    client marks them in any room."""
    rows = SavedMessage.objects.filter(user=user).order_by("-created_at").values_list("message_id", flat=True)
    return [str(message_id) for message_id in rows[: settings.CHAT_MAX_SAVED]]


def live_invites(room: ChatRoom):
    """The room's invite links that can still be used (not revoked, not
    expired, not used up)."""
    return RoomInvite.objects.filter(room=room, revoked_at__isnull=True, expires_at__gt=timezone.now()).filter(
        Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses"))
    )


def room_invites(*, room_id, user):
    """A room's live invite links, newest first: for its owners and admins (and site moderators)."""
    room = room_for_actor(room_id=room_id, user=user)
    policies.require_moderator(room, user)
    return live_invites(room).select_related("created_by").order_by("-created_at")


def invite_by_code(*, code: str) -> RoomInvite:
    """An invite link by its code, with its room and live member count (NotFound otherwise)."""
    invite = (
        RoomInvite.objects.select_related("room", "created_by")
        .annotate(member_total=Count("room__members", filter=Q(room__members__is_active=True)))
        .filter(code=code)
        .first()
    )
    if invite is None:
        raise NotFound("This invite link does not exist.", code="invite_not_found")
    return invite


def invite_preview(*, code: str, user) -> dict:
    """What an invite link leads to, for ``user`` about to open it: the room's
    name, description and size. A link that cannot be used answers Gone (410)
    with the reason, unless ``user`` is in the room already; a banned person is
    refused (403)."""
    invite = invite_by_code(code=code)
    current = ChatMember.objects.filter(room=invite.room, user=user).first()
    if current is not None and current.is_banned:
        raise Forbidden("You are banned from this room.", code="banned")
    already = current is not None and current.is_active
    if not already:
        policies.require_invite_usable(invite)
    return render.invite_preview_payload(invite, already_member=already)


def invite_for_moderator(*, invite_id, room: ChatRoom) -> RoomInvite:
    return _first_or_not_found(RoomInvite.objects.filter(pk=invite_id, room=room), "Invite not found.", "invite_not_found")


def reactions_for(*, message: ChatMessage, user) -> list[dict]:
    """A message's reactions, each with ``me``: whether ``user`` is among them."""
    me = str(user.pk)
    summary = render.reaction_summaries([message.pk]).get(message.pk, [])
    return [{**item, "me": me in item["user_ids"]} for item in summary]


def active_user(*, user_id):
    """An active account, by id (NotFound otherwise)."""
    return _first_or_not_found(User.objects.filter(pk=user_id, is_active=True), "User not found.", "user_not_found")


def attachment_by_id(*, attachment_id, uploaded_by=None) -> Attachment:
    """An attachment by id (``uploaded_by``: only that person's own upload); NotFound otherwise."""
    rows = Attachment.objects.filter(pk=attachment_id)
    if uploaded_by is not None:
        rows = rows.filter(uploaded_by=uploaded_by)
    return _first_or_not_found(rows, "Attachment not found.", "attachment_not_found")


def public_rooms_for_user(*, user):
    """Public groups of the user's company (to find and join)."""
    if user.company_id is None:
        return ChatRoom.objects.none()
    return ChatRoom.objects.filter(
        room_type="group", is_public=True, is_active=True, company_id=user.company_id
    ).order_by("name")


def rooms_to_join(*, user, query: str = ""):
    """The public groups offered to the user in "Join a room" (the room
    directory): not those they are banned from; with their active member count
    (``member_total``); ``query`` matches words of the name or the description."""
    banned = ChatMember.objects.filter(room=OuterRef("pk"), user=user, is_banned=True)
    rooms = public_rooms_for_user(user=user).exclude(Exists(banned))
    for word in query.split()[:5]:
        rooms = rooms.filter(Q(name__icontains=word) | Q(description__icontains=word))
    return rooms.annotate(member_total=Count("members", filter=Q(members__is_active=True)))


def member_list(*, room: ChatRoom, include_banned: bool = False):
    """Active members (and, for the room's moderators, banned people to unban)."""
    visible = Q(is_active=True) | Q(is_banned=True) if include_banned else Q(is_active=True)
    # People added together share joined_at: then in the order they were added.
    return ChatMember.objects.filter(room=room).filter(visible).select_related("user").order_by("joined_at", "created_at")


def message_list(*, room: ChatRoom, before: int | None = None, after: int | None = None, limit: int = 50):
    """A page of history by seq cursor, oldest first. ``before`` pages back from
    the newest; ``after`` pages forward. Stable under concurrent sends."""
    limit = max(1, min(int(limit), MAX_PAGE))
    messages = ChatMessage.objects.filter(IN_ROOM, room=room).select_related("sender", "attachment", "reply_to__sender", "forwarded_from__sender")
    return _seq_page(messages, before=before, after=after, limit=limit)


def _seq_page(messages, *, before: int | None, after: int | None, limit: int) -> list:
    if after is not None:
        return list(messages.filter(seq__gt=after).order_by("seq")[:limit])
    if before is not None:
        messages = messages.filter(seq__lt=before)
    page = list(messages.order_by("-seq")[:limit])
    page.reverse()
    return page


def _attention(members) -> list[dict]:
    """Counts and notification settings of ``members`` (ChatMember rows), each
    as of its room's seq in the same statement (one snapshot: a message
    committed meanwhile is either counted and below ``seq``, or neither)."""
    outer = {"room": OuterRef("room_id"), "user": OuterRef("user_id"), "last_read_seq": OuterRef("last_read_seq")}
    rows = members.annotate(
        room_seq=F("room__seq"),
        room_type=F("room__room_type"),
        unread_count=_count_per_room(_unread_messages(**outer)),
        unread_mentions=_count_per_room(_unread_mentions(**outer)),
    ).values_list(
        "room_id", "user_id", "room_seq", "room_type", "last_read_seq", "unread_count", "unread_mentions", "notify_level", "notifications_muted"
    )
    return [
        {
            "room": str(room_id),
            "user_id": str(user_id),
            "seq": seq,
            "last_read_seq": last_read_seq,
            "unread_count": unread,
            "mention_count": mention_count_of(room_type=kind, muted=muted, unread_count=unread, mentions=mentions),
            "notify_level": level or default_notify_level(kind),
            "notify_level_is_default": not level,
            "notifications_muted": muted,
        }
        for room_id, user_id, seq, kind, last_read_seq, unread, mentions, level, muted in rows
    ]


def attention(*, user, room_ids=None) -> list[dict]:
    """The user's rooms' counts and notification settings (the ``hello`` rooms
    and the ``unread`` frame body, with ``user_id``)."""
    members = ChatMember.objects.filter(user=user, is_active=True)
    if room_ids is not None:
        members = members.filter(room_id__in=list(room_ids))
    return _attention(members)


def attention_in_room(*, room_id, user_ids, unread_after: int | None = None) -> list[dict]:
    """The counts of some members of one room in one query (people an edit or
    delete concerns); ``unread_after``: only those who have not read that seq."""
    members = ChatMember.objects.filter(room_id=room_id, user_id__in=list(user_ids), is_active=True)
    if unread_after is not None:
        members = members.filter(last_read_seq__lt=unread_after)
    return _attention(members)


def attention_for(*, member: ChatMember) -> dict:
    """One member's counts and settings: the ``unread`` frame body."""
    (row,) = attention(user=member.user_id, room_ids=[member.room_id])
    del row["user_id"]
    return row


def mentions_for_user(*, user, limit: int, cursor: str | None = None) -> tuple[list, str | None]:
    """Messages mentioning the user in rooms they are still in, newest first:
    ``(mention rows with message and room, next cursor or None)``."""
    limit = max(1, min(int(limit), MAX_PAGE))
    rows = (
        MessageMention.objects.filter(
            user=user,
            message__is_deleted=False,
            room__members__user=user,
            room__members__is_active=True,
        )
        .select_related("room", "message__sender", "message__attachment", "message__reply_to__sender", "message__forwarded_from__sender", "message__room")
        .order_by("-sent_at", "-id")
    )
    if cursor:
        sent_at, pk = _decode_cursor(cursor)
        rows = rows.filter(Q(sent_at__lt=sent_at) | Q(sent_at=sent_at, id__lt=pk))
    page = list(rows[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return page, (_encode_cursor(page[-1].sent_at, page[-1].pk) if more and page else None)


def notification_preferences(*, user) -> NotificationPreferences:
    """The person's notification settings (the defaults, unsaved, until they change one)."""
    return NotificationPreferences.objects.filter(user=user).first() or NotificationPreferences(user=user)


def push_subscriptions(*, user) -> list[PushSubscription]:
    return list(PushSubscription.objects.filter(user=user).order_by("created_at"))


# --- threads ------------------------------------------------------------------------
def thread_not_found() -> NotFound:
    return NotFound("Thread not found.", code="thread_not_found")


def thread_root(*, message_id, user, lock: bool = False) -> tuple[ChatMessage, ChatMember]:
    """``(root, the user's membership of its room)`` for a thread the user may
    see; a message that cannot carry a thread is Invalid ``not_a_thread_root``."""
    try:
        root, member = message_for_member(message_id=message_id, user=user, lock=lock)
    except NotFound:
        raise thread_not_found() from None
    if root.thread_id is not None or root.message_type == MessageType.SYSTEM:
        raise Invalid("This message is not the start of a thread.", code="not_a_thread_root")
    return root, member


def thread_root_in_room(*, message_id, room: ChatRoom) -> ChatMessage:
    """The root a reply in ``room`` names (checked by the thread service),
    locked: a reply takes its root's row before the room's (the order of every
    write that touches both), which keeps concurrent edits of the root and
    replies from deadlocking."""
    rows = ChatMessage.objects.select_for_update(of=("self",)).select_related("sender", "room").filter(pk=message_id, room=room)
    return _first_or_not_found(rows, "Thread not found.", "thread_not_found")


def thread_replies(*, root: ChatMessage, before: int | None = None, after: int | None = None, limit: int = 50) -> list:
    """A page of the thread's replies by seq, oldest first (as room history)."""
    limit = max(1, min(int(limit), MAX_PAGE))
    replies = ChatMessage.objects.filter(thread=root).select_related("sender", "attachment", "reply_to__sender", "forwarded_from__sender")
    return _seq_page(replies, before=before, after=after, limit=limit)


def _thread_unread(*, root, user, after):
    """Replies of others after a read position, but for people the reader blocked."""
    blocked = UserBlock.objects.filter(blocker=user).values("blocked_id")
    return ChatMessage.objects.filter(thread=root, is_deleted=False, seq__gt=after).exclude(sender=user).exclude(sender__in=blocked)


def thread_unread_count(*, root, user, after: int) -> int:
    return _thread_unread(root=root, user=user, after=after).count()


def thread_state(*, root: ChatMessage, user) -> dict:
    """The person's follow and read state of a thread (not following, nothing read, when no row)."""
    follow = ThreadFollow.objects.filter(root=root, user=user).first()
    last_read = follow.last_read_seq if follow else 0
    return {
        "following": bool(follow and follow.following is True),
        "last_read_seq": last_read,
        "unread_count": thread_unread_count(root=root, user=user, after=last_read),
    }


def followed_threads(*, user):
    """Threads the user follows in rooms they are in, annotated with
    ``unread_count``: those with unread replies first, then the latest reply."""
    unread = _thread_unread(root=OuterRef("root_id"), user=user, after=OuterRef("last_read_seq"))
    counted = unread.order_by().values("thread").annotate(c=Count("pk")).values("c")[:1]
    return (
        ThreadFollow.objects.filter(
            user=user, following=True, root__room__members__user=user, root__room__members__is_active=True
        )
        .select_related("root__sender", "root__attachment", "root__reply_to__sender", "root__forwarded_from__sender", "root__room")
        .annotate(unread_count=Coalesce(Subquery(counted, output_field=IntegerField()), Value(0)))
        .annotate(has_unread=Case(When(unread_count__gt=0, then=Value(1)), default=Value(0), output_field=IntegerField()))
        .annotate(activity_at=Coalesce("root__thread_last_reply_at", "root__created_at"))
        .order_by("-has_unread", "-activity_at", "-id")
    )


def threads_page(*, user, limit: int, cursor: str | None = None) -> tuple[list, str | None]:
    """A page of :func:`followed_threads`; the cursor is the offset (the order
    moves as replies arrive, so a page may repeat or skip one then)."""
    limit = max(1, min(int(limit), MAX_PAGE))
    offset = 0
    if cursor:
        try:
            offset = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
            if not 0 <= offset <= MAX_THREAD_OFFSET:
                raise ValueError
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise Invalid("cursor is not one this API gave out.", code="invalid_cursor", fields={"cursor": ["Unknown cursor."]}) from None
    rows = list(followed_threads(user=user)[offset : offset + limit + 1])
    more = len(rows) > limit
    token = base64.urlsafe_b64encode(str(offset + limit).encode()).decode().rstrip("=") if more else None
    return rows[:limit], token


def threads_unread_total(*, user) -> dict:
    rows = followed_threads(user=user).filter(unread_count__gt=0).values_list("unread_count", flat=True)
    counts = list(rows)
    return {"threads": len(counts), "replies": sum(counts)}


def unread_count_for(*, member: ChatMember) -> int:
    """Messages of others after the member's read position."""
    return (
        ChatMessage.objects.filter(room_id=member.room_id)
        .filter(_unread_filter(member.user_id, member.last_read_seq))
        .count()
    )


def unread_count(*, room: ChatRoom, user) -> int:
    member = ChatMember.objects.filter(room=room, user=user, is_active=True).first()
    if member is None:
        raise NotFound("Room not found.", code="room_not_found")
    return unread_count_for(member=member)


def message_edit_history(*, message: ChatMessage) -> list[dict]:
    edits = MessageEdit.objects.filter(message=message).select_related("edited_by").order_by("created_at")
    return [
        {
            "content": crypto.decrypt(edit.previous_content_encrypted) if not message.is_deleted else None,
            "edited_by": str(edit.edited_by_id) if edit.edited_by_id else None,
            "replaced_at": edit.created_at,
        }
        for edit in edits
    ]


class ResyncRequired(Exception):
    """The log no longer holds events after the asked seq; refetch the room."""

    def __init__(self, room: ChatRoom):
        super().__init__(str(room.pk))
        self.room = room


def events_since(*, room: ChatRoom, after: int, limit: int = 500) -> tuple[list[dict], bool]:
    """Logged events with seq > ``after``, in order: ``(frames, has_more)``.

    Raises :class:`ResyncRequired` when retention purged events the client missed.
    """
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise Invalid("after must be a non-negative integer.", code="invalid_seq")
    if after < room.events_purged_through:
        raise ResyncRequired(room)
    rows = list(
        RoomEvent.objects.filter(room=room, seq__gt=after)
        .select_related("message__sender", "message__attachment", "message__reply_to__sender", "message__forwarded_from__sender")
        .order_by("seq")[: limit + 1]
    )
    # A retention purge may have committed since ``room`` was read: the log
    # must continue right after ``after``, or the client resyncs.
    if rows and rows[0].seq != after + 1:
        raise ResyncRequired(room)
    has_more = len(rows) > limit
    return log.replay(rows[:limit]), has_more


@dataclass(frozen=True, slots=True)
class RoomLog:
    """A room's logged events after a seq, read once for every socket of a
    process that needs them (chat/realtime/replays.py), and who may read them."""

    room_seq: int
    members: frozenset  # the room's active members' user ids (str)
    frames: list  # [(seq, encoded frame)], in order
    has_more: bool
    resync: bool  # the log no longer reaches back to the asked seq


def room_log_since(*, room_id, after: int, limit: int = 500) -> RoomLog | None:
    """The room's events after ``after`` (see :func:`events_since`) with its
    active members, or None when the room does not exist. The caller checks
    that its user is one of ``members`` before sending any of it."""
    room = ChatRoom.objects.filter(pk=room_id).first()
    if room is None:
        return None
    members = frozenset(
        str(user_id) for user_id in ChatMember.objects.filter(room=room, is_active=True).values_list("user_id", flat=True)
    )
    try:
        frames, has_more = events_since(room=room, after=after, limit=limit)
    except ResyncRequired:
        return RoomLog(room_seq=room.seq, members=members, frames=[], has_more=False, resync=True)
    encoded = [(frame["seq"], wire.encode(frame)) for frame in frames]
    return RoomLog(room_seq=room.seq, members=members, frames=encoded, has_more=has_more, resync=False)


def message_search(*, user, query: str, room: ChatRoom | None = None, limit: int = 50):
    """Messages in the user's rooms matching ``query`` (chat.search: words that
    must each start a word of the message, and filters), newest first.

    Matches through the keyed-hash index only: no plaintext is searched. The
    query's rarest word (its matches counted, an index-only look, up to 100
    windows) drives: its index entries are walked newest first, a window at a
    time, and the messages they name are checked for the other words and the
    filters, until enough are found (or the word's entries end). An index
    entry is never older than its message, so once a window reaches time T,
    every match newer than T has been seen.
    """
    parsed = search.parse_query(query, time_zone=getattr(user, "time_zone", "") or "")
    my_rooms = ChatMember.objects.filter(user=user, is_active=True).values("room_id")
    scope = ChatRoom.objects.filter(pk__in=my_rooms)
    if room is not None:
        scope = scope.filter(pk=room.pk)
    if parsed.rooms:
        scope = scope.filter(pk__in=_rooms_named(user, parsed.rooms, my_rooms))
    room_ids = list(scope.values_list("pk", flat=True))
    messages = ChatMessage.objects.filter(room_id__in=room_ids, is_deleted=False).exclude(message_type=MessageType.SYSTEM)
    if parsed.senders:
        by_name = Q()
        for name in parsed.senders:
            by_name |= Q(sender__username__iexact=user.username if name == "me" else name)
        messages = messages.filter(by_name)
    if "file" in parsed.has:
        messages = messages.filter(attachment__isnull=False)
    if "image" in parsed.has:
        messages = messages.filter(attachment__content_type__startswith="image/")
    if parsed.since is not None:
        messages = messages.filter(created_at__gte=parsed.since)
    if parsed.until is not None:
        messages = messages.filter(created_at__lt=parsed.until)
    token_sets = parsed.word_tokens + ([(crypto.facet_hash("link"),)] if "link" in parsed.has else [])
    limit = max(1, min(int(limit), MAX_PAGE))
    if not room_ids:
        found = []
    elif not token_sets:
        newest = ("-seq",) if len(room_ids) == 1 else ("-created_at", "-seq")
        found = list(messages.order_by(*newest).values_list("pk", flat=True)[:limit])
    else:
        lengths = [len(word) for word in parsed.words] + ([0] if "link" in parsed.has else [])
        found = _newest_with_words(messages, room_ids, token_sets, lengths, limit)
    rows = ChatMessage.objects.select_related("sender", "attachment", "reply_to__sender", "forwarded_from__sender").in_bulk(found)
    return [rows[pk] for pk in found if pk in rows]


def _newest_with_words(messages, room_ids: list, token_sets: list[tuple[int, ...]], words: list[int], limit: int) -> list:
    """The ids of the newest ``messages`` having a digest of every token set
    (message_search); ``words``: the length of the word of each set."""
    entries = SearchToken.objects.filter(room_id__in=room_ids)
    drive = 0
    # The rarest word drives: counted first up to one window (cheap), then, as
    # long as every word fills the count, up to 10 and 100 windows (index-only).
    for cap in (SEARCH_WINDOW, SEARCH_WINDOW * 10, SEARCH_WINDOW * 100) if len(token_sets) > 1 else ():
        counts = [entries.filter(token__in=tokens)[:cap].count() for tokens in token_sets]
        # Equally common as far as counted: the longest word (a longer prefix is rarer).
        drive = min(range(len(token_sets)), key=lambda i: (counts[i], -words[i]))
        if counts[drive] < cap:
            break
    others = token_sets[:drive] + token_sets[drive + 1 :]
    found: dict = {}  # id -> (created_at, seq)
    seen: set = set()
    until, stuck = None, False  # the next window: entries at or before this time
    size = SEARCH_WINDOW
    while True:
        window, complete_after, ended = [], None, True
        # One ordered index scan per digest (a query word's prefix and whole-word digests).
        for token in token_sets[drive]:
            part = entries.filter(token=token)
            if until is not None:
                # At or before the last window's end (entries at that time may be
                # left); strictly before it if a whole window had that one time.
                part = part.filter(created_at__lt=until) if stuck else part.filter(created_at__lte=until)
            part = list(part.order_by("-created_at").values_list("message_id", "created_at")[:size])
            window += part
            if len(part) == size:
                ended = False
                complete_after = part[-1][1] if complete_after is None else max(complete_after, part[-1][1])
        fresh = {message_id for message_id, _ in window} - seen
        seen.update(fresh)
        # The other words, in the index alone (its unique (message, token) index);
        # then the messages left, for the filters, the time and the seq.
        for tokens in others:
            if not fresh:
                break
            fresh = set(SearchToken.objects.filter(message_id__in=fresh, token__in=tokens).values_list("message_id", flat=True))
        if fresh:
            found.update((pk, (created, seq)) for pk, created, seq in messages.filter(pk__in=fresh).values_list("pk", "created_at", "seq"))
        sure = found if ended else {pk: at for pk, at in found.items() if at[0] > complete_after}
        if ended or len(sure) >= limit:
            return sorted(sure, key=sure.__getitem__, reverse=True)[:limit]
        stuck = complete_after == until
        until = complete_after
        size = min(size * 4, SEARCH_WINDOW_MAX)


def _rooms_named(user, names: list[str], my_rooms):
    """The ids of my rooms an ``in:`` filter names: by name (whole, else its
    start, case-insensitively), or ``@username`` for the direct room with them."""
    matching = Q()
    for name in names:
        if name.startswith("@"):
            matching |= Q(room_type=RoomType.DIRECT, members__user__username__iexact=name[1:], members__is_active=True)
        else:
            matching |= Q(name__iexact=name) | Q(name__istartswith=name)
    return ChatRoom.objects.filter(matching, pk__in=my_rooms).values("pk")


def attachment_for_user(*, attachment_id, user):
    """An attachment the user may download: their own upload, or one posted in
    (or the avatar of) a room they are an active member of."""
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    if attachment is None:
        raise NotFound("Attachment not found.", code="attachment_not_found")
    if attachment.uploaded_by_id == user.pk:
        return attachment
    my_rooms = ChatMember.objects.filter(user=user, is_active=True).values("room_id")
    posted = ChatMessage.objects.filter(attachment=attachment, room_id__in=my_rooms, is_deleted=False).exists()
    if posted or ChatRoom.objects.filter(avatar=attachment, pk__in=my_rooms).exists():
        return attachment
    raise NotFound("Attachment not found.", code="attachment_not_found")


def export_job(*, job_id, user) -> Job:
    """One of my exports (a room's or my data's), by id; NotFound otherwise."""
    return _first_or_not_found(
        Job.objects.filter(pk=job_id, owner=user, kind__in=EXPORT_JOB_KINDS), "Export not found.", "export_not_found"
    )


def export_jobs(*, user, limit: int = 20) -> list[Job]:
    """My exports, newest first."""
    return list(Job.objects.filter(owner=user, kind__in=EXPORT_JOB_KINDS).order_by("-created_at")[:limit])


def attachments_without_previews(*, limit: int) -> list:
    """Ids of the images and PDFs stored before previews existed (no preview
    state), oldest first: the backfill's work (manage.py make_attachment_previews)."""
    kinds = sorted(ATTACHMENT_IMAGE_TYPES | {"application/pdf"})
    rows = Attachment.objects.filter(preview_state=PreviewState.NONE, content_type__in=kinds).order_by("created_at")
    return list(rows.values_list("pk", flat=True)[:limit])
