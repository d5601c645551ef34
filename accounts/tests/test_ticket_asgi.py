"""``POST /api/auth/ws-ticket/`` answered before Django (accounts/ticket_asgi.py):
the same answer as the REST view for a valid bearer token, and every other
request handed to the REST view unchanged."""

import json
import logging

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.core.asgi import get_asgi_application
from prometheus_client import REGISTRY

from accounts import sessions, tickets
from accounts.models import UserSession
from accounts.ticket_asgi import PATH, TicketEndpoint
from chat.tests.api_helpers import jwt_client
from chatsite.core.models import RateLimitLog

pytestmark = pytest.mark.django_db(transaction=True)

django_app = get_asgi_application()


class Spy:
    """The inner application, counting the requests handed to it."""

    def __init__(self, app=None):
        self.paths = []
        self.app = app or django_app

    async def __call__(self, scope, receive, send):
        self.paths.append(scope["path"])
        await self.app(scope, receive, send)


async def post(app, token: str | None = None, *, headers=(), host: bytes = b"127.0.0.1:8000"):
    headers = [(b"host", host), *headers]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return await HttpCommunicator(app, "POST", PATH, headers=headers).get_response(timeout=10)


def header_map(response) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in response["headers"]}


async def login(username: str) -> dict:
    return (await sync_to_async(jwt_client)(username))[1]


async def test_a_bearer_token_gets_its_ticket_without_django_and_the_same_answer(alice):
    tokens = await login("alice")
    spy = Spy()

    fast = await post(TicketEndpoint(spy), tokens["access"])
    slow = await post(django_app, tokens["access"])

    assert spy.paths == []  # answered before Django
    assert fast["status"] == slow["status"] == 201
    fast_body, slow_body = json.loads(fast["body"]), json.loads(slow["body"])
    assert set(fast_body) == set(slow_body) == {"ticket", "expires_in"}
    assert fast_body["expires_in"] == slow_body["expires_in"] == 30
    fast_headers, slow_headers = header_map(fast), header_map(slow)
    assert set(fast_headers) == set(slow_headers), (fast_headers, slow_headers)
    for name in set(slow_headers) - {b"content-length", b"x-request-id"}:
        assert fast_headers[name] == slow_headers[name], name
    assert int(fast_headers[b"content-length"]) == len(fast["body"])
    # The ticket is a working one, of this user and this API session, once.
    sid = str(await UserSession.objects.filter(user=alice).values_list("pk", flat=True).aget())
    assert await sync_to_async(tickets.redeem)(fast_body["ticket"]) == (str(alice.pk), sid)
    assert await sync_to_async(tickets.redeem)(fast_body["ticket"]) is None


async def test_the_fast_answer_is_logged_counted_and_carries_the_request_id(alice, caplog):
    tokens = await login("alice")
    caplog.set_level(logging.INFO, logger="chatsite.request")

    labels = {"route": "auth-ws-ticket", "method": "POST", "status": "201"}
    before = REGISTRY.get_sample_value("chat_http_requests_total", labels) or 0

    response = await post(TicketEndpoint(Spy()), tokens["access"], headers=[(b"x-request-id", b"storm-42")])

    assert response["status"] == 201
    assert header_map(response)[b"x-request-id"] == b"storm-42"
    assert REGISTRY.get_sample_value("chat_http_requests_total", labels) == before + 1
    [line] = [r for r in caplog.records if r.name == "chatsite.request" and r.fields["route"] == "api/auth/ws-ticket/"]
    assert line.fields == {
        "event": "http.request", "method": "POST", "route": "api/auth/ws-ticket/", "status": 201,
        "duration_ms": line.fields["duration_ms"], "user_id": str(alice.pk),
    }
    assert line.request_id == "storm-42"


@pytest.mark.parametrize("token", [None, "not-a-token", "eyJhbGciOiJIUzI1NiJ9.e30.xxxx"])
async def test_no_or_a_bad_token_is_answered_by_the_rest_view(db, token):
    spy = Spy()

    response = await post(TicketEndpoint(spy), token)

    assert spy.paths == [PATH]
    assert response["status"] == 401
    assert json.loads(response["body"])["code"] in {"not_authenticated", "token_not_valid"}


async def test_an_ended_session_or_an_inactive_user_is_answered_by_the_rest_view(alice):
    tokens = await login("alice")
    session = await UserSession.objects.filter(user=alice).aget()
    await sync_to_async(sessions.user_session_revoke)(user=alice, session_id=session.pk, current_id=None)
    spy = Spy()

    ended = await post(TicketEndpoint(spy), tokens["access"])

    assert spy.paths == [PATH] and ended["status"] == 401
    assert json.loads(ended["body"])["code"] == "session_ended"

    tokens = await login("alice")
    alice.is_active = False
    await alice.asave(update_fields=["is_active"])
    inactive = await post(TicketEndpoint(spy), tokens["access"])
    assert spy.paths == [PATH, PATH] and inactive["status"] == 401


async def test_past_the_rate_the_rest_view_refuses_and_logs_it(alice, settings):
    settings.CHAT_RATE_LIMITS = {"ws.connect": "2/m"}
    tokens = await login("alice")
    spy = Spy()
    app = TicketEndpoint(spy)

    answers = [await post(app, tokens["access"]) for _ in range(3)]

    assert [a["status"] for a in answers] == [201, 201, 429]
    assert spy.paths == [PATH]  # only the refusal went through Django
    assert header_map(answers[2])[b"retry-after"]
    row = await RateLimitLog.objects.aget(event_type="ws.connect")
    assert row.user_id == alice.pk


async def test_what_the_rest_view_would_refuse_is_left_to_it(alice, settings):
    """A lowercase scheme, a host not served, plain HTTP where HTTPS is required:
    the REST view answers, as it always did."""
    tokens = await login("alice")
    spy = Spy()
    app = TicketEndpoint(spy)

    lowercase = await HttpCommunicator(
        app, "POST", PATH, headers=[(b"host", b"127.0.0.1"), (b"authorization", f"bearer {tokens['access']}".encode())]
    ).get_response(timeout=10)
    foreign = await post(app, tokens["access"], host=b"evil.example")
    settings.SECURE_SSL_REDIRECT = True
    redirecting = Spy(get_asgi_application())  # its SecurityMiddleware reads the setting when built
    plain = await post(TicketEndpoint(redirecting), tokens["access"])

    assert spy.paths == [PATH, PATH] and redirecting.paths == [PATH]  # all three went to Django
    assert (lowercase["status"], foreign["status"], plain["status"]) == (401, 400, 301)


async def test_a_token_with_an_empty_session_gets_no_ticket(alice):
    from rest_framework_simplejwt.tokens import AccessToken

    token = await sync_to_async(AccessToken.for_user)(alice)
    token[sessions.SID_CLAIM] = ""
    spy = Spy()

    response = await post(TicketEndpoint(spy), str(token))

    assert spy.paths == [PATH] and response["status"] == 401
