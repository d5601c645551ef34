"""Django admin, the moderators' tool: every page renders, content is shown
decrypted and never stored in clear, and every moderation action goes through
chat's commands (room event, audit log, broadcast after commit)."""

import asyncio
import json
from datetime import timedelta
from urllib.parse import urlencode

import conftest
import pytest
from django.contrib import admin, messages
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Company, User, UserBlock
from accounts.services import user_block
from accounts.tests.factories import CompanyFactory
from chat import commands, crypto
from chat.events import wire
from chat.models import Attachment, AuditLog, ChatMember, ChatMessage, ChatRoom, MessageEdit, MessageReaction
from chat.models import MessageType, ModerationAction, Notification, NotificationPreferences, PushSubscription
from chat.models import RoomEvent, SearchToken
from chat.tests.factories import group_room, send
from chatsite.core.models import RateLimitLog

CHAT_MODELS = (
    ChatRoom,
    ChatMember,
    ChatMessage,
    MessageEdit,
    MessageReaction,
    RoomEvent,
    SearchToken,
    RateLimitLog,
    Attachment,
    AuditLog,
    Notification,
    PushSubscription,
    NotificationPreferences,
)
ACCOUNT_MODELS = (Company, User, UserBlock)
LOG_MODELS = (RoomEvent, SearchToken, RateLimitLog, AuditLog)


# --- helpers -------------------------------------------------------------------


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def add_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")


def delete_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_delete", args=[obj.pk])


def notes(response) -> list[tuple[int, str]]:
    return [(message.level, str(message)) for message in get_messages(response.wsgi_request)]


def errors(response) -> list[str]:
    return [text for level, text in notes(response) if level == messages.ERROR]


def run_action(client, model, action: str, objects, **fields):
    """POST an admin action as the changelist's action bar does; returns (response, notes)."""
    data = {"action": action, "index": "0", "_selected_action": [str(obj.pk) for obj in objects], **fields}
    response = client.post(changelist_url(model), data)
    assert response.status_code == 302, response.content[:500]
    return response, notes(response)


def run_refused(client, model, action: str, obj, room, **fields) -> list[str]:
    """An action the commands refuse for ``obj``: checks nothing was reported done
    and nothing reached the room's log; returns the errors shown."""
    seq = last_seq(room)
    response, shown = run_action(client, model, action, [obj], **fields)
    assert not any(level == messages.SUCCESS for level, _ in shown)
    assert last_seq(room) == seq
    return errors(response)


def last_seq(room) -> int:
    return ChatRoom.objects.values_list("seq", flat=True).get(pk=room.pk)


def new_events(room, after: int) -> list[RoomEvent]:
    return list(RoomEvent.objects.filter(room=room, seq__gt=after).order_by("seq"))


class GroupListener(conftest.GroupListener):
    """A channel subscribed to a group on the real channel layer: what clients would receive.

    Receives on one event loop of its own, as a consumer would; closed at the end of the test.
    """

    def __init__(self, group: str):
        super().__init__()
        self.subscribe(group)
        _open_listeners.append(self)

    def frames(self, count: int, timeout: float = 3) -> list[dict]:
        async def take():
            return [await asyncio.wait_for(self.layer.receive(self.channel), timeout) for _ in range(count)]

        return [json.loads(message["text"]) for message in self._run(take())]


_open_listeners: list[GroupListener] = []


@pytest.fixture(autouse=True)
def _close_listeners():
    yield
    while _open_listeners:
        _open_listeners.pop().close()


@pytest.fixture
def superuser(make_user):
    return make_user(username="root", display_name="Root", is_staff=True, is_superuser=True)


@pytest.fixture
def moderator_client(client, moderator):
    client.force_login(moderator)
    return client


@pytest.fixture
def moderate(moderator_client, django_capture_on_commit_callbacks):
    """``moderate(model, action, objects, **fields)``: run_action as the moderator,
    the broadcasts it scheduled published (on-commit callbacks run)."""

    def run(model, action: str, objects, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            return run_action(moderator_client, model, action, objects, **fields)

    return run


@pytest.fixture
def superuser_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def room(alice, bob, carol):
    return group_room(alice, bob, carol, name="Pineapple team", description="fruit talk")


@pytest.fixture
def chat_data(settings, company, alice, bob, carol, moderator, room):
    """At least one row of every registered model."""
    settings.CHAT_FLAGGED_LINK_DOMAINS = ["evil.example"]
    hello = send(room, bob, "hello pineapple world")
    commands.message_edit(actor=bob, message_id=hello.pk, content="hello banana world")
    commands.reaction_add(actor=alice, message_id=hello.pk, reaction="thumbsup")
    flagged = send(room, carol, "look at https://www.evil.example/prize")
    gone = send(room, carol, "this one goes away")
    commands.message_delete(actor=carol, message_id=gone.pk)
    attachment = Attachment.objects.create(
        uploaded_by=alice,
        file=ContentFile(b"minutes", name="notes.txt"),
        original_name="notes.txt",
        content_type="text/plain",
        size=7,
    )
    send(room, alice, "", attachment=attachment)
    bob.chat_push_subscriptions.create(endpoint="https://fcm.googleapis.com/fcm/send/secret-token", p256dh="k", auth="a")
    commands.notification_preferences_update(actor=bob, email_delay_minutes=5)
    send(room, alice, "@bob pineapple time")  # a mention: push and email rows for bob
    commands.room_create_company(actor=alice, company=company, name="All hands")
    commands.room_get_or_create_direct(actor=alice, user_id=bob.pk)
    commands.room_open_support(actor=carol)
    commands.member_mute(
        actor=moderator,
        room_id=room.pk,
        user_id=bob.pk,
        until=timezone.now() + timedelta(hours=1),
        reason="spam wave",
    )
    user_block(blocker=alice, blocked=carol)
    RateLimitLog.objects.create(
        user=bob,
        room=room,
        event_type="send",
        window_start=timezone.now(),
        window_seconds=60,
        count=3,
        bucket="test-bucket",
    )
    return {"room": room, "hello": hello, "flagged": flagged, "gone": gone, "attachment": attachment}


# --- every page renders -------------------------------------------------------------


def test_every_model_is_registered():
    registered = set(admin.site._registry)
    assert set(CHAT_MODELS) | set(ACCOUNT_MODELS) <= registered


def _day_range() -> str:
    now = timezone.now()
    return urlencode({"created_at__gte": now - timedelta(days=1), "created_at__lt": now + timedelta(days=1)})


# model -> (search term, a list filter's query string); each must match at least one row.
PAGES = {
    Company: ("company", "is_active__exact=1"),
    User: ("alice", "is_support_agent__exact=0"),
    UserBlock: ("alice", _day_range()),
    ChatRoom: ("pineapple", "room_type__exact=group"),
    ChatMember: ("bob", "muted=yes"),
    ChatMessage: ("pineapple", "flagged=no"),
    MessageEdit: ("bob", _day_range()),
    MessageReaction: ("thumbsup", _day_range()),
    RoomEvent: ("pineapple", "kind__exact=member.updated"),
    SearchToken: ("banana", ""),
    RateLimitLog: ("bob", "event_type__exact=send"),
    Attachment: ("notes", "content_type__exact=text/plain"),
    AuditLog: ("spam", "action__exact=member.mute"),
    Notification: ("bob", "channel__exact=email"),
    PushSubscription: ("bob", ""),
    NotificationPreferences: ("bob", "email_enabled__exact=1"),
}


@pytest.mark.parametrize("model", list(PAGES), ids=lambda m: m.__name__)
def test_changelist_search_filter_and_change_page_render(superuser_client, chat_data, model):
    url = changelist_url(model)
    response = superuser_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1

    term, filter_query = PAGES[model]
    response = superuser_client.get(f"{url}?q={term}&{filter_query}")
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1, f"no {model.__name__} for q={term}&{filter_query}"

    for obj in model.objects.all()[:5]:
        assert superuser_client.get(change_url(obj)).status_code == 200


@pytest.mark.parametrize("model", CHAT_MODELS, ids=lambda m: m.__name__)
def test_moderator_without_model_permissions_can_view_every_chat_page(moderator_client, chat_data, model):
    response = moderator_client.get(changelist_url(model))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1
    assert moderator_client.get(change_url(model.objects.first())).status_code == 200


def test_moderator_finds_the_rate_limit_log_in_the_core_app(moderator_client):
    # RateLimitLog is the core app's, where moderators hold no model permission.
    assert changelist_url(RateLimitLog) == "/admin/core/ratelimitlog/"
    assert changelist_url(RateLimitLog) in moderator_client.get(reverse("admin:index")).content.decode()
    assert moderator_client.get(reverse("admin:app_list", args=["core"])).status_code == 200


@pytest.mark.parametrize("model", (ChatMessage, ChatMember, ChatRoom, AuditLog, RoomEvent), ids=lambda m: m.__name__)
def test_changelist_query_count_does_not_grow_with_rows(superuser_client, moderator, alice, bob, carol, room, model):
    def render() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = superuser_client.get(changelist_url(model))
        assert response.status_code == 200
        return len(queries)

    def add_rows():
        other = group_room(alice, bob, carol, name=f"Room {ChatRoom.objects.count()}")
        for text in ("one", "two", "three"):
            send(other, bob, text)
        commands.member_mute(
            actor=moderator, room_id=other.pk, user_id=carol.pk, until=timezone.now() + timedelta(minutes=5)
        )

    add_rows()
    few = render()
    for _ in range(3):
        add_rows()
    assert render() == few


# --- content: decrypted on screen, encrypted at rest ---------------------------------


def test_push_subscription_pages_show_the_push_service_not_the_endpoint(superuser_client, chat_data):
    subscription = PushSubscription.objects.get()
    page = superuser_client.get(change_url(subscription)).content.decode()
    assert "fcm.googleapis.com" in page and "secret-token" not in page


def test_message_page_shows_decrypted_content_and_edit_history_without_storing_plaintext(
    moderator_client, room, bob
):
    message = send(room, bob, "the pineapple plan")
    commands.message_edit(actor=bob, message_id=message.pk, content="the banana plan")

    response = moderator_client.get(change_url(message))
    assert response.status_code == 200
    page = response.content.decode()
    assert "the banana plan" in page  # current content
    assert "the pineapple plan" in page  # edit history inline

    response = moderator_client.get(changelist_url(ChatMessage))
    assert "the banana plan" in response.content.decode()

    with connection.cursor() as cursor:
        cursor.execute("SELECT content_encrypted FROM chat_chatmessage")
        stored = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT previous_content_encrypted FROM chat_messageedit")
        stored += " ".join(row[0] for row in cursor.fetchall())
    assert "banana" not in stored and "pineapple" not in stored
    assert crypto.decrypt(ChatMessage.objects.get(pk=message.pk).content_encrypted) == "the banana plan"


def test_content_cannot_be_changed_through_admin(superuser_client, room, bob):
    message = send(room, bob, "original words")
    before = ChatMessage.objects.get(pk=message.pk).content_encrypted

    response = superuser_client.post(
        change_url(message), {"content_encrypted": "plaintext now", "content": "plaintext now", "_save": "Save"}
    )

    assert response.status_code == 403
    assert ChatMessage.objects.get(pk=message.pk).content_encrypted == before


def test_message_content_is_html_escaped(moderator_client, room, bob):
    message = send(room, bob, "<script>alert('x')</script>")
    page = moderator_client.get(change_url(message)).content.decode()
    assert "&lt;script&gt;alert(" in page
    assert "<script>alert(" not in page


def test_flagged_filter_lists_only_messages_flagged_by_content_rules(settings, moderator_client, room, bob):
    settings.CHAT_FLAGGED_LINK_DOMAINS = ["evil.example"]
    flagged = send(room, bob, "free stuff at https://shop.evil.example/win")
    send(room, bob, "nothing to see at https://good.example/")

    response = moderator_client.get(changelist_url(ChatMessage) + "?flagged=yes")

    assert [m.pk for m in response.context["cl"].result_list] == [flagged.pk]
    assert "link to evil.example" in response.content.decode()


def test_message_search_matches_words_through_the_keyed_index(moderator_client, room, bob, carol, alice):
    wanted = send(room, bob, "Quarterly numbers are in")
    send(room, carol, "lunch is ready")

    response = moderator_client.get(changelist_url(ChatMessage) + "?q=quarterly")
    assert [m.pk for m in response.context["cl"].result_list] == [wanted.pk]

    commands.message_delete(actor=bob, message_id=wanted.pk)
    response = moderator_client.get(changelist_url(ChatMessage) + "?q=quarterly")
    assert list(response.context["cl"].result_list) == []


# --- member actions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "fields", "actions"),
    (
        (ChatMember, ("reason", "mute_minutes"), ("mute_members", "unmute_members", "ban_members", "remove_members")),
        (ChatMessage, ("reason",), ("delete_messages", "restore_messages")),
        (ChatRoom, ("reason", "announcement"), ("deactivate_rooms", "reactivate_rooms", "post_announcement")),
    ),
    ids=("members", "messages", "rooms"),
)
def test_action_bar_offers_the_moderation_actions_and_their_inputs(moderator_client, chat_data, model, fields, actions):
    response = moderator_client.get(changelist_url(model))
    form = response.context["action_form"]
    assert set(fields) <= set(form.fields)
    assert set(actions) <= {choice for choice, _label in form.fields["action"].choices}
    assert "delete_selected" not in {choice for choice, _label in form.fields["action"].choices}
    page = response.content.decode()
    for field in fields:
        assert f'name="{field}"' in page
    if "mute_minutes" in fields:
        assert form.fields["mute_minutes"].initial == 60


def test_mute_action_mutes_for_the_given_minutes_logs_audits_and_broadcasts(moderate, moderator, room, bob):
    member = ChatMember.objects.get(room=room, user=bob)
    seq = last_seq(room)
    listener = GroupListener(wire.room_group(room.pk))

    _, shown = moderate(ChatMember, "mute_members", [member], reason="flooding", mute_minutes="30")

    member.refresh_from_db()
    assert timezone.now() + timedelta(minutes=29) < member.muted_until <= timezone.now() + timedelta(minutes=30)
    assert [e.kind for e in new_events(room, seq)] == [wire.MEMBER_UPDATED]
    audit = AuditLog.objects.get(action=ModerationAction.MEMBER_MUTE)
    assert (audit.actor, audit.room_id, audit.target_user, audit.reason) == (moderator, room.pk, bob, "flooding")
    frame = listener.frames(1)[0]
    assert (frame["type"], frame["seq"], frame["member"]["user"]["id"]) == ("member.updated", seq + 1, str(bob.pk))
    assert frame["member"]["muted_until"] is not None
    assert (messages.SUCCESS, "Muted 1 member for 30 minutes.") in shown


def test_mute_action_defaults_to_sixty_minutes(moderator_client, room, bob):
    member = ChatMember.objects.get(room=room, user=bob)
    run_action(moderator_client, ChatMember, "mute_members", [member], reason="", mute_minutes="")
    member.refresh_from_db()
    assert timezone.now() + timedelta(minutes=59) < member.muted_until <= timezone.now() + timedelta(minutes=60)


def test_mute_action_with_an_invalid_duration_says_so_and_changes_nothing(moderator_client, room, bob):
    member = ChatMember.objects.get(room=room, user=bob)
    seq = last_seq(room)

    response, _ = run_action(moderator_client, ChatMember, "mute_members", [member], mute_minutes="0")

    assert any("Mute for (minutes)" in text for text in errors(response))
    member.refresh_from_db()
    assert member.muted_until is None
    assert last_seq(room) == seq


def test_unmute_action(moderate, moderator, room, bob):
    member = ChatMember.objects.get(room=room, user=bob)
    commands.member_mute(actor=moderator, room_id=room.pk, user_id=bob.pk, until=timezone.now() + timedelta(hours=1))
    seq = last_seq(room)
    listener = GroupListener(wire.room_group(room.pk))

    _, shown = moderate(ChatMember, "unmute_members", [member], reason="calmed down")

    member.refresh_from_db()
    assert member.muted_until is None
    assert [e.kind for e in new_events(room, seq)] == [wire.MEMBER_UPDATED]
    assert AuditLog.objects.get(action=ModerationAction.MEMBER_UNMUTE).reason == "calmed down"
    frame = listener.frames(1)[0]
    assert (frame["type"], frame["member"]["muted_until"]) == ("member.updated", None)
    assert (messages.SUCCESS, "Unmuted 1 member.") in shown


def test_ban_action_removes_the_member_and_tells_the_room_and_the_person(moderate, moderator, room, bob):
    member = ChatMember.objects.get(room=room, user=bob)
    seq = last_seq(room)
    room_listener = GroupListener(wire.room_group(room.pk))
    bob_listener = GroupListener(wire.user_group(bob.pk))

    _, shown = moderate(ChatMember, "ban_members", [member], reason="abuse")

    member.refresh_from_db()
    assert (member.is_banned, member.is_active) == (True, False)
    logged = new_events(room, seq)
    assert [e.kind for e in logged] == [wire.MEMBER_REMOVED, wire.MESSAGE_CREATED]
    assert logged[0].payload["reason"] == "banned"
    assert logged[1].message.message_type == MessageType.SYSTEM
    audit = AuditLog.objects.get(action=ModerationAction.MEMBER_BAN)
    assert (audit.target_user, audit.reason, audit.actor) == (bob, "abuse", moderator)
    assert [f["type"] for f in room_listener.frames(2)] == ["member.removed", "message.created"]
    assert bob_listener.frames(1)[0]["type"] == "member.removed"
    assert (messages.SUCCESS, "Banned 1 member.") in shown


def test_unban_action_lifts_the_ban(moderator_client, moderator, room, bob):
    member = ChatMember.objects.get(room=room, user=bob)
    commands.member_ban(actor=moderator, room_id=room.pk, user_id=member.user_id)

    _, shown = run_action(moderator_client, ChatMember, "unban_members", [member], reason="appeal accepted")

    member.refresh_from_db()
    assert member.is_banned is False
    assert AuditLog.objects.get(action=ModerationAction.MEMBER_UNBAN).reason == "appeal accepted"
    assert (messages.SUCCESS, "Lifted the ban of 1 member.") in shown


def test_remove_action(moderate, room, carol):
    member = ChatMember.objects.get(room=room, user=carol)
    seq = last_seq(room)
    listener = GroupListener(wire.user_group(carol.pk))

    _, shown = moderate(ChatMember, "remove_members", [member], reason="left the team")

    member.refresh_from_db()
    assert (member.is_active, member.is_banned) == (False, False)
    assert member.left_at is not None
    assert [e.kind for e in new_events(room, seq)] == [wire.MEMBER_REMOVED, wire.MESSAGE_CREATED]
    assert AuditLog.objects.get(action=ModerationAction.MEMBER_REMOVE).reason == "left the team"
    frame = listener.frames(1)[0]
    assert (frame["type"], frame["member"]["user"]["id"]) == ("member.removed", str(carol.pk))
    assert (messages.SUCCESS, "Removed 1 member.") in shown


def test_refused_member_action_reports_the_error_and_changes_nothing(moderator_client, moderator, alice, bob):
    # Moderators moderate others: banning themselves is refused by the service.
    room = group_room(alice, bob, moderator, name="Moderator is a member")
    member = ChatMember.objects.get(room=room, user=moderator)

    shown = run_refused(moderator_client, ChatMember, "ban_members", member, room, reason="nope")

    assert shown == [f"{member}: You cannot do this to yourself."]
    member.refresh_from_db()
    assert (member.is_active, member.is_banned) == (True, False)
    assert not AuditLog.objects.exists()


def test_one_refusal_does_not_stop_the_other_objects(moderator_client, moderator, alice, bob):
    direct, _ = commands.room_get_or_create_direct(actor=alice, user_id=bob.pk)
    in_direct = ChatMember.objects.get(room=direct, user=bob)
    room = group_room(alice, bob)
    in_group = ChatMember.objects.get(room=room, user=bob)

    response, shown = run_action(moderator_client, ChatMember, "ban_members", [in_direct, in_group])

    assert len(errors(response)) == 1
    assert "direct room" in errors(response)[0]
    assert (messages.SUCCESS, "Banned 1 member.") in shown
    in_direct.refresh_from_db()
    in_group.refresh_from_db()
    assert (in_direct.is_active, in_direct.is_banned) == (True, False)
    assert (in_group.is_active, in_group.is_banned) == (False, True)


def test_staff_without_moderation_permission_cannot_run_actions(client, make_user, room, bob):
    staff = make_user(username="helper", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_chatmember"))
    client.force_login(staff)
    member = ChatMember.objects.get(room=room, user=bob)

    response = client.get(changelist_url(ChatMember))
    assert response.status_code == 200
    assert "mute_members" not in response.content.decode()

    client.post(
        changelist_url(ChatMember),
        {"action": "ban_members", "index": "0", "_selected_action": [str(member.pk)]},
    )
    member.refresh_from_db()
    assert (member.is_active, member.is_banned) == (True, False)


# --- message actions --------------------------------------------------------------


def test_delete_and_restore_actions(moderate, moderator_client, moderator, room, bob):
    message = send(room, bob, "borderline joke")
    seq = last_seq(room)
    listener = GroupListener(wire.room_group(room.pk))

    _, shown = moderate(ChatMessage, "delete_messages", [message], reason="offensive")

    message.refresh_from_db()
    assert (message.is_deleted, message.deleted_by) == (True, moderator)
    assert not SearchToken.objects.filter(message=message).exists()
    assert [e.kind for e in new_events(room, seq)] == [wire.MESSAGE_DELETED]
    audit = AuditLog.objects.get(action=ModerationAction.MESSAGE_DELETE)
    assert (audit.target_message_id, audit.target_user, audit.reason) == (message.pk, bob, "offensive")
    frame = listener.frames(1)[0]
    assert (frame["type"], frame["message"]["id"], frame["message"]["content"]) == (
        "message.deleted",
        str(message.pk),
        None,
    )
    assert (messages.SUCCESS, "Deleted 1 message.") in shown
    # The moderator still sees what was deleted, to decide about restoring it.
    assert "borderline joke" in moderator_client.get(change_url(message)).content.decode()

    _, shown = moderate(ChatMessage, "restore_messages", [message], reason="context")

    message.refresh_from_db()
    assert (message.is_deleted, message.deleted_by) == (False, None)
    assert SearchToken.objects.filter(message=message).exists()
    assert [e.kind for e in new_events(room, seq)] == [wire.MESSAGE_DELETED, wire.MESSAGE_UPDATED]
    assert AuditLog.objects.get(action=ModerationAction.MESSAGE_RESTORE).reason == "context"
    frame = listener.frames(1)[0]
    assert (frame["type"], frame["message"]["content"]) == ("message.updated", "borderline joke")
    assert (messages.SUCCESS, "Restored 1 message.") in shown


def test_refused_restore_reports_the_error_and_changes_nothing(moderator_client, moderator, room, bob):
    message = send(room, bob, "gone for good")
    commands.message_delete(actor=moderator, message_id=message.pk)
    ChatMessage.objects.filter(pk=message.pk).update(content_purged_at=timezone.now(), content_encrypted="")

    shown = run_refused(moderator_client, ChatMessage, "restore_messages", message, room)

    assert shown == [f"{message}: This message's content has been purged by retention."]
    message.refresh_from_db()
    assert message.is_deleted is True
    assert not AuditLog.objects.filter(action=ModerationAction.MESSAGE_RESTORE).exists()


def test_moderator_deletes_even_where_they_are_a_plain_member(moderator_client, moderator, alice, bob):
    room = group_room(alice, bob, moderator)
    message = send(room, bob, "mine")

    response, _ = run_action(moderator_client, ChatMessage, "delete_messages", [message], reason="rude")

    assert errors(response) == []
    message.refresh_from_db()
    assert message.is_deleted is True and message.deleted_by_id == moderator.pk
    assert AuditLog.objects.get(action=ModerationAction.MESSAGE_DELETE).reason == "rude"


# --- room actions and editing --------------------------------------------------------


def test_deactivate_and_reactivate_actions(moderate, moderator, room, alice, carol):
    other = group_room(alice, carol, name="Second")
    seqs = {r.pk: last_seq(r) for r in (room, other)}
    listener = GroupListener(wire.room_group(room.pk))

    _, shown = moderate(ChatRoom, "deactivate_rooms", [room, other], reason="project over")

    for r in (room, other):
        r.refresh_from_db()
        assert r.is_active is False
        assert [e.kind for e in new_events(r, seqs[r.pk])] == [wire.ROOM_UPDATED]
    assert set(AuditLog.objects.filter(action=ModerationAction.ROOM_DEACTIVATE).values_list("room", "reason")) == {
        (room.pk, "project over"),
        (other.pk, "project over"),
    }
    frame = listener.frames(1)[0]
    assert (frame["type"], frame["room_data"]["is_active"]) == ("room.updated", False)
    assert (messages.SUCCESS, "Deactivated 2 rooms.") in shown

    _, shown = moderate(ChatRoom, "reactivate_rooms", [room], reason="back on")

    room.refresh_from_db()
    assert room.is_active is True
    assert AuditLog.objects.get(action=ModerationAction.ROOM_REACTIVATE).reason == "back on"
    frame = listener.frames(1)[0]
    assert (frame["type"], frame["room_data"]["is_active"]) == ("room.updated", True)
    assert (messages.SUCCESS, "Reactivated 1 room.") in shown


def test_refused_reactivate_reports_the_error_and_changes_nothing(moderator_client, moderator, carol):
    first, _ = commands.room_open_support(actor=carol)
    commands.room_deactivate(actor=moderator, room_id=first.pk)
    commands.room_open_support(actor=carol)  # a second open support room

    shown = run_refused(moderator_client, ChatRoom, "reactivate_rooms", first, first)

    assert shown == [f"{first}: This person already has an open support room."]
    first.refresh_from_db()
    assert first.is_active is False


def test_announcement_action_posts_a_system_message_in_each_selected_room(moderate, moderator, room, alice, carol):
    other = group_room(alice, carol, name="Second")
    closed = group_room(alice, carol, name="Closed")
    commands.room_deactivate(actor=moderator, room_id=closed.pk)
    seqs = {r.pk: last_seq(r) for r in (room, other, closed)}
    listener = GroupListener(wire.room_group(other.pk))

    response, shown = moderate(ChatRoom, "post_announcement", [room, other, closed], announcement="Maintenance at 6")

    for r in (room, other):
        (logged,) = new_events(r, seqs[r.pk])
        assert logged.kind == wire.MESSAGE_CREATED
        assert logged.message.message_type == MessageType.SYSTEM
        assert logged.message.sender == moderator
        assert crypto.decrypt(logged.message.content_encrypted) == "Maintenance at 6"
    assert new_events(closed, seqs[closed.pk]) == []
    assert errors(response) == ["Closed: This room has been deactivated."]
    assert set(AuditLog.objects.filter(action=ModerationAction.ROOM_ANNOUNCE).values_list("room", flat=True)) == {
        room.pk,
        other.pk,
    }
    frame = listener.frames(1)[0]
    assert (frame["type"], frame["message"]["content"]) == ("message.created", "Maintenance at 6")
    assert (messages.SUCCESS, "Posted the announcement in 2 rooms.") in shown


def test_announcement_without_text_posts_nothing(moderator_client, room):
    seq = last_seq(room)
    response, _ = run_action(moderator_client, ChatRoom, "post_announcement", [room], announcement="  ")
    assert errors(response) == ["Write the announcement's text first."]
    assert last_seq(room) == seq


def test_room_edit_goes_through_room_update(
    moderator_client, room, django_capture_on_commit_callbacks
):
    seq = last_seq(room)
    listener = GroupListener(wire.room_group(room.pk))

    with django_capture_on_commit_callbacks(execute=True):
        response = moderator_client.post(
            change_url(room),
            # seq and room_type are read-only: ignored.
            {"name": "Renamed", "description": "fruit talk", "seq": "999", "room_type": "direct", "_save": "Save"},
        )

    assert response.status_code == 302
    room.refresh_from_db()
    assert (room.name, room.room_type, room.seq) == ("Renamed", "group", seq + 1)
    (logged,) = new_events(room, seq)
    assert (logged.kind, logged.payload["room_data"]["name"]) == (wire.ROOM_UPDATED, "Renamed")
    frame = listener.frames(1)[0]
    assert (frame["type"], frame["room_data"]["name"]) == ("room.updated", "Renamed")


def test_room_edit_refused_by_the_service_reports_and_changes_nothing(moderator_client, room):
    seq = last_seq(room)

    response = moderator_client.post(change_url(room), {"name": "   ", "description": "x", "_save": "Save"})

    assert response.status_code == 302
    assert errors(response) == ["Not saved: name may not be blank."]
    room.refresh_from_db()
    assert (room.name, room.description, room.seq) == ("Pineapple team", "fruit talk", seq)


def test_direct_and_inactive_rooms_cannot_be_edited(moderator_client, moderator, alice, bob, room):
    direct, _ = commands.room_get_or_create_direct(actor=alice, user_id=bob.pk)
    commands.room_deactivate(actor=moderator, room_id=room.pk)
    for target in (direct, room):
        assert moderator_client.get(change_url(target)).status_code == 200  # viewable
        response = moderator_client.post(change_url(target), {"name": "Hijack", "_save": "Save"})
        assert response.status_code == 403
        target.refresh_from_db()
        assert target.name != "Hijack"


# --- read-only and no-delete admins --------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    (*CHAT_MODELS, UserBlock),
    ids=lambda m: m.__name__,
)
def test_nothing_can_be_added_or_deleted_through_admin(superuser_client, chat_data, model):
    obj = model.objects.first()
    count = model.objects.count()

    assert superuser_client.post(add_url(model), {}).status_code == 403
    assert superuser_client.post(delete_url(obj), {"post": "yes"}).status_code == 403
    superuser_client.post(
        changelist_url(model), {"action": "delete_selected", "index": "0", "_selected_action": [str(obj.pk)], "post": "yes"}
    )

    assert model.objects.count() == count


@pytest.mark.parametrize("model", (*LOG_MODELS, MessageEdit, MessageReaction, Attachment, ChatMember), ids=lambda m: m.__name__)
def test_read_only_admins_refuse_changes(superuser_client, chat_data, model):
    obj = model.objects.first()
    before = model.objects.filter(pk=obj.pk).values().get()

    assert superuser_client.get(change_url(obj)).status_code == 200
    assert superuser_client.post(change_url(obj), {"_save": "Save"}).status_code == 403

    assert model.objects.filter(pk=obj.pk).values().get() == before


def test_audit_log_is_visible_to_any_staff_but_never_editable(client, make_user, chat_data):
    staff = make_user(username="helper", is_staff=True)
    client.force_login(staff)
    entry = AuditLog.objects.get()

    response = client.get(changelist_url(AuditLog))
    assert response.status_code == 200
    assert [e.pk for e in response.context["cl"].result_list] == [entry.pk]
    assert client.get(change_url(entry)).status_code == 200
    assert client.post(change_url(entry), {"reason": "rewritten"}).status_code == 403
    assert client.post(delete_url(entry), {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.reason == "spam wave"


# --- access ---------------------------------------------------------------------


@pytest.mark.parametrize("model", (ChatMessage, AuditLog, User), ids=lambda m: m.__name__)
def test_non_staff_is_sent_to_login(client, alice, model):
    client.force_login(alice)
    response = client.get(changelist_url(model))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_anonymous_is_sent_to_login(client):
    response = client.get(changelist_url(ChatMessage))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


# --- accounts --------------------------------------------------------------------


def _user_change_data(user, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "date_joined_0": user.date_joined.date().isoformat(),
        "date_joined_1": "00:00:00",
        "last_login_0": "",
        "last_login_1": "",
        "display_name": user.display_name,
        "company": str(user.company_id) if user.company_id else "",
        "_save": "Save",
    }
    data.update(changes)
    return data


def test_user_page_shows_chat_fields(superuser_client, alice):
    page = superuser_client.get(change_url(alice)).content.decode()
    for field in ("display_name", "company", "is_support_agent"):
        assert f'name="{field}"' in page


def test_moving_a_user_into_a_company_joins_its_company_rooms(
    superuser_client, superuser, bob, django_capture_on_commit_callbacks
):
    other = CompanyFactory(name="Other Co")
    founder = User.objects.create(username="founder", company=other)
    company_room = commands.room_create_company(actor=founder, company=other, name="Other all hands")
    seq = last_seq(company_room)

    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(change_url(bob), _user_change_data(bob, company=str(other.pk)))

    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.company == other
    assert ChatMember.objects.filter(room=company_room, user=bob, is_active=True).exists()
    assert [e.kind for e in new_events(company_room, seq)] == [wire.MEMBER_ADDED, wire.MESSAGE_CREATED]


def test_user_cannot_be_moved_into_an_inactive_company(superuser_client, bob, company):
    closed = CompanyFactory(name="Closed Co", is_active=False)

    response = superuser_client.post(change_url(bob), _user_change_data(bob, company=str(closed.pk)))

    assert response.status_code == 200
    assert "This company is inactive" in response.content.decode()
    bob.refresh_from_db()
    assert bob.company == company


def test_user_created_in_admin_joins_company_rooms(superuser_client, alice, company):
    company_room = commands.room_create_company(actor=alice, company=company, name="Everyone")

    response = superuser_client.post(
        add_url(User),
        {
            "username": "dave",
            "usable_password": "true",
            "password1": "a-Long-and-unusual-9",
            "password2": "a-Long-and-unusual-9",
            "email": "dave@example.com",
            "display_name": "Dave",
            "company": str(company.pk),
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    dave = User.objects.get(username="dave")
    assert (dave.display_name, dave.company) == ("Dave", company)
    assert ChatMember.objects.filter(room=company_room, user=dave, is_active=True).exists()


def test_user_admin_company_change_goes_through_the_service(superuser_client, company, alice, bob):
    from accounts.tests.factories import CompanyFactory

    general = commands.room_create_company(actor=alice, company=company, name="General")
    other = CompanyFactory()
    url = reverse("admin:accounts_user_change", args=[bob.pk])
    form = superuser_client.get(url).context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None and key not in ("groups", "user_permissions", "password")}
    data.update(company=str(other.pk), date_joined_0=bob.date_joined.strftime("%Y-%m-%d"), date_joined_1=bob.date_joined.strftime("%H:%M:%S"))
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = superuser_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    bob.refresh_from_db()
    assert bob.company_id == other.pk
    assert not ChatMember.objects.get(room=general, user=bob).is_active
    assert RoomEvent.objects.filter(room=general, kind="member.removed", payload__reason="left_company").exists()
