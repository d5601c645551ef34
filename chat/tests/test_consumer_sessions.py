"""Ending sessions closes exactly their WebSockets (through the real ASGI
stack): "log out everywhere else" keeps this session's socket open."""

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from accounts import sessions, tickets
from accounts.models import SessionKind, UserSession
from chatsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def _api_session(user):
    return UserSession.objects.create(user=user, kind=SessionKind.API, last_seen_at=timezone.now())


async def connect(user, session_id):
    ticket = await sync_to_async(tickets.issue)(user, session_id=session_id)
    communicator = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}")
    connected, code = await communicator.connect(timeout=5)
    assert connected, code
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    return communicator


async def assert_closed_as_revoked(ws):
    assert (await ws.receive_json_from(timeout=3)) == {"type": "disconnected", "reason": "session_revoked"}
    assert (await ws.receive_output(timeout=3))["code"] == 4001


async def test_log_out_everywhere_else_closes_the_other_sessions_sockets_only(alice, bob):
    here, there = await sync_to_async(_api_session)(alice), await sync_to_async(_api_session)(alice)
    ws_here, ws_there = await connect(alice, str(here.pk)), await connect(alice, str(there.pk))
    ws_untracked = await connect(alice, None)  # a socket opened before sessions were tracked
    ws_bob = await connect(bob, None)

    await sync_to_async(sessions.user_sessions_revoke_others)(user=alice, keep_id=str(here.pk))

    await assert_closed_as_revoked(ws_there)
    await assert_closed_as_revoked(ws_untracked)
    assert await ws_here.receive_nothing(timeout=0.5)
    assert await ws_bob.receive_nothing(timeout=0.1)
    await ws_here.send_json_to({"type": "ping", "ref": 1})
    assert (await ws_here.receive_json_from(timeout=3)) == {"type": "pong", "ref": 1}
    await ws_here.disconnect()
    await ws_bob.disconnect()


async def test_revoking_one_session_closes_its_sockets_only(alice):
    kept, ended = await sync_to_async(_api_session)(alice), await sync_to_async(_api_session)(alice)
    ws_kept, ws_ended = await connect(alice, str(kept.pk)), await connect(alice, str(ended.pk))

    await sync_to_async(sessions.user_session_revoke)(user=alice, session_id=ended.pk, current_id=str(kept.pk))

    await assert_closed_as_revoked(ws_ended)
    assert await ws_kept.receive_nothing(timeout=0.5)
    await ws_kept.disconnect()


async def test_a_ticket_of_a_session_ended_since_it_was_issued_opens_nothing(alice):
    session = await sync_to_async(_api_session)(alice)
    ticket = await sync_to_async(tickets.issue)(alice, session_id=str(session.pk))
    await sync_to_async(sessions.user_session_revoke)(user=alice, session_id=session.pk, current_id=None)

    refused = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}")
    connected, _code = await refused.connect(timeout=5)

    assert not connected
    kept = await sync_to_async(_api_session)(alice)
    await (await connect(alice, str(kept.pk))).disconnect()  # a live session's ticket still works


def test_a_ticket_remembers_the_session_it_was_issued_in(alice):
    browser = Client()
    browser.force_login(alice)

    ticket = browser.post("/api/auth/ws-ticket/").json()["ticket"]

    assert tickets.redeem(ticket) == (str(alice.pk), browser.session["accounts_session_id"])


async def test_a_new_picture_reaches_the_messages_my_open_socket_sends(alice, bob):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts import services
    from chat.tests.api_helpers import png_bytes
    from chat.tests.factories import group_room

    room = await sync_to_async(group_room)(alice, bob)
    ws = await connect(alice, None)

    def upload():
        picture = SimpleUploadedFile("me.png", png_bytes(40, 40), content_type="image/png")
        return services.user_set_avatar(user=alice, upload=picture).avatar_key

    key = await sync_to_async(upload)()
    await asyncio.sleep(0.3)  # the notice reaches the socket
    await ws.send_json_to({"type": "message.send", "ref": 1, "room": str(room.pk), "content": "new face", "client_msg_id": "c-face"})
    while (frame := await ws.receive_json_from(timeout=3))["type"] != "ack":
        pass
    assert key in frame["result"]["message"]["sender"]["avatar"]["32"]
    await ws.disconnect()
