"""Web Push (RFC 8030 / 8291 / 8292) for notification rows: VAPID-signed,
payload encrypted to the browser's keys (pywebpush; docs/notifications.md).

- ``validate_subscription(data) -> dict``: check a browser's PushSubscription
  JSON before it is stored; raises chatsite.core.exceptions.Invalid.
- ``deliver(notification) -> str``: send one due push row to every
  subscription of its user; returns the NotificationState it ends in.

A push passes through the browser vendor's push service, so by default it says
only who wrote where; ``CHAT_PUSH_INCLUDE_CONTENT`` adds an excerpt. The server
only ever posts to the push services of ``CHAT_PUSH_ALLOWED_HOSTS``: a stored
endpoint is checked again before every send (SSRF), and redirects are never
followed.
"""

import base64
import binascii
import ipaddress
import json
import logging
import re
import socket
from functools import lru_cache
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.utils import timezone
from py_vapid import Vapid, VapidException
from pywebpush import WebPushException, webpush

from chat import crypto
from chat.models import (
    Notification,
    NotificationReason,
    NotificationState,
    PushSubscription,
    RoomType,
)
from chatsite.core.exceptions import Invalid

from .links import message_path

logger = logging.getLogger(__name__)

MAX_ENDPOINT_LENGTH = 1000  # PushSubscription.endpoint's column
EXCERPT_LENGTH = 140
BASE64URL_RE = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
# The push service no longer knows this subscription: forget it.
GONE_STATUSES = {404, 410}


# --- Validation -------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def validate_subscription(data) -> dict:
    """Check a browser's ``PushSubscription.toJSON()``:
    ``{"endpoint", "keys": {"p256dh", "auth"}, "expirationTime"}``.

    Returns ``{"endpoint", "p256dh", "auth"}`` (keys as unpadded base64url),
    ready for a PushSubscription row. Raises ``Invalid`` with ``fields`` naming
    every field at fault ("endpoint", "keys.p256dh", "keys.auth"); the code is
    that field's ("invalid_push_endpoint", "push_service_not_allowed",
    "invalid_push_key"), or "invalid_push_subscription" when several are wrong
    or the shape is.
    """
    if not isinstance(data, dict):
        raise Invalid(
            "A push subscription is an object with endpoint and keys.",
            code="invalid_push_subscription",
            fields={"non_field_errors": ["Must be an object."]},
        )
    keys = data.get("keys")
    if not isinstance(keys, dict):
        keys = {}
    checks = {
        "endpoint": lambda: _check_endpoint(data.get("endpoint")),
        "keys.p256dh": lambda: _validate_p256dh(keys.get("p256dh")),
        "keys.auth": lambda: _validate_auth(keys.get("auth")),
    }
    cleaned, refusals = {}, {}
    for field, check in checks.items():
        try:
            cleaned[field] = check()
        except _Refused as refused:
            refusals[field] = refused
    if refusals:
        fields = {field: [refused.message] for field, refused in refusals.items()}
        if len(refusals) == 1:
            (refused,) = refusals.values()
            raise Invalid(f"Push subscription refused: {refused.message}", code=refused.code, fields=fields)
        raise Invalid("Push subscription refused.", code="invalid_push_subscription", fields=fields)
    return {"endpoint": cleaned["endpoint"], "p256dh": cleaned["keys.p256dh"], "auth": cleaned["keys.auth"]}


def _check_endpoint(endpoint) -> str:
    """The endpoint URL if the server may post to it; raises ``_Refused``."""
    if not isinstance(endpoint, str) or not endpoint:
        raise _Refused("invalid_push_endpoint", "Required: the push service URL.")
    if len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise _Refused("invalid_push_endpoint", f"At most {MAX_ENDPOINT_LENGTH} characters.")
    if any(ord(char) <= 32 or ord(char) == 127 for char in endpoint) or not endpoint.isascii():
        raise _Refused("invalid_push_endpoint", "Must be a URL without spaces or control characters.")
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError:
        raise _Refused("invalid_push_endpoint", "Must be a URL.") from None
    schemes = {"https"} if settings.CHAT_PUSH_REQUIRE_HTTPS else {"https", "http"}
    if parts.scheme not in schemes:
        raise _Refused("invalid_push_endpoint", "Must be an https:// URL.")
    if "@" in parts.netloc:
        raise _Refused("invalid_push_endpoint", "Must not contain a user name or password.")
    if not parts.hostname or parts.fragment:
        raise _Refused("invalid_push_endpoint", "Must be a URL with a host and no fragment.")
    if not _host_allowed(parts.hostname):
        raise _Refused("push_service_not_allowed", "Not the push service of a supported browser.")
    return endpoint


def _host_allowed(host: str) -> bool:
    """A host of CHAT_PUSH_ALLOWED_HOSTS or a subdomain of one; an address (or
    localhost) only when listed exactly, as the tests list their receiver."""
    host = host.lower()
    allowed = [entry.lower().removeprefix("*").removeprefix(".") for entry in settings.CHAT_PUSH_ALLOWED_HOSTS]
    if _is_address(host) or host == "localhost" or host.endswith(".localhost"):
        return host in allowed
    return any(host == entry or host.endswith("." + entry) for entry in allowed if entry and not _is_address(entry))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        # What the resolver would still read as IPv4: "127.1", "0x7f.0.0.1", "2130706433".
        socket.inet_aton(host)
        return True
    except OSError:
        return False


def _decode_base64url(value, field: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise _Refused("invalid_push_key", f"Required: {field} in base64url.")
    if len(value) > 200 or not BASE64URL_RE.match(value):
        raise _Refused("invalid_push_key", "Must be base64url.")
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise _Refused("invalid_push_key", "Must be base64url.") from None


def _encode_base64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _validate_p256dh(value) -> str:
    raw = _decode_base64url(value, "the browser's P-256 public key")
    if len(raw) != 65 or raw[0] != 0x04:
        raise _Refused("invalid_push_key", "Must be an uncompressed P-256 point (65 bytes).")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise _Refused("invalid_push_key", "Not a point on the P-256 curve.") from None
    return _encode_base64url(raw)


def _validate_auth(value) -> str:
    raw = _decode_base64url(value, "the 16-byte authentication secret")
    if len(raw) != 16:
        raise _Refused("invalid_push_key", "Must be 16 bytes.")
    return _encode_base64url(raw)


# --- Delivery ---------------------------------------------------------------------


class _NoRedirects(requests.Session):
    """A push service answers; it never sends the server somewhere else."""

    def request(self, method, url, *args, **kwargs):
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


@lru_cache(maxsize=4)
def _vapid(private_key: str) -> Vapid:
    if private_key.startswith("-----BEGIN"):
        return Vapid.from_pem(private_key.encode())
    return Vapid.from_raw(private_key.encode())


def payload_for(notification: Notification) -> dict:
    """What the service worker shows (static/chat/sw.js): who wrote where, and
    where clicking leads. The message text only with CHAT_PUSH_INCLUDE_CONTENT."""
    room, message = notification.room, notification.message
    sender = message.sender.name if message.sender else "Someone"
    where = f"#{room.name}" if room.name else "a conversation"
    if room.room_type == RoomType.DIRECT or notification.reason == NotificationReason.DIRECT:
        title = f"{sender} sent you a message"
    elif notification.reason == NotificationReason.MENTION:
        title = f"{sender} mentioned you in {where}"
    elif notification.reason == NotificationReason.THREAD:
        title = f"{sender} replied in a thread you follow in {where}"
    else:
        title = f"New message from {sender} in {where}"
    body = ""
    if settings.CHAT_PUSH_INCLUDE_CONTENT:
        text = " ".join(crypto.decrypt(message.content_encrypted).split())
        body = text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1].rstrip() + "…"
        if not body and message.attachment_id:
            body = "Sent a file."
    return {
        "title": title,
        "body": body,
        "room": str(room.pk),
        "message": str(message.pk),
        "url": message_path(room_id=room.pk, message_id=message.pk),
        "tag": str(message.pk),
    }


def _origin(endpoint: str) -> str:
    """The push service's origin, the JWT's ``aud`` (RFC 8292 section 2)."""
    parts = urlsplit(endpoint)
    default_port = {"https": 443, "http": 80}[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = "" if parts.port in (None, default_port) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"


def deliver(notification: Notification) -> str:
    """Send one push row to every PushSubscription of its user.

    Returns "sent" when at least one push service accepted it, "skipped" when
    the user has no subscription (or every one turned out gone), "failed" when
    every one failed (the worker may retry). A subscription its push service
    answers 404 or 410 is deleted; a stored endpoint that is no longer allowed
    is not posted to. Failures are
    logged at WARNING with the push service's host and status, never the
    endpoint (a bearer capability) or the payload; ``notification.last_error``
    says what went wrong for the worker to store. Network I/O: call it outside
    any lock a user could be waiting on.
    """
    subscriptions = list(PushSubscription.objects.filter(user_id=notification.user_id).order_by("created_at"))
    if not subscriptions:
        return NotificationState.SKIPPED
    data = json.dumps(payload_for(notification), separators=(",", ":"))
    vapid = _vapid(settings.CHAT_VAPID_PRIVATE_KEY)
    urgency = "normal" if notification.reason == NotificationReason.MESSAGE else "high"
    delivered, errors, gone = [], [], 0
    with _NoRedirects() as session:
        for subscription in subscriptions:
            error = _send_one(subscription, data, vapid, urgency, session, notification)
            if error is None:
                delivered.append(subscription.pk)
            elif error is _GONE:
                gone += 1
            else:
                errors.append(error)
    if delivered:
        PushSubscription.objects.filter(pk__in=delivered).update(last_used_at=timezone.now())
        return NotificationState.SENT
    if gone == len(subscriptions):
        notification.last_error = "every push subscription was gone (404/410): deleted"
        return NotificationState.SKIPPED
    notification.last_error = "; ".join(dict.fromkeys(errors))[:300]
    return NotificationState.FAILED


_GONE = "gone"


def _send_one(subscription, data, vapid, urgency, session, notification) -> str | None:
    """None when the push service took the push, ``_GONE`` when it no longer
    knows the subscription (deleted here), else a short reason."""
    try:
        endpoint = _check_endpoint(subscription.endpoint)
    except _Refused as refused:
        logger.warning(
            "push subscription %s of user %s not used: %s", subscription.pk, notification.user_id, refused.message
        )
        return "endpoint not allowed"
    host = urlsplit(endpoint).hostname
    try:
        webpush(
            subscription_info={"endpoint": endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}},
            data=data,
            vapid_private_key=vapid,
            # A new dict each time: webpush writes "exp" into it.
            vapid_claims={"sub": settings.CHAT_VAPID_SUBJECT, "aud": _origin(endpoint)},
            ttl=settings.CHAT_PUSH_TTL,
            timeout=settings.CHAT_PUSH_TIMEOUT,
            headers={"Urgency": urgency},
            requests_session=session,
        )
    except WebPushException as exc:
        status = exc.status_code
        if status in GONE_STATUSES:
            logger.info("push subscription %s is gone (%s from %s): deleted", subscription.pk, status, host)
            subscription.delete()
            return _GONE
        if status is None:
            logger.warning("push to %s for notification %s not sent: %s", host, notification.pk, exc.message)
            return f"not sent: {exc.message}"
        logger.warning("push to %s for notification %s failed: HTTP %s", host, notification.pk, status)
        return f"{host} answered {status}"
    except VapidException:
        # CHAT_VAPID_SUBJECT or the key is wrong: no push can be signed.
        logger.warning("push for notification %s not signed: check CHAT_VAPID_SUBJECT", notification.pk)
        return "VAPID signing failed"
    except requests.RequestException as exc:
        logger.warning("push to %s for notification %s failed: %s", host, notification.pk, type(exc).__name__)
        return f"{host}: {type(exc).__name__}"
    except (ValueError, TypeError) as exc:
        # A stored key the encryption cannot use (rows written before validation).
        logger.warning("push subscription %s unusable: %s", subscription.pk, type(exc).__name__)
        return f"subscription unusable: {type(exc).__name__}"
    return None
