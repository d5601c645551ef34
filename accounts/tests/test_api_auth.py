"""The auth and user endpoints: register, JWT obtain/refresh/logout, me,
the directory, blocking and WebSocket tickets."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import tickets
from accounts.models import User, UserBlock
from chatsite.core.models import RateLimitLog
from chat.tests.api_helpers import PASSWORD, assert_error, assert_rate_limited, client_for, jwt_client
from chat.tests.factories import group_room

REGISTER = "/api/auth/register/"
TOKEN = "/api/auth/token/"
REFRESH = "/api/auth/token/refresh/"
LOGOUT = "/api/auth/logout/"
ME = "/api/auth/me/"
USERS = "/api/users/"
TICKET = "/api/auth/ws-ticket/"
STRONG = "a long and unusual passphrase 42"


@pytest.fixture
def api(db):
    """``api(user)``: an APIClient authenticated as ``user``; ``api()``: anonymous."""
    return client_for


def register(client=None, **data):
    data = {"username": "dora", "password": STRONG, **data}
    return (client or APIClient()).post(REGISTER, data, format="json")


# --- Register -----------------------------------------------------------------
def test_register_returns_the_user_and_a_working_token_pair(db):
    response = register(email="dora@example.com", display_name="Dora")

    assert response.status_code == 201, response.content
    body = response.json()
    user = User.objects.get(username="dora")
    assert body["user"] == {
        "id": str(user.pk),
        "username": "dora",
        "display_name": "Dora",
        "email": "dora@example.com",
        "company": None,
        "is_support_agent": False,
        "avatar": None,
        "time_zone": "",
    }
    assert user.check_password(STRONG)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    me = client.get(ME)
    assert me.status_code == 200 and me.json()["id"] == str(user.pk)
    refreshed = APIClient().post(REFRESH, {"refresh": body["refresh"]}, format="json")
    assert refreshed.status_code == 200 and refreshed.json()["access"]


def test_register_refuses_a_taken_username_whatever_its_case(alice):
    response = register(username="ALICE")

    assert_error(response, 409, "username_taken", fields=("username",))
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_register_refuses_a_taken_email(alice):
    response = register(email=alice.email.upper())

    assert_error(response, 409, "email_taken", fields=("email",))
    assert not User.objects.filter(username="dora").exists()


@pytest.mark.parametrize("password", ["123", "password", "12345678901234", "dorothea1"])
def test_register_refuses_a_weak_password(db, password):
    response = register(username="dorothea", password=password)

    assert_error(response, 400, "weak_password", fields=("password",))
    assert not User.objects.filter(username="dorothea").exists()


def test_register_validates_its_fields(db):
    response = APIClient().post(REGISTER, {"username": "no spaces allowed", "email": "not-an-email"}, format="json")

    assert_error(response, 400, "invalid", fields=("username", "password", "email"))
    assert not User.objects.exists()


def test_register_is_rate_limited_per_client_address(db, settings):
    settings.CHAT_RATE_LIMITS = {"auth.register": "2/m"}
    assert register(username="one").status_code == 201
    assert register(username="two").status_code == 201

    refused = register(username="three")

    assert_rate_limited(refused, kind="auth.register", client_key="127.0.0.1")
    assert not User.objects.filter(username="three").exists()
    # Another address has its own budget.
    elsewhere = register(APIClient(REMOTE_ADDR="10.1.2.3"), username="four")
    assert elsewhere.status_code == 201, elsewhere.content


# --- Tokens -------------------------------------------------------------------
def test_token_obtain_gives_a_pair_that_authenticates(alice):
    client, tokens = jwt_client("alice")

    assert set(tokens) == {"access", "refresh"}
    response = client.get(ME)
    assert response.status_code == 200 and response.json()["username"] == "alice"


def test_token_obtain_refuses_a_wrong_password(alice):
    response = APIClient().post(TOKEN, {"username": "alice", "password": "wrong password"}, format="json")

    body = assert_error(response, 401, "authentication_failed")
    assert "access" not in body and "refresh" not in body


def test_token_obtain_refuses_an_inactive_user(make_user):
    make_user(username="gone", is_active=False)

    response = APIClient().post(TOKEN, {"username": "gone", "password": PASSWORD}, format="json")

    assert_error(response, 401, "authentication_failed")


def test_token_obtain_validates_its_fields(db):
    response = APIClient().post(TOKEN, {"username": "alice"}, format="json")

    assert_error(response, 400, "invalid", fields=("password",))


def test_login_is_rate_limited_per_client_address(alice, settings):
    settings.CHAT_RATE_LIMITS = {"auth.login": "2/m"}
    wrong = {"username": "alice", "password": "wrong password"}
    assert APIClient().post(TOKEN, wrong, format="json").status_code == 401
    assert APIClient().post(TOKEN, wrong, format="json").status_code == 401

    # Past the limit even the right password is refused.
    refused = APIClient().post(TOKEN, {"username": "alice", "password": PASSWORD}, format="json")

    assert_rate_limited(refused, kind="auth.login", client_key="127.0.0.1")
    elsewhere = APIClient(REMOTE_ADDR="10.9.8.7").post(
        TOKEN, {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert elsewhere.status_code == 200, elsewhere.content


def test_refresh_rotates_and_blacklists_the_old_refresh_token(alice):
    _client, tokens = jwt_client("alice")

    first = APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json")

    assert first.status_code == 200, first.content
    rotated = first.json()
    assert rotated["access"] and rotated["refresh"] and rotated["refresh"] != tokens["refresh"]
    old_jti = RefreshToken(tokens["refresh"], verify=False)["jti"]
    assert RefreshToken(rotated["refresh"], verify=False)["jti"] != old_jti
    assert BlacklistedToken.objects.filter(token__jti=old_jti).exists()
    # The old refresh token is refused from now on; the new one works.
    again = APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert_error(again, 401, "token_not_valid")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {rotated['access']}")
    assert client.get(ME).status_code == 200
    assert APIClient().post(REFRESH, {"refresh": rotated["refresh"]}, format="json").status_code == 200


def test_refresh_refuses_garbage(db):
    response = APIClient().post(REFRESH, {"refresh": "not.a.token"}, format="json")

    assert_error(response, 401, "token_not_valid")


# --- Logout -------------------------------------------------------------------
def test_logout_requires_authentication(alice):
    _client, tokens = jwt_client("alice")

    response = APIClient().post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")

    assert_error(response, 401, "not_authenticated")
    # Nothing was blacklisted: the refresh token still works.
    assert APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 200


def test_logout_blacklists_the_refresh_token(alice):
    client, tokens = jwt_client("alice")

    response = client.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 204, response.content
    refused = APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert_error(refused, 401, "token_not_valid")


def test_logout_needs_the_refresh_token_without_a_session(alice):
    client, _tokens = jwt_client("alice")

    response = client.post(LOGOUT, {}, format="json")

    assert_error(response, 400, "refresh_required", fields=("refresh",))


def test_logout_refuses_someone_elses_refresh_token(alice, bob):
    client, _tokens = jwt_client("alice")
    _bob_client, bob_tokens = jwt_client("bob")

    response = client.post(LOGOUT, {"refresh": bob_tokens["refresh"]}, format="json")

    assert_error(response, 400, "token_not_valid")
    assert APIClient().post(REFRESH, {"refresh": bob_tokens["refresh"]}, format="json").status_code == 200


def test_logout_refuses_what_is_not_a_refresh_token_naming_the_field(alice):
    client, tokens = jwt_client("alice")

    not_a_string = client.post(LOGOUT, {"refresh": 123}, format="json")
    an_access_token = client.post(LOGOUT, {"refresh": tokens["access"]}, format="json")

    # A 400 about one input says which (the issue: "plus field errors on 400"),
    # as the missing-refresh error already does.
    assert_error(not_a_string, 400, "invalid", fields=("refresh",))
    assert_error(an_access_token, 400, "token_not_valid", fields=("refresh",))
    assert APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 200


def test_logout_ends_a_browser_session(client, alice):
    client.force_login(alice)

    response = client.post(LOGOUT, {}, content_type="application/json")

    assert response.status_code == 204, response.content
    assert_error(client.get(ME), 401, "not_authenticated")


def _log_out_by_token(client, alice):
    api_client, tokens = jwt_client("alice")
    return lambda: api_client.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")


def _log_out_of_the_api_session(client, alice):
    client.force_login(alice)
    return lambda: client.post(LOGOUT, {}, content_type="application/json")


def _log_out_by_token_with_a_session(client, alice):
    client.force_login(alice)
    _api_client, tokens = jwt_client("alice")
    return lambda: client.post(LOGOUT, {"refresh": tokens["refresh"]}, content_type="application/json")


def _log_out_on_the_page(client, alice):
    client.force_login(alice)
    return lambda: client.post("/accounts/logout/")


@pytest.mark.parametrize(
    "log_out",
    (_log_out_by_token, _log_out_of_the_api_session, _log_out_by_token_with_a_session, _log_out_on_the_page),
    ids=("token", "api-session", "token-and-session", "page"),
)
def test_every_logout_closes_the_users_sockets_once(
    client, alice, listener, django_capture_on_commit_callbacks, log_out
):
    # Logging out sends Django's user_logged_out once; chat closes the person's sockets on it.
    request = log_out(client, alice)
    listener.subscribe(f"user.{alice.pk}")  # where alice's sockets listen

    with django_capture_on_commit_callbacks(execute=True):
        response = request()

    assert response.status_code in (204, 302), response.content
    received = listener.receive_all()
    assert [(m["type"], m["reason"]) for m in received] == [("chat.disconnect", "logged_out")]


def test_a_deactivated_user_can_neither_refresh_nor_use_an_access_token(alice):
    client, tokens = jwt_client("alice")
    User.objects.filter(pk=alice.pk).update(is_active=False)

    assert_error(APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401)
    assert_error(client.get(ME), 401)


def test_session_login_works_for_the_api(client, alice):
    client.force_login(alice)

    response = client.get(ME)

    assert response.status_code == 200 and response.json()["username"] == "alice"


# --- Me -----------------------------------------------------------------------
def test_me_shows_my_profile(api, alice, company):
    response = api(alice).get(ME)

    assert response.status_code == 200
    assert response.json() == {
        "id": str(alice.pk),
        "username": "alice",
        "display_name": "Alice",
        "email": alice.email,
        "company": str(company.pk),
        "is_support_agent": False,
        "avatar": None,
        "time_zone": "",
    }


def test_me_requires_authentication(db):
    assert_error(APIClient().get(ME), 401, "not_authenticated")


def test_me_patch_updates_display_name_and_email_only(api, alice):
    response = api(alice).patch(
        ME,
        {"display_name": "Alice L.", "email": "al@example.com", "username": "mallory", "is_support_agent": True},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["display_name"], body["email"], body["username"], body["is_support_agent"]) == (
        "Alice L.",
        "al@example.com",
        "alice",
        False,
    )
    alice.refresh_from_db()
    assert (alice.display_name, alice.email, alice.username, alice.is_support_agent) == (
        "Alice L.",
        "al@example.com",
        "alice",
        False,
    )


def test_me_patch_validates(api, alice, bob):
    assert_error(api(alice).patch(ME, {"email": "nope"}, format="json"), 400, "invalid", fields=("email",))
    assert_error(
        api(alice).patch(ME, {"display_name": "x" * 151}, format="json"), 400, "invalid", fields=("display_name",)
    )
    taken = api(alice).patch(ME, {"email": bob.email.upper()}, format="json")
    assert_error(taken, 409, "email_taken")
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


# --- Directory ----------------------------------------------------------------
def test_directory_lists_my_company_and_people_i_share_a_room_with(api, alice, bob, carol, make_user):
    from accounts.tests.factories import CompanyFactory

    other_company = CompanyFactory()
    roommate = make_user(username="rita", display_name="Rita", company=other_company)
    stranger = make_user(username="sam", display_name="Sam", company=other_company)
    make_user(username="bobby-gone", display_name="Bobby", is_active=False)
    group_room(alice, roommate, name="Across companies")
    group_room(stranger, name="Sam's own")

    everyone = api(alice).get(USERS)

    assert everyone.status_code == 200
    usernames = [u["username"] for u in everyone.json()]
    assert usernames == ["bob", "carol", "rita"]  # sorted, not me, not Sam, not the inactive one
    assert everyone.json()[0] == {"id": str(bob.pk), "username": "bob", "display_name": "Bob", "avatar": None}
    searched = api(alice).get(USERS, {"q": "RI"})
    assert [u["username"] for u in searched.json()] == ["rita"]
    # Sam is not found by name either; nor does Sam see Alice.
    assert api(alice).get(USERS, {"q": "sam"}).json() == []
    assert api(stranger).get(USERS, {"q": "ali"}).json() == []
    # Rita, with no shared company, sees Alice through the room only.
    assert [u["username"] for u in api(roommate).get(USERS).json()] == ["alice", "sam"]


def test_directory_without_a_company_shows_only_roommates(api, make_user):
    loner = make_user(username="lone", company=None)
    other = make_user(username="other", company=None)
    make_user(username="third", company=None)
    assert api(loner).get(USERS).json() == []

    group_room(loner, other, name="Pair")

    assert [u["username"] for u in api(loner).get(USERS).json()] == ["other"]


def test_directory_forgets_people_after_they_leave_the_shared_room(api, make_user):
    from chat import commands

    loner = make_user(username="lone", company=None)
    other = make_user(username="other", company=None)
    room = group_room(loner, other, name="Pair")
    commands.room_leave(actor=other, room_id=room.pk)

    assert api(loner).get(USERS).json() == []


@pytest.mark.parametrize("count", [5, 40])
def test_directory_queries_do_not_grow_with_people(api, alice, make_user, count, django_assert_max_num_queries):
    from accounts.tests.factories import CompanyFactory

    others = CompanyFactory()
    for n in range(count):
        make_user(username=f"colleague{n:02}")
        group_room(alice, make_user(username=f"partner{n:02}", company=others), name=f"Shared {n}")
    client = api(alice)

    with django_assert_max_num_queries(2):
        response = client.get(USERS)

    assert response.status_code == 200
    assert len(response.json()) == min(2 * count, 50)


def test_directory_validates_q_and_requires_authentication(api, alice):
    assert_error(api(alice).get(USERS, {"q": "x" * 101}), 400, "invalid", fields=("q",))
    assert_error(APIClient().get(USERS), 401, "not_authenticated")


# --- Blocking -----------------------------------------------------------------
def test_block_then_direct_room_is_refused_both_ways_until_unblocked(api, alice, bob):
    response = api(alice).post(f"{USERS}{bob.pk}/block/")

    assert response.status_code == 204, response.content
    assert UserBlock.objects.filter(blocker=alice, blocked=bob).count() == 1
    assert api(alice).post(f"{USERS}{bob.pk}/block/").status_code == 204  # idempotent
    assert UserBlock.objects.filter(blocker=alice, blocked=bob).count() == 1
    assert_error(api(alice).post("/api/rooms/direct/", {"user_id": str(bob.pk)}, format="json"), 403, "blocked")
    assert_error(api(bob).post("/api/rooms/direct/", {"user_id": str(alice.pk)}, format="json"), 403, "blocked")

    unblocked = api(alice).delete(f"{USERS}{bob.pk}/block/")

    assert unblocked.status_code == 204
    assert not UserBlock.objects.exists()
    assert api(alice).post("/api/rooms/direct/", {"user_id": str(bob.pk)}, format="json").status_code == 201


def test_block_stops_messages_in_an_existing_direct_room(api, alice, bob):
    room = api(alice).post("/api/rooms/direct/", {"user_id": str(bob.pk)}, format="json").json()
    api(bob).post(f"{USERS}{alice.pk}/block/")

    response = api(alice).post(f"/api/rooms/{room['id']}/messages/", {"content": "hi"}, format="json")

    assert_error(response, 403, "blocked")


def test_block_refusals(api, alice):
    import uuid

    assert_error(api(alice).post(f"{USERS}{alice.pk}/block/"), 400, "block_self")
    assert_error(api(alice).post(f"{USERS}{uuid.uuid4()}/block/"), 404, "user_not_found")
    assert_error(api(alice).delete(f"{USERS}{uuid.uuid4()}/block/"), 404, "user_not_found")
    assert_error(APIClient().post(f"{USERS}{alice.pk}/block/"), 401, "not_authenticated")


def test_unblock_of_someone_not_blocked_is_404(api, alice, bob):
    assert_error(api(alice).delete(f"{USERS}{bob.pk}/block/"), 404, "block_not_found")


# --- WebSocket tickets --------------------------------------------------------
def test_ws_ticket_is_single_use_and_names_the_user(alice):
    client, _tokens = jwt_client("alice")

    response = client.post(TICKET)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["expires_in"] == 30 and set(body) == {"ticket", "expires_in"}
    assert isinstance(body["ticket"], str) and len(body["ticket"]) >= 32
    assert tickets.consume(body["ticket"]) == str(alice.pk)
    assert tickets.consume(body["ticket"]) is None


def test_ws_tickets_are_distinct_and_kept_for_30_seconds(api, alice, monkeypatch):
    timeouts = []
    shared = tickets.shared_cache()
    real_set = shared.set

    def spy(key, value, timeout=None, *args, **kwargs):
        timeouts.append(timeout)
        return real_set(key, value, timeout, *args, **kwargs)

    monkeypatch.setattr(shared, "set", spy)

    first = api(alice).post(TICKET).json()["ticket"]
    second = api(alice).post(TICKET).json()["ticket"]

    assert first != second
    assert timeouts == [30, 30]
    assert tickets.consume(second) == str(alice.pk)
    assert tickets.consume(first) == str(alice.pk)


def test_unknown_or_expired_ws_tickets_are_refused(api, alice):
    assert tickets.consume("x" * 43) is None
    assert tickets.consume("") is None
    ticket = api(alice).post(TICKET).json()["ticket"]
    # Expiry is the cache dropping the entry: what consume sees once 30 s have passed.
    cache.delete(tickets._PREFIX + ticket)

    assert tickets.consume(ticket) is None


def test_ws_ticket_requires_authentication(db):
    assert_error(APIClient().post(TICKET), 401, "not_authenticated")
    assert not RateLimitLog.objects.exists()


def test_display_names_lose_their_bidi_controls(api, alice, db):
    # "file\u202egnp.exe" would show as "fileexe.png" beside other text.
    changed = api(alice).patch(ME, {"display_name": "Alice\u202egnp.exe\u2066x\u2069"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["display_name"] == "Alicegnp.exex"
    alice.refresh_from_db()
    assert alice.display_name == "Alicegnp.exex"
    created = register(username="mallory", password="correct horse battery staple", display_name="\u202eyrollam")
    assert created.status_code == 201, created.content
    assert User.objects.get(username="mallory").display_name == "yrollam"


def test_the_people_i_blocked_are_listed_for_me_only(api, alice, bob, carol):
    api(alice).post(f"{USERS}{bob.pk}/block/")
    api(alice).post(f"{USERS}{carol.pk}/block/")
    api(bob).post(f"{USERS}{carol.pk}/block/")

    listed = api(alice).get(f"{USERS}blocked/")

    assert listed.status_code == 200, listed.content
    assert [item["user"]["username"] for item in listed.json()] == ["carol", "bob"]  # the most recent first
    assert all(item["blocked_at"] for item in listed.json())
    api(alice).delete(f"{USERS}{carol.pk}/block/")
    assert [item["user"]["username"] for item in api(alice).get(f"{USERS}blocked/").json()] == ["bob"]
    assert api(carol).get(f"{USERS}blocked/").json() == []
    assert_error(APIClient().get(f"{USERS}blocked/"), 401, "not_authenticated")


def test_blocking_is_metered_like_other_settings(api, alice, bob, settings):
    settings.CHAT_RATE_LIMITS = {"settings": "1/m"}
    assert api(alice).post(f"{USERS}{bob.pk}/block/").status_code == 204
    assert_error(api(alice).delete(f"{USERS}{bob.pk}/block/"), 429, "rate_limited")
