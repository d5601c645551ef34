"""Imported history (the importers of the ``imports`` app, through chat.commands):
rooms and messages as they were in another chat system.

An import is not people chatting now: nobody is notified, nothing is rate
limited or refused because a person is not active yet (imported people are
created inactive until they accept their invitation), and a message keeps its
original time. Everything else is the normal path: ``create_message`` (seq,
encryption, search entries, the room log), mentions indexed, thread summaries,
reactions and uploads checked like any other.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.db.models.functions import Lower

from accounts.models import Company
from chatsite.core.exceptions import ChatError

from .. import mentions
from ..content_rules import check_content
from ..models import (
    ChatMember,
    ChatMessage,
    ChatRoom,
    MentionKind,
    Role,
    RoomType,
    ThreadFollow,
)
from . import attachments, messages, notifications, threads
from .common import clean_text, create_message
from .member_rows import add_members
from .rooms import MAX_DESCRIPTION_LENGTH, _announce_room, _clean_name


@dataclass
class ImportedMessage:
    """What one imported message became: the messages written (the text with
    the first file, then one message per further file) and what was left out."""

    messages: list = field(default_factory=list)
    reactions: int = 0
    files: int = 0
    skipped: list = field(default_factory=list)  # (reason, detail)


@transaction.atomic(savepoint=False)
def room_import_group(
    *, company: Company | None, creator, name: str, description: str = "", is_public: bool, members=()
) -> ChatRoom:
    """A group room from another system, with its members (active or not yet):
    ``creator`` (when known) its owner. No "created the room" line: the
    imported history is the room's history."""
    name = _clean_name(name)
    description = clean_text(description[:MAX_DESCRIPTION_LENGTH], field="description", max_length=MAX_DESCRIPTION_LENGTH)
    room = ChatRoom.objects.create(
        room_type=RoomType.GROUP,
        name=name,
        description=description,
        company=company,
        created_by=creator,
        is_public=is_public and company is not None,
    )
    people = list(dict.fromkeys(members))
    if creator is not None and creator not in people:
        people.insert(0, creator)
    people = people[: settings.CHAT_MAX_ROOM_MEMBERS]
    add_members(room, [(user, Role.OWNER if creator is not None and user.pk == creator.pk else Role.MEMBER) for user in people])
    return room


@transaction.atomic(savepoint=False)
def room_import_direct(*, user, other) -> ChatRoom:
    """The direct room of two imported people (the existing one when they have one)."""
    low, high = sorted([user, other], key=lambda u: u.pk)
    room, created = ChatRoom.objects.get_or_create(
        room_type=RoomType.DIRECT, direct_user_low=low, direct_user_high=high, defaults={"created_by": user}
    )
    if created:
        add_members(room, [(user, Role.MEMBER), (other, Role.MEMBER)])
    return room


def _mentions_of(room: ChatRoom, sender, text: str) -> notifications.Mentions:
    """``@name`` of the room's members: indexed like any mention (``@here`` and
    ``@room`` of imported history reach nobody: they were then, not now)."""
    found = mentions.find(text)
    if not found.names:
        return notifications.NO_MENTIONS
    rows = (
        ChatMember.objects.filter(room=room, is_active=True)
        .exclude(user_id=sender.pk)
        .annotate(username_lower=Lower("user__username"))
        .filter(username_lower__in=found.names)
        .values_list("user_id", flat=True)
    )
    by_user = {str(user_id): MentionKind.USER for user_id in rows}
    return notifications.Mentions(
        entries=tuple({"kind": MentionKind.USER, "user_id": user_id} for user_id in by_user), by_user=by_user
    )


def _insert(*, room, sender, text, created_at, thread, also_in_room, attachment, edited_at) -> ChatMessage:
    checked = check_content(text)
    message = ChatMessage(
        room=room,
        sender=sender,
        message_type=messages._message_type(None, attachment),
        attachment=attachment,
        is_flagged=checked.is_flagged,
        flag_reason=checked.flag_reason,
        thread=thread,
        also_in_room=also_in_room and thread is not None,
        is_edited=edited_at is not None,
        edited_at=edited_at,
    )
    found = _mentions_of(room, sender, checked.text)
    notifications.attach_mentions(message, found)
    create_message(message, text=checked.text, created_at=created_at)
    notifications.record_mentions(message, found)
    if thread is not None:
        threads.summary_changed(thread)
        # The root's author and the replier follow the thread, read up to here.
        ThreadFollow.objects.bulk_create(
            [
                ThreadFollow(user_id=user_id, root=thread, room_id=room.pk, following=True, last_read_seq=message.seq)
                for user_id in dict.fromkeys(u for u in (thread.sender_id, sender.pk) if u is not None)
            ],
            update_conflicts=True,
            unique_fields=["user", "root"],
            update_fields=["last_read_seq", "updated_at"],
        )
    return message


@transaction.atomic(savepoint=False)
def message_import(
    *,
    room: ChatRoom,
    sender,
    text: str,
    created_at,
    thread: ChatMessage | None = None,
    also_in_room: bool = False,
    edited_at=None,
    files=(),
    reactions=(),
) -> ImportedMessage:
    """One message of imported history, at ``created_at`` (after every message
    already in the room: import a room's messages in time order).

    ``files`` are ``(name, upload)`` pairs checked like any upload (one that is
    refused is left out with its reason); the first goes with the text, each
    further one is a message of its own at the same time. ``reactions`` are
    ``(user, emoji)`` pairs. Raises Invalid when the text breaks a content rule
    or there is nothing to store.
    """
    result = ImportedMessage()
    stored = []
    for name, upload in files:
        try:
            with transaction.atomic():
                stored.append(attachments.attachment_create(uploader=sender, upload=upload))
        except ChatError as error:
            result.skipped.append((f"file refused: {error.code}", name))
    text = text.replace("\x00", "")[: settings.CHAT_MAX_MESSAGE_LENGTH]
    if not text.strip() and not stored:
        result.skipped.append(("no text and no file in the export", ""))
        return result
    if thread is not None and thread.room_id != room.pk:
        thread = None
    first = stored[0] if stored else None
    common = {"room": room, "sender": sender, "created_at": created_at, "thread": thread, "also_in_room": also_in_room}
    message = _insert(text=text, attachment=first, edited_at=edited_at, **common)
    result.messages.append(message)
    for attachment in stored[1:]:
        result.messages.append(_insert(text="", attachment=attachment, edited_at=None, **common))
    result.files = len(stored)
    for user, emoji in reactions:
        try:
            with transaction.atomic():
                _reaction, created = messages.reaction_add(message=message, user=user, reaction=emoji)
        except ChatError as error:
            result.skipped.append((f"reaction refused: {error.code}", emoji))
            continue
        result.reactions += int(created)
    return result


@transaction.atomic(savepoint=False)
def room_import_finish(*, room: ChatRoom, history_until=None, archived: bool = False) -> ChatRoom:
    """After a room's history is in: its members have read the messages up to
    ``history_until``, the time of the last imported one (imported history is
    not news: also when a second run finishes an interrupted import), and an
    archived room is closed (history kept)."""
    room = ChatRoom.objects.select_for_update().get(pk=room.pk)
    if archived and room.is_active:
        room.is_active = False
        room.save(update_fields=["is_active", "updated_at"])
        _announce_room(room)
    if history_until is not None:
        read_through = ChatMessage.objects.filter(room=room, created_at__lte=history_until).aggregate(seq=Max("seq"))["seq"]
        if read_through:
            ChatMember.objects.filter(room=room, last_read_seq__lt=read_through).update(last_read_seq=read_through)
    return room

