"""One structured line per request and per WebSocket session
(chatsite/core/request_log.py), written by the real handler setup of
settings.LOGGING (chatsite/core/logs.py). The live test
(test_live_health.py) greps a real daphne's logs for secrets."""

import io
import json
import logging
import logging.config
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient, Client

from accounts import tickets
from chat.tests.factories import group_room
from chatsite.asgi import application
from chatsite.core import logs, request_log

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def log_lines(settings):
    """The lines settings.LOGGING's console handler would write, in a buffer,
    at DEBUG for every logger; ``log_lines()`` parses them (JSON format)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RequestIdFilter())
    handler.addFilter(logs.PathRedactingFilter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("django", "chatsite", "chat")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)

    def read(**match):
        lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
        return [line for line in lines if all(line.get(key) == value for key, value in match.items())]

    read.text = stream.getvalue
    yield read
    root.removeHandler(handler)
    root.setLevel(previous)
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def jwt(user) -> str:
    from rest_framework_simplejwt.tokens import RefreshToken

    return str(RefreshToken.for_user(user).access_token)


def test_a_request_is_one_line_with_route_status_duration_user_and_request_id(alice, log_lines):
    room = group_room(alice)
    response = Client().get(f"/api/rooms/{room.pk}/", headers={"authorization": f"Bearer {jwt(alice)}"})
    assert response.status_code == 200
    request_id = response["X-Request-ID"]
    (line,) = log_lines(logger="chatsite.request")
    assert line["event"] == "http.request"
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["user_id"] == str(alice.pk)
    assert line["request_id"] == request_id and len(request_id) == 32
    assert isinstance(line["duration_ms"], float)
    # The URL pattern, never the path with its ids.
    assert "<" in line["route"] and str(room.pk) not in json.dumps(line)
    assert line["route"].startswith("api/rooms/")


def test_the_proxys_request_id_is_kept_and_a_malformed_one_replaced(log_lines):
    kept = Client().get("/api/rooms/", headers={"x-request-id": "edge-1234:abc"})
    assert kept.status_code == 401 and kept["X-Request-ID"] == "edge-1234:abc"
    forged = Client().get("/api/rooms/", headers={"x-request-id": "evil\n{\"status\": 200} " + "x" * 200})
    assert forged["X-Request-ID"] != "" and "evil" not in forged["X-Request-ID"]
    lines = log_lines(logger="chatsite.request")
    assert [line["request_id"] for line in lines] == ["edge-1234:abc", forged["X-Request-ID"]]
    assert [line["user_id"] for line in lines] == [None, None]
    assert "evil" not in log_lines.text()


def test_other_lines_of_the_request_carry_its_id_and_name_no_raw_path(log_lines):
    secret_path = "/notifications/unsubscribe/not-a-valid-token-SECRET123/"
    response = Client().get("/api/no-such-thing-SECRET456/")
    assert response.status_code == 404
    request_id = response["X-Request-ID"]
    warning = [line for line in log_lines(logger="django.request") if line["request_id"] == request_id]
    assert warning and warning[0]["message"] == "Not Found: -"
    Client().get(secret_path)
    assert "SECRET123" not in log_lines.text() and "SECRET456" not in log_lines.text()


async def test_probes_are_logged_at_debug_with_their_route(log_lines):
    response = await AsyncClient().get("/healthz")
    (line,) = log_lines(logger="chatsite.request")
    assert (line["level"], line["route"], line["status"]) == ("DEBUG", "healthz", 200)
    assert line["request_id"] == response["X-Request-ID"]


async def test_a_websocket_session_logs_open_and_close_with_code_and_frame_counts(alice, log_lines):
    room = await sync_to_async(group_room)(alice)
    ticket = await sync_to_async(tickets.issue)(alice)
    ws = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}", headers=[(b"x-request-id", b"ws-req-1")])
    connected, _ = await ws.connect(timeout=5)
    assert connected
    await ws.receive_json_from(timeout=5)  # hello
    content = "a secret message body 8c1f"
    await ws.send_json_to({"type": "message.send", "ref": "r1", "room": str(room.pk), "content": content, "client_msg_id": "c1"})
    await ws.send_json_to({"type": "ping", "ref": "p1"})
    for _ in range(10):
        frame = await ws.receive_json_from(timeout=5)
        if frame["type"] == "pong":
            break
    await ws.disconnect(code=4321)
    await ws.wait(timeout=5)
    (opened,) = log_lines(logger="chatsite.websocket", event="websocket.open")
    (closed,) = log_lines(logger="chatsite.websocket", event="websocket.close")
    assert opened["user_id"] == closed["user_id"] == str(alice.pk)
    assert opened["request_id"] == closed["request_id"] == "ws-req-1"
    assert opened["route"] == "/ws/chat/"
    assert closed["code"] == 4321 and closed["opened"] is True
    assert closed["frames_in"] == 2
    assert closed["frames_out"] >= 3  # hello, the ack (and the event), pong
    assert closed["duration_ms"] > 0
    text = log_lines.text()
    assert content not in text and ticket not in text


async def test_a_refused_handshake_is_logged_with_its_reason(log_lines):
    ws = WebsocketCommunicator(application, "/ws/chat/?ticket=nope-SECRET789")
    connected, _ = await ws.connect(timeout=5)
    assert not connected
    (refused,) = log_lines(logger="chatsite.websocket", event="websocket.refused")
    assert (refused["reason"], refused["route"]) == ("ticket", "/ws/chat/")
    assert not log_lines(event="websocket.open")
    assert "SECRET789" not in log_lines.text()


def test_the_plain_format_names_the_request_id():
    record = logging.LogRecord("chatsite.request", logging.INFO, __file__, 1, "GET %s", ("x/",), None)
    token = logs.request_id_var.set("abc123")
    try:
        text = logs.PlainFormatter().format(record)
    finally:
        logs.request_id_var.reset(token)
    assert text.endswith("INFO chatsite.request [abc123] GET x/")


def test_request_ids_from_headers():
    assert request_log.request_id_from("0123abcd") == "0123abcd"
    assert request_log.request_id_from(b"Root=1-5759e988-bd862e3fe1be46a994272793") == "Root=1-5759e988-bd862e3fe1be46a994272793"
    for bad in (None, "", "has space", "x" * 129, "new\nline", "quote\""):
        generated = request_log.request_id_from(bad)
        assert len(generated) == 32 and generated != bad


@pytest.mark.parametrize("value,ok", [("json", True), ("plain", True), ("JSON", True), ("yaml", False)])
def test_the_log_format_is_checked_at_startup(value, ok, tmp_path):
    import os

    env = {**os.environ, "DJANGO_LOG_FORMAT": value, "CHAT_LOCAL_SECRETS_FILE": str(tmp_path / "s.json")}
    code = "import django; django.setup(); import logging; logging.getLogger('chatsite.x').warning('hello')"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    if ok:
        assert result.returncode == 0, result.stderr
        last = result.stderr.strip().splitlines()[-1]
        if value.lower() == "json":
            assert json.loads(last)["message"] == "hello"
        else:
            assert last.endswith("WARNING chatsite.x [-] hello")
    else:
        assert result.returncode != 0 and "DJANGO_LOG_FORMAT must be 'plain' or 'json'" in result.stderr


def test_uvicorn_lines_lose_their_query_string():
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]', ("127.0.0.1:5", "/ws/chat/?ticket=SECRET42"), None
    )
    logs.PathRedactingFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "WebSocket /ws/chat/?…" [accepted]'
