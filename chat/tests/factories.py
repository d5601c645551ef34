"""Chat objects made as the product makes them.

Rooms come from the room service (set-up data, not the use case under test);
messages and what is done to them go through chat.commands, the entry every
edge uses (ids resolved, rate-limited, rendered once), so a test reads like
the request it stands for.
"""

from chat import commands
from chat.models import ChatMember, ChatMessage
from chat.services import rooms


def group_room(owner, *members, name="Team", **kwargs):
    return rooms.room_create_group(creator=owner, name=name, members=members, **kwargs)


def _pk(value):
    return getattr(value, "pk", value)


def send_result(room, sender, content="hello", *, reply_to=None, attachment=None, **kwargs) -> commands.MessageResult:
    """``commands.message_send`` with objects instead of ids: the whole result."""
    return commands.message_send(
        actor=sender,
        room_id=_pk(room),
        content=content,
        reply_to_id=_pk(reply_to),
        attachment_id=_pk(attachment),
        **kwargs,
    )


def send(room, sender, content="hello", **kwargs):
    return send_result(room, sender, content, **kwargs).message


def edit(message, actor, content):
    return commands.message_edit(actor=actor, message_id=message.pk, content=content).message


def delete(message, actor, reason=""):
    return commands.message_delete(actor=actor, message_id=message.pk, reason=reason).message


def restore(message, actor, reason=""):
    return commands.message_restore(actor=actor, message_id=message.pk, reason=reason).message


def react(message, user, reaction):
    """``(the message's reactions as ``user`` sees them, created)``."""
    return commands.reaction_add(actor=user, message_id=message.pk, reaction=reaction)


def unreact(message, user, reaction):
    return commands.reaction_remove(actor=user, message_id=message.pk, reaction=reaction)


def mark_read(room, user, seq):
    return commands.room_mark_read(actor=user, room_id=room.pk, seq=seq)


def reply_chain(room, sender, reactor, count: int, text: str = "message {}") -> list[ChatMessage]:
    """``count`` messages, each replying to the one before and reacted to by
    ``reactor``: every relation a message payload renders, for query-count tests."""
    chain, previous = [], None
    for n in range(count):
        previous = send(room, sender, text.format(n), reply_to=previous)
        react(previous, reactor, "👍")
        chain.append(previous)
    return chain


def fresh(message) -> ChatMessage:
    """The message as stored now, read back from the database."""
    return ChatMessage.objects.select_related("sender", "attachment", "reply_to__sender").get(pk=message.pk)


def member(room, user) -> ChatMember:
    return ChatMember.objects.get(room=room, user=user)
