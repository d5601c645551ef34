"""Deleting an account (docs/data.md, "Deleting an account"): by the person
with their password (``POST /api/auth/me/delete/``) or by staff (the User
admin's action), through ``commands.account_delete``."""

import io

import pytest
from django.contrib import messages as admin_messages
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.models import UserBlock, UserSession
from chat import commands, crypto
from chat.models import (
    AuditLog,
    ChatMember,
    ChatMessage,
    ChatRoom,
    MessageEdit,
    MessageMention,
    NotificationPreferences,
    PushSubscription,
    RoomEvent,
    SavedMessage,
    SearchToken,
    ThreadFollow,
)
from chat.services import rooms
from chat.services.people import ACCOUNT_DELETE_ACTION
from chat.tests.api_helpers import PASSWORD, assert_error, client_for, jwt_client
from chat.tests.factories import edit, group_room, send
from chatsite.core.exceptions import NotFound

User = get_user_model()
pytestmark = pytest.mark.usefixtures("no_rate_limits")


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (6, 4), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def _delete_me(client, password=PASSWORD, confirm="delete"):
    return client.post("/api/auth/me/delete/", {"password": password, "confirm": confirm}, format="json")


def _history(user, room) -> list[dict]:
    response = client_for(user).get(f"/api/rooms/{room.pk}/messages/")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def erase(settings):
    settings.CHAT_ERASE_MESSAGES_ON_DELETE = True


@pytest.fixture
def keep(settings):
    settings.CHAT_ERASE_MESSAGES_ON_DELETE = False


# --- who may ------------------------------------------------------------------------------
def test_a_wrong_or_missing_password_or_confirmation_deletes_nothing(alice):
    client, _tokens = jwt_client("alice")

    assert_error(_delete_me(client, password="nope"), 400, "wrong_password", fields=("password",))
    assert_error(_delete_me(client, confirm="yes"), 400, fields=("confirm",))
    assert_error(client.post("/api/auth/me/delete/", {"confirm": "delete"}, format="json"), 400, fields=("password",))
    assert_error(client.post("/api/auth/me/delete/", "[1]", content_type="application/json"), 400)

    alice.refresh_from_db()
    assert alice.is_active and alice.username == "alice" and alice.check_password(PASSWORD)
    assert not AuditLog.objects.filter(action=ACCOUNT_DELETE_ACTION).exists()


def test_nobody_else_can_delete_me(alice, bob):
    with pytest.raises(NotFound):
        commands.account_delete(actor=bob, user_id=alice.pk, password=PASSWORD)
    with pytest.raises(NotFound):
        commands.account_delete(actor=bob, user_id="not-a-uuid")
    alice.refresh_from_db()
    assert alice.is_active and alice.username == "alice"


def test_a_moderator_cannot_delete_a_staff_account_only_a_superuser_can(moderator, make_user):
    from chatsite.core.exceptions import Forbidden

    other_staff = make_user(username="staffer", is_staff=True)
    with pytest.raises(Forbidden):
        commands.account_delete(actor=moderator, user_id=other_staff.pk, reason="test")
    root = make_user(username="root", is_staff=True, is_superuser=True)
    commands.account_delete(actor=root, user_id=other_staff.pk, reason="left the company")
    other_staff.refresh_from_db()
    assert not other_staff.is_active and not other_staff.is_staff


# --- self-deletion over the API --------------------------------------------------------------
def test_deleting_my_account_ends_my_browser_session_and_login(alice, bob, keep):
    browser = Client()
    browser.force_login(alice)
    assert UserSession.objects.filter(user=alice).count() == 1

    response = browser.post(
        "/api/auth/me/delete/", {"password": PASSWORD, "confirm": "DELETE"}, content_type="application/json"
    )

    assert response.status_code == 204, response.content
    assert browser.get("/api/auth/me/").status_code in (401, 403)
    assert browser.get("/").status_code == 302  # to the login page
    assert not UserSession.objects.filter(user=alice).exists()
    assert not Client().login(username="alice", password=PASSWORD)
    page = Client().post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert page.status_code == 400 and "_auth_user_id" not in page.wsgi_request.session
    assert client_for().post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json").status_code == 401


def test_deleting_my_account_refuses_my_access_and_refresh_tokens(alice, bob):
    client, tokens = jwt_client("alice")
    _other_client, other_tokens = jwt_client("alice")  # another device

    assert _delete_me(client).status_code == 204

    for access in (tokens["access"], other_tokens["access"]):
        anyone = client_for()
        anyone.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        assert anyone.get("/api/auth/me/").status_code == 401
    for refresh in (tokens["refresh"], other_tokens["refresh"]):
        assert client_for().post("/api/auth/token/refresh/", {"refresh": refresh}, format="json").status_code == 401
    # Deleting again: the token is refused before anything else.
    assert _delete_me(client).status_code == 401


def test_the_account_is_anonymised_and_its_chat_data_is_gone(alice, bob, carol, keep):
    room = group_room(alice, bob, carol)
    direct, _ = rooms.room_get_or_create_direct(user=alice, other=bob)
    hello = send(room, alice, "hello from alice")
    mention = send(room, bob, "hi @alice")
    commands.message_save(actor=alice, message_id=mention.pk)
    commands.thread_follow(actor=alice, message_id=mention.pk, following=True)
    commands.notification_preferences_update(actor=alice, email_enabled=False)
    PushSubscription.objects.create(user=alice, endpoint="https://push.example.com/a", p256dh="k", auth="a")
    UserBlock.objects.create(blocker=alice, blocked=carol)
    UserBlock.objects.create(blocker=bob, blocked=alice)
    client, _tokens = jwt_client("alice")

    assert _delete_me(client).status_code == 204

    alice.refresh_from_db()
    assert alice.username.startswith("deleted-") and alice.display_name.startswith("Deleted user ")
    assert not alice.is_active and not alice.has_usable_password()
    assert alice.email == "" and alice.company_id is None and alice.avatar_key == "" and alice.time_zone == ""
    assert not PushSubscription.objects.filter(user=alice).exists()
    assert not NotificationPreferences.objects.filter(user=alice).exists()
    assert not SavedMessage.objects.filter(user=alice).exists()
    assert not ThreadFollow.objects.filter(user=alice).exists()
    assert not MessageMention.objects.filter(user=alice).exists()
    assert not UserBlock.objects.filter(blocker=alice).exists() and not UserBlock.objects.filter(blocked=alice).exists()
    # Gone from the group's members; the direct room keeps her, closed.
    assert not ChatMember.objects.filter(room=room, user=alice, is_active=True).exists()
    assert ChatMember.objects.filter(room=direct, user=alice, is_active=True).exists()
    assert not ChatRoom.objects.get(pk=direct.pk).is_active
    removed = RoomEvent.objects.filter(room=room, kind="member.removed").last()
    assert removed.payload["reason"] == "account_deleted" and removed.payload["member"]["user"]["id"] == str(alice.pk)
    # Kept: her message under the new name, in what Bob reads.
    shown = {m["id"]: m for m in _history(bob, room)}[str(hello.pk)]
    assert shown["content"] == "hello from alice" and not shown["is_deleted"]
    assert shown["sender"]["display_name"] == alice.display_name and shown["sender"]["username"] == alice.username
    entry = AuditLog.objects.get(action=ACCOUNT_DELETE_ACTION)
    assert entry.actor_id == alice.pk and entry.target_user_id == alice.pk
    assert entry.details["by"] == "self" and entry.details["messages"] == "kept"


# --- erasing messages ---------------------------------------------------------------------------
def test_erasing_purges_content_files_and_search_but_keeps_tombstones(alice, bob, erase, django_capture_on_commit_callbacks):
    room = group_room(alice, bob)
    attachment = commands.attachment_create(
        actor=alice, upload=SimpleUploadedFile("cat.png", _png(), content_type="image/png"), room_id=room.pk
    )
    path = attachment.file.name
    assert default_storage.exists(path)
    picture = send(room, alice, "look", attachment=attachment)
    root = send(room, alice, "zebracrossing plans")
    edit(root, alice, "zebracrossing plans v2")
    reply = send(room, bob, "nice", reply_to=root)
    in_thread = commands.message_send(actor=bob, room_id=room.pk, content="thread reply", thread_id=root.pk).message
    mine_in_thread = commands.message_send(actor=alice, room_id=room.pk, content="my reply", thread_id=root.pk).message
    seq_before = ChatRoom.objects.get(pk=room.pk).seq
    assert client_for(bob).get("/api/search/", {"q": "zebracrossing"}).json()

    with django_capture_on_commit_callbacks(execute=True):
        result = commands.account_delete(actor=alice, user_id=alice.pk, password=PASSWORD)

    assert result.messages_erased == 3 + 1  # her three messages and the "created the room" line
    ids = [picture.pk, root.pk, mine_in_thread.pk]
    for row in ChatMessage.objects.filter(pk__in=ids):
        assert row.is_deleted and row.content_purged_at is not None
        assert crypto.decrypt(row.content_encrypted) == "" and row.html_encrypted == "" and row.mentions_encrypted == ""
    assert not SearchToken.objects.filter(message_id__in=ids).exists()
    assert not MessageEdit.objects.filter(message_id__in=ids).exists()
    assert not default_storage.exists(path)
    assert ChatMessage.objects.get(pk=picture.pk).attachment_id is None
    # Replies and threads still point at the tombstones.
    assert ChatMessage.objects.get(pk=reply.pk).reply_to_id == root.pk
    assert ChatMessage.objects.get(pk=in_thread.pk).thread_id == root.pk
    assert ChatMessage.objects.get(pk=root.pk).thread_reply_count == 1
    assert client_for(bob).get("/api/search/", {"q": "zebracrossing"}).json() == []
    shown = {m["id"]: m for m in _history(bob, room)}
    assert shown[str(root.pk)]["is_deleted"] and shown[str(root.pk)]["content"] is None
    assert shown[str(root.pk)]["sender"]["display_name"].startswith("Deleted user ")
    assert shown[str(reply.pk)]["reply_to"]["id"] == str(root.pk) and shown[str(reply.pk)]["reply_to"]["is_deleted"]
    # One message.deleted per message, then the thread's new summary.
    kinds = list(RoomEvent.objects.filter(room=room, seq__gt=seq_before).values_list("kind", flat=True))
    assert kinds.count("message.deleted") == 4 and "thread.updated" in kinds and "member.removed" in kinds
    # No plaintext of hers anywhere in the rows (raw SQL, not the ORM's view).
    from django.db import connection

    with connection.cursor() as cursor:
        sender = type(alice)._meta.pk.get_db_prep_value(alice.pk, connection)  # a uuid, as this database stores it
        cursor.execute("SELECT content_encrypted FROM chat_chatmessage WHERE sender_id = %s", [sender])
        assert all(crypto.decrypt(value) == "" for (value,) in cursor.fetchall())
    assert AuditLog.objects.get(action=ACCOUNT_DELETE_ACTION).details["messages"] == "erased"


def test_keeping_messages_leaves_their_content(alice, bob, keep):
    room = group_room(alice, bob)
    hello = send(room, alice, "zebracrossing kept")

    commands.account_delete(actor=alice, user_id=alice.pk, password=PASSWORD)

    row = ChatMessage.objects.get(pk=hello.pk)
    assert not row.is_deleted and crypto.decrypt(row.content_encrypted) == "zebracrossing kept"
    found = client_for(bob).get("/api/search/", {"q": "zebracrossing"}).json()
    assert [m["sender"]["display_name"] for m in found] == [User.objects.get(pk=alice.pk).display_name]


# --- staff -----------------------------------------------------------------------------------------
def _run_admin_action(client, users, **fields):
    data = {"action": "delete_accounts", "index": "0", "_selected_action": [str(u.pk) for u in users], **fields}
    response = client.post(reverse("admin:accounts_user_changelist"), data)
    assert response.status_code == 302, response.content[:500]
    from django.contrib.messages import get_messages

    return [(m.level, str(m)) for m in get_messages(response.wsgi_request)]


def test_staff_delete_accounts_from_the_admin_with_a_reason_once(client, moderator, alice, bob, keep, django_capture_on_commit_callbacks):
    client.force_login(moderator)

    shown = _run_admin_action(client, [alice])
    assert any(level == admin_messages.ERROR for level, _ in shown)
    assert User.objects.get(pk=alice.pk).is_active

    with django_capture_on_commit_callbacks(execute=True):
        shown = _run_admin_action(client, [alice], reason="asked by email")
    assert any(level == admin_messages.SUCCESS for level, _ in shown), shown
    alice.refresh_from_db()
    assert not alice.is_active and alice.display_name.startswith("Deleted user ")
    entry = AuditLog.objects.get(action=ACCOUNT_DELETE_ACTION)
    assert entry.actor_id == moderator.pk and entry.reason == "asked by email" and entry.details["by"] == "staff"

    shown = _run_admin_action(client, [alice], reason="again")
    assert any("already deleted" in text for _, text in shown), shown
    with pytest.raises(NotFound):
        commands.account_delete(actor=moderator, user_id=alice.pk, reason="again")
    assert AuditLog.objects.filter(action=ACCOUNT_DELETE_ACTION).count() == 1


def test_the_admin_action_is_for_moderators_only(client, make_user, alice):
    staff = make_user(username="plainstaff", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
    client.force_login(staff)
    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "delete_accounts", "index": "0", "_selected_action": [str(alice.pk)], "reason": "x"},
    )
    assert response.status_code in (200, 302)
    assert User.objects.get(pk=alice.pk).is_active


def test_my_exports_are_cancelled_or_expired_and_their_files_go_with_the_next_purge(alice):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from chat.exports.writer import exports_dir, result_path
    from chat.models import JOB_PERSONAL_EXPORT
    from chatsite.core.models import Job, JobState

    now = timezone.now()
    exports_dir().mkdir(parents=True, exist_ok=True)
    done = Job.objects.create(
        kind=JOB_PERSONAL_EXPORT, owner=alice, state=JobState.DONE, due_at=now, finished_at=now,
        expires_at=now + timedelta(hours=24), result={"file": "mine.zip"},
    )
    result_path("mine.zip").write_bytes(b"PK personal data")
    pending = Job.objects.create(kind=JOB_PERSONAL_EXPORT, owner=alice, due_at=now)

    result = commands.account_delete(actor=alice, user_id=alice.pk, password=PASSWORD)
    call_command("purge_chat_retention", stdout=io.StringIO())

    assert Job.objects.get(pk=pending.pk).state == JobState.CANCELLED
    assert Job.objects.get(pk=done.pk).expires_at <= timezone.now()
    assert not result_path("mine.zip").exists()
    assert AuditLog.objects.get(action=ACCOUNT_DELETE_ACTION).details["exports_ended"] == "2"
    assert result.user.pk == alice.pk


@pytest.mark.parametrize("erase_messages", [False, True])
def test_the_page_tells_the_profile_dialog_what_happens_to_messages(client, alice, settings, erase_messages):
    settings.CHAT_ERASE_MESSAGES_ON_DELETE = erase_messages
    client.force_login(alice)
    config = client.get("/").context["chat_config"]
    assert config["erase_messages_on_delete"] is erase_messages


def test_the_login_page_shows_the_notice_after_a_deletion(client):
    assert "Your account has been deleted." in client.get(reverse("login"), {"account_deleted": "1"}).content.decode()
    assert "Your account has been deleted." not in client.get(reverse("login")).content.decode()


# --- sockets ---------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_the_open_socket_closes_at_once_and_tickets_stop_working(alice, bob):
    from channels.db import database_sync_to_async as sync_to_async
    from channels.testing import WebsocketCommunicator

    from accounts import tickets
    from chatsite.asgi import application

    async def connect(user):
        ticket = await sync_to_async(tickets.issue)(user)
        communicator = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}")
        connected, code = await communicator.connect(timeout=5)
        assert connected, code
        assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
        return communicator

    ws_alice, ws_bob = await connect(alice), await connect(bob)
    spare_ticket = await sync_to_async(tickets.issue)(alice)

    await sync_to_async(commands.account_delete)(actor=alice, user_id=alice.pk, password=PASSWORD)

    assert (await ws_alice.receive_json_from(timeout=3)) == {"type": "disconnected", "reason": "account_deleted"}
    assert (await ws_alice.receive_output(timeout=3))["code"] == 4001
    assert await ws_bob.receive_nothing(timeout=0.3)
    late = WebsocketCommunicator(application, f"/ws/chat/?ticket={spare_ticket}")
    connected, code = await late.connect(timeout=5)
    assert not connected or (await late.receive_output(timeout=3))["type"] == "websocket.close"
    await ws_bob.disconnect()
