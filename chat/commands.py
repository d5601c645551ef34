"""The one entry for every chat write: REST views, the WebSocket consumer, admin
actions and management commands call these and nothing below them.

A command takes the actor and plain input (ids, strings), and does the same
five steps every time:

1. rate-limit the actor for its kind of write (once, outside the transaction,
   so a rejection is counted even though nothing is written; site moderators
   are not metered);
2. open the transaction and resolve every id to an object the actor may see
   (once; the message or room row locked where the write needs it);
3. call one service, which checks the rules (chat.policies), writes, appends
   the room event and schedules the broadcast for after commit;
4. render the answer once: a message's JSON is the same bytes the event frame
   carries (chat.events.render.message_json);
5. return it to the edge, which only wraps it (HTTP body, WebSocket ack).

Errors are chatsite.core.exceptions types; the edges turn them into a JSON
error body or a WebSocket ``error`` frame.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from chatsite.core import jobs, ratelimit
from chatsite.core.exceptions import Forbidden, Invalid, NotFound
from chatsite.core.models import Job, JobState

from . import policies, selectors
from .events import render
from .models import (
    JOB_PERSONAL_EXPORT,
    JOB_ROOM_EXPORT,
    Attachment,
    ChatMember,
    ChatMessage,
    ChatRoom,
    NotificationPreferences,
    PushSubscription,
)
from .services import (
    attachments,
    imports,
    invites,
    members,
    messages,
    notifications,
    people,
    rooms,
    saved,
    threads,
)

User = get_user_model()


@dataclass(frozen=True, slots=True)
class MessageResult:
    """A written (or, for a retried send, found) message, rendered once."""

    message: ChatMessage
    json: bytes  # the payload, as the event frame carries it
    created: bool = True


def _rendered(message: ChatMessage, created: bool = True) -> MessageResult:
    return MessageResult(message=message, json=render.message_json(message), created=created)


def _meter(*, kind: str, user, room_id=None) -> None:
    """The rate limit of one write. Site moderators are not metered: their bulk
    actions in the admin run one command per row."""
    if not policies.is_site_moderator(user):
        ratelimit.check(kind=kind, user=user, room_id=room_id)


def _room_of_message(message_id):
    """The room of a message, looked up only if a rejection is logged."""

    def room_id():
        try:
            return ChatMessage.objects.filter(pk=message_id).values_list("room_id", flat=True).first()
        except (ValidationError, ValueError):
            return None

    return room_id


def _room_for_moderation(room_id, actor) -> ChatRoom:
    """A room the actor belongs to, or any room for a site moderator."""
    return selectors.room_for_actor(room_id=room_id, user=actor)


# --- messages -------------------------------------------------------------------------
def message_send(
    *,
    actor,
    room_id,
    content: str = "",
    message_type: str | None = None,
    client_msg_id: str | None = None,
    reply_to_id=None,
    attachment_id=None,
    extra_metadata: dict | None = None,
    thread_id=None,
    also_in_room: bool = False,
) -> MessageResult:
    """Post a message (idempotent by ``client_msg_id``), or with ``thread_id``
    a reply in that thread. Emits ``message.created`` (and a reply
    ``thread.updated``)."""
    _meter(kind="message.send", user=actor, room_id=room_id)
    try:
        return _message_send(
            actor=actor, room_id=room_id, content=content, message_type=message_type, client_msg_id=client_msg_id,
            reply_to_id=reply_to_id, attachment_id=attachment_id, extra_metadata=extra_metadata,
            thread_id=thread_id, also_in_room=also_in_room,
        )
    except IntegrityError:
        # A twin of this send (same client_msg_id) committed first: answer with it.
        original = messages.original_of_retry(sender=actor, client_msg_id=client_msg_id, room_id=room_id, thread_id=thread_id)
        if original is None:
            raise
        return _rendered(original, created=False)


def _message_send(*, actor, room_id, content, message_type, client_msg_id, reply_to_id, attachment_id,
                  extra_metadata, thread_id, also_in_room) -> MessageResult:
    with transaction.atomic():
        member = selectors.membership_for(room_id=room_id, user=actor)
        draft = messages.MessageDraft(
            thread=selectors.thread_root_in_room(message_id=thread_id, room=member.room) if thread_id else None,
            also_in_room=also_in_room,
            content=content,
            message_type=message_type,
            client_msg_id=client_msg_id,
            reply_to=selectors.message_in_room(message_id=reply_to_id, room=member.room) if reply_to_id else None,
            attachment=selectors.attachment_by_id(attachment_id=attachment_id) if attachment_id else None,
            extra_metadata=extra_metadata,
        )
        message, created = messages.message_send(room=member.room, sender=actor, member=member, draft=draft)
        return _rendered(message, created)


def message_forward(*, actor, message_id, to_room_id, client_msg_id: str | None = None) -> MessageResult:
    """Copy a message the actor can read into another of their rooms. Emits ``message.created``."""
    _meter(kind="message.send", user=actor, room_id=to_room_id)
    try:
        with transaction.atomic():
            source, _member = selectors.message_for_member(message_id=message_id, user=actor)
            member = selectors.membership_for(room_id=to_room_id, user=actor)
            message, created = messages.message_forward(
                source=source, to_room=member.room, actor=actor, member=member, client_msg_id=client_msg_id
            )
            return _rendered(message, created)
    except IntegrityError:
        original = messages.original_of_retry(sender=actor, client_msg_id=client_msg_id, room_id=to_room_id)
        if original is None:
            raise
        return _rendered(original, created=False)


def message_edit(*, actor, message_id, content: str) -> MessageResult:
    """Edit one's own message. Emits ``message.updated``."""
    _meter(kind="message.edit", user=actor, room_id=_room_of_message(message_id))
    with transaction.atomic():
        message, member = selectors.message_for_member(message_id=message_id, user=actor, lock=True)
        message = messages.message_edit(message=message, actor=actor, member=member, content=content)
        return _rendered(message)


def _moderate_message(service, *, actor, message_id, reason: str) -> MessageResult:
    _meter(kind="message.delete", user=actor, room_id=_room_of_message(message_id))
    with transaction.atomic():
        message, member = selectors.message_for_member(message_id=message_id, user=actor, lock=True, moderator=True)
        return _rendered(service(message=message, actor=actor, member=member, reason=reason))


def message_delete(*, actor, message_id, reason: str = "") -> MessageResult:
    """Soft-delete (the sender, room moderators, site moderators). Emits ``message.deleted``."""
    return _moderate_message(messages.message_delete, actor=actor, message_id=message_id, reason=reason)


def message_restore(*, actor, message_id, reason: str = "") -> MessageResult:
    """Undo a soft delete (room moderators, site moderators; the sender for a
    short while). Emits ``message.updated``."""
    return _moderate_message(messages.message_restore, actor=actor, message_id=message_id, reason=reason)


def room_post_announcement(*, actor, room_id, content: str, reason: str = "") -> MessageResult:
    """A system line from staff or the room's owners and admins. Emits ``message.created``."""
    _meter(kind="message.send", user=actor, room_id=room_id)
    with transaction.atomic():
        room = _room_for_moderation(room_id, actor)
        return _rendered(messages.room_post_announcement(room=room, actor=actor, content=content, reason=reason))


def reaction_add(*, actor, message_id, reaction: str) -> tuple[list[dict], bool]:
    """``(the message's reactions as the actor sees them, created)``. Emits ``reaction.added``."""
    _meter(kind="reaction", user=actor, room_id=_room_of_message(message_id))
    with transaction.atomic():
        message, _member = selectors.message_for_member(message_id=message_id, user=actor)
        _reaction, created = messages.reaction_add(message=message, user=actor, reaction=reaction)
    return selectors.reactions_for(message=message, user=actor), created


def message_pin(*, actor, message_id) -> bool:
    """Pin a message in its room; False when it already was. Emits ``message.pinned``."""
    _meter(kind="pin", user=actor, room_id=_room_of_message(message_id))
    with transaction.atomic():
        message, member = selectors.message_for_member(message_id=message_id, user=actor, lock=True, moderator=True)
        return messages.message_pin(message=message, actor=actor, member=member)


def message_unpin(*, actor, message_id) -> bool:
    """Unpin; False when it was not pinned. Emits ``message.unpinned``."""
    _meter(kind="pin", user=actor, room_id=_room_of_message(message_id))
    with transaction.atomic():
        message, member = selectors.message_for_member(message_id=message_id, user=actor, lock=True, moderator=True)
        return messages.message_unpin(message=message, actor=actor, member=member)


def message_save(*, actor, message_id) -> bool:
    """Save a message I can read to my saved list; False when it already was there."""
    _meter(kind="save", user=actor)
    with transaction.atomic():
        message, _member = selectors.message_for_member(message_id=message_id, user=actor)
        return saved.message_save(message=message, user=actor)


def message_unsave(*, actor, message_id) -> bool:
    """Take a message off my saved list (whether or not I can still read it); False when it was not there."""
    _meter(kind="save", user=actor)
    return saved.message_unsave(message_id=message_id, user=actor)


def reaction_remove(*, actor, message_id, reaction: str) -> list[dict]:
    """The message's reactions after taking one's own back. Emits ``reaction.removed``."""
    _meter(kind="reaction", user=actor, room_id=_room_of_message(message_id))
    with transaction.atomic():
        message, _member = selectors.message_for_member(message_id=message_id, user=actor)
        messages.reaction_remove(message=message, user=actor, reaction=reaction)
    return selectors.reactions_for(message=message, user=actor)


def room_mark_read(*, actor, room_id, seq: int) -> dict:
    """Move the actor's read position: the room's counts afterwards (the
    ``unread`` frame body). Announces ``read`` to the room and ``unread`` to
    the actor's sockets."""
    _meter(kind="read", user=actor, room_id=room_id)
    with transaction.atomic():
        member = selectors.membership_for(room_id=room_id, user=actor)
        return messages.room_mark_read(member=member, seq=seq)


# --- notifications ----------------------------------------------------------------------
def notification_preferences_update(*, actor, **changes) -> NotificationPreferences:
    """The actor's desktop, sound and email settings (also the email's signed
    unsubscribe link, where the signature stands for the login)."""
    _meter(kind="settings", user=actor)
    return notifications.preferences_update(user=actor, changes=changes)


def room_notifications_update(*, actor, room_id, level: str | None = None, muted: bool | None = None) -> dict:
    """The actor's notification level and mute for a room: the room's counts
    and settings afterwards, which every socket of the actor hears (``unread``)."""
    _meter(kind="settings", user=actor, room_id=room_id)
    with transaction.atomic():
        member = selectors.membership_for(room_id=room_id, user=actor)
        member = notifications.room_notifications_update(member=member, level=level, muted=muted)
        attention = selectors.attention_for(member=member)
        notifications.announce_attention(actor.pk, attention)
    return attention


def push_subscription_add(*, actor, subscription: dict, user_agent: str = "") -> tuple[PushSubscription, bool]:
    """Store this browser's Web Push subscription (checked by chat.notify.push
    at the edge): ``(subscription, created)``."""
    _meter(kind="settings", user=actor)
    return notifications.push_subscription_add(user=actor, subscription=subscription, user_agent=user_agent)


def push_subscription_remove(*, actor, subscription_id) -> None:
    _meter(kind="settings", user=actor)
    notifications.push_subscription_remove(user=actor, subscription_id=subscription_id)


# --- threads --------------------------------------------------------------------------------
def thread_follow(*, actor, message_id, following: bool) -> dict:
    """Follow or unfollow a thread of a room the actor is in: the thread state after."""
    _meter(kind="settings", user=actor)
    with transaction.atomic():
        root, _member = selectors.thread_root(message_id=message_id, user=actor)
        threads.thread_follow(root=root, user=actor, following=following)
        return {"thread": str(root.pk), **selectors.thread_state(root=root, user=actor)}


def thread_mark_read(*, actor, message_id, seq: int, room_id=None) -> dict:
    """Move the actor's read position in a thread (of ``room_id`` when given);
    every socket of theirs hears ``thread.read``."""
    _meter(kind="read", user=actor)
    with transaction.atomic():
        root, member = selectors.thread_root(message_id=message_id, user=actor)
        if room_id is not None and str(root.room_id) != str(room_id):
            raise selectors.thread_not_found()
        return threads.thread_mark_read(member=member, root=root, seq=seq)


def typing(*, actor) -> None:
    """Typing notices are not stored; the command only meters them (the
    consumer broadcasts them through chat.events.broadcast)."""
    _meter(kind="typing", user=actor)


# --- rooms -------------------------------------------------------------------------------
def room_create_group(
    *, actor, name: str, description: str = "", member_ids=(), is_public: bool = False
) -> ChatRoom:
    """A group owned by the actor. Emits ``member.added`` per member and a system message."""
    _meter(kind="room.create", user=actor)
    with transaction.atomic():
        people_added = [selectors.active_user(user_id=user_id) for user_id in dict.fromkeys(member_ids)]
        return rooms.room_create_group(
            creator=actor, name=name, description=description, members=people_added, is_public=is_public
        )


def room_create_company(*, actor, company, name: str, description: str = "") -> ChatRoom:
    _meter(kind="room.create", user=actor)
    return rooms.room_create_company(company=company, creator=actor, name=name, description=description)


def room_get_or_create_direct(*, actor, user_id) -> tuple[ChatRoom, bool]:
    _meter(kind="room.create", user=actor)
    with transaction.atomic():
        return rooms.room_get_or_create_direct(user=actor, other=selectors.active_user(user_id=user_id))


def room_open_support(*, actor) -> tuple[ChatRoom, bool]:
    _meter(kind="room.create", user=actor)
    return rooms.room_open_support(user=actor)


def room_update(*, actor, room_id, **changes) -> ChatRoom:
    """Name, description, avatar (an id of the actor's own upload, or None),
    publicity, metadata. Emits ``room.updated``."""
    _meter(kind="room.update", user=actor, room_id=room_id)
    with transaction.atomic():
        room = _room_for_moderation(room_id, actor)
        if "avatar_id" in changes:
            avatar_id = changes.pop("avatar_id")
            changes["avatar"] = (
                None if avatar_id is None else selectors.attachment_by_id(attachment_id=avatar_id, uploaded_by=actor)
            )
        return rooms.room_update(room=room, actor=actor, **changes)


def room_deactivate(*, actor, room_id, reason: str = "") -> ChatRoom:
    _meter(kind="room.update", user=actor, room_id=room_id)
    with transaction.atomic():
        return rooms.room_deactivate(room=_room_for_moderation(room_id, actor), actor=actor, reason=reason)


def room_reactivate(*, actor, room_id, reason: str = "") -> ChatRoom:
    _meter(kind="room.update", user=actor, room_id=room_id)
    with transaction.atomic():
        return rooms.room_reactivate(room=_room_for_moderation(room_id, actor), actor=actor, reason=reason)


def room_join(*, actor, room_id) -> ChatMember:
    _meter(kind="member", user=actor, room_id=room_id)
    with transaction.atomic():
        return rooms.room_join(room=selectors.public_room(room_id=room_id, user=actor), user=actor)


def invite_create(*, actor, room_id, role: str, expires_in, max_uses: int | None):
    """A new invite link to a group room (its owners and admins)."""
    _meter(kind="room.update", user=actor, room_id=room_id)
    with transaction.atomic():
        room = _room_for_moderation(room_id, actor)
        return invites.invite_create(room=room, actor=actor, role=role, expires_in=expires_in, max_uses=max_uses)


def invite_revoke(*, actor, room_id, invite_id, reason: str = ""):
    """End an invite link at once (its room's owners and admins, site moderators)."""
    _meter(kind="room.update", user=actor, room_id=room_id)
    with transaction.atomic():
        room = _room_for_moderation(room_id, actor)
        invite = selectors.invite_for_moderator(invite_id=invite_id, room=room)
        return invites.invite_revoke(invite=invite, actor=actor, reason=reason)


def invite_accept(*, actor, code: str) -> tuple[ChatMember, bool]:
    """Join the room of an invite link: ``(membership, joined now)``."""
    _meter(kind="member", user=actor)
    return invites.invite_accept(code=code, user=actor)


def room_leave(*, actor, room_id) -> ChatMember:
    _meter(kind="member", user=actor, room_id=room_id)
    with transaction.atomic():
        return members.room_leave(room=selectors.room_get_for_member(room_id=room_id, user=actor), user=actor)


# --- members -------------------------------------------------------------------------------
def member_add(*, actor, room_id, user_id, role: str) -> ChatMember:
    _meter(kind="member", user=actor, room_id=room_id)
    with transaction.atomic():
        room = _room_for_moderation(room_id, actor)
        return members.room_member_add(room=room, actor=actor, user=selectors.active_user(user_id=user_id), role=role)


def _member_action(service, *, actor, room_id, user_id, **arguments) -> ChatMember:
    """Resolve the room and its member, then run one member service."""
    _meter(kind="member", user=actor, room_id=room_id)
    with transaction.atomic():
        room = _room_for_moderation(room_id, actor)
        member = selectors.member_of(room=room, user_id=user_id)
        return service(room=room, actor=actor, member=member, **arguments)


def member_change_role(*, actor, room_id, user_id, role: str) -> ChatMember:
    return _member_action(members.room_member_change_role, actor=actor, room_id=room_id, user_id=user_id, role=role)


def member_remove(*, actor, room_id, user_id, reason: str = "") -> ChatMember:
    return _member_action(members.room_member_remove, actor=actor, room_id=room_id, user_id=user_id, reason=reason)


def member_mute(*, actor, room_id, user_id, until: datetime | None, reason: str = "") -> ChatMember:
    return _member_action(
        members.room_member_mute, actor=actor, room_id=room_id, user_id=user_id, until=until, reason=reason
    )


def member_unmute(*, actor, room_id, user_id, reason: str = "") -> ChatMember:
    return _member_action(members.room_member_unmute, actor=actor, room_id=room_id, user_id=user_id, reason=reason)


def member_ban(*, actor, room_id, user_id, reason: str = "") -> ChatMember:
    return _member_action(members.room_member_ban, actor=actor, room_id=room_id, user_id=user_id, reason=reason)


def member_unban(*, actor, room_id, user_id, reason: str = "") -> ChatMember:
    return _member_action(members.room_member_unban, actor=actor, room_id=room_id, user_id=user_id, reason=reason)


# --- files ---------------------------------------------------------------------------------
def attachment_create(*, actor, upload, room_id=None, keep_original: bool = False) -> Attachment:
    """Store an upload (checked by content; an image stripped of its metadata
    unless ``keep_original``); ``room_id`` checks the actor may post there."""
    _meter(kind="upload", user=actor, room_id=room_id)
    room = selectors.room_get_for_member(room_id=room_id, user=actor) if room_id else None
    return attachments.attachment_create(uploader=actor, upload=upload, room=room, keep_original=keep_original)


def attachment_make_previews(*, attachment_id, announce: bool = True) -> Attachment | None:
    """A PDF's first-page thumbnails (the job's work), or an older image's
    (the backfill); not metered: the upload was."""
    return attachments.attachment_make_previews(attachment_id=attachment_id, announce=announce)


@jobs.handler(attachments.PDF_PREVIEW_JOB)
def attachment_pdf_preview_job(job, ctx) -> dict:
    """The ``attachment.pdf_preview`` job (enqueued with the upload), run by
    the worker. One step: safe to run again from the start."""
    attachment = attachment_make_previews(attachment_id=job.payload["attachment_id"])
    return {"preview_state": attachment.preview_state if attachment is not None else "gone"}


# --- imported history (the importers of the imports app) ------------------------------------
# Staff or the command line import a whole export: not metered, and no person's
# membership is asked for (the people are the export's, most not active yet).
def room_import_group(*, company, creator, name: str, description: str = "", is_public: bool, members=()) -> ChatRoom:
    """A group room of imported history with its members."""
    return imports.room_import_group(
        company=company, creator=creator, name=name, description=description, is_public=is_public, members=members
    )


def room_import_direct(*, user, other) -> ChatRoom:
    """The direct room of two people, for imported history."""
    return imports.room_import_direct(user=user, other=other)


def message_import(
    *, room_id, sender, text: str, created_at, thread_id=None, also_in_room: bool = False, edited_at=None, files=(), reactions=()
) -> imports.ImportedMessage:
    """One imported message at its original time, in a thread when ``thread_id``
    names a root of the room (locked before the room, like any reply)."""
    with transaction.atomic():
        room = ChatRoom.objects.get(pk=room_id)
        thread = (
            ChatMessage.objects.select_for_update(of=("self",)).select_related("room").filter(pk=thread_id, room=room).first()
            if thread_id
            else None
        )
        return imports.message_import(
            room=room,
            sender=sender,
            text=text,
            created_at=created_at,
            thread=thread,
            also_in_room=also_in_room,
            edited_at=edited_at,
            files=files,
            reactions=reactions,
        )


def room_import_finish(*, room_id, history_until=None, archived: bool = False) -> ChatRoom:
    """Imported history (messages up to ``history_until``) is read by its members; an archived room is closed."""
    return imports.room_import_finish(room=ChatRoom.objects.get(pk=room_id), history_until=history_until, archived=archived)


# --- people (account changes that reach into chat) -------------------------------------------
def user_set_company(*, user, company) -> User:
    return people.user_set_company(user=user, company=company)


def user_set_support_agent(*, user, is_support_agent: bool) -> User:
    return people.user_set_support_agent(user=user, is_support_agent=is_support_agent)


def user_set_active(*, user, is_active: bool) -> User:
    return people.user_set_active(user=user, is_active=is_active)


def user_logged_out(*, user) -> None:
    people.user_logged_out(user=user)


def user_profile_changed(*, user) -> None:
    people.user_profile_changed(user=user)


def user_sessions_revoked(*, user, session_ids, keep_session_id) -> None:
    people.user_sessions_revoked(user=user, session_ids=session_ids, keep_session_id=keep_session_id)


# --- exports (run by the worker: chat/exports) ----------------------------------------------
def _attachments_budget(value) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= settings.CHAT_EXPORT_MAX_ATTACHMENT_BYTES:
        raise Invalid(
            f"attachments_bytes is 0 to {settings.CHAT_EXPORT_MAX_ATTACHMENT_BYTES:,}.",
            code="invalid_attachments_bytes",
            fields={"attachments_bytes": [f"0 to {settings.CHAT_EXPORT_MAX_ATTACHMENT_BYTES}."]},
        )
    return value


def _unfinished(kind: str, owner, **payload) -> Job | None:
    """An export of the same thing this person asked for and is still running (asked twice: one job)."""
    jobs_of_owner = Job.objects.filter(kind=kind, owner=owner, state__in=[JobState.PENDING, JobState.RUNNING])
    return next((job for job in jobs_of_owner if all(job.payload.get(k) == v for k, v in payload.items())), None)


def room_export_start(*, actor, room_id, attachments_bytes: int | None = 0) -> Job:
    """Start the export of a room (its owners and admins, site moderators):
    every message to the room's current seq. The worker makes the ZIP."""
    budget = _attachments_budget(attachments_bytes)
    _meter(kind="export", user=actor, room_id=room_id)
    with transaction.atomic():
        room = _room_for_moderation(room_id, actor)
        policies.require_moderator(room, actor)
        running = _unfinished(JOB_ROOM_EXPORT, actor, room=str(room.pk), attachments_bytes=budget)
        if running is not None:
            return running
        return jobs.enqueue(
            kind=JOB_ROOM_EXPORT, owner=actor, payload={"room": str(room.pk), "through_seq": room.seq, "attachments_bytes": budget}
        )


def personal_export_start(*, actor, attachments_bytes: int | None = 0) -> Job:
    """Start the export of my own data (docs/data.md)."""
    budget = _attachments_budget(attachments_bytes)
    _meter(kind="export", user=actor)
    with transaction.atomic():
        running = _unfinished(JOB_PERSONAL_EXPORT, actor, attachments_bytes=budget)
        return running or jobs.enqueue(kind=JOB_PERSONAL_EXPORT, owner=actor, payload={"attachments_bytes": budget})


def export_cancel(*, actor, job_id) -> bool:
    job = selectors.export_job(job_id=job_id, user=actor)
    return jobs.cancel(job)


def account_delete(*, actor, user_id, password: str | None = None, reason: str = "") -> people.AccountDeleted:
    """Delete an account (docs/data.md, "Deleting an account"): the person
    themselves with their current password (Invalid ``password_required`` /
    ``wrong_password``), or a site moderator (no password; a staff account only
    by a superuser). Anyone else, or an account already deleted: NotFound.
    Messages are erased or kept as ``CHAT_ERASE_MESSAGES_ON_DELETE`` says."""
    _meter(kind="settings", user=actor)
    try:
        target = User.objects.filter(pk=user_id).first()
    except (ValidationError, ValueError):
        target = None
    own = target is not None and target.pk == actor.pk
    if not own:
        if target is None or not policies.is_site_moderator(actor):
            raise NotFound("User not found.", code="user_not_found")
        if (target.is_staff or target.is_superuser) and not actor.is_superuser:
            raise Forbidden("Only a superuser can delete a staff account.", code="staff_account")
    else:
        if not isinstance(password, str) or not password:
            raise Invalid(
                "Give your current password to delete your account.", code="password_required", fields={"password": ["Required."]}
            )
        if not target.check_password(password):
            raise Invalid("The password is wrong.", code="wrong_password", fields={"password": ["Wrong password."]})
    if not isinstance(reason, str) or len(reason) > 1000:
        raise Invalid("reason must be a string of at most 1000 characters.", code="invalid", fields={"reason": ["Too long."]})
    return people.account_delete(
        user=target, actor=actor, reason=reason, erase_messages=settings.CHAT_ERASE_MESSAGES_ON_DELETE
    )
