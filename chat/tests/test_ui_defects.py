"""Browser defects of issue 13 (defect 8), in a real browser as in test_ui.py
(whose fixtures these tests use): going back to a room that fits on screen
marks it read; a banned person is not offered the room under "Join a room";
presence is unknown while the socket is down and the server's again after."""

import re

import pytest

from chat.tests.factories import group_room, send
from chat.tests.test_ui import CATCH_UP, LIVE, compose, message, room_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None

SHOWN_PRESENT = re.compile(r"\b(online|away|unknown)\b")
RECONNECT_NOISE = ("WebSocket connection", "ERR_CONNECTION_REFUSED")


def _my_counts(room, user):
    from chat import selectors

    (row,) = selectors.attention(user=user, room_ids=[room.pk])
    return row


def test_going_back_to_a_room_that_fits_on_screen_marks_it_read(open_page, alice, bob, server_side):
    first = server_side(group_room, alice, bob, name="First")
    second = server_side(group_room, alice, bob, name="Second")
    server_side(send, first, bob, "Hello before")
    alice_page, alice_watch = open_page(alice, room_url(first))
    expect(message(alice_page, "Hello before")).to_be_visible()
    server_side.wait_for(lambda: _my_counts(first, alice)["unread_count"] == 0, what="the first read position")
    bob_page, bob_watch = open_page(bob, room_url(first))

    # Alice goes to another room; Bob writes in the first one.
    alice_page.locator(f'[data-room-id="{second.pk}"]').click()
    expect(alice_page.locator("#room-name")).to_have_text("Second")
    alice_page.wait_for_function("id => window.chatState.loaded.get(id)?.ready", arg=str(second.pk))
    # The read mark the second room's first page scheduled (200 ms) has gone by:
    # what follows is not marked read by a timer left over from it.
    alice_page.wait_for_timeout(600)
    compose(bob_page, "Are you there?")
    expect(alice_page.locator(f'[data-room-id="{first.pk}"] .badge')).to_have_text("1 unread", timeout=LIVE)

    # Back in the first room (already loaded in this page): its messages fit, nothing scrolls.
    alice_page.locator(f'[data-room-id="{first.pk}"]').click()
    expect(message(alice_page, "Are you there?")).to_be_visible()
    assert alice_page.locator("#messages-scroll").evaluate("el => el.scrollHeight <= el.clientHeight")

    counts = server_side.wait_for(
        lambda: (row := _my_counts(first, alice))["unread_count"] == 0 and row, what="Alice's read position to move"
    )
    assert counts["last_read_seq"] == server_side(lambda: type(first).objects.get(pk=first.pk).seq)
    expect(message(bob_page, "Are you there?").locator(".msg-seen")).to_have_text("Seen by Alice", timeout=LIVE)
    expect(alice_page.locator(f'[data-room-id="{first.pk}"] .badge')).to_have_count(0)
    alice_watch.assert_clean()
    bob_watch.assert_clean()


def _open_join_tab(page):
    page.get_by_role("button", name="New chat", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Join a room").click()
    return dialog


def test_a_banned_person_is_not_offered_the_room_under_join_a_room(open_page, alice, bob, server_side):
    from chat import commands

    server_side(group_room, bob, name="Lobby", is_public=True)
    closed = server_side(group_room, bob, alice, name="Closed doors", is_public=True)
    server_side(commands.member_ban, actor=bob, room_id=closed.pk, user_id=alice.pk)
    page, watch = open_page(alice, "/")

    dialog = _open_join_tab(page)
    expect(dialog.get_by_role("button", name="Join Lobby", exact=True)).to_be_visible()
    expect(dialog.get_by_role("button", name="Join Closed doors", exact=True)).to_have_count(0)
    watch.assert_clean()


def test_a_person_banned_while_the_join_list_is_open_is_told_and_the_room_leaves_the_list(open_page, alice, bob, server_side):
    from chat import commands

    closed = server_side(group_room, bob, alice, name="Closed doors", is_public=True)
    server_side(commands.room_leave, actor=alice, room_id=closed.pk)
    page, watch = open_page(alice, "/")
    dialog = _open_join_tab(page)
    join = dialog.get_by_role("button", name="Join Closed doors", exact=True)
    expect(join).to_be_visible()

    # Banned after the list was drawn: the click is refused, and the room is no longer offered.
    server_side(commands.member_ban, actor=bob, room_id=closed.pk, user_id=alice.pk)
    join.click()
    expect(join).to_have_count(0, timeout=LIVE)
    expect(dialog.locator(".room-choices")).to_contain_text("You are banned from Closed doors.")
    expect(dialog.get_by_text("No public rooms to join.")).to_be_visible()
    expect(page.locator(f'[data-room-id="{closed.pk}"]')).to_have_count(0)
    watch.assert_clean(allow=("status of 403",))


def test_presence_is_unknown_while_the_server_is_down_and_the_servers_again_after(
    open_page, alice, bob, carol, restartable_server, server_side
):
    from chat import commands

    room = server_side(group_room, alice, bob, carol, name="Presence")
    direct, _ = server_side(commands.room_get_or_create_direct, actor=alice, user_id=bob.pk)
    bob_page, bob_watch = open_page(bob, "/")
    alice_page, alice_watch = open_page(alice, room_url(room))
    alice_page.get_by_role("button", name="Members", exact=True).click()
    panel = alice_page.get_by_role("complementary", name="Room details")
    bob_line = panel.locator(f'[data-user-id="{bob.pk}"]')
    carol_line = panel.locator(f'[data-user-id="{carol.pk}"]')
    direct_item = alice_page.locator(f'[data-room-id="{direct.pk}"]')
    status = alice_page.locator("#room-status")
    expect(bob_line.locator(".presence-dot")).to_have_class("presence-dot online", timeout=LIVE)
    expect(carol_line.locator(".presence-dot")).not_to_have_class(SHOWN_PRESENT)
    expect(direct_item.locator(".presence-dot")).to_have_class("presence-dot online")
    expect(status).to_have_text("3 members · 2 online")

    # The server stops: nobody is shown online, everyone's presence is unknown (and says so).
    restartable_server.stop()
    expect(alice_page.locator("#connection-banner")).to_be_visible(timeout=5000)
    expect(alice_page.locator(".presence-dot.online, .presence-dot.away")).to_have_count(0)
    expect(bob_line.locator(".presence-dot")).to_have_class("presence-dot unknown")
    expect(bob_line).to_contain_text("Bob, presence unknown")
    expect(carol_line.locator(".presence-dot")).to_have_class("presence-dot unknown")
    expect(direct_item.locator(".presence-dot")).to_have_class("presence-dot unknown")
    expect(direct_item).to_contain_text("(presence unknown)")
    expect(status).to_have_text("3 members · presence unknown")
    alice_page.locator(f'[data-room-id="{direct.pk}"]').click()
    expect(alice_page.locator("#room-status")).to_have_text("Presence unknown")
    alice_page.locator(f'[data-room-id="{room.pk}"]').click()
    expect(alice_page.locator("#room-name")).to_have_text("Presence")

    # Back: the server's presence again (Bob reconnected, Carol never came).
    restartable_server.start()
    expect(alice_page.locator("body[data-connection=live]")).to_be_attached(timeout=CATCH_UP)
    expect(bob_page.locator("body[data-connection=live]")).to_be_attached(timeout=CATCH_UP)
    expect(bob_line.locator(".presence-dot")).to_have_class("presence-dot online", timeout=LIVE)
    expect(carol_line.locator(".presence-dot")).to_have_class("presence-dot offline")
    expect(carol_line).to_contain_text("Carol, offline")
    expect(direct_item.locator(".presence-dot")).to_have_class("presence-dot online")
    expect(status).to_have_text("3 members · 2 online")
    expect(alice_page.locator("#me-presence")).to_have_class("presence-dot online")
    alice_watch.assert_clean(allow=RECONNECT_NOISE)
    bob_watch.assert_clean(allow=RECONNECT_NOISE)
