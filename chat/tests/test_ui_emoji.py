"""Emoji in the browser: the picker (search, keys, recently used first), the
`:shortcode:` autocomplete and replacement in the composer, and a reaction
through the full picker; the other person sees each live."""

import pytest

from chat.tests.factories import group_room, send
from chat.tests.test_ui import LIVE, artifact, message, room_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None


def test_picker_search_and_shortcodes_reach_the_other_person_and_recent_emoji_come_first(open_page, alice, bob, server_side):
    room = server_side(lambda: group_room(alice, bob, name="Emoji"))
    bob_page, bob_watch = open_page(bob, room_url(room))
    page, watch = open_page(alice, room_url(room))
    box = page.get_by_role("textbox", name="Message", exact=True)
    opener = page.get_by_role("button", name="Insert an emoji")

    # The picker: searched, picked with the mouse, put at the caret.
    box.fill("ship it ")
    opener.click()
    picker = page.get_by_role("dialog", name="Insert an emoji")
    expect(picker).to_be_visible()
    expect(opener).to_have_attribute("aria-expanded", "true")
    search = picker.get_by_role("searchbox", name="Search emoji")
    expect(search).to_be_focused()
    expect(picker.get_by_role("group", name="Smileys & Emotion")).to_be_visible()
    search.fill("thumbs")
    expect(picker.get_by_role("button", name="thumbs down")).to_be_visible()
    picker.get_by_role("button", name="thumbs up", exact=True).click()
    expect(picker).to_be_hidden()
    expect(opener).to_have_attribute("aria-expanded", "false")
    expect(box).to_be_focused()
    expect(box).to_have_value("ship it 👍")
    box.press("Enter")
    expect(message(bob_page, "ship it 👍")).to_be_visible(timeout=LIVE)

    # `:tada` suggests, the keyboard picks.
    box.press_sequentially("party :tada")
    suggestions = page.get_by_role("listbox", name="Emoji")
    expect(suggestions).to_be_visible()
    artifact(page, "emoji-autocomplete.png")
    expect(suggestions.get_by_role("option").first).to_contain_text(":tada:")
    expect(suggestions.get_by_role("option").first).to_have_attribute("aria-selected", "true")
    box.press("Tab")
    expect(suggestions).to_be_hidden()
    expect(box).to_have_value("party 🎉 ")
    # A whole known shortcode becomes its emoji as it is closed; one after a letter stays.
    box.press_sequentially("now :+1: see http://x.example:80")
    expect(box).to_have_value("party 🎉 now 👍 see http://x.example:80")
    expect(suggestions).to_be_hidden()
    box.press("Enter")
    expect(message(bob_page, "party 🎉 now 👍 see http://x.example:80")).to_be_visible(timeout=LIVE)

    # Escape dismisses the suggestions, then the text is sent as typed.
    box.press_sequentially("a :thu")
    expect(suggestions).to_be_visible()
    box.press("Escape")
    expect(suggestions).to_be_hidden()
    expect(box).to_have_value("a :thu")
    box.fill("")

    # Next time, the recently used come first, latest first; keys only:
    # ↓ into the grid, → to the next one, Enter picks; Esc gives the focus back.
    opener.click()
    recent = picker.get_by_role("group", name="Recently used")
    expect(recent.get_by_role("button")).to_have_count(2)
    expect(recent.get_by_role("button").first).to_have_accessible_name("thumbs up")  # the :+1: typed
    expect(recent.get_by_role("button").nth(1)).to_have_accessible_name("party popper")
    artifact(page, "emoji-picker.png")
    page.keyboard.press("Escape")
    expect(picker).to_be_hidden()
    expect(opener).to_be_focused()
    page.keyboard.press("Enter")
    expect(picker).to_be_visible()
    search.press("ArrowDown")
    expect(recent.get_by_role("button").first).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(recent.get_by_role("button").nth(1)).to_be_focused()
    page.keyboard.press("Enter")
    expect(box).to_have_value("🎉")
    box.fill("")

    # A search with the keyboard: Enter takes the first match.
    opener.click()
    search.fill("rocket")
    search.press("Enter")
    expect(box).to_have_value("🚀")

    # A skin tone, kept for the next time and for typed shortcodes.
    box.fill("")
    opener.click()
    picker.get_by_role("combobox", name="Skin tone").select_option(label="✋🏽 medium")
    search.fill("thumbs up")
    expect(picker.get_by_role("button", name="thumbs up: medium skin tone")).to_have_text("👍🏽")
    expect(picker.get_by_role("button", name="rocket")).to_have_count(0)
    search.press("Enter")
    expect(box).to_have_value("👍🏽")
    box.press_sequentially(" :wave:")
    expect(box).to_have_value("👍🏽 👋🏽")
    opener.click()
    expect(picker.get_by_role("combobox", name="Skin tone")).to_have_value("3")
    page.keyboard.press("Escape")
    watch.assert_clean()
    bob_watch.assert_clean()


def test_a_reaction_from_the_full_picker_and_emoji_in_a_thread_reply(open_page, alice, bob, server_side):
    room = server_side(lambda: group_room(alice, bob, name="Reactions"))
    server_side(lambda: send(room, bob, "the release is out"))
    bob_page, bob_watch = open_page(bob, room_url(room))
    page, watch = open_page(alice, room_url(room))
    item = message(page, "the release is out")
    item.hover()
    item.get_by_role("button", name="React", exact=True).click()
    more = item.get_by_role("button", name="More reactions")
    more.click()
    picker = page.get_by_role("dialog", name="React with an emoji")
    expect(picker).to_be_visible()
    artifact(page, "emoji-reaction-picker.png")
    picker.get_by_role("searchbox", name="Search emoji").fill("rocket")
    picker.get_by_role("button", name="rocket", exact=True).click()
    expect(picker).to_be_hidden()
    expect(item.locator(".chip")).to_have_text("🚀 1", timeout=LIVE)
    expect(message(bob_page, "the release is out").locator(".chip")).to_have_text("🚀 1", timeout=LIVE)

    # The thread panel's composer has the picker and the autocomplete too.
    item.hover()
    item.get_by_role("button", name="Reply in thread", exact=True).click()
    reply = page.get_by_role("textbox", name="Reply in thread", exact=True)
    expect(reply).to_be_focused()
    page.get_by_role("button", name="Insert an emoji in the reply").click()
    picker = page.get_by_role("dialog", name="Insert an emoji in the reply")
    expect(picker.get_by_role("group", name="Recently used").get_by_role("button")).to_have_accessible_name("rocket")
    picker.get_by_role("searchbox", name="Search emoji").fill("clap")
    picker.get_by_role("searchbox", name="Search emoji").press("Enter")
    expect(reply).to_have_value("👏")
    reply.press_sequentially(" :tada")
    expect(page.get_by_role("listbox", name="Emoji")).to_be_visible()
    reply.press("Enter")
    expect(reply).to_have_value("👏 🎉 ")
    reply.press("Enter")
    expect(page.locator("#thread-replies .msg-body")).to_have_text("👏 🎉", timeout=LIVE)
    watch.assert_clean()
    bob_watch.assert_clean()
