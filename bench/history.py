"""Read latency at size: a room's history with 1,000,000 messages, and the room
list of a user in 1,000 rooms, over the REST API of the running server.

Data: the rooms, members and one real message per room go through the
services; the million history rows are copies of a real (encrypted) message
and its log event made in SQL with ``generate_series`` (the services would
take most of an hour for them), with consecutive seqs as the services give.

    python bench/history.py prepare --messages 1000000 --rooms 1000   # prints JSON
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 300


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
            SELECT gen_random_uuid(), now(), now(), s, m.message_type, m.content_encrypted, m.html_encrypted,
                m.mentions_encrypted,
                m.extra_metadata, NULL, false, false, false, '', m.sender_id, m.room_id, false, 0, '[]'::jsonb
            FROM chat_chatmessage m, generate_series(%s::bigint, %s::bigint) AS s WHERE m.id = %s
            """,
            [first, last, message.pk],
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
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chat_chatmessage; ANALYZE chat_roomevent")
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
        f"room list: first page (50 of {data['rooms']} rooms)": "/api/rooms/",
        f"room list: a page 5 pages down (50 of {data['rooms']})": None,
    }
    deep = _deep_cursor(base, data["busy"], 5)
    latency = {}
    for name, path in reads.items():
        token = data["reader"] if name.startswith("history") else data["busy"]
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
