"""Formatted messages in the browser: the server's sanitized HTML is what the
page shows (bold, code, links, lists, quotes), mentions are marked in its text
but not in code, and markup typed by someone stays text."""

import pytest

from chat.tests.factories import group_room, send
from chat.tests.test_ui import LIVE, compose, room_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None

SOURCE = (
    "**ship it** _today_ ~~tomorrow~~, see https://example.com/plan and `@alice in code`, @alice\n"
    "> quoted\n\n"
    "- one\n- two\n\n"
    "```python\nprint('<b>not bold</b>')\n```\n"
    "<img src=x onerror=alert(1)> [bad](javascript:alert(2))"
)


def test_formatting_is_shown_from_the_servers_html_only(open_page, alice, bob, server_side):
    room = server_side(lambda: group_room(alice, bob, name="Formatting"))
    server_side(lambda: send(room, bob, SOURCE))
    page, watch = open_page(alice, room_url(room))
    body = page.locator("#messages .msg .msg-body.formatted").filter(has_text="ship it")
    expect(body).to_have_count(1, timeout=10000)
    expect(body.locator("strong")).to_have_text("ship it")
    expect(body.locator("em").first).to_have_text("today")
    expect(body.locator("s")).to_have_text("tomorrow")
    link = body.locator('a[href="https://example.com/plan"]')
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(link).to_have_attribute("target", "_blank")
    expect(body.locator("p > code")).to_have_text("@alice in code")
    assert body.locator("code mark, code .mention").count() == 0  # no mention inside code
    expect(body.locator("mark.mention.to-me")).to_have_text("@alice")
    expect(body.locator("blockquote")).to_have_text("quoted")
    expect(body.locator("ul > li")).to_have_text(["one", "two"])
    expect(body.locator("pre > code.language-python")).to_have_text("print('<b>not bold</b>')")
    assert body.locator("pre b, img, script").count() == 0
    expect(body).to_contain_text("<img src=x onerror=alert(1)> [bad](javascript:alert(2))")
    assert body.locator('a[href^="javascript"]').count() == 0
    page.wait_for_timeout(300)  # an onerror handler would have fired by now
    watch.assert_clean()


def test_what_i_type_is_formatted_for_both_of_us_and_an_edit_starts_from_the_source(open_page, alice, bob, server_side):
    room = server_side(lambda: group_room(alice, bob, name="Typing"))
    alice_page, alice_watch = open_page(alice, room_url(room))
    bob_page, bob_watch = open_page(bob, room_url(room))
    compose(alice_page, "this is **important**")
    for page in (alice_page, bob_page):
        expect(page.locator("#messages .msg-body.formatted strong")).to_have_text("important", timeout=LIVE * 3)
    mine = alice_page.locator("#messages .msg").filter(has_text="this is important")
    mine.hover()
    mine.get_by_role("button", name="Edit", exact=True).click()
    editor = alice_page.locator(".edit-form textarea")
    expect(editor).to_have_value("this is **important**")  # the source, not the HTML
    editor.fill("this is ~~important~~ done")
    editor.press("Enter")
    expect(bob_page.locator("#messages .msg-body.formatted s")).to_have_text("important", timeout=LIVE * 3)
    alice_watch.assert_clean()
    bob_watch.assert_clean()
