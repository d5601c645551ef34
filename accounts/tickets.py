"""Single-use WebSocket tickets: a JWT never goes in a URL.

``POST /api/auth/ws-ticket/`` issues a random ticket kept in the shared cache
for 30 seconds; the WebSocket handshake consumes it (once) with ``?ticket=``.
"""

import secrets

from django_redis.cache import RedisCache

from chatsite.core.cache import redis_script, shared_cache

TTL_SECONDS = 30
_PREFIX = "wsticket:"
_TAKE_SCRIPT = """
local value = redis.call('GET', KEYS[1])
if value then redis.call('DEL', KEYS[1]) end
return value
"""


def issue(user, *, session_id: str | None = None) -> str:
    """A ticket for ``user``; the socket it opens belongs to ``session_id``
    (accounts/sessions.py), so revoking that session closes it."""
    return issue_for(user.pk, session_id=session_id)


def issue_for(user_id, *, session_id: str | None = None) -> str:
    """:func:`issue` for a user known by id."""
    ticket = secrets.token_urlsafe(32)
    value = f"{user_id}|{session_id}" if session_id else str(user_id)
    shared_cache().set(_PREFIX + ticket, value, TTL_SECONDS)
    return ticket


def redeem(ticket: str) -> tuple[str, str | None] | None:
    """(user id, session id or None) the ticket was issued for, or None. A ticket works once."""
    if not isinstance(ticket, str) or not 20 <= len(ticket) <= 100:
        return None
    key = _PREFIX + ticket
    cache = shared_cache()  # not the per-context one: the socket's context outlives the handshake
    if isinstance(cache, RedisCache):
        # Read and remove in one step (a script: GETDEL needs Redis 6.2); of two racing consumers, one gets it.
        script, client = redis_script(cache, _TAKE_SCRIPT)
        raw = script(keys=[cache.make_key(key)], client=client)
        value = None if raw is None else cache.client.decode(raw)
    else:
        value = cache.get(key)
        # delete() reports whether this call removed it: of two racing consumers, one wins.
        if value is not None and not cache.delete(key):
            value = None
    if value is None:
        return None
    user_id, _, session_id = str(value).partition("|")
    return user_id, session_id or None


def consume(ticket: str) -> str | None:
    """The user id the ticket was issued to, or None. A ticket works once."""
    redeemed = redeem(ticket)
    return redeemed[0] if redeemed else None
