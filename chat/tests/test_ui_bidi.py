"""User text in the browser is isolated from what surrounds it: bidi controls
in a message cannot reorder the author's name, the time or the next line
(issue: "file\u202egnp.exe" showing as "fileexe.png")."""

import pytest

from chat.tests.factories import group_room, send
from chat.tests.test_ui import room_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None

TRICK = "see file\u202egnp.exe now"


def test_message_text_and_names_are_isolated(open_page, alice, bob, server_side):
    room = server_side(lambda: group_room(alice, bob, name="Bidi"))
    server_side(lambda: send(room, bob, TRICK))
    page, watch = open_page(alice, room_url(room))
    body = page.locator("#messages .msg .msg-body").filter(has_text="see file")
    expect(body).to_have_count(1, timeout=10000)
    assert body.get_attribute("dir") == "auto"
    # to_have_css retries: the room list is redrawn whenever something changes.
    expect(body).to_have_css("unicode-bidi", "plaintext")
    expect(page.locator("#messages .msg .msg-author").first).to_have_css("unicode-bidi", "isolate")
    expect(page.locator(".room-item .room-name").filter(has_text="Bidi")).to_have_css("unicode-bidi", "isolate")
    watch.assert_clean()
