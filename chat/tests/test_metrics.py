"""The Prometheus metrics (chatsite/core/metrics.py): each hook moves its metric
by the right amount when its thing happens, /metrics answers only who may read
it, and no label carries an id or a path.

These run in one process (no PROMETHEUS_MULTIPROC_DIR: values in memory, read
from prometheus-client's default registry); the multiprocess files are tested
in subprocesses at the end, and with a real Prometheus in test_live_metrics.py.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from chat import commands, selectors
from chat.models import Notification, NotificationChannel
from chat.notify import push, worker
from chat.realtime.consumer import ChatConsumer
from chat.realtime.layer import InMemoryFanoutLayer
from chat.tests.api_helpers import client_for
from chat.tests.factories import group_room, send
from chat.tests.test_consumer import connect
from chatsite.core import jobs, metrics, overload
from chatsite.core.models import Job

TOKEN = "s3cret-token-for-the-tests"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """``with Delta("name", label=...) as moved: ...; moved()`` — how far a sample moved."""

    def __init__(self, name: str, **labels):
        self.name, self.labels = name, labels

    def __enter__(self):
        self.before = value(self.name, **self.labels)
        return lambda: value(self.name, **self.labels) - self.before

    def __exit__(self, *exc):
        return False


def scrape(client=None, **extra) -> tuple[int, str]:
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **extra)
    return response.status_code, response.content.decode()


def samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} of an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


@pytest.fixture
def metrics_on(settings):
    settings.CHAT_METRICS_TOKEN = TOKEN
    settings.CHAT_METRICS_ALLOW = []


# --- the endpoint -----------------------------------------------------------------------------
@pytest.mark.django_db
def test_metrics_are_off_without_a_token_or_an_allowlist(settings):
    settings.CHAT_METRICS_TOKEN, settings.CHAT_METRICS_ALLOW = "", []
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


@pytest.mark.django_db
def test_a_token_is_required_when_one_is_set(metrics_on):
    missing = Client().get("/metrics")
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    basic = Client().get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}")
    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")
    status, text = scrape()
    assert status == 200
    assert "chat_messages_stored_total" in text or "# HELP chat_messages_stored" in text


@pytest.mark.django_db
def test_an_allowlist_admits_only_its_networks(settings):
    settings.CHAT_METRICS_TOKEN, settings.CHAT_METRICS_ALLOW = "", ["10.0.0.0/8", "::1"]
    refused = Client().get("/metrics", REMOTE_ADDR="192.168.1.5")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert Client().get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="::ffff:10.0.0.1").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="not an address").status_code == 403


@pytest.mark.django_db
def test_with_both_set_a_scrape_needs_both(settings):
    settings.CHAT_METRICS_TOKEN, settings.CHAT_METRICS_ALLOW = TOKEN, ["127.0.0.1"]
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401
    assert scrape(REMOTE_ADDR="10.0.0.1")[0] == 403
    assert scrape(REMOTE_ADDR="127.0.0.1")[0] == 200


@pytest.mark.django_db
def test_only_get_and_the_https_redirect_does_not_apply(metrics_on, settings):
    post = Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert post.status_code == 405 and post.json()["code"] == "method_not_allowed"
    settings.SECURE_SSL_REDIRECT = True
    assert scrape()[0] == 200
    assert Client().get("/api/auth/me/").status_code == 301  # everything else is redirected


def test_a_bad_allowlist_stops_startup():
    from django.core.exceptions import ImproperlyConfigured

    from chatsite.settings import _check_networks

    _check_networks(["127.0.0.1", "10.0.0.0/8", "fd00::/8"])
    with pytest.raises(ImproperlyConfigured):
        _check_networks(["localhost"])


# --- REST requests: route names, never paths --------------------------------------------------
@pytest.mark.django_db
def test_rest_requests_are_counted_by_route_name_without_ids(metrics_on, alice, bob):
    room = group_room(alice, bob)
    labels = {"route": "room-message-list", "method": "GET", "status": "200"}
    with Delta("chat_http_requests_total", **labels) as moved, Delta(
        "chat_http_request_duration_seconds_count", route="room-message-list", method="GET"
    ) as timed:
        assert client_for(alice).get(f"/api/rooms/{room.pk}/messages/").status_code == 200
        assert client_for(alice).get(f"/api/rooms/{room.pk}/messages/").status_code == 200
    assert moved() == 2 and timed() == 2
    with Delta("chat_http_requests_total", route="unmatched", method="GET", status="404") as missing:
        Client().get(f"/no/such/page/{room.pk}/")
    assert missing() == 1
    with Delta("chat_http_requests_total", route="room-message-list", method="other", status="405") as odd:
        client_for(alice).generic("BREW", f"/api/rooms/{room.pk}/messages/")
    assert odd() == 1

    _status, text = scrape()
    for (_name, labels_), _value in samples(text).items():
        for label, label_value in labels_:
            assert not UUID_RE.search(label_value), (label, label_value)
            assert "/" not in label_value, (label, label_value)


# --- messages, rate limits ---------------------------------------------------------------------
@pytest.mark.django_db
def test_a_stored_message_is_counted_once_on_commit_by_room_type(alice, bob, django_capture_on_commit_callbacks, no_rate_limits):
    room = group_room(alice, bob)
    with Delta("chat_messages_stored_total", room_type=room.room_type) as stored:
        with django_capture_on_commit_callbacks(execute=True):
            send(room, alice, "one", client_msg_id="c-1")
            send(room, alice, "one again", client_msg_id="c-1")  # the same send: nothing new stored
            send(room, alice, "two")
        with django_capture_on_commit_callbacks(execute=False):
            send(room, alice, "never committed")
    assert stored() == 2


@pytest.mark.django_db
def test_rate_limit_rejections_are_counted_by_kind(settings, alice, bob):
    from chatsite.core.exceptions import RateLimited

    settings.CHAT_RATE_LIMITS = {"message.send": "1/m"}
    room = group_room(alice, bob)
    with Delta("chat_rate_limited_total", kind="message.send") as refused:
        send(room, alice, "first")
        with pytest.raises(RateLimited):
            send(room, alice, "second")
    assert refused() == 1


# --- the fan-out --------------------------------------------------------------------------------
async def test_one_fan_out_is_one_count_of_n_deliveries_and_one_latency():
    layer = InMemoryFanoutLayer()
    channels = [await layer.new_channel() for _ in range(3)]
    taken = []

    async def handler(message):
        taken.append(message)
        return True

    for channel in channels:
        await layer.group_add("room.1", channel)
        layer.attach(channel, handler)
    message = {"type": "chat.event", "room": "1", "seq": 1, "text": "{}"}
    metrics.commit_stamp(message)
    with Delta("chat_deliveries_total", kind="event") as delivered, Delta("chat_delivery_latency_seconds_count") as observed:
        with Delta("chat_deliveries_total", kind="ephemeral") as ephemeral:
            await layer.group_send("room.1", message)
            await layer.group_send("room.1", {"type": "chat.ephemeral", "text": "{}"})
            await asyncio.sleep(0.05)
    assert len(taken) == 6
    assert delivered() == 3 and ephemeral() == 3
    assert observed() == 1  # once per event per process, not per socket
    await layer.flush()


async def test_a_full_channel_queue_counts_a_layer_drop():
    layer = InMemoryFanoutLayer(capacity=1)
    channel = await layer.new_channel()
    await layer.group_add("room.1", channel)
    with Delta("chat_layer_drops_total", reason="queue_full") as dropped:
        for seq in (1, 2, 3):
            await layer.group_send("room.1", {"type": "chat.event", "room": "1", "seq": seq, "text": "{}"})
        await asyncio.sleep(0.05)
    assert dropped() == 2
    await layer.flush()


def test_a_slow_reader_close_is_counted():
    consumer = ChatConsumer()
    consumer.channel_name, consumer.user_id, consumer.channel_layer = "x", "1", None
    with Delta("chat_slow_reader_closes_total") as closed:
        consumer._too_slow(1001, 5000)
    assert closed() == 1


# --- WebSockets: handshakes, open sockets, sync ------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_handshakes_open_sockets_and_sync_replays_are_counted(alice, bob):
    room = await sync_to_async(group_room)(alice, bob)
    await sync_to_async(send)(room, bob, "before")
    with Delta("chat_websocket_handshakes_total", result="accepted") as accepted, Delta("chat_websockets_open") as open_:
        ws, hello = await connect(alice)
        assert accepted() == 1 and open_() == 1
        with Delta("chat_replays_total", trigger="sync") as replays, Delta("chat_replayed_events_total") as events:
            await ws.send_json_to({"type": "sync", "ref": 1, "rooms": {str(room.pk): 0}})
            while (await ws.receive_json_from(timeout=5))["type"] != "ack":
                pass
        assert replays() == 1 and events() >= 2  # the room's creation and the message
        await ws.disconnect()
        assert open_() == 0


@pytest.mark.django_db(transaction=True)
async def test_resync_required_is_counted(alice, bob, monkeypatch):
    room = await sync_to_async(group_room)(alice, bob)
    ws, _hello = await connect(alice)

    def too_old(*, room, after, **kwargs):
        raise selectors.ResyncRequired(room)

    monkeypatch.setattr(selectors, "events_since", too_old)
    with Delta("chat_resync_required_total") as resyncs:
        await ws.send_json_to({"type": "sync", "ref": 1, "rooms": {str(room.pk): 0}})
        while (await ws.receive_json_from(timeout=5))["type"] != "ack":
            pass
    assert resyncs() == 1
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_refused_handshakes_are_counted_by_reason(alice):
    from channels.testing import WebsocketCommunicator

    from chatsite.asgi import application

    cases = [
        ("ticket_invalid", "/ws/chat/?ticket=nope", []),
        ("origin_forbidden", "/ws/chat/", [(b"origin", b"https://evil.example")]),
        ("no_credentials", "/ws/chat/", []),
    ]
    for reason, path, headers in cases:
        with Delta("chat_websocket_handshakes_total", result=reason) as refused:
            communicator = WebsocketCommunicator(application, path, headers=headers)
            connected, _code = await communicator.connect(timeout=5)
            assert not connected
            await communicator.disconnect()
        assert refused() == 1, reason


# --- the database threads and pool ----------------------------------------------------------------
def test_a_database_job_observes_its_wait_for_a_thread():
    executor = overload.MeteredExecutor(max_workers=1)
    with Delta("chat_db_thread_wait_seconds_count") as observed:
        for future in [executor.submit(time.sleep, 0.01) for _ in range(3)]:
            future.result(timeout=5)
    executor.shutdown()
    assert observed() == 3
    assert value("chat_db_thread_wait_seconds_bucket", le="0.005") < value("chat_db_thread_wait_seconds_bucket", le="+Inf")


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_pool_is_sampled_each_second(settings):
    from django.db import connection

    connection.ensure_connection()
    metrics.sample(db_waiting=3)
    assert value("chat_db_threads_queued") == 3
    assert value("chat_db_pool_max") == settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"]
    assert value("chat_db_pool_connections", state="busy") >= 1


# --- the worker: notifications, jobs, queues --------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db
def test_notifications_are_counted_by_channel_and_outcome(alice, bob, monkeypatch, django_capture_on_commit_callbacks, no_rate_limits):
    answers = iter(["sent", RuntimeError("push service down")])

    def deliver(notification):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(push, "deliver", deliver, raising=False)
    room, _created = commands.room_get_or_create_direct(actor=alice, user_id=bob.pk)
    for text in ("one", "two"):
        Notification.objects.create(
            user=bob, room=room, message=send(room, alice, text), channel=NotificationChannel.PUSH, reason="direct", due_at=timezone.now()
        )
    with Delta("chat_notifications_total", channel="push", outcome="sent") as sent, Delta(
        "chat_notifications_total", channel="push", outcome="retrying"
    ) as retrying:
        with django_capture_on_commit_callbacks(execute=True):
            worker.process_due()
    assert (sent(), retrying()) == (1, 1)


@pytest.fixture
def metrics_job():
    @jobs.handler("test.metrics")
    def run(job, ctx):
        ctx.progress(50, checkpoint={"half": True})
        return {"ok": True}

    yield "test.metrics"
    jobs._handlers.pop("test.metrics", None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_job_progress_and_outcomes_are_counted(metrics_job):
    jobs.enqueue(kind=metrics_job)
    with Delta("chat_jobs_total", kind=metrics_job, outcome="done") as done, Delta(
        "chat_job_progress_updates_total", kind=metrics_job
    ) as progressed:
        assert jobs.run_pending() == 1
    assert (done(), progressed()) == (1, 1)
    assert value("chat_job_progress_percent", kind=metrics_job) == 0  # none running now


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_scrape_reads_the_queues_depth_and_oldest_due_age(metrics_on, alice, bob, metrics_job, no_rate_limits):
    room = group_room(alice, bob)
    Notification.objects.all().delete()
    for minutes in (3, 1):
        Notification.objects.create(
            user=bob, room=room, message=send(room, alice, "hi"), channel=NotificationChannel.PUSH, reason="direct",
            due_at=timezone.now() - timedelta(minutes=minutes),
        )  # fmt: skip
    Notification.objects.create(
        user=bob, room=room, message=send(room, alice, "later"), channel=NotificationChannel.EMAIL, reason="direct", due_at=timezone.now() + timedelta(hours=1)
    )
    Job.objects.all().delete()
    jobs.enqueue(kind=metrics_job, delay=timedelta(seconds=-30))

    found = samples(scrape()[1])

    assert found[("chat_notifications_queue_depth", frozenset())] == 2
    assert 179 <= found[("chat_notifications_queue_oldest_age_seconds", frozenset())] < 240
    assert found[("chat_jobs_queue_depth", frozenset())] == 1
    assert 29 <= found[("chat_jobs_queue_oldest_age_seconds", frozenset())] < 90
    assert found[("chat_queue_scrape_ok", frozenset())] == 1


# --- label boundedness over the whole exposition ------------------------------------------------------
def test_every_label_value_comes_from_a_fixed_set():
    bounded = {
        "result": set(metrics.HANDSHAKE_REASONS),
        "kind": set(metrics.DELIVERY_KINDS) | set(metrics_rate_kinds()) | {"test.metrics"} | set(jobs._handlers),
        "reason": set(metrics.LAYER_DROP_REASONS),
        "trigger": set(metrics.REPLAY_TRIGGERS),
        "component": set(metrics.REDIS_COMPONENTS),
        "side": set(metrics.OVERLOAD_SIDES),
        "outcome": set(metrics.NOTIFICATION_OUTCOMES) | set(metrics.JOB_OUTCOMES),
        "method": set(metrics.HTTP_METHODS) | {"other"},
        "state": {"busy", "idle"},
    }
    for family in REGISTRY.collect():
        if not family.name.startswith("chat_"):
            continue
        for sample in family.samples:
            for label, label_value in sample.labels.items():
                if label == "kind" and label_value.startswith("test."):
                    continue  # job kinds other tests register for a while (chatsite/tests/test_jobs.py)
                if label in bounded:
                    assert label_value in bounded[label], (family.name, label, label_value)
                elif label == "route":
                    assert not UUID_RE.search(label_value) and "/" not in label_value, label_value
                elif label == "status":
                    assert label_value.isdigit()


def metrics_rate_kinds():
    from chatsite.core.ratelimit import DEFAULT_RATES

    return DEFAULT_RATES


# --- multiprocess: files of several processes, merged ----------------------------------------------
CHILD = textwrap.dedent(
    """
    import os, sys, time
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    from chatsite.core import metrics
    n = int(sys.argv[1])
    metrics.websocket_opened()
    for _ in range(n):
        metrics._stored("group")
    metrics.fanned_out  # imported
    if len(sys.argv) > 2:
        # the cost of one inc and one observe, in microseconds
        rounds = 20000
        counter = metrics.MESSAGES_STORED.labels("group")
        started = time.perf_counter()
        for _ in range(rounds):
            counter.inc()
        inc = (time.perf_counter() - started) / rounds * 1e6
        started = time.perf_counter()
        for _ in range(rounds):
            metrics.DELIVERY_LATENCY.observe(0.003)
        observe = (time.perf_counter() - started) / rounds * 1e6
        print(f"{inc:.2f} {observe:.2f}")
    """
)


def _child(directory, *args) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _merged(directory) -> dict:
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    return samples(generate_latest(registry).decode())


def test_processes_sharing_the_folder_add_up_and_dead_ones_leave_no_open_sockets(tmp_path):
    _child(tmp_path, "3")
    _child(tmp_path, "4")
    found = _merged(tmp_path)
    assert found[("chat_messages_stored_total", frozenset({("room_type", "group")}))] == 7
    open_by_pid = {labels: v for (name, labels), v in found.items() if name == "chat_websockets_open"}
    # Each child exited cleanly: its atexit hook (metrics.process_started is not run
    # here) did not mark it dead, so reap_dead_processes must.
    assert len(open_by_pid) == 2 and all(dict(labels).get("pid") for labels in open_by_pid)
    assert len(metrics.reap_dead_processes(str(tmp_path))) == 2
    found = _merged(tmp_path)
    assert not [name for name, _labels in found if name == "chat_websockets_open"]
    assert found[("chat_messages_stored_total", frozenset({("room_type", "group")}))] == 7  # counters stay


def test_the_cost_of_one_multiprocess_inc_and_observe(tmp_path):
    inc, observe = map(float, _child(tmp_path, "0", "measure").split())
    print(f"\nmultiprocess inc: {inc:.2f} µs, observe: {observe:.2f} µs")
    # docs/operations.md quotes the measured numbers; this only catches a gross regression.
    assert inc < 50 and observe < 100


def test_the_dashboard_is_valid_json_and_names_only_metrics_that_exist():
    from pathlib import Path

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(expressions) >= 10
    known = known_series_names()
    for expression in expressions:
        for name in re.findall(r"\b(chat_[a-z_]+)\b", expression):
            assert name in known, (name, expression)


def known_series_names() -> set[str]:
    """Every series name chatsite exposes (counters' _total, histograms' parts,
    the scrape-time queue gauges)."""
    names = {
        "chat_queue_scrape_ok", "chat_jobs_running",
        *(f"chat_{queue}_queue_{part}" for queue in ("notifications", "jobs") for part in ("depth", "oldest_age_seconds")),
    }  # fmt: skip
    for family in REGISTRY.collect():
        if family.name.startswith("chat_"):
            names.add(family.name)
            names.update(sample.name for sample in family.samples)
            if family.type == "counter":
                names.add(family.name + "_total")
            if family.type == "histogram":
                names.update(family.name + part for part in ("_bucket", "_sum", "_count"))
    return names


def test_alert_rules_pass_promtool():
    import shutil
    from pathlib import Path

    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but promtool (Debian's prometheus package) is missing")
        pytest.skip("needs promtool (apt-get install prometheus)")
    rules = Path(__file__).resolve().parents[2] / "docs" / "prometheus-rules.yml"
    checked = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    known = known_series_names()
    for name in re.findall(r"\b(chat_[a-z_]+)\b", rules.read_text()):
        assert name in known, name


RULE_TESTS = """\
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # Two processes scraped on one machine report the same queue.
      - series: 'chat_notifications_queue_oldest_age_seconds{{job="chatsite", instance="a"}}'
        values: '0 60 120 180 240 300 360 420 480 540 600 660 720'
      - series: 'chat_notifications_queue_oldest_age_seconds{{job="chatsite", instance="b"}}'
        values: '0 60 120 180 240 300 360 420 480 540 600 660 720'
      - series: 'chat_layer_drops_total{{job="chatsite", instance="a", reason="queue_full"}}'
        values: '0+10x20'
      - series: 'up{{job="chatsite", instance="a"}}'
        values: '0x10'
      - series: 'up{{job="chatsite", instance="b"}}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 4m
        alertname: ChatsiteNotificationQueueOld
        exp_alerts: []
      - eval_time: 12m
        alertname: ChatsiteNotificationQueueOld
        exp_alerts:
          - exp_labels: {{severity: page}}
            exp_annotations:
              summary: "Notifications wait 12m 0s"
              description: "A notification has been due for more than 5 minutes: is manage.py notification_worker running?"
      - eval_time: 15m
        alertname: ChatsiteLayerDrops
        exp_alerts:
          - exp_labels: {{severity: ticket}}
            exp_annotations:
              summary: "The channel layer drops 166.7m messages/s"
              description: "Sockets' queues are full for ten minutes; see CPU, event loop lag and chat_slow_reader_closes_total."
      - eval_time: 2m
        alertname: ChatsiteNoProcessUp
        exp_alerts:
          - exp_labels: {{severity: page}}
            exp_annotations:
              summary: No chatsite process answers
              description: Every chatsite target has failed its scrape for a minute; nobody can chat.
"""


def test_alert_rules_fire_on_the_series_they_watch(tmp_path):
    import shutil
    from pathlib import Path

    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but promtool (Debian's prometheus package) is missing")
        pytest.skip("needs promtool (apt-get install prometheus)")
    rules = Path(__file__).resolve().parents[2] / "docs" / "prometheus-rules.yml"
    tests = tmp_path / "rules-test.yml"
    tests.write_text(RULE_TESTS.format(rules=json.dumps(str(rules))))
    checked = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_overload_shedding_never_refuses_a_scrape():
    assert not overload.HttpShedding._sheddable({"method": "GET", "path": "/metrics"})


def test_a_failing_pool_sample_never_stops_the_loop_lag_timer(monkeypatch):
    def broken():
        raise RuntimeError("pool gone")

    monkeypatch.setattr(metrics, "_sample_pool", broken)
    metrics.sample(db_waiting=1)  # logged, not raised
    assert value("chat_db_threads_queued") == 1
