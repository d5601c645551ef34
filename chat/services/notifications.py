"""Mentions, notification rows and notification settings.

A message's mentions are resolved when it is stored (and again when it is
edited): who ``@name`` is among the room's members, who ``@here`` reaches, and
whether the sender may use ``@room``. They are kept with the message
(encrypted, in its payload) and indexed per person (:class:`MessageMention`)
for mention counts and the Mentions view.

In the same transaction the people to notify get :class:`Notification` rows,
which the worker (chat/notify/worker.py) sends when they fall due: Web Push at
once, email after the person's delay for direct messages and mentions.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import UserBlock
from chatsite.core.exceptions import Invalid, NotFound

from .. import mentions, policies, presence
from ..events import broadcast, render, wire
from ..models import (
    ChatMember,
    ChatMessage,
    ChatRoom,
    MentionKind,
    MessageMention,
    MessageType,
    Notification,
    NotificationChannel,
    NotificationPreferences,
    NotificationReason,
    NotificationState,
    NotifyLevel,
    PushSubscription,
    RoomType,
)

# When one person is mentioned several ways, the most personal way counts.
_KIND_RANK = {MentionKind.USER: 0, MentionKind.HERE: 1, MentionKind.ROOM: 2}
PREFERENCE_FIELDS = ("desktop_enabled", "sound_enabled", "email_enabled", "email_delay_minutes")
MAX_EMAIL_DELAY_MINUTES = 1440
DEFAULT_EMAIL_DELAY_MINUTES = NotificationPreferences._meta.get_field("email_delay_minutes").default


@dataclass(frozen=True, slots=True)
class Mentions:
    """A message's resolved mentions: the payload entries, and the kind by which
    each mentioned person (never the sender) is mentioned."""

    entries: tuple = ()
    by_user: dict = field(default_factory=dict)  # user id (str) -> MentionKind


NO_MENTIONS = Mentions()


def _not_blocked(sender_id):
    """People with no block either way between them and the sender (two probes
    of the unique (blocker, blocked) index; one OR would scan)."""
    return ~Exists(UserBlock.objects.filter(blocker_id=OuterRef("user_id"), blocked_id=sender_id)) & ~Exists(
        UserBlock.objects.filter(blocker_id=sender_id, blocked_id=OuterRef("user_id"))
    )


@dataclass(frozen=True, slots=True)
class Earlier:
    """An edited message's mentions before the edit: what its text asked for,
    and who was mentioned how (MessageMention rows)."""

    found: mentions.FoundMentions
    by_user: dict  # user id (str) -> MentionKind


def mentions_before_edit(message: ChatMessage, text: str) -> Earlier:
    rows = {}
    if message.mentions_encrypted:
        rows = {str(user_id): kind for user_id, kind in MessageMention.objects.filter(message=message).values_list("user_id", "kind")}
    return Earlier(found=mentions.find(text), by_user=rows)


def resolve_mentions(*, room: ChatRoom, sender, member: ChatMember, text: str, earlier: Earlier | None = None) -> Mentions:
    """Who ``text`` mentions in ``room``. A name that is not an active member,
    or someone with a block between them and the sender, mentions nobody;
    ``@room`` by a plain member is refused (Forbidden ``mention_room_forbidden``),
    and means nothing in a direct room.

    An edit (``earlier``) keeps what the text kept: an ``@here`` still reaches
    the people who were online when the message was sent, an ``@room`` the
    members of then, and an ``@room`` that stays needs no new permission (an
    admin demoted since can still fix a typo). Only names are resolved again.
    """
    found = mentions.find(text)
    if not found:
        return NO_MENTIONS
    everyone = found.room and room.room_type != RoomType.DIRECT
    kept_room = everyone and earlier is not None and earlier.found.room
    kept_here = found.here and earlier is not None and earlier.found.here
    if everyone and not kept_room:
        policies.require_can_mention_room(room, sender, member)
    members = (
        ChatMember.objects.filter(room=room, is_active=True, user__is_active=True)
        .exclude(user_id=sender.pk)
        .filter(_not_blocked(sender.pk))
    )
    if not ((everyone and not kept_room) or (found.here and not kept_here)):
        members = members.annotate(username_lower=Lower("user__username")).filter(username_lower__in=found.names)
    rows = [(str(user_id), username) for user_id, username in members.values_list("user_id", "user__username")]
    by_user: dict[str, str] = {}
    if everyone:
        reached = earlier.by_user if kept_room else (user_id for user_id, _ in rows)
        by_user.update(dict.fromkeys(reached, MentionKind.ROOM))
    if found.here:
        if kept_here:
            here = [user_id for user_id, kind in earlier.by_user.items() if kind == MentionKind.HERE]
        else:
            here = presence.online_blocking(user_id for user_id, _ in rows)
        by_user.update(dict.fromkeys(here, MentionKind.HERE))
    by_user.update({user_id: MentionKind.USER for user_id, username in rows if username.lower() in found.names})
    entries = [
        {"kind": kind, "user_id": user_id}
        for wanted in (MentionKind.USER, MentionKind.HERE)
        for user_id, kind in by_user.items()
        if kind == wanted
    ]
    if everyone:
        entries.append({"kind": MentionKind.ROOM, "user_id": None})
    return Mentions(entries=tuple(entries), by_user=by_user)


def attach_mentions(message: ChatMessage, found: Mentions) -> None:
    """Keep the entries on the message (encrypted) before it is saved."""
    render.remember_mentions(message, list(found.entries))


def record_mentions(message: ChatMessage, found: Mentions) -> None:
    """The per-person index of a stored message's mentions."""
    if found.by_user:
        MessageMention.objects.bulk_create(
            [
                MessageMention(
                    message=message, room_id=message.room_id, user_id=user_id, seq=message.seq, sent_at=message.created_at, kind=kind
                )
                for user_id, kind in found.by_user.items()
            ]
        )


def schedule_notifications(message: ChatMessage, found: Mentions, *, only_user_ids=None, followers=frozenset()) -> int:
    """Notification rows for everyone a new message (or an edit's new mentions,
    ``only_user_ids``) should reach; returns how many were written.

    One query finds the recipients with their preferences: active members other
    than the sender, not muted, level not "nothing", no block either way, and
    either mentioned, following the thread the message replies in
    (``followers``, like a mention), in a direct room, or at level "all" — not
    for a reply that stays in its thread: "all" is every message of the room.
    """
    room = message.room
    if message.message_type == MessageType.SYSTEM or message.sender_id is None:
        return 0
    direct = room.room_type == RoomType.DIRECT
    targeted = set(found.by_user) | set(followers)
    in_thread_only = message.thread_id is not None and not message.also_in_room
    if only_user_ids is None and not direct and not targeted:
        if in_thread_only or not _anyone_at_level_all(room, message.sender_id):
            return 0  # the common case, at most one cheap query: nobody mentioned, nobody wants every message
    recipients = (
        ChatMember.objects.filter(room=room, is_active=True, user__is_active=True, notifications_muted=False)
        .exclude(user_id=message.sender_id)
        .exclude(notify_level=NotifyLevel.NOTHING)
    )
    if only_user_ids is not None:
        recipients = recipients.filter(user_id__in=list(only_user_ids))
    elif in_thread_only and not direct:
        recipients = recipients.filter(user_id__in=list(targeted))
    elif not direct:
        recipients = recipients.filter(Q(notify_level=NotifyLevel.ALL) | Q(user_id__in=list(targeted)))
    rows = list(
        recipients.filter(_not_blocked(message.sender_id))
        .annotate(has_push=Exists(PushSubscription.objects.filter(user_id=OuterRef("user_id"))))
        .values_list(
            "user_id",
            "has_push",
            "user__chat_notification_preferences__email_enabled",
            "user__chat_notification_preferences__email_delay_minutes",
        )
    )
    if not rows:
        return 0
    now = timezone.now()
    notifications = []
    for user_id, has_push, email_enabled, delay in rows:
        if direct:
            reason = NotificationReason.DIRECT
        elif str(user_id) in found.by_user:
            reason = NotificationReason.MENTION
        elif str(user_id) in followers:
            reason = NotificationReason.THREAD
        else:
            reason = NotificationReason.MESSAGE
        common = {"user_id": user_id, "room_id": room.pk, "message": message, "reason": reason}
        if has_push:
            notifications.append(Notification(channel=NotificationChannel.PUSH, due_at=now, **common))
        if reason != NotificationReason.MESSAGE and email_enabled is not False:
            due = now + timedelta(minutes=delay or DEFAULT_EMAIL_DELAY_MINUTES)
            notifications.append(Notification(channel=NotificationChannel.EMAIL, due_at=due, **common))
    Notification.objects.bulk_create(notifications, ignore_conflicts=True)
    return len(notifications)


def _anyone_at_level_all(room: ChatRoom, sender_id) -> bool:
    known = getattr(room, "level_all_besides", None)  # read with the sender's membership (chat.selectors)
    if known is not None and known[0] == sender_id:
        return known[1]
    return (
        ChatMember.objects.filter(room=room, is_active=True, notify_level=NotifyLevel.ALL, notifications_muted=False)
        .exclude(user_id=sender_id)
        .exists()
    )


def mentions_edited(message: ChatMessage, found: Mentions, earlier: Earlier) -> set[str]:
    """An edit re-resolved the mentions: new ones are indexed and notified,
    removed ones stop counting and their pending notifications are cancelled.
    Returns the ids of the people whose mention count changed."""
    render.remember_mentions(message, list(found.entries))
    before = earlier.by_user
    removed = set(before) - set(found.by_user)
    added = {user_id: kind for user_id, kind in found.by_user.items() if user_id not in before}
    if removed:
        MessageMention.objects.filter(message=message, user_id__in=removed).delete()
        _cancel(Notification.objects.filter(message=message, user_id__in=removed, reason=NotificationReason.MENTION))
    if added:
        record_mentions(message, Mentions(by_user=added))
        schedule_notifications(message, found, only_user_ids=added)
    return removed | set(added)


def mentioned_user_ids(message: ChatMessage) -> set[str]:
    """Whose mention counts the message is in: the people it mentions, and in a
    direct room the other person (every direct message counts as a mention)."""
    ids = set()
    if message.mentions_encrypted:
        ids = {str(user_id) for user_id in MessageMention.objects.filter(message=message).values_list("user_id", flat=True)}
    room = message.room
    if room.room_type == RoomType.DIRECT and message.sender_id is not None:
        ids.add(str(policies.direct_peer_id(room, message.sender_id)))
    return ids


def _cancel(rows) -> int:
    """Cancel the pending ones of ``rows`` that no worker is sending right now.

    The worker holds a row's lock while it sends (an SMTP or push call of
    seconds): a reader must not wait for a mail server, and a row already in
    flight is past cancelling anyway. SKIP LOCKED leaves those alone.
    """
    free = rows.filter(state=NotificationState.PENDING).select_for_update(skip_locked=True).values("pk")
    return Notification.objects.filter(pk__in=free).update(state=NotificationState.CANCELLED, updated_at=timezone.now())


def cancel_for_message(message: ChatMessage) -> None:
    """A deleted message notifies nobody any more."""
    _cancel(Notification.objects.filter(message=message))


def cancel_messages(message_ids) -> None:
    """Deleted messages (an account's, erased) notify nobody any more."""
    _cancel(Notification.objects.filter(message_id__in=list(message_ids)))


def cancel_thread(*, user, root: ChatMessage, through: int | None = None) -> None:
    """The person read the thread up to ``through`` (or stopped following it):
    its replies notify them no more (a mention of them stays wanted when they
    only unfollowed)."""
    rows = Notification.objects.filter(user=user, message__thread=root)
    if through is not None:
        rows = rows.filter(message__seq__lte=through)
    else:
        rows = rows.filter(reason=NotificationReason.THREAD)
    _cancel(rows)


def cancel_read(member: ChatMember, seq: int) -> None:
    """What the member has now read is not notified any more (on any channel);
    replies the room does not show are read in their thread (cancel_thread)."""
    _cancel(
        Notification.objects.filter(user_id=member.user_id, room_id=member.room_id, message__seq__lte=seq).exclude(
            message__thread__isnull=False, message__also_in_room=False
        )
    )


def announce_attention(user_id, attention: dict) -> None:
    """Tell every socket of one person a room's counts and settings (after
    commit): the ``unread`` frame."""
    broadcast.to_user(user_id, {"type": wire.UNREAD, **attention})


# --- settings ------------------------------------------------------------------------
def _clean_preferences(changes: dict) -> None:
    unknown = set(changes) - set(PREFERENCE_FIELDS)
    if unknown:
        raise Invalid(
            f"Unknown setting: {', '.join(sorted(unknown))}.",
            code="invalid",
            fields={name: ["Unknown setting."] for name in unknown},
        )
    errors = {}
    for name, value in changes.items():
        if name == "email_delay_minutes":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EMAIL_DELAY_MINUTES:
                errors[name] = [f"A whole number of minutes from 1 to {MAX_EMAIL_DELAY_MINUTES}."]
        elif not isinstance(value, bool):
            errors[name] = ["Must be true or false."]
    if errors:
        raise Invalid("Invalid notification settings.", code="invalid", fields=errors)


def preferences_update(*, user, changes: dict) -> NotificationPreferences:
    """Change some of the person's settings; turning email off cancels the
    emails still pending."""
    _clean_preferences(changes)
    with transaction.atomic(savepoint=False):
        prefs, _ = NotificationPreferences.objects.select_for_update().get_or_create(user=user)
        for name, value in changes.items():
            setattr(prefs, name, value)
        if changes:
            prefs.save(update_fields=[*changes, "updated_at"])
        if changes.get("email_enabled") is False:
            _cancel(Notification.objects.filter(user=user, channel=NotificationChannel.EMAIL))
    return prefs


LEVEL_CHOICES = (*NotifyLevel.values, "default")


@transaction.atomic(savepoint=False)
def room_notifications_update(*, member: ChatMember, level: str | None = None, muted: bool | None = None) -> ChatMember:
    """The member's own notification level for the room ("default" resets it)
    and mute. Muting or "nothing" cancels what is pending."""
    changed = []
    if level is not None:
        if level not in LEVEL_CHOICES:
            raise Invalid(
                f"level must be one of {', '.join(LEVEL_CHOICES)}.", code="invalid_notify_level", fields={"level": ["Unknown level."]}
            )
        member.notify_level = "" if level == "default" else level
        changed.append("notify_level")
    if muted is not None:
        if not isinstance(muted, bool):
            raise Invalid("muted must be true or false.", code="invalid", fields={"muted": ["Must be true or false."]})
        member.notifications_muted = muted
        changed.append("notifications_muted")
    if changed:
        member.save(update_fields=[*changed, "updated_at"])
    if member.notifications_muted or member.effective_notify_level == NotifyLevel.NOTHING:
        _cancel(Notification.objects.filter(user_id=member.user_id, room_id=member.room_id))
    return member


@transaction.atomic(savepoint=False)
def push_subscription_add(*, user, subscription: dict, user_agent: str = "") -> tuple[PushSubscription, bool]:
    """Store a browser's subscription (``subscription`` already validated by
    chat.notify.push). An endpoint is one browser: a new login there takes it
    over. Returns ``(subscription, created)``."""
    existing = PushSubscription.objects.select_for_update().filter(endpoint=subscription["endpoint"]).first()
    fields = {"user": user, "p256dh": subscription["p256dh"], "auth": subscription["auth"], "user_agent": user_agent[:300]}
    if existing is None:
        return PushSubscription.objects.create(endpoint=subscription["endpoint"], **fields), True
    for name, value in fields.items():
        setattr(existing, name, value)
    existing.save(update_fields=[*fields, "updated_at"])
    return existing, False


def push_subscription_remove(*, user, subscription_id) -> None:
    """Forget one of the person's browsers (one statement: no transaction needed)."""
    deleted, _ = PushSubscription.objects.filter(pk=subscription_id, user=user).delete()
    if not deleted:
        raise NotFound("Push subscription not found.", code="push_subscription_not_found")
