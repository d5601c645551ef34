"""A real SMTP server for the email tests: aiosmtpd on a free 127.0.0.1 port.

``running()`` starts it in a thread of the test process and stops it after;
the messages it accepted are parsed (``email.policy.default``) so tests assert
on what a mail server really got: envelope recipients, headers, both parts.

``delay`` slows every message down before it is accepted (in MAIL FROM), so a
test can kill a sender in the middle of a batch; ``refuse`` lists recipients
answered 550, for a send that fails.
"""

import asyncio
import email
import email.policy
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from .live import HOST, free_port

WAIT_TIMEOUT = 15.0  # seconds any single wait for messages may take


@dataclass
class Received:
    mail_from: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()


@dataclass
class Recorder:
    """The aiosmtpd handler: keeps every accepted message."""

    delay: float = 0.0
    refuse: set[str] = field(default_factory=set)
    messages: list[Received] = field(default_factory=list)
    mails_started: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.changed:
            self.mails_started += 1
            self.changed.notify_all()
        if self.delay:
            await asyncio.sleep(self.delay)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.changed:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
            self.changed.notify_all()
        return "250 Message accepted for delivery"


class SMTPServer:
    def __init__(self, *, delay: float = 0.0, refuse=()):
        self.recorder = Recorder(delay=delay, refuse={address.lower() for address in refuse})
        self.port = free_port()
        self.host = HOST
        self.controller = Controller(self.recorder, hostname=self.host, port=self.port)

    @property
    def messages(self) -> list[Received]:
        with self.recorder.changed:
            return list(self.recorder.messages)

    @property
    def mails_started(self) -> int:
        with self.recorder.changed:
            return self.recorder.mails_started

    def wait_for(self, *, messages: int = 0, mails_started: int = 0, timeout: float = WAIT_TIMEOUT) -> list[Received]:
        """Wait (at most ``timeout``) until that many messages were accepted and
        that many MAIL commands began; the messages so far."""
        deadline = time.monotonic() + timeout
        with self.recorder.changed:
            while len(self.recorder.messages) < messages or self.recorder.mails_started < mails_started:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"waited {timeout} s for {messages} messages / {mails_started} MAIL commands; "
                        f"got {len(self.recorder.messages)} / {self.recorder.mails_started}"
                    )
                self.recorder.changed.wait(left)
            return list(self.recorder.messages)

    def settings(self) -> dict:
        """Django's email settings for sending to this server."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": self.host,
            "EMAIL_PORT": self.port,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "EMAIL_TIMEOUT": 10,
        }

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"


@contextmanager
def running(*, delay: float = 0.0, refuse=()):
    """An SMTP server for the length of the ``with``."""
    # aiosmtpd logs every SMTP command at INFO: noise in a failing test's output.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    server = SMTPServer(delay=delay, refuse=refuse)
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()
