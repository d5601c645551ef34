"""The overload run: twice the highest rate `make bench` holds, for 60 seconds.

    python bench/overload.py                       # both workloads, shedding on and off
    python bench/overload.py --workloads 50x10 --modes on --overload 20

Same machine setup as bench/run.py (a fresh ``chatsite_bench`` database, the
server on core 0, this load generator on core 1). Per workload and mode, on a
fresh server process, every member keeps one socket the way a real client
does: it reconnects when closed (with backoff), resumes with ``?sync=1`` and
``sync`` from the last seq it saw, sends again what was in flight with the same
``client_msg_id``, and sends again what was refused as ``overloaded`` (or
``database_unavailable``/``rate_limited``) up to five tries, after ``retry_after``
and a random share of a window that doubles with each refusal, as the browser does. The timeline:

1. ``--before`` seconds (10) at half the held rate: the normal latency;
2. ``--overload`` seconds (60) at twice the held rate;
3. ``--after`` seconds (30) at half the held rate again: how long until normal.

Then every client must be connected and caught up, and the run checks that
every message the server acknowledged is in the database and reached every
member of its room exactly once (live, or by ``sync`` after a reconnect). It
reports what was offered, acknowledged and shed, the server's memory (resident
set, sampled every half second) and CPU, the latency per second of sending, and
the seconds after the load drops until latency is normal again (p99 ≤ 250 ms
and nothing shed in every later second). ``--modes off`` runs the same with
``CHAT_OVERLOAD_SHEDDING=0``: what the queues do without shedding.

Writes ``bench/results/overload.json`` and ``bench/results/overload.md``.
"""

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402

from bench.load import cpu_seconds, percentile, rss_kib  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MARK = "ovl:"  # content: ovl:<n>:<send time ns>:<sender id>
NORMAL_P99_MS = 250.0
BUSY = {"overloaded", "database_unavailable", "rate_limited", "service_unavailable"}
TRIES = 5  # as the browser (static/chat/outbox.js BUSY_TRIES)
# Held rates of docs/performance.md (after the redesign, daphne), deliveries per second.
HELD = {"50x10": 1889, "5x200": 12025}
SIZES = {"50x10": (50, 10), "5x200": (5, 200)}


class Run:
    """One workload in one mode against one server process."""

    def __init__(self, *, base: str, server_pid: int, rooms: list[dict]):
        self.base = base
        self.ws_base = base.replace("http://", "ws://")
        self.server_pid = server_pid
        self.rooms = rooms
        self.started = time.monotonic()
        self.done = False
        self.counter = 0
        self.latency: dict[int, list[float]] = defaultdict(list)  # second of sending -> ms
        self.sent: Counter = Counter()  # second -> sends (first tries)
        self.shed: Counter = Counter()  # second -> refusals (any try)
        self.codes: Counter = Counter()
        self.given_up = 0
        self.retries = 0
        self.retries_allowed = TRIES - 1
        self.ticket_refusals = Counter()
        self.samples: list[dict] = []

    def second(self, at: float | None = None) -> int:
        return int((time.monotonic() if at is None else at) - self.started)

    def ticket(self, access: str) -> str:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.base}/api/auth/ws-ticket/", data=b"{}", method="POST",
            headers={"Authorization": f"Bearer {access}", "Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                return json.loads(response.read())["ticket"]
        except urllib.error.HTTPError as error:
            self.ticket_refusals[error.code] += 1
            raise ConnectionError(f"ticket refused: {error.code}") from None

    async def sample(self) -> None:
        """The server's memory and CPU every half second."""
        last_cpu, last_own, last_at = cpu_seconds(self.server_pid), time.process_time(), time.monotonic()
        while not self.done:
            await asyncio.sleep(0.5)
            cpu, own, now = cpu_seconds(self.server_pid), time.process_time(), time.monotonic()
            self.samples.append(
                {"t": round(now - self.started, 2), "rss_kib": rss_kib(self.server_pid),
                 "cpu": round((cpu - last_cpu) / (now - last_at), 3),
                 # this load generator's own CPU: near 1.0, it (not the server) adds the latency
                 "load_cpu": round((own - last_own) / (now - last_at), 3)}
            )
            last_cpu, last_own, last_at = cpu, own, now


class Member:
    """One member's socket, kept connected the way a real client keeps it."""

    def __init__(self, run: Run, member: dict, room: str):
        self.run = run
        self.id = member["id"]
        self.access = member["access"]
        self.room = room
        self.ws = None
        self.seq = 0
        self.connected_once = False
        self.live = asyncio.Event()
        self.received: set[str] = set()
        self.duplicates = 0
        self.acked: dict[str, str] = {}  # key -> message id
        self.inflight: dict[str, dict] = {}  # ref -> frame (sent, no answer yet)
        self.tries: Counter = Counter()
        self.retrying = 0  # refused sends waiting for their retry
        self.closes: Counter = Counter()
        self.task = None

    async def keep_connected(self) -> None:
        attempt = 0
        while not self.run.done:
            try:
                await self.session()
                attempt = 0
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError, ConnectionError, KeyError, ValueError):
                attempt += 1
            self.live.clear()
            self.ws = None
            if self.run.done:
                return
            await asyncio.sleep(min(8.0, 0.5 * 2 ** min(attempt, 4)) * (0.5 + random.random()))

    async def session(self) -> None:
        ticket = await asyncio.to_thread(self.run.ticket, self.access)
        query = f"sync=1&ticket={ticket}" if self.connected_once else f"ticket={ticket}"
        async with websockets.connect(
            f"{self.run.ws_base}/ws/chat/?{query}", open_timeout=30, close_timeout=2,
            ping_interval=None, max_size=2**22, compression=None,
        ) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if hello.get("type") != "hello":
                raise ConnectionError(f"no hello: {hello.get('type')}")
            if self.connected_once:
                # Held until this first frame: every event after our seq, then live ones.
                await ws.send(json.dumps({"type": "sync", "ref": "sync", "rooms": {self.room: self.seq}}))
            else:
                self.seq = next(room["seq"] for room in hello["rooms"] if room["id"] == self.room)
            self.connected_once = True
            self.ws = ws
            self.live.set()
            for frame in list(self.inflight.values()):  # lost with the last socket: the same client_msg_id again
                await ws.send(json.dumps(frame))
            try:
                async for text in ws:
                    self.on_frame(text)
            finally:
                self.closes[ws.close_code] += 1

    def on_frame(self, text: str) -> None:
        if text.startswith('{"type":"message.created"'):
            at = text.index('"seq":') + 6
            seq = int(text[at:text.index(",", at)])
            if seq > self.seq:
                self.seq = seq
            start = text.find(MARK)
            if start < 0:
                return
            key = text[start:text.index('"', start)]
            if key in self.received:
                self.duplicates += 1
                return
            self.received.add(key)
            _mark, _n, sent_ns, sender = key.split(":")
            if sender != self.id:
                sent = int(sent_ns) / 1e9
                self.run.latency[self.run.second(sent - time.time() + time.monotonic())].append(
                    (time.time() - sent) * 1000
                )
        elif text.startswith(('{"type":"ack"', '{"type":"error"')):
            frame = json.loads(text)
            ref = frame.get("ref")
            sent = self.inflight.pop(ref, None) if isinstance(ref, str) else None
            if sent is None:
                return
            if frame["type"] == "ack":
                self.acked[sent["content"]] = frame["result"]["message"]["id"]
                return
            self.run.codes[frame["code"]] += 1
            if frame["code"] in BUSY:
                self.run.shed[self.run.second()] += 1
                refusals = self.tries[sent["content"]]
                if refusals <= self.run.retries_allowed:
                    # As the browser: retry_after, then a random share of a window doubling per refusal.
                    delay = float(frame.get("retry_after") or 1) * (1 + random.random() * min(2**refusals, 8))
                    self.retrying += 1
                    asyncio.get_running_loop().call_later(delay, self.retry, sent)
                    return
            self.run.given_up += 1

    def retry(self, frame: dict) -> None:
        self.retrying -= 1
        if self.run.done:
            return
        self.run.retries += 1
        asyncio.ensure_future(self.send_frame(dict(frame, ref=uuid.uuid4().hex[:12])))

    async def send(self) -> bool:
        if self.ws is None:
            return False  # reconnecting: a real client would queue it; not offered
        self.run.counter += 1
        content = f"{MARK}{self.run.counter}:{time.time_ns()}:{self.id}"
        frame = {"type": "message.send", "ref": uuid.uuid4().hex[:12], "room": self.room, "content": content,
                 "client_msg_id": uuid.uuid4().hex}
        self.run.sent[self.run.second()] += 1
        await self.send_frame(frame)
        return True

    async def send_frame(self, frame: dict) -> None:
        self.tries[frame["content"]] += 1
        self.inflight[frame["ref"]] = frame
        ws = self.ws
        if ws is None:
            return  # sent after the reconnect
        try:
            await ws.send(json.dumps(frame))
        except websockets.ConnectionClosed:
            pass  # stays in flight: sent again after the reconnect


async def drive(room: list[Member], phases: list[tuple[float, float]], run: Run) -> None:
    """Messages into one room, members in turn: ``phases`` is (seconds, rate per second)."""
    order = list(room)
    random.shuffle(order)
    turn = 0
    start = time.monotonic()
    for seconds, rate in phases:
        interval = 1.0 / rate
        at = start + random.random() * interval
        end = start + seconds
        while at < end:
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await order[turn % len(order)].send()
            turn += 1
            at += interval
        start = end


async def one_run(*, base: str, server_pid: int, rooms: list[dict], held: float, args) -> dict:
    run = Run(base=base, server_pid=server_pid, rooms=rooms)
    run.retries_allowed = args.retries
    members = [[Member(run, m, room["id"]) for m in room["members"]] for room in rooms]
    everyone = [m for room in members for m in room]
    gate = asyncio.Semaphore(20)

    async def first_connect(member):
        async with gate:
            member.task = asyncio.ensure_future(member.keep_connected())
            await asyncio.wait_for(member.live.wait(), 60)

    await asyncio.gather(*(first_connect(m) for m in everyone))
    await asyncio.sleep(1.0)
    per_room = held / (len(rooms) * (len(rooms[0]["members"]) - 1))
    phases = [(args.before, per_room / 2), (args.overload, per_room * 2), (args.after, per_room / 2)]
    run.started = time.monotonic()
    sampler = asyncio.ensure_future(run.sample())
    await asyncio.gather(*(drive(room, phases, run) for room in members))
    sending_ended = time.monotonic()
    # Let retries and reconnects finish: every client connected, nothing in flight.
    deadline = time.monotonic() + args.settle
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        if all(m.ws is not None and not m.inflight and not m.retrying for m in everyone):
            break
    await asyncio.sleep(3.0)
    run.done = True
    sampler.cancel()
    for m in everyone:
        if m.ws is not None:
            await m.ws.close()
    await asyncio.gather(*(m.task for m in everyone), return_exceptions=True)
    return report(run, members, phases, sending_ended, args)


def stored(message_ids: list[str]) -> int:
    import psycopg

    with psycopg.connect(os.environ["BENCH_DATABASE_URL"]) as conn:
        return conn.execute("SELECT count(*) FROM chat_chatmessage WHERE id = ANY(%s::uuid[])", [message_ids]).fetchone()[0]


def report(run: Run, members: list[list[Member]], phases, sending_ended: float, args) -> dict:
    before, overload, after = (p[0] for p in phases)
    acked_ids, missing, duplicates, expected = [], 0, 0, 0
    for room in members:
        acked = {key for m in room for key in m.acked}
        acked_ids += [mid for m in room for mid in m.acked.values()]
        for m in room:
            mine = {key for key in acked if key.rsplit(":", 1)[1] == m.id}
            expected += len(acked - mine)
            missing += len(acked - mine - m.received)
            duplicates += m.duplicates
    in_db = stored(acked_ids)
    seconds = int(before + overload + after)
    series = []
    for s in range(seconds):
        lat = run.latency.get(s, [])
        cpu = [x["cpu"] for x in run.samples if s <= x["t"] < s + 1]
        load_cpu = [x["load_cpu"] for x in run.samples if s <= x["t"] < s + 1]
        series.append({
            "second": s, "sent": run.sent[s], "shed": run.shed[s], "deliveries": len(lat),
            "p50_ms": round(percentile(lat, 50), 1), "p99_ms": round(percentile(lat, 99), 1),
            "cpu": round(sum(cpu) / len(cpu), 2) if cpu else None,
            "load_cpu": round(sum(load_cpu) / len(load_cpu), 2) if load_cpu else None,
        })
    load_drop = int(before + overload)
    recovered = None
    for s in range(load_drop, seconds):
        if all(x["p99_ms"] <= NORMAL_P99_MS and x["shed"] == 0 for x in series[s:]):
            recovered = s - load_drop
            break

    def rss(lo, hi):
        values = [x["rss_kib"] for x in run.samples if lo <= x["t"] < hi]
        return (min(values), max(values)) if values else (0, 0)

    all_in_phase = lambda lo, hi: [ms for s in range(int(lo), int(hi)) for ms in run.latency.get(s, [])]  # noqa: E731
    closes = Counter()
    for room in members:
        for m in room:
            closes.update({str(code): n for code, n in m.closes.items()})
    offered = sum(run.sent.values())
    result = {
        "rates_per_room": [round(p[1], 3) for p in phases],
        "offered_messages": offered,
        "acknowledged": len(acked_ids),
        "shed_answers": sum(run.shed.values()),
        "retries": run.retries,
        "given_up": run.given_up,
        "answer_codes": dict(run.codes),
        "ticket_refusals": dict(run.ticket_refusals),
        "expected_deliveries": expected,
        "missing_deliveries": missing,
        "duplicate_deliveries": duplicates,
        "acknowledged_in_database": in_db,
        "socket_closes": dict(closes),
        "latency_before": summary(all_in_phase(0, before)),
        "latency_overload": summary(all_in_phase(before, before + overload)),
        "latency_after_last_10s": summary(all_in_phase(seconds - 10, seconds)),
        "rss_kib_before": rss(0, before)[1],
        "rss_kib_max_overload": rss(before, before + overload)[1],
        "rss_kib_end": rss(seconds - 2, seconds + 60)[1],
        "recovered_after_s": recovered,
        "series": series,
    }
    return result


def summary(values: list[float]) -> dict:
    return {"count": len(values), "p50_ms": round(percentile(values, 50), 1), "p99_ms": round(percentile(values, 99), 1),
            "max_ms": round(max(values, default=0.0), 1)}


def markdown(report: dict) -> str:
    lines = [
        "| workload | shedding | offered → acked (shed answers, retries, given up) | delivered: missing / dup | acked in DB | "
        "p99 before / during / last 10 s | RSS MiB before → max → end | normal again after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["runs"].items():
        workload, mode = name.split(":")
        mib = lambda kib: f"{kib / 1024:.0f}"  # noqa: E731
        lines.append(
            f"| {workload} | {mode} | {r['offered_messages']:,} → {r['acknowledged']:,} ({r['shed_answers']:,}, "
            f"{r['retries']:,}, {r['given_up']:,}) | {r['missing_deliveries']} / {r['duplicate_deliveries']} of "
            f"{r['expected_deliveries']:,} | {r['acknowledged_in_database']:,} | {r['latency_before']['p99_ms']} / "
            f"{r['latency_overload']['p99_ms']} / {r['latency_after_last_10s']['p99_ms']} ms | "
            f"{mib(r['rss_kib_before'])} → {mib(r['rss_kib_max_overload'])} → {mib(r['rss_kib_end'])} | "
            f"{'never' if r['recovered_after_s'] is None else str(r['recovered_after_s']) + ' s'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    from bench.run import Server, flush_redis, recreate_database, run, server_env

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="*", default=["50x10", "5x200"], choices=sorted(SIZES))
    parser.add_argument("--modes", nargs="*", default=["on", "off"], choices=["on", "off"])
    parser.add_argument("--before", type=float, default=10.0)
    parser.add_argument("--overload", type=float, default=60.0)
    parser.add_argument("--after", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=60.0, help="seconds at most for clients to catch up")
    parser.add_argument("--retries", type=int, default=TRIES - 1,
                        help="times a client sends a refused message again (4, as the browser; 0: open loop)")
    parser.add_argument("--held", type=json.loads, default=HELD, help='held deliveries/s, JSON: {"50x10": 1889, …}')
    parser.add_argument("--server-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="extra environment of the server (CHAT_DB_THREADS=4 …)")
    args = parser.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    base_db = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    redis_url = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/7"
    if os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})
    database = recreate_database(base_db)
    os.environ["BENCH_DATABASE_URL"] = database
    env = server_env(database, redis_url, **dict(item.split("=", 1) for item in args.server_env))
    print("migrating the bench database", flush=True)
    run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env)
    print("creating users and rooms through the commands", flush=True)
    data = json.loads(run([sys.executable, "bench/setup_data.py", "--users", "1000"], env, capture_output=True).stdout)
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "args": vars(args), "runs": {}}
    for workload in args.workloads:
        for mode in args.modes:
            flush_redis(redis_url)
            server = Server(f"overload-{workload}-{mode}", "chatsite.asgi:application",
                            {**env, "CHAT_OVERLOAD_SHEDDING": "1" if mode == "on" else "0"})
            try:
                print(f"{workload}, shedding {mode}: 2 × {args.held[workload]:,}/s for {args.overload:.0f} s", flush=True)
                figures = asyncio.run(one_run(base=server.base, server_pid=server.pid,
                                              rooms=data["workloads"][workload], held=args.held[workload], args=args))
            finally:
                server.stop()
            result["runs"][f"{workload}:{mode}"] = figures
            print(json.dumps({k: v for k, v in figures.items() if k != "series"}), flush=True)
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    (RESULTS / "overload.json").write_text(json.dumps(result, indent=2))
    text = markdown(result)
    (RESULTS / "overload.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
