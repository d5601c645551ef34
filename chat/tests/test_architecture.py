"""Guarantees of the write path's shape, beyond any one use case.

A message is rendered once per event: the bytes the command answers with
(``MessageResult.json``, which the REST body and the WebSocket ack splice in)
are the bytes inside the frame the room log hands to the layer.
"""

import json
from types import SimpleNamespace

import pytest

from chat import commands
from chat.events import broadcast, render, wire
from chat.tests.factories import delete, group_room, send


@pytest.fixture
def renders(monkeypatch):
    """The ids of the messages ``render.message_payload`` renders."""
    rendered = []
    real = render.message_payload

    def counting(message, **kwargs):
        rendered.append(message.pk)
        return real(message, **kwargs)

    monkeypatch.setattr(render, "message_payload", counting)
    return rendered


@pytest.fixture
def room_frames(monkeypatch):
    """The frame texts services hand to ``broadcast.room_event``."""
    texts = []
    real = broadcast.room_event

    def capture(**kwargs):
        texts.append(kwargs["text"])
        return real(**kwargs)

    monkeypatch.setattr(broadcast, "room_event", capture)
    return texts


# Each command that writes a message, with what it needs done first.
MESSAGE_COMMANDS = {
    "message_send": (None, lambda t: commands.message_send(actor=t.bob, room_id=t.room.pk, content="fresh words")),
    "message_forward": (
        None,
        lambda t: commands.message_forward(actor=t.bob, message_id=t.message.pk, to_room_id=t.other.pk),
    ),
    "message_edit": (None, lambda t: commands.message_edit(actor=t.bob, message_id=t.message.pk, content="new words")),
    "message_delete": (None, lambda t: commands.message_delete(actor=t.bob, message_id=t.message.pk)),
    "message_restore": (
        lambda t: delete(t.message, t.bob),
        lambda t: commands.message_restore(actor=t.alice, message_id=t.message.pk),
    ),
    "room_post_announcement": (
        None,
        lambda t: commands.room_post_announcement(actor=t.alice, room_id=t.room.pk, content="Hear ye"),
    ),
}


@pytest.mark.parametrize("command", sorted(MESSAGE_COMMANDS))
def test_a_message_is_rendered_once_and_the_same_bytes_reach_the_layer_and_the_answer(
    command, alice, bob, listener, renders, room_frames, django_capture_on_commit_callbacks
):
    prepare, act = MESSAGE_COMMANDS[command]
    room, other = group_room(alice, bob), group_room(alice, bob, name="Other")
    t = SimpleNamespace(room=room, other=other, alice=alice, bob=bob, message=send(room, bob, "old words"))
    if prepare is not None:
        prepare(t)
    listener.subscribe(wire.room_group(room.pk), wire.room_group(other.pk))
    renders.clear()
    room_frames.clear()

    with django_capture_on_commit_callbacks(execute=True):
        result = act(t)

    assert renders == [result.message.pk], "rendered more than once"
    (text,) = room_frames  # one event
    assert result.json.decode() in text  # the answer's bytes, verbatim in the frame
    frame = json.loads(text)
    assert frame["message"] == json.loads(result.json) and frame["message"]["id"] == str(result.message.pk)
    assert [m["text"] for m in listener.receive_all()] == [text]  # and the layer carries that frame as it is
