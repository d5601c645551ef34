"""Create the benchmark's users, rooms and memberships through chatsite's own
commands, and print them (with JWT access tokens) as JSON.

    DJANGO_SETTINGS_MODULE=chatsite.settings python bench/setup_data.py --users 1000

Rooms: "50x10" is 50 groups of 10 (users 0-499), "5x200" is 5 groups of 200
(users 0-999). Run on an empty database (bench/run.py makes a fresh one).
"""

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from accounts.services import user_register  # noqa: E402
from chat import commands  # noqa: E402

WORKLOADS = {"50x10": (50, 10), "5x200": (5, 200)}


def create(user_count: int, workloads: dict = WORKLOADS) -> dict:
    """The users (with access tokens) and, per workload, its rooms and members."""
    # Nobody logs in as these users: hash their passwords cheaply.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    users = [
        user_register(username=f"bench{i:05d}", password=secrets.token_urlsafe(16), display_name=f"Bench {i}")
        for i in range(user_count)
    ]
    result = {"users": [], "workloads": {}}
    tokens = {user.pk: str(AccessToken.for_user(user)) for user in users}
    for name, (rooms, members) in workloads.items():
        made = []
        for index in range(rooms):
            people = users[index * members:(index + 1) * members]
            if len(people) < members:
                raise SystemExit(f"{name} needs {rooms * members} users; pass --users")
            room = commands.room_create_group(
                actor=people[0], name=f"bench {name} #{index}", member_ids=[u.pk for u in people[1:]]
            )
            made.append(
                {"id": str(room.pk), "members": [{"id": str(u.pk), "access": tokens[u.pk]} for u in people]}
            )
        result["workloads"][name] = made
    result["users"] = [{"id": str(u.pk), "access": tokens[u.pk]} for u in users]
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    print(json.dumps(create(parser.parse_args().users)))


if __name__ == "__main__":
    main()
