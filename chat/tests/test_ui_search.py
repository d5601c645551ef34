"""Search across all my rooms in the browser: prefixes, filters, results
grouped by room with the words marked, a result opening its room at it."""

import re

import pytest

from chat.tests.factories import group_room, send
from chat.tests.test_ui import LIVE, message

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None


def test_search_everywhere_groups_by_room_marks_the_words_and_jumps(open_page, alice, bob, carol, server_side, no_rate_limits):
    launch = server_side(lambda: group_room(alice, bob, carol, name="Launch"))
    design = server_side(lambda: group_room(alice, bob, name="Design"))
    hidden = server_side(lambda: group_room(carol, name="Carol alone"))

    def history():
        send(launch, bob, "the checklist for Friday")
        for n in range(40):
            send(launch, carol, f"filler {n}")
        send(design, bob, "check the colours")
        send(design, alice, "checking mine")
        send(hidden, carol, "checklist nobody else sees")

    server_side(history)
    page, watch = open_page(alice, "/")
    page.keyboard.press("Control+Shift+F")
    expect(page).to_have_url(re.compile(r"#search$"))
    box = page.get_by_role("searchbox", name="Search all your rooms")
    expect(box).to_be_focused()
    box.fill("check from:bob")
    box.press("Enter")
    expect(page.locator("#search-all-summary")).to_have_text("2 messages in 2 rooms")
    groups = page.locator("#search-all-results .search-group")
    expect(groups.locator(".search-room")).to_have_text(["Design · 1 message", "Launch · 1 message"])
    expect(groups.first.locator("mark.search-hit")).to_have_text(["check"])
    expect(groups.nth(1).locator("mark.search-hit")).to_have_text(["checklist"])

    box.fill("has:spaceship")
    box.press("Enter")
    expect(page.locator("#search-all-summary")).to_contain_text("has: is one of file, image, link")

    box.fill("checklist")
    box.press("Enter")
    expect(page.locator("#search-all-summary")).to_have_text("1 message in 1 room")  # not Carol's own room
    groups.first.locator(".mention-open").click()
    expect(page.locator("#room-name")).to_have_text("Launch")
    expect(message(page, "the checklist for Friday")).to_have_class(re.compile(r"\bhighlight\b"), timeout=LIVE)

    # The search in the open room speaks the same language.
    page.locator("#search-toggle").click()
    page.locator("#search-input").fill("fill from:carol")
    page.locator("#search-input").press("Enter")
    expect(page.locator("#search-summary")).to_have_text("40 messages found")
    expect(page.locator("#search-results mark.search-hit").first).to_have_text("filler")
    watch.assert_clean(allow=("status of 400",))  # the has:spaceship search, answered with its reason
