"""/healthz and /readyz in the process (chatsite/health.py); the live test
(test_live_health.py) stops a real Redis under a real daphne."""

import asyncio
import json
import socket
import time
from datetime import timedelta

import pytest
from channels.testing import HttpCommunicator
from django.db import connections
from django.test import AsyncClient
from django.utils import timezone
from prometheus_client import REGISTRY

from chatsite import health
from chatsite.core import heartbeat, overload
from chatsite.core.models import WorkerHeartbeat

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module", autouse=True)
def _close_pool_after(django_db_setup, django_db_blocker):
    """The probes' threads take pooled connections; give them back before the
    test database is dropped (the pool is per process, not per thread)."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        connection = connections["default"]
        if connection.vendor == "postgresql" and connection.alias in connection._connection_pools:
            connection.close_pool()


@pytest.fixture(autouse=True)
def _fresh_state():
    health._migrated.clear()
    health._last_failing.clear()
    yield
    health._migrated.clear()
    health._last_failing.clear()


async def get(path: str, **headers):
    response = await AsyncClient().get(path, **headers)
    return response.status_code, json.loads(response.content) if response.content else None, response


async def in_thread(work):
    """Database work from an async test, its connection closed after (a pooled
    one left open would keep the test database from being dropped)."""

    def run():
        try:
            return work()
        finally:
            connections.close_all()

    return await asyncio.to_thread(run)


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def point_redis_at(settings, url: str) -> None:
    """This process's Redis check and channel layer, on ``url`` (the cache stays)."""
    settings.REDIS_URL = url
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "chat.realtime.layer.RedisFanoutLayer", "CONFIG": {"hosts": [{"address": url}], "prefix": "readyztest"}}
    }


async def test_healthz_answers_without_login_or_dependencies():
    status, body, response = await get("/healthz")
    assert (status, body) == (200, {"status": "ok"})
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


async def test_readyz_names_every_check_and_passes_with_everything_up():
    status, body, _ = await get("/readyz")
    assert status == 200, body
    assert body["status"] == "ok"
    expected = {"database", "migrations", "channel_layer"} | ({"redis"} if health.settings.REDIS_URL else set())
    assert set(body["checks"]) == expected
    assert set(body["checks"].values()) == {"ok"}
    assert "failing" not in body


async def test_only_get_and_head_are_answered():
    client = AsyncClient()
    refused = await client.post("/readyz", data={})
    assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD"
    head = await client.head("/healthz")
    assert head.status_code == 200 and head.content == b""


async def asgi_get(path: str, host: bytes) -> dict:
    """Through the HTTP side of chatsite.asgi (overload shedding, then Django),
    built now: middleware reads the settings when it is made."""
    from django.core.asgi import get_asgi_application

    application = overload.HttpShedding(get_asgi_application())
    return await HttpCommunicator(application, "GET", path, headers=[(b"host", host)]).get_response(timeout=5)


async def test_probes_skip_the_https_redirect_and_the_host_check(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    for path in ("/healthz", "/readyz"):
        answer = await asgi_get(path, b"10.1.2.3:8001")  # a load balancer calls the process by address
        assert answer["status"] == 200, (path, answer["body"])
    # Everything else is still checked and redirected (the test can fail).
    assert (await asgi_get("/api/rooms/", b"10.1.2.3:8001"))["status"] == 400
    assert (await asgi_get("/api/rooms/", b"chat.example.com"))["status"] == 301


async def test_an_unapplied_migration_is_a_503_naming_migrations(monkeypatch):
    class Pending:
        def __init__(self, connection):
            self.loader = type("Loader", (), {"graph": type("Graph", (), {"leaf_nodes": lambda self: []})()})()

        def migration_plan(self, targets):
            return [("chat", False), ("core", False)]

    monkeypatch.setattr(health, "MigrationExecutor", Pending)
    status, body, _ = await get("/readyz")
    assert status == 503
    assert body["failing"] == ["migrations"]
    assert body["checks"]["migrations"] == "2 not applied"
    assert body["checks"]["database"] == "ok"
    # Prometheus sees it too (the "no ready process" alert).
    assert REGISTRY.get_sample_value("chat_ready") == 0
    monkeypatch.undo()
    status, _body, _ = await get("/readyz")
    assert status == 200 and REGISTRY.get_sample_value("chat_ready") == 1


async def test_applied_migrations_are_remembered_but_a_failure_is_asked_again(monkeypatch):
    built = []
    real = health.MigrationExecutor

    def counting(connection):
        built.append(1)
        return real(connection)

    monkeypatch.setattr(health, "MigrationExecutor", counting)
    for _ in range(3):
        status, body, _ = await get("/readyz")
        assert status == 200, body
    assert len(built) == 1


async def test_redis_away_is_a_503_naming_redis_and_the_layer_with_no_host_in_the_body(settings):
    port = dead_port()
    point_redis_at(settings, f"redis://127.0.0.1:{port}/0")
    started = time.monotonic()
    status, body, response = await get("/readyz")
    took = time.monotonic() - started
    assert status == 503, body
    assert set(body["failing"]) == {"redis", "channel_layer"}
    assert body["checks"]["redis"] == "unavailable"
    assert body["checks"]["channel_layer"] == "subscriber not connected"
    assert body["checks"]["database"] == "ok"
    text = response.content.decode()
    assert str(port) not in text and "127.0.0.1" not in text and "Error" not in text
    assert took < 2.5, took


async def test_a_hung_redis_gives_503_within_about_two_seconds(settings):
    """A Redis that accepts connections and never answers (stopped, or a
    network black hole): the probe must not hang the load balancer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        point_redis_at(settings, f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
        started = time.monotonic()
        status, body, _ = await get("/readyz")
        took = time.monotonic() - started
    finally:
        listener.close()
    print(f"readyz with a hung Redis: {status} in {took * 1000:.0f} ms")
    assert status == 503, body
    assert "redis" in body["failing"] and "channel_layer" in body["failing"]
    assert took < 2.5, f"readyz took {took:.2f}s with a hung Redis"


async def test_the_layer_check_opens_the_subscriber_on_demand_and_reports_it_lost(settings):
    from chat.events import broadcast

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    point_redis_at(settings, settings.REDIS_URL)
    from channels.layers import channel_layers

    layer = channel_layers["default"]
    hub = layer._hub()
    assert not hub.connected  # no socket yet: nothing subscribed
    assert await broadcast.subscriber_ready(timeout=1.0)
    assert hub.connected
    await hub._lose()  # what the receiving task does when Redis goes away
    assert not hub.connected
    assert await broadcast.subscriber_ready(timeout=1.0)  # Redis is there: reconnected
    await layer.flush()


async def test_the_worker_is_a_warning_never_a_503(settings):
    settings.CHAT_WORKER_STALE_SECONDS = 60
    status, body, _ = await get("/readyz")
    assert status == 200 and body["worker"] == {"status": "missing", "last_seen": None}
    assert body["warnings"] == ["worker"]

    seen = timezone.now() - timedelta(seconds=90)
    await in_thread(lambda: WorkerHeartbeat.objects.create(worker="notifications:w1", last_seen=seen))
    status, body, _ = await get("/readyz")
    assert status == 200
    assert body["worker"] == {"status": "stale", "last_seen": seen.isoformat()}
    assert body["warnings"] == ["worker"]

    await in_thread(lambda: heartbeat.beat("notifications:w2"))
    status, body, _ = await get("/readyz")
    assert status == 200 and body["worker"]["status"] == "ok"
    assert "warnings" not in body


# A writer thread beside the test's reads: SQLite locks the table; PostgreSQL does not.
@pytest.mark.postgres
def test_the_heartbeat_thread_beats_until_stopped(settings):
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=heartbeat.run, kwargs={"worker": "w-test", "stop": stop, "interval": 0.05})
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not WorkerHeartbeat.objects.filter(worker="w-test").exists():
            assert time.monotonic() < deadline, "no heartbeat within 5 s"
            time.sleep(0.05)
        first = WorkerHeartbeat.objects.get(worker="w-test").last_seen
        time.sleep(0.3)
        assert WorkerHeartbeat.objects.get(worker="w-test").last_seen > first
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert heartbeat.status()["status"] == "ok"


def test_old_heartbeats_of_gone_workers_are_forgotten():
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker="gone", last_seen=now - timedelta(days=2))
    heartbeat.beat("here", now=now)
    assert set(WorkerHeartbeat.objects.values_list("worker", flat=True)) == {"here"}


def test_the_worker_command_writes_a_heartbeat():
    from django.core.management import call_command

    call_command("notification_worker", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert heartbeat.status()["status"] == "ok"


async def test_probes_are_never_shed_even_when_the_process_is_overloaded(settings):
    """GET is never shed; POST to a probe path is not either (and gets its 405)."""
    from chatsite.asgi import application

    assert not overload.HttpShedding._sheddable({"method": "POST", "path": "/readyz"})
    overload.gauge.ensure_monitor()
    settings.CHAT_OVERLOAD_HTTP_INFLIGHT = -1  # every sheddable request refused
    host = [(b"host", b"localhost")]
    shed = await HttpCommunicator(application, "POST", "/api/rooms/", body=b"{}", headers=host).get_response(timeout=5)
    assert shed["status"] == 503
    for path in ("/healthz", "/readyz"):
        served = await HttpCommunicator(application, "GET", path, headers=host).get_response(timeout=5)
        assert served["status"] == 200, (path, served["body"])
