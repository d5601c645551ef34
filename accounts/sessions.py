"""A person's signed-in devices (``UserSession`` rows): listed, revoked one at a
time or all but the current one ("log out everywhere else", and after a
password change).

- A **browser** session is a Django session: its row is written when the
  person logs in (``user_logged_in``) and its id kept in the session's data
  (``SESSION_DATA_KEY``); :class:`accounts.middleware.SessionSeenMiddleware`
  notes when it was last used.
- An **API** session is a chain of rotating refresh tokens: each carries the
  row's id in its ``sid`` claim (access tokens copy it). A refresh whose
  session row is gone is refused, and so is an access token
  (:class:`accounts.tokens.SessionJWTAuthentication`): revoking a
  session ends its access tokens at once, not at their expiry.

Revoking ends the Django session or blacklists the refresh tokens, deletes the
row, and sends :data:`sessions_revoked` after commit; chat closes the
WebSockets of those sessions on it (chat/apps.py), so accounts never imports chat.
"""

import ipaddress
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from importlib import import_module

import jwt
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.dispatch import Signal
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from chatsite.core.exceptions import Invalid, NotFound

from .models import SessionKind, User, UserSession

logger = logging.getLogger(__name__)

SESSION_DATA_KEY = "accounts_session_id"
SEEN_DATA_KEY = "accounts_session_seen"
SID_CLAIM = "sid"
# How often a session's last-seen time is written (seconds).
SEEN_EVERY = 300

# Sent after commit when sessions of ``user`` end other than by logging out:
# ``session_ids`` the ended ones; ``keep_session_id`` (when not None) means
# "every session but this one" (sockets opened before sessions were tracked
# close too). Receivers: chat closes those sessions' WebSockets.
sessions_revoked = Signal()


def request_device(request) -> tuple[str, str | None]:
    """(User-Agent, client address) of a request, as stored."""
    meta = getattr(request, "META", {}) or {}
    agent = str(meta.get("HTTP_USER_AGENT", ""))[:300]
    ip = meta.get("REMOTE_ADDR") or None
    try:
        ipaddress.ip_address(ip or "")
    except ValueError:
        ip = None
    return agent, ip


# --- starting sessions ---------------------------------------------------------------------
def browser_session_started(sender, request=None, user=None, **kwargs) -> None:
    """``user_logged_in``: the browser session gets its row (simplejwt's token
    views do not send this signal; their sessions start in accounts.tokens)."""
    session = getattr(request, "session", None)
    if user is None or session is None or session.session_key is None:
        return
    agent, ip = request_device(request)
    row = UserSession.objects.create(
        user=user, kind=SessionKind.BROWSER, session_key=session.session_key, user_agent=agent, ip=ip, last_seen_at=timezone.now()
    )
    session[SESSION_DATA_KEY] = str(row.pk)
    session[SEEN_DATA_KEY] = int(timezone.now().timestamp())


def browser_session_ended(sender, request=None, user=None, **kwargs) -> None:
    """``user_logged_out``: the browser session's row goes with it."""
    session = getattr(request, "session", None)
    session_id = session.get(SESSION_DATA_KEY) if session is not None else None
    if session_id:
        UserSession.objects.filter(pk=session_id).delete()


def api_session_start(*, user: User, request) -> UserSession:
    agent, ip = request_device(request)
    return UserSession.objects.create(
        user=user, kind=SessionKind.API, user_agent=agent, ip=ip, last_seen_at=timezone.now()
    )


def refresh_token_for(*, user: User, session: UserSession) -> RefreshToken:
    """A refresh token of ``session`` (its outstanding record keeps the claim too)."""
    token = RefreshToken.for_user(user)
    token[SID_CLAIM] = str(session.pk)
    OutstandingToken.objects.filter(jti=token["jti"]).update(token=str(token))
    return token


def browser_session_key_changed(*, request) -> None:
    """After ``update_session_auth_hash`` (a new key): the row follows it."""
    session_id = request.session.get(SESSION_DATA_KEY)
    if session_id and request.session.session_key:
        UserSession.objects.filter(pk=session_id).update(session_key=request.session.session_key)


# --- which session is asking ----------------------------------------------------------------
def current_session_id(request) -> str | None:
    """The session of a DRF request: the token's ``sid``, else the browser session's."""
    auth = getattr(request, "auth", None)
    if auth is not None and hasattr(auth, "get"):
        sid = auth.get(SID_CLAIM)
        if sid:
            return str(sid)
        return None
    session = getattr(request, "session", None)
    value = session.get(SESSION_DATA_KEY) if session is not None else None
    return str(value) if value else None


def active_user(user_id, session_id: str | None = None) -> User | None:
    """The active user ``user_id``, or None; with ``session_id``, only while
    that session of theirs lasts (one query)."""
    try:
        users = User.objects.filter(pk=uuid.UUID(str(user_id)), is_active=True)
        if session_id is not None:
            alive = UserSession.objects.filter(pk=uuid.UUID(str(session_id)), user_id=OuterRef("pk"))
            users = users.filter(Exists(alive))
    except ValueError:
        return None
    return users.first()


def session_id_of_scope(scope) -> str | None:
    """The session of a WebSocket (chat/realtime/ws_auth.py puts a ticket's in
    ``device_session``; a cookie's session has already been read by then)."""
    if scope.get("device_session"):
        return str(scope["device_session"])
    session = scope.get("session")
    if session is None:
        return None
    try:
        value = session.get(SESSION_DATA_KEY)
    except Exception:  # noqa: BLE001 - no session store behind it
        return None
    return str(value) if value else None


# --- listing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionInfo:
    id: str
    kind: str
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    ip: str | None
    current: bool


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def _expired(row: UserSession, now) -> bool:
    """Unused past its lifetime: a browser session's cookie age, an API
    session's refresh token lifetime (each refresh renews it)."""
    if row.kind == SessionKind.BROWSER:
        return (now - row.last_seen_at).total_seconds() > settings.SESSION_COOKIE_AGE + SEEN_EVERY
    return now - row.last_seen_at > settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]


def user_session_list(*, user: User, current_id: str | None) -> list[SessionInfo]:
    """The person's sessions, the most recently used first; sessions that
    ended meanwhile (expired, or a browser session deleted) are dropped, and
    their rows deleted."""
    store = _session_store()
    now = timezone.now()
    rows = list(UserSession.objects.filter(user=user).order_by("-last_seen_at"))
    alive, gone = [], []
    for row in rows:
        if str(row.pk) != current_id and (
            _expired(row, now) or (row.kind == SessionKind.BROWSER and not store().exists(row.session_key))
        ):
            gone.append(row.pk)
            continue
        alive.append(row)
    if gone:
        UserSession.objects.filter(pk__in=gone).delete()
    return [
        SessionInfo(
            id=str(row.pk),
            kind=row.kind,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            user_agent=row.user_agent,
            ip=row.ip,
            current=str(row.pk) == current_id,
        )
        for row in alive
    ]


# --- revoking ----------------------------------------------------------------------------------
def _token_sid(token: str) -> str | None:
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    sid = payload.get(SID_CLAIM)
    return str(sid) if sid else None


def _blacklist_refresh_tokens(*, user: User, ended: set[str], keep: str | None) -> int:
    """Blacklist the live refresh tokens of the ``ended`` sessions (with ``keep``:
    of every session but that one, tokens issued without a session included)."""
    outstanding = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)
    doomed = []
    for token in outstanding.only("pk", "token"):
        sid = _token_sid(token.token)
        if (keep is not None and sid != keep) or (keep is None and sid in ended):
            doomed.append(BlacklistedToken(token=token))
    BlacklistedToken.objects.bulk_create(doomed, ignore_conflicts=True)
    return len(doomed)


def _end(*, user: User, rows: list[UserSession], keep: str | None, announce: bool = True) -> list[str]:
    store = _session_store()
    ended = {str(row.pk) for row in rows}
    for row in rows:
        if row.kind == SessionKind.BROWSER and row.session_key:
            store(session_key=row.session_key).delete()
    UserSession.objects.filter(pk__in=ended).delete()
    _blacklist_refresh_tokens(user=user, ended=ended, keep=keep)
    if announce:
        transaction.on_commit(
            partial(sessions_revoked.send, sender=User, user=user, session_ids=sorted(ended), keep_session_id=keep)
        )
    return sorted(ended)


@transaction.atomic
def user_session_revoke(*, user: User, session_id, current_id: str | None) -> None:
    """End one of the person's sessions (not the current one: that is logging out).
    Raises NotFound when it is not theirs."""
    row = UserSession.objects.filter(user=user, pk=session_id).first()
    if row is None:
        raise NotFound("No such session.", code="session_not_found")
    if str(row.pk) == current_id:
        raise Invalid("This is the session you are using: log out instead.", code="session_is_current")
    _end(user=user, rows=[row], keep=None)


@transaction.atomic
def user_sessions_revoke_others(*, user: User, keep_id: str | None) -> list[str]:
    """End every session of the person but ``keep_id`` (the one asking): their
    Django sessions, their refresh tokens, and (through the signal) their sockets."""
    rows = list(UserSession.objects.filter(user=user).exclude(pk=keep_id) if keep_id else UserSession.objects.filter(user=user))
    if keep_id is None:
        keep_id = ""  # nothing to keep, but still "every session"
    # Browser sessions signed in before sessions were tracked have no row: a
    # password change ends them through Django's session hash check anyway.
    return _end(user=user, rows=rows, keep=keep_id)


@transaction.atomic
def user_sessions_end_all(*, user: User) -> list[str]:
    """End every session of the person (account deletion): their Django
    sessions and every live refresh token (also those issued without a
    session). No ``sessions_revoked``: the caller closes the sockets itself,
    with its own reason."""
    rows = list(UserSession.objects.filter(user=user))
    return _end(user=user, rows=rows, keep="", announce=False)


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"), ("Mac OS X", "macOS"),
            ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def describe_device(user_agent: str) -> str:
    """"Firefox on Windows" from a User-Agent; its first word for other clients."""
    agent = user_agent or ""
    browser = next((name for needle, name in _BROWSERS if needle in agent), None)
    system = next((name for needle, name in _SYSTEMS if needle in agent), None)
    if "HeadlessChrome/" in agent:
        browser = "Headless Chrome"
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system
    first = agent.split(" ", 1)[0].split("/", 1)[0].strip()
    return first[:60] or "Unknown device"
