"""The benchmark's own parts work (``make bench`` must not rot): the load tool
against a real chatsite daphne and a real bare Channels daphne, counting every
delivery, and the report's table and plot. Nothing here asserts a speed:
speed is shown by ``make bench`` (docs/performance.md), never by a test."""

import asyncio
import os
import time

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from bench.load import Bench
from bench.plot import plot
from bench.run import bare_rooms, table
from chat.tests import live
from chat.tests.factories import group_room

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def daphne(tmp_path, django_db_setup):
    from django.conf import settings
    from django.db import connection

    env = live.server_env(
        database=live.database_url(connection.settings_dict), redis=settings.REDIS_URL, tmp=tmp_path,
        CHAT_RATE_LIMITS="message.send=1000/10s",
    )
    (server,) = live.start_daphnes(["bench-chatsite"], env=env, tmp=tmp_path)
    yield server
    server.stop()


@pytest.fixture
def bare_daphne(tmp_path):
    from django.conf import settings

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.bare.settings", "REDIS_URL": settings.REDIS_URL}
    server = live.Server(
        "bench-bare",
        [live.sys.executable, "-m", "daphne", "-b", live.HOST, "-p", str(port := live.free_port()), "bench.bare.asgi:application"],
        log_path=tmp_path / "bare.log", env=env, cwd=live.PROJECT_DIR,
    ).start()
    live.wait_until(lambda: live.port_open(port), what="bare daphne", servers=[server])
    server.port = port
    yield server
    server.stop()


def ramp(bench: Bench, rooms: list[dict]) -> dict:
    return asyncio.run(
        bench.ramp(rooms=rooms, start_rate=2.0, step_seconds=1.5, grace=1.5, max_steps=2, deadline=time.monotonic() + 60)
    )


def assert_every_delivery_counted(result: dict, rooms: int, members: int) -> None:
    assert len(result["steps"]) == 2, result
    for step in result["steps"]:
        assert step["messages_sent"] > 0 and step["send_errors"] == 0, step
        assert step["expected"] == step["messages_sent"] * (members - 1), step
        assert step["delivered"] == step["expected"] and step["lost"] == 0, step
        assert 0 < step["p50_ms"] <= step["p99_ms"] <= step["max_ms"], step
    assert result["held"] == result["steps"][-1]


def test_load_tool_against_chatsite_counts_every_delivery(daphne, make_user):
    people = [make_user(username=f"b{i}") for i in range(6)]
    rooms = [group_room(*people[:3], name="one"), group_room(*people[3:], name="two")]
    data_rooms = [
        {"id": str(room.pk), "members": [{"id": str(m.user_id), "access": str(AccessToken.for_user(m.user))} for m in room.members.all()]}
        for room in rooms
    ]
    bench = Bench(base=daphne.url, protocol="chatsite", data=None, server_pid=daphne.process.pid)

    result = ramp(bench, data_rooms)

    assert_every_delivery_counted(result, rooms=2, members=3)
    assert result["steps"][1]["rate_per_room"] == pytest.approx(3.0)  # the ramp grows ×1.5
    idle = asyncio.run(bench.idle(members=data_rooms[0]["members"], room=data_rooms[0]["id"]))
    assert idle["sockets"] == 3 and idle["rss_after_kib"] > 0


def test_load_tool_against_the_bare_consumer(bare_daphne):
    bench = Bench(base=f"http://{live.HOST}:{bare_daphne.port}", protocol="bare", data=None, server_pid=bare_daphne.process.pid)

    result = ramp(bench, bare_rooms("2x3"))

    assert_every_delivery_counted(result, rooms=2, members=3)


def test_report_table_and_plot(tmp_path):
    step = {"delivered_per_s": 900.0, "p99_ms": 20.0, "lost": 0, "rate_per_room": 1.0}
    failed = {"delivered_per_s": 500.0, "p99_ms": 400.0, "lost": 3, "rate_per_room": 1.0}
    report = {
        "chatsite": {"workloads": {"50x10": {"steps": [step], "held": step}, "5x200": {"steps": [step], "held": step}}, "idle": {"kib_per_socket": 9.5}},
        "bare": {"workloads": {"50x10": {"steps": [step, failed], "held": {**step, "delivered_per_s": 300.0}}, "5x200": {"steps": [failed], "held": None}}, "idle": {"kib_per_socket": 40.0}},
        "history": {"latency": {"room list (1000 rooms)": {"p50_ms": 10, "p99_ms": 20, "count": 300}}},
    }

    text = table(report)
    plot(report, tmp_path / "plot.png")

    assert "| chatsite (full product path) | 900 (p99 20 ms) | 900 (p99 20 ms) | 9.5 |" in text
    assert "none held (p99 400.0 ms, lost 3 at the first step)" in text
    assert "50x10: 3.0×" in text and "5x200: bare held no step" in text
    assert "| room list (1000 rooms) | 10 | 20 | 300 |" in text
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")


def test_benchmark_data_is_made_through_the_commands(db):
    from bench.setup_data import create

    from chat.models import ChatMember, ChatRoom

    made = create(6, {"2x3": (2, 3)})

    assert len(made["users"]) == 6 and all(user["access"] for user in made["users"])
    rooms = made["workloads"]["2x3"]
    assert len(rooms) == 2
    for room in rooms:
        assert ChatMember.objects.filter(room_id=room["id"], is_active=True).count() == 3
        assert ChatRoom.objects.get(pk=room["id"]).seq > 3  # three member.added and the "created" line


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_history_data_at_size_is_made_through_the_commands():
    from bench.history import prepare

    from chat.models import ChatMessage, ChatRoom, RoomEvent

    made = prepare(messages=50, rooms=3)

    history = ChatRoom.objects.get(pk=made["history_room"])
    first, last = made["history_seq"]
    assert ChatMessage.objects.filter(room=history, message_type="text").count() == 50
    assert RoomEvent.objects.filter(room=history, seq__range=(first, last)).count() == last - first + 1
    assert history.seq == last
    assert made["rooms"] == 4
