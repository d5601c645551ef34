"""Load shedding's signals and its HTTP side (chatsite/core/overload.py).

The WebSocket side is tested with the consumer (chat/tests/test_consumer.py).
The overloads here are real: the event loop is blocked, threads are busy.
"""

import asyncio
import json
import threading
import time

import pytest
from channels.testing import HttpCommunicator

from chatsite.core import overload


def block_loop(seconds: float) -> None:
    """Keep the running event loop from doing anything for a while."""
    time.sleep(seconds)


async def keep_loop_late(seconds: float = 0.3) -> None:
    """A standing backlog: the loop blocked again every time it gets to its
    timer, LATE_TICKS times, and blocked once more (the tick now overdue)."""
    for _ in range(overload.LATE_TICKS):
        block_loop(seconds)
        await asyncio.sleep(0.001)  # the overdue tick runs, late
    block_loop(seconds)


async def settle_monitor():
    overload.gauge.ensure_monitor()
    await asyncio.sleep((overload.LATE_TICKS + 2) * overload.TICK)  # earlier lateness has aged out


def test_the_executor_counts_jobs_waiting_and_how_long_the_last_one_waited():
    executor = overload.MeteredExecutor(max_workers=1)
    release = threading.Event()
    try:
        busy = executor.submit(release.wait, 5)
        queued = [executor.submit(lambda n=n: n) for n in range(3)]
        time.sleep(0.2)
        assert executor.waiting == 3  # the first one holds the only thread
        release.set()
        assert [job.result(timeout=5) for job in queued] == [0, 1, 2]
        assert busy.result(timeout=5) is True
        assert executor.waiting == 0 and executor.last_wait >= 0.15
    finally:
        release.set()
        executor.shutdown()


async def test_one_pause_is_not_an_overload_but_a_loop_late_tick_after_tick_is():
    await settle_monitor()
    assert overload.gauge.loop_lag() < 0.1
    block_loop(0.3)  # one pause (a garbage collection, a busy neighbour)
    await asyncio.sleep(0.001)
    assert overload.gauge.loop_lag() < 0.1
    assert overload.gauge.overloaded() is None
    await keep_loop_late(0.4)
    assert overload.gauge.loop_lag() >= 0.3  # every one of the last ticks, and the one overdue now
    assert "event loop" in overload.gauge.overloaded()
    await asyncio.sleep((overload.LATE_TICKS + 2) * overload.TICK)
    assert overload.gauge.loop_lag() < 0.1  # back on time: nothing refused


async def test_requests_past_the_in_flight_budget_get_503_overloaded_at_once(settings):
    settings.CHAT_OVERLOAD_HTTP_INFLIGHT = 2
    await settle_monitor()
    gate = asyncio.Event()
    entered = []

    async def slow_app(scope, receive, send):
        entered.append(scope["path"])
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    app = overload.HttpShedding(slow_app)
    held = [HttpCommunicator(app, "POST", f"/api/rooms/?n={n}") for n in range(3)]
    pending = [asyncio.ensure_future(c.get_response(timeout=5)) for c in held]
    await asyncio.sleep(0.2)
    assert len(entered) == 3 and overload.gauge.http_in_flight == 3  # at the budget, not past it
    refused = await HttpCommunicator(app, "POST", "/api/rooms/", body=b"{}").get_response(timeout=2)
    assert refused["status"] == 503
    headers = dict(refused["headers"])
    assert headers[b"retry-after"] == b"1" and headers[b"content-type"] == b"application/json"
    assert json.loads(refused["body"]) == {"code": "overloaded", "detail": overload.DETAIL, "retry_after": 1}
    form = await HttpCommunicator(app, "POST", "/notifications/unsubscribe/x/").get_response(timeout=2)
    assert form["status"] == 503 and b"overloaded" in form["body"]
    assert len(entered) == 3  # neither refused request reached the application
    # Reads, and what a client needs to sign in and reconnect, are always served.
    served = [asyncio.ensure_future(HttpCommunicator(app, method, path).get_response(timeout=5))
              for method, path in (("GET", "/api/rooms/"), ("POST", "/api/auth/ws-ticket/"), ("POST", "/accounts/login/"))]
    await asyncio.sleep(0.2)
    assert entered[3:] == ["/api/rooms/", "/api/auth/ws-ticket/", "/accounts/login/"]
    gate.set()
    assert [(await job)["status"] for job in pending] == [200, 200, 200]
    assert [(await job)["status"] for job in served] == [200, 200, 200]
    assert overload.gauge.http_in_flight == 0
    again = await HttpCommunicator(app, "POST", "/api/rooms/").get_response(timeout=2)
    assert again["status"] == 200


@pytest.mark.django_db(transaction=True)
async def test_the_real_application_sheds_while_its_loop_is_late_then_serves_again(settings):
    from chatsite.asgi import application

    await settle_monitor()
    await keep_loop_late(0.4)
    host = [(b"host", b"localhost"), (b"content-type", b"application/json")]
    request = HttpCommunicator(application, "POST", "/api/rooms/", body=b"{}", headers=host)  # its task is scheduled…
    block_loop(0.4)  # …and the loop late again before it runs: overdue when it does
    refused = await request.get_response(timeout=5)
    assert refused["status"] == 503 and json.loads(refused["body"])["code"] == "overloaded"
    await asyncio.sleep((overload.LATE_TICKS + 2) * overload.TICK)
    served = await HttpCommunicator(application, "POST", "/api/rooms/", body=b"{}", headers=host).get_response(timeout=5)
    assert served["status"] == 401  # past the shedding: Django answers (no token)


async def test_with_shedding_off_the_overload_is_measured_but_nothing_refused(settings, caplog):
    settings.CHAT_OVERLOAD_SHEDDING = False
    await settle_monitor()
    await keep_loop_late(0.4)
    assert overload.gauge.loop_lag() >= 0.3
    assert overload.gauge.overloaded() is None
    settings.CHAT_OVERLOAD_SHEDDING = True
    overload.gauge._last_warning = float("-inf")
    with caplog.at_level("WARNING", logger="chatsite.core.overload"):
        assert "event loop" in overload.gauge.overloaded()
        overload.gauge.overloaded()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and warnings[0].startswith("shedding load: event loop")  # once, not per frame
