"""Durable jobs: long work off the request path, run by the worker process
(``manage.py notification_worker`` runs them beside the notifications).

    job = jobs.enqueue(kind="room.export", payload={...}, owner=user)

    @jobs.handler("room.export")
    def export(job, ctx):
        for part in parts_after(ctx.checkpoint):
            ...
            ctx.progress(percent, checkpoint={"done": part})
        return {"file": name}            # the job's result

The Job row is the queue. A worker claims one with ``SELECT … FOR UPDATE SKIP
LOCKED`` (two workers never take the same job) and commits at once with a
lease (``lease_until``), which ``ctx.progress`` renews; the work itself runs
in short transactions of the handler's own. A worker that dies stops renewing:
when the lease has run out, the next pass of any worker claims the job again
and its handler goes on from the last checkpoint. So a handler must be safe
to resume from its checkpoint (and to run again from the start when it has
none). A handler that raises is tried again later (RETRY_BACKOFF) up to
MAX_ATTEMPTS; a cancelled job stops at its next ``ctx.progress``.
"""

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from . import metrics
from .models import Job, JobState

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_BACKOFF = (10, 60, 300, 900)  # seconds before the next try, by attempts so far

_handlers: dict[str, Callable] = {}


def lease() -> timedelta:
    """How long a claim holds without a word from its worker (CHAT_JOB_LEASE_SECONDS)."""
    return timedelta(seconds=settings.CHAT_JOB_LEASE_SECONDS)


class JobCancelled(Exception):
    """Raised by ``ctx.progress`` when the job was cancelled meanwhile."""


class JobInterrupted(Exception):
    """Raised by ``ctx.progress`` when the worker is stopping: the job is handed
    back (pending, its checkpoint kept) for the next worker to go on with."""


class JobLost(Exception):
    """Raised by ``ctx.progress`` when another worker holds the job now (this
    one's lease ran out, e.g. while the process was stopped)."""


def handler(kind: str):
    """Register the function that runs jobs of ``kind``: ``fn(job, ctx) -> dict | None``."""

    def register(fn):
        _handlers[kind] = fn
        metrics.declare(metrics.JOB_PROGRESS_UPDATES, (kind,))
        metrics.declare(metrics.JOBS_FINISHED, *((kind, outcome) for outcome in metrics.JOB_OUTCOMES))
        return fn

    return register


def enqueue(*, kind: str, payload: dict | None = None, owner=None, delay: timedelta | None = None) -> Job:
    """A new pending job (run by the next worker pass once the transaction commits)."""
    if kind not in _handlers:
        raise ValueError(f"no handler for jobs of kind {kind!r}")
    return Job.objects.create(kind=kind, payload=payload or {}, owner=owner, due_at=timezone.now() + (delay or timedelta()))


def cancel(job: Job) -> bool:
    """Cancel a pending or running job; False when it had already ended."""
    return bool(
        Job.objects.filter(pk=job.pk, state__in=[JobState.PENDING, JobState.RUNNING]).update(
            state=JobState.CANCELLED, finished_at=timezone.now(), lease_until=None
        )
    )


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class JobContext:
    """What a running handler has: the checkpoint to go on from, and progress."""

    def __init__(self, job: Job, worker: str, stop: threading.Event | None = None):
        self.job = job
        self.worker = worker
        self.stop = stop
        self.checkpoint = dict(job.checkpoint or {})

    def progress(self, percent: int, *, checkpoint: dict | None = None) -> None:
        """Record progress (and where to resume from), renewing the lease.
        Raises JobCancelled or JobLost when the job is no longer this worker's to
        run, JobInterrupted when the worker is stopping (after saving)."""
        fields = {"progress": max(0, min(100, int(percent))), "lease_until": timezone.now() + lease(), "updated_at": timezone.now()}
        if checkpoint is not None:
            self.checkpoint = dict(checkpoint)
            fields["checkpoint"] = self.checkpoint
        updated = Job.objects.filter(pk=self.job.pk, state=JobState.RUNNING, worker=self.worker).update(**fields)
        if not updated:
            state = Job.objects.filter(pk=self.job.pk).values_list("state", flat=True).first()
            raise JobCancelled(self.job.pk) if state == JobState.CANCELLED else JobLost(self.job.pk)
        self.job.progress = fields["progress"]
        metrics.job_progress(self.job.kind, self.job.progress)
        if self.stop is not None and self.stop.is_set():
            raise JobInterrupted(self.job.pk)


def claim(*, worker: str, now=None) -> Job | None:
    """Take the oldest due job nobody holds: pending and due, or running with
    its lease run out (its worker died). Committed at once, with a lease."""
    now = now or timezone.now()
    with transaction.atomic():
        job = (
            Job.objects.select_for_update(skip_locked=True)
            .filter(_due(now), kind__in=list(_handlers))
            .order_by("due_at", "created_at")
            .first()
        )
        if job is None:
            return None
        if job.state == JobState.RUNNING:
            logger.warning("job %s (%s): the lease of %s ran out; going on from its checkpoint", job.pk, job.kind, job.worker)
        job.state, job.worker, job.lease_until = JobState.RUNNING, worker, now + lease()
        job.attempts += 1
        job.started_at = job.started_at or now
        job.save(update_fields=["state", "worker", "lease_until", "attempts", "started_at", "updated_at"])
        return job


def _due(now) -> Q:
    return Q(state=JobState.PENDING, due_at__lte=now) | Q(state=JobState.RUNNING, lease_until__lt=now)


def run_one(job: Job, *, worker: str, stop: threading.Event | None = None) -> str:
    """Run a claimed job to its end (or its next try); returns its state."""
    state, outcome = _run_one(job, worker=worker, stop=stop)
    metrics.job_finished(job.kind, outcome)
    return state


def _run_one(job: Job, *, worker: str, stop: threading.Event | None) -> tuple[str, str]:
    """The job's state after this run, and the run's outcome (metrics.JOB_OUTCOMES)."""
    ctx = JobContext(job, worker, stop)
    try:
        result = _handlers[job.kind](job, ctx)
    except JobInterrupted:
        logger.info("job %s (%s): handed back at %s%% (the worker is stopping)", job.pk, job.kind, job.progress)
        Job.objects.filter(pk=job.pk, state=JobState.RUNNING, worker=worker).update(
            state=JobState.PENDING, due_at=timezone.now(), lease_until=None, attempts=max(0, job.attempts - 1)
        )
        return JobState.PENDING, "handed_back"
    except JobCancelled:
        logger.info("job %s (%s): cancelled", job.pk, job.kind)
        return JobState.CANCELLED, "cancelled"
    except JobLost:
        logger.warning("job %s (%s): another worker holds it now", job.pk, job.kind)
        return JobState.RUNNING, "lost"
    except Exception as error:
        final = job.attempts >= MAX_ATTEMPTS
        logger.exception("job %s (%s): attempt %s failed%s", job.pk, job.kind, job.attempts, "; giving up" if final else "")
        fields = {"error": f"{type(error).__name__}: {error}"[:2000], "lease_until": None, "updated_at": timezone.now()}
        if final:
            fields.update(state=JobState.FAILED, finished_at=timezone.now())
        else:
            delay = RETRY_BACKOFF[min(job.attempts, len(RETRY_BACKOFF)) - 1]
            fields.update(state=JobState.PENDING, due_at=timezone.now() + timedelta(seconds=delay))
        Job.objects.filter(pk=job.pk, state=JobState.RUNNING, worker=worker).update(**fields)
        return (fields["state"], "failed") if final else (JobState.PENDING, "retrying")
    done = Job.objects.filter(pk=job.pk, state=JobState.RUNNING, worker=worker).update(
        state=JobState.DONE, progress=100, result=result or {}, error="", lease_until=None,
        finished_at=timezone.now(), updated_at=timezone.now(),
    )
    return (JobState.DONE, "done") if done else (JobState.CANCELLED, "cancelled")


def run_pending(*, worker: str | None = None, stop: threading.Event | None = None, limit: int = 10) -> int:
    """Claim and run due jobs one after another (at most ``limit``); how many ran."""
    worker = worker or worker_name()
    ran = 0
    while ran < limit and not (stop and stop.is_set()):
        job = claim(worker=worker)
        if job is None:
            break
        run_one(job, worker=worker, stop=stop)
        ran += 1
    return ran


def run(*, poll_seconds: float, stop: threading.Event) -> None:
    """The worker's jobs loop (a thread of its own beside the notifications):
    pass after pass until ``stop`` is set; a pass that fails as a whole (the
    database away) is logged and tried again after the poll interval."""
    worker = worker_name()
    while not stop.is_set():
        close_old_connections()
        try:
            ran = run_pending(worker=worker, stop=stop)
        except Exception:
            logger.exception("jobs: the pass failed; trying again in %s s", poll_seconds)
            ran = 0
        finally:
            close_old_connections()
        if not ran:
            stop.wait(poll_seconds)
