"""Live: a real Prometheus scrapes two daphne processes (and sees the worker).

Two daphne processes and a notification worker share one
PROMETHEUS_MULTIPROC_DIR, as docs/operations.md describes; Debian's
``prometheus`` runs on a loopback port with its own storage in the test's
folder and scrapes both daphnes every second with the bearer token. After a
known amount of traffic through both processes, Prometheus' HTTP API must
show every listed series, and the counters must add up across the processes:
messages stored = messages sent, deliveries = events × sockets.
"""

import asyncio
import json
import time
import urllib.parse
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as in_db
from django.utils import timezone

from chat import commands
from chat.models import Notification, NotificationChannel
from chat.tests import live
from chat.tests.factories import group_room, send
from chat.tests.test_live import jwt, open_socket, rest_send

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

TOKEN = "live-metrics-token"
QUERY_TIMEOUT = 30.0  # seconds for Prometheus to have scraped what the test did

# Every series the issue lists (by the name Prometheus stores).
EXPECTED_SERIES = [
    "chat_websockets_open",
    "chat_websocket_handshakes_total",
    "chat_messages_stored_total",
    "chat_deliveries_total",
    "chat_delivery_latency_seconds_bucket",
    "chat_layer_drops_total",
    "chat_slow_reader_closes_total",
    "chat_replays_total",
    "chat_resync_required_total",
    "chat_rate_limited_total",
    "chat_http_requests_total",
    "chat_http_request_duration_seconds_bucket",
    "chat_db_pool_connections",
    "chat_db_pool_max",
    "chat_db_pool_wait_seconds_total",
    "chat_db_thread_wait_seconds_bucket",
    "chat_db_threads_queued",
    "chat_redis_errors_total",
    "chat_notifications_queue_depth",
    "chat_notifications_queue_oldest_age_seconds",
    "chat_jobs_queue_depth",
    "chat_jobs_queue_oldest_age_seconds",
    "chat_notifications_total",
    "chat_job_progress_updates_total",
]

PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: chatsite
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials: {token}
    static_configs:
      - targets: [{targets}]
"""


class Prometheus(live.LocalAddress, live.Server):
    def __init__(self, *, tmp, executable: str, targets: list[int]):
        self.port = live.free_port()
        tmp.mkdir(parents=True, exist_ok=True)
        config = tmp / "prometheus.yml"
        config.write_text(
            PROMETHEUS_CONFIG.format(token=TOKEN, targets=", ".join(f"'{live.HOST}:{port}'" for port in targets))
        )
        args = [
            executable,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address={live.HOST}:{self.port}",
            "--log.level=warn",
        ]
        super().__init__("prometheus", args, log_path=tmp / "prometheus.log", cwd=tmp)

    def query(self, expression: str) -> list:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        status, body = live.http("GET", url, timeout=5)
        assert status == 200 and body["status"] == "success", (expression, status, body)
        return body["data"]["result"]

    def scalar(self, expression: str) -> float | None:
        result = self.query(expression)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expression: str, expected: float, *, servers=()) -> None:
        """Until ``expression`` (one value) equals ``expected``, bounded."""
        seen = []

        def check():
            seen.append(self.scalar(expression))
            return seen[-1] == expected

        try:
            live.wait_until(check, what=f"{expression} == {expected}", timeout=QUERY_TIMEOUT, servers=[self, *servers], interval=0.5)
        except AssertionError as error:
            raise AssertionError(f"{error}\nlast values: {seen[-5:]}") from None


def start_prometheus(*, tmp, targets: list[int]) -> Prometheus:
    executable = live.find_executable("prometheus")
    live.require("prometheus", executable is not None, "apt-get install prometheus; .ci/run does")
    server = Prometheus(tmp=tmp, executable=executable, targets=targets).start()
    try:
        live.wait_until(lambda: live.http("GET", f"{server.url}/-/ready", timeout=2)[0] == 200, what="prometheus", servers=[server])
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture
def metrics_cluster(django_db_setup, transactional_db, tmp_path):
    """Two daphnes and a worker on one PROMETHEUS_MULTIPROC_DIR, Prometheus scraping the daphnes."""
    from django.conf import settings
    from django.db import connection

    live.require("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    live.require("Redis", bool(settings.REDIS_URL), "set REDIS_URL")
    multiproc = tmp_path / "metrics"
    multiproc.mkdir()
    env = live.server_env(
        database=live.database_url(connection.settings_dict),
        redis=settings.REDIS_URL,
        tmp=tmp_path,
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
        CHAT_METRICS_TOKEN=TOKEN,
        CHAT_RATE_LIMITS="typing=1/m",
        CHAT_PUSH_REQUIRE_HTTPS="0",
    )
    started = []
    try:
        daphnes = live.start_daphnes(["daphne-a", "daphne-b"], env=env, tmp=tmp_path)
        started.extend(daphnes)
        worker = live.Server(
            "worker",
            [live.sys.executable, "manage.py", "notification_worker", "--poll", "1"],
            log_path=tmp_path / "worker.log",
            env=env,
            cwd=live.PROJECT_DIR,
        ).start()
        started.append(worker)
        prometheus = start_prometheus(tmp=tmp_path / "prometheus", targets=[d.port for d in daphnes])
        started.append(prometheus)
        print(f"live metrics: {daphnes[0].url} {daphnes[1].url}, prometheus {prometheus.url}; logs in {tmp_path}")
        yield daphnes[0], daphnes[1], worker, prometheus
    finally:
        for server in reversed(started):
            server.stop()


def dashboard_and_rule_expressions() -> list[str]:
    import yaml

    docs = live.PROJECT_DIR / "docs"
    dashboard = json.loads((docs / "grafana-dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    rules = yaml.safe_load((docs / "prometheus-rules.yml").read_text())
    expressions += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    return expressions


def created(frame) -> bool:
    return frame.get("type") == "message.created"


async def test_prometheus_sees_both_processes_add_up(metrics_cluster, alice, bob, carol):
    a, b, worker, prometheus = metrics_cluster
    room = await in_db(group_room)(alice, bob)
    room_id = str(room.pk)
    # A notification row due now for the worker (an email to carol in a direct room).
    direct, _new = await in_db(commands.room_get_or_create_direct)(actor=alice, user_id=carol.pk)
    dm = await in_db(send)(direct, alice, "are you there?")
    await in_db(Notification.objects.filter(message=dm).update)(due_at=timezone.now() - timedelta(seconds=1))
    emails = await in_db(Notification.objects.filter(message=dm, channel=NotificationChannel.EMAIL).count)()

    alice_a = await open_socket(a.ws_url, alice, "alice@A")
    bob_b = await open_socket(b.ws_url, bob, "bob@B")
    ws_sends, rest_sends = 5, 3
    try:
        for i in range(ws_sends):
            ack = await alice_a.request(
                {"type": "message.send", "ref": f"r{i}", "room": room_id, "content": f"ws {i}", "client_msg_id": f"ws-{i}"}
            )
            assert ack["type"] == "ack", ack
        bob_token = await jwt(bob)
        for i in range(rest_sends):
            status, body = await rest_send(b.url, bob_token, room_id, f"rest {i}")
            assert status == 201, body
        status, _body = await live.ahttp("GET", f"{b.url}/api/rooms/{room_id}/messages/", token=bob_token)
        assert status == 200
        # A job for the worker: the room's export (progress at each step).
        status, body = await live.ahttp("POST", f"{a.url}/api/rooms/{room_id}/export/", token=await jwt(alice), body={})
        assert status == 202, body
        for socket in (alice_a, bob_b):
            frames = []
            for _ in range(ws_sends + rest_sends):
                frames += await socket.until(created)
            assert len([f for f in frames if created(f)]) == ws_sends + rest_sends
        # One typing notice passes, the second is refused (typing=1/m).
        for ref in ("t1", "t2"):
            await alice_a.send({"type": "typing", "ref": ref, "room": room_id, "is_typing": True})
        await alice_a.until(lambda f: f.get("type") == "error" and f.get("ref") == "t2")
        sync = await bob_b.request({"type": "sync", "ref": "s1", "rooms": {room_id: 0}})
        assert sync["type"] == "ack", sync

        sent = ws_sends + rest_sends
        servers = [a, b, worker]
        # Each process reports the machine's total: the same number from both targets.
        per_target = "max without (instance) (chat_messages_stored_total)"
        prometheus.wait_for(f"sum({per_target})", sent, servers=servers)
        for daphne in (a, b):
            prometheus.wait_for(f'sum(chat_messages_stored_total{{instance="{live.HOST}:{daphne.port}"}})', sent, servers=servers)
        # Every event reached one socket on each process: one inc of 1 there, per process.
        prometheus.wait_for('sum(max without (instance) (chat_deliveries_total{kind="event"}))', 2 * sent, servers=servers)
        prometheus.wait_for("sum(max without (instance) (chat_delivery_latency_seconds_count))", 2 * sent, servers=servers)
        # Open sockets by process: one series per pid, one socket each.
        open_by_pid = prometheus.query("max without (instance) (chat_websockets_open)")
        assert sorted(float(series["value"][1]) for series in open_by_pid if float(series["value"][1])) == [1.0, 1.0]
        assert len({series["metric"]["pid"] for series in open_by_pid}) >= 2
        prometheus.wait_for('sum(max without (instance) (chat_websocket_handshakes_total{result="accepted"}))', 2, servers=servers)
        prometheus.wait_for(
            'sum(max without (instance) (chat_http_requests_total{route="room-message-list", method="POST", status="201"}))',
            rest_sends,
            servers=servers,
        )
        prometheus.wait_for('sum(max without (instance) (chat_rate_limited_total{kind="typing"}))', 1, servers=servers)
        prometheus.wait_for('sum(max without (instance) (chat_replays_total{trigger="sync"}))', 1, servers=servers)
        # The worker's process writes into the same folder: its email shows in the daphnes' scrape.
        prometheus.wait_for(
            'sum(max without (instance) (chat_notifications_total{channel="email", outcome="sent"}))', emails, servers=servers
        )
        prometheus.wait_for('sum(max without (instance) (chat_jobs_total{kind="room.export", outcome="done"}))', 1, servers=servers)
        assert prometheus.scalar('sum(max without (instance) (chat_job_progress_updates_total{kind="room.export"}))') >= 1
        names = {series["metric"]["__name__"] for series in prometheus.query('{__name__=~"chat_.+"}')}
        missing = [name for name in EXPECTED_SERIES if name not in names]
        assert not missing, f"series missing: {missing}"
        # Every query of the dashboard and the alert rules is one Prometheus runs.
        for expression in dashboard_and_rule_expressions():
            prometheus.query(expression)
        # Both targets are up, and no label names an id.
        targets = prometheus.query("up")
        assert sorted(float(series["value"][1]) for series in targets) == [1.0, 1.0]
        everything = json.dumps(prometheus.query('{__name__=~"chat_.+"}'))
        assert room_id not in everything and str(alice.pk) not in everything
    finally:
        await asyncio.gather(alice_a.close(), bob_b.close(), return_exceptions=True)
    # A closed socket leaves its process's gauge at 0.
    deadline = time.monotonic() + QUERY_TIMEOUT
    while time.monotonic() < deadline and prometheus.scalar("sum(max without (instance) (chat_websockets_open))") != 0:
        await asyncio.sleep(0.5)
    assert prometheus.scalar("sum(max without (instance) (chat_websockets_open))") == 0
