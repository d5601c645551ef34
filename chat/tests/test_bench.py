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
    bench = Bench(base=daphne.url, protocol="chatsite", data=None, server_pid=daphne.process.pid, presence_grace=None)

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

    assert "| chatsite on daphne (full product path) | 900 (p99 20 ms) | 900 (p99 20 ms) | 9.5 |" in text
    assert "none held (p99 400.0 ms, lost 3 at the first step)" in text
    assert "50x10: 3.0×" in text and "5x200: bare held no step" in text
    assert "| room list (1000 rooms) | 10 | 20 | 300 |" in text
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")


def test_report_shows_chatsite_on_daphne_and_on_uvicorn_side_by_side(tmp_path):
    step = {"delivered_per_s": 900.0, "p99_ms": 20.0, "lost": 0, "rate_per_room": 1.0}
    faster = {**step, "delivered_per_s": 1800.0, "p99_ms": 30.0}
    theirs = {**step, "delivered_per_s": 3000.0}
    report = {
        "chatsite": {"workloads": {"50x10": {"steps": [step], "held": step}, "5x200": {"steps": [step], "held": step}}, "idle": {"kib_per_socket": 50.0}},
        "chatsite_uvicorn": {"workloads": {"50x10": {"steps": [step, faster], "held": faster}, "5x200": {"steps": [step], "held": None}}, "idle": {"kib_per_socket": 46.5}},
        "sio": {"workloads": {"50x10": {"steps": [theirs], "held": theirs}, "5x200": {"steps": [theirs], "held": theirs}}, "idle": {"kib_per_socket": 40.0}},
    }

    text = table(report)
    plot(report, tmp_path / "plot.png")

    rows = [line for line in text.splitlines() if line.startswith(("| chatsite on", "| python-socketio"))]
    assert rows == [
        "| chatsite on daphne (full product path) | 900 (p99 20 ms) | 900 (p99 20 ms) | 50.0 |",
        "| chatsite on uvicorn (full product path) | 1,800 (p99 30 ms) | none held (p99 20.0 ms, lost 0 at the first step) | 46.5 |",
        "| python-socketio on uvicorn (AsyncRedisManager) | 3,000 (p99 20 ms) | 3,000 (p99 20 ms) | 40.0 |",
    ]
    assert "chatsite on daphne ÷ python-socketio: 50x10: 0.3×, 5x200: 0.3×" in text
    assert "chatsite on uvicorn ÷ python-socketio: 50x10: 0.6×" in text
    assert "Profile" not in text  # no profile taken, no section
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")


def test_servers_option_runs_chatsite_on_both_by_default_and_keeps_server_as_an_alias():
    from bench.run import parse_args

    both = parse_args([])
    assert both.servers == ["daphne", "uvicorn"] and "chatsite" in both.parts and not both.profile
    assert parse_args(["--only", "chatsite"]).servers == ["daphne", "uvicorn"]
    assert parse_args(["--only", "chatsite"]).parts == {"chatsite"}
    assert parse_args(["--server", "uvicorn"]).servers == ["uvicorn"]
    assert parse_args(["--server", "daphne", "--servers", "daphne"]).servers == ["daphne"]
    assert parse_args(["--servers", "uvicorn", "daphne", "uvicorn", "--profile"]).servers == ["uvicorn", "daphne"]
    assert parse_args(["--profile"]).profile
    with pytest.raises(SystemExit):
        parse_args(["--server", "daphne", "--servers", "uvicorn"])
    with pytest.raises(SystemExit):
        parse_args(["--servers", "hypercorn"])


# --- py-spy profiles (bench/profile.py) ---------------------------------------------
COLLAPSED = """\
0x7f00aa (libc.so.6);<module> (daphne/__main__.py:1);run (/usr/lib/python3.11/asyncio/runners.py:86);send (/work/x/.venv/lib/python3.11/site-packages/channels/consumer.py:3);handle (chat/realtime/consumer.py:120) 50
0x7f00bb (libc.so.6);<module> (daphne/__main__.py:1);run (/usr/lib/python3.11/asyncio/runners.py:86);handle (chat/realtime/consumer.py:120);message_send (chat/commands.py:40);execute (django/db/backends/utils.py:100) 30
0x7f00aa (libc.so.6);<module> (daphne/__main__.py:1);run (/usr/lib/python3.11/asyncio/runners.py:86);encrypt (chat/crypto.py:12);encrypt (chat/crypto.py:12) 15

_worker (concurrent/futures/thread.py:80);check (accounts/tickets.py:25);PyObject_Call (libpython3.11.so.1.0) 5
0x7f00aa (libc.so.6);_worker (concurrent/futures/thread.py:69);_queue_SimpleQueue_get_impl (_queuemodule.c:253);PyThread_acquire_lock_timed (libpython3.11.so.1.0);0x7f00dd (libc.so.6) 300
0x7f00aa (libc.so.6);run_forever (asyncio/base_events.py:593);select (selectors.py:468);select_epoll_poll_impl (selectmodule.c:1595);epoll_wait (libc.so.6) 40
0x7f00aa (libc.so.6);execute (psycopg/cursor.py:90);Connection.wait (psycopg/connection.py:479);0x7f0011 (psycopg_binary/_psycopg.so);pthread_cond_timedwait (libc.so.6);0x7f00ee (libc.so.6) 10
"""


def test_profile_summary_of_collapsed_stacks_by_self_and_inclusive_time(tmp_path):
    from bench.profile import ROOT, markdown, shorten, summarize

    raw = tmp_path / "profile.txt"
    raw.write_text(COLLAPSED.replace("chat/realtime/consumer.py:120) 50", f"{ROOT}/chat/realtime/consumer.py:118) 50"))

    summary = summarize(raw, top=25)

    assert summary["samples"] == 100 and summary["waiting"] == 350  # an idle worker, the event loop's poll, psycopg's wait
    own = {e["function"]: e["share"] for e in summary["self"]}
    assert own == {
        "handle (chat/realtime/consumer.py:118)": 0.5,  # the repository's path shortened, the lowest line kept
        "execute (django/db/backends/utils.py:100)": 0.3,
        "encrypt (chat/crypto.py:12)": 0.15,
        "PyObject_Call (libpython3.11.so.1.0)": 0.05,
    }
    inclusive = {e["function"]: e["share"] for e in summary["inclusive"]}
    assert inclusive["? (libc.so.6)"] == 0.95  # native addresses of one library are one entry
    assert inclusive["run (asyncio/runners.py:86)"] == 0.95
    assert inclusive["handle (chat/realtime/consumer.py:118)"] == 0.8
    assert inclusive["encrypt (chat/crypto.py:12)"] == 0.15  # recursion counts a stack once
    assert inclusive["send (channels/consumer.py:3)"] == 0.5  # shortened from site-packages
    assert summary["inclusive"][0]["share"] == 0.95 and summary["self"][0]["samples"] == 50
    project = [(e["function"], e["share"]) for e in summary["project_inclusive"]]
    assert project[:2] == [("handle (chat/realtime/consumer.py:118)", 0.8), ("message_send (chat/commands.py:40)", 0.3)]
    assert ("check (accounts/tickets.py:25)", 0.05) in project
    assert all(not name.startswith(("run ", "execute ")) for name, _ in project)
    assert len(summarize(raw, top=2)["self"]) == 2

    assert shorten("/srv/app/.venv/lib/python3.12/site-packages/django/db/models/query.py") == "django/db/models/query.py"
    assert shorten("/usr/local/lib/python3.12/asyncio/events.py") == "asyncio/events.py"
    text = markdown(summary, "Profile: test")
    assert "| 50.0 % | 50 | `handle (chat/realtime/consumer.py:118)` |" in text
    assert "100 samples of threads at work (py-spy); 350 of threads waiting" in text


def test_profile_tells_a_thread_that_waits_from_one_in_a_system_call():
    from bench.profile import parse_frame, waits

    def stack(text):
        return [parse_frame(frame) for frame in text.split(";")]

    assert waits(stack("_worker (concurrent/futures/thread.py:69);PyThread_acquire_lock_timed (libpython3.11.so.1.0);0x7f01 (libc.so.6)"))
    assert waits(stack("uv_run (core.c:1);uv__io_poll (linux.c:1);epoll_pwait (libc.so.6)"))
    assert not waits(stack("send (chat/x.py:1);sock_send_impl (socketmodule.c:1);0x7f02 (libc.so.6)"))  # a send is work
    assert not waits(stack("_worker (concurrent/futures/thread.py:69);PyThread_acquire_lock_timed (libpython3.11.so.1.0)"))
    assert not waits(stack("deliver (chat/realtime/layer.py:394)"))


def test_report_profile_section_lists_the_projects_functions_and_the_hottest_overall(tmp_path):
    from bench.profile import summarize

    raw = tmp_path / "profile.txt"
    raw.write_text(COLLAPSED)
    summary = {**summarize(raw), "seconds": 12.0, "summary": "bench/results/profile-daphne-50x10.md"}
    step = {"delivered_per_s": 900.0, "p99_ms": 20.0, "lost": 0, "rate_per_room": 1.0}
    report = {
        "chatsite": {"workloads": {"50x10": {"steps": [step], "held": step}}, "idle": None, "profiles": {"50x10": summary}},
        "chatsite_uvicorn": {"workloads": {"50x10": {"steps": [step], "held": step}}, "idle": None,
                             "profiles": {"50x10": {"error": "py-spy wrote nothing (exit 1)"}}},
    }

    text = table(report)

    assert "## Profile" in text
    assert ("chatsite on daphne, 50x10 ramp: 100 samples at work over 12.0 s, 350 waiting left out "
            "(`bench/results/profile-daphne-50x10.md`)") in text
    assert "| `handle (chat/realtime/consumer.py:120)` | 80.0 % | `handle (chat/realtime/consumer.py:120)` | 50.0 % |" in text
    assert "| `check (accounts/tickets.py:25)` | 5.0 % | `PyObject_Call (libpython3.11.so.1.0)` | 5.0 % |" in text
    assert "chatsite on uvicorn, 50x10: no profile (py-spy wrote nothing (exit 1))" in text


def test_profile_recorder_that_cannot_profile_reports_it_and_never_raises(tmp_path, monkeypatch):
    from bench import profile

    logged = []
    missing = profile.Recorder(tmp_path / "a.txt", log=logged.append)
    monkeypatch.setattr(profile, "py_spy", lambda: None)
    missing.start(os.getpid(), 5)
    assert missing.finish() == {"error": "py-spy not found next to the Python or on PATH"} and logged
    monkeypatch.undo()

    if profile.py_spy() is None:
        pytest.skip("no py-spy here")
    failing = profile.Recorder(tmp_path / "b.txt", log=logged.append)
    failing.start(2**22 + 12345, 5)  # no such process
    failing.stop()
    assert "py-spy wrote nothing" in failing.finish(timeout=30)["error"]


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


# --- the python-socketio peer (bench/sio/) ----------------------------------------
@pytest.fixture
def sio_uvicorn(tmp_path):
    from django.conf import settings

    from bench.run import server_command

    env = {**os.environ, "REDIS_URL": settings.REDIS_URL}
    port = live.free_port()
    server = live.Server(
        "bench-sio", server_command("uvicorn", "bench.sio.server:app", port),
        log_path=tmp_path / "sio.log", env=env, cwd=live.PROJECT_DIR,
    ).start()
    live.wait_until(lambda: live.port_open(port), what="python-socketio on uvicorn", servers=[server])
    server.port = port
    yield server
    server.stop()


def test_hand_written_socketio_client_exchanges_messages_through_the_redis_manager(sio_uvicorn):
    import websockets

    from bench.load import SIO_EVENT, SIO_PING, SIO_PONG, sio_handshake

    async def exchange():
        url = f"ws://{live.HOST}:{sio_uvicorn.port}/socket.io/?EIO=4&transport=websocket"
        async with websockets.connect(url) as alice, websockets.connect(url) as bob, websockets.connect(url) as other:
            sids = [await sio_handshake(ws, {"room": room}) for ws, room in ((alice, "r1"), (bob, "r1"), (other, "r2"))]
            await alice.send(SIO_EVENT + '["send", "bench:1:2:alice"]')
            got = [await asyncio.wait_for(ws.recv(), 10) for ws in (alice, bob)]
            with pytest.raises(asyncio.TimeoutError):  # another room hears nothing
                await asyncio.wait_for(other.recv(), 0.5)
            # A socket without a room is refused by the server's connect handler.
            async with websockets.connect(url) as lost:
                with pytest.raises(ConnectionError):
                    await sio_handshake(lost, {})
            return sids, got

    sids, got = asyncio.run(exchange())

    assert len(set(sids)) == 3 and all(sids)
    assert got == ['42["message","bench:1:2:alice"]'] * 2  # the sender's own copy too, as the bare consumer
    assert (SIO_PING, SIO_PONG) == ("2", "3")


def test_load_tool_against_the_socketio_peer_counts_every_delivery(sio_uvicorn):
    bench = Bench(base=f"http://{live.HOST}:{sio_uvicorn.port}", protocol="sio", data=None, server_pid=sio_uvicorn.process.pid)

    result = ramp(bench, bare_rooms("2x3"))

    assert_every_delivery_counted(result, rooms=2, members=3)
    idle = asyncio.run(bench.idle(members=[{"id": f"i{i}"} for i in range(5)], room="idle", warm_up=2))
    assert idle["sockets"] == 5 and idle["rss_after_kib"] > 0


def test_hand_written_socketio_client_answers_the_servers_pings(tmp_path):
    """With a ping every 0.3 s and 0.3 s to answer, a socket that did not answer
    would be dropped well within the 2 s it stays idle here."""
    import websockets
    from django.conf import settings

    from bench.load import Client, sio_handshake

    script = tmp_path / "fast_ping.py"
    script.write_text(
        "from bench.sio import server\n"
        "server.sio.eio.ping_interval = 0.3\nserver.sio.eio.ping_timeout = 0.3\n"
        "app = server.app\n"
    )
    port = live.free_port()
    from bench.run import server_command

    server = live.Server(
        "bench-sio-ping", server_command("uvicorn", "fast_ping:app", port) + ["--app-dir", str(tmp_path)],
        log_path=tmp_path / "sio.log", env={**os.environ, "REDIS_URL": settings.REDIS_URL,
                                             "PYTHONPATH": str(live.PROJECT_DIR)}, cwd=live.PROJECT_DIR,
    ).start()
    try:
        live.wait_until(lambda: live.port_open(port), what="python-socketio on uvicorn", servers=[server])
        bench = Bench(base=f"http://{live.HOST}:{port}", protocol="sio", data=None, server_pid=server.process.pid)

        async def idle_then_talk():
            client = Client(bench, {"id": "a"}, "r1")
            await client.connect()
            await asyncio.sleep(2.0)
            url = f"ws://{live.HOST}:{port}/socket.io/?EIO=4&transport=websocket"
            async with websockets.connect(url) as listener:
                await sio_handshake(listener, {"room": "r1"})
                await client.send(7)
                heard = await asyncio.wait_for(listener.recv(), 10)
            open_after = client.ws.state == websockets.protocol.State.OPEN
            await client.close()
            return open_after, heard

        open_after, heard = asyncio.run(idle_then_talk())
    finally:
        server.stop()

    assert open_after
    assert heard.startswith('42["message","bench:7:')


def test_report_shows_the_socketio_peer_beside_chatsite(tmp_path):
    step = {"delivered_per_s": 900.0, "p99_ms": 20.0, "lost": 0, "rate_per_room": 1.0}
    theirs = {**step, "delivered_per_s": 3000.0}
    report = {
        "chatsite": {"workloads": {"50x10": {"steps": [step], "held": step}}, "idle": {"kib_per_socket": 9.5}},
        "sio": {"workloads": {"50x10": {"steps": [theirs], "held": theirs}}, "idle": {"kib_per_socket": 30.0}},
    }

    text = table(report)
    plot(report, tmp_path / "plot.png")

    assert "| python-socketio on uvicorn (AsyncRedisManager) | 3,000 (p99 20 ms) | not run | 30.0 |" in text
    assert "chatsite on daphne ÷ python-socketio: 50x10: 0.3×" in text
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")


# --- the reconnect storm (bench/storm.py) -----------------------------------------
def storm_data(make_user) -> dict:
    people = [make_user(username=f"s{i}") for i in range(5)]
    rooms = [group_room(*people[:3], name="one"), group_room(*people[2:], name="two")]  # s2 is in both
    access = {str(p.pk): str(AccessToken.for_user(p)) for p in people}
    return {
        "users": [{"id": str(p.pk), "access": access[str(p.pk)]} for p in people],
        "workloads": {"storm": [
            {"id": str(room.pk), "members": [{"id": str(m.user_id), "access": access[str(m.user_id)]} for m in room.members.all()]}
            for room in rooms
        ]},
    }


def run_storm(server, data, **options) -> dict:
    from django.db import connection

    from bench.storm import storm

    options = {"sockets_per_user": 4, "between": 3, "trickle": 2.0, "deadline": 60.0, "settle": 20.0, **options}
    return asyncio.run(storm(base=server.url, server_pid=server.process.pid, data=data,
                             database_url=live.database_url(connection.settings_dict), **options))


def test_reconnect_storm_resyncs_every_socket_with_nothing_lost(daphne, make_user):
    from chat.models import ChatRoom

    data = storm_data(make_user)

    result = run_storm(daphne, data)

    assert (result["sockets"], result["users"], result["rooms"]) == (20, 5, 2)
    assert result["finished"] and result["resynced"] == 20 and result["not_resynced"] == 0
    assert 0 < result["resync_p50_s"] <= result["resync_p99_s"] <= result["all_resynced_s"]
    assert result["messages_between"] == 6 and result["messages_sent_total"] >= 2 + 6  # one before the drop a room
    assert (result["missing_events"], result["duplicate_events"], result["resync_required"]) == (0, 0, 0)
    assert result["caught_up_to_final_seq"]
    # Every socket went the whole real path: a ticket, a handshake with hello, a sync answered.
    assert result["path_ms"]["sync_ack_ms"]["count"] >= 20 and result["path_ms"]["ticket_ms"]["count"] >= 20
    assert result["rss_kib_max"] > 0 and result["series"]
    for room in data["workloads"]["storm"]:  # the messages were stored, and the room's seq is what the sockets reached
        assert ChatRoom.objects.get(pk=room["id"]).seq >= 4 + 1 + 3  # (a storm done within 0.5 s sends no trickle)


def test_reconnect_storm_reports_sockets_that_never_come_back_and_their_retries(tmp_path, make_user):
    from django.conf import settings
    from django.db import connection

    data = storm_data(make_user)
    # Three tickets a user a day: the first connect takes two, the storm gets one
    # more socket a user back in, and the other is refused (429) on every try.
    env = live.server_env(database=live.database_url(connection.settings_dict), redis=settings.REDIS_URL, tmp=tmp_path,
                          CHAT_RATE_LIMITS="ws.connect=3/d")
    (server,) = live.start_daphnes(["bench-storm-capped"], env=env, tmp=tmp_path)
    try:
        result = run_storm(server, data, sockets_per_user=2, deadline=4.0, settle=5.0, between=1, trickle=0.0)
    finally:
        server.stop()

    assert result["sockets"] == 10 and not result["finished"] and result["all_resynced_s"] is None
    assert (result["resynced"], result["not_resynced"]) == (5, 5)
    assert result["retries"] >= 5 and result["clients_that_retried"] == 5
    assert result["retry_reasons"].get("ticket 429", 0) >= 5, result["retry_reasons"]
    assert result["missing_events"] == 0  # of the sockets that came back


def test_cost_of_each_part_of_a_reconnect_one_socket_at_a_time(daphne, make_user):
    from bench.storm import path_costs

    data = storm_data(make_user)

    costs = asyncio.run(path_costs(base=daphne.url, server_pid=daphne.process.pid, users=data["users"], behind=2))

    assert costs["sockets"] == 5
    parts = ["ticket", "handshake to hello", "sync, nothing to replay", "sync, 2 events behind in each room"]
    for name in parts:
        assert costs[name]["wall_ms"] > 0 and costs[name]["server_cpu_ms"] >= 0, (name, costs[name])
    assert costs["sync, nothing to replay"]["events_per_socket"] == 0
    # s2 is in both rooms: 6 rooms for 5 sockets, two events replayed in each.
    assert costs["sync, 2 events behind in each room"]["rooms_per_socket"] == 1.2
    assert costs["sync, 2 events behind in each room"]["events_per_socket"] == 2.4
    assert "server_cpu_ms" in costs["a reset socket's cleanup"]


def test_report_table_of_the_storm():
    from bench.run import storm_table

    storm = {
        "sockets": 20, "users": 5, "sockets_per_user": 4, "finished": False, "deadline_s": 120.0, "all_resynced_s": None,
        "resync_p50_s": 1.5, "resync_p99_s": 3.25, "not_resynced": 2, "retries": 7, "clients_that_retried": 3,
        "missing_events": 0, "duplicate_events": 0, "server_cpu": 0.9, "rss_kib_before_drop": 102400,
        "rss_kib_max": 204800, "load_cpu": 0.05, "rate_limits": "product defaults",
        "path_ms": {"ticket_ms": {"p50": 10.0, "p99": 20.0, "count": 25}},
        "resynced_by_s": {"10": 18, "20": 18}, "retry_reasons": {"ticket 503": 7},
        "path_costs": {"ticket": {"wall_ms": 10.5, "server_cpu_ms": 7.5}, "sockets": 5},
    }

    text = storm_table(storm)

    assert "| **not finished** in 120 s | 1.5 / 3.25 s | 2 | 7 (3) | 0 / 0 | 0.90 | 100 → 200 | 0.05 |" in text
    assert "| ticket_ms | 10.0 | 20.0 | 25 |" in text and "| ticket | 10.5 | 7.5 |" in text
    assert "Resynced after 10 s: 18, 20 s: 18" in text and "Retries by reason: ticket 503 7" in text
