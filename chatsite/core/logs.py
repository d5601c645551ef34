"""Log lines: plain text by default, one JSON object per line with
``DJANGO_LOG_FORMAT=json`` (settings.LOGGING), each carrying the request id of
the request or WebSocket session it was written in.

The request id lives in a context variable set by chatsite.core.request_log
for the length of a request (or a socket's task); :class:`RequestIdFilter`
copies it onto every record, so any line written meanwhile — by Django, DRF,
chat, a library — names the request. Structured fields of a line are given as
``extra={"fields": {...}}``; the JSON formatter writes those and a fixed set
of record attributes, never the rest of ``extra`` (Django passes the request
object there, whose repr names the raw path).

What is never logged (docs/operations.md, "Logs"): message content, tokens,
tickets, passwords, cookies. The request lines hold only the fields named
there, and :class:`PathRedactingFilter` replaces the raw path of Django's own
``django.request`` warnings ("Not Found: /…") with the URL pattern, because a
path can carry a secret (an unsubscribe token, an invite code).
"""

import contextvars
import datetime
import json
import logging
import re

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("chatsite_request_id", default=None)

NO_ROUTE = "-"  # the route of a request that matched no URL pattern
_QUERY = re.compile(r"\?[^\s\"']*")


def route_of(request) -> str:
    """The URL pattern a request matched (``api/rooms/<uuid:room_id>/``), never its path."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        # Answered before URL resolution (chatsite/health.py names its own).
        return getattr(request, "log_route", None) or NO_ROUTE
    return match.route or match.view_name or NO_ROUTE


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or "-"
        return True


class PathRedactingFilter(logging.Filter):
    """Django's own request warnings name the raw path: name the route instead.
    uvicorn's lines name a path with its query string (a WebSocket ticket):
    the query is cut off."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("uvicorn") and isinstance(record.args, tuple):
            record.args = tuple(_QUERY.sub("?…", arg) if isinstance(arg, str) else arg for arg in record.args)
            return True
        request = getattr(record, "request", None)
        if request is None or not record.args or not isinstance(record.args, tuple):
            return True
        path = getattr(request, "path", None)
        if path:
            escaped = path.encode("unicode_escape").decode("ascii")
            route = route_of(request)
            record.args = tuple(route if arg in (path, escaped) else arg for arg in record.args)
        return True


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger [request id] message``: for people reading a console."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or "-"
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``,
    ``request_id`` when there is one, the line's ``fields``, and ``exception``
    (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id and request_id != "-":
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
