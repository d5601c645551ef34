"""Message use cases: send, reply, forward, edit, delete, restore, announce,
reactions and read positions."""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from chatsite.core.exceptions import ChatError, Conflict, Forbidden, Invalid, NotFound

from .. import crypto, formatting, policies, selectors
from ..content_rules import check_content
from ..events import broadcast, log, render, wire
from ..models import (
    Attachment,
    ChatMember,
    ChatMessage,
    ChatRoom,
    MessageEdit,
    MessageReaction,
    MessageType,
    ModerationAction,
    PinnedMessage,
    SearchToken,
)
from . import notifications, threads
from .common import (
    allocate_seq,
    audit,
    clean_text,
    create_message,
    index_message,
    post_system_message,
)

USER_MESSAGE_TYPES = frozenset({MessageType.TEXT, MessageType.IMAGE, MessageType.FILE, MessageType.ACTION})
MAX_CLIENT_MSG_ID_LENGTH = 64
MAX_REACTION_LENGTH = 32
MAX_METADATA_BYTES = 4096


def original_of_retry(*, sender, client_msg_id, room_id, thread_id=None) -> ChatMessage | None:
    """After a send refused by the ``(sender, client_msg_id)`` unique key (a
    twin committed first; the send's transaction rolled back): the twin, or
    None. Conflict when the id was used in another room or thread."""
    client_msg_id = _clean_client_msg_id(client_msg_id)
    if client_msg_id is None:
        return None
    return _find_original(sender, client_msg_id, room_id, thread_id)


def _find_original(sender, client_msg_id: str, room, thread) -> ChatMessage | None:
    """The sender's message with ``client_msg_id``; ``room`` and ``thread``
    (objects or ids) are where this send aimed."""
    original = (
        ChatMessage.objects.select_related("sender", "reply_to__sender", "forwarded_from__sender", "attachment")
        .filter(sender=sender, client_msg_id=client_msg_id)
        .first()
    )
    room_id, thread_id = (getattr(value, "pk", value) for value in (room, thread))
    if original is not None and str(original.room_id) != str(room_id):
        raise Conflict(
            "This client_msg_id was already used for a message in another room.", code="client_msg_id_reused"
        )
    if original is not None and (str(original.thread_id) if original.thread_id else None) != (str(thread_id) if thread_id else None):
        raise Conflict(
            "This client_msg_id was already used for a message in another thread (or outside one).",
            code="client_msg_id_reused",
        )
    return original


def _clean_content(content, *, has_attachment: bool) -> str:
    content = clean_text(content, field="content", max_length=settings.CHAT_MAX_MESSAGE_LENGTH)
    if not has_attachment and not content.strip():
        raise Invalid("A message needs content or an attachment.", code="content_required", fields={"content": ["Required."]})
    return content


def _clean_client_msg_id(client_msg_id) -> str | None:
    if client_msg_id in (None, ""):
        return None
    return clean_text(client_msg_id, field="client_msg_id", max_length=MAX_CLIENT_MSG_ID_LENGTH)


def _clean_metadata(extra_metadata) -> dict:
    if extra_metadata in (None, ""):
        return {}
    if not isinstance(extra_metadata, dict):
        raise Invalid("extra_metadata must be an object.", code="invalid", fields={"extra_metadata": ["Must be an object."]})
    if len(wire.encode_bytes(extra_metadata)) > MAX_METADATA_BYTES:
        raise Invalid(f"extra_metadata is limited to {MAX_METADATA_BYTES} bytes.", code="extra_metadata_too_large")
    return extra_metadata


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """What a sender asks to post, before any rule is applied."""

    content: str = ""
    message_type: str | None = None  # None: text, or image/file from the attachment
    client_msg_id: str | None = None
    reply_to: ChatMessage | None = None
    attachment: Attachment | None = None
    extra_metadata: dict | None = None
    forwarded_from: ChatMessage | None = None
    thread: ChatMessage | None = None  # the root, for a reply in a thread
    also_in_room: bool = False  # a reply "also sent to #room"


@transaction.atomic(savepoint=False)
def message_send(*, room: ChatRoom, sender, member: ChatMember, draft: MessageDraft) -> tuple[ChatMessage, bool]:
    """Post ``draft`` as ``member`` (the sender's active membership of ``room``):
    ``(message, created)``.

    A ``client_msg_id`` the sender already used returns the original message
    and creates nothing; a concurrent twin that commits first makes this one
    raise IntegrityError (see :func:`original_of_retry`). Refused when the sender
    is muted, the room is inactive or a direct peer blocked them (Forbidden),
    or the content breaks a rule (Invalid). Emits ``message.created``.
    """
    client_msg_id = _clean_client_msg_id(draft.client_msg_id)
    try:
        return _send_new(room=room, sender=sender, member=member, draft=draft, client_msg_id=client_msg_id)
    except ChatError:
        # A retry answers with the original even when a new send would now be
        # refused (muted, left, content rules changed). Looked up only on a
        # refusal or a conflict: the first send of an id costs no extra query.
        if client_msg_id is not None and (original := _find_original(sender, client_msg_id, room, draft.thread)) is not None:
            return original, False
        raise


def _message_type(message_type, attachment) -> str:
    if message_type is None:
        return MessageType.TEXT if attachment is None else MessageType.IMAGE if attachment.is_image else MessageType.FILE
    if message_type not in USER_MESSAGE_TYPES:
        raise Invalid(f"message_type must be one of {', '.join(sorted(USER_MESSAGE_TYPES))}.", code="invalid_message_type")
    if attachment is not None:
        if message_type not in (MessageType.IMAGE, MessageType.FILE):
            raise Invalid("A message with an attachment is an image or a file.", code="invalid_message_type")
        if message_type == MessageType.IMAGE and not attachment.is_image:
            raise Invalid("This attachment is not an image.", code="invalid_message_type")
    elif message_type in (MessageType.IMAGE, MessageType.FILE):
        raise Invalid(f"A {message_type} message needs an attachment.", code="attachment_required")
    return message_type


def _send_new(*, room, sender, member, draft: MessageDraft, client_msg_id) -> tuple[ChatMessage, bool]:
    attachment = draft.attachment
    policies.require_can_post(room, member)
    if attachment is not None:
        policies.require_can_attach(member, attachment, forwarded=draft.forwarded_from is not None)
    message_type = _message_type(draft.message_type, attachment)
    content = _clean_content(draft.content, has_attachment=attachment is not None)
    checked = check_content(content)
    if draft.reply_to is not None and draft.reply_to.room_id != room.pk:
        raise Invalid("You can only reply to a message in the same room.", code="invalid_reply")
    if draft.thread is not None:
        threads.require_root(draft.thread, room)
    if not isinstance(draft.also_in_room, bool):
        raise Invalid("also_in_room must be true or false.", code="invalid", fields={"also_in_room": ["Must be true or false."]})
    # A forward copies what someone else wrote: it mentions nobody again.
    found = (
        notifications.NO_MENTIONS
        if draft.forwarded_from is not None
        else notifications.resolve_mentions(room=room, sender=sender, member=member, text=checked.text)
    )
    message = ChatMessage(
        room=room,
        sender=sender,
        message_type=message_type,
        extra_metadata=_clean_metadata(draft.extra_metadata),
        reply_to=draft.reply_to,
        forwarded_from=draft.forwarded_from,
        attachment=attachment,
        client_msg_id=client_msg_id,
        is_flagged=checked.is_flagged,
        flag_reason=checked.flag_reason,
        thread=draft.thread,
        also_in_room=draft.also_in_room and draft.thread is not None,
    )

    notifications.attach_mentions(message, found)

    def insert() -> ChatMessage:
        create_message(message, text=checked.text)
        notifications.record_mentions(message, found)
        followers = threads.reply_added(message, found.by_user) if message.thread_id else frozenset()
        notifications.schedule_notifications(message, found, followers=followers)
        return message

    # A twin of this send (same client_msg_id) committed meanwhile: the insert
    # raises IntegrityError and the caller's transaction rolls back whole, the
    # seq with it, leaving no gap; the command then answers with the twin
    # (original_of_retry). No savepoint on the way: two round trips less per
    # message.
    return insert(), True


@transaction.atomic(savepoint=False)
def message_forward(
    *, source: ChatMessage, to_room: ChatRoom, actor, member: ChatMember, client_msg_id: str | None = None
) -> tuple[ChatMessage, bool]:
    """Copy ``source`` (a message the actor may read) into ``to_room``, where
    ``member`` is the actor's membership, marked as forwarded."""
    if source.is_deleted:
        raise Invalid("A deleted message cannot be forwarded.", code="message_deleted")
    if source.message_type == MessageType.SYSTEM:
        raise Invalid("System messages cannot be forwarded.", code="invalid_message_type")
    draft = MessageDraft(
        content=crypto.decrypt(source.content_encrypted),
        message_type=source.message_type,
        attachment=source.attachment,
        client_msg_id=client_msg_id,
        forwarded_from=source,
    )
    return message_send(room=to_room, sender=actor, member=member, draft=draft)


def _lock_root_of(message: ChatMessage) -> None:
    """A reply's root, locked before the room: every write takes message rows
    before the room's row (a reply locks its root first too), so a reply
    deleted while someone edits the root or replies never deadlocks."""
    if message.thread_id:
        message.thread = ChatMessage.objects.select_for_update(of=("self",)).select_related("room").get(pk=message.thread_id)


def _announce_message(message: ChatMessage, kind: str) -> None:
    room = message.room
    seq = allocate_seq(room)
    log.append(room=room, seq=seq, kind=kind, body={"message_id": str(message.pk)}, message=message)


def _audit_moderation(message: ChatMessage, actor, action: str, reason: str) -> None:
    audit(actor=actor, action=action, room=message.room, target_user=message.sender, target_message=message, reason=reason)


@transaction.atomic(savepoint=False)
def message_edit(*, message: ChatMessage, actor, member: ChatMember, content: str) -> ChatMessage:
    """Edit one's own message (locked by the caller); the previous text is kept
    in the edit history and the search index follows. Emits ``message.updated``
    (nothing when the text is unchanged)."""
    policies.require_sender(message, actor)
    if message.is_deleted:
        raise Invalid("A deleted message cannot be edited.", code="message_deleted")
    policies.require_can_post(message.room, member)
    content = _clean_content(content, has_attachment=message.attachment_id is not None)
    checked = check_content(content)
    previous = crypto.decrypt(message.content_encrypted)
    if checked.text == previous:
        return message
    earlier = notifications.mentions_before_edit(message, previous)
    found = notifications.resolve_mentions(room=message.room, sender=actor, member=member, text=checked.text, earlier=earlier)
    MessageEdit.objects.create(message=message, edited_by=actor, previous_content_encrypted=message.content_encrypted)
    message.content_encrypted = crypto.encrypt(checked.text)
    render.remember_plaintext(message, checked.text)
    render.remember_html(message, formatting.formatted_html(checked.text))
    message.is_edited, message.edited_at = True, timezone.now()
    message.is_flagged = message.is_flagged or checked.is_flagged
    message.flag_reason = checked.flag_reason or message.flag_reason
    changed = notifications.mentions_edited(message, found, earlier)
    if message.thread_id and found.by_user:
        threads.ensure_following(message.thread, found.by_user, read_to=None)
    message.save(
        update_fields=[
            "content_encrypted", "html_encrypted", "mentions_encrypted", "is_edited", "edited_at", "is_flagged", "flag_reason", "updated_at"
        ]
    )
    index_message(message, checked.text)
    _announce_message(message, wire.MESSAGE_UPDATED)
    _announce_attention_of(message, changed)
    return message


def _announce_attention_of(message: ChatMessage, user_ids) -> None:
    """People whose mention count an edit or delete changed, and who have not
    read the message yet, hear their new counts."""
    if not user_ids:
        return
    for attention in selectors.attention_in_room(room_id=message.room_id, user_ids=user_ids, unread_after=message.seq):
        notifications.announce_attention(attention.pop("user_id"), attention)


@transaction.atomic(savepoint=False)
def message_delete(*, message: ChatMessage, actor, member: ChatMember | None, reason: str = "") -> ChatMessage:
    """Soft-delete (the message locked by the caller): by the sender, a room
    owner or admin, or a site moderator.

    Content stays encrypted until the retention purge (so moderators can
    restore it) but is hidden from every client and removed from search.
    Emits ``message.deleted``; a moderator's delete is audited.
    """
    own = member is not None and message.sender_id == actor.pk
    if not own and not policies.can_moderate_messages(message.room, actor, member):
        if member is None:
            raise NotFound("Message not found.", code="message_not_found")
        raise Forbidden("You can only delete your own messages.", code="not_sender")
    if message.is_deleted:
        return message
    _lock_root_of(message)
    message.is_deleted, message.deleted_at, message.deleted_by = True, timezone.now(), actor
    message.save(update_fields=["is_deleted", "deleted_at", "deleted_by", "updated_at"])
    SearchToken.objects.filter(message=message).delete()
    notifications.cancel_for_message(message)
    _announce_message(message, wire.MESSAGE_DELETED)
    _announce_attention_of(message, notifications.mentioned_user_ids(message))
    if message.thread_id:
        threads.summary_changed(message.thread)
    if not own:
        _audit_moderation(message, actor, ModerationAction.MESSAGE_DELETE, reason)
    return message


@transaction.atomic(savepoint=False)
def message_restore(*, message: ChatMessage, actor, member: ChatMember | None, reason: str = "") -> ChatMessage:
    """Undo a soft delete: room owners and admins and site moderators (audited),
    or the sender shortly after deleting it (policies.require_can_restore).
    Emits ``message.updated``."""
    if not message.is_deleted:
        # Nothing to do: fine for its sender (an Undo clicked twice), refused to
        # whoever could not restore it anyway.
        if member is None or message.sender_id != actor.pk:
            policies.require_can_restore(message, actor, member=member, now=timezone.now())
        return message
    own_undo = policies.require_can_restore(message, actor, member=member, now=timezone.now())
    if own_undo:
        policies.require_can_post(message.room, member)
    if message.content_purged_at is not None:
        raise Invalid("This message's content has been purged by retention.", code="content_purged")
    _lock_root_of(message)
    message.is_deleted, message.deleted_at, message.deleted_by = False, None, None
    message.save(update_fields=["is_deleted", "deleted_at", "deleted_by", "updated_at"])
    if message.message_type != MessageType.SYSTEM:
        index_message(message, crypto.decrypt(message.content_encrypted))
    _announce_message(message, wire.MESSAGE_UPDATED)
    _announce_attention_of(message, notifications.mentioned_user_ids(message))
    if message.thread_id:
        threads.summary_changed(message.thread)
    if not own_undo:
        _audit_moderation(message, actor, ModerationAction.MESSAGE_RESTORE, reason)
    return message


@transaction.atomic(savepoint=False)
def room_post_announcement(*, room: ChatRoom, actor, content: str, reason: str = "") -> ChatMessage:
    """A system announcement from staff or the room's owners and admins."""
    policies.require_message_moderator(room, actor, action="post announcements")
    room = ChatRoom.objects.select_for_update().get(pk=room.pk)
    policies.require_active_room(room)
    content = _clean_content(content, has_attachment=False)
    message = post_system_message(room=room, actor=actor, text=content, event="announcement")
    audit(actor=actor, action=ModerationAction.ROOM_ANNOUNCE, room=room, target_message=message, reason=reason)
    return message


def _clean_reaction(reaction) -> str:
    reaction = clean_text(reaction, field="reaction", max_length=MAX_REACTION_LENGTH, required=True)
    if any(ch.isspace() for ch in reaction):
        raise Invalid("A reaction cannot contain spaces.", code="invalid_reaction", fields={"reaction": ["No spaces."]})
    return reaction


def _require_reactable(message: ChatMessage) -> None:
    policies.require_active_room(message.room)
    if message.is_deleted:
        raise Invalid("A deleted message cannot get reactions.", code="message_deleted")


def _announce_reaction(message: ChatMessage, kind: str, user, reaction: str) -> None:
    room = message.room
    seq = allocate_seq(room)
    count = MessageReaction.objects.filter(message=message, reaction=reaction).count()
    log.append(
        room=room,
        seq=seq,
        kind=kind,
        body={"message_id": str(message.pk), "reaction": reaction, "user_id": str(user.pk), "count": count},
    )


@transaction.atomic(savepoint=False)
def reaction_add(*, message: ChatMessage, user, reaction: str) -> tuple[MessageReaction, bool]:
    """React to a message the user can read: ``(reaction, created)``; the same
    reaction twice is one. Emits ``reaction.added``."""
    reaction = _clean_reaction(reaction)
    _require_reactable(message)
    try:
        with transaction.atomic():
            created = MessageReaction.objects.create(message=message, user=user, reaction=reaction)
    except IntegrityError:
        return MessageReaction.objects.get(message=message, user=user, reaction=reaction), False
    _announce_reaction(message, wire.REACTION_ADDED, user, reaction)
    return created, True


@transaction.atomic(savepoint=False)
def reaction_remove(*, message: ChatMessage, user, reaction: str) -> bool:
    """Take one's reaction back; False when there was none. Emits ``reaction.removed``."""
    reaction = _clean_reaction(reaction)
    _require_reactable(message)
    deleted, _ = MessageReaction.objects.filter(message=message, user=user, reaction=reaction).delete()
    if not deleted:
        return False
    _announce_reaction(message, wire.REACTION_REMOVED, user, reaction)
    return True


@transaction.atomic(savepoint=False)
def message_pin(*, message: ChatMessage, actor, member: ChatMember | None) -> bool:
    """Pin a message in its room (policies.require_can_pin); False when it
    already was. Emits ``message.pinned``."""
    policies.require_can_pin(message.room, actor, member)
    if message.is_deleted:
        raise Invalid("A deleted message cannot be pinned.", code="message_deleted")
    if message.message_type == MessageType.SYSTEM:
        raise Invalid("System messages cannot be pinned.", code="invalid_message_type")
    if PinnedMessage.objects.filter(message=message).exists():
        return False
    room = message.room
    seq = allocate_seq(room)  # holds the room's row: the count below cannot race another pin
    if PinnedMessage.objects.filter(room=room, message__is_deleted=False).count() >= settings.CHAT_MAX_PINS:
        raise Invalid(
            f"A room holds at most {settings.CHAT_MAX_PINS} pinned messages; unpin one first.", code="too_many_pins"
        )
    pin = PinnedMessage.objects.create(room=room, message=message, pinned_by=actor)
    log.append(room=room, seq=seq, kind=wire.MESSAGE_PINNED, body=render.pin_payload(pin))
    return True


@transaction.atomic(savepoint=False)
def message_unpin(*, message: ChatMessage, actor, member: ChatMember | None) -> bool:
    """Unpin; False when it was not pinned. Emits ``message.unpinned``."""
    policies.require_can_pin(message.room, actor, member)
    deleted, _ = PinnedMessage.objects.filter(message=message).delete()
    if not deleted:
        return False
    room = message.room
    log.append(
        room=room,
        seq=allocate_seq(room),
        kind=wire.MESSAGE_UNPINNED,
        body={"message_id": str(message.pk), "unpinned_by": str(actor.pk)},
    )
    return True


@transaction.atomic(savepoint=False)
def room_mark_read(*, member: ChatMember, seq: int) -> dict:
    """Move the member's read position forward to ``seq`` (never back, never
    past the room) and cancel the notifications it makes moot. Returns the
    room's counts (``unread`` frame body), which every socket of the member
    hears when the position moved; the room hears an ephemeral ``read``.
    Read positions are not logged."""
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise Invalid("seq must be a non-negative integer.", code="invalid_seq", fields={"seq": ["Non-negative integer."]})
    target = min(seq, member.room.seq)
    updated = ChatMember.objects.filter(pk=member.pk, last_read_seq__lt=target).update(
        last_read_seq=target, updated_at=timezone.now()
    )
    if updated:
        member.last_read_seq = target
        notifications.cancel_read(member, target)
        broadcast.ephemeral(
            member.room_id, {"type": wire.READ, "room": str(member.room_id), "user_id": str(member.user_id), "seq": target}
        )
    attention = selectors.attention_for(member=member)
    if updated:
        notifications.announce_attention(member.user_id, attention)
    return attention
