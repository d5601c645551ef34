"""Management commands: seed_demo, reencrypt_messages, purge_chat_retention."""

import io
import re
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import Company
from chat import commands, crypto, selectors
from chat.management.commands import purge_chat_retention
from chat.models import (
    ChatMember,
    ChatMessage,
    ChatRoom,
    MessageEdit,
    MessageMention,
    MessageType,
    Notification,
    Role,
    RoomEvent,
    RoomType,
    SearchToken,
)
from chat.selectors import ResyncRequired
from chat.tests.factories import group_room, send
from chatsite.core.exceptions import Invalid

User = get_user_model()
DEMO_USERNAMES = ("alice", "bob", "carol", "dave", "admin")


class Run:
    """call_command with captured stdout and stderr (kept when the command fails)."""

    def __init__(self, name: str, *args, **options):
        self.out, self.err = io.StringIO(), io.StringIO()
        self.error = None
        try:
            call_command(name, *args, stdout=self.out, stderr=self.err, **options)
        except CommandError as exc:
            self.error = exc

    @property
    def stdout(self) -> str:
        return self.out.getvalue()

    @property
    def stderr(self) -> str:
        return self.err.getvalue()

    def ok(self) -> "Run":
        assert self.error is None, f"{self.error}\n{self.stdout}\n{self.stderr}"
        return self


def row_counts() -> dict:
    from chat.models import MessageReaction

    models = (Company, User, ChatRoom, ChatMember, ChatMessage, MessageEdit, MessageReaction, RoomEvent, SearchToken)
    return {model.__name__: model.objects.count() for model in models}


def printed_passwords(output: str) -> dict:
    found = {}
    for line in output.splitlines():
        match = re.match(rf"^({'|'.join(DEMO_USERNAMES)})\s+(.+?)\s{{2,}}(\S.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


# --- seed_demo -----------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_creates_users_each_room_type_and_messages():
    run = Run("seed_demo").ok()

    acme = Company.objects.get(slug="acme")
    assert acme.name == "Acme"
    users = {u.username: u for u in User.objects.filter(username__in=DEMO_USERNAMES)}
    assert set(users) == set(DEMO_USERNAMES)
    assert all(u.display_name for u in users.values())
    assert {name for name, u in users.items() if u.company_id == acme.pk} == {"alice", "bob", "carol", "dave"}
    assert users["dave"].is_support_agent
    assert users["admin"].is_staff and users["admin"].is_superuser
    assert not any(users[name].is_staff for name in ("alice", "bob", "carol", "dave"))

    def member_names(room):
        members = ChatMember.objects.filter(room=room, is_active=True).select_related("user")
        return {m.user.username: m.role for m in members}

    general = ChatRoom.objects.get(room_type=RoomType.COMPANY, company=acme)
    assert general.name == "Acme — General"
    assert set(member_names(general)) == {"alice", "bob", "carol", "dave"}
    falcon = ChatRoom.objects.get(room_type=RoomType.GROUP, name="Project Falcon")
    assert not falcon.is_public
    assert member_names(falcon) == {"alice": Role.OWNER, "bob": Role.MEMBER, "carol": Role.MEMBER}
    random_room = ChatRoom.objects.get(room_type=RoomType.GROUP, name="Random")
    assert random_room.is_public and random_room.company_id == acme.pk
    assert {"alice", "bob", "carol"} <= set(member_names(random_room))
    direct = ChatRoom.objects.get(room_type=RoomType.DIRECT)
    assert set(member_names(direct)) == {"alice", "bob"}
    support = ChatRoom.objects.get(room_type=RoomType.SUPPORT)
    assert support.support_requester_id == users["carol"].pk
    assert member_names(support) == {"carol": Role.MEMBER, "dave": Role.OWNER}

    for room in (general, falcon, random_room, direct, support):
        texts = [
            crypto.decrypt(m.content_encrypted)
            for m in ChatMessage.objects.filter(room=room).exclude(message_type=MessageType.SYSTEM)
        ]
        assert len(texts) >= 2 and all(texts), room
        # Made through the commands: the room's log is complete and gap-free.
        seqs = list(RoomEvent.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, room.seq + 1))
    client_ids = set(ChatMessage.objects.exclude(client_msg_id=None).values_list("client_msg_id", flat=True))
    assert client_ids and all(cid.startswith("seed-") for cid in client_ids)

    passwords = printed_passwords(run.stdout)
    assert set(passwords) == set(DEMO_USERNAMES)
    for username, password in passwords.items():
        assert users[username].check_password(password), username
    assert "http://127.0.0.1:8000/" in run.stdout
    assert "http://127.0.0.1:8000/admin/" in run.stdout


@pytest.mark.django_db
def test_seed_demo_second_run_creates_nothing_and_keeps_passwords():
    first = Run("seed_demo").ok()
    passwords = printed_passwords(first.stdout)
    before = row_counts()
    hashes = dict(User.objects.values_list("username", "password"))
    seqs = dict(ChatRoom.objects.values_list("pk", "seq"))

    second = Run("seed_demo", site_url="http://0.0.0.0:8123").ok()

    assert "Open http://0.0.0.0:8123/ and sign in" in second.stdout  # where make run really serves
    assert "Django admin: http://0.0.0.0:8123/admin/" in second.stdout
    assert "Open http://127.0.0.1:8000/ and sign in" in first.stdout
    assert row_counts() == before
    assert dict(ChatRoom.objects.values_list("pk", "seq")) == seqs
    assert dict(User.objects.values_list("username", "password")) == hashes
    assert printed_passwords(second.stdout) == {name: "unchanged; use --reset-passwords" for name in DEMO_USERNAMES}
    assert User.objects.get(username="alice").check_password(passwords["alice"])


@pytest.mark.django_db
def test_seed_demo_reset_passwords_prints_new_working_passwords():
    old = printed_passwords(Run("seed_demo").ok().stdout)
    before = row_counts()

    new = printed_passwords(Run("seed_demo", "--reset-passwords").ok().stdout)

    assert row_counts() == before
    assert set(new) == set(DEMO_USERNAMES)
    for username in DEMO_USERNAMES:
        user = User.objects.get(username=username)
        assert new[username] != old[username]
        assert user.check_password(new[username]) and not user.check_password(old[username])


@pytest.mark.django_db
def test_seed_demo_keeps_existing_user_password_and_adds_them_to_acme(make_user):
    carol = make_user(username="carol", display_name="Carol")  # in another company
    run = Run("seed_demo").ok()

    carol.refresh_from_db()
    assert carol.company.slug == "acme"
    assert carol.check_password("correct horse battery staple")
    assert printed_passwords(run.stdout)["carol"] == "unchanged; use --reset-passwords"
    assert User.objects.filter(username="carol").count() == 1


# --- reencrypt_messages ------------------------------------------------------------

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def under(key: str, token: str) -> bool:
    try:
        Fernet(key.encode()).decrypt(token.encode())
    except Exception:  # noqa: BLE001
        return False
    return True


@pytest.fixture
def messages_under_key_a(settings, alice, bob):
    settings.CHAT_ENCRYPTION_KEYS = [KEY_A]
    room = group_room(alice, bob)
    texts = {}
    for n, text in enumerate(["first secret", "second secret", "third secret", "fourth @bob", "fifth"]):
        message = send(room, alice if n % 2 else bob, text)
        texts[message.pk] = text
    edited = ChatMessage.objects.get(pk=next(iter(texts)))
    commands.message_edit(actor=bob, message_id=edited.pk, content="first secret, edited")
    texts[edited.pk] = "first secret, edited"
    for message in ChatMessage.objects.filter(message_type=MessageType.SYSTEM):
        texts[message.pk] = crypto.decrypt(message.content_encrypted)
    return room, texts


def summary_line(output: str, label: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"{label}:"))


def test_reencrypt_rotates_messages_and_edits_to_the_primary_key(settings, messages_under_key_a):
    _room, texts = messages_under_key_a
    edit_texts = {e.pk: crypto.decrypt(e.previous_content_encrypted) for e in MessageEdit.objects.all()}
    assert edit_texts == {MessageEdit.objects.get().pk: "first secret"}
    settings.CHAT_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    run = Run("reencrypt_messages", "--batch-size", "2").ok()

    total = len(texts)
    assert summary_line(run.stdout, "messages") == (
        f"messages: {total} re-encrypted, 0 already current, {total} checked of {total} total"
    )
    assert summary_line(run.stdout, "edit versions").startswith("edit versions: 1 re-encrypted, 0 already current")
    assert summary_line(run.stdout, "mention lists").startswith("mention lists: 1 re-encrypted, 0 already current")
    assert f"{total}/{total} messages checked" in run.stdout  # progress lines
    settings.CHAT_ENCRYPTION_KEYS = [KEY_B]  # the old key is gone
    for message in ChatMessage.objects.all():
        assert under(KEY_B, message.content_encrypted)
        assert crypto.decrypt(message.content_encrypted) == texts[message.pk]
    for edit in MessageEdit.objects.all():
        assert crypto.decrypt(edit.previous_content_encrypted) == edit_texts[edit.pk]
    mentioning = ChatMessage.objects.exclude(mentions_encrypted="").get()
    bob_id = str(mentioning.room.members.get(user__username="bob").user_id)
    assert under(KEY_B, mentioning.mentions_encrypted) and bob_id in crypto.decrypt(mentioning.mentions_encrypted)

    rerun = Run("reencrypt_messages").ok()
    assert summary_line(rerun.stdout, "messages").startswith(f"messages: 0 re-encrypted, {total} already current")
    assert summary_line(rerun.stdout, "edit versions").startswith("edit versions: 0 re-encrypted, 1 already current")


def test_reencrypt_reports_undecryptable_token_fails_and_rotates_the_others(settings, messages_under_key_a):
    _room, texts = messages_under_key_a
    broken = ChatMessage.objects.exclude(message_type=MessageType.SYSTEM).order_by("seq").last()
    ChatMessage.objects.filter(pk=broken.pk).update(content_encrypted="not-a-fernet-token")
    settings.CHAT_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    run = Run("reencrypt_messages")

    assert run.error is not None and "could not be decrypted" in str(run.error)
    assert "1 undecryptable" in run.stderr and str(broken.pk) in run.stderr
    assert ChatMessage.objects.get(pk=broken.pk).content_encrypted == "not-a-fernet-token"
    others = ChatMessage.objects.exclude(pk=broken.pk)
    assert all(under(KEY_B, m.content_encrypted) for m in others)
    assert all(crypto.decrypt(m.content_encrypted) == texts[m.pk] for m in others)
    assert under(KEY_B, MessageEdit.objects.get().previous_content_encrypted)


def test_reencrypt_reindex_search_makes_search_work_after_search_key_change(settings, alice, bob):
    settings.CHAT_SEARCH_KEY = "old search key"
    room = group_room(alice, bob)
    budget = send(room, alice, "The falcon budget is approved")
    gone = send(room, bob, "falcon budget draft")
    commands.message_delete(actor=bob, message_id=gone.pk)
    assert selectors.message_search(user=bob, query="falcon budget") == [budget]

    settings.CHAT_SEARCH_KEY = "new search key"
    assert selectors.message_search(user=bob, query="falcon budget") == []

    run = Run("reencrypt_messages", "--reindex-search", "--batch-size", "1").ok()

    assert "search index: 1 messages reindexed of 1" in run.stdout
    assert selectors.message_search(user=bob, query="falcon budget") == [budget]
    assert selectors.message_search(user=bob, query="approved") == [budget]
    assert not SearchToken.objects.filter(message=gone).exists()
    system = ChatMessage.objects.filter(room=room, message_type=MessageType.SYSTEM)
    assert system.exists() and not SearchToken.objects.filter(message__in=system).exists()


def test_reencrypt_interrupted_run_rolls_back_its_batch_and_a_rerun_completes(
    settings, monkeypatch, messages_under_key_a
):
    _room, texts = messages_under_key_a
    settings.CHAT_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    real_reencrypt, calls = crypto.reencrypt, []

    def interrupt_in_second_batch(token):
        calls.append(token)
        if len(calls) == 4:  # batch size 2: the second row of the second batch
            raise KeyboardInterrupt
        return real_reencrypt(token)

    monkeypatch.setattr(crypto, "reencrypt", interrupt_in_second_batch)
    run = Run("reencrypt_messages", "--batch-size", "2")

    assert run.error is not None and "re-encrypting, after 2/" in str(run.error)
    rotated = [m for m in ChatMessage.objects.all() if under(KEY_B, m.content_encrypted)]
    assert len(rotated) == 2  # the first batch only: the third row's update was rolled back
    assert all(crypto.decrypt(m.content_encrypted) == texts[m.pk] for m in ChatMessage.objects.all())

    monkeypatch.setattr(crypto, "reencrypt", real_reencrypt)
    rerun = Run("reencrypt_messages", "--batch-size", "2").ok()
    total = len(texts)
    assert summary_line(rerun.stdout, "messages").startswith(f"messages: {total - 2} re-encrypted, 2 already current")
    settings.CHAT_ENCRYPTION_KEYS = [KEY_B]
    assert all(crypto.decrypt(m.content_encrypted) == texts[m.pk] for m in ChatMessage.objects.all())


# --- purge_chat_retention ------------------------------------------------------------


def age(queryset, days: int, field: str = "created_at") -> None:
    queryset.update(**{field: timezone.now() - timedelta(days=days)})


def snapshot() -> dict:
    return {
        "messages": sorted(
            ChatMessage.objects.values_list("pk", "content_encrypted", "content_purged_at", "is_deleted")
        ),
        "edits": sorted(MessageEdit.objects.values_list("pk", flat=True)),
        "tokens": SearchToken.objects.count(),
        "events": sorted(RoomEvent.objects.values_list("room_id", "seq")),
        "rooms": sorted(ChatRoom.objects.values_list("pk", "seq", "events_purged_through")),
        "notifications": sorted(Notification.objects.values_list("pk", "state")),
    }


@pytest.fixture
def retention_room(alice, bob):
    """A room with an old deleted message, a recently deleted one and a live one (each edited)."""
    room = group_room(alice, bob)
    old = send(room, alice, "old secret")
    commands.message_edit(actor=alice, message_id=old.pk, content="old secret, edited")
    recent = send(room, bob, "recent secret")
    commands.message_edit(actor=bob, message_id=recent.pk, content="recent secret, edited")
    live = send(room, alice, "live words stay searchable")
    commands.message_delete(actor=alice, message_id=old.pk)
    commands.message_delete(actor=bob, message_id=recent.pk)
    # A stale index row (as from an older version) must go with the content too.
    SearchToken.objects.create(message=old, room=room, token=crypto.word_hash("old"))
    age(ChatMessage.objects.filter(pk=old.pk), 40, "deleted_at")
    age(ChatMessage.objects.filter(pk=recent.pk), 5, "deleted_at")
    room.refresh_from_db()
    return room, old, recent, live


def test_purge_removes_old_deleted_content_and_old_events_and_rerun_is_a_noop(settings, retention_room, alice):
    room, old, recent, live = retention_room
    settings.CHAT_DELETED_CONTENT_RETENTION_DAYS = 30
    settings.CHAT_EVENT_RETENTION_DAYS = 30
    old_through = room.seq - 3
    age(RoomEvent.objects.filter(room=room, seq__lte=old_through), 40)
    live_tokens = SearchToken.objects.filter(message=live).count()

    run = Run("purge_chat_retention", "--batch-size", "2").ok()

    assert "deleted messages: 1 were purged (1 edit versions and 1 search tokens removed)" in run.stdout
    assert f"room events: {old_through} were deleted in 1 rooms" in run.stdout
    old.refresh_from_db()
    assert old.content_purged_at is not None and old.is_deleted
    assert crypto.decrypt(old.content_encrypted) == ""
    assert not MessageEdit.objects.filter(message=old).exists()
    assert not SearchToken.objects.filter(message=old).exists()
    recent.refresh_from_db()
    assert recent.content_purged_at is None
    assert crypto.decrypt(recent.content_encrypted) == "recent secret, edited"
    assert MessageEdit.objects.filter(message=recent).count() == 1
    live.refresh_from_db()
    assert crypto.decrypt(live.content_encrypted) == "live words stay searchable"
    assert SearchToken.objects.filter(message=live).count() == live_tokens > 0

    room.refresh_from_db()
    assert room.events_purged_through == old_through
    seqs = list(RoomEvent.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(old_through + 1, room.seq + 1))
    with pytest.raises(ResyncRequired):
        selectors.events_since(room=room, after=old_through - 1)
    with pytest.raises(ResyncRequired):
        selectors.events_since(room=room, after=0)
    frames, has_more = selectors.events_since(room=room, after=old_through)
    assert [f["seq"] for f in frames] == list(range(old_through + 1, room.seq + 1)) and not has_more
    with pytest.raises(Invalid) as refused:
        commands.message_restore(actor=alice, message_id=old.pk)
    assert refused.value.code == "content_purged"

    before = snapshot()
    rerun = Run("purge_chat_retention").ok()
    assert snapshot() == before
    assert "deleted messages: 0 were purged" in rerun.stdout
    assert "room events: 0 were deleted in 0 rooms" in rerun.stdout


def test_purge_dry_run_reports_and_changes_nothing(retention_room):
    room, *_ = retention_room
    age(RoomEvent.objects.filter(room=room, seq__lte=4), 40)
    before = snapshot()

    run = Run("purge_chat_retention", "--dry-run", "--deleted-days", "30", "--event-days", "30").ok()

    assert snapshot() == before
    assert "deleted messages: 1 would be purged (1 edit versions and 1 search tokens removed)" in run.stdout
    assert "room events: 4 would be deleted in 1 rooms" in run.stdout
    assert "Dry run: nothing was changed." in run.stdout


def test_purge_takes_the_mentions_with_the_content_and_old_done_notifications(alice, bob, carol):
    room = group_room(alice, bob, carol)
    gone = send(room, alice, "@bob @carol secret plan")
    kept = send(room, alice, "@bob still here")
    commands.message_delete(actor=alice, message_id=gone.pk)
    age(ChatMessage.objects.filter(pk=gone.pk), 40, "deleted_at")
    done = Notification.objects.filter(message=gone)  # cancelled by the delete
    age(done, 40, "updated_at")
    pending = Notification.objects.filter(message=kept, state="pending")
    age(pending, 40, "updated_at")  # pending stays, however old

    run = Run("purge_chat_retention", "--deleted-days", "30", "--event-days", "30").ok()

    gone.refresh_from_db()
    assert gone.mentions_encrypted == "" and not MessageMention.objects.filter(message=gone).exists()
    assert MessageMention.objects.filter(message=kept).count() == 1
    assert not Notification.objects.filter(message=gone).exists()
    assert Notification.objects.filter(message=kept, state="pending").count() == 1
    assert "notifications: 2 done ones were deleted" in run.stdout


def test_purge_never_deletes_an_event_newer_than_the_cutoff(alice, bob):
    room = group_room(alice, bob)
    for n in range(6):
        send(room, alice, f"message {n}")
    room.refresh_from_db()
    # Clock skew between processes: seq 5 is recent but seq 6 looks old.
    age(RoomEvent.objects.filter(room=room, seq__lte=4), 40)
    age(RoomEvent.objects.filter(room=room, seq=6), 40)

    Run("purge_chat_retention", "--event-days", "30").ok()

    room.refresh_from_db()
    assert room.events_purged_through == 4
    assert list(RoomEvent.objects.filter(room=room).values_list("seq", flat=True)) == list(range(5, room.seq + 1))


def test_purge_events_per_room_and_recent_rooms_untouched(alice, bob, carol):
    old_room = group_room(alice, bob, name="Old")
    new_room = group_room(alice, carol, name="New")
    send(old_room, alice, "hello")
    send(new_room, alice, "hello")
    old_room.refresh_from_db()
    new_room.refresh_from_db()
    age(RoomEvent.objects.filter(room=old_room), 40)

    Run("purge_chat_retention", "--event-days", "30", "--batch-size", "1").ok()

    old_room.refresh_from_db()
    new_room.refresh_from_db()
    assert old_room.events_purged_through == old_room.seq
    assert not RoomEvent.objects.filter(room=old_room).exists()
    assert selectors.events_since(room=old_room, after=old_room.seq) == ([], False)
    assert new_room.events_purged_through == 0
    assert RoomEvent.objects.filter(room=new_room).count() == new_room.seq


def interrupt_after_second_batch_writes(monkeypatch, name: str) -> list:
    """Make purge_chat_retention's ``name`` stop the run as Ctrl-C would, right after
    its second call wrote; returns each call's arguments. ``monkeypatch.undo()`` restores it."""
    real, calls = getattr(purge_chat_retention, name), []

    def interrupted(*args):
        result = real(*args)
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(purge_chat_retention, name, interrupted)
    return calls


def test_purge_interrupted_in_a_message_batch_rolls_it_back_and_a_rerun_completes(monkeypatch, alice, bob):
    room = group_room(alice, bob)
    doomed = []
    for n in range(5):
        message = send(room, alice, f"secret {n}")
        commands.message_edit(actor=alice, message_id=message.pk, content=f"secret {n}, edited")
        commands.message_delete(actor=alice, message_id=message.pk)
        doomed.append(message.pk)
    age(ChatMessage.objects.filter(pk__in=doomed), 40, "deleted_at")
    calls = interrupt_after_second_batch_writes(monkeypatch, "purge_message_content")
    run = Run("purge_chat_retention", "--deleted-days", "30", "--batch-size", "2")

    assert run.error is not None and "Interrupted" in str(run.error)
    purged = ChatMessage.objects.filter(pk__in=doomed, content_purged_at__isnull=False)
    (first_batch_ids,) = calls[0]
    assert set(purged.values_list("pk", flat=True)) == set(first_batch_ids)
    assert MessageEdit.objects.filter(message_id__in=doomed).count() == 3
    for message in ChatMessage.objects.filter(pk__in=doomed, content_purged_at__isnull=True):
        assert crypto.decrypt(message.content_encrypted).endswith(", edited")

    monkeypatch.undo()
    rerun = Run("purge_chat_retention", "--deleted-days", "30", "--batch-size", "2").ok()
    assert "deleted messages: 3 were purged" in rerun.stdout
    assert ChatMessage.objects.filter(pk__in=doomed, content_purged_at__isnull=True).count() == 0
    assert not MessageEdit.objects.filter(message_id__in=doomed).exists()


def test_purge_interrupted_in_an_event_batch_leaves_the_room_log_contiguous(monkeypatch, alice, bob):
    room = group_room(alice, bob)
    for n in range(8):
        send(room, alice, f"message {n}")
    room.refresh_from_db()
    age(RoomEvent.objects.filter(room=room), 40)
    interrupt_after_second_batch_writes(monkeypatch, "delete_room_events")
    run = Run("purge_chat_retention", "--event-days", "30", "--batch-size", "3")

    assert run.error is not None and "Interrupted" in str(run.error)
    room.refresh_from_db()
    assert room.events_purged_through == 3  # first step committed, second rolled back
    seqs = list(RoomEvent.objects.filter(room=room).values_list("seq", flat=True))
    assert seqs == list(range(4, room.seq + 1))
    frames, _ = selectors.events_since(room=room, after=3)
    assert [f["seq"] for f in frames] == seqs

    monkeypatch.undo()
    Run("purge_chat_retention", "--event-days", "30", "--batch-size", "3").ok()
    room.refresh_from_db()
    assert room.events_purged_through == room.seq
    assert not RoomEvent.objects.filter(room=room).exists()
