"""A push service on a loopback port, for tests that send real Web Push.

It plays both ends a browser vendor's push service sits between: it hands out
subscriptions (a P-256 key pair and an auth secret made here, as a browser
makes them) and, for every POST to one of their endpoints, checks what a real
push service checks and decrypts what only the browser could:

- ``Authorization: vapid t=<JWT>, k=<key>`` (RFC 8292): the JWT is ES256 and
  its signature verifies with ``k``; ``aud`` is the endpoint's origin; ``exp``
  is in the future and at most 24 hours ahead; ``sub`` is a mailto: or https:
  URL; ``k`` is the server's public key the subscription was made for;
- ``TTL`` present, ``Content-Encoding: aes128gcm``, a body of at most 4096
  bytes that decrypts (RFC 8291, with ``http_ece``) to JSON.

A push that passes is answered 201 and kept in ``received``; one that fails is
answered 400/401/403 and kept in ``rejected`` with the reason. ``answer_once``
makes the next push to an endpoint get another status (410: the subscription
is gone). Only the standard library, cryptography and http_ece: nothing of
chatsite's own push code, so the two cannot share a mistake.
"""

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_PAYLOAD_BYTES = 4096  # what every push service must accept (RFC 8030 section 7.2)
MAX_EXP_SECONDS = 24 * 60 * 60  # RFC 8292 section 2


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BrowserSubscription:
    """What ``pushManager.subscribe()`` gives a page, plus the private half the
    browser keeps to itself."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url_encode(point)

    @property
    def auth(self) -> str:
        return b64url_encode(self.auth_secret)

    def to_json(self) -> dict:
        """``PushSubscription.toJSON()``."""
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


@dataclass
class Push:
    """One POST the receiver took: the decrypted payload and what came with it."""

    endpoint: str
    payload: dict
    claims: dict
    headers: dict
    status: int


@dataclass
class Rejection:
    endpoint: str
    status: int
    reason: str


@dataclass
class _State:
    subscriptions: dict = field(default_factory=dict)  # path -> BrowserSubscription
    answers: dict = field(default_factory=dict)  # path -> (status, Location) for the next push
    requests: int = 0
    received: list = field(default_factory=list)
    answered: list = field(default_factory=list)  # (endpoint, status) of answer_once pushes
    rejected: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Refuse(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class _Told(Exception):
    """A valid push answered with the status ``answer_once`` asked for."""

    def __init__(self, status: int, location: str | None):
        super().__init__(status)
        self.status, self.location = status, location


class PushReceiver:
    """``with PushReceiver(server_public_key) as receiver: ...`` (or ``close()``)."""

    def __init__(self, server_public_key: str):
        self.server_public_key = server_public_key
        self.state = _State()
        handler = type("Handler", (_Handler,), {"receiver": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self.origin = f"http://{self.host}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="push-receiver", daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def subscribe(self) -> BrowserSubscription:
        """A new subscription, as a browser would make one with this server's key."""
        path = f"/push/{secrets.token_urlsafe(16)}"
        subscription = BrowserSubscription(
            endpoint=self.origin + path,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=secrets.token_bytes(16),
        )
        with self.state.lock:
            self.state.subscriptions[path] = subscription
        return subscription

    def answer_once(self, endpoint: str, status: int, *, location: str | None = None) -> None:
        """The next push to ``endpoint`` gets ``status`` (and is not delivered);
        ``location`` makes it a redirect."""
        with self.state.lock:
            self.state.answers[endpoint.removeprefix(self.origin)] = (status, location)

    @property
    def requests(self) -> int:
        """POSTs of any kind so far."""
        with self.state.lock:
            return self.state.requests

    @property
    def received(self) -> list[Push]:
        with self.state.lock:
            return list(self.state.received)

    @property
    def rejected(self) -> list[Rejection]:
        with self.state.lock:
            return list(self.state.rejected)

    @property
    def answered(self) -> list[tuple[str, int]]:
        with self.state.lock:
            return list(self.state.answered)

    def received_by(self, subscription: BrowserSubscription) -> list[Push]:
        return [push for push in self.received if push.endpoint == subscription.endpoint]

    # --- what a push service checks ---------------------------------------------

    def take(self, path: str, headers: dict, body: bytes) -> Push:
        with self.state.lock:
            subscription = self.state.subscriptions.get(path)
            answer = self.state.answers.pop(path, None)
        if subscription is None:
            raise _Refuse(404, "no such subscription")
        claims = self._check_vapid(headers.get("authorization", ""))
        if not headers.get("ttl", "").isdigit():
            raise _Refuse(400, "TTL header missing or not a number")
        if headers.get("content-encoding") != "aes128gcm":
            raise _Refuse(415, f"Content-Encoding is {headers.get('content-encoding')!r}, not aes128gcm")
        if len(body) > MAX_PAYLOAD_BYTES:
            raise _Refuse(413, f"body of {len(body)} bytes")
        try:
            plaintext = http_ece.decrypt(
                body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth_secret,
                version="aes128gcm",
            )
            payload = json.loads(plaintext)
        except (http_ece.ECEException, ValueError) as exc:
            raise _Refuse(400, f"payload does not decrypt to JSON: {exc!r}") from None
        if answer is not None:
            status, location = answer
            with self.state.lock:
                self.state.answered.append((subscription.endpoint, status))
            raise _Told(status, location)
        return Push(endpoint=subscription.endpoint, payload=payload, claims=claims, headers=headers, status=201)

    def _check_vapid(self, authorization: str) -> dict:
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise _Refuse(401, f"Authorization scheme {scheme!r}, not vapid")
        values = dict(item.strip().split("=", 1) for item in params.split(",") if "=" in item)
        token, key = values.get("t", ""), values.get("k", "")
        if key != self.server_public_key:
            raise _Refuse(403, "k is not the key the subscription was made for")
        try:
            header_b64, claims_b64, signature_b64 = token.split(".")
            header = json.loads(b64url_decode(header_b64))
            claims = json.loads(b64url_decode(claims_b64))
            signature = b64url_decode(signature_b64)
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        except ValueError as exc:
            raise _Refuse(401, f"malformed JWT or key: {exc!r}") from None
        if header.get("alg") != "ES256" or len(signature) != 64:
            raise _Refuse(401, f"JWT is not ES256: {header}")
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        try:
            public_key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise _Refuse(401, "JWT signature does not verify with k") from None
        if claims.get("aud") != self.origin:
            raise _Refuse(401, f"aud {claims.get('aud')!r} is not {self.origin!r}")
        now = time.time()
        exp = claims.get("exp")
        if not isinstance(exp, int) or not now < exp <= now + MAX_EXP_SECONDS:
            raise _Refuse(401, f"exp {exp!r} is not within the next 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            raise _Refuse(401, f"sub {claims.get('sub')!r} is not a mailto: or https: URL")
        return claims


class _Handler(BaseHTTPRequestHandler):
    receiver: PushReceiver

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        state = self.receiver.state
        with state.lock:
            state.requests += 1
        try:
            push = self.receiver.take(self.path, headers, body)
        except _Told as told:
            self._answer(told.status, location=told.location)
            return
        except _Refuse as refused:
            with state.lock:
                state.rejected.append(Rejection(self.receiver.origin + self.path, refused.status, refused.reason))
            self._answer(refused.status)
            return
        # Recorded before the answer: the sender has it once its POST returns.
        with state.lock:
            state.received.append(push)
        self._answer(201, location=f"{self.receiver.origin}/message/{secrets.token_urlsafe(8)}")

    def _answer(self, status: int, location: str | None = None) -> None:
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):  # quiet: pytest shows failures, not every request
        pass
