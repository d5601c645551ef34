"""One log line per HTTP request and two per WebSocket session (open, close).

HTTP (logger ``chatsite.request``, from :func:`request_log_middleware`, the
first middleware): method, route (the URL pattern, never the raw path),
status, duration, user id and the request id. The request id is the
``X-Request-ID`` header when the proxy set a well-formed one, a new one
otherwise; it is returned in the response's ``X-Request-ID`` and set for the
whole request (chatsite.core.logs), so every other line of the request names it.

WebSocket (logger ``chatsite.websocket``, from the consumer's connect and
disconnect): ``websocket open`` once accepted, ``websocket close`` with the
close code, frames in and out, and the session's duration.

Health probes (/healthz, /readyz) are logged at DEBUG: a load balancer calls
them every few seconds. Nothing of a request's body, query string, headers
or cookies is ever logged here.
"""

import logging
import re
import time
import uuid

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware
from django.utils.functional import empty

from .logs import request_id_var, route_of

logger = logging.getLogger("chatsite.request")
ws_logger = logging.getLogger("chatsite.websocket")

HEADER = "X-Request-ID"
# What a proxy's id may look like (nginx's $request_id: 32 hex digits; UUIDs;
# AWS's "Root=1-…"); anything else is replaced, so a client cannot write
# arbitrary text into the logs.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:;=+/@-]{1,128}")
QUIET_PATHS = frozenset({"/healthz", "/readyz"})


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(value: str | bytes | None) -> str:
    """The proxy's id when well formed, else a new one."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if value and VALID_REQUEST_ID.fullmatch(value):
        return value
    return new_request_id()


def _user_id(request) -> str | None:
    """The user's id if the request was authenticated; never loads the user just
    to log it (an unevaluated lazy user stays so)."""
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)
    if wrapped is empty or not getattr(wrapped, "is_authenticated", False):
        return None
    return str(wrapped.pk)


def _begin(request):
    """The request's id, set for the rest of the request. Not reset at its end:
    Django's own response warning comes after the middleware has returned, and
    the next request (or socket) sets its own."""
    request_id = request_id_from(request.headers.get(HEADER))
    request.request_id = request_id
    request_id_var.set(request_id)
    return request_id, time.perf_counter()


def _finish(request, response, request_id: str, started: float):
    level = logging.DEBUG if request.path_info in QUIET_PATHS else logging.INFO
    if logger.isEnabledFor(level):
        http_request_line(
            method=request.method, route=route_of(request), status=response.status_code,
            duration_ms=(time.perf_counter() - started) * 1000, user_id=_user_id(request), level=level,
        )
    response[HEADER] = request_id
    return response


def http_request_line(*, method: str, route: str, status: int, duration_ms: float, user_id: str | None,
                      level: int = logging.INFO) -> None:
    """The one line of a request (also written by the ASGI endpoints that answer
    without Django: accounts/ticket_asgi.py)."""
    duration_ms = round(duration_ms, 1)
    logger.log(
        level,
        "%s %s %s %.1f ms user=%s",
        method,
        route,
        status,
        duration_ms,
        user_id or "-",
        extra={
            "fields": {
                "event": "http.request",
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                "user_id": user_id,
            }
        },
    )


@sync_and_async_middleware
def request_log_middleware(get_response):
    """First in MIDDLEWARE: it times everything after it, health probes included."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            request_id, started = _begin(request)
            response = await get_response(request)
            return _finish(request, response, request_id, started)

    else:

        def middleware(request):
            request_id, started = _begin(request)
            response = get_response(request)
            return _finish(request, response, request_id, started)

    return middleware


# --- WebSocket sessions ---------------------------------------------------------------------
class SocketSession:
    """What the close line needs; the consumer counts the frames itself."""

    __slots__ = ("request_id", "route", "started", "user_id", "opened", "closed")

    def __init__(self, request_id: str, route: str):
        self.request_id = request_id
        self.route = route
        self.started = time.perf_counter()
        self.user_id: str | None = None
        self.opened = False
        self.closed = False


def websocket_begin(scope) -> SocketSession:
    """At the start of a consumer's connect, in the socket's own task: the
    session's request id (the handshake's X-Request-ID, or a new one) is set
    for every line the socket's task writes from now on."""
    headers = dict(scope.get("headers") or ())
    session = SocketSession(request_id_from(headers.get(b"x-request-id")), scope.get("path") or "-")
    request_id_var.set(session.request_id)
    return session


def websocket_refused(scope, *, reason: str) -> None:
    """A handshake refused before any consumer ran (a bad ticket, a foreign Origin)."""
    request_id = request_id_from(dict(scope.get("headers") or ()).get(b"x-request-id"))
    route = scope.get("path") or "-"
    ws_logger.info(
        "websocket refused %s reason=%s",
        route,
        reason,
        extra={"fields": {"event": "websocket.refused", "route": route, "reason": reason}, "request_id": request_id},
    )


def websocket_opened(session: SocketSession, *, user_id) -> None:
    """The handshake was accepted."""
    session.user_id, session.opened = str(user_id), True
    ws_logger.info(
        "websocket open %s user=%s",
        session.route,
        session.user_id,
        extra={
            "fields": {"event": "websocket.open", "route": session.route, "user_id": session.user_id},
            "request_id": session.request_id,
        },
    )


def websocket_closed(session: SocketSession | None, *, code, frames_in: int, frames_out: int) -> None:
    """The socket ended (or its handshake was refused: ``opened`` false)."""
    if session is None or session.closed:
        return
    session.closed = True
    duration_ms = round((time.perf_counter() - session.started) * 1000, 1)
    ws_logger.info(
        "websocket close %s code=%s in=%d out=%d %.1f ms user=%s",
        session.route,
        code,
        frames_in,
        frames_out,
        duration_ms,
        session.user_id or "-",
        extra={
            "fields": {
                "event": "websocket.close",
                "route": session.route,
                "code": code,
                "opened": session.opened,
                "frames_in": frames_in,
                "frames_out": frames_out,
                "duration_ms": duration_ms,
                "user_id": session.user_id,
            },
            "request_id": session.request_id,
        },
    )
