"""Threads in a real browser: Debian's Chromium driven by Playwright, against
a real daphne with real Redis and PostgreSQL, as in test_ui.py (whose
fixtures these tests use). Two people, two pages, everything over HTTP and
the pages' WebSockets.
"""

import io
import re

import pytest

from chat.tests.factories import delete, group_room, mark_read, send
from chat.tests.test_ui import LIVE, artifact, message, room_url

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None


def reply(page, text):
    """The list item of the (one) reply in the open thread panel whose body is exactly ``text``."""
    return page.locator("#thread-replies .msg").filter(has=page.locator(".msg-body").get_by_text(text, exact=True))


def thread_box(page):
    return page.get_by_role("textbox", name="Reply in thread", exact=True)


def rooms_read_by(run, *users, owner, members, names, root_text):
    """Group rooms of ``owner`` with ``members``; in the first, ``members[0]``
    says ``root_text``; every room read to its end by ``users``."""

    def make():
        rooms = [group_room(owner, *members, name=name) for name in names]
        root = send(rooms[0], members[0], root_text)
        for room in rooms:
            room.refresh_from_db()
            for user in users:
                mark_read(room, user, room.seq)
        return rooms, root

    return run(make)


def counts_of(user, room):
    """What the server counts for the user: the room's unread and mention counts, and the Threads totals."""
    from chat import selectors

    (row,) = selectors.attention(user=user, room_ids=[room.pk])
    return {"unread": row["unread_count"], "mentions": row["mention_count"], **selectors.threads_unread_total(user=user)}


def test_a_thread_between_two_people_live_with_the_threads_view_and_unread_counts(
    open_page, alice, bob, server_side
):
    (planning, elsewhere), root = rooms_read_by(
        server_side, alice, bob, owner=alice, members=[bob], names=["Planning", "Elsewhere"], root_text="Shall we ship on Friday?"
    )
    # Bob looks at another room: Planning's badge and the Threads badge are in his sidebar.
    bob_page, bob_watch = open_page(bob, room_url(elsewhere))
    alice_page, alice_watch = open_page(alice, room_url(planning))
    threads_badge = bob_page.locator("#threads-count")
    expect(threads_badge).to_be_hidden()

    # Alice opens a thread on Bob's message and replies in it.
    root_item = message(alice_page, "Shall we ship on Friday?")
    root_item.hover()
    root_item.get_by_role("button", name="Reply in thread", exact=True).click()
    panel = alice_page.get_by_role("complementary", name="Thread")
    expect(panel).to_be_visible()
    expect(panel.locator("#thread-root")).to_contain_text("Shall we ship on Friday?")
    expect(panel.locator("#thread-count")).to_have_text("No replies yet")
    expect(thread_box(alice_page)).to_be_focused()
    assert alice_page.url.endswith(f"#room/{planning.pk}/thread/{root.pk}")
    thread_box(alice_page).press_sequentially("Friday works for me")
    thread_box(alice_page).press("Enter")
    expect(reply(alice_page, "Friday works for me")).to_be_visible(timeout=LIVE)
    expect(alice_page.locator("#thread-follow")).to_have_attribute("aria-pressed", "true")  # a replier follows
    # In the room, the root carries the summary; the reply itself is not in the room's list.
    summary = root_item.locator(".thread-summary")
    expect(summary).to_contain_text("1 reply · last reply just now", timeout=LIVE)
    expect(summary).to_contain_text("Alice")
    expect(message(alice_page, "Friday works for me")).to_have_count(0)
    artifact(alice_page, "thread-panel.png")

    # Bob follows the thread as the root's author: the Threads badge counts the reply, live;
    # Planning's unread badge does not (a plain reply is no message of the room).
    expect(threads_badge).to_have_text("1", timeout=LIVE)
    expect(bob_page.locator("#threads-toggle")).to_have_attribute("aria-label", "Threads, 1 unread reply")
    planning_item = bob_page.locator(f'[data-room-id="{planning.pk}"]')
    expect(planning_item.locator(".badge")).to_have_count(0)
    assert server_side(counts_of, bob, planning) == {"unread": 0, "mentions": 0, "threads": 1, "replies": 1}

    # The Threads view lists it with its unread count; a second reply arrives live.
    bob_page.get_by_role("button", name=re.compile(r"^Threads")).click()
    items = bob_page.locator("#threads-list .thread-item")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Planning")
    expect(items.first).to_contain_text("Shall we ship on Friday?")
    expect(items.first.locator(".thread-unread")).to_have_attribute("data-unread", "1")
    thread_box(alice_page).press_sequentially("And the release notes?")
    thread_box(alice_page).press("Enter")
    expect(items.first.locator(".thread-unread")).to_have_attribute("data-unread", "2", timeout=LIVE)
    expect(threads_badge).to_have_text("2")
    artifact(bob_page, "threads-view.png")

    # Bob opens it from the Threads view: the room and the thread beside it; reading clears the counts.
    items.first.get_by_role("button").click()
    expect(bob_page.locator("#room-name")).to_have_text("Planning")
    bob_panel = bob_page.get_by_role("complementary", name="Thread")
    expect(bob_panel).to_be_visible()
    expect(reply(bob_page, "Friday works for me")).to_be_visible()
    expect(reply(bob_page, "And the release notes?")).to_be_visible()
    expect(bob_page.locator("#thread-follow")).to_have_attribute("aria-pressed", "true")
    expect(threads_badge).to_be_hidden(timeout=LIVE)
    server_side.wait_for(lambda: counts_of(bob, planning)["replies"] == 0, what="Bob's thread read position to move")

    # A reply while Bob has the thread open shows there live, and stays read.
    thread_box(alice_page).press_sequentially("Bob?")
    thread_box(alice_page).press("Enter")
    expect(reply(bob_page, "Bob?")).to_be_visible(timeout=LIVE)
    server_side.wait_for(lambda: counts_of(bob, planning)["replies"] == 0, what="the live reply to be read in the open panel")
    expect(threads_badge).to_be_hidden()

    # Bob answers and also sends it to the room: Alice sees it in the panel and in the room.
    bob_page.get_by_label("Also send to #Planning").check()
    thread_box(bob_page).press_sequentially("Shipping Friday then")
    thread_box(bob_page).press("Enter")
    expect(reply(alice_page, "Shipping Friday then")).to_be_visible(timeout=LIVE)
    in_room = message(alice_page, "Shipping Friday then")
    expect(in_room).to_be_visible(timeout=LIVE)
    expect(in_room.get_by_role("button", name=re.compile("Replied to a thread"))).to_be_visible()
    expect(root_item.locator(".thread-summary")).to_contain_text("4 replies", timeout=LIVE)
    expect(bob_page.get_by_label("Also send to #Planning")).not_to_be_checked()

    # The room's counts: for Alice (in another room now) only the reply sent to the room counts.
    server_side(send, planning, bob, "one more, thread only", thread_id=root.pk)
    expect(reply(alice_page, "one more, thread only")).to_be_visible(timeout=LIVE)
    server_side.wait_for(lambda: counts_of(alice, planning)["unread"] == 0, what="Alice to have read Planning, open in her page")
    alice_page.locator(f'[data-room-id="{elsewhere.pk}"]').click()
    # Leaving the room closes the panel: what it showed stays read (a read it had
    # scheduled is sent at once, not dropped).
    server_side.wait_for(lambda: counts_of(alice, planning)["replies"] == 0, what="the panel's last reply to stay read")
    server_side(send, planning, bob, "thread only again", thread_id=root.pk)
    server_side(send, planning, bob, "to the room too", thread_id=root.pk, also_in_room=True)
    alice_planning = alice_page.locator(f'[data-room-id="{planning.pk}"]')
    expect(alice_planning.locator(".badge")).to_have_text("1 unread", timeout=LIVE)
    assert server_side(counts_of, alice, planning)["unread"] == 1
    # Alice replied, so she follows: her Threads badge counts both replies since she left.
    expect(alice_page.locator("#threads-count")).to_have_text("2", timeout=LIVE)

    for watch in (alice_watch, bob_watch):
        watch.assert_clean()


def test_the_thread_panel_with_the_keyboard_and_a_deep_link_to_a_reply(open_page, alice, bob, server_side):
    (room,), root = rooms_read_by(server_side, alice, owner=alice, members=[bob], names=["Keys"], root_text="Root for keys")

    def replies():
        return [send(room, bob, f"reply {number}", thread_id=root.pk) for number in range(1, 4)]

    first, *_ = server_side(replies)
    page, watch = open_page(alice, room_url(room))
    root_item = message(page, "Root for keys")
    expect(root_item.locator(".thread-summary")).to_contain_text("3 replies")
    expect(message(page, "reply 1")).to_have_count(0)

    # Keyboard only: the message, its thread's summary, its actions, "Reply in thread", Enter.
    root_item.focus()
    page.keyboard.press("Tab")
    expect(root_item.locator(".thread-summary")).to_be_focused()
    page.keyboard.press("Tab")
    expect(root_item.get_by_role("button", name="Reply", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    expect(root_item.get_by_role("button", name="Reply in thread", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    panel = page.get_by_role("complementary", name="Thread")
    expect(panel).to_be_visible()
    expect(thread_box(page)).to_be_focused()
    expect(reply(page, "reply 3")).to_be_visible()
    page.keyboard.type("typed with the keyboard")
    expect(thread_box(page)).to_have_value("typed with the keyboard")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    assert page.url.endswith(f"#room/{room.pk}")
    # The summary opens it again (the draft kept), and Esc from a message in the panel closes it too.
    root_item.locator(".thread-summary").click()
    expect(thread_box(page)).to_have_value("typed with the keyboard")
    reply(page, "reply 2").focus()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()

    # A link to a reply (a notification, the Mentions view) opens the thread at it, highlighted.
    page.goto(f"/#room/{room.pk}/{first.pk}")
    expect(panel).to_be_visible(timeout=LIVE)
    expect(reply(page, "reply 1")).to_have_class(re.compile(r"\bhighlight\b"))

    # Search finds a reply and opens its thread at it.
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("searchbox", name="Search in this room").fill("reply 2")
    page.get_by_role("searchbox", name="Search in this room").press("Enter")
    hit = page.locator("#search-results button").filter(has_text="reply 2")
    expect(hit).to_contain_text("in a thread")
    hit.click()
    expect(panel).to_be_visible()
    expect(reply(page, "reply 2")).to_have_class(re.compile(r"\bhighlight\b"))

    # The root deleted: "Message deleted" on top, the replies intact, the thread still reachable from the room.
    server_side(delete, root, alice)
    expect(panel.locator("#thread-root .msg-body")).to_have_text("Message deleted", timeout=LIVE)
    expect(reply(page, "reply 1")).to_be_visible()
    expect(message(page, "Message deleted").locator(".thread-summary")).to_contain_text("3 replies")
    artifact(page, "thread-root-deleted.png")
    watch.assert_clean()


def test_on_a_phone_the_thread_is_a_full_screen_with_back(open_page, alice, bob, server_side):
    (room,), root = rooms_read_by(server_side, alice, owner=alice, members=[bob], names=["Phone"], root_text="Root on a phone")
    server_side(send, room, bob, "a reply on a phone", thread_id=root.pk)
    page, watch = open_page(alice, room_url(room), viewport={"width": 390, "height": 800}, has_touch=True)
    root_item = message(page, "Root on a phone")
    root_item.locator(".thread-summary").click()
    panel = page.get_by_role("complementary", name="Thread")
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert box["width"] == 390 and box["x"] == 0
    expect(reply(page, "a reply on a phone")).to_be_visible()
    artifact(page, "thread-phone.png")
    page.get_by_role("button", name="Back to the room").click()
    expect(panel).to_be_hidden()
    expect(page.locator("#room-name")).to_have_text("Phone")
    watch.assert_clean()


def test_typing_in_a_thread_shows_in_its_panel_not_in_the_room(open_page, alice, bob, server_side):
    (room,), root = rooms_read_by(server_side, alice, bob, owner=alice, members=[bob], names=["Typing"], root_text="Root of typing")
    bob_page, bob_watch = open_page(bob, f"/#room/{room.pk}/thread/{root.pk}")
    alice_page, alice_watch = open_page(alice, f"/#room/{room.pk}/thread/{root.pk}")
    expect(bob_page.get_by_role("complementary", name="Thread")).to_be_visible()
    thread_box(alice_page).press_sequentially("Typing here")
    expect(bob_page.locator("#thread-typing")).to_have_text("Alice is typing…", timeout=LIVE)
    expect(bob_page.locator("#typing")).to_have_text("")
    thread_box(alice_page).press("Enter")
    expect(reply(bob_page, "Typing here")).to_be_visible(timeout=LIVE)
    expect(bob_page.locator("#thread-typing")).to_have_text("", timeout=LIVE)
    for watch in (alice_watch, bob_watch):
        watch.assert_clean()


def test_the_thread_composer_completes_a_mention_and_sends_an_image(open_page, alice, bob, server_side):
    from PIL import Image

    (room,), root = rooms_read_by(server_side, alice, bob, owner=alice, members=[bob], names=["Studio"], root_text="Root of the studio")
    page, watch = open_page(alice, room_url(room))
    root_item = message(page, "Root of the studio")
    root_item.hover()
    root_item.get_by_role("button", name="Reply in thread", exact=True).click()
    panel = page.get_by_role("complementary", name="Thread")
    expect(panel).to_be_visible()
    box = thread_box(page)
    expect(box).to_be_focused()

    # "@bo", then the panel's own list: one option, chosen with the keyboard.
    listbox = page.get_by_role("listbox", name="People to mention in the reply", exact=True)
    box.press_sequentially("@bo")
    expect(listbox).to_be_visible()
    options = listbox.get_by_role("option")
    expect(options).to_have_text(["Bob@bob"])
    expect(options.first).to_have_attribute("aria-selected", "true")
    assert box.get_attribute("aria-activedescendant") == options.first.get_attribute("id")
    expect(page.get_by_role("listbox", name="People to mention", exact=True)).to_be_hidden()  # not the room's list
    box.press("ArrowDown")  # one option: it stays chosen
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("@bob ")
    box.press_sequentially("the mockups are in")
    box.press("Enter")
    mentioned = reply(page, "@bob the mockups are in")
    expect(mentioned).to_be_visible(timeout=LIVE)
    expect(mentioned.locator(".mention")).to_have_text("@bob", timeout=LIVE)  # the server's "mentions" marked
    expect(box).to_have_value("")
    expect(message(page, "@bob the mockups are in")).to_have_count(0)

    def the_mention_reply():
        from chat.events.render import message_payload
        from chat.models import ChatMessage, MessageMention

        (sent,) = ChatMessage.objects.filter(thread=root)
        payload = message_payload(sent)
        rows = list(MessageMention.objects.filter(message=sent).values_list("user_id", "kind"))
        return payload["content"], payload["thread"], [entry["user_id"] for entry in payload["mentions"]], rows

    content, thread, mentioned_ids, rows = server_side(the_mention_reply)
    assert (content, thread) == ("@bob the mockups are in", str(root.pk))
    assert [str(user_id) for user_id in mentioned_ids] == [str(bob.pk)]
    assert rows == [(bob.pk, "user")]

    # An image through the panel's file input: previewed, sent as a reply of this thread.
    picture = io.BytesIO()
    Image.new("RGB", (48, 32), (40, 120, 220)).save(picture, "PNG")
    page.locator("#thread-file-input").set_input_files(
        files=[{"name": "mockup.png", "mimeType": "image/png", "buffer": picture.getvalue()}]
    )
    preview = page.locator("#thread-attachment-preview")
    expect(preview).to_be_visible()
    assert preview.get_attribute("src").startswith("blob:")
    expect(page.locator("#thread-attachment-text")).to_contain_text("mockup.png")
    expect(page.locator("#attachment-bar")).to_be_hidden()  # not the room's composer
    box.press_sequentially("Here is one")
    box.press("Enter")
    with_image = reply(page, "Here is one")
    expect(with_image).to_be_visible(timeout=LIVE)
    # The server's copy (a link to the stored image), not the pending send's preview.
    stored = with_image.get_by_role("link", name="Open image mockup.png", exact=True)
    expect(stored).to_be_visible(timeout=LIVE)
    image = stored.locator("img")
    expect(image).to_have_attribute("alt", "mockup.png")
    page.wait_for_function("img => img.complete && img.naturalWidth === 48", arg=image.element_handle(), timeout=5000)
    expect(page.locator("#thread-attachment-bar")).to_be_hidden()
    expect(panel.locator("#thread-count")).to_have_text("2 replies", timeout=LIVE)
    expect(message(page, "Here is one")).to_have_count(0)

    def the_image_reply():
        from chat.events.render import message_payload
        from chat.models import ChatMessage

        (sent,) = ChatMessage.objects.filter(thread=root, attachment__isnull=False).select_related("attachment")
        payload = message_payload(sent)
        attachment = payload["attachment"]
        replies = ChatMessage.objects.filter(thread=root).count()
        return payload["content"], payload["thread"], sent.room_id, sent.also_in_room, attachment["name"], attachment["content_type"], replies

    assert server_side(the_image_reply) == ("Here is one", str(root.pk), room.pk, False, "mockup.png", "image/png", 2)
    watch.assert_clean()
