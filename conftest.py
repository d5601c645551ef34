"""Fixtures shared by every app's tests."""

import os

import pytest
from django.conf import settings
from django.db import connection


def _need(what: str, available: bool) -> None:
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {what} is not configured: this test must not be skipped in CI")
    pytest.skip(f"needs a real {what} (set {'DATABASE_URL' if what == 'PostgreSQL' else 'REDIS_URL'})")


@pytest.fixture(autouse=True)
def _markers(request):
    if request.node.get_closest_marker("postgres"):
        _need("PostgreSQL", connection.vendor == "postgresql")
    if request.node.get_closest_marker("redis"):
        _need("Redis", bool(settings.REDIS_URL))


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _test_settings(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Hashing passwords properly costs a quarter second each: not what tests are about.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def company(db):
    from accounts.tests.factories import CompanyFactory

    return CompanyFactory()


@pytest.fixture
def make_user(db, company):
    from accounts.tests.factories import UserFactory

    def make(**kwargs):
        kwargs.setdefault("company", company)
        return UserFactory(**kwargs)

    return make


@pytest.fixture
def alice(make_user):
    return make_user(username="alice", display_name="Alice")


@pytest.fixture
def bob(make_user):
    return make_user(username="bob", display_name="Bob")


@pytest.fixture
def carol(make_user):
    return make_user(username="carol", display_name="Carol")


@pytest.fixture
def moderator(make_user):
    from django.contrib.auth.models import Permission

    user = make_user(username="mod", display_name="Moderator", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="moderate_chatroom"))
    return type(user).objects.get(pk=user.pk)


class GroupListener:
    """A channel subscribed to layer groups, to observe what services broadcast."""

    def __init__(self):
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.channel = None

    def subscribe(self, *groups):
        from asgiref.sync import async_to_sync

        if self.channel is None:
            self.channel = async_to_sync(self.layer.new_channel)()
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)
        return self

    def receive_all(self, timeout=0.3):
        import asyncio

        from asgiref.sync import async_to_sync

        async def drain():
            received = []
            while True:
                try:
                    received.append(await asyncio.wait_for(self.layer.receive(self.channel), timeout))
                except asyncio.TimeoutError:
                    return received

        return async_to_sync(drain)()

    def frames(self, timeout=0.3):
        import json

        return [json.loads(m["text"]) for m in self.receive_all(timeout)]


@pytest.fixture
def listener():
    return GroupListener()
