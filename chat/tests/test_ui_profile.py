"""The profile dialog in the browser: a picture others see beside my messages
and in the member list, times in my chosen zone, the password validators'
words, and "log out everywhere else" signing out my other browser."""

import io

import pytest
from PIL import Image

from chat.tests.factories import group_room, send
from chat.tests.test_ui import LIVE, artifact, message, room_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None


def picture() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (240, 160), (20, 160, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def open_profile(page):
    page.locator("#profile-toggle").click()
    dialog = page.get_by_role("dialog", name="Your profile")
    expect(dialog).to_be_visible()
    return dialog


def test_my_picture_is_shown_to_others_beside_my_messages_and_in_the_members(open_page, alice, bob, server_side):
    room = server_side(lambda: group_room(alice, bob, name="Faces"))
    page, watch = open_page(alice, room_url(room))
    other, other_watch = open_page(bob, room_url(room))

    dialog = open_profile(page)
    dialog.get_by_label("Picture (PNG, JPEG, GIF or WebP; cropped to a square)").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": picture()}
    )
    expect(dialog.locator("#profile-note")).to_have_text("Picture saved.", timeout=LIVE * 3)
    expect(dialog.locator("#profile-avatar-preview img")).to_be_visible()
    expect(page.locator("#profile-toggle .avatar img")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    page.get_by_role("textbox", name="Message", exact=True).fill("a face now")
    page.get_by_role("textbox", name="Message", exact=True).press("Enter")

    mine = message(other, "a face now")
    picture_there = mine.locator(".avatar img")
    expect(picture_there).to_be_visible(timeout=LIVE * 3)
    assert f"/api/users/{alice.pk}/avatar/" in picture_there.get_attribute("src")
    other.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=picture_there.element_handle())
    other.locator("#details-toggle").click()
    member = other.locator(f'#member-list [data-user-id="{alice.pk}"] .avatar img')
    expect(member).to_be_visible(timeout=LIVE * 3)
    artifact(other, "profile-avatar-in-messages-and-members.png")
    watch.assert_clean()
    other_watch.assert_clean()


def test_times_are_shown_in_the_time_zone_i_choose(open_page, alice, bob, server_side):
    from datetime import UTC, datetime

    from chat.models import ChatMessage

    room = server_side(lambda: group_room(alice, bob, name="Zones"))

    def history():
        old = send(room, bob, "at noon in London")
        ChatMessage.objects.filter(pk=old.pk).update(created_at=datetime(2025, 1, 15, 23, 30, tzinfo=UTC))

    server_side(history)
    page, watch = open_page(alice, room_url(room), timezone_id="UTC", locale="en-US")
    sent = message(page, "at noon in London")
    expect(sent.locator("time").first).to_have_text("Jan 15, 11:30 PM", timeout=LIVE * 3)

    dialog = open_profile(page)
    dialog.get_by_label("Time zone for the times shown").fill("Asia/Tokyo")
    dialog.get_by_role("button", name="Save time zone").click()
    expect(dialog.locator("#time-zone-note")).to_have_text("Times are shown in Asia/Tokyo.", timeout=LIVE * 3)
    dialog.get_by_role("button", name="Close").click()

    expect(sent.locator("time").first).to_have_text("Jan 16, 08:30 AM")
    expect(page.locator("#messages .day-divider").filter(has_text="January")).to_have_text("Thursday, January 16, 2025")
    page.reload()
    expect(page.locator("body[data-connection=live]")).to_be_attached(timeout=10000)
    expect(message(page, "at noon in London").locator("time").first).to_have_text("Jan 16, 08:30 AM", timeout=LIVE * 3)

    dialog = open_profile(page)
    dialog.get_by_label("Time zone for the times shown").fill("Mars/Olympus_Mons")
    dialog.get_by_role("button", name="Save time zone").click()
    expect(dialog.locator("#time-zone-note")).to_have_text("Not saved: unknown time zone.")
    expect(dialog.get_by_label("Time zone for the times shown")).to_have_attribute("aria-invalid", "true")
    watch.assert_clean()


def test_a_weak_new_password_is_refused_with_the_validators_words(open_page, alice, server_side):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from accounts.models import User

    # The server checks passwords with its own hashers (the tests' MD5 is not among them).
    hashed = PBKDF2PasswordHasher().encode("correct horse battery staple", "profilesalt", iterations=1000)
    server_side(lambda: User.objects.filter(pk=alice.pk).update(password=hashed))
    alice.password = hashed  # the session cookie is made from this object
    # On a phone, in dark mode.
    page, watch = open_page(alice, viewport={"width": 390, "height": 844}, color_scheme="dark")

    dialog = open_profile(page)
    dialog.get_by_label("Current password").fill("correct horse battery staple")
    dialog.get_by_label("New password").fill("password123")
    dialog.get_by_role("button", name="Change password").click()

    expect(dialog.locator("#password-note")).to_contain_text("This password is too common.", timeout=LIVE * 3)
    field = dialog.get_by_label("New password")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(dialog.locator("#password-new-error")).to_contain_text("This password is too common.")
    expect(field).to_be_focused()
    artifact(page, "profile-weak-password-phone-dark.png")
    watch.assert_clean(allow=("400",))


def test_log_out_everywhere_else_signs_out_my_other_browser(open_page, alice, server):
    page, watch = open_page(alice)
    elsewhere, _elsewhere_watch = open_page(alice)

    dialog = open_profile(page)
    sessions = dialog.locator("#sessions-list .session-item")
    expect(sessions).to_have_count(2, timeout=LIVE * 3)
    expect(dialog.locator("#sessions-list")).to_contain_text("This session")
    artifact(page, "profile-sessions.png")
    dialog.get_by_role("button", name="Log out everywhere else").click()
    page.get_by_role("dialog", name="Please confirm").get_by_role("button", name="Log out everywhere else").click()

    expect(elsewhere).to_have_url(f"{server.url}/accounts/login/?next=%2F", timeout=LIVE * 4)
    expect(page.get_by_role("dialog", name="Your profile").locator("#sessions-list .session-item")).to_have_count(1, timeout=LIVE * 3)
    expect(page.locator("body[data-connection=live]")).to_be_attached()
    page.reload()
    expect(page.locator("body[data-connection=live]")).to_be_attached(timeout=10000)
    watch.assert_clean()
