"""The one JSON shape of a person, wherever one appears: REST bodies (the
directory, a message's sender, a member), WebSocket events and the event log.

A plain function (no DRF: it runs on the hot path of every message rendered);
accounts owns it because it is the User's shape, and chat renders people with it.
It reads only the user's own row (no query beyond the one that loaded it).
"""

from functools import lru_cache

from django.urls import reverse

from .avatars import SIZES


@lru_cache(maxsize=1)
def _users_url() -> str:
    return reverse("user-directory")  # "/api/users/": avatars are at <id>/avatar/<key>/<size>/


def avatar_urls(user) -> dict | None:
    """{"32": url, "64": url, "128": url}, or None without an avatar."""
    key = getattr(user, "avatar_key", "")
    if not key:
        return None
    base = f"{_users_url()}{user.pk}/avatar/{key}/"
    return {str(size): f"{base}{size}/" for size in SIZES}


def user_payload(user) -> dict | None:
    if user is None:
        return None
    return {"id": str(user.pk), "username": user.username, "display_name": user.name, "avatar": avatar_urls(user)}
