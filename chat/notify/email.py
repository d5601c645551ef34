"""The notification email: one per user per batch of due email rows.

What leaves the server: the room's name (a direct room: the other person's
name), each sender's name, the time, a link into the room at the message and,
unless ``CHAT_EMAIL_INCLUDE_CONTENT`` is off, an excerpt of the text (the
recipient may read it in the chat anyway; an email is where a mail provider
can read it too, which is why it can be turned off).

Every email carries a one-click unsubscribe link (RFC 8058): a signed token
with the user id, so turning email off needs no login. The signature is the
authorization; the salt keeps a token signed for anything else from working.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from ..events.render import message_content
from ..models import ChatRoom, MessageType, Notification, NotificationReason, RoomType
from ..policies import direct_peer_id
from .links import message_path

UNSUBSCRIBE_SALT = "chat.email-unsubscribe"
EXCERPT_LENGTH = 280  # characters of each message's text, when content is included


def unsubscribe_token(*, user_id) -> str:
    """A token that turns email notifications off for ``user_id``; it does not expire
    (an unsubscribe link in an old email must still work)."""
    return signing.dumps(str(user_id), salt=UNSUBSCRIBE_SALT)


def user_id_from_unsubscribe_token(token: str) -> str:
    """The user id a token was signed for; raises ``signing.BadSignature`` otherwise."""
    return signing.loads(token, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(*, user_id) -> str:
    return settings.CHAT_SITE_URL + reverse("email-unsubscribe", args=[unsubscribe_token(user_id=user_id)])


def message_url(*, room_id, message_id) -> str:
    """Where the browser UI opens ``room_id`` scrolled to the message."""
    return settings.CHAT_SITE_URL + message_path(room_id=room_id, message_id=message_id)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def subject_for(*, messages: int, conversations: int) -> str:
    """The subject, "3 new messages in 2 conversations", singular where it belongs."""
    return f"{plural(messages, 'new message')} in {plural(conversations, 'conversation')}"


@dataclass(frozen=True, slots=True)
class EmailItem:
    sender: str
    sent_at: datetime
    reason: str  # NotificationReason
    excerpt: str | None  # None: content left out (setting) or nothing to show
    url: str


@dataclass(frozen=True, slots=True)
class EmailConversation:
    name: str
    is_direct: bool
    url: str  # the room at its first message in this email
    items: tuple[EmailItem, ...]


def room_title(*, room: ChatRoom, user_id, names: dict) -> str:
    """What the recipient calls the room: the other person in a direct room, else its name."""
    if room.room_type == RoomType.DIRECT:
        return names.get(direct_peer_id(room, user_id), "Direct message")
    return f"#{room.name}" if room.name else str(room)


def _excerpt(message) -> str | None:
    if not settings.CHAT_EMAIL_INCLUDE_CONTENT:
        return None
    text = (message_content(message) or "").strip()
    if not text:
        if message.message_type == MessageType.IMAGE:
            return "(an image)"
        if message.message_type == MessageType.FILE:
            return "(a file)"
        return None
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1].rstrip() + "…"


def conversations_for(*, user, notifications: Sequence[Notification], names: dict) -> list[EmailConversation]:
    """The rows grouped by room, rooms in the order of their first message, messages by time."""
    by_room: dict = {}
    for row in sorted(notifications, key=lambda r: (r.message.created_at, r.message.seq)):
        by_room.setdefault(row.room_id, []).append(row)
    conversations = []
    for rows in by_room.values():
        room = rows[0].room
        items = tuple(
            EmailItem(
                sender=row.message.sender.name if row.message.sender else "Someone",
                sent_at=row.message.created_at,
                reason=row.reason,
                excerpt=_excerpt(row.message),
                url=message_url(room_id=row.room_id, message_id=row.message_id),
            )
            for row in rows
        )
        conversations.append(
            EmailConversation(
                name=room_title(room=room, user_id=user.pk, names=names),
                is_direct=room.room_type == RoomType.DIRECT,
                url=items[0].url,
                items=items,
            )
        )
    return conversations


def _zone_of(user) -> ZoneInfo | None:
    name = getattr(user, "time_zone", "")
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def compose(*, user, notifications: Sequence[Notification], names: dict | None = None) -> EmailMultiAlternatives:
    """The batch email to ``user`` for ``notifications`` (rows with room, message and
    sender loaded). ``names``: user id -> display name of the direct rooms' other
    people (looked up here when not given)."""
    if names is None:
        names = peer_names(user_id=user.pk, rooms=[row.room for row in notifications])
    conversations = conversations_for(user=user, notifications=notifications, names=names)
    unsubscribe = unsubscribe_url(user_id=user.pk)
    zone = _zone_of(user)
    context = {
        "user": user,
        "subject": subject_for(messages=len(notifications), conversations=len(conversations)),
        "conversations": conversations,
        "mentions": sum(1 for row in notifications if row.reason == NotificationReason.MENTION),
        "site_url": settings.CHAT_SITE_URL,
        "unsubscribe_url": unsubscribe,
        "include_content": settings.CHAT_EMAIL_INCLUDE_CONTENT,
        "time_zone": zone.key if zone is not None else timezone.get_default_timezone_name(),
    }
    # Times in the person's own time zone (their profile), else the server's.
    with timezone.override(zone or timezone.get_default_timezone()):
        text = render_to_string("chat/email/notification.txt", context)
        html = render_to_string("chat/email/notification.html", context)
    email = EmailMultiAlternatives(
        subject=context["subject"],
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            # RFC 3834: no out-of-office replies to a machine.
            "Auto-Submitted": "auto-generated",
        },
    )
    email.attach_alternative(html, "text/html")
    return email


def peer_names(*, user_id, rooms: Iterable[ChatRoom]) -> dict:
    """user id -> name of the other person of each direct room in ``rooms`` (one query)."""
    peers = {direct_peer_id(room, user_id) for room in rooms if room.room_type == RoomType.DIRECT}
    peers.discard(None)
    if not peers:
        return {}
    return {person.pk: person.name for person in get_user_model().objects.filter(pk__in=peers)}
