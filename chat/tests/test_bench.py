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


# --- the overload run (bench/overload.py) ---------------------------------------
def overload_daphne(tmp_path, **extra):
    from django.conf import settings
    from django.db import connection

    env = live.server_env(
        database=live.database_url(connection.settings_dict), redis=settings.REDIS_URL, tmp=tmp_path,
        CHAT_RATE_LIMITS="message.send=1000/10s", **extra,
    )
    (server,) = live.start_daphnes(["overload"], env=env, tmp=tmp_path)
    return server


def overload_rooms(make_user) -> list[dict]:
    people = [make_user(username=f"o{i}") for i in range(6)]
    rooms = [group_room(*people[:3], name="one"), group_room(*people[3:], name="two")]
    return [
        {"id": str(room.pk), "members": [{"id": str(m.user_id), "access": str(AccessToken.for_user(m.user))} for m in room.members.all()]}
        for room in rooms
    ]


def run_overload(server, rooms, monkeypatch, *, retries: int) -> dict:
    from argparse import Namespace

    from django.db import connection

    from bench.overload import one_run

    monkeypatch.setenv("BENCH_DATABASE_URL", live.database_url(connection.settings_dict))
    args = Namespace(before=1.0, overload=2.0, after=2.0, settle=20.0, retries=retries)
    # "held" 12 deliveries/s over 2 rooms of 3: 3 messages/s a room, then 12, then 3.
    return asyncio.run(one_run(base=server.url, server_pid=server.process.pid, rooms=rooms, held=12, args=args))


def test_overload_run_checks_every_acknowledged_message_against_members_and_database(tmp_path, make_user, monkeypatch):
    rooms = overload_rooms(make_user)
    server = overload_daphne(tmp_path)
    try:
        result = run_overload(server, rooms, monkeypatch, retries=0)
    finally:
        server.stop()

    assert result["rates_per_room"] == [1.5, 6.0, 1.5]
    # Every send is answered: stored, or refused (a busy CI machine may shed a few).
    assert result["offered_messages"] >= 15 and result["acknowledged"] + result["given_up"] == result["offered_messages"]
    assert result["acknowledged"] > 0 and result["acknowledged_in_database"] == result["acknowledged"]
    assert result["expected_deliveries"] == 2 * result["acknowledged"]  # rooms of 3: two others each
    assert (result["missing_deliveries"], result["duplicate_deliveries"]) == (0, 0)
    assert result["rss_kib_max_overload"] > 0
    assert len(result["series"]) == 5 and sum(s["sent"] for s in result["series"]) == result["offered_messages"]


def test_overload_run_counts_refusals_and_retries_them_like_the_browser(tmp_path, make_user, monkeypatch):
    rooms = overload_rooms(make_user)
    # A process whose database queue is always "too long": every WebSocket write is
    # refused as overloaded (HTTP, which the tickets need, is not measured by it).
    server = overload_daphne(tmp_path, CHAT_OVERLOAD_DB_QUEUE="-1")
    try:
        result = run_overload(server, rooms, monkeypatch, retries=1)
    finally:
        server.stop()

    offered = result["offered_messages"]
    assert offered > 0 and result["acknowledged"] == 0 and result["acknowledged_in_database"] == 0
    assert result["answer_codes"] == {"overloaded": 2 * offered}  # the first try and one retry each
    assert result["retries"] == offered and result["given_up"] == offered
    assert result["recovered_after_s"] is None  # it never stops shedding


def test_overload_report_table():
    from bench.overload import markdown

    run = {
        "offered_messages": 1000, "acknowledged": 800, "shed_answers": 200, "retries": 0, "given_up": 200,
        "missing_deliveries": 0, "duplicate_deliveries": 0, "expected_deliveries": 7200, "acknowledged_in_database": 800,
        "latency_before": {"p99_ms": 30.0}, "latency_overload": {"p99_ms": 110.0}, "latency_after_last_10s": {"p99_ms": 35.0},
        "rss_kib_before": 102400, "rss_kib_max_overload": 104448, "rss_kib_end": 104448, "recovered_after_s": 1,
    }
    text = markdown({"runs": {"50x10:on": run, "50x10:off": {**run, "recovered_after_s": None}}})
    assert "| 50x10 | on | 1,000 → 800 (200, 0, 200) | 0 / 0 of 7,200 | 800 | 30.0 / 110.0 / 35.0 ms | 100 → 102 → 102 | 1 s |" in text
    assert text.strip().endswith("| never |")
