"""Invite links: who makes and revokes them, joining with one (as a member or
a guest), expiry, uses, banned people, and the page a link opens."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat import commands
from chat.models import AuditLog, ChatMember, RoomEvent, RoomInvite
from chat.tests.api_helpers import assert_error, client_for
from chat.tests.factories import group_room, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def outsider(make_user):
    from accounts.tests.factories import CompanyFactory

    return make_user(username="olga", display_name="Olga", company=CompanyFactory())


def make_invite(user, room, **body):
    response = client_for(user).post(f"/api/rooms/{room.pk}/invites/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def join(user, code):
    return client_for(user).post(f"/api/invites/{code}/join/")


def test_an_admin_makes_a_link_and_someone_of_another_company_joins_as_a_guest(alice, bob, outsider):
    team = group_room(alice, bob, name="Secret plans", description="Only the plans")
    invite = make_invite(alice, team, role="guest", expires_in=3600, max_uses=2)
    assert invite["role"] == "guest" and invite["max_uses"] == 2 and invite["uses"] == 0
    assert invite["url"] == f"/invite/{invite['code']}/" and invite["created_by"]["username"] == "alice"
    assert len(invite["code"]) >= 20  # unguessable

    preview = client_for(outsider).get(f"/api/invites/{invite['code']}/").json()
    assert preview == {
        "room": {"id": str(team.pk), "name": "Secret plans", "description": "Only the plans", "member_count": 2},
        "role": "guest",
        "expires_at": invite["expires_at"],
        "already_member": False,
    }
    response = join(outsider, invite["code"])
    assert response.status_code == 201, response.content
    assert response.json()["id"] == str(team.pk) and response.json()["my_role"] == "guest"
    assert ChatMember.objects.get(room=team, user=outsider).role == "guest"
    assert RoomEvent.objects.filter(room=team, kind="member.added").last().payload["member"]["user"]["username"] == "olga"
    assert team.messages.filter(message_type="system").order_by("seq").last().extra_metadata["event"] == "member.joined"
    assert join(outsider, invite["code"]).status_code == 200  # already in: no second use
    assert RoomInvite.objects.get(pk=invite["id"]).uses == 1
    assert client_for(outsider).get(f"/api/invites/{invite['code']}/").json()["already_member"] is True
    send(team, outsider, "hello from a guest")  # a real member now
    assert AuditLog.objects.filter(action="invite.create", room=team).exists()


def test_uses_expiry_and_revocation_end_a_link_with_the_reason(alice, bob, carol, outsider, make_user):
    team = group_room(alice, bob, name="Team")
    once = make_invite(alice, team, max_uses=1)
    assert join(carol, once["code"]).status_code == 201
    assert_error(join(outsider, once["code"]), 410, "invite_used_up")
    assert_error(client_for(outsider).get(f"/api/invites/{once['code']}/"), 410, "invite_used_up")

    later = make_invite(alice, team)
    RoomInvite.objects.filter(pk=later["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(join(outsider, later["code"]), 410, "invite_expired")

    revoked = make_invite(alice, team)
    listed = client_for(alice).get(f"/api/rooms/{team.pk}/invites/").json()
    assert [i["id"] for i in listed] == [revoked["id"]]  # used up and expired ones are not live
    assert client_for(alice).delete(f"/api/rooms/{team.pk}/invites/{revoked['id']}/").status_code == 204
    assert client_for(alice).delete(f"/api/rooms/{team.pk}/invites/{revoked['id']}/").status_code == 204  # again: no-op
    assert_error(join(outsider, revoked["code"]), 410, "invite_revoked")
    assert client_for(alice).get(f"/api/rooms/{team.pk}/invites/").json() == []
    assert AuditLog.objects.filter(action="invite.revoke", room=team).count() == 1
    assert_error(join(outsider, "no-such-code"), 404, "invite_not_found")

    commands.room_deactivate(actor=alice, room_id=team.pk, reason="done")
    assert_error(join(outsider, once["code"]), 410)


def test_who_may_make_links_and_a_banned_person_cannot_use_one(alice, bob, carol, outsider):
    team = group_room(alice, bob, carol, name="Team")
    url = f"/api/rooms/{team.pk}/invites/"
    assert_error(client_for(bob).post(url, {}, format="json"), 403, "not_room_admin")
    assert_error(client_for(bob).get(url), 403, "not_room_admin")
    assert_error(client_for(outsider).get(url), 404, "room_not_found")
    invite = make_invite(alice, team)
    assert_error(client_for(bob).delete(f"{url}{invite['id']}/"), 403, "not_room_admin")

    member = ChatMember.objects.get(room=team, user=carol)
    commands.member_ban(actor=alice, room_id=team.pk, user_id=carol.pk, reason="spam")
    assert member.pk
    assert_error(join(carol, invite["code"]), 403, "banned")
    assert_error(client_for(carol).get(f"/api/invites/{invite['code']}/"), 403, "banned")
    assert not ChatMember.objects.get(room=team, user=carol).is_active

    commands.room_leave(actor=bob, room_id=team.pk)  # left (not banned): may come back with a link
    assert join(bob, invite["code"]).status_code == 201
    assert ChatMember.objects.get(room=team, user=bob).role == "member"


def test_bad_input_is_refused_with_a_named_field(alice, bob, settings):
    team = group_room(alice, bob, name="Team")
    url = f"/api/rooms/{team.pk}/invites/"
    assert_error(client_for(alice).post(url, {"role": "admin"}, format="json"), 400, fields=("role",))
    assert_error(client_for(alice).post(url, {"expires_in": 10}, format="json"), 400, "invalid_expiry")
    assert_error(client_for(alice).post(url, {"expires_in": 90 * 86400}, format="json"), 400, "invalid_expiry")
    assert_error(client_for(alice).post(url, {"max_uses": 0}, format="json"), 400, fields=("max_uses",))
    assert_error(client_for(alice).post(url, {"max_uses": "lots"}, format="json"), 400, fields=("max_uses",))
    assert_error(client_for(alice).post(url, [1, 2], format="json"), 400)
    direct = commands.room_get_or_create_direct(actor=alice, user_id=bob.pk)[0]
    assert_error(client_for(alice).post(f"/api/rooms/{direct.pk}/invites/", {}, format="json"), 400, "invites_group_only")
    settings.CHAT_MAX_ROOM_INVITES = 1
    make_invite(alice, team)
    assert_error(client_for(alice).post(url, {}, format="json"), 400, "too_many_invites")


def test_the_page_of_a_link_shows_the_room_and_joins_with_a_button(client, alice, bob, outsider):
    team = group_room(alice, bob, name="Plans <b>")
    invite = make_invite(alice, team, max_uses=1)
    page = f"/invite/{invite['code']}/"

    assert client.get(page).status_code == 302  # logged out: to the login page, then back
    assert client.get(page)["Location"].startswith("/accounts/login/?next=")
    client.force_login(outsider)
    response = client.get(page)
    assert response.status_code == 200 and b"Join Plans &lt;b&gt;" in response.content
    assert RoomInvite.objects.get(pk=invite["id"]).uses == 0  # opening the page spends nothing
    response = client.post(page)
    assert response.status_code == 302 and response["Location"] == f"/#room/{team.pk}"
    assert ChatMember.objects.get(room=team, user=outsider).is_active
    assert client.get(page).status_code == 200  # a member: the page offers the room
    client.force_login(bob)
    client.post(f"/api/rooms/{team.pk}/leave/")
    response = client.get(page)
    assert response.status_code == 410 and b"used as many times" in response.content
    response = client.get("/invite/nothing-here/")
    assert response.status_code == 404 and b"does not exist" in response.content
