"""`make bench`: chatsite's real-time benchmark, beside a bare Channels consumer.

Starts each server with daphne pinned to core 0 (``taskset -c 0``) on a fresh
PostgreSQL database and a Redis database of its own, runs the load from this
process on core 1, stops everything, and writes ``bench/results/latest.json``,
``bench/results/latest.md`` (the table) and ``docs/performance-p99.png``.

    python bench/run.py                 # everything (about 10 minutes)
    python bench/run.py --step 5 --skip-history   # quicker, for development

Environment: DATABASE_URL (a server to create ``chatsite_bench`` on; default
postgres://postgres@127.0.0.1:5432/postgres) and REDIS_URL (default
redis://127.0.0.1:6379/7 — flushed at the start).
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
sys.path.insert(0, str(ROOT))

from bench.load import GROWTH, Bench  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PLOT = ROOT / "docs" / "performance-p99.png"
PYTHON = sys.executable
BENCH_DB = "chatsite_bench"
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
    bench = Bench(base=server.base, protocol=protocol, data=data, server_pid=server.pid)
    result = {"workloads": {}}
    # Memory first, on the fresh process: after the ramps, freed memory that the
    # allocator keeps would hide what new sockets cost.
    print(f"{server.name}: idle sockets", flush=True)
    if protocol == "chatsite":
        members, room = data["users"][: args.idle], data["workloads"]["5x200"][0]["id"]
    else:
        members, room = [{"id": f"idle{i}"} for i in range(args.idle)], "idle"
    result["idle"] = await bench.idle(members=members, room=room)
    deadline = time.monotonic() + args.budget
    for workload in args.workloads:
        rooms = data["workloads"][workload] if protocol == "chatsite" else bare_rooms(workload)
        print(f"{server.name}: ramp {workload}", flush=True)
        bench.steps = {}
        result["workloads"][workload] = await bench.ramp(
            rooms=rooms, start_rate=START_RATES[workload], step_seconds=args.step, grace=args.grace,
            max_steps=args.max_steps, deadline=deadline,
        )
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


def table(report: dict) -> str:
    lines = [
        "| server (one core) | 50 rooms × 10 | 5 rooms × 200 | KiB per idle socket |",
        "|---|---|---|---|",
    ]
    for name in ("chatsite", "bare"):
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
        cells.append(f"{report[name]['idle']['kib_per_socket']:.1f}")
        label = "chatsite (full product path)" if name == "chatsite" else "bare Channels consumer (tutorial shape, RedisChannelLayer)"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if "chatsite" in report and "bare" in report:
        ratios = []
        for workload in ("50x10", "5x200"):
            ours = (report["chatsite"]["workloads"].get(workload) or {}).get("held")
            theirs = (report["bare"]["workloads"].get(workload) or {}).get("held")
            if ours and theirs:
                ratios.append(f"{workload}: {ours['delivered_per_s'] / theirs['delivered_per_s']:.1f}×")
            elif ours:
                ratios.append(f"{workload}: bare held no step")
        lines.append("")
        lines.append("chatsite ÷ bare: " + ", ".join(ratios))
    history = report.get("history")
    if history:
        lines.append("")
        lines.append("| read | p50 ms | p99 ms | requests |")
        lines.append("|---|---|---|---|")
        for name, figures in history["latency"].items():
            lines.append(f"| {name} | {figures['p50_ms']} | {figures['p99_ms']} | {figures['count']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step", type=float, default=10.0, help="seconds per ramp step (10)")
    parser.add_argument("--grace", type=float, default=2.0, help="seconds to wait for stragglers after a step")
    parser.add_argument("--max-steps", type=int, default=12)
    parser.add_argument("--workloads", nargs="*", default=["50x10", "5x200"], choices=["50x10", "5x200"],
                        help="fan-out ramps to run (none: only idle memory and reads)")
    parser.add_argument("--idle", type=int, default=1000, help="idle sockets for the memory figure")
    parser.add_argument("--budget", type=float, default=900, help="seconds of ramping per server at most")
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne", help="ASGI server for chatsite (daphne)")
    parser.add_argument("--skip-history", action="store_true")
    parser.add_argument("--server-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="extra environment of chatsite's server (CHAT_DB_THREADS=4 …)")
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages in the history room")
    parser.add_argument("--rooms", type=int, default=1000, help="rooms of the room-list user")
    args = parser.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    base_db = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    redis_url = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/7"
    if os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})  # the load generator stays off the server's core

    report = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": {"cpus": os.cpu_count()}, "args": vars(args)}
    database = recreate_database(base_db)
    flush_redis(redis_url)
    env = server_env(database, redis_url, **dict(item.split("=", 1) for item in args.server_env))
    print("migrating the bench database", flush=True)
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
    print("creating users and rooms through the commands", flush=True)
    data = json.loads(run([PYTHON, "bench/setup_data.py", "--users", "1000"], env, capture_output=True).stdout)

    report["server"] = args.server
    server = Server("chatsite", "chatsite.asgi:application", env, kind=args.server)
    try:
        report["chatsite"] = asyncio.run(measure(server, "chatsite", data, args))
        if not args.skip_history:
            print("history and room list at size", flush=True)
            from bench.history import measure_reads

            report["history"] = measure_reads(server.base, env, messages=args.messages, rooms=args.rooms)
    finally:
        server.stop()

    if not args.skip_bare:
        flush_redis(redis_url)
        bare_env = {**os.environ, "REDIS_URL": redis_url, "DJANGO_SETTINGS_MODULE": "bench.bare.settings"}
        bare = Server("bare", "bench.bare.asgi:application", bare_env)
        try:
            report["bare"] = asyncio.run(measure(bare, "bare", None, args))
        finally:
            bare.stop()

    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2))
    text = table(report)
    (RESULTS / "latest.md").write_text(text)
    from bench.plot import plot

    plot(report, PLOT)
    print(text)
    print(f"wrote {RESULTS / 'latest.json'}, {RESULTS / 'latest.md'} and {PLOT}")


if __name__ == "__main__":
    main()
