"""The browser UI in a real browser: Debian's Chromium driven by Playwright,
against a real daphne with real Redis and PostgreSQL.

Users and rooms are made in the test process (committed: ``transaction=True``)
and everything else happens in the pages, over HTTP and the one WebSocket per
page, exactly as for a person. Helpers are in ui_helpers.py.
"""

import io
import json
import os
import re
import time
import urllib.request
from pathlib import Path

import pytest

from chat.tests import ui_helpers as ui
from chat.tests.factories import group_room, send

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

LIVE = 1500  # ms: what another person does shows up within this
CATCH_UP = 20000  # ms: after a server restart, the page's reconnect backoff included
PASSWORD = "correct horse battery staple"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - skipped below with the reason
    sync_playwright = expect = None


# --- fixtures ----------------------------------------------------------------
@pytest.fixture(scope="module")
def async_unsafe_allowed():
    # Playwright's sync API leaves an event loop marked as running in this
    # thread; the ORM calls of the test itself (and pytest-django's flush) are
    # still plain synchronous code. Only for this module.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory, async_unsafe_allowed):
    from django.conf import settings
    from django.db import connection

    ui.require("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    ui.require("Redis", bool(settings.REDIS_URL), "set REDIS_URL")
    ui.require("Playwright for Python", sync_playwright is not None, "pip install -r requirements.txt")
    ui.require("Chromium", ui.chromium_available(), "apt install chromium")
    folder = tmp_path_factory.mktemp("daphne")
    daphne = ui.Daphne(
        port=ui.free_port(), env=ui.server_environment(media_root=folder / "media"), log_path=folder / "daphne.log"
    )
    daphne.start()
    yield daphne
    daphne.stop()


@pytest.fixture(scope="module")
def browser(server):
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=ui.CHROMIUM, args=ui.CHROMIUM_ARGS, timeout=30000)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def server_side():
    worker = ui.ServerSide()
    yield worker
    worker.close()


@pytest.fixture
def open_page(browser, server, server_side):
    """open_page(user, path="/", **context_options) -> (page, watch), logged in as user."""
    contexts = []

    def open_(user=None, path="/", *, chat=True, **options):
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(base_url=server.url, **options)
        context.set_default_timeout(5000)
        contexts.append(context)
        if user is not None:
            context.add_cookies([server_side(ui.session_cookie, user, server.url)])
        page = context.new_page()
        watch = ui.PageWatch(page)
        page.goto(path)
        if user is not None and chat:
            expect(page.locator("body[data-connection=live]")).to_be_attached(timeout=10000)
        return page, watch

    yield open_
    for context in contexts:
        context.close()
    if contexts:
        # What the pages sent last (a read, a typing notice) may still be in the
        # server's hands: let it finish before the database is flushed, or the
        # flush's TRUNCATE and that write can deadlock.
        time.sleep(0.5)


def artifact(page, name):
    """Extra screenshots for a person to look at, when CHAT_UI_ARTIFACTS names a folder."""
    folder = os.environ.get("CHAT_UI_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name))


@pytest.fixture
def restartable_server(server):
    """The server, for a test that stops and starts it: running again afterwards,
    for the next tests, whatever happened."""
    yield server
    if not server.alive:
        server.start()


def room_url(room) -> str:
    return f"/#room/{room.pk}"


def message(page, text):
    """The list item of the (one) message whose body is exactly ``text``."""
    return page.locator("#messages .msg").filter(has=page.locator(".msg-body").get_by_text(text, exact=True))


def compose(page, text):
    box = page.get_by_role("textbox", name="Message", exact=True)
    box.fill(text)
    box.press("Enter")


# --- tests --------------------------------------------------------------------
def test_sign_up_log_out_and_log_in_with_csrf_protected_forms(open_page, server_side):
    page, watch = open_page(None, "/")
    assert page.url.endswith("/accounts/login/?next=/")
    response = page.goto("/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "connect-src 'self' ws://127.0.0.1:" in policy

    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Display name").fill("Erin Example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Sign up", exact=True).click()
    expect(page.locator("#me-name")).to_have_text("Erin Example")
    expect(page.locator("body[data-connection=live]")).to_be_attached(timeout=10000)
    expect(page.get_by_text("No rooms here yet")).to_be_visible()

    page.get_by_role("button", name="Log out", exact=True).click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.locator("#me-name")).to_have_text("Erin Example")

    # A form posted without the CSRF token is refused.
    status = page.evaluate(
        """async () => (await fetch('/api/rooms/', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                   body: JSON.stringify({name: 'x'})})).status"""
    )
    assert status == 403
    watch.assert_clean(allow=("status of 403", "status of 400"))


def test_two_people_chat_live_with_edit_delete_reactions_and_replies(open_page, alice, bob, server_side):
    room = server_side(group_room, alice, bob, name="Team")
    bob_page, bob_watch = open_page(bob, room_url(room))
    alice_page, alice_watch = open_page(alice, room_url(room))
    expect(bob_page.locator("#room-name")).to_have_text("Team")
    expect(bob_page.locator("#room-status")).to_contain_text("2 online", timeout=LIVE)

    alice_box = alice_page.get_by_role("textbox", name="Message", exact=True)
    alice_box.press_sequentially("Hello Bob")
    expect(bob_page.locator("#typing")).to_have_text("Alice is typing…", timeout=LIVE)
    alice_box.press("Enter")
    expect(message(alice_page, "Hello Bob")).to_be_visible()
    expect(message(bob_page, "Hello Bob")).to_be_visible(timeout=LIVE)
    expect(bob_page.locator("#typing")).to_have_text("", timeout=LIVE)

    alice_box.fill("line one")
    alice_box.press("Shift+Enter")
    alice_box.press_sequentially("line two")
    alice_box.press("Enter")
    expect(message(bob_page, "line one\nline two")).to_be_visible(timeout=LIVE)

    # Bob replies to Alice's first message, quoting it.
    hello = message(bob_page, "Hello Bob")
    hello.hover()
    hello.get_by_role("button", name="Reply", exact=True).click()
    expect(bob_page.locator("#reply-text")).to_have_text("Replying to Alice: Hello Bob")
    compose(bob_page, "Hi Alice")
    reply = message(alice_page, "Hi Alice")
    expect(reply).to_be_visible(timeout=LIVE)
    expect(reply.locator(".msg-quote")).to_contain_text("Hello Bob")

    # Bob reacts; Alice sees the count.
    hello.hover()
    hello.get_by_role("button", name="React", exact=True).click()
    bob_page.get_by_role("button", name="React with 👍").click()
    expect(message(alice_page, "Hello Bob").locator(".chip")).to_have_text("👍 1", timeout=LIVE)
    expect(hello.locator(".chip")).to_have_attribute("aria-pressed", "true")

    # Alice edits her message; Bob sees the new text, marked edited.
    mine = message(alice_page, "Hello Bob")
    mine.hover()
    mine.get_by_role("button", name="Edit", exact=True).click()
    editor = alice_page.get_by_role("textbox", name="Edit message")
    editor.fill("Hello Bob, welcome")
    editor.press("Enter")
    edited = message(bob_page, "Hello Bob, welcome")
    expect(edited).to_be_visible(timeout=LIVE)
    expect(edited.locator(".msg-flag")).to_have_text("(edited)")
    expect(edited.locator(".chip")).to_have_text("👍 1")

    # Read positions: Alice sees that Bob has seen her messages.
    expect(alice_page.locator(".msg-seen:visible")).to_have_text("Seen by Bob", timeout=LIVE)

    # Alice deletes a message; Bob sees it go.
    two_lines = message(alice_page, "line one\nline two")
    two_lines.hover()
    two_lines.get_by_role("button", name="Delete", exact=True).click()
    alice_page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
    expect(message(bob_page, "line one\nline two")).to_have_count(0, timeout=LIVE)
    expect(message(bob_page, "Message deleted")).to_have_count(1)

    alice_box.fill("Shall we ship it on Friday?")
    alice_box.press("Enter")
    expect(message(bob_page, "Shall we ship it on Friday?")).to_be_visible(timeout=LIVE)
    expect(message(alice_page, "Shall we ship it on Friday?").locator(".msg-seen")).to_have_text("Seen by Bob", timeout=LIVE)
    expect(alice_page.locator(".msg-seen:visible")).to_have_count(1)
    alice_watch.assert_clean()
    bob_watch.assert_clean()


def test_a_message_posted_over_rest_and_one_deleted_in_admin_appear_live(open_page, alice, bob, moderator, server, server_side):
    from rest_framework_simplejwt.tokens import AccessToken

    room = server_side(group_room, alice, bob, name="Ops")
    alice_page, watch = open_page(alice, room_url(room))

    request = urllib.request.Request(
        f"{server.url}/api/rooms/{room.pk}/messages/",
        data=json.dumps({"content": "Posted through the REST API", "client_msg_id": "rest-1"}).encode(),
        headers={"Authorization": f"Bearer {AccessToken.for_user(bob)}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        posted = json.load(response)
    expect(message(alice_page, "Posted through the REST API")).to_be_visible(timeout=LIVE)
    expect(alice_page.locator(f'[data-room-id="{room.pk}"] .room-last')).to_have_text("Bob: Posted through the REST API")

    # A moderator deletes it with the admin action.
    admin_page, admin_watch = open_page(moderator, "/admin/chat/chatmessage/", chat=False)
    admin_page.locator(f'input[name="_selected_action"][value="{posted["id"]}"]').check()
    admin_page.locator('select[name="action"]').select_option("delete_messages")
    admin_page.get_by_role("button", name="Go", exact=True).click()
    expect(admin_page.get_by_text("Deleted 1 message.")).to_be_visible()
    expect(message(alice_page, "Posted through the REST API")).to_have_count(0, timeout=LIVE)
    expect(message(alice_page, "Message deleted")).to_be_visible()
    watch.assert_clean()


def test_file_upload_shows_an_image_preview_and_a_download(open_page, alice, bob, server_side):
    from PIL import Image

    room = server_side(group_room, alice, bob, name="Pictures")
    alice_page, alice_watch = open_page(alice, room_url(room))
    bob_page, bob_watch = open_page(bob, room_url(room))
    picture = io.BytesIO()
    Image.new("RGB", (64, 40), (220, 60, 40)).save(picture, "PNG")

    alice_page.locator("#file-input").set_input_files(
        files=[{"name": "sunset.png", "mimeType": "image/png", "buffer": picture.getvalue()}]
    )
    preview = alice_page.locator("#attachment-preview")
    expect(preview).to_be_visible()
    assert preview.get_attribute("src").startswith("blob:")
    compose(alice_page, "Look at this")

    image = message(bob_page, "Look at this").locator("img")
    expect(image).to_be_visible(timeout=LIVE)
    expect(image).to_have_attribute("alt", "sunset.png")
    bob_page.wait_for_function(
        "img => img.complete && img.naturalWidth === 64", arg=image.element_handle(), timeout=5000
    )
    expect(message(alice_page, "Look at this").locator("img")).to_have_attribute("src", image.get_attribute("src"))

    alice_page.locator("#file-input").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"minutes of the meeting\n"}]
    )
    expect(alice_page.locator("#attachment-text")).to_contain_text("notes.txt")
    compose(alice_page, "The notes")
    link = message(bob_page, "The notes").get_by_role("link", name="Download notes.txt")
    expect(link).to_be_visible(timeout=LIVE)
    download = bob_page.request.get(link.get_attribute("href"))
    assert download.ok and download.body() == b"minutes of the meeting\n"
    assert "attachment" in download.headers["content-disposition"]
    alice_watch.assert_clean()
    bob_watch.assert_clean()


def test_unread_badge_appears_live_and_clears_when_the_room_is_read(open_page, alice, bob, server_side):
    from chat import selectors

    beta = server_side(group_room, alice, bob, name="Beta")
    alpha = server_side(group_room, alice, bob, name="Alpha")
    alice_page, watch = open_page(alice, room_url(alpha))
    rooms = alice_page.locator("#room-list .room-item")
    expect(rooms.first).to_contain_text("Alpha")
    badge = alice_page.locator(f'[data-room-id="{beta.pk}"] .badge')
    expect(badge).to_have_count(0)

    server_side(send, beta, bob, "First news")
    server_side(send, beta, bob, "Second news")
    expect(badge).to_have_text("2 unread", timeout=LIVE)
    expect(rooms.first).to_contain_text("Beta")
    expect(rooms.first.locator(".room-last")).to_have_text("Bob: Second news")

    rooms.first.click()
    expect(message(alice_page, "Second news")).to_be_visible()
    server_side.wait_for(lambda: selectors.unread_count(room=beta, user=alice) == 0, what="the read position to be saved")
    # Back in the other room, Beta has no badge, also after a reload.
    alice_page.locator(f'[data-room-id="{alpha.pk}"]').click()
    expect(alice_page.locator("#room-name")).to_have_text("Alpha")
    expect(badge).to_have_count(0)
    alice_page.reload()
    expect(alice_page.locator("body[data-connection=live]")).to_be_attached(timeout=10000)
    expect(alice_page.locator(f'[data-room-id="{beta.pk}"]')).to_be_visible()
    expect(badge).to_have_count(0)
    watch.assert_clean()


def _open_room_then_stop_server(open_page, server, server_side, reader, writer, *, name, first):
    """A room with one message, open in the reader's page; then the server stops
    and the page says it is reconnecting."""
    room = server_side(group_room, reader, writer, name=name)
    server_side(send, room, writer, first)
    page, watch = open_page(reader, room_url(room))
    expect(message(page, first)).to_be_visible()
    server.stop()
    expect(page.locator("#connection-banner")).to_be_visible(timeout=5000)
    return room, page, watch


def test_page_catches_up_after_the_server_restarts(open_page, alice, bob, restartable_server, server_side):
    from chat.models import ChatMessage
    from chat.events.render import message_content

    server = restartable_server
    room, alice_page, watch = _open_room_then_stop_server(
        open_page, server, server_side, alice, bob, name="Resilient", first="Before the restart"
    )
    banner = alice_page.locator("#connection-banner")
    expect(banner).to_contain_text("Reconnecting")
    server_side(send, room, bob, "Sent while you were away")
    server_side(send, room, bob, "And one more")
    compose(alice_page, "Written while offline")
    expect(message(alice_page, "Written while offline")).to_contain_text("Waiting for the connection")

    server.start()
    expect(message(alice_page, "Sent while you were away")).to_be_visible(timeout=CATCH_UP)
    expect(message(alice_page, "And one more")).to_be_visible()
    expect(banner).to_be_hidden()
    expect(message(alice_page, "Written while offline")).not_to_contain_text("Waiting", timeout=5000)

    def sent_by_alice():
        texts = [
            message_content(m)
            for m in ChatMessage.objects.filter(room=room, sender=alice, message_type="text").order_by("seq")
        ]
        return texts if "Written while offline" in texts else None

    assert server_side.wait_for(sent_by_alice, what="Alice's queued message") == ["Written while offline"]
    # No duplicates, no gaps, and the socket is live again.
    for text in ["Before the restart", "Sent while you were away", "And one more", "Written while offline"]:
        expect(message(alice_page, text)).to_have_count(1)
    server_side(send, room, bob, "Welcome back")
    expect(message(alice_page, "Welcome back")).to_be_visible(timeout=LIVE)
    # The browser reports the refused reconnects while the server was down.
    watch.assert_clean(allow=("WebSocket connection", "ERR_CONNECTION_REFUSED"))


def test_page_refetches_a_room_whose_log_was_purged_while_it_was_away(open_page, alice, bob, restartable_server, server_side):
    from django.db.models import F

    from chat.models import ChatRoom, RoomEvent

    server = restartable_server
    room, alice_page, watch = _open_room_then_stop_server(
        open_page, server, server_side, alice, bob, name="Purged", first="Old news"
    )
    server_side(send, room, bob, "Missed while away")
    server_side(send, room, bob, "Also missed")

    def purge():
        # What purge_chat_retention does to old events: the page's last seq is no longer in the log.
        ChatRoom.objects.filter(pk=room.pk).update(events_purged_through=F("seq"))
        RoomEvent.objects.filter(room=room).delete()

    server_side(purge)
    server.start()
    expect(message(alice_page, "Missed while away")).to_be_visible(timeout=CATCH_UP)
    expect(message(alice_page, "Also missed")).to_be_visible()
    for text in ["Old news", "Missed while away", "Also missed"]:
        expect(message(alice_page, text)).to_have_count(1)
    server_side(send, room, bob, "Live again")
    expect(message(alice_page, "Live again")).to_be_visible(timeout=LIVE)
    watch.assert_clean(allow=("WebSocket connection", "ERR_CONNECTION_REFUSED"))


def test_new_chat_starts_a_direct_chat_a_group_and_a_support_chat(open_page, alice, bob, carol, make_user):
    make_user(username="dave", display_name="Dave", is_support_agent=True)
    bob_page, bob_watch = open_page(bob, "/")
    alice_page, alice_watch = open_page(alice, "/")
    dialog = alice_page.get_by_role("dialog")

    alice_page.get_by_role("button", name="New chat", exact=True).click()
    dialog.get_by_label("Find a person").fill("bo")
    dialog.get_by_role("button", name="Message Bob", exact=True).click()
    expect(alice_page.locator("#room-name")).to_have_text("Bob")
    compose(alice_page, "Hi from the directory")
    direct = bob_page.locator('#room-list [data-type="direct"]')
    expect(direct).to_contain_text("Alice", timeout=LIVE)
    expect(direct.locator(".badge")).to_have_text("1 unread", timeout=LIVE)

    alice_page.get_by_role("button", name="New chat", exact=True).click()
    dialog.get_by_role("tab", name="New group").click()
    dialog.get_by_label("Name", exact=True).fill("Launch")
    dialog.get_by_label("Add people").fill("")
    dialog.get_by_role("button", name="Add Bob", exact=True).click()
    dialog.get_by_role("button", name="Add Carol", exact=True).click()
    expect(dialog).to_contain_text("Adding: Bob, Carol")
    artifact(alice_page, "new-chat.png")
    dialog.get_by_role("button", name="Create group", exact=True).click()
    expect(alice_page.locator("#room-name")).to_have_text("Launch")
    expect(alice_page.locator("#room-status")).to_contain_text("3 members")
    expect(bob_page.locator('#room-list [data-type="group"]')).to_contain_text("Launch", timeout=LIVE)

    alice_page.get_by_role("button", name="New chat", exact=True).click()
    dialog.get_by_role("tab", name="Support").click()
    dialog.get_by_role("button", name="Open my support chat").click()
    expect(alice_page.locator("#room-name")).to_have_text("Support: Alice")
    expect(alice_page.locator("#room-status")).to_contain_text("2 members")

    rooms = alice_page.locator("#room-list .room-item")
    expect(rooms).to_have_count(3)
    alice_page.get_by_label("Show rooms of type").select_option("direct")
    expect(rooms).to_have_count(1)
    expect(rooms).to_contain_text("Bob")
    alice_page.get_by_label("Show rooms of type").select_option("group")
    expect(rooms).to_have_text(re.compile("Launch"))
    alice_watch.assert_clean()
    bob_watch.assert_clean()


def test_script_like_message_is_shown_as_text(open_page, alice, bob, server_side):
    room = server_side(group_room, alice, bob, name="Safety")
    alice_page, alice_watch = open_page(alice, room_url(room))
    bob_page, bob_watch = open_page(bob, room_url(room))
    payload = "<img src=x onerror=alert(1)><script>alert(2)</script>"

    compose(alice_page, payload)
    expect(message(bob_page, payload)).to_be_visible(timeout=LIVE)
    expect(bob_page.locator(f'[data-room-id="{room.pk}"] .room-last')).to_have_text(f"Alice: {payload}")
    for page in (alice_page, bob_page):
        assert page.locator('#messages img[src="x"], #messages script').count() == 0
    bob_page.wait_for_timeout(300)  # an onerror handler would have fired by now
    alice_watch.assert_clean()
    bob_watch.assert_clean()


def test_room_admin_mutes_a_member_who_sees_the_server_refuse(open_page, alice, bob, carol, server_side):
    room = server_side(group_room, bob, alice, name="Moderated")
    bob_page, bob_watch = open_page(bob, room_url(room))
    alice_page, alice_watch = open_page(alice, room_url(room))

    bob_page.get_by_role("button", name="Members", exact=True).click()
    panel = bob_page.get_by_role("complementary", name="Room details")
    expect(panel.get_by_text("Alice", exact=True)).to_be_visible()
    panel.get_by_label("How long to mute Alice").select_option("60")
    panel.get_by_role("button", name="Mute Alice").click()
    expect(panel.locator(".member-note")).to_contain_text("Muted until", timeout=LIVE)

    expect(alice_page.locator("#composer-note")).to_contain_text("You are muted in this room", timeout=LIVE)
    artifact(bob_page, "members.png")
    compose(alice_page, "Let me speak")
    expect(alice_page.get_by_role("alert").filter(has_text="Message not sent")).to_contain_text("muted", timeout=LIVE)
    expect(message(alice_page, "Let me speak")).to_contain_text("Not sent")
    expect(message(bob_page, "Let me speak")).to_have_count(0)

    panel.get_by_role("button", name="Unmute Alice").click()
    expect(alice_page.locator("#composer-note")).to_be_hidden(timeout=LIVE)
    message(alice_page, "Let me speak").get_by_role("button", name="Retry").click()
    expect(message(bob_page, "Let me speak")).to_be_visible(timeout=LIVE)

    # Roles change live too: as an admin, Alice gets the room settings.
    alice_page.get_by_role("button", name="Members", exact=True).click()
    alice_panel = alice_page.get_by_role("complementary", name="Room details")
    expect(alice_panel.get_by_role("button", name="Save settings")).to_have_count(0)
    # Bob was online before Alice's page connected: the panel knows it all the same.
    expect(alice_panel.locator(f'[data-user-id="{bob.pk}"] .presence-dot')).to_have_class("presence-dot online")
    panel.get_by_label("Role of Alice").select_option("admin")
    expect(alice_panel.get_by_role("button", name="Save settings")).to_be_visible(timeout=LIVE)
    expect(alice_panel.locator(f'[data-user-id="{alice.pk}"] .member-role')).to_have_text("admin")

    # Adding and banning a member, renaming the room: everyone sees it.
    panel.get_by_label("Find people to add").fill("car")
    panel.get_by_role("button", name="Add Carol", exact=True).click()
    expect(alice_page.locator("#room-status")).to_contain_text("3 members", timeout=LIVE)
    expect(alice_panel.get_by_text("Carol", exact=True)).to_be_visible()
    panel.get_by_role("button", name="Ban Carol", exact=True).click()
    bob_page.get_by_role("dialog").get_by_role("button", name="Ban", exact=True).click()
    # Gone from the members (Alice, an admin now, sees her in the banned list
    # below, which may be drawn first: look in the member list only).
    expect(alice_panel.locator("#member-list").get_by_text("Carol", exact=True)).to_have_count(0, timeout=LIVE)
    expect(message(alice_page, "Carol was banned")).to_be_visible()
    banned = panel.locator("#banned-list")
    expect(banned.get_by_text("Carol", exact=True)).to_be_visible(timeout=LIVE)
    expect(alice_panel.locator("#banned-list")).to_contain_text("Carol")  # Alice is an admin now
    banned.get_by_role("button", name="Unban Carol").click()
    expect(panel.locator("#banned-section")).to_contain_text("Nobody is banned.", timeout=LIVE)
    panel.get_by_label("Name", exact=True).fill("Moderation")
    panel.get_by_role("button", name="Save settings").click()
    expect(alice_page.locator("#room-name")).to_have_text("Moderation", timeout=LIVE)
    expect(alice_page.locator(f'[data-room-id="{room.pk}"] .room-name')).to_have_text("Moderation")
    alice_watch.assert_clean()
    bob_watch.assert_clean()


def test_phone_width_history_scrolls_back_and_search_jumps_to_a_message(open_page, alice, bob, server_side, no_rate_limits):
    # 70 messages made at once for the history (the factories send as people do, rate-limited).
    def busy_room():
        room = group_room(alice, bob, name="History")
        for number in range(1, 71):
            send(room, bob if number % 2 else alice, f"Message number {number}")
        return room

    room = server_side(busy_room)
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    page, watch = open_page(alice, "/", **phone)
    expect(page.locator("#room-list")).to_be_visible()
    expect(page.locator("#main")).to_be_hidden()
    artifact(page, "rooms-phone.png")
    page.locator(f'[data-room-id="{room.pk}"]').click()
    expect(page.locator("#room-list")).to_be_hidden()
    expect(message(page, "Message number 70")).to_be_visible()
    expect(message(page, "Message number 1")).to_have_count(0)

    # Scrolling up loads the older page.
    page.locator("#messages-scroll").evaluate("el => { el.scrollTop = 0; }")
    expect(message(page, "Message number 1")).to_be_attached(timeout=5000)
    assert page.locator("#messages .msg").count() >= 70

    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("searchbox", name="Search in this room").fill("number 42")
    page.get_by_role("searchbox", name="Search in this room").press("Enter")
    result = page.locator("#search-results button").filter(has_text="Message number 42")
    expect(result).to_be_visible()
    result.click()
    expect(message(page, "Message number 42")).to_have_class(re.compile(r"\bhighlight\b"))
    artifact(page, "room-phone.png")

    page.get_by_role("link", name="Back to rooms").click()
    expect(page.locator("#room-list")).to_be_visible()
    watch.assert_clean()
