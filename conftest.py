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


@pytest.fixture(scope="session", autouse=True)
def _close_connection_pools(django_db_setup):
    """Return pooled connections before the test database is dropped (consumer
    tests use connections from worker threads, which the pool keeps open)."""
    yield
    from django.db import connections

    for connection_ in connections.all(initialized_only=True):
        if getattr(connection_, "pool", None) is not None:
            connection_.close_pool()


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
    # Without DEBUG the manifest storage needs collectstatic; pages under test only need URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def no_rate_limits(settings):
    """Rate limits off (they are on by default, as in production): for tests
    that send in bursts to test something else."""
    settings.CHAT_RATE_LIMITS_ENABLED = False


@pytest.fixture
def concurrently():
    """``run(count, work)``: ``work(i)`` for i in range(count) on as many threads,
    released together; each thread's database connection is closed after."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection as thread_connection

    def run(count, work):
        barrier = threading.Barrier(count)

        def one(i):
            barrier.wait()
            try:
                return work(i)
            finally:
                thread_connection.close()

        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(one, range(count)))

    return run


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
    """A channel subscribed to layer groups, to observe what services broadcast.

    Receives on one event loop of its own (a layer may only receive on one
    loop), while services broadcast from wherever they run.
    """

    def __init__(self):
        import asyncio
        import threading

        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.channel = self._run(self.layer.new_channel())

    def _run(self, coroutine):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def subscribe(self, *groups):
        for group in groups:
            self._run(self.layer.group_add(group, self.channel))
        return self

    def receive_all(self, timeout=0.3):
        import asyncio

        async def drain():
            await asyncio.sleep(timeout)
            received = []
            while True:
                try:
                    received.append(await asyncio.wait_for(self.layer.receive(self.channel), 0.05))
                except asyncio.TimeoutError:
                    return received

        return self._run(drain())

    def frames(self, timeout=0.3):
        import json

        return [json.loads(m["text"]) for m in self.receive_all(timeout)]

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@pytest.fixture
def listener():
    made = GroupListener()
    yield made
    made.close()
