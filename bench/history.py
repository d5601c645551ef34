"""Read latency at size: a room's history with 1,000,000 messages, search over
them, and the room list of a user in 1,000 rooms, over the REST API of the
running server.

Data: the rooms, members and one real message per room go through the
services; the million history rows are copies of a real (encrypted) message
and its log event made in SQL with ``generate_series`` (the services would
take most of an hour for them), with consecutive seqs and a second between
messages, as the services would give. Each copy gets the search index of six
words drawn from a vocabulary of 5,000 made-up words with a skew like a
language's (a few words in most messages, most words rare): the digests are
the server's own (chat.crypto, under the bench's search key), so a search
finds what it would; the content shown is the copied message's.

    python bench/history.py prepare --messages 1000000 --rooms 1000   # prints JSON
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 300
VOCABULARY = 5000
WORDS_PER_MESSAGE = 6
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "pe", "da", "chi", "mon", "ter", "bal", "gri", "son"]


def vocabulary() -> list[str]:
    """VOCABULARY made-up words, most common first: short ones are common, as in a language."""
    rng = random.Random(1)
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        rank = len(words)
        syllables = 1 + (rank > 40) + (rank > 1500) + (rng.random() < 0.1)
        words.setdefault("".join(rng.choice(SYLLABLES) for _ in range(syllables)), None)
    return list(words)


def prepare(messages: int, rooms: int) -> dict:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, transaction
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.services import user_register
    from chat import commands
    from chat.models import ChatRoom

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CHAT_RATE_LIMITS_ENABLED = False  # set-up data, made faster than any person writes
    reader, writer, busy = (
        user_register(username=f"reader{i}", password=f"not-used-{i}-{time.time_ns()}") for i in range(3)
    )
    # The history room: a real message, then copies of it up to the size.
    room = commands.room_create_group(actor=reader, name="history", member_ids=[writer.pk])
    message = commands.message_send(actor=writer, room_id=room.pk, content="one of a million").message
    first = ChatRoom.objects.get(pk=room.pk).seq + 1
    last = first + messages - 2
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO chat_chatmessage (id, created_at, updated_at, seq, message_type, content_encrypted,
                html_encrypted, mentions_encrypted, extra_metadata, client_msg_id, is_edited, is_deleted, is_flagged, flag_reason,
                sender_id, room_id, also_in_room, thread_reply_count, thread_participant_ids)
            SELECT gen_random_uuid(), now() - (%s - s) * interval '1 second', now(), s, m.message_type, m.content_encrypted, m.html_encrypted,
                m.mentions_encrypted,
                m.extra_metadata, NULL, false, false, false, '', m.sender_id, m.room_id, false, 0, '[]'::jsonb
            FROM chat_chatmessage m, generate_series(%s::bigint, %s::bigint) AS s WHERE m.id = %s
            """,
            [last, first, last, message.pk],
        )
        cursor.execute(
            """
            INSERT INTO chat_roomevent (id, created_at, updated_at, seq, kind, payload, message_id, room_id)
            SELECT gen_random_uuid(), now(), now(), m.seq, 'message.created', '{}'::jsonb, m.id, m.room_id
            FROM chat_chatmessage m WHERE m.room_id = %s AND m.seq BETWEEN %s AND %s
            """,
            [room.pk, first, last],
        )
        cursor.execute("UPDATE chat_chatroom SET seq = %s WHERE id = %s", [last, room.pk])
    index_words(room.pk, first, last)
    with connection.cursor() as cursor:
        # What autovacuum does to tables this size in their first minutes (the
        # visibility map lets the index-only scans skip the heap); done now so
        # that it does not run during the measurement.
        cursor.execute("VACUUM (ANALYZE) chat_chatmessage, chat_roomevent, chat_searchtoken")
    # The busy user: in ``rooms`` rooms, each with a message.
    for index in range(rooms):
        other = commands.room_create_group(actor=busy, name=f"list {index}", member_ids=[writer.pk])
        commands.message_send(actor=writer, room_id=other.pk, content=f"latest in {index}")
    return {
        "history_room": str(room.pk),
        "history_seq": [first, last],
        "reader": str(AccessToken.for_user(reader)),
        "busy": str(AccessToken.for_user(busy)),
        "rooms": rooms + 1,
        "messages": ChatRoom.objects.get(pk=room.pk).seq,
    }


def index_words(room_id, first: int, last: int) -> None:
    """The search index of the copies: WORDS_PER_MESSAGE words each, drawn by a
    hash of the seq (the same draw every run), skewed to the common words."""
    from django.db import connection, transaction

    from chat import crypto

    words = vocabulary()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE bench_vocabulary (rank int PRIMARY KEY, tokens bigint[]) ON COMMIT DROP")
        cursor.executemany(
            "INSERT INTO bench_vocabulary VALUES (%s, %s)", [(rank, crypto.word_tokens(word)) for rank, word in enumerate(words)]
        )
        cursor.execute(
            f"""
            INSERT INTO chat_searchtoken (id, created_at, updated_at, message_id, room_id, token)
            SELECT gen_random_uuid(), m.created_at, m.created_at, m.id, m.room_id, t.token
            FROM chat_chatmessage m
            CROSS JOIN LATERAL (
                SELECT DISTINCT unnest(v.tokens) AS token
                FROM generate_series(1, {WORDS_PER_MESSAGE}) AS k
                JOIN bench_vocabulary v
                  ON v.rank = floor({VOCABULARY} * power(((m.seq * 2654435761 + k * 40503) %% 1000003) / 1000003.0, 4))::int
            ) AS t
            WHERE m.room_id = %s AND m.seq BETWEEN %s AND %s
            """,
            [room_id, first, last],
        )


def _get(base: str, path: str, token: str, headers: dict | None = None) -> tuple[float, int]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with opener.open(request, timeout=30) as response:
        body = response.read()
        if headers is not None:
            headers.update(response.headers)
    return (time.perf_counter() - started) * 1000, len(json.loads(body))


def _deep_cursor(base: str, token: str, pages: int) -> str:
    """The cursor ``pages`` pages down the busy user's room list."""
    cursor = ""
    for _ in range(pages):
        headers: dict = {}
        _get(base, f"/api/rooms/?cursor={cursor}", token, headers)
        cursor = headers.get("X-Next-Cursor", "")
    return cursor


def _figures(samples: list[float], sizes: list[int]) -> dict:
    from bench.load import percentile

    return {
        "count": len(samples),
        "p50_ms": round(percentile(samples, 50), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "max_ms": round(max(samples), 2),
        "items": max(sizes),
    }


def search_reads() -> dict:
    """Searches over the history room, from a word in most messages to one in a
    few hundred; newest 50 first, as the UI asks."""
    words = vocabulary()

    def q(text: str) -> str:
        return f"/api/search/?{urllib.parse.urlencode({'q': text, 'limit': 50})}"

    common, usual, rare = words[2], words[300], words[4000]
    return {
        f"search: a common word ({common!r})": q(common),
        f"search: a usual word ({usual!r})": q(usual),
        f"search: a rare word ({rare!r})": q(rare),
        f"search: a 3-letter prefix ({usual[:3]!r})": q(usual[:3]),
        f"search: two words ({words[20]!r} {words[900]!r})": q(f"{words[20]} {words[900]}"),
        f"search: two common words ({words[1]!r} {words[25]!r})": q(f"{words[1]} {words[25]}"),
        f"search: a word from: someone in: a room ({words[150]!r})": q(f"{words[150]} from:reader1 in:history"),
        "search: a word in no message": q("zzzyzzx"),
    }


def measure_reads(base: str, env: dict, *, messages: int, rooms: int) -> dict:
    made = subprocess.run(
        [sys.executable, "bench/history.py", "prepare", "--messages", str(messages), "--rooms", str(rooms)],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    )
    data = json.loads(made.stdout.strip().splitlines()[-1])
    room, (first, last) = data["history_room"], data["history_seq"]
    reads = {
        "history: newest page (50)": lambda: f"/api/rooms/{room}/messages/?limit=50",
        "history: a page anywhere (before=random seq, 50)": lambda: f"/api/rooms/{room}/messages/?before={random.randint(first + 60, last)}&limit=50",
        "history: the oldest page (after=0, 50)": lambda: f"/api/rooms/{room}/messages/?after=0&limit=50",
        **search_reads(),
        f"room list: first page (50 of {data['rooms']} rooms)": "/api/rooms/",
        f"room list: a page 5 pages down (50 of {data['rooms']})": None,
    }
    deep = _deep_cursor(base, data["busy"], 5)
    latency = {}
    for name, path in reads.items():
        token = data["busy"] if name.startswith("room list") else data["reader"]
        if path is None:
            path = f"/api/rooms/?cursor={deep}"
        url = path if isinstance(path, str) else None
        samples, sizes = [], []
        for _ in range(10):  # warm up
            _get(base, url or path(), token)
        for _ in range(REQUESTS):
            took, size = _get(base, url or path(), token)
            samples.append(took)
            sizes.append(size)
        latency[name] = _figures(samples, sizes)
        print(f"  {name}: {latency[name]}", flush=True)
    return {"messages_in_room": data["messages"], "rooms_of_user": data["rooms"], "latency": latency}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["prepare"])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=1000)
    arguments = parser.parse_args()
    print(json.dumps(prepare(arguments.messages, arguments.rooms)))
