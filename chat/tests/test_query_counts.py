"""The database queries of each hot path, exactly (docs/architecture.md lists
them). A change that adds a query to one of these paths has to change this
file and the doc, on purpose.

Counted on the command each edge calls: a WebSocket frame and a REST request
run the same command; the REST rows also count what the view adds.
"""

import pytest

from chat import commands, selectors
from chat.tests.api_helpers import client_for
from chat.tests.factories import group_room, send

# Outside a test transaction, so a command's transaction is the outermost one,
# as in production (no savepoint of the test's own counted).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def team(alice, bob, carol):
    return group_room(alice, bob, carol)


@pytest.fixture
def hello(team, bob):
    return send(team, bob, "hello there")


# The counts (kept in docs/architecture.md, "Queries per hot path").
# BEGIN and COMMIT are counted (psycopg logs them). A send takes no savepoint:
# a concurrent retry of the same client_msg_id rolls its whole transaction
# back (the seq with it) and the command answers with the twin.
QUERIES = {
    # BEGIN; the membership, its room and whether anyone else is at
    # notification level "all" (nobody: no mention, so no one to notify); the
    # seq, message, search tokens and log event in one statement; COMMIT
    "send": 4,
    # the same: the REST view adds nothing (force-authenticated: no user lookup)
    "send over REST": 4,
    # BEGIN, message locked with its relations, membership, edit history row,
    # seq, message update, search tokens out and in, log event, the payload's
    # reactions, COMMIT
    "edit": 11,
    # BEGIN, message, membership, SAVEPOINT, reaction, RELEASE, seq, that
    # reaction's count, log event, COMMIT, the answer's reaction summary
    "react": 11,
    # BEGIN, membership and room, read position, pending notifications
    # cancelled, the counts (unread and mentions, one statement), COMMIT
    "read mark": 6,
    # membership and room, the page of messages with senders, their reactions
    "history page": 3,
    # membership page, room page with counts, last messages, their reactions
    "room list page": 4,
    # BEGIN, membership and room, the root, the seq with the message, search
    # tokens and log event (one statement), the root's seq, its reply count
    # and last reply, its last repliers, the root's update, their user rows,
    # the thread.updated event, followers (the author and the mentioned: an
    # insert, and an update for those who had only read it; the replier: an
    # upsert), the followers to notify, the recipients with their settings,
    # notification rows, COMMIT
    "reply in a thread": 17,
    # the root, my membership, the page of replies, their reactions, the
    # participants of the thread, my follow row, my unread count
    "thread page": 7,
    # the page of followed threads with unread counts, their roots' reactions,
    # the participants
    "threads list": 3,
}


# The message's insert is one statement on PostgreSQL; SQLite takes the ORM's steps.
@pytest.mark.postgres
def test_send(django_assert_num_queries, alice, team):
    with django_assert_num_queries(QUERIES["send"]):
        result = commands.message_send(actor=alice, room_id=team.pk, content="hello world", client_msg_id="c-1")
    assert result.created and result.message.seq == team.seq + 1


# The message's insert is one statement on PostgreSQL; SQLite takes the ORM's steps.
@pytest.mark.postgres
def test_send_over_rest(django_assert_num_queries, alice, team):
    client = client_for(alice)
    with django_assert_num_queries(QUERIES["send over REST"]):
        response = client.post(f"/api/rooms/{team.pk}/messages/", {"content": "hi", "client_msg_id": "c-2"}, format="json")
    assert response.status_code == 201


def test_edit(django_assert_num_queries, bob, hello):
    with django_assert_num_queries(QUERIES["edit"]):
        result = commands.message_edit(actor=bob, message_id=hello.pk, content="hello again")
    assert result.message.is_edited


def test_react(django_assert_num_queries, alice, hello):
    with django_assert_num_queries(QUERIES["react"]):
        reactions, created = commands.reaction_add(actor=alice, message_id=hello.pk, reaction="👍")
    assert created and reactions[0]["me"] is True


def test_read_mark(django_assert_num_queries, alice, team, hello):
    with django_assert_num_queries(QUERIES["read mark"]):
        answer = commands.room_mark_read(actor=alice, room_id=team.pk, seq=hello.seq)
    assert answer["last_read_seq"] == hello.seq and answer["unread_count"] == 0


def test_history_page(django_assert_num_queries, alice, team, bob):
    for n in range(30):
        send(team, bob, f"message {n}")
    client = client_for(alice)
    with django_assert_num_queries(QUERIES["history page"]):
        response = client.get(f"/api/rooms/{team.pk}/messages/", {"limit": 20})
    assert len(response.json()) == 20


def test_room_list_page(django_assert_num_queries, alice, bob):
    for n in range(12):
        send(group_room(alice, bob, name=f"Room {n}"), bob, "hi")
    client = client_for(alice)
    with django_assert_num_queries(QUERIES["room list page"]):
        response = client.get("/api/rooms/", {"limit": 10})
    assert len(response.json()) == 10
    assert selectors.room_list_for_user(user=alice).count() == 12


# The message's insert is one statement on PostgreSQL; SQLite takes the ORM's steps.
@pytest.mark.postgres
def test_reply_in_a_thread(django_assert_num_queries, alice, bob, team, hello):
    commands.message_send(actor=alice, room_id=team.pk, content="first", thread_id=hello.pk)
    with django_assert_num_queries(QUERIES["reply in a thread"]):
        result = commands.message_send(actor=alice, room_id=team.pk, content="second", thread_id=hello.pk, client_msg_id="t-2")
    assert result.message.thread_id == hello.pk


def test_thread_page(django_assert_num_queries, alice, bob, team, hello):
    for n in range(30):
        commands.message_send(actor=bob if n % 2 else alice, room_id=team.pk, content=f"reply {n}", thread_id=hello.pk)
    client = client_for(alice)
    with django_assert_num_queries(QUERIES["thread page"]):
        response = client.get(f"/api/messages/{hello.pk}/thread/", {"limit": 20})
    assert len(response.json()["replies"]) == 20


def test_threads_list(django_assert_num_queries, alice, bob, team):
    for n in range(12):
        root = send(team, alice, f"root {n}")
        commands.message_send(actor=bob, room_id=team.pk, content="reply", thread_id=root.pk)
    client = client_for(alice)
    with django_assert_num_queries(QUERIES["threads list"]):
        response = client.get("/api/threads/", {"limit": 10})
    assert len(response.json()) == 10 and all(item["unread_count"] == 1 for item in response.json())
