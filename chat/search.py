"""The message search index and the search language.

The index holds keyed hashes of a message's words and word prefixes
(chat.crypto), never the words. Services index what they write; the
re-encryption job (``reencrypt_messages --reindex``) rebuilds it under a new
search key, or for messages indexed before prefixes were.

A query is words (every one must start a word of the message) and filters:
``from:name`` (a username, or ``me``), ``in:name`` (a room's name, or
``@username`` for the direct room with that person; quotes for names with
spaces), ``has:file``, ``has:image``, ``has:link``, ``before:YYYY-MM-DD``,
``after:YYYY-MM-DD`` and ``on:YYYY-MM-DD`` (days in the searcher's time zone).
"""

import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Exists, OuterRef

from chatsite.core.exceptions import Invalid

from . import crypto
from .models import ChatMessage, SearchToken

MAX_SEARCH_WORDS = 10
MAX_FILTER_VALUES = 5
HAS_VALUES = ("file", "image", "link")
FILTER_RE = re.compile(r"^(from|in|has|before|after|on):(.*)$", re.IGNORECASE | re.DOTALL)


def index_message(message: ChatMessage, text: str) -> None:
    """(Re)build the keyed-hash search index of ``message`` from ``text``."""
    SearchToken.objects.filter(message=message).delete()
    SearchToken.objects.bulk_create(
        [SearchToken(message=message, room_id=message.room_id, token=t) for t in crypto.search_tokens(text)]
    )


@dataclass
class SearchQuery:
    """A parsed query: ``words`` each as the digests any of which matches it."""

    words: list[str] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)  # usernames ("me" is resolved by the caller)
    rooms: list[str] = field(default_factory=list)  # room names, or "@username" for a direct room
    has: set[str] = field(default_factory=set)
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before

    @property
    def word_tokens(self) -> list[tuple[int, ...]]:
        return [crypto.query_word_tokens(word) for word in self.words]

    @property
    def has_filters(self) -> bool:
        return bool(self.senders or self.rooms or self.has or self.since or self.until)


def _invalid(detail: str) -> Invalid:
    return Invalid(detail, code="invalid_search_filter", fields={"q": [detail]})


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _invalid(f"{name}: wants a date like 2026-11-30, not {value[:40]!r}.") from None


def _zone(name: str):
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _split(text: str) -> list[str]:
    """The query's parts; quotes group words (``in:"launch crew"``). Unbalanced
    quotes are taken as plain characters."""
    try:
        return shlex.split(text, posix=True)
    except ValueError:
        return text.split()


def parse_query(text: str, *, time_zone: str = "") -> SearchQuery:
    """Words and filters of a search box's text (Invalid for a filter that makes no sense)."""
    query = SearchQuery()
    zone = _zone(time_zone)
    words: list[str] = []
    for part in _split(text or ""):
        match = FILTER_RE.match(part)
        if not match or not match.group(2).strip():
            words.extend(crypto.normalize_words(part))
            continue
        name, value = match.group(1).lower(), match.group(2).strip()
        if name == "from":
            query.senders.append(value.removeprefix("@").casefold())
        elif name == "in":
            query.rooms.append(value)
        elif name == "has":
            if value.lower() not in HAS_VALUES:
                raise _invalid(f"has: is one of {', '.join(HAS_VALUES)}, not {value[:40]!r}.")
            query.has.add(value.lower())
        else:
            day = _day(value, name)
            start = datetime.combine(day, time.min, tzinfo=zone)
            if name == "before":
                query.until = min(query.until, start) if query.until else start
            elif name == "after":
                after = start + timedelta(days=1)
                query.since = max(query.since, after) if query.since else after
            else:  # on
                query.since = max(query.since, start) if query.since else start
                end = start + timedelta(days=1)
                query.until = min(query.until, end) if query.until else end
    if len(query.senders) > MAX_FILTER_VALUES or len(query.rooms) > MAX_FILTER_VALUES:
        raise _invalid(f"At most {MAX_FILTER_VALUES} from: and {MAX_FILTER_VALUES} in: filters.")
    query.words = list(dict.fromkeys(words))[:MAX_SEARCH_WORDS]
    if not query.words and not query.has_filters:
        raise Invalid("Search needs at least one word or filter.", code="query_required", fields={"q": ["Required."]})
    return query


def containing_words(token_sets: list[tuple[int, ...]]) -> list[Exists]:
    """Conditions on messages: one per query word, true when the message has any
    of that word's digests (every word must match: AND them)."""
    return [Exists(SearchToken.objects.filter(message_id=OuterRef("pk"), token__in=tokens)) for tokens in token_sets]


def words_of(text: str) -> list[str]:
    """The distinct normalized words of ``text`` a search looks for (at most MAX_SEARCH_WORDS)."""
    return list(dict.fromkeys(crypto.normalize_words(text or "")))[:MAX_SEARCH_WORDS]
