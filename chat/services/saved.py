"""Saved messages: a private list per person, across their rooms. Not a room
event (nobody else sees it); the person's other sockets hear ``saved`` frames."""

from django.conf import settings
from django.db import transaction

from chatsite.core.exceptions import Invalid

from ..events import broadcast, wire
from ..models import ChatMessage, MessageType, SavedMessage


@transaction.atomic(savepoint=False)
def message_save(*, message: ChatMessage, user) -> bool:
    """Save ``message`` (which ``user`` may read) for ``user``; False when it already was."""
    if message.is_deleted:
        raise Invalid("A deleted message cannot be saved.", code="message_deleted")
    if message.message_type == MessageType.SYSTEM:
        raise Invalid("System messages cannot be saved.", code="invalid_message_type")
    if SavedMessage.objects.filter(user=user, message=message).exists():
        return False
    # Several tabs saving at once may pass the count together and go one or two
    # over: a soft bound on a private list, not a rule of the room.
    if SavedMessage.objects.filter(user=user).count() >= settings.CHAT_MAX_SAVED:
        raise Invalid(
            f"You can keep at most {settings.CHAT_MAX_SAVED:,} saved messages; remove some first.",
            code="too_many_saved",
        )
    _saved, created = SavedMessage.objects.get_or_create(user=user, message=message)
    if created:
        broadcast.to_user(user.pk, {"type": wire.SAVED, "message_id": str(message.pk), "saved": True})
    return created


@transaction.atomic(savepoint=False)
def message_unsave(*, message_id, user) -> bool:
    """Take a message off ``user``'s saved list; False when it was not on it."""
    deleted, _ = SavedMessage.objects.filter(user=user, message_id=message_id).delete()
    if deleted:
        broadcast.to_user(user.pk, {"type": wire.SAVED, "message_id": str(message_id), "saved": False})
    return bool(deleted)
