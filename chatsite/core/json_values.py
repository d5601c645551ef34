"""Free-form JSON objects that every store and client can take back.

JSON allows what PostgreSQL's jsonb, SQLite's JSON check and UTF-8 do not: a
NUL character, lone surrogates (``"\\ud800"``), numbers that overflow to
infinity (``1e999``). Deep nesting is refused before it can exhaust the
recursion limit of whoever encodes it next. The REST serializers and the
WebSocket protocol both check with :func:`problem`.
"""

import math

MAX_DEPTH = 20


def problem(value, *, max_depth: int = MAX_DEPTH) -> str | None:
    """Why ``value`` (decoded JSON) cannot be stored, or None when it can."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > max_depth:
            return f"Nested more than {max_depth} levels deep."
        if isinstance(item, dict):
            pending.extend((key, depth) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "Strings may not contain the NUL character."
            if any("\ud800" <= ch <= "\udfff" for ch in item):
                return "Strings may not contain unpaired surrogates."
        elif isinstance(item, float) and not math.isfinite(item):
            return "Numbers must be finite."
    return None
