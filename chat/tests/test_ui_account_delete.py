"""Deleting my account from the profile dialog (docs/data.md, "Deleting an
account"): I land on the login page with a notice and cannot log in again;
the people I talked with see my messages under "Deleted user …"."""

import pytest

from chat.tests.factories import group_room, send
from chat.tests.test_ui import LIVE, artifact, message, room_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None

PASSWORD = "correct horse battery staple"


def test_i_delete_my_account_and_others_see_my_messages_under_the_new_name(open_page, alice, bob, server, server_side):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from accounts.models import User

    # The server checks passwords with its own hashers (the tests' MD5 is not among them).
    hashed = PBKDF2PasswordHasher().encode(PASSWORD, "deletesalt", iterations=1000)
    server_side(lambda: User.objects.filter(pk=alice.pk).update(password=hashed))
    alice.password = hashed  # the session cookie is made from this object
    room = server_side(lambda: group_room(alice, bob, name="Farewell"))
    server_side(lambda: send(room, alice, "my last words"))
    page, watch = open_page(alice, room_url(room))
    other, other_watch = open_page(bob, room_url(room))
    expect(message(other, "my last words")).to_contain_text("Alice", timeout=LIVE * 3)

    page.locator("#profile-toggle").click()
    dialog = page.get_by_role("dialog", name="Your profile")
    section = dialog.locator("#delete-section")
    section.scroll_into_view_if_needed()
    expect(section.locator("#delete-account-what")).to_contain_text("Your messages stay where they are")
    # A wrong password deletes nothing.
    section.get_by_label("Your password").fill("not my password")
    section.get_by_label("Type delete to confirm").fill("delete")
    section.get_by_role("button", name="Delete my account").click()
    expect(section.locator("#delete-note")).to_have_text("Not deleted: the password is wrong.", timeout=LIVE * 3)
    expect(section.get_by_label("Your password")).to_have_attribute("aria-invalid", "true")

    section.get_by_label("Your password").fill(PASSWORD)
    section.get_by_role("button", name="Delete my account").click()

    expect(page).to_have_url(f"{server.url}/accounts/login/?account_deleted=1", timeout=LIVE * 4)
    expect(page.locator("#account-deleted-notice")).to_contain_text("Your account has been deleted.")
    artifact(page, "account-deleted-login.png")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".form-errors")).to_be_visible()
    assert "/accounts/login/" in page.url

    deleted_name = server_side(lambda: User.objects.get(pk=alice.pk).display_name)
    assert deleted_name.startswith("Deleted user ")
    # Bob's open page: Alice left the room (live); her message shows the new name after a reload.
    other.reload()
    expect(other.locator("body[data-connection=live]")).to_be_attached(timeout=10000)
    expect(message(other, "my last words")).to_contain_text(deleted_name, timeout=LIVE * 3)
    artifact(other, "account-deleted-seen-by-others.png")
    watch.assert_clean(allow=("400", "401"))
    other_watch.assert_clean()
