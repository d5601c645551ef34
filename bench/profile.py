"""py-spy profiles of a server under load (``python bench/run.py --profile``).

``Recorder`` runs ``py-spy record --native --rate 200 --format raw --function``
against the server's pid while a ramp's steps run, and stops it (SIGINT: py-spy
then writes what it has) when they end; ``--function`` puts each frame at its
function's first line, so a frame is a function, not a line. ``summarize``
reads the raw output, collapsed stacks (``frame;frame;…;leaf count`` a line,
outermost first, a frame ``name (path:line)``), into the functions with most
samples by self time (the leaf of the stack) and by inclusive time (anywhere in
it, counted once per stack), as shares of the samples of threads at work.

With ``--native`` py-spy keeps samples of threads that only wait (the thread
pool's idle workers in a queue's ``get``, the event loop in ``epoll_wait``): in
a trial run they were 70–80 % of all samples. A stack that ends in a wait (see
``waits``) is counted apart as waiting and left out of the shares.

Nothing here may fail a benchmark: a py-spy that cannot start or attach is
reported, not raised.
"""

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("chat/", "chatsite/", "accounts/")  # the project's own code, for the report's short list
# The C library's blocking calls, and the callers whose call into the C library is
# a wait: a lock or a queue (the GIL is not taken through these), the event loop's
# poll (asyncio's epoll, libuv's), a socket with a timeout, psycopg waiting for
# PostgreSQL's answer. The C library's own frames are named unreliably (an address
# without a symbol takes the name before it), so the first frame outside it decides.
WAIT_CALLS = frozenset({
    "epoll_wait", "epoll_pwait", "poll", "ppoll", "select", "pselect", "nanosleep", "clock_nanosleep",
    "sem_wait", "sem_timedwait", "sem_clockwait", "accept", "accept4",
})
WAIT_CALLERS = frozenset({
    "PyThread_acquire_lock_timed", "_queue_SimpleQueue_get_impl", "select_epoll_poll_impl", "select_poll_poll_impl",
    "select_select_impl", "internal_select", "uv__io_poll", "Connection.wait",
})
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]+$")
_FRAME = re.compile(r"^(?P<name>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    """py-spy next to this Python (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    from shutil import which

    return which("py-spy")


def shorten(path: str) -> str:
    """A frame's file as a reader finds it: under site-packages or the standard
    library from there, under this repository from its root."""
    path = path.replace("\\", "/")
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    root = str(ROOT).replace("\\", "/") + "/"
    if path.startswith(root):
        return path[len(root):]
    stdlib = re.search(r"/lib/python3\.\d+/", path)
    if stdlib:
        return path[stdlib.end():]
    return path


def parse_frame(frame: str) -> tuple[str, str, int | None]:
    """(function, shortened file, line) of one frame; an unresolved native
    frame (an address) is "?" in its library."""
    found = _FRAME.match(frame.strip())
    if not found:
        return frame.strip(), "", None
    name = found["name"]
    if _ADDRESS.match(name):
        name = "?"
    return name, shorten(found["path"]), int(found["line"]) if found["line"] else None


def waits(frames: list[tuple[str, str, int | None]]) -> bool:
    """Whether a stack (parsed frames, outermost first) is a thread waiting: it
    ends in one of ``WAIT_CALLS``, or in the C library called from one of
    ``WAIT_CALLERS`` (unresolved addresses between them are passed over)."""
    if not frames or not frames[-1][1].startswith("libc.so"):
        return bool(frames) and frames[-1][0] in WAIT_CALLS
    for name, path, _ in reversed(frames):
        if path.startswith("libc.so"):
            if name in WAIT_CALLS:
                return True
        elif name != "?":
            return name in WAIT_CALLS or name in WAIT_CALLERS
    return False


def _label(name: str, path: str, line: int | None) -> str:
    if not path:
        return name
    return f"{name} ({path}:{line})" if line else f"{name} ({path})"


def summarize(lines, top: int = 25) -> dict:
    """Samples, and the ``top`` functions by self and by inclusive samples, from
    collapsed stacks (an iterable of lines, or a path). A function is its name
    and file; its line is the lowest seen (with ``--function``, its first line).
    Each entry: ``{"function": "name (file:line)", "file": file, "samples": n, "share": n / samples}``;
    ``samples`` counts the stacks at work, ``waiting`` those left out (``WAITS``)."""
    if isinstance(lines, (str, Path)):
        with open(lines, encoding="utf-8", errors="replace") as source:
            return summarize(source.readlines(), top)
    total = waiting = 0
    own, inclusive, first_line = Counter(), Counter(), {}
    for raw in lines:
        raw = raw.rstrip("\n")
        if not raw.strip():
            continue
        stack, _, count = raw.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        count = int(count)
        frames = [parse_frame(frame) for frame in stack.split(";")]
        if waits(frames):
            waiting += count
            continue
        total += count
        keys = []
        for name, path, line in frames:
            key = (name, path)
            if line is not None and (first_line.get(key) is None or line < first_line[key]):
                first_line[key] = line
            keys.append(key)
        own[keys[-1]] += count
        for key in set(keys):
            inclusive[key] += count

    def entries(counter: Counter) -> list[dict]:
        return [
            {"function": _label(name, path, first_line.get((name, path))), "file": path, "samples": n,
             "share": round(n / total, 4) if total else 0.0}
            for (name, path), n in counter.most_common(top)
        ]

    # The project's own functions by inclusive time, looked for among all of them, not the top only.
    project = Counter({key: n for key, n in inclusive.items() if key[1].startswith(PROJECT)})
    return {"samples": total, "waiting": waiting, "self": entries(own), "inclusive": entries(inclusive), "project_inclusive": entries(project)}


def markdown(summary: dict, title: str) -> str:
    counts = (f"{summary['samples']:,} samples of threads at work (py-spy); "
              f"{summary.get('waiting', 0):,} of threads waiting (a lock, a queue, a poll) left out. "
              "`?` is native code without a symbol, counted per library.")
    lines = [f"# {title}", "", counts, ""]
    for key, heading in (("self", "self time (the function itself)"), ("inclusive", "inclusive time (it and what it calls)")):
        lines += [f"## Top {len(summary[key])} by {heading}", "", "| share | samples | function |", "|---|---|---|"]
        lines += [f"| {e['share'] * 100:.1f} % | {e['samples']:,} | `{e['function']}` |" for e in summary[key]]
        lines.append("")
    return "\n".join(lines)


class Recorder:
    """One ``py-spy record`` of a pid into ``raw`` (its own output in ``raw``.log)."""

    def __init__(self, raw: Path, log=print):
        self.raw = Path(raw)
        self.log = log
        self.process = None
        self.error = None
        self.started = None

    def start(self, pid: int, duration: float) -> None:
        executable = py_spy()
        if executable is None:
            self.error = "py-spy not found next to the Python or on PATH"
            self.log(f"  profile: {self.error}; going on without it")
            return
        self.raw.unlink(missing_ok=True)
        command = [executable, "record", "--native", "--rate", "200", "--format", "raw", "--function",
                   "-o", str(self.raw), "--pid", str(pid), "--duration", str(max(1, int(duration) + 1))]
        try:
            self.output = open(self.raw.with_suffix(".log"), "wb")  # noqa: SIM115 - closed in finish()
            self.process = subprocess.Popen(command, stdout=self.output, stderr=subprocess.STDOUT)
        except OSError as error:
            self.error = f"py-spy did not start: {error}"
            self.log(f"  profile: {self.error}; going on without it")
            self.process = None
            return
        self.started = time.monotonic()
        cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
        others = set(range(os.cpu_count() or 1)) - {0} - cores
        if others:  # off the server's core and, when the machine has one, off the load's too
            try:
                os.sched_setaffinity(self.process.pid, others)
            except OSError:
                pass
        self.log(f"  profile: py-spy on pid {pid} into {self.raw.name}")

    def stop(self) -> None:
        """Ask py-spy to stop sampling and write (does not wait)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def finish(self, timeout: float = 60) -> dict | None:
        """Wait for py-spy; the summary of what it wrote, or ``{"error": …}``."""
        if self.process is None:
            return {"error": self.error} if self.error else None
        self.stop()
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.output.close()
        if not self.raw.exists() or self.raw.stat().st_size == 0:
            said = self.raw.with_suffix(".log").read_text(errors="replace").strip().splitlines()[-3:]
            self.error = f"py-spy wrote nothing (exit {code}): {' / '.join(said)}"
            self.log(f"  profile: {self.error}; going on without it")
            return {"error": self.error}
        try:
            summary = summarize(self.raw)
        except Exception as error:  # noqa: BLE001 - a profile never fails the benchmark
            self.error = f"could not read {self.raw.name}: {error!r}"
            self.log(f"  profile: {self.error}")
            return {"error": self.error}
        summary["raw"] = str(self.raw.relative_to(ROOT) if self.raw.is_relative_to(ROOT) else self.raw)
        summary["seconds"] = round(time.monotonic() - self.started, 1)
        self.log(f"  profile: {summary['samples']:,} samples in {self.raw.name}")
        return summary
