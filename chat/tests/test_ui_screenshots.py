"""The README's pictures, taken from a real conversation in the real page:
docs/screenshot-room.png (a room, wide) and docs/screenshot-phone.png (the
phone layout). Each test checks what it shows before taking the picture, so a
picture never shows a broken page."""

import pytest

from chat import commands
from chat.tests import ui_helpers as ui
from chat.tests.factories import group_room, react, send
from chat.tests.test_ui import message, room_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None

DOCS = ui.PROJECT_DIR / "docs"


@pytest.fixture
def launch_room(alice, bob, carol, server_side, settings):
    settings.CHAT_RATE_LIMITS_ENABLED = False

    def make():
        room = group_room(alice, bob, carol, name="Launch crew", description="Everything about Friday's launch")
        plan = send(room, bob, "**Launch plan** for Friday 🚀\n\n1. freeze at 10:00\n2. deploy at 14:00\n3. `make smoke` after")
        react(plan, alice, "👍")
        react(plan, carol, "🎉")
        commands.message_pin(actor=alice, message_id=plan.pk)
        question = send(room, carol, "@alice is the checklist final? https://example.com/checklist")
        send(room, alice, "Yes, _one_ change: the release notes go out at 15:00", reply_to=question)
        root = send(room, bob, "Who watches the dashboards during the deploy?")
        send(room, carol, "I will, from 13:30", thread_id=root.pk)
        send(room, alice, "Thanks ☕", thread_id=root.pk)
        group_room(alice, bob, name="Design")
        group_room(alice, carol, name="Support rota")
        commands.room_get_or_create_direct(actor=alice, user_id=bob.pk)
        return room

    return server_side(make)


def test_the_readme_pictures_of_a_room_wide_and_on_a_phone(open_page, alice, bob, launch_room):
    page, watch = open_page(alice, room_url(launch_room), viewport={"width": 1280, "height": 760})
    expect(message(page, "Thanks ☕")).to_have_count(0)  # a thread reply stays in its thread
    expect(page.locator("#messages .thread-summary").first).to_contain_text("2 replies", timeout=10000)
    expect(page.locator("#messages .pin-flag").first).to_be_visible()
    expect(page.locator("#messages .chip").first).to_be_visible()
    page.mouse.move(0, 0)
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "screenshot-room.png"))

    phone, _ = open_page(alice, room_url(launch_room), viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True, device_scale_factor=2)
    expect(phone.locator("#messages .thread-summary").first).to_be_visible(timeout=10000)
    phone.screenshot(path=str(DOCS / "screenshot-phone.png"))
    watch.assert_clean()
