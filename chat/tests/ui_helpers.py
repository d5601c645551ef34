"""Helpers of the browser tests (test_ui.py): a real daphne on 127.0.0.1,
Debian's Chromium driven by Playwright, and a worker thread for server-side
work in the test process.

Why the worker thread: Playwright's sync API keeps an asyncio loop marked as
running in the test's thread, so ``async_to_sync`` (which the services use to
broadcast after commit) refuses to run there. Everything that may broadcast
runs through :class:`ServerSide` instead.

Every wait is bounded; daphne and the browser are always stopped by the
fixtures that started them.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
CALL_TIMEOUT = 30.0


def require(what: str, available: bool, hint: str) -> None:
    """Skip without ``what``, with the reason; under CI fail instead (as conftest.py does)."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {what} is not available: the browser tests must not be skipped in CI")
    pytest.skip(f"needs {what} ({hint})")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # PR_SET_PDEATHSIG: the server gets SIGTERM if the test process dies first.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def server_environment(*, media_root: Path) -> dict:
    """The environment of a daphne that shares the test process's database
    (pytest-django's test database), Redis and secrets."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    credentials = db["USER"] or ""
    if db.get("PASSWORD"):
        credentials += f":{db['PASSWORD']}"
    address = f"{db['HOST'] or HOST}:{db['PORT'] or 5432}"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CHAT_", "DATABASE_"))}
    env.update(
        {
            "DATABASE_URL": f"postgres://{credentials}{'@' if credentials else ''}{address}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "CHAT_ENCRYPTION_KEYS": ",".join(settings.CHAT_ENCRYPTION_KEYS),
            "CHAT_SEARCH_KEY": settings.CHAT_SEARCH_KEY,
            "CHAT_LAYER_PREFIX": settings.CHAT_LAYER_PREFIX,
            "DJANGO_DEBUG": "1",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_MEDIA_ROOT": str(media_root),
            "DJANGO_LOG_LEVEL": "WARNING",
            "DATABASE_POOL_MAX_SIZE": "10",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if "KEY_PREFIX" in settings.CACHES["default"]:
        env["CHAT_CACHE_PREFIX"] = settings.CACHES["default"]["KEY_PREFIX"]
    return env


class Daphne:
    """One daphne process on 127.0.0.1:port; can be stopped and started again on the same port."""

    def __init__(self, *, port: int, env: dict, log_path: Path):
        self.port = port
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> "Daphne":
        assert not self.alive, "daphne is already running"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(self.port), "chatsite.asgi:application"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=PROJECT_DIR,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise AssertionError(f"daphne exited with {self.process.returncode}\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"daphne did not answer within {timeout} s\n{self.log_tail()}")

    def stop(self) -> None:
        if not self.alive:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ServerSide:
    """Runs test-process Django code (ORM, services) in one worker thread, which
    has no event loop of its own, and returns the thread's connection afterwards."""

    def __init__(self):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ui-server-side")

    def __call__(self, fn, *args, **kwargs):
        def run():
            from django.db import connections

            try:
                return fn(*args, **kwargs)
            finally:
                connections.close_all()

        return self.pool.submit(run).result(timeout=CALL_TIMEOUT)

    def wait_for(self, check, *, what: str, timeout: float = 5.0, interval: float = 0.1):
        """Call ``check`` in the worker until it returns something true; that value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self(check)
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None


def session_cookie(user, url: str) -> dict:
    """A logged-in session of ``user`` (Django's test client), as a Playwright cookie for ``url``."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": url}


class PageWatch:
    """What a page did that a test should know about: dialogs, uncaught errors,
    console errors (a CSP violation is one)."""

    def __init__(self, page):
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)

    def _dialog(self, dialog):
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, message):
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def assert_clean(self, *, allow=()):
        errors = [e for e in self.errors if not any(part in e for part in allow)]
        assert not self.dialogs, f"unexpected dialogs: {self.dialogs}"
        assert not errors, f"errors in the page: {errors}"
