"""``/healthz`` (liveness) and ``/readyz`` (readiness) for load balancers.

Both are answered by :func:`health_middleware`, placed right after the
request log and before everything else: no login, no session or CSRF, no
HTTPS redirect, no host check (a load balancer calls a process by its
address), no rate limit, never shed (chatsite.core.overload serves GET and
these paths always). Neither body names a version, a host or an error text.

- ``/healthz``: the process answers. No dependency is asked. 200 ``{"status": "ok"}``.
- ``/readyz``: every check below passes, each within a short timeout, run
  together (a hung dependency answers 503 within about 2 s, never a hung
  probe); 200, or 503 naming the failing checks:

  ``database``       PostgreSQL answers ``SELECT 1`` (django-health-check's check);
  ``migrations``     no migration of the code is unapplied (remembered once true);
  ``redis``          Redis answers PING (django-health-check's check; only with REDIS_URL);
  ``channel_layer``  this process's fan-out subscriber connection is up, opened on
                     demand when no socket has opened it yet (chat.events.broadcast).

  ``worker`` is a warning, never a 503: the newest heartbeat of a
  ``notification_worker`` (chatsite/core/heartbeat.py), ``stale`` after
  CHAT_WORKER_STALE_SECONDS.

docs/operations.md ("Health") describes the bodies.
"""

import asyncio
import dataclasses
import datetime
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from asgiref.sync import async_to_sync, iscoroutinefunction
from django.conf import settings
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import sync_and_async_middleware
from health_check import checks as library_checks
from health_check.base import HealthCheck
from health_check.contrib import redis as library_redis
from health_check.exceptions import ServiceUnavailable

from chat.events import broadcast
from chatsite.core import heartbeat, metrics

logger = logging.getLogger(__name__)

# Each check's own budget; django-health-check adds a second for a client's
# own timeout to report first, so every check has an answer within 2 s.
CHECK_TIMEOUT = datetime.timedelta(seconds=1)
WORKER_TIMEOUT = 1.0  # seconds for the heartbeat's read
# Synchronous checks (the database) run here, not on the loop's default
# executor: a hung PostgreSQL may hold these threads, never the ones that
# resolve Redis's address or serve the requests.
_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")
_migrated: set[str] = set()  # database aliases whose migrations were all applied
_last_failing: list[str] = []  # what the previous /readyz of this process found failing


class OwnMessages:
    """A check whose failure messages are fixed texts of ours, safe to show."""


@dataclasses.dataclass
class Database(library_checks.Database):
    name: ClassVar[str] = "database"
    timeout = CHECK_TIMEOUT


@dataclasses.dataclass
class Redis(library_redis.Redis):
    name: ClassVar[str] = "redis"
    timeout = CHECK_TIMEOUT


def redis_client():
    """A client of REDIS_URL for one PING: short timeouts, no retries."""
    from redis.asyncio import Redis as AsyncRedis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    seconds = CHECK_TIMEOUT.total_seconds()
    return AsyncRedis.from_url(
        settings.REDIS_URL, socket_connect_timeout=seconds, socket_timeout=seconds, retry=Retry(NoBackoff(), 0)
    )


@dataclasses.dataclass
class Migrations(OwnMessages, HealthCheck):
    """Every migration of the code is applied: an empty migration plan. The
    answer is remembered once true (loading the migrations costs tens of
    milliseconds); a failure is asked again next time."""

    name: ClassVar[str] = "migrations"
    alias: str = "default"
    timeout = CHECK_TIMEOUT

    def run(self):
        if self.alias in _migrated:
            return
        connection = connections[self.alias]
        try:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as error:
            raise ServiceUnavailable("unavailable") from error
        finally:
            connection.close()
        if plan:
            raise ServiceUnavailable(f"{len(plan)} not applied")
        _migrated.add(self.alias)


@dataclasses.dataclass
class ChannelLayer(OwnMessages, HealthCheck):
    """This process's channel layer subscriber is connected (on this event loop)."""

    name: ClassVar[str] = "channel_layer"
    timeout = CHECK_TIMEOUT

    async def run(self):
        if not await broadcast.subscriber_ready(timeout=self.timeout.total_seconds()):
            raise ServiceUnavailable("subscriber not connected")


def readiness_checks() -> list[HealthCheck]:
    checks = [Database(), Migrations()]
    if settings.REDIS_URL:
        checks.append(Redis(client_factory=redis_client))
    checks.append(ChannelLayer())
    return checks


def _shown(result) -> str:
    """What the body says of one check: never an exception's own text (it can
    name hosts), except the fixed messages of our own checks."""
    error = result.error
    if error is None:
        return "ok"
    if isinstance(result.check, OwnMessages):
        return error.message
    return "timeout" if str(error.message).startswith("Timed out") else "unavailable"


async def _worker() -> dict:
    loop = asyncio.get_running_loop()

    def read():
        try:
            return heartbeat.status()
        finally:
            connections.close_all()

    try:
        return await asyncio.wait_for(loop.run_in_executor(_executor, read), WORKER_TIMEOUT)
    except Exception:  # noqa: BLE001 - the database away or slow: the database check says so
        return {"status": "unknown", "last_seen": None}


async def readiness() -> tuple[int, dict]:
    """(status code, body) of /readyz."""
    checks = readiness_checks()
    *results, worker = await asyncio.gather(*(check.get_result(_executor) for check in checks), _worker())
    shown = {result.check.name: _shown(result) for result in results}
    failing = [name for name, text in shown.items() if text != "ok"]
    body = {"status": "unavailable" if failing else "ok", "checks": shown}
    if failing:
        body["failing"] = failing
    body["worker"] = worker
    if worker["status"] != "ok":
        body["warnings"] = ["worker"]
    _log_change(failing)
    metrics.readiness(not failing)
    return (503 if failing else 200), body


def _log_change(failing: list[str]) -> None:
    """One line when readiness changes, not one per probe (django-health-check's
    own per-check warnings are turned down in settings.LOGGING)."""
    if failing == _last_failing:
        return
    if failing:
        logger.warning("not ready: %s", ", ".join(failing))
    else:
        logger.warning("ready again")
    _last_failing[:] = failing


def _json(status: int, body: dict, method: str) -> HttpResponse:
    response = JsonResponse(body, status=status)
    if method == "HEAD":
        response.content = b""
    add_never_cache_headers(response)
    # A failing probe is logged once per change (above), not by Django on every call.
    response._has_been_logged = True
    return response


def _not_allowed() -> HttpResponse:
    response = HttpResponse("Method not allowed\n", status=405, content_type="text/plain; charset=utf-8")
    response["Allow"] = "GET, HEAD"
    return response


async def readyz(request) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return _not_allowed()
    status, body = await readiness()
    return _json(status, body, request.method)


async def healthz(request) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return _not_allowed()
    return _json(200, {"status": "ok"}, request.method)


ENDPOINTS = {"/healthz": healthz, "/readyz": readyz}


@sync_and_async_middleware
def health_middleware(get_response):
    """Answers /healthz and /readyz before any other middleware sees them."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            endpoint = ENDPOINTS.get(request.path_info)
            if endpoint is not None:
                request.log_route = request.path_info.lstrip("/")
                return await endpoint(request)
            return await get_response(request)

    else:

        def middleware(request):
            endpoint = ENDPOINTS.get(request.path_info)
            if endpoint is not None:
                request.log_route = request.path_info.lstrip("/")
                return async_to_sync(endpoint)(request)
            return get_response(request)

    return middleware
