"""Load shedding: refuse new work at once when a process is past what it can do.

A process past its capacity has two places where work can queue without bound:
its event loop (every socket's frames, the fan-out's writes, HTTP requests) and
the threads that talk to PostgreSQL. Queues that grow turn an overload into
seconds of latency for everyone, growing memory, and in the end clients timing
out on writes that did go through. So each process watches both, and while
either is past its budget new writes are refused cheaply, before any work is
done for them: a WebSocket write gets an ``error`` frame ``overloaded`` with
``retry_after``, an HTTP request a 503 with the same code and ``Retry-After``.
Nothing refused was stored, so a client retries it with the same
``client_msg_id`` (docs/realtime.md); what was accepted is handled as always.

The signals (per process, no shared state):

- **event loop lag**: a timer due every 50 ms measures how late it runs; the
  loop is behind when three ticks in a row were late (the tick overdue right
  now counting too), so one pause sheds nothing (CHAT_OVERLOAD_LOOP_LAG_MS);
- **database queue**: jobs waiting for a database thread, how many
  (CHAT_OVERLOAD_DB_QUEUE) and how long the last one waited
  (CHAT_OVERLOAD_DB_WAIT_MS), from :class:`MeteredExecutor`;
- **HTTP requests in flight** in the process (CHAT_OVERLOAD_HTTP_INFLIGHT):
  Django runs them one after another on one thread under ASGI. Only writes are
  refused over HTTP; reads and the sign-in and ticket endpoints (what a client
  needs to reconnect and catch up) are always served.

``CHAT_OVERLOAD_SHEDDING=0`` turns refusing off (the signals are still measured),
which the overload run in bench/ uses to show the difference.
"""

import asyncio
import json
import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from . import metrics

logger = logging.getLogger(__name__)

TICK = 0.05  # seconds between the loop-lag timer's wake-ups
# The loop is late only when this many ticks in a row were: one pause (a garbage
# collection, a busy neighbour on the machine) is not an overload; a standing
# backlog is (as CoDel reads the minimum delay, not the peak).
LATE_TICKS = 3
CODE = "overloaded"
DETAIL = "The server is overloaded right now; nothing was done. Try again in a moment."
LOG_EVERY = 10.0  # seconds between two "shedding" warnings of one process
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sign-in and tickets (what a client needs to come back), and the health probes.
ALWAYS_SERVED = ("/api/auth/", "/accounts/", "/healthz", "/readyz")


class MeteredExecutor(ThreadPoolExecutor):
    """A thread pool that knows how many jobs wait for a thread and how long
    the last one to start had waited."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._meter_lock = threading.Lock()
        self.waiting = 0
        self.last_wait = 0.0

    def submit(self, fn, /, *args, **kwargs):
        queued = time.monotonic()
        with self._meter_lock:
            self.waiting += 1

        def run():
            waited = time.monotonic() - queued
            with self._meter_lock:
                self.waiting -= 1
                self.last_wait = waited
            metrics.db_thread_waited(waited)
            return fn(*args, **kwargs)

        try:
            return super().submit(run)
        except BaseException:
            with self._meter_lock:
                self.waiting -= 1
            raise


class Gauge:
    """The process's load signals and the one decision made from them."""

    def __init__(self):
        self.executors: list[MeteredExecutor] = []
        self.http_in_flight = 0
        self._loop = None
        self._lates: deque[float] = deque(maxlen=LATE_TICKS)  # how late the last ticks ran
        self._tick_at = 0.0
        self._last_warning = float("-inf")
        self._sampled_at = float("-inf")

    # --- signals ------------------------------------------------------------
    def watch(self, executor: MeteredExecutor) -> MeteredExecutor:
        self.executors.append(executor)
        return executor

    def ensure_monitor(self) -> None:
        """Start the loop-lag timer on the running loop (once per loop)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop, self._tick_at = loop, loop.time()
        self._lates.clear()
        loop.call_later(TICK, self._tick, loop, loop.time() + TICK)

    def _tick(self, loop, due: float) -> None:
        if self._loop is not loop:
            return  # a newer loop took over (tests run several)
        now = loop.time()
        self._lates.append(max(0.0, now - due))
        self._tick_at = now
        if now - self._sampled_at >= metrics.SAMPLE_EVERY:
            self._sampled_at = now
            metrics.sample(db_waiting=self.db_waiting())
        loop.call_later(TICK, self._tick, loop, now + TICK)

    def loop_lag(self) -> float:
        """Seconds the event loop has been behind for LATE_TICKS ticks in a row:
        the least late of the last ones, the tick overdue now counting as the
        latest (a loop too busy to come back to its timer)."""
        loop = self._loop
        if loop is None:
            return 0.0
        recent = list(self._lates)
        overdue = loop.time() - self._tick_at - TICK
        if overdue > 0:
            recent = [*recent[1:], overdue] if len(recent) == LATE_TICKS else [*recent, overdue]
        return min(recent) if len(recent) == LATE_TICKS else 0.0

    def db_waiting(self) -> int:
        return sum(executor.waiting for executor in self.executors)

    def db_wait(self) -> float:
        return max((executor.last_wait for executor in self.executors if executor.waiting), default=0.0)

    # --- the decision ---------------------------------------------------------
    def overloaded(self, *, http: bool = False) -> str | None:
        """Why new work must be refused now, or None. Measured in any case;
        refused only with CHAT_OVERLOAD_SHEDDING on."""
        reason = None
        lag = self.loop_lag()
        if lag * 1000 > settings.CHAT_OVERLOAD_LOOP_LAG_MS:
            reason = f"event loop {lag * 1000:.0f} ms late"
        elif http and self.http_in_flight > settings.CHAT_OVERLOAD_HTTP_INFLIGHT:
            reason = f"{self.http_in_flight} HTTP requests in flight"
        elif not http:
            waiting = self.db_waiting()
            if waiting > settings.CHAT_OVERLOAD_DB_QUEUE:
                reason = f"{waiting} database jobs waiting"
            elif waiting and self.db_wait() * 1000 > settings.CHAT_OVERLOAD_DB_WAIT_MS:
                reason = f"database jobs waiting {self.db_wait() * 1000:.0f} ms for a thread"
        if reason is None or not settings.CHAT_OVERLOAD_SHEDDING:
            return None
        now = time.monotonic()
        if now - self._last_warning >= LOG_EVERY:
            self._last_warning = now
            logger.warning("shedding load: %s", reason)
        return reason


gauge = Gauge()


def retry_after() -> int:
    return settings.CHAT_OVERLOAD_RETRY_AFTER


def body() -> dict:
    return {"code": CODE, "detail": DETAIL, "retry_after": retry_after()}


class HttpShedding:
    """ASGI wrapper of the HTTP side: counts the requests in the process and
    answers 503 ``overloaded`` at once, without entering Django, while the
    process is past its budget."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gauge.ensure_monitor()
        if self._sheddable(scope) and gauge.overloaded(http=True):
            await self._refuse(scope, send)
            return
        gauge.http_in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            gauge.http_in_flight -= 1

    @staticmethod
    def _sheddable(scope) -> bool:
        """Writes are refused; reads (pages, history, static files) and the
        sign-in and WebSocket-ticket endpoints, which a client needs to come
        back and catch up, are always served."""
        return scope.get("method") not in SAFE_METHODS and not scope.get("path", "").startswith(ALWAYS_SERVED)

    @staticmethod
    async def _refuse(scope, send):
        metrics.overload_refused("http")
        if scope.get("path", "").startswith("/api/"):
            content, kind = json.dumps(body()).encode(), b"application/json"
        else:
            content, kind = DETAIL.encode(), b"text/plain; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", kind),
                    (b"content-length", str(len(content)).encode()),
                    (b"retry-after", str(retry_after()).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})
