"""Durable jobs (chatsite/core/jobs.py): run once to the end, retried after a
failure, cancelled, handed back when the worker stops, and resumed from the
checkpoint by another worker when the first one died (its lease ran out)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from chatsite.core import jobs
from chatsite.core.models import Job, JobState

pytestmark = pytest.mark.django_db(transaction=True)

RUNS: list = []


@pytest.fixture(autouse=True)
def handlers():
    RUNS.clear()

    @jobs.handler("test.count")
    def count(job, ctx):
        start = ctx.checkpoint.get("next", 0)
        for n in range(start, job.payload["to"]):
            RUNS.append((str(job.pk), n))
            ctx.progress(100 * (n + 1) // job.payload["to"], checkpoint={"next": n + 1})
            if job.payload.get("die_at") == n:
                raise SystemExit  # the process dies: nothing after this runs
        return {"counted": job.payload["to"]}

    @jobs.handler("test.fail")
    def fail(job, ctx):
        raise RuntimeError("the disk is full")

    yield
    for kind in ("test.count", "test.fail"):
        jobs._handlers.pop(kind, None)


def test_a_job_runs_to_its_end_with_progress_and_its_result():
    job = jobs.enqueue(kind="test.count", payload={"to": 3})
    assert jobs.run_pending(worker="w1") == 1
    job.refresh_from_db()
    assert (job.state, job.progress, job.result, job.attempts, job.error) == (JobState.DONE, 100, {"counted": 3}, 1, "")
    assert [n for _, n in RUNS] == [0, 1, 2]
    assert jobs.run_pending(worker="w1") == 0  # nothing left
    with pytest.raises(ValueError):
        jobs.enqueue(kind="no.such.kind")


def test_a_failing_job_is_tried_again_later_then_given_up(monkeypatch):
    job = jobs.enqueue(kind="test.fail")
    jobs.run_pending(worker="w1")
    job.refresh_from_db()
    assert job.state == JobState.PENDING and job.attempts == 1 and "the disk is full" in job.error
    assert job.due_at > timezone.now() + timedelta(seconds=5)
    assert jobs.run_pending(worker="w1") == 0  # not due yet
    monkeypatch.setattr(jobs, "MAX_ATTEMPTS", 2)
    Job.objects.filter(pk=job.pk).update(due_at=timezone.now())
    jobs.run_pending(worker="w1")
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.attempts == 2 and job.finished_at


def test_a_dead_workers_job_is_taken_over_after_its_lease_and_goes_on_from_the_checkpoint():
    job = jobs.enqueue(kind="test.count", payload={"to": 5, "die_at": 2})
    claimed = jobs.claim(worker="dies")
    with pytest.raises(SystemExit):
        jobs.run_one(claimed, worker="dies")
    job.refresh_from_db()
    assert (job.state, job.progress, job.checkpoint) == (JobState.RUNNING, 60, {"next": 3})
    assert jobs.claim(worker="w2") is None  # its lease still runs
    Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1), payload={"to": 5})
    assert jobs.run_pending(worker="w2") == 1
    job.refresh_from_db()
    assert job.state == JobState.DONE and job.attempts == 2 and job.worker == "w2"
    assert [n for _, n in RUNS] == [0, 1, 2, 3, 4]  # each step once: 3 and 4 by the second worker


def test_the_first_worker_cannot_write_over_a_job_taken_from_it():
    job = jobs.enqueue(kind="test.count", payload={"to": 2})
    first = jobs.claim(worker="slow")
    Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    second = jobs.claim(worker="w2")
    assert second.pk == job.pk
    ctx = jobs.JobContext(first, "slow")
    with pytest.raises(jobs.JobLost):
        ctx.progress(50, checkpoint={"next": 1})
    assert jobs.run_one(first, worker="slow") == JobState.RUNNING  # it gives up at its first step
    jobs.run_one(second, worker="w2")
    job.refresh_from_db()
    assert job.state == JobState.DONE and job.worker == "w2"


def test_a_cancelled_job_stops_at_its_next_step_and_a_stopping_worker_hands_its_job_back():
    job = jobs.enqueue(kind="test.count", payload={"to": 3})
    claimed = jobs.claim(worker="w1")
    assert jobs.cancel(job)
    assert jobs.run_one(claimed, worker="w1") == JobState.CANCELLED
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED and not jobs.cancel(job)

    other = jobs.enqueue(kind="test.count", payload={"to": 3})
    stop = threading.Event()
    stop.set()
    claimed = jobs.claim(worker="w1")
    assert jobs.run_one(claimed, worker="w1", stop=stop) == JobState.PENDING
    other.refresh_from_db()
    assert (other.state, other.checkpoint, other.attempts) == (JobState.PENDING, {"next": 1}, 0)
    jobs.run_pending(worker="w2")
    other.refresh_from_db()
    assert other.state == JobState.DONE
    assert [n for pk, n in RUNS if pk == str(other.pk)] == [0, 1, 2]


@pytest.mark.postgres
def test_two_workers_never_claim_the_same_job():
    for _ in range(6):
        jobs.enqueue(kind="test.count", payload={"to": 1})
    claimed, barrier = [], threading.Barrier(2)

    def work(name):
        barrier.wait()
        while (job := jobs.claim(worker=name)) is not None:
            claimed.append(job.pk)
        connection.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 6 and len(set(claimed)) == 6
