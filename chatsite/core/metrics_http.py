"""The HTTP side of the metrics: ``GET /metrics``, the per-request middleware, and
the collectors that read the database when Prometheus scrapes.

``/metrics`` is off (404) unless ``CHAT_METRICS_TOKEN`` or ``CHAT_METRICS_ALLOW``
is set. Each one that is set must pass: the client's address in one of the
allowed networks (else 403), ``Authorization: Bearer <token>`` (compared in
constant time; else 401). Only GET and HEAD. It is a safe method, so overload
shedding never refuses it; it calls no rate limiter; settings.py exempts it
from the HTTPS redirect (Prometheus scrapes the process's own port).
"""

import hmac
import ipaddress
import logging
import time

from django.conf import settings
from django.db import connection, transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from . import metrics

logger = logging.getLogger(__name__)

# How many due rows a scrape counts at most: a backlog of millions must not
# make the scrape slow (the index is walked that far, no further).
QUEUE_COUNT_CAP = 10_000
SCRAPE_STATEMENT_TIMEOUT_MS = 500

# Collectors called at each scrape (the notification queue registers from chat).
scrape_collectors: list = []


def register_scrape_collector(collector) -> None:
    if collector not in scrape_collectors:
        scrape_collectors.append(collector)


# --- the endpoint ------------------------------------------------------------------------
def allowed_networks() -> list:
    return [ipaddress.ip_network(item, strict=False) for item in settings.CHAT_METRICS_ALLOW]


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in allowed_networks())


def _token_ok(request) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        given = ""
    return hmac.compare_digest(given.strip().encode(), settings.CHAT_METRICS_TOKEN.encode())


def _refusal(status: int, code: str, detail: str) -> JsonResponse:
    response = JsonResponse({"code": code, "detail": detail}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    response["Cache-Control"] = "no-store"
    return response


def metrics_view(request):
    token, networks = settings.CHAT_METRICS_TOKEN, settings.CHAT_METRICS_ALLOW
    if not token and not networks:
        raise Http404("metrics are off")
    if request.method not in ("GET", "HEAD"):
        response = _refusal(405, "method_not_allowed", "Only GET.")
        response["Allow"] = "GET, HEAD"
        return response
    if networks and not _address_allowed(request.META.get("REMOTE_ADDR", "")):
        return _refusal(403, "forbidden", "This address may not read the metrics.")
    if token and not _token_ok(request):
        return _refusal(401, "not_authenticated", "A bearer token is required.")
    body = generate_latest(scrape_registry())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def scrape_registry():
    """What one scrape reports: with PROMETHEUS_MULTIPROC_DIR, the merged files of
    every process on the machine; else this process's metrics. Plus the
    database's queues, read now."""
    from prometheus_client import REGISTRY, multiprocess

    registry = CollectorRegistry()
    if metrics.MULTIPROCESS_DIR:
        metrics.reap_dead_processes()
        multiprocess.MultiProcessCollector(registry, path=metrics.MULTIPROCESS_DIR)
    else:
        registry.register(_Registered(REGISTRY))
    registry.register(_DatabaseQueues())
    return registry


class _Registered:
    """Another registry's metrics, passed through."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        yield from self.registry.collect()


class _DatabaseQueues:
    """The durable queues, read at scrape time so that a stopped worker shows as
    a growing age (a gauge the worker updated would freeze with it)."""

    def collect(self):
        families = []
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute(f"SET LOCAL statement_timeout = {SCRAPE_STATEMENT_TIMEOUT_MS}")
                now = timezone.now()
                families.extend(jobs_queue(now))
                for collector in scrape_collectors:
                    families.extend(collector(now))
        except Exception as exc:  # noqa: BLE001 - a scrape reports what it can
            logger.warning("metrics: the queues could not be read: %s", type(exc).__name__)
            ok = GaugeMetricFamily("chat_queue_scrape_ok", "1 when the last scrape could read the database queues")
            ok.add_metric([], 0)
            return [ok]
        ok = GaugeMetricFamily("chat_queue_scrape_ok", "1 when the last scrape could read the database queues")
        ok.add_metric([], 1)
        return [*families, ok]


def queue_families(name: str, what: str, queryset, now) -> list:
    """Depth (capped at QUEUE_COUNT_CAP) and the age of the oldest due row of
    ``queryset`` (due rows; its model has ``due_at`` under a partial index)."""
    depth = queryset.order_by()[:QUEUE_COUNT_CAP].count()
    oldest = queryset.order_by("due_at").values_list("due_at", flat=True).first()
    depth_family = GaugeMetricFamily(f"chat_{name}_queue_depth", f"{what} due now (at most {QUEUE_COUNT_CAP} counted)")
    depth_family.add_metric([], depth)
    age_family = GaugeMetricFamily(f"chat_{name}_queue_oldest_age_seconds", f"Age of the oldest {what} due now (0: none)")
    age_family.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    return [depth_family, age_family]


def jobs_queue(now) -> list:
    from .models import Job, JobState

    families = queue_families("jobs", "pending jobs", Job.objects.filter(state=JobState.PENDING, due_at__lte=now), now)
    running = GaugeMetricFamily("chat_jobs_running", "Jobs a worker holds now")
    running.add_metric([], Job.objects.filter(state=JobState.RUNNING).order_by()[:QUEUE_COUNT_CAP].count())
    return [*families, running]


# --- per request -----------------------------------------------------------------------------
def route_of(request) -> str:
    """The URL pattern's name (``room-message-list``), never the path: bounded."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or "unnamed"
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    return "unmatched"


class RequestMetricsMiddleware:
    """Counts each request by route, method and status, and times it (first in
    MIDDLEWARE, so the time is all of Django's)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        metrics.http_request(route_of(request), request.method, response.status_code, time.perf_counter() - started)
        return response
