"""Account changes that reach into chat: a person's company (its company
rooms), support agents (the open support rooms), deactivation and logout
(their sockets), deleting an account (everything of theirs in chat). The accounts app never imports chat; staff and API edges
call these through chat.commands."""

from dataclasses import dataclass
from functools import partial

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.models import Company, User
from accounts.services import user_anonymise as anonymise_account
from chatsite.core.exceptions import Invalid, NotFound
from chatsite.core.models import Job, JobState

from .. import crypto, policies, selectors
from ..events import broadcast, log, wire
from ..models import (
    EXPORT_JOB_KINDS,
    Attachment,
    AuditLog,
    ChatMember,
    ChatMessage,
    ChatRoom,
    MessageEdit,
    MessageMention,
    MessageReaction,
    Notification,
    NotificationPreferences,
    PushSubscription,
    RoomType,
    SavedMessage,
    SearchToken,
    ThreadFollow,
)
from . import notifications, threads
from .common import allocate_seq, audit
from .member_rows import log_member_change
from .rooms import _announce_room as announce_room
from .rooms import (
    company_rooms_add_user,
    company_rooms_remove_user,
    support_rooms_add_agent,
)


@transaction.atomic
def user_set_company(*, user: User, company: Company | None) -> User:
    """Move ``user`` into ``company`` (or out of any): they leave the old company's
    rooms and join every active company room of the new one, announced live."""
    if company is not None and not company.is_active:
        raise Invalid("This company is inactive.", code="company_inactive")
    previous = User.objects.filter(pk=user.pk).values_list("company_id", flat=True).first()
    new_id = company.pk if company is not None else None
    if previous != new_id:
        user.company = company
        user.save(update_fields=["company", "updated_at"])
        if previous is not None:
            company_rooms_remove_user(user=user, company_id=previous)
    company_rooms_add_user(user=user)
    return user


@transaction.atomic
def user_set_support_agent(*, user: User, is_support_agent: bool) -> User:
    """Make ``user`` a support agent (they join every open support room) or not."""
    if user.is_support_agent != is_support_agent or (
        not User.objects.filter(pk=user.pk, is_support_agent=is_support_agent).exists()
    ):
        user.is_support_agent = is_support_agent
        user.save(update_fields=["is_support_agent", "updated_at"])
    if is_support_agent:
        support_rooms_add_agent(user=user)
    return user


@transaction.atomic
def user_set_active(*, user: User, is_active: bool) -> User:
    """Activate or deactivate an account; a deactivated user's sockets close at once."""
    if user.is_active != is_active or not User.objects.filter(pk=user.pk, is_active=is_active).exists():
        user.is_active = is_active
        user.save(update_fields=["is_active", "updated_at"])
    if not is_active:
        broadcast.disconnect_user(user.pk, reason="deactivated", code=wire.CLOSE_UNAUTHENTICATED)
    return user


def user_logged_out(*, user: User) -> None:
    """Close the user's WebSockets (4001): an access token or session may have ended."""
    broadcast.disconnect_user(user.pk, reason="logged_out", code=wire.CLOSE_LOGGED_OUT)


def user_profile_changed(*, user: User) -> None:
    """The person's name or picture changed: their open sockets send the new ones."""
    broadcast.profile_changed(user.pk)


def user_sessions_revoked(*, user: User, session_ids: list, keep_session_id: str | None) -> None:
    """Close the WebSockets of ended sessions (4001): with ``keep_session_id``
    every socket but that session's ("log out everywhere else", a password
    change), else only those of ``session_ids``."""
    if keep_session_id is not None:
        broadcast.disconnect_user(user.pk, reason="session_revoked", keep_session=keep_session_id)
    elif session_ids:
        broadcast.disconnect_user(user.pk, reason="session_revoked", sessions=list(session_ids))


# --- deleting an account ----------------------------------------------------------------------
# The AuditLog action of an account deletion. Not one of ModerationAction's
# choices: a new choice is a chat migration, and the choices are not enforced
# by the database (docs/data.md, "Deleting an account").
ACCOUNT_DELETE_ACTION = "account.delete"
CLOSE_REASON_ACCOUNT_DELETED = "account_deleted"


@dataclass(frozen=True, slots=True)
class AccountDeleted:
    user: User
    messages_erased: int
    rooms_left: int
    rooms_closed: int


def account_is_deleted(user: User) -> bool:
    return AuditLog.objects.filter(action=ACCOUNT_DELETE_ACTION, target_user=user).exists()


@transaction.atomic
def account_delete(*, user: User, actor, reason: str = "", erase_messages: bool) -> AccountDeleted:
    """Delete ``user``'s account (the caller checked who may: the person with
    their password, or staff). One transaction:

    - the account row anonymised (accounts.services.user_anonymise: inactive,
      no password, "Deleted user 123456", sessions ended, refresh tokens
      blacklisted, blocks and avatar gone);
    - the person leaves every group, company and support room they were in as
      an agent (``member.removed`` with reason ``account_deleted``); a direct
      room, and a support room they asked for, keeps them as a member and is
      closed (``room.updated``, read-only: history stays for the other side);
    - their push subscriptions, notification settings, notifications, saved
      messages, thread follows and mention rows are deleted;
    - with ``erase_messages``, every message they sent is purged as retention
      purges (below); otherwise the messages stay, shown under the new name;
    - their exports are cancelled or expire now (the files go with the next
      purge_chat_retention);
    - their sockets close after commit (4001, ``account_deleted``);
    - an AuditLog row (action ``account.delete``, the target the user).

    Raises NotFound when the account was already deleted."""
    if User.objects.select_for_update().filter(pk=user.pk).first() is None or account_is_deleted(user):
        raise NotFound("User not found.", code="user_not_found")
    user = anonymise_account(user=user)
    erased = _erase_messages(user=user, actor=actor) if erase_messages else 0
    left, closed = _leave_rooms(user=user)
    PushSubscription.objects.filter(user=user).delete()
    NotificationPreferences.objects.filter(user=user).delete()
    Notification.objects.filter(user=user).delete()
    SavedMessage.objects.filter(user=user).delete()
    ThreadFollow.objects.filter(user=user).delete()
    MessageMention.objects.filter(user=user).delete()
    exports = _end_exports(user)
    broadcast.disconnect_user(user.pk, reason=CLOSE_REASON_ACCOUNT_DELETED, code=wire.CLOSE_LOGGED_OUT)
    audit(
        actor=actor,
        action=ACCOUNT_DELETE_ACTION,
        target_user=user,
        reason=reason,
        by="self" if actor is not None and actor.pk == user.pk else "staff",
        messages="erased" if erase_messages else "kept",
        messages_erased=erased,
        rooms_left=left,
        rooms_closed=closed,
        exports_ended=exports,
    )
    return AccountDeleted(user=user, messages_erased=erased, rooms_left=left, rooms_closed=closed)


def _end_exports(user: User) -> int:
    """Their exports (chat/exports): a running or pending one cancelled, a
    finished one expired now, so nothing of theirs can be downloaded and the
    next ``purge_chat_retention`` deletes the files (the exports' files are the
    worker's: services do not reach into them). Returns how many."""
    now = timezone.now()
    mine = Job.objects.filter(owner=user, kind__in=EXPORT_JOB_KINDS)
    cancelled = mine.filter(state__in=[JobState.PENDING, JobState.RUNNING]).update(
        state=JobState.CANCELLED, finished_at=now, lease_until=None, updated_at=now
    )
    expired = mine.filter(state=JobState.DONE).exclude(result__has_key="expired").update(expires_at=now, updated_at=now)
    return cancelled + expired


def _leave_rooms(*, user: User) -> tuple[int, int]:
    """(rooms left, rooms closed); rooms locked one at a time in id order."""
    left = closed = 0
    memberships = ChatMember.objects.select_related("room").filter(user=user, is_active=True).order_by("room_id")
    for member in memberships:
        room = ChatRoom.objects.select_for_update().get(pk=member.room_id)
        keeps_member = room.room_type == RoomType.DIRECT or (
            room.room_type == RoomType.SUPPORT and room.support_requester_id == user.pk
        )
        if keeps_member:
            if room.is_active:
                room.is_active = False
                room.save(update_fields=["is_active", "updated_at"])
                announce_room(room)
                closed += 1
            continue
        member.is_active, member.left_at = False, timezone.now()
        member.save(update_fields=["is_active", "left_at", "updated_at"])
        member.user = user
        log_member_change(room, member, wire.MEMBER_REMOVED, reason=CLOSE_REASON_ACCOUNT_DELETED)
        left += 1
    return left, closed


def _erase_messages(*, user: User, actor) -> int:
    """Purge every message ``user`` sent, as the retention purge does
    (purge_chat_retention): content, HTML and mentions emptied, edit history,
    search tokens and mention rows deleted, ``is_deleted`` and
    ``content_purged_at`` set. The rows stay as tombstones (replies and threads
    keep pointing at them). Attachments they uploaded (but a room's picture) are
    deleted, their files after commit. Each message not deleted before is
    announced ``message.deleted`` (one event each, one seq allocation per room);
    thread summaries are recomputed; pending notifications of them cancelled.
    Returns how many messages were purged."""
    now = timezone.now()
    rows = list(
        ChatMessage.objects.select_for_update(of=("self",))
        .filter(sender=user, content_purged_at__isnull=True)
        .order_by("room_id", "seq")
        .values_list("pk", "room_id", "thread_id", "is_deleted", "mentions_encrypted")
    )
    if not rows:
        _delete_attachments(user)
        return 0
    ids = [pk for pk, *_ in rows]
    announced = [pk for pk, _room, _thread, deleted, _m in rows if not deleted]
    # The roots of the threads they replied in (theirs too): summaries recomputed below.
    root_ids = sorted({thread for _pk, _room, thread, deleted, _m in rows if thread is not None and not deleted})
    roots = {
        root.pk: root
        for root in ChatMessage.objects.select_for_update(of=("self",)).filter(pk__in=root_ids).order_by("pk")
    }
    mentioned: dict = {}
    for message_id, user_id in MessageMention.objects.filter(message_id__in=announced).values_list("message_id", "user_id"):
        mentioned.setdefault(message_id, set()).add(str(user_id))
    ChatMessage.objects.filter(pk__in=announced).update(is_deleted=True, deleted_at=now, deleted_by=actor, updated_at=now)
    ChatMessage.objects.filter(pk__in=ids).update(
        content_encrypted=crypto.encrypt(""), html_encrypted="", mentions_encrypted="", content_purged_at=now, updated_at=now
    )
    MessageEdit.objects.filter(message_id__in=ids).delete()
    SearchToken.objects.filter(message_id__in=ids).delete()
    MessageMention.objects.filter(message_id__in=ids).delete()
    notifications.cancel_messages(ids)
    _delete_attachments(user)

    by_room: dict = {}
    for pk, room_id, _thread, deleted, _m in rows:
        if not deleted:
            by_room.setdefault(room_id, []).append(pk)
    for room_id in sorted(by_room):
        room = ChatRoom.objects.get(pk=room_id)
        message_ids = by_room[room_id]
        first = allocate_seq(room, len(message_ids))
        tombstones = (
            ChatMessage.objects.select_related("sender", "reply_to__sender", "forwarded_from__sender", "attachment")
            .filter(pk__in=message_ids)
            .order_by("seq")
        )
        reacted = set(MessageReaction.objects.filter(message_id__in=message_ids).values_list("message_id", flat=True))
        highest_seq = None
        for offset, message in enumerate(tombstones):
            message.room = room
            message.is_new = message.pk not in reacted  # no reactions: the payload needs no query for them
            highest_seq = message.seq
            log.append(
                room=room, seq=first + offset, kind=wire.MESSAGE_DELETED, body={"message_id": str(message.pk)}, message=message
            )
        # Mention counts that went down: the mentioned, and in a direct room the other person.
        counted = set().union(*(mentioned.get(pk, set()) for pk in message_ids))
        if room.room_type == RoomType.DIRECT:
            counted.add(str(policies.direct_peer_id(room, user.pk)))
        counted.discard(str(user.pk))
        if counted and highest_seq is not None:
            # Those who had not read the newest of them (message_delete does the same per message).
            for attention in selectors.attention_in_room(room_id=room.pk, user_ids=counted, unread_after=highest_seq):
                notifications.announce_attention(attention.pop("user_id"), attention)
    for root_id in root_ids:
        root = roots.get(root_id)
        if root is not None:
            root.room = ChatRoom.objects.get(pk=root.room_id)
            threads.summary_changed(root)
    return len(ids)


def _delete_attachments(user: User) -> None:
    """The person's uploads (but a room's picture): rows now, files after commit."""
    uploads = Attachment.objects.filter(uploaded_by=user).exclude(
        pk__in=ChatRoom.objects.filter(avatar__isnull=False).values("avatar_id")
    )
    names = [name for name in uploads.values_list("file", flat=True) if name]
    uploads.delete()
    if names:
        transaction.on_commit(partial(_delete_files, names))


def _delete_files(names: list) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            pass
