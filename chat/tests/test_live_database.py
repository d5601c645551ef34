"""PostgreSQL stops and comes back under a running daphne: requests are
answered 503 with a code at once (not a 500, not a hung request), WebSocket
sends get an error frame, nothing crashes, and when the database is back
everything works again — with every message acknowledged before the outage.

The test runs its own PostgreSQL (initdb into a temporary folder) so that it
can stop it; the rest of the suite's database is not touched.
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings

from chat.tests import live

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SETUP = """
import json
from accounts.models import Company, User
from chat.services import rooms
company = Company.objects.create(name="Outage Inc")
alice = User.objects.create_user(username="alice", password="pw-alice-123456", company=company, display_name="Alice")
bob = User.objects.create_user(username="bob", password="pw-bob-1234567", company=company, display_name="Bob")
room = rooms.room_create_group(creator=alice, name="Outage", members=[bob])
print(json.dumps({"room": str(room.pk)}))
"""


@pytest.fixture
def private_postgres():
    tmp = Path(tempfile.mkdtemp(prefix="chat-pg-", dir="/tmp"))
    os.chmod(tmp, 0o755)
    postgres = live.PrivatePostgres(tmp).init().start()
    try:
        yield postgres, tmp
    finally:
        try:
            postgres.stop()
        except Exception:  # noqa: BLE001 - already stopped by the test
            pass
        shutil.rmtree(tmp, ignore_errors=True)


def token(base_url: str, username: str, password: str) -> str:
    status, body = live.http("POST", f"{base_url}/api/auth/token/", body={"username": username, "password": password})
    assert status == 200, (status, body)
    return body["access"]


def test_postgres_stops_and_comes_back(private_postgres):
    postgres, tmp = private_postgres
    database = postgres.create_database("chat")
    env = live.server_env(database=database, redis=settings.REDIS_URL, tmp=tmp, CHAT_RATE_LIMITS_ENABLED="0")
    run = dict(env=env, cwd=live.PROJECT_DIR, capture_output=True, text=True, timeout=180)
    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], **run)
    assert migrated.returncode == 0, migrated.stderr
    made = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP], **run)
    assert made.returncode == 0, made.stderr
    room_id = json.loads(made.stdout.strip().splitlines()[-1])["room"]
    (server,) = live.start_daphnes(["outage"], env=env, tmp=tmp)
    try:
        asyncio.run(_outage(server, postgres, room_id))
        assert server.process.poll() is None, "daphne must survive the outage without a restart"
    finally:
        server.stop()
    log = (tmp / "outage.log").read_text()
    assert "Traceback" not in log, log[-3000:]


async def _outage(server, postgres, room_id):
    alice = token(server.url, "alice", "pw-alice-123456")
    bob = token(server.url, "bob", "pw-bob-1234567")
    messages = f"{server.url}/api/rooms/{room_id}/messages/"
    acknowledged = []
    for n in range(3):
        status, body = await live.ahttp("POST", messages, token=alice, body={"content": f"before {n}", "client_msg_id": f"b{n}"})
        assert status == 201, (status, body)
        acknowledged.append(body["id"])
    status, body = await live.ahttp("POST", f"{server.url}/api/auth/ws-ticket/", token=bob)
    socket = await live.Socket.open(server.ws_url, body["ticket"], name="bob")
    try:
        await asyncio.to_thread(postgres.stop)

        # REST: 503 with a code, at once.
        for url in (f"{server.url}/api/rooms/", messages):
            started = time.monotonic()
            status, body = await live.ahttp("GET", url, token=alice)
            took = time.monotonic() - started
            assert (status, body["code"]) == (503, "database_unavailable"), (status, body)
            assert took < 2.0, f"{url} took {took:.1f}s"
        # Readiness says so, naming the database, within its budget (chatsite/health.py).
        started = time.monotonic()
        status, body = await live.ahttp("GET", f"{server.url}/readyz")
        took = time.monotonic() - started
        assert status == 503 and "database" in body["failing"], (status, body)
        assert "redis" not in body["failing"], body
        assert took < 2.5, f"/readyz took {took:.1f}s"
        # The WebSocket: an error frame with a code; the socket stays.
        frame = {"type": "message.send", "ref": "during", "room": room_id, "content": "during", "client_msg_id": "d1"}
        error = await socket.request(frame, timeout=10)
        assert (error["type"], error["code"]) == ("error", "database_unavailable"), error

        await asyncio.to_thread(postgres.start)
        deadline = time.monotonic() + 10
        while True:
            status, body = await live.ahttp("GET", messages, token=alice)
            if status == 200:
                break
            assert time.monotonic() < deadline, f"not back within 10 s: {status} {body}"
            await asyncio.sleep(0.2)
        assert set(acknowledged) <= {message["id"] for message in body}  # nothing acknowledged was lost
        status, body = await live.ahttp("GET", f"{server.url}/readyz")
        assert status == 200, body

        # The same socket works again; the retry of the refused send is stored once.
        for _attempt in range(20):
            ack = await socket.request(frame, timeout=10)
            if ack["type"] == "ack":
                break
            await asyncio.sleep(0.25)
        assert ack["type"] == "ack" and ack["result"]["message"]["content"] == "during", ack
    finally:
        await socket.close()
