"""Saved messages and invite links in the browser, between people."""

import re

import pytest

from chat.tests.factories import group_room, send
from chat.tests.test_ui import LIVE, message, room_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None


def test_a_saved_message_is_marked_in_every_tab_listed_in_saved_and_opens_its_room(open_page, alice, bob, server_side, no_rate_limits):
    team = server_side(lambda: group_room(alice, bob, name="Team"))
    other = server_side(lambda: group_room(alice, bob, name="Other"))
    server_side(lambda: send(team, alice, "the launch is on **Friday**"))
    for n in range(30):
        server_side(lambda n=n: send(other, alice, f"later message {n}"))
    page, watch = open_page(bob, room_url(team))
    second, _ = open_page(bob, room_url(team))

    item = message(page, "the launch is on Friday")
    item.click()  # shows the actions (also on a phone)
    item.get_by_role("button", name="Save", exact=True).click()
    expect(item.locator(".saved-flag")).to_have_text("🔖 Saved")
    expect(item.get_by_role("button", name="Saved", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(message(second, "the launch is on Friday").locator(".saved-flag")).to_be_visible(timeout=LIVE)  # my other tab

    page.get_by_role("button", name="Saved", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"#saved$"))
    listed = page.locator("#saved-list .mention-item")
    expect(listed).to_have_count(1)
    expect(listed.first).to_contain_text("Team")
    expect(listed.first).to_contain_text("the launch is on **Friday**")

    # Saved in the other tab while this one shows the list: it appears here.
    second.locator(f'[data-room-id="{other.pk}"]').click()
    late = message(second, "later message 29")
    late.click()
    late.get_by_role("button", name="Save", exact=True).click()
    expect(listed).to_have_count(2, timeout=LIVE)
    expect(listed.first).to_contain_text("later message 29")  # newest saved first

    listed.nth(1).locator(".mention-open").click()
    expect(page.locator("#room-name")).to_have_text("Team")
    expect(item).to_have_class("msg highlight", timeout=LIVE)

    page.goto("/#saved")
    expect(listed).to_have_count(2)
    listed.first.get_by_role("button", name="Remove the message from Alice from saved").click()
    expect(listed).to_have_count(1)
    expect(message(second, "later message 29").locator(".saved-flag")).to_have_count(0, timeout=LIVE)
    watch.assert_clean()


def test_an_admin_makes_an_invite_link_and_someone_joins_with_it_once(open_page, alice, bob, carol, make_user, server_side):
    team = server_side(lambda: group_room(alice, bob, name="Launch crew", description="Only the crew"))
    dave = server_side(lambda: make_user(username="dave", display_name="Dave"))
    page, watch = open_page(alice, room_url(team))
    page.locator("#details-toggle").click()
    section = page.locator("#invites-section")
    expect(section.get_by_role("heading", name="Invite links")).to_be_visible()
    section.get_by_label("Joins as").select_option("guest")
    section.get_by_label("Uses").select_option("1")
    section.get_by_role("button", name="Create link").click()
    field = section.get_by_role("textbox", name="Invite link")
    expect(field).to_have_count(1)
    expect(section.locator(".invite-item")).to_contain_text("Joins as a guest · 0 of 1 uses")
    link = field.input_value()
    assert "/invite/" in link

    # A member of the room sees no link tools.
    member_page, _ = open_page(bob, room_url(team))
    member_page.locator("#details-toggle").click()
    expect(member_page.locator("#members-heading")).to_be_visible()
    expect(member_page.locator("#invites-section")).to_be_empty()

    guest_page, guest_watch = open_page(carol, link, chat=False)
    expect(guest_page.get_by_role("heading", name="Join Launch crew")).to_be_visible()
    expect(guest_page.locator("main")).to_contain_text("Only the crew")
    expect(guest_page.locator("main")).to_contain_text("you join as a guest")
    guest_page.get_by_role("button", name="Join the room").click()
    expect(guest_page.locator("#room-name")).to_have_text("Launch crew", timeout=10000)
    expect(page.locator("#messages .msg.system").last).to_contain_text("Carol joined with an invite link", timeout=LIVE)

    late_page, _ = open_page(dave, link, chat=False)
    expect(late_page.get_by_role("heading", name="You cannot join with this link")).to_be_visible()
    expect(late_page.get_by_role("alert")).to_contain_text("used as many times as it allows")
    watch.assert_clean()
    guest_watch.assert_clean()
