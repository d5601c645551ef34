"""Exports in the browser: a room's from its details and my own data from the
profile, followed while the worker makes them, then downloaded."""

import json
import subprocess
import sys
import zipfile

import pytest

from chat.tests import ui_helpers as ui
from chat.tests.factories import group_room, send
from chat.tests.test_ui import message, room_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None


def run_worker(server):
    """One pass of the real worker, in the server's environment (its database and MEDIA_ROOT)."""
    done = subprocess.run(
        [sys.executable, "manage.py", "notification_worker", "--once"],
        env=server.env, cwd=ui.PROJECT_DIR, capture_output=True, text=True, timeout=60, check=True,
    )
    return done.stdout


def test_a_room_export_and_my_data_are_followed_and_downloaded(open_page, alice, bob, server, server_side, tmp_path):
    room = server_side(lambda: group_room(alice, bob, name="Launch"))
    server_side(lambda: send(room, bob, "the plan for **Friday**"))
    page, watch = open_page(alice, room_url(room))
    expect(message(page, "the plan for Friday")).to_be_visible()
    page.locator("#details-toggle").click()
    section = page.locator("#export-section")
    section.get_by_role("button", name="Export this room").click()
    expect(section.get_by_role("status")).to_have_text("Waiting for the worker…")
    expect(section.get_by_role("button", name="Export this room")).to_be_disabled()
    assert "jobs: 1" in run_worker(server)
    download_link = section.get_by_role("link", name="Download")
    expect(download_link).to_be_visible(timeout=5000)
    expect(section.get_by_role("status")).to_contain_text("it can be downloaded until")
    with page.expect_download() as got:
        download_link.click()
    path = tmp_path / "room.zip"
    got.value.save_as(path)
    data = json.loads(zipfile.ZipFile(path).read("messages.json"))
    assert data["room"]["name"] == "Launch" and "the plan for **Friday**" in [m["content"] for m in data["messages"]]

    # Bob is a member, not an admin: no export in his details.
    bob_page, _ = open_page(bob, room_url(room))
    bob_page.locator("#details-toggle").click()
    expect(bob_page.locator("#members-heading")).to_be_visible()
    expect(bob_page.locator("#export-section")).to_be_empty()

    page.locator("#profile-toggle").click()
    mine = page.locator("#my-data-section")
    mine.get_by_role("button", name="Export my data").click()
    expect(mine.get_by_role("status")).to_have_text("Waiting for the worker…")
    assert "jobs: 1" in run_worker(server)
    with page.expect_download() as got:
        mine.get_by_role("link", name="Download").click()
    got.value.save_as(tmp_path / "mine.zip")
    assert json.loads(zipfile.ZipFile(tmp_path / "mine.zip").read("data.json"))["profile"]["username"] == "alice"
    watch.assert_clean()
