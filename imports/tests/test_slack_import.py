"""Import from Slack: a small export in Slack's documented format, built here."""

import io
import json
import zipfile

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import Company, User
from accounts.tests.factories import UserFactory
from chat import commands, crypto, selectors
from chat.models import (
    ChatMember,
    ChatMessage,
    ChatRoom,
    MessageMention,
    MessageReaction,
    RoomType,
    SearchToken,
)
from chat.tests.api_helpers import png_bytes
from chatsite.core import jobs
from imports.models import ImportedObject, SlackImport
from imports.slack import SlackImportError, import_slack, slack_time

pytestmark = pytest.mark.django_db

TEAM = "T0001"
ROOT_TS = "1699950100.000200"

USERS = [
    {"id": "U1", "team_id": TEAM, "name": "alice.s", "real_name": "Alice S", "profile": {"email": "ALICE@Example.com", "real_name": "Alice S"}},
    {"id": "U2", "team_id": TEAM, "name": "bob", "profile": {"email": "bob@corp.test", "real_name": "Bob Builder"}},
    {"id": "U3", "team_id": TEAM, "name": "carol", "profile": {"email": "carol@corp.test", "real_name": "Carol"}},
    {"id": "B1", "team_id": TEAM, "name": "deploybot", "is_bot": True, "profile": {}},
]
CHANNELS = [
    {"id": "C1", "name": "general", "creator": "U1", "members": ["U1", "U2", "U3"], "purpose": {"value": "Everything"}},
]
GROUPS = [{"id": "G1", "name": "secret", "creator": "U2", "members": ["U1", "U2"]}]
DMS = [{"id": "D1", "members": ["U1", "U2"]}]
MPIMS = [{"id": "G2", "name": "mpdm-alice.s--bob--carol-1", "creator": "U3", "members": ["U1", "U2", "U3"]}]

GENERAL_DAY_1 = [
    {
        "type": "message", "user": "U1", "ts": "1699950000.000100",
        "text": "Welcome <@U2>! See <https://example.com/docs|the docs> in <#C1|general> :tada: &amp; more",
        "reactions": [{"name": "+1", "users": ["U2", "U3"], "count": 2}, {"name": "partyparrot", "users": ["U2"], "count": 1}],
    },
    {"type": "message", "user": "U2", "ts": ROOT_TS, "thread_ts": ROOT_TS, "reply_count": 2, "text": "Thread about pineapples"},
    {"type": "message", "subtype": "bot_message", "bot_id": "B1", "ts": "1699950300.000400", "text": "Deploy done"},
    {"type": "message", "user": "U3", "ts": "1699950200.000300", "thread_ts": ROOT_TS, "parent_user_id": "U2", "text": "first reply"},
    {"type": "message", "subtype": "channel_join", "user": "U1", "ts": "1699950050.000150", "text": "<@U1> has joined"},
]
GENERAL_DAY_2 = [
    {"type": "message", "user": "U2", "ts": "1700036400.000100", "thread_ts": ROOT_TS, "text": "second reply"},
    {"type": "message", "user": "U1", "ts": "1700036500.000200", "text": "final wording", "edited": {"user": "U1", "ts": "1700036600.000000"}},
    {"type": "message", "user": "U3", "ts": "1700036700.000300", "text": "here is a picture",
     "files": [{"id": "F1", "name": "pic.png", "mimetype": "image/png", "url_private": "https://files.slack.com/F1/pic.png"}]},
    {"type": "message", "user": "U2", "ts": "1700036800.000400", "text": "",
     "files": [{"id": "F2", "name": "report.pdf", "mimetype": "application/pdf", "url_private": "https://files.slack.com/F2/report.pdf"}]},
]


def build_export(path, *, extra=None, drop=(), replace=None):
    """A Slack export ZIP at ``path``: the JSON lists, a folder per conversation
    of per-day files, and one included file (``__uploads/F1/pic.png``)."""
    files = {
        "users.json": USERS,
        "channels.json": CHANNELS,
        "groups.json": GROUPS,
        "dms.json": DMS,
        "mpims.json": MPIMS,
        "general/2023-11-14.json": GENERAL_DAY_1,
        "general/2023-11-15.json": GENERAL_DAY_2,
        "secret/2023-11-14.json": [{"type": "message", "user": "U2", "ts": "1699950400.000100", "text": "private plan zebra"}],
        "D1/2023-11-14.json": [{"type": "message", "user": "U1", "ts": "1699950500.000100", "text": "hi bob directly"}],
        "mpdm-alice.s--bob--carol-1/2023-11-14.json": [
            {"type": "message", "user": "U3", "ts": "1699950600.000100", "text": "group dm hello"}
        ],
    }
    files.update(replace or {})
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in files.items():
            if name in drop:
                continue
            archive.writestr(name, value if isinstance(value, (str, bytes)) else json.dumps(value))
        archive.writestr("__uploads/F1/pic.png", png_bytes())
        for name, value in (extra or {}).items():
            archive.writestr(name, value)
    return path


@pytest.fixture
def alice():
    return UserFactory(username="alice", email="alice@example.com", company=None)


@pytest.fixture
def export(tmp_path):
    return build_export(tmp_path / "export.zip")


def text_of(message) -> str:
    return crypto.decrypt(message.content_encrypted)


def general():
    return ChatRoom.objects.get(name="general")


def test_import_brings_people_rooms_messages_threads_reactions_and_files(alice, export):
    report = import_slack(export, company_slug="acme")

    assert report["imported"] == {
        "users_matched": 1,
        "users_created": 2,
        "invitations": 2,
        "channels": 1,
        "private_channels": 1,
        "direct_rooms": 1,
        "group_dms": 1,
        "messages": 8,
        "thread_replies": 2,
        "edited": 1,
        "reactions": 2,
        "files": 1,
    }
    assert report["skipped"] == {
        "bot or app: not a person (its messages are skipped)": 1,
        "bot message": 1,
        "Slack notice (channel_join)": 1,
        "unknown emoji name (reaction)": 1,
        "file not in the export": 1,
    }
    assert any("report.pdf" in line for line in report["details"])

    # People: alice matched by email in another case; the others new, inactive, invited.
    company = Company.objects.get(slug="acme")
    bob, carol = User.objects.get(email="bob@corp.test"), User.objects.get(email="carol@corp.test")
    assert (bob.username, bob.display_name, bob.is_active, bob.has_usable_password(), bob.company) == (
        "bob", "Bob Builder", False, False, company
    )
    assert not carol.is_active
    assert User.objects.count() == 3
    alice.refresh_from_db()
    assert alice.company == company  # matched, and had no company: joins the import's
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@corp.test", "carol@corp.test"]
    assert "/imports/invitation/" in mail.outbox[0].body

    # Rooms, their types and members.
    room = general()
    assert (room.room_type, room.is_public, room.company, room.description) == (RoomType.GROUP, True, company, "Everything")
    members = {m.user.username: m.role for m in ChatMember.objects.filter(room=room).select_related("user")}
    assert members == {"alice": "owner", "bob": "member", "carol": "member"}
    secret = ChatRoom.objects.get(name="secret")
    assert (secret.room_type, secret.is_public) == (RoomType.GROUP, False)
    assert set(secret.members.values_list("user__username", flat=True)) == {"alice", "bob"}
    direct = ChatRoom.objects.get(room_type=RoomType.DIRECT)
    assert {direct.direct_user_low, direct.direct_user_high} == {alice, bob}
    group_dm = ChatRoom.objects.get(name="Alice, Bob Builder, Carol")
    assert (group_dm.room_type, group_dm.is_public, group_dm.members.count()) == (RoomType.GROUP, False, 3)

    # Order and times: seqs follow the ts, each message at its original time.
    in_room = list(ChatMessage.objects.filter(room=room).order_by("seq"))
    times = [m.created_at for m in in_room]
    assert times == sorted(times)
    expected = [
        "1699950000.000100", ROOT_TS, "1699950200.000300", "1700036400.000100",
        "1700036500.000200", "1700036700.000300", "1700036800.000400",
    ]
    assert times == [slack_time(ts) for ts in expected]
    assert slack_time("1699950000.000100").isoformat() == "2023-11-14T08:20:00.000100+00:00"

    # Text: mention, link, channel, emoji, entities; the mention is indexed.
    welcome = in_room[0]
    assert text_of(welcome) == "Welcome @bob! See [the docs](https://example.com/docs) in #general 🎉 & more"
    assert list(MessageMention.objects.filter(message=welcome).values_list("user__username", flat=True)) == ["bob"]
    assert sorted(MessageReaction.objects.filter(message=welcome).values_list("user__username", "reaction")) == [
        ("bob", "👍"), ("carol", "👍")
    ]

    # The thread: replies on their root, the summary counted.
    root = ChatMessage.objects.get(pk=ImportedObject.objects.get(kind="message", external_id=f"C1:{ROOT_TS}").object_id)
    replies = list(ChatMessage.objects.filter(thread=root).order_by("seq"))
    assert [text_of(r) for r in replies] == ["first reply", "second reply"]
    assert (root.thread_reply_count, root.thread_last_reply_at) == (2, slack_time("1700036400.000100"))
    assert set(root.thread_participant_ids) == {str(carol.pk), str(bob.pk)}

    # The edit: the final text, marked edited at its time.
    edited = in_room[4]
    assert (text_of(edited), edited.is_edited, edited.edited_at) == ("final wording", True, slack_time("1700036600.000000"))

    # Files: the included one is an attachment; the other left a note.
    picture = in_room[5]
    assert (picture.message_type, picture.attachment.content_type, picture.attachment.original_name) == ("image", "image/png", "pic.png")
    assert text_of(in_room[6]) == "_(report.pdf: not in the export)_"

    # Encrypted at rest, found by search; read by its members already.
    assert "pineapples" not in root.content_encrypted
    assert SearchToken.objects.filter(message=root).exists()
    assert [m.pk for m in selectors.message_search(user=alice, query="pineapples")] == [root.pk]
    assert [m.pk for m in selectors.message_search(user=alice, query="zebra")] == [
        ChatMessage.objects.get(room__name="secret").pk
    ]
    assert ChatMember.objects.get(room=room, user=alice).last_read_seq == in_room[-1].seq


def test_a_second_run_imports_nothing_twice(alice, export):
    import_slack(export, company_slug="acme")
    counts = (User.objects.count(), ChatRoom.objects.count(), ChatMessage.objects.count(), MessageReaction.objects.count())
    emails = len(mail.outbox)

    report = import_slack(export, company_slug="acme")

    assert report["imported"] == {}
    assert report["already_imported"] == {"users": 3, "rooms": 4, "messages": 10}
    assert (User.objects.count(), ChatRoom.objects.count(), ChatMessage.objects.count(), MessageReaction.objects.count()) == counts
    assert len(mail.outbox) == emails


def test_an_interrupted_import_goes_on_where_it_stopped(alice, export, monkeypatch, tmp_path):
    reference = build_export(tmp_path / "reference.zip")
    real = commands.message_import
    calls = {"n": 0}

    def failing(**kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("the power went out")
        return real(**kwargs)

    monkeypatch.setattr(commands, "message_import", failing)
    with pytest.raises(RuntimeError):
        import_slack(export, company_slug="acme")
    assert ChatMessage.objects.filter(room__name="general").count() == 3  # welcome, root, first reply

    monkeypatch.setattr(commands, "message_import", real)
    report = import_slack(export, company_slug="acme")

    assert report["already_imported"]["messages"] == 3
    assert report["imported"]["messages"] + report["imported"]["thread_replies"] == 7
    in_room = list(ChatMessage.objects.filter(room__name="general").order_by("seq"))
    assert len(in_room) == 7
    assert [m.created_at for m in in_room] == sorted(m.created_at for m in in_room)
    root = ChatMessage.objects.get(pk=ImportedObject.objects.get(kind="message", external_id=f"C1:{ROOT_TS}").object_id)
    assert root.thread_reply_count == 2
    assert ChatMember.objects.get(room__name="general", user=alice).last_read_seq == in_room[-1].seq
    assert len(mail.outbox) == 2
    # Nothing differs from an import that was never interrupted.
    assert import_slack(reference, company_slug="acme")["imported"] == {}


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda p: p.write_bytes(b"not a zip at all"), "This is not a ZIP file"),
        (lambda p: build_export(p, drop=("users.json",)), "users.json is missing"),
        (lambda p: build_export(p, replace={"users.json": "[{broken"}), "users.json is not valid JSON"),
        (lambda p: build_export(p, replace={"channels.json": '{"id": "C1"}'}), "channels.json is not a JSON list"),
        (lambda p: build_export(p, extra={"../escape.txt": "x"}), "path outside its folder ('../escape.txt')"),
        (lambda p: build_export(p, extra={"/etc/evil": "x"}), "path outside its folder"),
    ],
    ids=["not-zip", "no-users", "broken-users", "channels-not-list", "zip-slip", "absolute"],
)
def test_a_bad_export_is_refused_with_a_clear_error_and_nothing_written(tmp_path, make, error):
    path = tmp_path / "bad.zip"
    make(path)
    with pytest.raises(SlackImportError, match=error.replace("(", r"\(").replace(")", r"\)")):
        import_slack(path, company_slug="acme")
    assert not ChatRoom.objects.exists()
    assert not ImportedObject.objects.exists()


def test_an_export_that_unpacks_too_big_is_refused(tmp_path, settings):
    settings.CHAT_IMPORT_MAX_BYTES = 1000
    path = build_export(tmp_path / "big.zip", extra={"general/blob.bin": b"\0" * 5000})
    with pytest.raises(SlackImportError, match="unpacks to .* the limit is 1,000"):
        import_slack(path, company_slug="acme")
    assert not User.objects.exists()


def test_a_broken_day_file_is_skipped_and_the_rest_imported(alice, tmp_path):
    path = build_export(tmp_path / "export.zip", replace={"general/2023-11-15.json": "[{not json"})
    report = import_slack(path, company_slug="acme")
    assert report["skipped"]["broken day file: its messages are not imported"] == 1
    assert ChatMessage.objects.filter(room__name="general", thread__isnull=True).count() == 2
    assert report["imported"]["messages"] == 5


def test_the_command_prints_the_report_and_refuses_a_bad_file(alice, export, tmp_path):
    out = io.StringIO()
    call_command("import_slack", str(export), "--company", "acme", stdout=out)
    assert "Imported:" in out.getvalue() and "users_created: 2" in out.getvalue()
    assert "1 × file not in the export" in out.getvalue()
    with pytest.raises(CommandError, match="not a ZIP"):
        bad = tmp_path / "bad.zip"
        bad.write_text("nope")
        call_command("import_slack", str(bad), "--company", "acme")


def test_the_invitation_sets_a_password_and_activates_the_account(alice, export, client):
    import_slack(export, company_slug="acme")
    bob = User.objects.get(username="bob")
    (link,) = [line for m in mail.outbox if m.to == ["bob@corp.test"] for line in m.body.splitlines() if "/imports/" in line]
    response = client.get(link.split("127.0.0.1:8000")[-1], follow=True)
    assert b"Set your password" in response.content
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "a long new password 7", "new_password2": "a long new password 7"})
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.is_active and bob.check_password("a long new password 7")
    assert client.login(username="bob", password="a long new password 7")


def test_admin_upload_runs_the_import_as_a_job_and_shows_the_report(alice, export, client):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    add_url = reverse("admin:imports_slackimport_add")
    assert client.get(add_url).status_code == 200
    with open(export, "rb") as handle:
        response = client.post(add_url, {"archive": handle, "company_slug": "acme"})
    assert response.status_code == 302
    run = SlackImport.objects.get()
    assert (run.state, run.job.kind, run.archive_name) == ("queued", "slack.import", "export.zip")

    assert jobs.run_pending() == 1

    run.refresh_from_db()
    assert run.state == "done" and run.report["imported"]["messages"] == 8
    assert not run.archive  # the plain-text export is gone once imported
    page = client.get(reverse("admin:imports_slackimport_change", args=[run.pk])).content.decode()
    assert "users_created: 2" in page and "file not in the export: 1" in page


def test_admin_upload_of_a_bad_export_reports_the_error(client, tmp_path):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"nope")
    with open(bad, "rb") as handle:
        client.post(reverse("admin:imports_slackimport_add"), {"archive": handle, "company_slug": "acme"})
    jobs.run_pending()
    run = SlackImport.objects.get()
    assert run.state == "failed" and "not a ZIP" in run.error
    assert "not a ZIP" in client.get(reverse("admin:imports_slackimport_change", args=[run.pk])).content.decode()


def test_the_admin_upload_page_is_for_staff_only(client):
    client.force_login(UserFactory(username="plain"))
    response = client.get(reverse("admin:imports_slackimport_add"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_edge_cases_are_imported_or_skipped_with_their_reasons(alice, tmp_path, settings):
    settings.CHAT_MAX_ATTACHMENT_BYTES = 2000
    bob = UserFactory(username="bobby", email="bob@corp.test", company=None)
    existing_direct, _ = commands.room_get_or_create_direct(actor=alice, user_id=bob.pk)
    users = USERS + [
        {"id": "U4", "team_id": TEAM, "name": "alice", "profile": {"email": "other.alice@corp.test", "real_name": "Other Alice"}},
        {"id": "U5", "team_id": TEAM, "name": "gone", "deleted": True, "profile": {"email": "gone@corp.test"}},
        {"id": "U6", "team_id": TEAM, "name": "noemail", "profile": {}},
    ]
    channels = CHANNELS + [{"id": "C2", "name": "old", "is_archived": True, "creator": "U1", "members": ["U1", "U5"]}]
    old_day = [
        {"type": "message", "user": "U1", "ts": "1600000000.000100", "text": "root", "thread_ts": "1600000000.000100"},
        {"type": "message", "subtype": "thread_broadcast", "user": "U5", "ts": "1600000001.000100",
         "thread_ts": "1600000000.000100", "text": "also in the room"},
        {"type": "message", "user": "U1", "ts": "1600000002.000100", "thread_ts": "1599999999.000000", "text": "orphan"},
        {"type": "message", "user": "U1", "ts": "1600000003.000100", "text": "page",
         "files": [{"id": "F3", "name": "page.html"}, {"id": "F4", "name": "big.pdf"}]},
        {"type": "message", "subtype": "tombstone", "user": "USLACKBOT", "ts": "1600000004.000100", "text": "deleted"},
        {"type": "message", "user": "U9", "ts": "1600000005.000100", "text": "from a stranger"},
    ]
    path = build_export(
        tmp_path / "export.zip",
        replace={"users.json": users, "channels.json": channels, "dms.json": DMS + [{"id": "D2", "members": ["U1", "B1"]}]},
        extra={
            "old/2020-09-13.json": json.dumps(old_day),
            "old/F3/page.html": "<html><script>alert(1)</script></html>",
            "__uploads/F4/big.pdf": b"%PDF-1.4 " + b"x" * 5000,
        },
    )

    report = import_slack(path, company_slug="acme")

    skipped = report["skipped"]
    assert skipped["deactivated in Slack: imported inactive, not invited"] == 1
    assert skipped["no email: imported inactive, not invited"] == 1
    assert skipped["direct messages without two known people (a bot, or oneself)"] == 1
    assert skipped["thread root not in the export: imported as a room message"] == 1
    assert skipped["file refused: markup_not_allowed"] == 1
    assert skipped["file larger than CHAT_MAX_ATTACHMENT_BYTES"] == 1
    assert skipped["deleted in Slack"] == 1
    assert skipped["sender not among the export's people"] == 1
    assert report["imported"]["users_matched"] == 2  # alice, and bob by his email
    # The handle "alice" was taken: a number is added. Invitations only to the new people with an email.
    assert User.objects.get(email="other.alice@corp.test").username == "alice2"
    assert sorted(m.to[0] for m in mail.outbox) == ["carol@corp.test", "other.alice@corp.test"]
    gone = User.objects.get(email="gone@corp.test")
    assert not gone.is_active
    # A matched person without a company joins the import's.
    bob.refresh_from_db()
    assert bob.company.slug == "acme"

    old = ChatRoom.objects.get(name="old")
    assert not old.is_active  # archived in Slack: closed, history kept
    root, broadcast, orphan, page = ChatMessage.objects.filter(room=old).order_by("seq")
    assert (broadcast.thread_id, broadcast.also_in_room, broadcast.sender) == (root.pk, True, gone)
    assert orphan.thread_id is None and text_of(orphan) == "orphan"
    assert page.attachment is None and text_of(page) == "page"
    # The direct room alice and bob already had is the one the DM went into.
    assert ChatRoom.objects.filter(room_type=RoomType.DIRECT).count() == 1
    assert [text_of(m) for m in ChatMessage.objects.filter(room=existing_direct)] == ["hi bob directly"]


def test_progress_is_reported_to_the_job(alice, export):
    seen = []
    import_slack(export, company_slug="acme", progress=seen.append)
    assert seen == [25, 50, 75, 100]


def test_a_run_interrupted_before_a_room_was_marked_read_marks_it_read_the_next_time(alice, export, monkeypatch):
    real = commands.room_import_finish

    def failing(**kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(commands, "room_import_finish", failing)
    with pytest.raises(RuntimeError):
        import_slack(export, company_slug="acme")
    assert ChatMember.objects.get(room__name="general", user=alice).last_read_seq == 0

    monkeypatch.setattr(commands, "room_import_finish", real)
    assert import_slack(export, company_slug="acme")["already_imported"]["messages"] == 7
    last = ChatMessage.objects.filter(room__name="general").order_by("-seq").first()
    assert ChatMember.objects.get(room__name="general", user=alice).last_read_seq == last.seq
