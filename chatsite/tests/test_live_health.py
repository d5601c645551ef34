"""Health and logs under a real daphne (chat/tests/live.py starts the servers).

- /readyz follows a Redis of the test's own: 200, then 503 naming redis and the
  channel layer once it is stopped (each probe answered within ~2 s), then 200
  again once it is back on the same port; /healthz answers throughout.
- Real traffic that carries known secrets — a password (right and wrong), JWTs,
  a WebSocket ticket, session and CSRF cookies, message contents, a token in a
  path — leaves none of them in the server's log, at DEBUG for every logger,
  in both formats; the request and socket lines are there.
"""

import asyncio
import http.cookiejar
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from chat.tests import live
from chat.tests.factories import group_room

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

PROBE_TIMEOUT = 2.5  # seconds: the most one /readyz may take, whatever is down


def start_daphne(name: str, *, env: dict, tmp) -> live.Daphne:
    """daphne as docs/deploy.md runs it (``-v 0``: chatsite writes the request lines)."""
    server = live.Daphne(name, env=env, tmp=tmp).start()
    try:
        live.wait_until(lambda: live.answers_http(server.url, "/healthz"), what=name, servers=[server])
    except BaseException:
        server.stop()
        raise
    return server


def probe(url: str) -> tuple[int | None, dict | None, float]:
    started = time.monotonic()
    status, body = live.http("GET", url, timeout=10)
    return status, body, time.monotonic() - started


def database_env(tmp, redis_url: str, **extra) -> dict:
    from django.db import connection

    return live.server_env(database=live.database_url(connection.settings_dict), redis=redis_url, tmp=tmp, **extra)


# --- readiness follows Redis ------------------------------------------------------------------
def test_readyz_goes_503_when_redis_stops_and_200_when_it_returns(tmp_path, make_user):
    from rest_framework_simplejwt.tokens import RefreshToken

    access = str(RefreshToken.for_user(make_user(username="alice")).access_token)
    redis = live.start_redis(tmp=tmp_path / "redis")
    server = None
    runner = asyncio.Runner()  # the client socket's loop, run between the blocking probes
    try:
        env = database_env(tmp_path, redis.url, DJANGO_LOG_FORMAT="json")
        server = start_daphne("daphne-ready", env=env, tmp=tmp_path)
        readyz, healthz = f"{server.url}/readyz", f"{server.url}/healthz"

        status, body, took = probe(readyz)
        assert status == 200, body
        assert body["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok", "channel_layer": "ok"}
        timings = [probe(readyz)[2] for _ in range(20)]
        print(f"readyz with everything up: median {sorted(timings)[10] * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms")

        # A worker's heartbeat turns the warning off.
        worker = subprocess.run(
            [sys.executable, "manage.py", "notification_worker", "--once"],
            env=env, cwd=live.PROJECT_DIR, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert worker.returncode == 0, worker.stderr
        status, body, _ = probe(readyz)
        assert body["worker"]["status"] == "ok" and "warnings" not in body, body

        # A socket open when Redis goes: closed with 4012, and its close line says so.
        status, ticket = live.http("POST", f"{server.url}/api/auth/ws-ticket/", token=access)
        assert status == 201, ticket
        socket = runner.run(live.Socket.open(server.ws_url, ticket["ticket"], name="alice"))

        redis.stop()
        stopped = time.monotonic()
        for _ in range(50):
            status, body, took = probe(readyz)
            assert took < PROBE_TIMEOUT, f"a probe took {took:.2f}s with Redis stopped"
            if status == 503:
                break
            time.sleep(0.1)
        print(f"readyz 503 {time.monotonic() - stopped:.2f}s after Redis stopped (that probe: {took * 1000:.0f} ms)")
        assert status == 503, body
        assert {"redis", "channel_layer"} <= set(body["failing"]), body
        assert body["checks"]["database"] == "ok"
        assert str(redis.port) not in json.dumps(body) and live.HOST not in json.dumps(body)
        assert probe(healthz)[0] == 200  # alive, only not ready
        closed = runner.run(socket.wait_closed())
        assert closed.rcvd is not None and closed.rcvd.code == 4012, closed

        redis.start_and_wait()  # the same port
        back = time.monotonic()
        for _ in range(100):
            status, body, took = probe(readyz)
            assert took < PROBE_TIMEOUT
            if status == 200:
                break
            time.sleep(0.1)
        print(f"readyz 200 again {time.monotonic() - back:.2f}s after Redis returned")
        assert status == 200, body
        assert time.monotonic() - back < 10
        assert server.alive
    finally:
        runner.close()
        if server is not None:
            server.stop()
        redis.stop()
    log = server.log_path.read_text()
    not_ready = [json.loads(line) for line in log.splitlines() if '"not ready' in line]
    assert not_ready and not_ready[0]["logger"] == "chatsite.health", log[-2000:]
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    closes = [line for line in lines if line.get("event") == "websocket.close"]
    assert [(line["code"], line["user_id"]) for line in closes] == [(4012, closes[0]["user_id"])] and closes[0]["user_id"]
    assert "Traceback" not in log, log[-3000:]


# --- no secrets in the logs ------------------------------------------------------------------
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def form_login(base_url: str, username: str, password: str) -> dict[str, str]:
    """The browser's sign-in form: a CSRF cookie and the same token in the form
    (the page itself needs collectstatic's manifest), then the session cookie
    used on the API; the cookies the browser would hold."""
    import secrets
    import string

    csrf = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar), NoRedirect())
    data = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf}).encode()
    request = urllib.request.Request(f"{base_url}/accounts/login/", data=data, headers={"Cookie": f"csrftoken={csrf}"})
    try:
        opener.open(request, timeout=10)
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 302, redirect.read()[:500]
    cookies = {cookie.name: cookie.value for cookie in jar}
    assert "sessionid" in cookies, cookies
    me = urllib.request.Request(f"{base_url}/api/auth/me/", headers={"Cookie": f"sessionid={cookies['sessionid']}; csrftoken={csrf}"})
    with opener.open(me, timeout=10) as response:
        assert json.loads(response.read())["username"] == username
    return {"sessionid": cookies["sessionid"], "csrftoken": csrf}


@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_no_password_token_ticket_cookie_or_content_reaches_the_logs(tmp_path, make_user, log_format, settings):
    # The server checks passwords with the real hashers, not the tests' fast one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    password = "Pw-zebra-4417-quartz"
    alice = make_user(username="alice", display_name="Alice")
    alice.set_password(password)
    alice.save()
    bob = make_user(username="bob", display_name="Bob")
    room = group_room(alice, bob)
    env = database_env(
        tmp_path, settings.REDIS_URL, DJANGO_LOG_FORMAT=log_format, DJANGO_LOG_LEVEL="DEBUG",
        DJANGO_SECURE_COOKIES="0", CHAT_RATE_LIMITS_ENABLED="0",
    )  # fmt: skip
    server = start_daphne(f"daphne-{log_format}", env=env, tmp=tmp_path)
    secrets: dict[str, str] = {"password": password, "wrong password": "Wrong-pw-8812-tulip"}
    try:
        status, _ = live.http("POST", f"{server.url}/api/auth/token/", body={"username": "alice", "password": secrets["wrong password"]})
        assert status == 401
        status, tokens = live.http("POST", f"{server.url}/api/auth/token/", body={"username": "alice", "password": password})
        assert status == 200, tokens
        secrets["access token"], secrets["refresh token"] = tokens["access"], tokens["refresh"]
        status, refreshed = live.http("POST", f"{server.url}/api/auth/token/refresh/", body={"refresh": tokens["refresh"]})
        assert status == 200, refreshed
        secrets["rotated refresh token"] = refreshed["refresh"]
        access = refreshed["access"]
        secrets["rest content"] = "rest-content-quokka-5521"
        status, message = live.http(
            "POST", f"{server.url}/api/rooms/{room.pk}/messages/", token=access,
            body={"content": secrets["rest content"], "client_msg_id": "live-1"},
        )  # fmt: skip
        assert status == 201, message
        status, ticket = live.http("POST", f"{server.url}/api/auth/ws-ticket/", token=access)
        assert status == 201, ticket
        secrets["ticket"] = ticket["ticket"]
        secrets["socket content"] = "socket-content-narwhal-7734"
        asyncio.run(_socket_session(server, ticket["ticket"], str(room.pk), secrets["socket content"]))

        cookies = form_login(server.url, "alice", password)
        secrets["session cookie"], secrets["csrf cookie"] = cookies["sessionid"], cookies["csrftoken"]

        # An invite code is a secret in a path; an unknown one is a 404 that
        # Django also warns about ("Not Found: …").
        secrets["code in a path"] = "invite-code-walrus-9021"
        status, _ = live.http("GET", f"{server.url}/api/invites/{secrets['code in a path']}/", token=access)
        assert status == 404
        status, _ = live.http("GET", f"{server.url}/api/rooms/", token="not.a-valid.jwt-ibis-3390")
        assert status == 401
        secrets["bad token"] = "not.a-valid.jwt-ibis-3390"
        request = urllib.request.Request(f"{server.url}/api/auth/me/", headers={"X-Request-ID": "live-req-42", "Authorization": f"Bearer {access}"})
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as response:
            assert response.headers["X-Request-ID"] == "live-req-42"
    finally:
        server.stop()

    log = server.log_path.read_text()
    leaked = {what: value for what, value in secrets.items() if value in log}
    assert not leaked, f"in the log: {sorted(leaked)}"
    # The lines that should be there are (so the test can fail): DEBUG reached
    # the log, each request and the socket have their line.
    assert " DEBUG " in log or '"level": "DEBUG"' in log
    assert "Not Found: api/invites/<str:code>/" in log  # Django's warning, with the route for the path
    if log_format == "json":
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        requests = [line for line in lines if line.get("event") == "http.request"]
        routes = {(line["method"], line["route"], line["status"]) for line in requests}
        assert ("POST", "api/auth/token/", 200) in routes and ("POST", "api/auth/token/", 401) in routes, routes
        assert any(line["route"].startswith("api/rooms/") and line["status"] == 201 for line in requests), routes
        me = [line for line in requests if line["request_id"] == "live-req-42"]
        assert me and me[0]["user_id"] == str(alice.pk) and me[0]["route"] == "api/auth/me/"
        events = {line.get("event") for line in lines}
        assert {"websocket.open", "websocket.close"} <= events
        closed = next(line for line in lines if line.get("event") == "websocket.close")
        assert closed["code"] == 1000 and closed["frames_in"] >= 1 and closed["user_id"] == str(alice.pk)
    else:
        assert re.search(r"INFO chatsite\.request \[[0-9a-f]{32}\] POST api/auth/token/ 200 ", log), log[-3000:]
        assert "INFO chatsite.request [live-req-42] GET api/auth/me/ 200 " in log
        assert re.search(r"INFO chatsite\.websocket \[\S+\] websocket close /ws/chat/ code=1000 in=\d+ out=\d+", log)


async def _socket_session(server, ticket: str, room_id: str, content: str) -> None:
    socket = await live.Socket.open(server.ws_url, ticket, name="alice")
    try:
        ack = await socket.request({"type": "message.send", "ref": "s1", "room": room_id, "content": content, "client_msg_id": "ws-1"})
        assert ack["type"] == "ack", ack
    finally:
        await socket.close()
    await asyncio.sleep(0.3)  # the server's close line
