"""Threads: replies, the root's summary (also under concurrency), following,
read positions in a thread, what the room shows, and who is notified."""

import pytest

from accounts.models import UserBlock
from chat import commands, selectors
from chat.events import wire
from chat.models import ChatMessage, MessageType, Notification, RoomEvent, ThreadFollow
from chat.services import rooms as room_services
from chatsite.core.exceptions import Invalid, NotFound

from .factories import delete, edit, group_room, mark_read, send

pytestmark = pytest.mark.django_db


def reply(root, sender, content="a reply", **kwargs):
    return commands.message_send(actor=sender, room_id=root.room_id, content=content, thread_id=root.pk, **kwargs).message


def fresh_root(root) -> ChatMessage:
    return ChatMessage.objects.get(pk=root.pk)


def follows(root) -> dict:
    return {username: following for username, following in ThreadFollow.objects.filter(root=root).values_list("user__username", "following")}


@pytest.fixture
def team(alice, bob, carol):
    return group_room(alice, bob, carol)


# --- replies and the summary ------------------------------------------------------------
def test_a_reply_is_a_message_of_the_room_with_its_thread_and_the_root_gets_a_summary(team, alice, bob, carol):
    root = send(team, alice, "plan?")
    first = reply(root, bob, "yes")
    second = reply(root, carol, "no")
    third = reply(root, bob, "maybe")
    root = fresh_root(root)
    assert (root.thread_reply_count, root.thread_last_reply_at) == (3, third.created_at)
    assert root.thread_participant_ids == [str(bob.pk), str(carol.pk)]  # most recent first, each once
    kinds = list(RoomEvent.objects.filter(room=team, seq__gt=root.seq).order_by("seq").values_list("kind", flat=True))
    assert kinds == [wire.MESSAGE_CREATED, wire.THREAD_UPDATED] * 3
    assert {first.thread_id, second.thread_id, third.thread_id} == {root.pk}
    event = RoomEvent.objects.filter(room=team, kind=wire.THREAD_UPDATED).order_by("-seq").first()
    assert event.payload["thread"] == str(root.pk) and event.payload["summary"]["reply_count"] == 3
    assert [p["id"] for p in event.payload["summary"]["participants"]] == [str(bob.pk), str(carol.pk)]


def test_the_room_shows_roots_not_replies_unless_also_sent_to_the_room(team, alice, bob):
    root = send(team, alice, "plan?")
    reply(root, bob, "only in the thread")
    shown = reply(root, bob, "also in the room", also_in_room=True)
    history = [m.pk for m in selectors.message_list(room=team)]
    assert root.pk in history and shown.pk in history
    assert len([m for m in selectors.message_list(room=team) if m.thread_id]) == 1
    assert [m.pk for m in selectors.thread_replies(root=root)] == [m.pk for m in ChatMessage.objects.filter(thread=root).order_by("seq")]


def test_thread_replies_do_not_count_as_unread_in_the_room_unless_also_sent(team, alice, bob):
    root = send(team, alice, "plan?")
    mark_read(team, bob, root.seq)
    reply(root, alice, "in the thread")
    (row,) = selectors.attention(user=bob, room_ids=[team.pk])
    assert row["unread_count"] == 0
    reply(root, alice, "in the room too", also_in_room=True)
    (row,) = selectors.attention(user=bob, room_ids=[team.pk])
    assert row["unread_count"] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_summary_is_right_under_ten_concurrent_replies(no_rate_limits, concurrently, alice, bob, carol):
    room = group_room(alice, bob, carol)
    root = send(room, alice, "go")
    people = [alice, bob, carol]
    concurrently(10, lambda i: reply(root, people[i % 3], f"reply {i}"))
    root = fresh_root(root)
    assert root.thread_reply_count == ChatMessage.objects.filter(thread=root).count() == 10
    last = ChatMessage.objects.filter(thread=root).order_by("-seq").first()
    assert root.thread_last_reply_at == last.created_at
    summaries = RoomEvent.objects.filter(room=room, kind=wire.THREAD_UPDATED).order_by("seq")
    assert [event.payload["summary"]["reply_count"] for event in summaries] == list(range(1, 11))
    seqs = list(RoomEvent.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # gap-free


def test_a_retried_reply_is_one_reply(team, alice, bob):
    root = send(team, alice, "plan?")
    first = commands.message_send(actor=bob, room_id=team.pk, content="yes", thread_id=root.pk, client_msg_id="r-1")
    again = commands.message_send(actor=bob, room_id=team.pk, content="yes", thread_id=root.pk, client_msg_id="r-1")
    assert (first.created, again.created, again.message.pk) == (True, False, first.message.pk)
    assert fresh_root(root).thread_reply_count == 1


def test_deleting_a_reply_updates_the_summary_and_a_deleted_root_keeps_its_thread(team, alice, bob, carol):
    root = send(team, alice, "plan?")
    gone = reply(root, bob, "oops")
    reply(root, carol, "fine")
    delete(gone, bob)
    assert fresh_root(root).thread_reply_count == 1
    delete(root, alice)
    late = reply(root, bob, "still here")  # a deleted root may get replies
    assert fresh_root(root).thread_reply_count == 2 and late.thread_id == root.pk
    assert [m.pk for m in selectors.thread_replies(root=root) if not m.is_deleted][-1] == late.pk


def test_a_moderator_deletes_a_reply(team, alice, bob):
    root = send(team, bob, "plan?")
    spam = reply(root, bob, "spam")
    delete(spam, alice)  # alice owns the room
    assert ChatMessage.objects.get(pk=spam.pk).is_deleted and fresh_root(root).thread_reply_count == 0


# --- what cannot carry a thread -------------------------------------------------------------
def test_a_reply_system_line_or_another_rooms_message_is_no_root(team, alice, bob, carol):
    root = send(team, alice, "plan?")
    in_thread = reply(root, bob)
    with pytest.raises(Invalid) as refused:
        reply(in_thread, carol)
    assert refused.value.code == "not_a_thread_root"
    system = ChatMessage.objects.filter(room=team, message_type=MessageType.SYSTEM).first()
    with pytest.raises(Invalid) as refused:
        commands.message_send(actor=carol, room_id=team.pk, content="x", thread_id=system.pk)
    assert refused.value.code == "not_a_thread_root"
    elsewhere = group_room(carol, alice, name="Elsewhere")
    with pytest.raises(NotFound) as missing:
        commands.message_send(actor=carol, room_id=elsewhere.pk, content="x", thread_id=root.pk)
    assert missing.value.code == "thread_not_found"


def test_a_thread_in_a_room_i_am_not_in_is_not_found(team, alice, make_user):
    stranger = make_user(username="stranger")
    root = send(team, alice, "plan?")
    for attempt in (
        lambda: commands.thread_follow(actor=stranger, message_id=root.pk, following=True),
        lambda: commands.thread_mark_read(actor=stranger, message_id=root.pk, seq=1),
        lambda: selectors.thread_root(message_id=root.pk, user=stranger),
    ):
        with pytest.raises(NotFound) as missing:
            attempt()
        assert missing.value.code == "thread_not_found"


# --- following, reading, notifying -----------------------------------------------------------
def test_root_author_repliers_and_the_mentioned_follow(team, alice, bob, carol, make_user):
    dave = make_user(username="dave")
    commands.member_add(actor=alice, room_id=team.pk, user_id=dave.pk, role="member")
    root = send(team, alice, "plan?")
    reply(root, bob, "ask @carol")
    assert follows(root) == {"alice": True, "bob": True, "carol": True}
    commands.thread_follow(actor=carol, message_id=root.pk, following=False)
    commands.thread_follow(actor=dave, message_id=root.pk, following=True)
    reply(root, bob, "and again @carol")  # an explicit unfollow stays
    assert follows(root) == {"alice": True, "bob": True, "carol": False, "dave": True}


def test_thread_read_position_and_unread_replies_per_person(team, alice, bob, carol, listener, django_capture_on_commit_callbacks):
    root = send(team, alice, "plan?")
    reply(root, bob, "one")
    last = reply(root, carol, "two")
    assert selectors.thread_state(root=root, user=alice)["unread_count"] == 2
    assert selectors.thread_state(root=root, user=bob)["unread_count"] == 1  # his own reply is read
    listener.subscribe(wire.user_group(alice.pk))
    with django_capture_on_commit_callbacks(execute=True):
        state = commands.thread_mark_read(actor=alice, message_id=root.pk, seq=last.seq)
    assert state == {"room": str(team.pk), "thread": str(root.pk), "last_read_seq": last.seq, "unread_count": 0}
    assert [frame for frame in listener.frames() if frame["type"] == wire.THREAD_READ] == [{"type": wire.THREAD_READ, **state}]
    (row,) = selectors.attention(user=alice, room_ids=[team.pk])
    assert row["last_read_seq"] < last.seq  # the room's read position did not move


def test_the_threads_list_puts_unread_first(team, alice, bob, carol):
    quiet = send(team, alice, "quiet")
    busy = send(team, alice, "busy")
    reply(quiet, bob, "read this")
    r = reply(busy, carol, "new")
    reply(quiet, bob, "newest, but read")
    commands.thread_mark_read(actor=alice, message_id=quiet.pk, seq=fresh_root(quiet).room.seq)
    page, _cursor = selectors.threads_page(user=alice, limit=10)
    assert [(f.root_id, f.unread_count) for f in page] == [(busy.pk, 1), (quiet.pk, 0)]
    assert selectors.threads_unread_total(user=alice) == {"threads": 1, "replies": 1}
    assert r.thread_id == busy.pk


def test_followers_are_notified_like_a_mention_and_reading_the_thread_cancels(team, alice, bob, carol):
    root = send(team, alice, "plan?")
    reply(root, bob, "first")  # alice follows as the author
    answer = reply(root, carol, "second")
    rows = set(Notification.objects.filter(message=answer).values_list("user__username", "channel", "reason", "state"))
    assert rows == {("alice", "email", "thread", "pending"), ("bob", "email", "thread", "pending")}
    mark_read(team, alice, team.__class__.objects.get(pk=team.pk).seq)  # reading the room is not reading the thread
    assert Notification.objects.get(message=answer, user=alice).state == "pending"
    commands.thread_mark_read(actor=alice, message_id=root.pk, seq=answer.seq)
    assert Notification.objects.get(message=answer, user=alice).state == "cancelled"


def test_muted_nothing_and_blocked_followers_get_nothing(team, alice, bob, carol):
    root = send(team, alice, "plan?")
    reply(root, bob, "first")
    commands.room_notifications_update(actor=alice, room_id=team.pk, muted=True)
    commands.room_notifications_update(actor=bob, room_id=team.pk, level="nothing")
    answer = reply(root, carol, "second")
    assert not Notification.objects.filter(message=answer).exists()
    UserBlock.objects.create(blocker=carol, blocked=bob)
    commands.room_notifications_update(actor=bob, room_id=team.pk, level="default")
    commands.thread_follow(actor=carol, message_id=root.pk, following=True)
    assert not Notification.objects.filter(message=reply(root, bob, "third"), user=carol).exists()


def test_level_all_is_not_notified_of_replies_that_stay_in_the_thread(team, alice, bob, carol):
    commands.room_notifications_update(actor=carol, room_id=team.pk, level="all")
    carol.chat_push_subscriptions.create(endpoint="https://fcm.googleapis.com/fcm/send/c", p256dh="k", auth="a")
    root = send(team, alice, "plan?")
    assert Notification.objects.filter(message=root, user=carol).exists()
    assert not Notification.objects.filter(message=reply(root, bob, "in thread"), user=carol).exists()
    assert Notification.objects.filter(message=reply(root, bob, "to all", also_in_room=True), user=carol).exists()


def test_search_finds_replies_with_their_thread(team, alice, bob):
    root = send(team, alice, "plan?")
    found = reply(root, bob, "pineapple strategy")
    (hit,) = selectors.message_search(user=alice, query="pineapple")
    assert (hit.pk, hit.thread_id) == (found.pk, root.pk)


def test_an_edit_in_a_thread_is_an_edit(team, alice, bob):
    root = send(team, alice, "plan?")
    answer = reply(root, bob, "yes")
    assert edit(answer, bob, "yes!").thread_id == root.pk


def test_direct_rooms_have_threads_too(alice, bob):
    room, _ = room_services.room_get_or_create_direct(user=alice, other=bob)
    root = send(room, alice, "hi")
    answer = reply(root, bob, "hey")
    assert fresh_root(root).thread_reply_count == 1
    assert Notification.objects.filter(message=answer, user=alice, reason="direct").exists()


# --- what the review of the first version found ----------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_editing_or_deleting_while_others_reply_never_deadlocks(no_rate_limits, concurrently, alice, bob, carol):
    room = group_room(alice, bob, carol)
    root = send(room, alice, "plan?")
    victim = reply(root, carol, "to be deleted")

    def work(i):
        if i == 0:
            return edit(root, alice, "plan, edited?")
        if i == 1:
            return delete(victim, carol)
        return reply(root, bob, f"reply {i}")

    concurrently(8, work)  # raises if any of them failed (a deadlock is an error)
    root = fresh_root(root)
    assert root.is_edited and root.thread_reply_count == 6


def test_reading_a_thread_then_being_mentioned_in_it_follows_it(team, alice, bob, carol):
    root = send(team, alice, "plan?")
    first = reply(root, bob, "first")
    commands.thread_mark_read(actor=carol, message_id=root.pk, seq=first.seq)
    assert follows(root)["carol"] is None  # read, not followed
    reply(root, bob, "what do you think @carol")
    assert follows(root)["carol"] is True


def test_an_edit_that_mentions_someone_in_a_thread_makes_them_follow(team, alice, bob, carol):
    root = send(team, alice, "plan?")
    answer = reply(root, bob, "first")
    edit(answer, bob, "first, @carol?")
    assert follows(root)["carol"] is True


def test_a_retry_with_the_same_key_in_another_thread_is_a_conflict(team, alice, bob):
    from chatsite.core.exceptions import Conflict

    one, two = send(team, alice, "one"), send(team, alice, "two")
    commands.message_send(actor=bob, room_id=team.pk, content="yes", thread_id=one.pk, client_msg_id="k-1")
    for thread_id in (two.pk, None):
        with pytest.raises(Conflict) as refused:
            commands.message_send(actor=bob, room_id=team.pk, content="yes", thread_id=thread_id, client_msg_id="k-1")
        assert refused.value.code == "client_msg_id_reused"


def test_replies_of_someone_i_blocked_are_not_unread_in_my_threads(team, alice, bob, carol):
    root = send(team, alice, "plan?")
    reply(root, bob, "from bob")
    reply(root, carol, "from carol")
    UserBlock.objects.create(blocker=alice, blocked=bob)
    assert selectors.thread_state(root=root, user=alice)["unread_count"] == 1
    assert selectors.threads_unread_total(user=alice) == {"threads": 1, "replies": 1}


def test_a_mention_in_a_thread_is_not_read_by_reading_the_room(team, alice, bob, carol):
    root = send(team, alice, "plan?")
    answer = reply(root, bob, "@carol look")
    room_seq = team.__class__.objects.get(pk=team.pk).seq
    mark_read(team, carol, room_seq)
    assert Notification.objects.get(message=answer, user=carol).state == "pending"
    commands.thread_mark_read(actor=carol, message_id=root.pk, seq=answer.seq)
    assert Notification.objects.get(message=answer, user=carol).state == "cancelled"


def test_replies_that_stay_in_their_thread_do_not_move_the_room_up_the_list(team, alice, bob):
    root = send(team, alice, "plan?")
    before = team.__class__.objects.get(pk=team.pk).last_message_at
    reply(root, bob, "in the thread")
    assert team.__class__.objects.get(pk=team.pk).last_message_at == before
    reply(root, bob, "in the room too", also_in_room=True)
    assert team.__class__.objects.get(pk=team.pk).last_message_at > before


def test_thread_read_names_the_room_it_is_in(team, alice, bob, carol):
    root = send(team, alice, "plan?")
    elsewhere = group_room(bob, carol, name="Elsewhere")
    with pytest.raises(NotFound):
        commands.thread_mark_read(actor=bob, message_id=root.pk, seq=1, room_id=elsewhere.pk)
