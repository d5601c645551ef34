"""Single-use WebSocket tickets: a JWT never goes in a URL.

``POST /api/auth/ws-ticket/`` issues a random ticket kept in the shared cache
for 30 seconds; the WebSocket handshake consumes it (once) with ``?ticket=``.
"""

import secrets

from django.core.cache import cache

TTL_SECONDS = 30
_PREFIX = "wsticket:"


def issue(user) -> str:
    ticket = secrets.token_urlsafe(32)
    cache.set(_PREFIX + ticket, str(user.pk), TTL_SECONDS)
    return ticket


def consume(ticket: str) -> str | None:
    """The user id the ticket was issued to, or None. A ticket works once."""
    if not isinstance(ticket, str) or not 20 <= len(ticket) <= 100:
        return None
    key = _PREFIX + ticket
    user_id = cache.get(key)
    # delete() reports whether this call removed it: of two racing consumers, one wins.
    if user_id is None or not cache.delete(key):
        return None
    return user_id
