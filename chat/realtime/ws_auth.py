"""WebSocket handshake authentication.

- Browsers: the Django session cookie, only with an ``Origin`` this site
  serves (``ALLOWED_HOSTS`` / ``CSRF_TRUSTED_ORIGINS``), against cross-site
  WebSocket hijacking.
- API clients: ``?ticket=`` from ``POST /api/auth/ws-ticket/``, single use,
  30 seconds; an ``Origin``, if sent, must be one of ours too.

Anything else is refused before the socket is accepted (HTTP 403).
"""

from urllib.parse import parse_qs, urlsplit

import logging

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.db import DatabaseError
from django.http.request import validate_host
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from accounts import sessions, tickets
from chatsite.core import metrics, request_log
from chatsite.core.db_threads import database_sync_to_async

logger = logging.getLogger(__name__)


def origin_allowed(origin: str) -> bool:
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return validate_host(parts.hostname, allowed)


@database_sync_to_async
def _ticket_user(ticket: str):
    """(user, the session the ticket was issued in) or (None, None): the user
    still active and that session not ended since the ticket was issued. On the
    pool of database threads, not Channels' one thread: a crowd reconnecting at
    once is checked in parallel."""
    redeemed = tickets.redeem(ticket)
    if redeemed is None:
        return None, None
    user_id, session_id = redeemed
    user = sessions.active_user(user_id, session_id)
    return (user, session_id) if user is not None else (None, None)


async def _deny(reason: str, scope, receive, send):
    request_log.websocket_refused(scope, reason=reason)
    return await WebsocketDenier()(scope, receive, send)


class ChatAuthMiddleware:
    def __init__(self, inner):
        self.inner = inner
        self.session_app = AuthMiddlewareStack(inner)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.inner(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin1")
        if origin and not origin_allowed(origin):
            metrics.handshake("origin_forbidden")
            return await _deny("origin", scope, receive, send)
        query = parse_qs(scope.get("query_string", b"").decode("latin1"))
        if "ticket" in query:
            try:
                user, session_id = await _ticket_user(query["ticket"][0])
            except (RedisError, ConnectionInterrupted, DatabaseError):
                # The ticket cannot be checked now (Redis or PostgreSQL away): refused,
                # as a client retries with its backoff, never an error page.
                logger.warning("ticket not checked: the cache or the database is unreachable")
                metrics.handshake("ticket_invalid")
                return await _deny("unavailable", scope, receive, send)
            if user is None:
                metrics.handshake("ticket_invalid")
                return await _deny("ticket", scope, receive, send)
            scope = {**scope, "user": user, "auth": "ticket", "device_session": session_id}
            return await self.inner(scope, receive, send)
        if not origin:
            # A session cookie is ambient: only a page of ours may use it.
            metrics.handshake("no_credentials")
            return await _deny("no_origin", scope, receive, send)
        return await self.session_app({**scope, "auth": "session"}, receive, send)
