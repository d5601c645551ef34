"""The small things of everyday chat in the browser: a draft survives a reload
and a room switch, and is gone once sent."""

import pytest

from chat.tests.factories import group_room, send
from chat.tests.test_ui import LIVE, message, room_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None


def test_a_draft_is_kept_per_room_across_a_reload_and_gone_once_sent(open_page, alice, bob, server_side):
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


def test_days_are_separated_and_one_senders_run_of_messages_shows_one_name(open_page, alice, bob, server_side):
    from datetime import timedelta

    from django.utils import timezone

    from chat.models import ChatMessage

    room = server_side(lambda: group_room(alice, bob, name="Days"))

    def history():
        old = send(room, bob, "from yesterday")
        ChatMessage.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
        send(room, bob, "first today")
        send(room, bob, "second today")
        send(room, alice, "my answer")

    server_side(history)
    page, watch = open_page(alice, room_url(room))
    expect(page.locator("#messages .day-divider")).to_have_text(["Yesterday", "Today"], timeout=10000)
    grouped = [page.locator("#messages .msg").filter(has_text=text) for text in ("first today", "second today", "my answer")]
    expect(grouped[0]).not_to_have_class("grouped")  # the first of the day carries the name
    expect(grouped[1]).to_have_class("msg grouped")
    expect(grouped[2]).not_to_have_class("grouped")  # another sender
    # The name is hidden from sight only: a screen reader still hears who wrote it.
    assert grouped[1].locator(".msg-author").text_content() == "Bob"
    assert not grouped[1].locator(".msg-author").is_visible() or grouped[1].locator(".msg-author").bounding_box()["width"] <= 1
    watch.assert_clean()


def test_the_edited_mark_opens_the_earlier_versions(open_page, alice, bob, server_side):
    from chat import commands

    room = server_side(lambda: group_room(alice, bob, name="Edits"))

    def edited():
        message = send(room, bob, "the first version")
        commands.message_edit(actor=bob, message_id=message.pk, content="the second version")
        commands.message_edit(actor=bob, message_id=message.pk, content="the **final** version")

    server_side(edited)
    page, watch = open_page(alice, room_url(room))
    mark = page.get_by_role("button", name="(edited)")
    expect(mark).to_be_visible(timeout=10000)
    mark.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator(".version-text")).to_have_text(["the **final** version", "the second version", "the first version"])
    expect(dialog.locator(".version-head").nth(1)).to_contain_text("Before Bob edited it")
    watch.assert_clean()


def test_keyboard_switcher_room_order_and_the_shortcut_list(open_page, alice, bob, carol, server_side):
    first = server_side(lambda: group_room(alice, bob, name="Alpha"))
    second = server_side(lambda: group_room(alice, bob, name="Second floor"))
    server_side(lambda: group_room(alice, carol, name="Corner"))  # Alice finds Carol through a shared room
    page, watch = open_page(alice, room_url(first))
    expect(page.locator("#room-name")).to_have_text("Alpha")

    page.keyboard.press("Control+k")
    box = page.get_by_role("combobox", name="Room or person")
    expect(box).to_be_focused()
    box.press_sequentially("sec")
    options = page.get_by_role("listbox", name="Matches").get_by_role("option")
    expect(options.first).to_contain_text("Second floor")
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    expect(page.locator("#room-name")).to_have_text("Second floor")
    expect(page.get_by_role("dialog")).to_be_hidden()

    # Alt+↓ / Alt+↑: the room below / above in the sidebar's order.
    order = page.locator("#room-list [data-room-id]").evaluate_all("els => els.map(e => e.dataset.roomId)")
    at = order.index(str(second.pk))
    page.keyboard.press("Alt+ArrowDown" if at + 1 < len(order) else "Alt+ArrowUp")
    neighbour = order[at + 1] if at + 1 < len(order) else order[at - 1]
    expect(page.locator(f'[data-room-id="{neighbour}"]')).to_have_attribute("aria-current", "page")

    # A person without a direct chat yet: chosen, the chat starts.
    page.keyboard.press("Control+k")
    box.press_sequentially("carol")
    person = options.filter(has_text="start a chat")
    expect(person).to_contain_text("Carol")
    person.click()
    expect(page.locator("#room-name")).to_have_text("Carol", timeout=LIVE * 3)

    # ? lists the shortcuts, but not while typing a message.
    page.get_by_role("textbox", name="Message", exact=True).press("?")
    expect(page.get_by_role("dialog")).to_be_hidden()
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog")).to_contain_text("Jump to a room or a person")
    watch.assert_clean()


def test_undo_my_delete_and_an_admin_restores_a_deleted_message(open_page, alice, bob, server_side):
    from chat import commands

    room = server_side(lambda: group_room(alice, bob, name="Undo"))  # alice owns it
    server_side(lambda: send(room, bob, "keep this one"))
    gone = server_side(lambda: send(room, bob, "bring me back"))
    bob_page, bob_watch = open_page(bob, room_url(room))
    alice_page, alice_watch = open_page(alice, room_url(room))

    mine = message(bob_page, "keep this one")
    mine.hover()
    mine.get_by_role("button", name="Delete", exact=True).click()
    bob_page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
    expect(alice_page.locator("#messages .msg.deleted")).to_have_count(1, timeout=LIVE * 3)
    toast = bob_page.locator("#toasts .toast").filter(has_text="Message deleted.")
    expect(toast).to_be_visible()
    box, composer = toast.bounding_box(), bob_page.locator("#composer").bounding_box()
    assert box["y"] + box["height"] <= composer["y"] or box["y"] >= composer["y"] + composer["height"]  # notices never cover the composer
    toast.get_by_role("button", name="Undo").click()
    expect(message(alice_page, "keep this one")).to_be_visible(timeout=LIVE * 3)
    expect(alice_page.locator("#messages .msg.deleted")).to_have_count(0)

    server_side(lambda: commands.message_delete(actor=bob, message_id=gone.pk))
    restore = alice_page.get_by_role("button", name="Restore the deleted message from Bob")
    expect(restore).to_be_visible(timeout=LIVE * 3)
    assert bob_page.get_by_role("button", name="Restore the deleted message from Bob").count() == 0  # a member has none
    restore.click()
    expect(message(bob_page, "bring me back")).to_be_visible(timeout=LIVE * 3)
    alice_watch.assert_clean()
    bob_watch.assert_clean()


def test_several_failed_sends_are_retried_together(open_page, alice, bob, server_side):
    from datetime import timedelta

    from django.utils import timezone

    from chat import commands

    room = server_side(lambda: group_room(bob, alice, name="Retry"))  # bob owns it
    server_side(lambda: commands.member_mute(actor=bob, room_id=room.pk, user_id=alice.pk, until=timezone.now() + timedelta(hours=1)))
    alice_page, alice_watch = open_page(alice, room_url(room))
    bob_page, bob_watch = open_page(bob, room_url(room))
    box = alice_page.get_by_role("textbox", name="Message", exact=True)
    for text in ("first try", "second try"):
        box.fill(text)
        box.press("Enter")
        expect(message(alice_page, text)).to_contain_text("Not sent", timeout=LIVE * 3)
    bar = alice_page.locator("#retry-all-bar")
    expect(bar).to_contain_text("2 messages were not sent.")

    server_side(lambda: commands.member_unmute(actor=bob, room_id=room.pk, user_id=alice.pk))
    expect(alice_page.locator("#composer-note")).to_be_hidden(timeout=LIVE * 3)
    bar.get_by_role("button", name="Retry all").click()
    expect(bob_page.locator("#messages .msg:not(.system) .msg-body")).to_have_text(["first try", "second try"], timeout=LIVE * 3)
    expect(bar).to_be_hidden()
    bob_watch.assert_clean()


def test_someone_in_no_room_is_welcomed_with_the_rooms_to_join(open_page, bob, make_user, server_side):
    server_side(lambda: group_room(bob, name="Open house", description="Drop in with questions", is_public=True))
    server_side(lambda: group_room(bob, name="Book club", is_public=True))
    newcomer = server_side(lambda: make_user(username="newcomer", display_name="Nina New"))  # bob's company
    page, watch = open_page(newcomer, "/")
    welcome = page.locator("#no-room")
    expect(welcome.get_by_role("heading", name="Welcome, Nina New")).to_be_visible(timeout=10000)
    expect(welcome).not_to_contain_text("You do not belong to a company")
    rooms = welcome.locator(".directory-room")
    expect(rooms).to_have_count(2)
    expect(rooms.filter(has_text="Open house")).to_contain_text("1 member")
    expect(rooms.filter(has_text="Open house")).to_contain_text("Drop in with questions")
    welcome.get_by_role("searchbox", name="Find a public room").fill("questions")
    expect(rooms).to_have_count(1)
    welcome.get_by_role("button", name="Join Open house").click()
    expect(page.locator("#room-name")).to_have_text("Open house", timeout=LIVE * 3)
    watch.assert_clean()


def test_someone_without_a_company_is_told_why_there_is_nothing_and_how_to_start(open_page, make_user, server_side):
    loner = server_side(lambda: make_user(username="loner", display_name="Lou Loner", company=None))
    page, watch = open_page(loner, "/")
    welcome = page.locator("#no-room")
    expect(welcome.get_by_role("heading", name="Welcome, Lou Loner")).to_be_visible(timeout=10000)
    expect(welcome).to_contain_text("You do not belong to a company")
    expect(welcome).to_contain_text("No public rooms to join.")
    welcome.get_by_role("button", name="Start a chat").click()
    expect(page.get_by_role("dialog")).to_contain_text("New chat")
    watch.assert_clean()


def test_an_owner_pins_a_message_and_everyone_sees_it_marked_and_listed(open_page, alice, bob, server_side):
    room = server_side(lambda: group_room(alice, bob, name="Pins"))  # alice owns it
    server_side(lambda: send(room, bob, "the launch is on **Friday**"))
    alice_page, alice_watch = open_page(alice, room_url(room))
    bob_page, bob_watch = open_page(bob, room_url(room))

    mine = bob_page.locator("#messages .msg").filter(has_text="the launch is on Friday")
    mine.hover()
    expect(mine.get_by_role("button", name="Pin", exact=True)).to_have_count(0)  # a member of a group does not pin
    theirs = alice_page.locator("#messages .msg").filter(has_text="the launch is on Friday")
    theirs.hover()
    theirs.get_by_role("button", name="Pin", exact=True).click()
    expect(mine.locator(".pin-flag")).to_have_text("📌 Pinned", timeout=LIVE * 3)

    bob_page.get_by_role("button", name="Members", exact=True).click()
    pinned = bob_page.locator("#pin-list .pin-item")
    expect(pinned).to_have_count(1, timeout=LIVE * 3)
    expect(pinned).to_contain_text("the launch is on **Friday**")
    expect(pinned).to_contain_text("pinned by Alice")

    theirs.hover()
    theirs.get_by_role("button", name="Unpin", exact=True).click()
    expect(mine.locator(".pin-flag")).to_have_count(0, timeout=LIVE * 3)
    expect(bob_page.locator("#pin-list")).to_contain_text("Nothing pinned", timeout=LIVE * 3)
    alice_watch.assert_clean()
    bob_watch.assert_clean()


def test_blocking_from_a_direct_chat_says_what_it_does_and_is_undone_from_settings(open_page, alice, bob, server_side):
    from chat.services import rooms

    direct = server_side(lambda: rooms.room_get_or_create_direct(user=alice, other=bob)[0])
    page, watch = open_page(alice, room_url(direct))
    page.locator("#details-toggle").click()
    section = page.locator("#block-section")
    expect(section).to_contain_text("Neither of you can write in your direct chat any more")
    section.get_by_role("button", name="Block Bob").click()
    page.get_by_role("dialog").get_by_role("button", name="Block", exact=True).click()
    expect(section.get_by_role("button", name="Unblock Bob")).to_be_visible(timeout=LIVE * 3)
    expect(page.locator("#composer-note")).to_contain_text("You blocked Bob")
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_disabled()

    page.locator("#profile-toggle").click()  # the people I blocked are listed in my profile
    blocked = page.get_by_role("list", name="People you blocked")
    expect(blocked).to_contain_text("Bob (@bob)", timeout=LIVE * 3)
    blocked.get_by_role("button", name="Unblock Bob").click()
    expect(blocked).to_contain_text("You have not blocked anyone.", timeout=LIVE * 3)
    page.keyboard.press("Escape")
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_enabled()
    watch.assert_clean()


def test_a_group_created_public_is_in_the_directory_of_the_company(open_page, alice, carol, server_side):
    page, watch = open_page(alice, "/")
    page.get_by_role("button", name="New chat").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="New group").click()
    dialog.get_by_label("Name").fill("Town hall")
    dialog.get_by_label("Description (optional)").fill("Questions for the founders")
    dialog.get_by_label("Public: anyone in your company").check()
    dialog.get_by_role("button", name="Create group").click()
    expect(page.locator("#room-name")).to_have_text("Town hall", timeout=LIVE * 3)

    carol_page, carol_watch = open_page(carol, "/")
    carol_page.get_by_role("button", name="New chat").click()
    carol_dialog = carol_page.get_by_role("dialog")
    carol_dialog.get_by_role("tab", name="Join a room").click()
    town_hall = carol_dialog.locator(".directory-room").filter(has_text="Town hall")
    expect(town_hall).to_contain_text("Questions for the founders", timeout=LIVE * 3)
    expect(town_hall).to_contain_text("1 member")
    watch.assert_clean()
    carol_watch.assert_clean()
