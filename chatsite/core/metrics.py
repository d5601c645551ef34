"""Every Prometheus metric of chatsite, and the hooks the rest of the code calls.

One module, so the hot paths (chat/realtime, the send path) carry one-line
calls only and every name, label and bucket is here (docs/operations.md,
"Metrics", lists them). Labels are bounded by construction: route names,
kinds, reasons and outcomes from fixed sets, never a user, a room or a path.

Several processes on one machine report together through
prometheus-client's multiprocess mode: with ``PROMETHEUS_MULTIPROC_DIR`` set
(before this module is imported), every value lives in an mmap-backed file of
that folder per process and kind, and ``/metrics`` (chatsite/core/metrics_view.py)
merges the folder's files. Without it, values live in this process's memory
(development, tests).

Cost: a multiprocess ``inc`` or ``observe`` takes a lock and writes the mmap
(docs/operations.md has the measured µs), so the fan-out counts a whole
fan-out with one ``inc(n)`` and one latency observation per event per
process, never one per socket.
"""

import asyncio
import glob
import logging
import os
import re
import time
from functools import partial

from prometheus_client import Counter, Gauge, Histogram

logger = logging.getLogger(__name__)

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROCESS_DIR:
    # prometheus-client opens its files in it as the metrics below are made.
    os.makedirs(MULTIPROCESS_DIR, exist_ok=True)

# --- bounded label values ---------------------------------------------------------
HANDSHAKE_REASONS = (
    "accepted",
    "origin_forbidden",  # an Origin this site does not serve
    "ticket_invalid",  # an unknown, used or expired ?ticket=, its session ended, or not checkable now
    "no_credentials",  # neither a ticket nor an Origin with a session cookie
    "unauthenticated",  # a session without a signed-in, active user
    "too_many_sockets",  # CHAT_MAX_SOCKETS_PER_USER reached (closed with 4429)
)
DELIVERY_KINDS = ("event", "membership", "ephemeral", "notice")
_DELIVERY_KIND_OF = {
    "chat.event": "event",
    "chat.membership": "membership",
    "chat.ephemeral": "ephemeral",
}
LAYER_DROP_REASONS = ("queue_full", "handler_failed")
REPLAY_TRIGGERS = ("sync", "gap", "joined")
REDIS_COMPONENTS = ("publish", "layer", "cache", "presence")
OVERLOAD_SIDES = ("http", "websocket")
NOTIFICATION_OUTCOMES = ("sent", "skipped", "cancelled", "failed", "retrying")
JOB_OUTCOMES = ("done", "failed", "retrying", "cancelled", "handed_back", "lost")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Seconds. Latency of a frame from commit to socket write: a few ms normally,
# seconds only when a process is overloaded.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# --- WebSockets ----------------------------------------------------------------------
# liveall: one series per process (the client library adds a ``pid`` label), and
# a process's series go away when it is marked dead (mark_process_dead), so a
# restarted process never leaves its old count behind; sum() gives the total.
WEBSOCKETS_OPEN = Gauge(
    "chat_websockets_open", "WebSockets open in this process", multiprocess_mode="liveall"
)
# Set by every /readyz answer (the load balancer's probes): 1 ready, 0 not.
# One series per process; "no ready process" is max over them being 0.
READY = Gauge("chat_ready", "1 when this process's last /readyz answer was 200, else 0", multiprocess_mode="liveall")
WEBSOCKET_HANDSHAKES = Counter(
    "chat_websocket_handshakes", "WebSocket handshakes, accepted or refused (by reason)", ["result"]
)
MESSAGES_STORED = Counter("chat_messages_stored", "Messages committed, by room type", ["room_type"])
DELIVERIES = Counter(
    "chat_deliveries",
    "Layer messages handed to local sockets (one fan-out of one event to n sockets counts n)",
    ["kind"],
)
DELIVERY_LATENCY = Histogram(
    "chat_delivery_latency_seconds",
    "From the commit of a room event to its write to the sockets of one process (once per event per process)",
    buckets=LATENCY_BUCKETS,
)
LAYER_DROPS = Counter("chat_layer_drops", "Layer messages dropped for one socket", ["reason"])
SLOW_READER_CLOSES = Counter("chat_slow_reader_closes", "Sockets closed with 4008: the client stopped reading")
REPLAYS = Counter("chat_replays", "Replays of a room's log to one socket, by what started them", ["trigger"])
REPLAYED_EVENTS = Counter("chat_replayed_events", "Events sent to sockets from the room log")
RESYNC_REQUIRED = Counter("chat_resync_required", "resync_required frames sent (the log no longer reached back)")
RATE_LIMITED = Counter("chat_rate_limited", "Actions refused by the rate limiter, by kind", ["kind"])
OVERLOAD_REFUSALS = Counter("chat_overload_refusals", "Writes refused while the process was overloaded", ["side"])
REDIS_ERRORS = Counter("chat_redis_errors", "Redis errors seen, by the part of chatsite that met them", ["component"])

# --- HTTP ---------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "chat_http_requests", "HTTP requests served by Django, by route name, method and status", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "chat_http_request_duration_seconds",
    "Time Django took for a request, by route name and method",
    ["route", "method"],
    buckets=HTTP_BUCKETS,
)

# --- database -------------------------------------------------------------------------
DB_THREAD_WAIT = Histogram(
    "chat_db_thread_wait_seconds",
    "How long a WebSocket's database job waited for one of the process's CHAT_DB_THREADS",
    buckets=WAIT_BUCKETS,
)
DB_THREADS_QUEUED = Gauge(
    "chat_db_threads_queued", "Database jobs waiting for a thread (sampled each second)", multiprocess_mode="liveall"
)
DB_POOL_SIZE = Gauge(
    "chat_db_pool_connections", "Connections in the process's psycopg pool, by state (sampled each second)",
    ["state"], multiprocess_mode="liveall",
)  # fmt: skip
DB_POOL_MAX = Gauge("chat_db_pool_max", "DATABASE_POOL_MAX_SIZE of the process's psycopg pool", multiprocess_mode="liveall")
DB_POOL_WAITING = Gauge(
    "chat_db_pool_requests_waiting", "Requests waiting for a pool connection (sampled each second)", multiprocess_mode="liveall"
)
DB_POOL_REQUESTS = Counter("chat_db_pool_requests", "Connections handed out by the psycopg pool")
DB_POOL_WAIT = Counter("chat_db_pool_wait_seconds", "Time requests waited for a pool connection, in total")
DB_POOL_TIMEOUTS = Counter("chat_db_pool_timeouts", "Requests that got no pool connection in DATABASE_POOL_TIMEOUT")

# --- the worker -------------------------------------------------------------------------
NOTIFICATIONS = Counter(
    "chat_notifications", "Notification rows handled by the worker, by channel and outcome", ["channel", "outcome"]
)
JOBS_FINISHED = Counter("chat_jobs", "Job runs ended, by kind and outcome", ["kind", "outcome"])
JOB_PROGRESS = Gauge(
    "chat_job_progress_percent", "Progress of the job a worker runs now, by kind (0 when none)",
    ["kind"], multiprocess_mode="liveall",
)  # fmt: skip
JOB_PROGRESS_UPDATES = Counter("chat_job_progress_updates", "Progress reports (checkpoints) of running jobs", ["kind"])

# Children made once: .labels() costs a dict lookup and a lock; these are hot.
_HANDSHAKES = {reason: WEBSOCKET_HANDSHAKES.labels(reason) for reason in HANDSHAKE_REASONS}
_DELIVERIES = {kind: DELIVERIES.labels(kind) for kind in DELIVERY_KINDS}
_DROPS = {reason: LAYER_DROPS.labels(reason) for reason in LAYER_DROP_REASONS}
_REPLAYS = {trigger: REPLAYS.labels(trigger) for trigger in REPLAY_TRIGGERS}
_REDIS = {component: REDIS_ERRORS.labels(component) for component in REDIS_COMPONENTS}
_OVERLOAD = {side: OVERLOAD_REFUSALS.labels(side) for side in OVERLOAD_SIDES}
_STORED: dict[str, object] = {}

# The key of a layer message that carries its commit time (chat/events/broadcast.py).
COMMITTED_AT = "committed_at"


# --- hooks --------------------------------------------------------------------------------
def handshake(reason: str) -> None:
    _HANDSHAKES[reason].inc()


def websocket_opened() -> None:
    """A socket was accepted and registered (past every check of its handshake)."""
    _HANDSHAKES["accepted"].inc()
    WEBSOCKETS_OPEN.inc()


def websocket_closed() -> None:
    WEBSOCKETS_OPEN.dec()


def _stored(room_type: str) -> None:
    child = _STORED.get(room_type)
    if child is None:
        child = _STORED[room_type] = MESSAGES_STORED.labels(room_type)
    child.inc()


def message_stored(room_type: str) -> None:
    """Count a message once its transaction commits (a rolled-back savepoint, an
    idempotent retry, counts nothing). Call inside the transaction."""
    from django.db import transaction

    transaction.on_commit(partial(_stored, str(room_type)))


def commit_stamp(message: dict) -> None:
    """Stamp a layer message with its commit time, just before it is published."""
    message[COMMITTED_AT] = time.time()


def fanned_out(message: dict, sockets: int) -> None:
    """One process handed a group message to ``sockets`` local sockets (the layer's
    dispatch, after its loop). One inc for the whole fan-out; for a room event,
    one latency observation, made by a callback queued behind the send-buffer
    writers the fan-out woke: it runs once they wrote the frame to their sockets."""
    if not sockets:
        return
    _DELIVERIES[_DELIVERY_KIND_OF.get(message.get("type"), "notice")].inc(sockets)
    committed = message.get(COMMITTED_AT)
    if committed is not None and message.get("type") == "chat.event":
        asyncio.get_running_loop().call_soon(_observe_delivery, committed)


def _observe_delivery(committed: float) -> None:
    DELIVERY_LATENCY.observe(max(0.0, time.time() - committed))


def layer_dropped(reason: str) -> None:
    _DROPS[reason].inc()


def slow_reader_closed() -> None:
    SLOW_READER_CLOSES.inc()


def replayed(trigger: str) -> None:
    _REPLAYS[trigger].inc()


def replayed_events(count: int) -> None:
    if count:
        REPLAYED_EVENTS.inc(count)


def resync_required() -> None:
    RESYNC_REQUIRED.inc()


def rate_limited(kind: str) -> None:
    RATE_LIMITED.labels(kind).inc()


def declare(metric, *label_sets) -> None:
    """Make the series of these label values exist (at 0) before their first
    event, so a query or an alert finds them from the start."""
    for labels in label_sets:
        metric.labels(*labels)


def overload_refused(side: str) -> None:
    _OVERLOAD[side].inc()


def redis_error(component: str) -> None:
    _REDIS[component].inc()


def db_thread_waited(seconds: float) -> None:
    DB_THREAD_WAIT.observe(seconds)


def http_request(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in HTTP_METHODS else "other"
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_LATENCY.labels(route, method).observe(seconds)


def notification(channel: str, outcome: str) -> None:
    """A notification row ended in ``outcome``; counted once the worker's
    transaction commits."""
    from django.db import transaction

    transaction.on_commit(partial(_notification, str(channel), outcome))


def _notification(channel: str, outcome: str) -> None:
    NOTIFICATIONS.labels(channel, outcome).inc()


def job_progress(kind: str, percent: int) -> None:
    JOB_PROGRESS.labels(kind).set(percent)
    JOB_PROGRESS_UPDATES.labels(kind).inc()


def job_finished(kind: str, outcome: str) -> None:
    JOBS_FINISHED.labels(kind, outcome).inc()
    JOB_PROGRESS.labels(kind).set(0)


# --- sampled once a second (chatsite/core/overload.py's timer) ------------------------------
SAMPLE_EVERY = 1.0  # seconds


def sample(*, db_waiting: int) -> None:
    """Per-process state that has no event of its own: the database threads' queue
    and the psycopg pool. Called by the event loop's lag timer once a second;
    never raises (the timer must keep running: it is the overload signal)."""
    try:
        DB_THREADS_QUEUED.set(db_waiting)
        _sample_pool()
    except Exception:  # noqa: BLE001 - a metric must never break the process
        logger.warning("metrics: sampling the database pool failed", exc_info=True)


def _pool():
    """The psycopg pool of the default database, or None (SQLite, no pool, not opened yet)."""
    try:
        from django.db import connections

        wrapper = connections["default"]
        if wrapper.vendor != "postgresql":
            return None
        # Only a pool that exists: reading ``wrapper.pool`` would open one.
        return getattr(type(wrapper), "_connection_pools", {}).get(wrapper.alias)
    except Exception:  # noqa: BLE001 - a metric must never break the process
        return None


def _sample_pool() -> None:
    pool = _pool()
    if pool is None:
        return
    # pop_stats: counters since the last call (chatsite is the only reader).
    stats = pool.pop_stats()
    size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
    DB_POOL_SIZE.labels("busy").set(max(0, size - available))
    DB_POOL_SIZE.labels("idle").set(available)
    DB_POOL_MAX.set(stats.get("pool_max", 0))
    DB_POOL_WAITING.set(stats.get("requests_waiting", 0))
    if stats.get("requests_num"):
        DB_POOL_REQUESTS.inc(stats["requests_num"])
    if stats.get("requests_wait_ms"):
        DB_POOL_WAIT.inc(stats["requests_wait_ms"] / 1000)
    if stats.get("requests_errors"):
        DB_POOL_TIMEOUTS.inc(stats["requests_errors"])


# --- multiprocess bookkeeping ------------------------------------------------------------------
_PID_FILE = re.compile(r"_(\d+)\.db$")


def reap_dead_processes(path: str | None = None) -> list[int]:
    """Forget the live gauges of processes that are gone (killed, crashed): the
    pids of ``gauge_live*_<pid>.db`` files no running process has. Their
    counters stay: a total must never go backwards. Cheap (one glob); run at
    startup and before each scrape."""
    from prometheus_client import multiprocess

    path = path or MULTIPROCESS_DIR
    if not path:
        return []
    dead = set()
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        found = _PID_FILE.search(name)
        if found is None:
            continue
        pid = int(found.group(1))
        if pid != os.getpid() and not _alive(pid):
            dead.add(pid)
    for pid in dead:
        multiprocess.mark_process_dead(pid, path)
    return sorted(dead)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def process_started() -> None:
    """At startup of every process (chatsite.core's AppConfig): forget what dead
    processes left and, on a clean exit, forget this one's live gauges."""
    if not MULTIPROCESS_DIR:
        return
    if not os.path.isdir(MULTIPROCESS_DIR):
        logger.error("PROMETHEUS_MULTIPROC_DIR %s is not a folder: metrics of this process are lost", MULTIPROCESS_DIR)
        return
    import atexit

    from prometheus_client import multiprocess

    reap_dead_processes()
    atexit.register(multiprocess.mark_process_dead, os.getpid(), MULTIPROCESS_DIR)


def readiness(ready: bool) -> None:
    READY.set(1 if ready else 0)
