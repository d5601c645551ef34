"""Message use cases: send, reply, forward, edit, delete, restore, announce,
reactions and read positions."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import UserBlock

from .. import crypto, events
from ..content_rules import check_content
from ..exceptions import ChatError, Conflict, Forbidden, Invalid, NotFound
from ..models import (
    Attachment,
    ChatMember,
    ChatMessage,
    ChatRoom,
    MessageEdit,
    MessageReaction,
    MessageType,
    ModerationAction,
    Role,
    RoomType,
    SearchToken,
)
from .common import (
    MODERATOR_ROLES,
    allocate_seq,
    audit,
    clean_text,
    create_message,
    get_membership,
    index_message,
    is_site_moderator,
    post_system_message,
    require_active_room,
    require_member,
)

USER_MESSAGE_TYPES = frozenset({MessageType.TEXT, MessageType.IMAGE, MessageType.FILE, MessageType.ACTION})
MAX_CLIENT_MSG_ID_LENGTH = 64
MAX_REACTION_LENGTH = 32
MAX_METADATA_BYTES = 4096


def _find_original(sender, client_msg_id: str, room: ChatRoom) -> ChatMessage | None:
    original = (
        ChatMessage.objects.select_related("sender", "reply_to__sender", "attachment")
        .filter(sender=sender, client_msg_id=client_msg_id)
        .first()
    )
    if original is not None and original.room_id != room.pk:
        raise Conflict(
            "This client_msg_id was already used for a message in another room.", code="client_msg_id_reused"
        )
    return original


def _require_can_post(room: ChatRoom, member: ChatMember) -> None:
    require_active_room(room)
    if member.muted_until is not None and member.muted_until > timezone.now():
        raise Forbidden(
            f"You are muted in this room until {member.muted_until.isoformat()}.", code="muted"
        )
    if room.room_type == RoomType.DIRECT:
        other_id = room.direct_user_high_id if room.direct_user_low_id == member.user_id else room.direct_user_low_id
        if UserBlock.objects.filter(
            Q(blocker_id=member.user_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=member.user_id)
        ).exists():
            raise Forbidden("You cannot send messages to this user.", code="blocked")


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
    if len(events.encode(extra_metadata)) > MAX_METADATA_BYTES:
        raise Invalid(f"extra_metadata is limited to {MAX_METADATA_BYTES} bytes.", code="extra_metadata_too_large")
    return extra_metadata


@transaction.atomic
def message_send(
    *,
    room: ChatRoom,
    sender,
    content: str = "",
    message_type: str | None = None,
    client_msg_id: str | None = None,
    reply_to: ChatMessage | None = None,
    attachment: Attachment | None = None,
    extra_metadata: dict | None = None,
    forwarded_from: ChatMessage | None = None,
    member: ChatMember | None = None,
) -> tuple[ChatMessage, bool]:
    """Post a message: ``(message, created)``.

    A ``client_msg_id`` the sender already used returns the original message
    and creates nothing, also under concurrent retries. Refused when the sender
    is not a member (NotFound), is muted, the room is inactive or a direct peer
    blocked them (Forbidden), or the content breaks a rule (Invalid). Emits
    ``message.created``. ``member``: the sender's active membership of ``room``
    if the caller has just loaded it (it is loaded here otherwise).
    """
    client_msg_id = _clean_client_msg_id(client_msg_id)
    try:
        return _send_new(
            room=room, sender=sender, content=content, message_type=message_type, client_msg_id=client_msg_id,
            reply_to=reply_to, attachment=attachment, extra_metadata=extra_metadata,
            forwarded_from=forwarded_from, member=member,
        )
    except ChatError:
        # A retry answers with the original even when a new send would now be
        # refused (muted, left, content rules changed). Looked up only on a
        # refusal or a conflict: the first send of an id costs no extra query.
        if client_msg_id is not None and (original := _find_original(sender, client_msg_id, room)) is not None:
            return original, False
        raise


def _send_new(
    *, room, sender, content, message_type, client_msg_id, reply_to, attachment, extra_metadata, forwarded_from, member
) -> tuple[ChatMessage, bool]:
    if member is None or member.room_id != room.pk or member.user_id != sender.pk or not member.is_active:
        member = require_member(room, sender)
    _require_can_post(room, member)
    if message_type is None:
        message_type = (
            MessageType.TEXT if attachment is None else MessageType.IMAGE if attachment.is_image else MessageType.FILE
        )
    if message_type not in USER_MESSAGE_TYPES:
        raise Invalid(f"message_type must be one of {', '.join(sorted(USER_MESSAGE_TYPES))}.", code="invalid_message_type")
    if attachment is not None:
        if forwarded_from is None:
            if member.role == Role.GUEST:
                raise Forbidden("Guests cannot post files.", code="guest_cannot_upload")
            if attachment.uploaded_by_id != sender.pk:
                raise NotFound("Attachment not found.", code="attachment_not_found")
        if message_type not in (MessageType.IMAGE, MessageType.FILE):
            raise Invalid("A message with an attachment is an image or a file.", code="invalid_message_type")
        if message_type == MessageType.IMAGE and not attachment.is_image:
            raise Invalid("This attachment is not an image.", code="invalid_message_type")
    elif message_type in (MessageType.IMAGE, MessageType.FILE):
        raise Invalid(f"A {message_type} message needs an attachment.", code="attachment_required")
    content = _clean_content(content, has_attachment=attachment is not None)
    checked = check_content(content)
    if reply_to is not None and (reply_to.room_id != room.pk):
        raise Invalid("You can only reply to a message in the same room.", code="invalid_reply")
    metadata = _clean_metadata(extra_metadata)

    def insert() -> ChatMessage:
        return create_message(
            room=room,
            sender=sender,
            text=checked.text,
            message_type=message_type,
            extra_metadata=metadata,
            reply_to=reply_to,
            forwarded_from=forwarded_from,
            attachment=attachment,
            client_msg_id=client_msg_id,
            is_flagged=checked.is_flagged,
            flag_reason=checked.flag_reason,
        )

    if client_msg_id is None:
        return insert(), True
    try:
        # A savepoint: a concurrent twin that committed first rolls back this
        # insert together with its seq, leaving no gap.
        with transaction.atomic():
            return insert(), True
    except IntegrityError:
        original = _find_original(sender, client_msg_id, room)
        if original is None:
            raise
        return original, False


def message_get_for_member(*, message_id, user) -> ChatMessage:
    """A message in a room ``user`` belongs to (NotFound otherwise)."""
    message = (
        ChatMessage.objects.select_related("room", "sender", "attachment", "reply_to__sender")
        .filter(pk=message_id)
        .first()
    )
    if message is None or get_membership(message.room, user) is None:
        raise NotFound("Message not found.", code="message_not_found")
    return message


@transaction.atomic
def message_forward(
    *, message: ChatMessage, to_room: ChatRoom, actor, client_msg_id: str | None = None
) -> tuple[ChatMessage, bool]:
    """Copy ``message`` into ``to_room``, where ``actor`` is a member, marked as forwarded."""
    source = message_get_for_member(message_id=message.pk, user=actor)
    if source.is_deleted:
        raise Invalid("A deleted message cannot be forwarded.", code="message_deleted")
    if source.message_type == MessageType.SYSTEM:
        raise Invalid("System messages cannot be forwarded.", code="invalid_message_type")
    return message_send(
        room=to_room,
        sender=actor,
        content=crypto.decrypt(source.content_encrypted),
        message_type=source.message_type,
        attachment=source.attachment,
        client_msg_id=client_msg_id,
        forwarded_from=source,
    )


def _announce_message(message: ChatMessage, kind: str) -> None:
    room = message.room
    seq = allocate_seq(room)
    events.append(room=room, seq=seq, kind=kind, body={"message_id": str(message.pk)}, message=message)


@transaction.atomic
def message_edit(*, message: ChatMessage, actor, content: str) -> ChatMessage:
    """Edit one's own message; the previous text is kept in the edit history and
    the search index follows. Emits ``message.updated``."""
    message = ChatMessage.objects.select_for_update().select_related("room").get(pk=message.pk)
    member = get_membership(message.room, actor)
    if member is None:
        raise NotFound("Message not found.", code="message_not_found")
    if message.sender_id != actor.pk or message.message_type == MessageType.SYSTEM:
        raise Forbidden("You can only edit your own messages.", code="not_sender")
    if message.is_deleted:
        raise Invalid("A deleted message cannot be edited.", code="message_deleted")
    _require_can_post(message.room, member)
    content = _clean_content(content, has_attachment=message.attachment_id is not None)
    checked = check_content(content)
    previous = crypto.decrypt(message.content_encrypted)
    if checked.text == previous:
        return message
    MessageEdit.objects.create(message=message, edited_by=actor, previous_content_encrypted=message.content_encrypted)
    message.content_encrypted = crypto.encrypt(checked.text)
    message.is_edited, message.edited_at = True, timezone.now()
    message.is_flagged = message.is_flagged or checked.is_flagged
    message.flag_reason = checked.flag_reason or message.flag_reason
    message.save(
        update_fields=["content_encrypted", "is_edited", "edited_at", "is_flagged", "flag_reason", "updated_at"]
    )
    index_message(message, checked.text)
    _announce_message(message, events.MESSAGE_UPDATED)
    return message


def _can_moderate_messages(room: ChatRoom, actor) -> bool:
    if is_site_moderator(actor):
        return True
    member = get_membership(room, actor)
    return member is not None and member.role in MODERATOR_ROLES


@transaction.atomic
def message_delete(*, message: ChatMessage, actor, reason: str = "") -> ChatMessage:
    """Soft-delete: by the sender, a room owner or admin, or a site moderator.

    Content stays encrypted until the retention purge (so moderators can
    restore it) but is hidden from every client and removed from search.
    Emits ``message.deleted``; a moderator's delete is audited.
    """
    message = ChatMessage.objects.select_for_update().select_related("room").get(pk=message.pk)
    own = message.sender_id == actor.pk and get_membership(message.room, actor) is not None
    if not own and not _can_moderate_messages(message.room, actor):
        if get_membership(message.room, actor) is None and not is_site_moderator(actor):
            raise NotFound("Message not found.", code="message_not_found")
        raise Forbidden("You can only delete your own messages.", code="not_sender")
    if message.is_deleted:
        return message
    message.is_deleted, message.deleted_at, message.deleted_by = True, timezone.now(), actor
    message.save(update_fields=["is_deleted", "deleted_at", "deleted_by", "updated_at"])
    SearchToken.objects.filter(message=message).delete()
    _announce_message(message, events.MESSAGE_DELETED)
    if not own:
        audit(
            actor=actor,
            action=ModerationAction.MESSAGE_DELETE,
            room=message.room,
            target_user=message.sender,
            target_message=message,
            reason=reason,
        )
    return message


@transaction.atomic
def message_restore(*, message: ChatMessage, actor, reason: str = "") -> ChatMessage:
    """Undo a soft delete (room owners and admins, site moderators). Emits ``message.updated``."""
    message = ChatMessage.objects.select_for_update().select_related("room").get(pk=message.pk)
    if not _can_moderate_messages(message.room, actor):
        if get_membership(message.room, actor) is None:
            raise NotFound("Message not found.", code="message_not_found")
        raise Forbidden("Only the room's owners and admins can restore messages.", code="not_room_admin")
    if not message.is_deleted:
        return message
    if message.content_purged_at is not None:
        raise Invalid("This message's content has been purged by retention.", code="content_purged")
    message.is_deleted, message.deleted_at, message.deleted_by = False, None, None
    message.save(update_fields=["is_deleted", "deleted_at", "deleted_by", "updated_at"])
    if message.message_type != MessageType.SYSTEM:
        index_message(message, crypto.decrypt(message.content_encrypted))
    _announce_message(message, events.MESSAGE_UPDATED)
    audit(
        actor=actor,
        action=ModerationAction.MESSAGE_RESTORE,
        room=message.room,
        target_user=message.sender,
        target_message=message,
        reason=reason,
    )
    return message


@transaction.atomic
def room_post_announcement(*, room: ChatRoom, actor, content: str, reason: str = "") -> ChatMessage:
    """A system announcement from staff or the room's owners and admins."""
    if not _can_moderate_messages(room, actor):
        if get_membership(room, actor) is None:
            raise NotFound("Room not found.", code="room_not_found")
        raise Forbidden("Only the room's owners and admins can post announcements.", code="not_room_admin")
    room = ChatRoom.objects.select_for_update().get(pk=room.pk)
    require_active_room(room)
    content = _clean_content(content, has_attachment=False)
    message = post_system_message(room=room, actor=actor, text=content, event="announcement")
    audit(actor=actor, action=ModerationAction.ROOM_ANNOUNCE, room=room, target_message=message, reason=reason)
    return message


def _clean_reaction(reaction) -> str:
    reaction = clean_text(reaction, field="reaction", max_length=MAX_REACTION_LENGTH, required=True)
    if any(ch.isspace() for ch in reaction):
        raise Invalid("A reaction cannot contain spaces.", code="invalid_reaction", fields={"reaction": ["No spaces."]})
    return reaction


def _message_for_reaction(message: ChatMessage, user) -> tuple[ChatMessage, ChatMember]:
    message = ChatMessage.objects.select_related("room").get(pk=message.pk)
    member = get_membership(message.room, user)
    if member is None:
        raise NotFound("Message not found.", code="message_not_found")
    require_active_room(message.room)
    if message.is_deleted:
        raise Invalid("A deleted message cannot get reactions.", code="message_deleted")
    return message, member


def _announce_reaction(message: ChatMessage, kind: str, user, reaction: str) -> None:
    room = message.room
    seq = allocate_seq(room)
    count = MessageReaction.objects.filter(message=message, reaction=reaction).count()
    events.append(
        room=room,
        seq=seq,
        kind=kind,
        body={"message_id": str(message.pk), "reaction": reaction, "user_id": str(user.pk), "count": count},
    )


@transaction.atomic
def reaction_add(*, message: ChatMessage, user, reaction: str) -> tuple[MessageReaction, bool]:
    """React to a message: ``(reaction, created)``; the same reaction twice is one. Emits ``reaction.added``."""
    reaction = _clean_reaction(reaction)
    message, _member = _message_for_reaction(message, user)
    existing = MessageReaction.objects.filter(message=message, user=user, reaction=reaction).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            created = MessageReaction.objects.create(message=message, user=user, reaction=reaction)
    except IntegrityError:
        return MessageReaction.objects.get(message=message, user=user, reaction=reaction), False
    _announce_reaction(message, events.REACTION_ADDED, user, reaction)
    return created, True


@transaction.atomic
def reaction_remove(*, message: ChatMessage, user, reaction: str) -> bool:
    """Take one's reaction back; False when there was none. Emits ``reaction.removed``."""
    reaction = _clean_reaction(reaction)
    message, _member = _message_for_reaction(message, user)
    deleted, _ = MessageReaction.objects.filter(message=message, user=user, reaction=reaction).delete()
    if not deleted:
        return False
    _announce_reaction(message, events.REACTION_REMOVED, user, reaction)
    return True


@transaction.atomic
def room_mark_read(*, room: ChatRoom, user, seq: int) -> ChatMember:
    """Move the user's read position forward to ``seq`` (never back, never past the room).

    Announces an ephemeral ``read`` notice; read positions are not logged.
    """
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise Invalid("seq must be a non-negative integer.", code="invalid_seq", fields={"seq": ["Non-negative integer."]})
    member = require_member(room, user)
    room_seq = ChatRoom.objects.values_list("seq", flat=True).get(pk=room.pk)
    target = min(seq, room_seq)
    updated = ChatMember.objects.filter(pk=member.pk, last_read_seq__lt=target).update(
        last_read_seq=target, updated_at=timezone.now()
    )
    if updated:
        member.last_read_seq = target
        events.send_ephemeral(
            room.pk, {"type": "read", "room": str(room.pk), "user_id": str(user.pk), "seq": target}
        )
    return member
