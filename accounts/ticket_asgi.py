"""``POST /api/auth/ws-ticket/`` with a bearer token, answered without Django's stack.

Every API client asks for a ticket before each WebSocket handshake, so a crowd
that reconnects at once (a deploy, a network blip) asks for thousands at the
same moment. Through Django under ASGI each of those requests is a sync view on
a thread of its own, through the whole middleware stack: about 6 ms of one core
each, thousands of threads, and a queue for the database connections that ends
in 503s and retries (docs/performance.md, "The reconnect storm").

This ASGI wrapper answers the common case itself: a valid access token
(checked by the same simplejwt class as the REST API), one query on two
threads of its own (the user is active and the token's session not ended),
the same rate limit, and the ticket written to the shared cache. The answer,
its log line, its metrics and its ``X-Request-ID`` are those of the REST view.
Anything else (no bearer token, a bad or expired one, an ended session, a
refusal by the rate limit, the database or the cache away) goes on to Django
unchanged, and the REST view answers it as it always has; the request's body
is never read here.
"""

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host
from django.urls import resolve
from rest_framework_simplejwt.settings import api_settings

from chatsite import csp
from chatsite.core import metrics, ratelimit, request_log
from chatsite.core.logs import request_id_var

from . import sessions, tickets
from .tokens import SessionJWTAuthentication

logger = logging.getLogger(__name__)

# Threads of their own, not the sockets' metered pool: a crowd asking for tickets
# waits here without making the process refuse everyone's messages as overloaded.
_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ws-ticket")

PATH = "/api/auth/ws-ticket/"
# What Django's stack adds to this view's answer (SecurityMiddleware, the
# clickjacking and CSP middleware, DRF), so a client sees the same either way.
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"allow", b"POST, OPTIONS"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


@cache
def _route() -> tuple[str, str]:
    """(the URL pattern, for the log line; the route's name, for metrics), as
    Django names this view."""
    match = resolve(PATH)
    return match.route, match.view_name


def _bearer(scope) -> bytes | None:
    """The token of the one ``Authorization`` header, in simplejwt's own terms
    (its header types, exactly); anything else is the REST view's to answer."""
    found = [value for name, value in scope.get("headers") or () if name == b"authorization"]
    if len(found) != 1:
        return None
    kind, _, token = found[0].partition(b" ")
    if kind.decode("latin-1") not in api_settings.AUTH_HEADER_TYPES or not token or b" " in token:
        return None
    return token


def _header(scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers") or ():
        if name == wanted:
            return value
    return None


def _host_allowed(scope) -> bool:
    """The ``Host`` header passes ``ALLOWED_HOSTS`` as Django checks it (else
    Django answers the 400)."""
    host = (_header(scope, b"host") or b"").decode("latin-1")
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


def _secure(scope) -> bool:
    """HTTPS, as Django's ``request.is_secure()`` tells it."""
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        name, wanted = proxy
        header = _header(scope, name.removeprefix("HTTP_").lower().replace("_", "-").encode())
        if header is not None:
            return header.decode("latin-1").split(",")[0].strip() == wanted
    return scope.get("scheme") == "https"


class _PolicyRequest:
    """What chatsite/csp.py reads of a request."""

    path = PATH

    def __init__(self, host: str):
        self.host = host

    def get_host(self) -> str:
        return self.host


def _policy(scope) -> str:
    return csp.policy_for(_PolicyRequest((_header(scope, b"host") or b"").decode("latin-1")))


def _hsts() -> str:
    value = f"max-age={settings.SECURE_HSTS_SECONDS}"
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        value += "; includeSubDomains"
    if settings.SECURE_HSTS_PRELOAD:
        value += "; preload"
    return value


def _issue(user_id: str, session_id: str | None) -> str | None:
    """On a database thread: the ticket, or None for Django to answer."""
    close_old_connections()
    try:
        if sessions.active_user(user_id, session_id) is None:
            return None
        if not ratelimit.allows(kind="ws.connect", user_id=user_id):
            return None
        return tickets.issue_for(user_id, session_id=session_id)
    finally:
        close_old_connections()


class TicketEndpoint:
    """ASGI wrapper of the HTTP side (chatsite/asgi.py)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") != PATH or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        raw = _bearer(scope)
        if raw is None or not _host_allowed(scope) or (settings.SECURE_SSL_REDIRECT and not _secure(scope)):
            return await self.app(scope, receive, send)
        try:
            token = _validated(raw)
            user_id = str(token[api_settings.USER_ID_CLAIM])
            session_id = token.get(sessions.SID_CLAIM)
        except Exception as error:  # noqa: BLE001 - a bad token: Django's view words the 401
            logger.debug("ticket: handing a request to Django (%s)", type(error).__name__)
            return await self.app(scope, receive, send)
        session_id = None if session_id is None else str(session_id)  # "" is a session id, and no session
        try:
            ticket = await asyncio.get_running_loop().run_in_executor(_executor, _issue, user_id, session_id)
        except Exception:  # noqa: BLE001 - the database or the cache away: Django answers as always
            logger.debug("ticket: handing a request to Django", exc_info=True)
            ticket = None
        if ticket is None:
            return await self.app(scope, receive, send)
        await self._answer(scope, send, ticket, user_id, started)

    @staticmethod
    async def _answer(scope, send, ticket: str, user_id: str, started: float) -> None:
        request_id = request_log.request_id_from(_header(scope, b"x-request-id"))
        request_id_var.set(request_id)
        body = b'{"ticket":"%s","expires_in":%d}' % (ticket.encode(), tickets.TTL_SECONDS)
        headers = [*_HEADERS, (b"content-length", str(len(body)).encode()), (b"x-request-id", request_id.encode())]
        headers.append((b"content-security-policy", _policy(scope).encode()))
        if settings.SECURE_HSTS_SECONDS and _secure(scope):
            headers.append((b"strict-transport-security", _hsts().encode()))
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        seconds = time.perf_counter() - started
        route, name = _route()
        metrics.http_request(name, "POST", 201, seconds)
        request_log.http_request_line(method="POST", route=route, status=201, duration_ms=seconds * 1000, user_id=user_id)


_authentication = SessionJWTAuthentication()


def _validated(raw: bytes):
    """The access token, checked as the REST API checks it (signature, expiry,
    type; accounts/tokens.py's class; its user is read in :func:`_issue`)."""
    return _authentication.get_validated_token(raw)
