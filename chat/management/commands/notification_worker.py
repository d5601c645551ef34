"""``manage.py notification_worker``: send due notifications (Web Push, email)
and run due jobs (exports, imports, previews: chatsite/core/jobs.py) until stopped.

Run one or more beside the web processes (``make run`` starts one;
docs/deploy.md has its systemd unit). Several workers can run at once: rows are
claimed with ``FOR UPDATE SKIP LOCKED`` (chat/notify/worker.py). SIGTERM or
SIGINT stops it cleanly after the send in progress; a SIGKILL loses nothing
either (the open transaction rolls back and the rows are pending again).
"""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chat.notify import worker
from chatsite.core import heartbeat, jobs

logger = logging.getLogger("chat.notify.worker")


class Command(BaseCommand):
    help = "Send due notifications (Web Push and email) and run due jobs until SIGTERM/SIGINT; --once for a single pass."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass over what is due now, then exit")
        parser.add_argument(
            "--poll",
            type=float,
            default=None,
            metavar="SECONDS",
            help=f"seconds between passes (default CHAT_NOTIFICATION_POLL_SECONDS, {settings.CHAT_NOTIFICATION_POLL_SECONDS})",
        )
        parser.add_argument("--limit", type=int, default=200, help="rows per pass (default 200)")

    def handle(self, *args, once: bool, poll: float | None, limit: int, **options):
        poll_seconds = settings.CHAT_NOTIFICATION_POLL_SECONDS if poll is None else poll
        if poll_seconds <= 0 or limit <= 0:
            raise CommandError("--poll and --limit must be positive")
        name = f"notifications:{jobs.worker_name()}"
        if once:
            heartbeat.beat(name)
            counts = worker.process_due(limit=limit)
            counts["jobs"] = jobs.run_pending()
            self.stdout.write(", ".join(f"{key}: {value}" for key, value in counts.items()))
            return
        stop = threading.Event()

        def request_stop(signum, frame):
            logger.info("notification worker: %s received, stopping", signal.Signals(signum).name)
            stop.set()

        # Signal handlers only set the event: the pass in progress finishes its
        # current send and commits; nothing is cut off mid-transaction.
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        logger.info("notification worker: started (poll every %s s, %s rows per pass)", poll_seconds, limit)
        # Jobs run in a thread of their own: a long export never holds up a notification.
        job_thread = threading.Thread(target=jobs.run, kwargs={"poll_seconds": poll_seconds, "stop": stop}, name="jobs", daemon=True)
        job_thread.start()
        # /readyz on the web processes reports the worker stale without it.
        beat_thread = threading.Thread(target=heartbeat.run, kwargs={"worker": name, "stop": stop}, name="heartbeat", daemon=True)
        beat_thread.start()
        worker.run(poll_seconds=poll_seconds, stop=stop, limit=limit)
        job_thread.join()
        beat_thread.join()
        logger.info("notification worker: stopped")
