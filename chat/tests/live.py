"""Real servers for the live tests: daphne, nginx and redis-server on 127.0.0.1.

Each server is a subprocess with its output in a log file of the test's
temporary folder. Every wait is bounded in time and in tries, every server is
terminated and waited for by the fixture that started it, and on Linux each
child also gets SIGTERM if the test process itself dies, so no run leaves a
server behind.

The setup is the one docs/deploy.md describes: several daphne processes
sharing one Redis and one PostgreSQL, behind nginx without sticky sessions.
"""

import asyncio
import ctypes
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

PROJECT_DIR = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
START_TIMEOUT = 30.0  # seconds for a server to answer after it was started
STOP_TIMEOUT = 10.0  # seconds for a server to exit after SIGTERM, before SIGKILL
RECEIVE_TIMEOUT = 10.0  # the longest any single wait for a frame may take
MAX_FRAMES = 1000  # the most frames one wait reads before giving up

# Where Debian puts nginx: /usr/sbin is not on a non-root user's PATH.
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")


# --- processes ----------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def find_executable(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in SBIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require(what: str, available: bool, hint: str) -> None:
    """Skip without ``what``; under CI fail instead (as conftest.py does for the markers).

    Module-scoped fixtures start before the function-scoped marker check, so
    they call this themselves.
    """
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {what} is not available: the live tests must not be skipped in CI")
    pytest.skip(f"needs {what} ({hint})")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # PR_SET_PDEATHSIG: the child gets SIGTERM when the test process exits,
    # even if pytest itself is killed before the finalizers run.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class Server:
    """One subprocess, its log file and how to stop it."""

    def __init__(self, name: str, args: list[str], *, log_path: Path, env: dict | None = None, cwd: Path | None = None):
        self.name = name
        self.args = args
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        assert self.process is None or self.process.poll() is not None, f"{self.name} is already running"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it; closed right after
        try:
            self.process = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        finally:
            log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Signal the process and wait for it (SIGKILL after STOP_TIMEOUT); its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                self.process.send_signal(sig)
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        return self.process.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def describe(self) -> str:
        return f"--- {self.name} ({self.log_path}) ---\n{self.log_tail()}"


def wait_until(check, *, what: str, timeout: float = START_TIMEOUT, servers=(), interval: float = 0.1) -> None:
    """Call ``check`` until it returns true, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    tries = int(timeout / interval) + 1
    for _ in range(tries):
        for server in servers:
            if not server.alive:
                raise AssertionError(f"{server.name} exited with {server.process.returncode} while waiting for {what}\n{server.describe()}")
        if check():
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    logs = "\n".join(server.describe() for server in servers)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def answers_http(base_url: str, path: str = "/api/auth/me/") -> bool:
    """True once the server answers HTTP at all (a 401 is an answer)."""
    status, _body = http("GET", base_url + path, timeout=2)
    return status is not None


# --- daphne -------------------------------------------------------------------
def database_url(settings_dict: dict) -> str:
    """A postgres:// URL for the database behind ``settings_dict`` (the test database once set up)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{credentials}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"


def server_env(*, database: str, redis: str, tmp: Path, **extra: str) -> dict:
    """The environment of a daphne process: the test's own, pointed at the test
    database and ``redis``, with the test process's secrets passed explicitly so
    both sides sign, encrypt and hash alike."""
    from django.conf import settings

    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_TEST_NAME"}}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "DATABASE_URL": database,
            "REDIS_URL": redis,
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "CHAT_ENCRYPTION_KEYS": ",".join(settings.CHAT_ENCRYPTION_KEYS),
            "CHAT_SEARCH_KEY": settings.CHAT_SEARCH_KEY,
            "CHAT_VAPID_PRIVATE_KEY": settings.CHAT_VAPID_PRIVATE_KEY,
            "CHAT_LAYER_PREFIX": settings.CHAT_LAYER_PREFIX,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_DEBUG": "0",
            "CHAT_LOCAL_SECRETS_FILE": str(tmp / "local-secrets.json"),
            "DJANGO_MEDIA_ROOT": str(tmp / "media"),
            "DJANGO_STATIC_ROOT": str(tmp / "static"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            # "offline" a second after the last socket closes, not ten (chat/presence.py).
            "CHAT_PRESENCE_GRACE_SECONDS": "1",
        }
    )
    env.update(extra)
    return env


class LocalAddress:
    """The URLs of a server listening on 127.0.0.1 at ``self.port``."""

    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"


class AsgiServer(LocalAddress, Server):
    """chatsite under an ASGI server on 127.0.0.1; subclasses give the command line."""

    def __init__(self, name: str, *, env: dict, tmp: Path, port: int | None = None):
        self.port = port or free_port()
        super().__init__(name, self.command(), log_path=tmp / f"{name}.log", env=env, cwd=PROJECT_DIR)

    def command(self) -> list[str]:
        raise NotImplementedError



class Daphne(AsgiServer):
    def command(self) -> list[str]:
        return [
            # -v 0: no access log (chatsite writes its own request lines; docs/operations.md).
            sys.executable, "-m", "daphne", "-v", "0", "-b", HOST, "-p", str(self.port), "--proxy-headers",
            "--websocket-max-message-size", str(128 * 1024), "--application-close-timeout", "5",
            "chatsite.asgi:application",
        ]  # fmt: skip


class Uvicorn(AsgiServer):
    """The optional server (docs/deploy.md): uvicorn with uvloop and the websockets protocol."""

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", "chatsite.asgi:application", "--host", HOST, "--port", str(self.port),
            "--lifespan", "off", "--ws", "websockets-sansio", "--ws-max-size", str(128 * 1024),
            "--proxy-headers", "--forwarded-allow-ips", HOST, "--timeout-graceful-shutdown", "5",
            "--no-access-log",
        ]  # fmt: skip


def start_uvicorn(name: str, *, env: dict, tmp: Path) -> Uvicorn:
    server = Uvicorn(name, env=env, tmp=tmp).start()
    try:
        wait_until(lambda: answers_http(server.url), what=name, servers=[server])
    except BaseException:
        server.stop()
        raise
    return server


def start_daphnes(names: list[str], *, env: dict, tmp: Path) -> list[Daphne]:
    """Start them together (each takes seconds to import Django), wait until all answer HTTP."""
    servers = [Daphne(name, env=env, tmp=tmp) for name in names]
    try:
        for server in servers:
            server.start()
        for server in servers:
            wait_until(lambda s=server: answers_http(s.url), what=f"{server.name} on port {server.port}", servers=[server])
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


# --- nginx --------------------------------------------------------------------
NGINX_CONF = """\
# chatsite behind nginx: the configuration docs/deploy.md shows, with the
# paths moved into a temporary folder so that it runs without root.
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log info;
{user}

events {{
    worker_connections 512;
}}

http {{
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type application/octet-stream;

    # "Connection: upgrade" only when the client asked for an upgrade.
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    # Every daphne process; no ip_hash or sticky cookie: a socket may land on
    # any process and still hear every room (groups live in Redis).
    upstream chatsite {{
{servers}
    }}

    server {{
        listen {host}:{port};
        server_name _;
        client_max_body_size 11m;

        location / {{
            proxy_pass http://chatsite;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            # Overwritten, not appended to: daphne --proxy-headers takes the
            # first address of X-Forwarded-For, which a client could forge.
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            # One id per request, in chatsite's log lines and its X-Request-ID
            # response header (docs/operations.md).
            proxy_set_header X-Request-ID $request_id;
            # An idle WebSocket is closed after this long without a frame
            # either way; daphne pings every 20 s, so this only bounds dead peers.
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            # Which process served the request (the tests check both are used).
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


class Nginx(LocalAddress, Server):
    def __init__(self, *, tmp: Path, upstream_ports: list[int], executable: str):
        self.port = free_port()
        self.tmp = tmp
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        conf = NGINX_CONF.format(
            tmp=tmp,
            user=user,
            host=HOST,
            port=self.port,
            servers="\n".join(f"        server {HOST}:{port};" for port in upstream_ports),
        )
        self.conf_path = tmp / "nginx.conf"
        self.conf_path.write_text(conf)
        # -e: the error log before the configuration is read (not /var/log/nginx).
        args = [executable, "-e", str(tmp / "nginx-error.log"), "-p", f"{tmp}/", "-c", str(self.conf_path)]
        super().__init__("nginx", args, log_path=tmp / "nginx.out")


    def describe(self) -> str:
        error_log = self.tmp / "nginx-error.log"
        tail = error_log.read_text(errors="replace").splitlines()[-20:] if error_log.exists() else []
        return super().describe() + "\n" + "\n".join(tail)


def start_nginx(*, tmp: Path, upstream_ports: list[int]) -> Nginx:
    executable = find_executable("nginx")
    require("nginx", executable is not None, "apt-get install nginx-light; .ci/run does")
    tmp.mkdir(parents=True, exist_ok=True)
    server = Nginx(tmp=tmp, upstream_ports=upstream_ports, executable=executable)
    check = subprocess.run([*server.args, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"nginx -t failed:\n{check.stdout}\n{check.stderr}"
    server.start()
    try:
        wait_until(lambda: answers_http(server.url), what="nginx", servers=[server])
    except BaseException:
        server.stop()
        raise
    return server


# --- redis-server -------------------------------------------------------------
class RedisServer(Server):
    def __init__(self, *, tmp: Path, executable: str, port: int | None = None):
        self.port = port or free_port()
        tmp.mkdir(parents=True, exist_ok=True)
        args = [
            executable,
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ]
        super().__init__(f"redis-{self.port}", args, log_path=tmp / f"redis-{self.port}.log")

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start_and_wait(self) -> "RedisServer":
        self.start()
        wait_until(self.ping, what=self.name, servers=[self], timeout=10)
        return self


def start_redis(*, tmp: Path) -> RedisServer:
    executable = find_executable("redis-server")
    require("redis-server", executable is not None, "apt-get install redis-server")
    return RedisServer(tmp=tmp, executable=executable).start_and_wait()


# --- HTTP ---------------------------------------------------------------------
# No proxy from the environment: every server is on 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, *, token: str | None = None, body=None, timeout: float = RECEIVE_TIMEOUT):
    """(status, parsed JSON body or text); status None if nothing answered."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _opener.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, OSError):
        return None, None
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


async def ahttp(method: str, url: str, **kwargs):
    return await asyncio.to_thread(http, method, url, **kwargs)


# --- WebSocket clients --------------------------------------------------------
class Socket:
    """A ``websockets`` client connection that speaks the chat protocol.

    ``history`` keeps every frame received, in order. Frames read while
    waiting for an ack are kept in ``pending`` and handed out by the next
    ``until`` first, so no event is lost to a wait for something else.
    """

    def __init__(self, connection, hello: dict, *, name: str):
        self.connection = connection
        self.hello = hello
        self.name = name
        self.upstream = connection.response.headers.get("X-Upstream")
        self.history: list[dict] = []
        self.pending: list[dict] = []

    @classmethod
    async def open(cls, base_ws_url: str, ticket: str, *, sync: bool = False, name: str = "socket") -> "Socket":
        query = f"sync=1&ticket={ticket}" if sync else f"ticket={ticket}"
        # A non-browser client sends no Origin; proxy=None: never an HTTP proxy from the environment.
        connection = await ws_connect(
            f"{base_ws_url}/ws/chat/?{query}", proxy=None, open_timeout=RECEIVE_TIMEOUT, close_timeout=5
        )
        try:
            hello = json.loads(await asyncio.wait_for(connection.recv(), RECEIVE_TIMEOUT))
            assert hello["type"] == "hello", hello
        except BaseException:
            await connection.close()
            raise
        return cls(connection, hello, name=name)

    def room_seq(self, room_id: str) -> int:
        """The room's seq as ``hello`` announced it."""
        return {room["id"]: room["seq"] for room in self.hello["rooms"]}[room_id]

    async def send(self, frame: dict) -> None:
        await self.connection.send(json.dumps(frame))

    async def _read(self, timeout: float) -> dict | None:
        """The next frame off the wire, or None after ``timeout`` seconds."""
        try:
            text = await asyncio.wait_for(self.connection.recv(), max(timeout, 0.001))
        except TimeoutError:
            return None
        frame = json.loads(text)
        self.history.append(frame)
        return frame

    async def until(self, predicate, *, timeout: float = RECEIVE_TIMEOUT) -> list[dict]:
        """Frames up to and including the first that matches ``predicate``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = []
        for _ in range(MAX_FRAMES):
            if self.pending:
                frame = self.pending.pop(0)
            else:
                frame = await self._read(deadline - loop.time())
                if frame is None:
                    break
            seen.append(frame)
            if predicate(frame):
                return seen
        raise AssertionError(f"{self.name}: no matching frame within {timeout}s; got {[short(f) for f in seen]}")

    async def quiet_for(self, seconds: float) -> list[dict]:
        """Every frame (pending ones first) that arrives within ``seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        seen, self.pending = self.pending, []
        for _ in range(MAX_FRAMES):
            if loop.time() >= deadline:
                break
            frame = await self._read(deadline - loop.time())
            if frame is None:
                break
            seen.append(frame)
        return seen

    async def request(self, frame: dict, *, timeout: float = RECEIVE_TIMEOUT) -> dict:
        """Send a frame with a ``ref``; its ack or error (other frames stay pending)."""
        ref = frame["ref"]
        await self.send(frame)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _ in range(MAX_FRAMES):
            reply = await self._read(deadline - loop.time())
            if reply is None:
                break
            if reply.get("type") in {"ack", "error"} and reply.get("ref") == ref:
                return reply
            self.pending.append(reply)
        raise AssertionError(f"{self.name}: no answer to {ref!r} within {timeout}s; got {[short(f) for f in self.pending]}")

    async def wait_closed(self, timeout: float = RECEIVE_TIMEOUT) -> ConnectionClosed:
        """Read until the server closes the socket; the ConnectionClosed that told us."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _ in range(MAX_FRAMES):
            try:
                if await self._read(deadline - loop.time()) is None:
                    break
            except ConnectionClosed as closed:
                return closed
        raise AssertionError(f"{self.name}: still open after {timeout}s")

    async def close(self) -> None:
        await self.connection.close()


def short(frame: dict) -> str:
    """A frame in a few words, for assertion messages."""
    if frame.get("type") in {"ack", "error"}:
        return json.dumps(frame)[:200]
    content = (frame.get("message") or {}).get("content")
    return f"{frame.get('type')}#{frame.get('seq')}" + (f"({content!r})" if content is not None else "")


def logged(frames: list[dict], room_id: str) -> list[dict]:
    """The room's logged events (they carry a seq) among ``frames``."""
    from chat.events.wire import LOGGED_KINDS

    return [f for f in frames if f.get("type") in LOGGED_KINDS and f.get("room") == room_id]


# --- a PostgreSQL of the test's own ---------------------------------------------
class PrivatePostgres:
    """A PostgreSQL the test can stop and start: ``initdb`` into a temporary
    folder, its own port on 127.0.0.1, trust authentication, no fsync. Run as
    the ``postgres`` user when the tests run as root (initdb refuses root)."""

    def __init__(self, tmp: Path):
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        require("PostgreSQL's initdb and pg_ctl", bool(bins), "apt-get install postgresql")
        self.bin = bins[-1].parent
        self.tmp = tmp
        self.data = tmp / "pgdata"
        self.port = free_port()

    def _run(self, *command: str, timeout: float = 60) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*as_postgres, *command], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"{command[0]} failed: {result.stdout}{result.stderr}")

    def init(self) -> "PrivatePostgres":
        if os.geteuid() == 0:
            shutil.chown(self.tmp, user="postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        return self

    def start(self) -> "PrivatePostgres":
        options = f"-p {self.port} -k {self.tmp} -c listen_addresses={HOST} -c fsync=off -c full_page_writes=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.tmp / "postgres.log"), "-w", "-t", "30", "start")
        return self

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@{HOST}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
