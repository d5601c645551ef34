"""Helpers for the REST API tests: clients, uploads and error assertions.

Each test module defines an ``api`` fixture returning :func:`client_for`.
"""

import io
from datetime import datetime

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from chatsite.core.models import RateLimitLog

PASSWORD = "correct horse battery staple"


def client_for(user=None) -> APIClient:
    """An API client authenticated as ``user`` (force_authenticate), or anonymous."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client


def jwt_client(username: str, password: str = PASSWORD, **extra) -> tuple[APIClient, dict]:
    """A client that logged in over ``POST /api/auth/token/`` and carries the access token."""
    client = APIClient(**extra)
    response = client.post("/api/auth/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    tokens = response.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    return client, tokens


def png_bytes(width: int = 7, height: int = 5, color="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def assert_error(response, status: int, code: str | None = None, *, fields: tuple = ()) -> dict:
    """The response is a JSON error ``{code, detail[, fields]}`` with ``status``.

    ``fields`` names the fields that must carry messages (400s from input validation).
    """
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("detail"), str) and body["detail"].strip(), body
    if code is not None:
        assert body["code"] == code, body
    for field in fields:
        assert field in body.get("fields", {}), body
        assert body["fields"][field] and all(isinstance(m, str) and m for m in body["fields"][field]), body
    return body


def assert_rate_limited(
    response, *, kind: str, user=None, room=None, client_key: str = "", count: int = 1, period: int = 60
):
    """429 with a Retry-After header (whole seconds, within the rate's period) and
    the rejection counted in RateLimitLog (one row per user, room, kind and window)."""
    body = assert_error(response, 429, "rate_limited")
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= period
    assert body["retry_after"] == retry_after
    row = RateLimitLog.objects.get(event_type=kind)
    assert row.user_id == (user.pk if user is not None else None)
    assert row.room_id == (room.pk if room is not None else None)
    assert row.client_key == client_key
    assert row.count == count
    assert row.window_seconds == period
    return body


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
