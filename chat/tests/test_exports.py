"""Exports end to end: a room's and a person's own data, over REST, in the
admin and on the command line; what the ZIP holds; who may start and download
one; expiry; and a worker killed in the middle of an export."""

import io
import json
import signal
import sys
import time
import zipfile
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.services import user_block
from chat import commands
from chat.tests.api_helpers import assert_error, client_for, png_bytes, upload
from chat.tests.factories import edit, group_room, react, send
from chatsite.core import jobs
from chatsite.core.models import Job, JobState

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CHAT_RATE_LIMITS_ENABLED = False
    return settings.MEDIA_ROOT


@pytest.fixture
def team(alice, bob, carol):
    room = group_room(alice, bob, carol, name="Launch <plans>", description="All of it")
    picture = commands.attachment_create(actor=bob, upload=upload("plan.png", png_bytes(), "image/png"), room_id=room.pk)
    first = send(room, bob, "the **plan** <script>alert(1)</script>", attachment=picture)
    edit(first, bob, "the **final plan** <script>alert(1)</script>")
    react(first, alice, "👍")
    gone = send(room, carol, "a secret that was deleted")
    commands.message_delete(actor=carol, message_id=gone.pk)
    root = send(room, alice, "who deploys?")
    send(room, carol, "I do", thread_id=root.pk)
    return room


def start(user, url, **body):
    response = client_for(user).post(url, body, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def zip_of(user, export) -> zipfile.ZipFile:
    response = client_for(user).get(export["download"])
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_a_room_export_holds_every_message_its_edits_tombstones_threads_and_files(alice, bob, team):
    export = start(alice, f"/api/rooms/{team.pk}/export/", attachments_bytes=10_000)
    assert (export["state"], export["progress"], export["download"]) == ("pending", 0, None)
    assert jobs.run_pending() == 1
    export = client_for(alice).get(f"/api/exports/{export['id']}/").json()
    assert export["state"] == "done" and export["progress"] == 100 and export["download"]
    assert export["name"].startswith("chatsite-Launch") and export["name"].endswith(".zip") and "/" not in export["name"]

    archive = zip_of(alice, export)
    data = json.loads(archive.read("messages.json"))
    assert (data["schema"], data["version"], data["room"]["name"]) == ("chatsite.room-export", 1, "Launch <plans>")
    assert {m["user"]["username"] for m in data["members"]} == {"alice", "bob", "carol"}
    messages = data["messages"]
    assert [m["seq"] for m in messages] == sorted(m["seq"] for m in messages) and messages[-1]["seq"] <= data["through_seq"]
    assert len(messages) == team.messages.count()
    plan = next(m for m in messages if m["content"] and "final plan" in m["content"])
    assert plan["edits"][0]["content"].startswith("the **plan**") and plan["is_edited"]
    assert plan["reactions"][0]["reaction"] == "👍"
    assert plan["attachment_file"] == f"files/{plan['attachment']['id']}/plan.png"
    assert archive.read(plan["attachment_file"]) == png_bytes()
    tombstone = next(m for m in messages if m["is_deleted"])
    assert tombstone["content"] is None and b"a secret that was deleted" not in archive.read("messages.json")
    reply = next(m for m in messages if m["content"] == "I do")
    root = next(m for m in messages if m["content"] == "who deploys?")
    assert reply["thread"] == root["id"] and root["thread_summary"]["reply_count"] == 1
    page = archive.read("index.html").decode()
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "Launch &lt;plans&gt;" in page
    assert "default-src 'none'" in page and 'href="files/' in page and "This message was deleted." in page


def test_who_may_export_and_download_and_for_how_long(alice, bob, carol, team, moderator):
    assert_error(client_for(bob).post(f"/api/rooms/{team.pk}/export/", {}, format="json"), 403, "not_room_admin")
    export = start(alice, f"/api/rooms/{team.pk}/export/")
    again = start(alice, f"/api/rooms/{team.pk}/export/")
    assert again["id"] == export["id"]  # asked twice while running: one export
    jobs.run_pending()
    export = client_for(alice).get(f"/api/exports/{export['id']}/").json()
    assert_error(client_for(bob).get(f"/api/exports/{export['id']}/"), 404, "export_not_found")
    assert_error(client_for(bob).get(export["download"]), 404, "export_not_found")
    assert client_for(bob).get("/api/exports/").json() == []
    assert [e["id"] for e in client_for(alice).get("/api/exports/").json()] == [export["id"]]
    archive = zip_of(alice, export)
    assert "files/" not in " ".join(archive.namelist())  # no attachments asked for
    plan = next(m for m in json.loads(archive.read("messages.json"))["messages"] if m.get("attachment"))
    assert plan["attachment_file"] is None and plan["attachment_left_out"] == "over the size chosen for the export"

    staff = start(moderator, f"/api/rooms/{team.pk}/export/")  # site moderators export any room
    assert staff["id"] != export["id"]

    Job.objects.filter(pk=export["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(client_for(alice).get(export["download"]), 410, "export_expired")
    path = Job.objects.get(pk=export["id"]).result["file"]
    call_command("purge_chat_retention", stdout=io.StringIO())
    from chat.exports.writer import result_path

    assert not result_path(path).exists()
    assert client_for(alice).get(f"/api/exports/{export['id']}/").json()["download"] is None


def test_bad_requests_are_refused_by_name(alice, team):
    url = f"/api/rooms/{team.pk}/export/"
    assert_error(client_for(alice).post(url, {"attachments_bytes": -1}, format="json"), 400, fields=("attachments_bytes",))
    assert_error(client_for(alice).post(url, {"attachments_bytes": "lots"}, format="json"), 400, fields=("attachments_bytes",))
    assert_error(client_for(alice).post(url, {"attachments_bytes": 10**13}, format="json"), 400, "invalid_attachments_bytes")
    assert_error(client_for(alice).post("/api/rooms/00000000-0000-0000-0000-000000000000/export/", {}, format="json"), 404)
    assert_error(client_for(alice).get("/api/exports/00000000-0000-0000-0000-000000000000/"), 404, "export_not_found")
    running = start(alice, url)
    assert_error(client_for(alice).get(f"/api/exports/{running['id']}/download/"), 404, "export_not_ready")
    assert client_for(alice).delete(f"/api/exports/{running['id']}/").status_code == 204
    assert client_for(alice).get(f"/api/exports/{running['id']}/").json()["state"] == "cancelled"


def test_my_own_data(alice, bob, team):
    commands.message_save(actor=bob, message_id=team.messages.filter(message_type="text", is_deleted=False).first().pk)
    user_block(blocker=bob, blocked=alice)
    export = start(bob, "/api/exports/me/", attachments_bytes=10_000)
    jobs.run_pending()
    export = client_for(bob).get(f"/api/exports/{export['id']}/").json()
    archive = zip_of(bob, export)
    data = json.loads(archive.read("data.json"))
    assert (data["schema"], data["profile"]["username"]) == ("chatsite.personal-export", "bob")
    assert [m["content"] for m in data["messages"]] == ["the **final plan** <script>alert(1)</script>"]
    assert {m["room"]["name"] for m in data["memberships"]} == {"Launch <plans>"}
    assert data["memberships"][0]["read_position_seq"] >= 0
    assert data["uploads"][0]["name"] == "plan.png" and archive.read(data["uploads"][0]["file"]) == png_bytes()
    assert len(data["saved_messages"]) == 1 and data["blocked"][0]["user"]["username"] == "alice"
    assert "I do" not in archive.read("data.json").decode()  # others' messages are not mine to take
    assert_error(client_for(alice).get(export["download"]), 404, "export_not_found")


def test_the_admin_action_and_the_command_line(alice, team, moderator, tmp_path):
    from django.test import Client

    admin = Client()
    admin.force_login(moderator)
    response = admin.post("/admin/chat/chatroom/", {"action": "export_rooms", "_selected_action": [str(team.pk)], "reason": ""}, follow=True)
    assert response.status_code == 200 and b"Started 1 export" in response.content
    job = Job.objects.get(owner=moderator, kind="room.export")
    jobs.run_pending()
    listing = admin.get("/admin/core/job/")
    assert f"/api/exports/{job.pk}/download/".encode() in listing.content
    assert admin.get(f"/api/exports/{job.pk}/download/").status_code == 200

    target = tmp_path / "out.zip"
    out = io.StringIO()
    call_command("export_room", str(team.pk), str(target), stdout=out)
    assert "Wrote" in out.getvalue()
    assert json.loads(zipfile.ZipFile(target).read("messages.json"))["room"]["id"] == str(team.pk)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_an_export_is_taken_over_and_the_export_is_complete(alice, bob, tmp_path, settings):
    from django.db import connection

    from chat.tests import live

    room = group_room(alice, bob, name="Big")
    from chat.models import ChatMessage

    first = send(room, bob, "message 0")
    # 1,500 more copies in SQL (the services would take a minute), with their seqs.
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO chat_chatmessage (id, created_at, updated_at, seq, message_type, content_encrypted, html_encrypted,
                   mentions_encrypted, extra_metadata, client_msg_id, is_edited, is_deleted, is_flagged, flag_reason,
                   sender_id, room_id, also_in_room, thread_reply_count, thread_participant_ids)
               SELECT gen_random_uuid(), now(), now(), m.seq + s, m.message_type, m.content_encrypted, m.html_encrypted,
                   m.mentions_encrypted, m.extra_metadata, NULL, false, false, false, '', m.sender_id, m.room_id, false, 0, '[]'::jsonb
               FROM chat_chatmessage m, generate_series(1, 1500) AS s WHERE m.id = %s""",
            [first.pk],
        )
        cursor.execute("UPDATE chat_chatroom SET seq = seq + 1500 WHERE id = %s", [room.pk])
    total = ChatMessage.objects.filter(room=room).count()
    export = commands.room_export_start(actor=alice, room_id=room.pk)
    env = live.server_env(
        database=live.database_url(connection.settings_dict),
        redis=settings.REDIS_URL,
        tmp=tmp_path,
        CHAT_EXPORT_BATCH="10",
        CHAT_JOB_LEASE_SECONDS="2",
    )

    def start_worker(name):
        command = [sys.executable, "manage.py", "notification_worker", "--poll", "0.2"]
        return live.Server(name, command, log_path=tmp_path / f"{name}.log", env=env, cwd=live.PROJECT_DIR).start()

    first_worker = start_worker("worker-1")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            export.refresh_from_db()
            if export.progress >= 20:
                break
            time.sleep(0.05)
        first_worker.stop(signal.SIGKILL)
    finally:
        first_worker.stop()
    export.refresh_from_db()
    assert export.state == JobState.RUNNING and 20 <= export.progress < 100, (export.state, export.progress, first_worker.describe())
    killed_at = export.checkpoint["after_seq"]

    second = start_worker("worker-2")
    try:
        deadline = time.monotonic() + 90
        while export.state != JobState.DONE and time.monotonic() < deadline:
            time.sleep(0.2)
            export.refresh_from_db()
    finally:
        second.stop()
    assert export.state == JobState.DONE and export.attempts == 2, second.describe()
    media = tmp_path / "media" / "exports" / export.result["file"]
    messages = json.loads(zipfile.ZipFile(media).read("messages.json"))["messages"]
    seqs = [m["seq"] for m in messages]
    assert len(messages) == total and seqs == sorted(set(seqs))  # every message once, in order
    assert killed_at < seqs[-1]
    assert "going on from its checkpoint" in (tmp_path / "worker-2.log").read_text()
