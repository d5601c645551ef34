"""`make bench`: chatsite's real-time benchmark, on daphne and on uvicorn,
beside two peers: a bare Channels consumer (bench/bare/, daphne) and
python-socketio with its Redis manager (bench/sio/, uvicorn), and the reconnect
storm (bench/storm.py).

Starts each server pinned to core 0 (``taskset -c 0``) on a fresh PostgreSQL
database and a Redis database of its own, runs the load from this process on
core 1, stops everything, and writes ``bench/results/latest.json``,
``bench/results/latest.md`` (the table) and ``docs/performance-p99.png``.
chatsite runs on each server of ``--servers`` in turn (default daphne, then
uvicorn), each a fresh process on the same data with Redis flushed before it;
the history reads run once, on the first. ``--profile`` records the chatsite
server with py-spy during the steps of each ramp (bench/profile.py):
``bench/results/profile-<server>-<workload>.txt`` (collapsed stacks) and
``.md`` (the top functions), and a short "Profile" in the report.

    python bench/run.py                 # everything (about 25 minutes)
    python bench/run.py --step 5 --skip-history   # quicker, for development
    python bench/run.py --only storm    # only the reconnect storm
    python bench/run.py --only sio --skip-history  # only the python-socketio peer
    python bench/run.py --only chatsite --servers uvicorn --profile  # chatsite on uvicorn, profiled

Environment: DATABASE_URL (a server to create ``chatsite_bench`` on, or
BENCH_DATABASE_NAME; default postgres://postgres@127.0.0.1:5432/postgres) and
BENCH_REDIS_URL (default redis://127.0.0.1:6379/7 — flushed at the start).
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Imports are bench.<module>: this script's own directory leaves the path, so that
# bench/profile.py never stands in for the standard library's profile module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.load import GROWTH, PRESENCE_GRACE_SECONDS, Bench  # noqa: E402

PARTS = ("chatsite", "history", "storm", "bare", "sio")
SERVERS = ("daphne", "uvicorn")
# The report's key of chatsite on each server: daphne's stays "chatsite".
CHATSITE = {"daphne": "chatsite", "uvicorn": "chatsite_uvicorn"}
LABELS = {
    "chatsite": "chatsite on daphne (full product path)",
    "chatsite_uvicorn": "chatsite on uvicorn (full product path)",
    "bare": "bare Channels consumer (tutorial shape, RedisChannelLayer)",
    "sio": "python-socketio on uvicorn (AsyncRedisManager)",
}

RESULTS = ROOT / "bench" / "results"
PLOT = ROOT / "docs" / "performance-p99.png"
PYTHON = sys.executable
# Another name (BENCH_DATABASE_NAME) lets two runs share one PostgreSQL server.
BENCH_DB = os.environ.get("BENCH_DATABASE_NAME") or "chatsite_bench"
# Rates per room to start the ramps at (messages per second), chosen so that the
# seventh step (×1.5 six times) offers exactly the reach of docs/performance.md:
# 4,250 deliveries/s for 50 × 10 and 12,000 for 5 × 200.
START_RATES = {"50x10": 4250 / (50 * 9) / GROWTH**6, "5x200": 12000 / (5 * 199) / GROWTH**6}
REACH = {"50x10": 4250, "5x200": 12000}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(base: str) -> str:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return database_url(base, BENCH_DB)


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def server_env(database: str, redis_url: str, **extra) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CHAT_", "JWT_"))}
    env.update(
        {
            "DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "JWT_ACCESS_MINUTES": "240",
            # Every limit stays on; sends per user are raised for the load.
            "CHAT_RATE_LIMITS": "message.send=5000/10s,ws.connect=1000/m",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def run(args: list[str], env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=ROOT, check=True, **kwargs)


def server_command(kind: str, app: str, port: int) -> list[str]:
    if kind == "uvicorn":
        return [
            PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
            "--ws", "websockets-sansio", "--no-access-log", "--log-level", "warning",
        ]
    return [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]


class Server:
    def __init__(self, name: str, app: str, env: dict, kind: str = "daphne"):
        self.name = name
        self.kind = kind
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(RESULTS / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        taskset = ["taskset", "-c", "0"] if shutil.which("taskset") and os.cpu_count() > 1 else []
        self.process = subprocess.Popen(
            [*taskset, *server_command(kind, app, self.port)],
            env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{name} exited; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"{name} did not start; see {self.log.name}")

    @property
    def pid(self) -> int:
        # Through taskset the daphne process is the same pid (taskset execs).
        return self.process.pid

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def bare_rooms(workload: str) -> list[dict]:
    rooms, members = (int(part) for part in workload.split("x"))
    return [
        {"id": f"{workload}-{r}", "members": [{"id": f"m{r}-{m}"} for m in range(members)]}
        for r in range(rooms)
    ]


async def measure(server: Server, protocol: str, data: dict | None, args) -> dict:
    # The presence grace the server runs with (--server-env may change it): Bench waits it out.
    grace = dict(item.split("=", 1) for item in args.server_env).get("CHAT_PRESENCE_GRACE_SECONDS", PRESENCE_GRACE_SECONDS)
    bench = Bench(base=server.base, protocol=protocol, data=data, server_pid=server.pid, presence_grace=float(grace))
    result = {"workloads": {}}
    # Memory first, on the fresh process: after the ramps, freed memory that the
    # allocator keeps would hide what new sockets cost.
    print(f"{server.name}: idle sockets", flush=True)
    if protocol == "chatsite":
        members, room = data["users"][: args.idle], data["workloads"]["5x200"][0]["id"]
    else:
        members, room = [{"id": f"idle{i}"} for i in range(args.idle)], "idle"
    RESULTS.mkdir(parents=True, exist_ok=True)
    result["idle"] = await bench.idle(members=members, room=room)
    deadline = time.monotonic() + args.budget
    for workload in args.workloads:
        rooms = data["workloads"][workload] if protocol == "chatsite" else bare_rooms(workload)
        print(f"{server.name}: ramp {workload}", flush=True)
        bench.steps = {}
        recorder, hooks = None, {}
        if getattr(args, "profile", False) and protocol == "chatsite":
            from bench.profile import Recorder

            recorder = Recorder(RESULTS / f"profile-{server.kind}-{workload}.txt",
                                log=lambda line: print(f"{server.name}: {line.strip()}", flush=True))
            # From the first step to the last, at most the time the budget leaves.
            hooks = {"before_steps": lambda recorder=recorder: recorder.start(server.pid, deadline - time.monotonic()),
                     "after_steps": recorder.stop}
        try:
            result["workloads"][workload] = await bench.ramp(
                rooms=rooms, start_rate=START_RATES[workload], step_seconds=args.step, grace=args.grace,
                max_steps=args.max_steps, deadline=deadline, **hooks,
            )
        finally:
            if recorder is not None:
                result.setdefault("profiles", {})[workload] = await asyncio.to_thread(
                    write_profile, recorder, f"chatsite on {server.kind}, {workload} ramp")
        held = result["workloads"][workload]["held"]
        if held and protocol == "chatsite":
            print(f"{server.name}: {workload} at half the maximum", flush=True)
            bench.steps = {}
            half = await bench.ramp(
                rooms=rooms, start_rate=held["rate_per_room"] / 2, step_seconds=args.step, grace=args.grace,
                max_steps=1, deadline=deadline + 60,
            )
            result["workloads"][workload]["half_load"] = half["steps"][0] if half["steps"] else None
    return result


def write_profile(recorder, title: str) -> dict | None:
    """Waits for py-spy and writes the summary beside its raw file (.md); never raises."""
    from bench.profile import markdown

    try:
        summary = recorder.finish()
        if summary and "error" not in summary:
            recorder.raw.with_suffix(".md").write_text(markdown(summary, f"Profile: {title}"))
            summary["summary"] = summary["raw"].removesuffix(".txt") + ".md"
        return summary
    except Exception as error:  # noqa: BLE001 - a profile never fails the benchmark
        print(f"  profile: {error!r}; going on without it", flush=True)
        return {"error": repr(error)}


def run_storm(env: dict, database: str, data: dict, args) -> dict:
    """The reconnect storm against a fresh daphne on core 0 (bench/storm.py)."""
    from bench.storm import path_costs, raise_file_limit, storm

    limit = raise_file_limit()  # the server's process inherits it
    storm_env = dict(env)
    # The product's own rate limits unless asked otherwise (bench/run.py's ramps raise two).
    storm_env["CHAT_RATE_LIMITS"] = args.storm_rate_limits
    print(f"reconnect storm: {args.storm_users} users × {args.storm_sockets} sockets; open files {limit}; "
          f"CHAT_RATE_LIMITS={args.storm_rate_limits or '(product defaults)'}", flush=True)
    # What each part of a reconnect costs, one socket at a time, on a server of its own.
    server = Server("storm-costs", "chatsite.asgi:application", storm_env)
    try:
        costs = asyncio.run(path_costs(base=server.base, server_pid=server.pid, users=data["users"][: args.storm_cost_sockets]))
    finally:
        server.stop()
    print(f"  cost of a reconnect, one socket at a time: {json.dumps(costs)}", flush=True)
    server = Server("storm", "chatsite.asgi:application", storm_env)
    try:
        result = asyncio.run(storm(
            base=server.base, server_pid=server.pid, data=data, sockets_per_user=args.storm_sockets,
            database_url=database, between=args.storm_between, trickle=args.storm_trickle,
            deadline=args.storm_deadline, users=args.storm_users,
        ))
    finally:
        server.stop()
    result["path_costs"] = costs
    result["rate_limits"] = args.storm_rate_limits or "product defaults"
    result["open_files_limit"] = limit
    print("  " + json.dumps({k: v for k, v in result.items() if k != "series"}), flush=True)
    return result


def table(report: dict) -> str:
    lines = [
        "| server (one core) | 50 rooms × 10 | 5 rooms × 200 | KiB per idle socket |",
        "|---|---|---|---|",
    ]
    for name in ("chatsite", "chatsite_uvicorn", "bare", "sio"):
        if name not in report:
            continue
        cells = []
        for workload in ("50x10", "5x200"):
            found = report[name]["workloads"].get(workload)
            if not found:
                cells.append("not run")
            elif found["held"] is None:
                first = found["steps"][0] if found["steps"] else {}
                cells.append(f"none held (p99 {first.get('p99_ms', '?')} ms, lost {first.get('lost', '?')} at the first step)")
            else:
                held = found["held"]
                cells.append(f"{held['delivered_per_s']:,.0f} (p99 {held['p99_ms']:.0f} ms)")
        cells.append(f"{report[name]['idle']['kib_per_socket']:.1f}" if report[name].get("idle") else "not run")
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    for peer, short in (("bare", "bare"), ("sio", "python-socketio")):
        for kind, ours_key in CHATSITE.items():
            if ours_key not in report or peer not in report:
                continue
            ratios = []
            for workload in ("50x10", "5x200"):
                ours = (report[ours_key]["workloads"].get(workload) or {}).get("held")
                theirs = (report[peer]["workloads"].get(workload) or {}).get("held")
                if ours and theirs:
                    ratios.append(f"{workload}: {ours['delivered_per_s'] / theirs['delivered_per_s']:.1f}×")
                elif ours:
                    ratios.append(f"{workload}: {short} held no step")
            lines.append("")
            lines.append(f"chatsite on {kind} ÷ {short}: " + ", ".join(ratios))
    storm = report.get("storm")
    if storm:
        lines.append("")
        lines.append(storm_table(storm))
    history = report.get("history")
    if history:
        lines.append("")
        lines.append("| read | p50 ms | p99 ms | requests |")
        lines.append("|---|---|---|---|")
        for name, figures in history["latency"].items():
            lines.append(f"| {name} | {figures['p50_ms']} | {figures['p99_ms']} | {figures['count']} |")
    profiles = profile_section(report)
    if profiles:
        lines.append("")
        lines.append(profiles)
    return "\n".join(lines) + "\n"


def profile_section(report: dict, top: int = 10) -> str:
    """The report's "Profile": for each profiled ramp, the project's functions by
    inclusive time (chat/, chatsite/, accounts/) beside all functions by self time."""
    lines = []
    for kind, key in CHATSITE.items():
        for workload, summary in (report.get(key, {}).get("profiles") or {}).items():
            lines.append("")
            if not summary or "error" in summary:
                lines.append(f"chatsite on {kind}, {workload}: no profile ({(summary or {}).get('error', 'not taken')})")
                continue
            lines.append(f"chatsite on {kind}, {workload} ramp: {summary['samples']:,} samples at work over "
                         f"{summary.get('seconds', '?')} s, {summary.get('waiting', 0):,} waiting left out "
                         f"(`{summary.get('summary', '')}`)")
            lines.append("")
            lines.append("| inclusive, chat/ chatsite/ accounts/ | share | self, all code | share |")
            lines.append("|---|---|---|---|")
            ours, own = summary["project_inclusive"][:top], summary["self"][:top]
            for row in range(max(len(ours), len(own))):
                cells = []
                for entries in (ours, own):
                    entry = entries[row] if row < len(entries) else None
                    cells += [f"`{entry['function']}`", f"{entry['share'] * 100:.1f} %"] if entry else ["", ""]
                lines.append("| " + " | ".join(cells) + " |")
    if not lines:
        return ""
    return "## Profile\n\npy-spy `record --native --rate 200 --function` on the server during the steps of a ramp; " \
        "shares of the samples of threads at work (bench/profile.py); `?` is native code without a symbol.\n" \
        + "\n".join(lines)


def storm_table(storm: dict) -> str:
    paths = storm["path_ms"]
    total = f"{storm['all_resynced_s']} s" if storm["finished"] else f"**not finished** in {storm['deadline_s']:.0f} s"
    lines = [
        f"Reconnect storm: {storm['sockets']:,} sockets ({storm['users']:,} users × {storm['sockets_per_user']}) "
        f"drop at once and come back (ticket, handshake, hello, sync); rate limits: {storm.get('rate_limits') or 'defaults'}",
        "",
        "| all resynced | per socket p50 / p99 | not resynced | retries (sockets) | missing / duplicated events | "
        "server CPU | server RSS MiB before → max | load CPU |",
        "|---|---|---|---|---|---|---|---|",
        f"| {total} | {storm['resync_p50_s']} / {storm['resync_p99_s']} s | {storm['not_resynced']} | "
        f"{storm['retries']:,} ({storm['clients_that_retried']:,}) | {storm['missing_events']} / {storm['duplicate_events']} | "
        f"{storm['server_cpu']:.2f} | {storm['rss_kib_before_drop'] / 1024:.0f} → {storm['rss_kib_max'] / 1024:.0f} | "
        f"{storm['load_cpu']:.2f} |",
        "",
        "| part of a reconnect | p50 ms | p99 ms | count |",
        "|---|---|---|---|",
    ]
    for name, figures in paths.items():
        lines.append(f"| {name} | {figures['p50']} | {figures['p99']} | {figures['count']:,} |")
    costs = storm.get("path_costs")
    if costs:
        lines.append("")
        lines.append(f"One socket at a time ({costs['sockets']} sockets, no contention): per socket")
        lines.append("")
        lines.append("| part of a reconnect | wall ms | server CPU ms |")
        lines.append("|---|---|---|")
        for name, figures in costs.items():
            if isinstance(figures, dict):
                lines.append(f"| {name} | {figures.get('wall_ms', '')} | {figures['server_cpu_ms']} |")
    lines.append("")
    lines.append("Resynced after " + ", ".join(f"{t} s: {n:,}" for t, n in storm["resynced_by_s"].items()))
    if storm["retry_reasons"]:
        lines.append("")
        lines.append("Retries by reason: " + ", ".join(f"{k} {v:,}" for k, v in storm["retry_reasons"].items()))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step", type=float, default=10.0, help="seconds per ramp step (10)")
    parser.add_argument("--grace", type=float, default=2.0, help="seconds to wait for stragglers after a step")
    parser.add_argument("--max-steps", type=int, default=12)
    parser.add_argument("--workloads", nargs="*", default=["50x10", "5x200"], choices=["50x10", "5x200"],
                        help="fan-out ramps to run (none: only idle memory and reads)")
    parser.add_argument("--idle", type=int, default=1000, help="idle sockets for the memory figure")
    parser.add_argument("--budget", type=float, default=900, help="seconds of ramping per server at most")
    parser.add_argument("--only", nargs="+", choices=PARTS, metavar="PART",
                        help=f"run only these parts ({', '.join(PARTS)}); default all")
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--skip-sio", action="store_true", help="no python-socketio peer")
    parser.add_argument("--skip-storm", action="store_true", help="no reconnect storm")
    parser.add_argument("--storm-users", type=int, default=1000, help="users of the reconnect storm (1000)")
    parser.add_argument("--storm-sockets", type=int, default=5, help="sockets per user in the storm (5)")
    parser.add_argument("--storm-between", type=int, default=3, help="messages per room while the sockets are away (3)")
    parser.add_argument("--storm-trickle", type=float, default=0.1,
                        help="messages a second per room during the storm (0.1)")
    parser.add_argument("--storm-deadline", type=float, default=120.0,
                        help="seconds after which a storm not resynced counts as failed (120)")
    parser.add_argument("--storm-cost-sockets", type=int, default=200,
                        help="sockets measured one at a time for the cost of each part of a reconnect (200)")
    parser.add_argument("--storm-rate-limits", default="",
                        help="CHAT_RATE_LIMITS of the storm's server (default: the product's own limits)")
    parser.add_argument("--servers", nargs="+", choices=SERVERS, metavar="SERVER",
                        help="ASGI servers for chatsite, each in turn on a fresh process (default: daphne uvicorn)")
    parser.add_argument("--server", choices=SERVERS, help="only this server for chatsite (--servers SERVER)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy record the chatsite server during each ramp's steps (bench/results/profile-*)")
    parser.add_argument("--skip-history", action="store_true")
    parser.add_argument("--server-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="extra environment of chatsite's server (CHAT_DB_THREADS=4 …)")
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages in the history room")
    parser.add_argument("--rooms", type=int, default=1000, help="rooms of the room-list user")
    args = parser.parse_args(argv)
    if args.server and args.servers and args.servers != [args.server]:
        parser.error("--server X is --servers X: give one of them")
    # In the order given, each once.
    args.servers = list(dict.fromkeys(args.servers or ([args.server] if args.server else SERVERS)))
    args.server = None
    parts = set(args.only or PARTS)
    for part, skipped in (("bare", args.skip_bare), ("sio", args.skip_sio), ("storm", args.skip_storm),
                          ("history", args.skip_history)):
        if skipped:
            parts.discard(part)
    args.parts = parts
    return args


def main() -> None:
    args = parse_args()
    parts = args.parts
    # A TERM (an impatient shell, a timeout) unwinds like an error: every server is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    RESULTS.mkdir(parents=True, exist_ok=True)
    base_db = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    redis_url = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/7"
    if os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})  # the load generator stays off the server's core

    report = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": {"cpus": os.cpu_count()},
              "args": {k: v for k, v in vars(args).items() if k != "parts"}, "parts": sorted(parts)}
    env = None
    if parts & {"chatsite", "history", "storm"}:
        database = recreate_database(base_db)
        flush_redis(redis_url)
        env = server_env(database, redis_url, **dict(item.split("=", 1) for item in args.server_env))
        print("migrating the bench database", flush=True)
        run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
        print("creating users and rooms through the commands", flush=True)
        data = json.loads(run([PYTHON, "bench/setup_data.py", "--users", "1000"], env, capture_output=True).stdout)

    if "storm" in parts:
        # First, on data nobody has written to yet but the storm's own messages.
        report["storm"] = run_storm(env, database, data, args)
        (RESULTS / "storm.json").write_text(json.dumps(report["storm"], indent=2))  # kept if a later part fails

    report["servers"] = args.servers
    report["server"] = args.servers[0]  # the history reads' server
    if "chatsite" in parts:
        for kind in args.servers:
            # Redis holds only what lives for seconds to minutes (tickets, rate-limit
            # counters, presence, the layer's groups); the users, rooms and messages are
            # in PostgreSQL. Flushed, each server starts with no counts and no sockets
            # left by the one before (presence counts toward the socket cap per user).
            flush_redis(redis_url)
            name = "chatsite" if kind == "daphne" else f"chatsite-{kind}"
            server = Server(name, "chatsite.asgi:application", env, kind=kind)
            try:
                report[CHATSITE[kind]] = asyncio.run(measure(server, "chatsite", data, args))
            finally:
                server.stop()
            (RESULTS / f"{name}.json").write_text(json.dumps(report[CHATSITE[kind]], indent=2))  # kept if a later part fails

    if "history" in parts:
        # After every ramp, so that each server's ramps met the same database (the
        # history adds a million rows); on a fresh process of the first server.
        flush_redis(redis_url)
        server = Server("history", "chatsite.asgi:application", env, kind=args.servers[0])
        try:
            print(f"history and room list at size, on {args.servers[0]}", flush=True)
            from bench.history import measure_reads

            report["history"] = measure_reads(server.base, env, messages=args.messages, rooms=args.rooms)
        finally:
            server.stop()

    if "sio" in parts:
        flush_redis(redis_url)
        sio = Server("sio", "bench.sio.server:app", {**os.environ, "REDIS_URL": redis_url}, kind="uvicorn")
        try:
            report["sio"] = asyncio.run(measure(sio, "sio", None, args))
        finally:
            sio.stop()

    if "bare" in parts:
        flush_redis(redis_url)
        bare_env = {**os.environ, "REDIS_URL": redis_url, "DJANGO_SETTINGS_MODULE": "bench.bare.settings"}
        bare = Server("bare", "bench.bare.asgi:application", bare_env)
        try:
            report["bare"] = asyncio.run(measure(bare, "bare", None, args))
        finally:
            bare.stop()

    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    # A partial run (--only) keeps the full run's files: only-<parts>.json/.md, and no plot.
    name = "latest" if args.only is None else "only-" + "-".join(sorted(parts))
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2))
    text = table(report)
    (RESULTS / f"{name}.md").write_text(text)
    written = [RESULTS / f"{name}.json", RESULTS / f"{name}.md"]
    if args.only is None:
        from bench.plot import plot

        plot(report, PLOT)
        written.append(PLOT)
    print(text)
    print("wrote " + ", ".join(str(path) for path in written))


if __name__ == "__main__":
    main()
