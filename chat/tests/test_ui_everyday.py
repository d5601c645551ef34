"""The small things of everyday chat in the browser: a draft survives a reload
and a room switch, and is gone once sent."""

import pytest

from chat.tests.factories import group_room
from chat.tests.test_ui import (  # noqa: F401 - fixtures of the browser tests
    LIVE,
    async_unsafe_allowed,
    browser,
    message,
    open_page,
    room_url,
    server,
    server_side,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None


def test_a_draft_is_kept_per_room_across_a_reload_and_gone_once_sent(open_page, alice, bob, server_side):  # noqa: F811
    first = server_side(lambda: group_room(alice, bob, name="First"))
    second = server_side(lambda: group_room(alice, bob, name="Second"))
    page, watch = open_page(alice, room_url(first))
    box = page.get_by_role("textbox", name="Message", exact=True)
    box.press_sequentially("half a **thought**")
    page.wait_for_timeout(500)  # kept a moment after the last key
    page.reload()
    expect(page.locator("body[data-connection=live]")).to_be_attached(timeout=10000)
    expect(box).to_have_value("half a **thought**")
    page.locator(f'[data-room-id="{second.pk}"]').click()
    expect(page.locator("#room-name")).to_have_text("Second")
    expect(box).to_have_value("")
    box.fill("for the second room")
    page.locator(f'[data-room-id="{first.pk}"]').click()
    expect(box).to_have_value("half a **thought**")
    box.press("Enter")
    expect(message(page, "half a thought")).to_be_visible(timeout=LIVE * 3)
    page.reload()
    expect(page.locator("body[data-connection=live]")).to_be_attached(timeout=10000)
    expect(box).to_have_value("")
    page.locator(f'[data-room-id="{second.pk}"]').click()
    expect(box).to_have_value("for the second room")  # kept when leaving the room, without waiting
    watch.assert_clean()
