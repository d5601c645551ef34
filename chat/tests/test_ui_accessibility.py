"""Accessibility of the main views, checked by axe-core (vendored in
chat/tests/vendor/axe-core, run in the real page): no serious or critical
finding of WCAG 2.1 A and AA, in light and dark mode and at phone width."""

import functools
import json
from datetime import timedelta
from pathlib import Path

import pytest

from chat import commands
from chat.tests.factories import group_room, react, send
from chat.tests.test_ui import message, room_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}


@functools.cache
def AXE_SOURCE() -> str:  # noqa: N802 - a constant, read once
    return AXE.read_text(encoding="utf-8") + "\n;true"


def axe_findings(page, where: str) -> list[str]:
    """The serious and critical findings of axe-core on the page as it is now, one line each."""
    if not page.evaluate("() => Boolean(window.axe)"):
        # Evaluated through the browser's debugging protocol: the page's
        # Content-Security-Policy (script-src 'self') stays as it is.
        page.evaluate(AXE_SOURCE())
    result = page.evaluate("async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    lines = []
    for violation in result["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        targets = [json.dumps(node["target"]) for node in violation["nodes"][:5]]
        lines.append(f"{where}: {violation['impact']} {violation['id']} ({violation['help']}) at {', '.join(targets)}")
    return lines


@pytest.fixture
def busy_room(alice, bob, carol, server_side, settings):
    settings.CHAT_RATE_LIMITS_ENABLED = False

    def make():
        room = group_room(alice, bob, carol, name="Launch crew", description="Everything about the launch")
        first = send(room, bob, "**Welcome** to the _launch_ room, see https://example.com and `make run`")
        send(room, carol, "> a quote\n\n- one\n- two", reply_to=first)
        mention = send(room, bob, "@alice can you check the checklist?")
        react(mention, carol, "👍")
        commands.message_pin(actor=alice, message_id=first.pk)
        commands.message_save(actor=alice, message_id=mention.pk)
        send(room, carol, "a thread root")
        return room

    return server_side(make)


def test_the_main_views_have_no_serious_accessibility_finding(open_page, alice, busy_room):
    findings = []
    for scheme in ("light", "dark"):
        page, watch = open_page(alice, room_url(busy_room), color_scheme=scheme)
        expect(message(page, "a thread root")).to_be_visible(timeout=10000)
        findings += axe_findings(page, f"{scheme}: a room")
        message(page, "a thread root").click()
        findings += axe_findings(page, f"{scheme}: a message's actions")
        page.locator("#details-toggle").click()
        expect(page.locator("#invites-section h2")).to_be_visible()
        findings += axe_findings(page, f"{scheme}: the room's details")
        page.locator("#details-toggle").click()
        for view, ready in (("#mentions", "#mentions-list li"), ("#threads", "#threads-summary"), ("#saved", "#saved-list li")):
            page.goto(f"/{view}")
            expect(page.locator(ready).first).to_be_attached(timeout=10000)
            findings += axe_findings(page, f"{scheme}: {view}")
        page.goto("/#search")
        page.locator("#search-all-input").fill("check")
        page.locator("#search-all-input").press("Enter")
        expect(page.locator("#search-all-results .search-group")).to_have_count(1)
        findings += axe_findings(page, f"{scheme}: #search with results")
        page.locator("#new-chat").click()
        expect(page.locator("#dialog")).to_be_visible()
        findings += axe_findings(page, f"{scheme}: the new chat dialog")
        page.keyboard.press("Escape")
        page.locator("#settings-toggle").click()
        expect(page.locator("#dialog")).to_be_visible()
        findings += axe_findings(page, f"{scheme}: the notification settings")
        page.keyboard.press("Escape")
        page.locator("#profile-toggle").click()
        expect(page.locator("#my-data-section")).to_be_visible()
        findings += axe_findings(page, f"{scheme}: the profile")
        page.keyboard.press("Escape")
        page.goto(room_url(busy_room))
        expect(message(page, "a thread root")).to_be_visible(timeout=10000)
        page.locator("#emoji-button").click()
        expect(page.get_by_role("dialog", name="Insert an emoji")).to_be_visible()
        findings += axe_findings(page, f"{scheme}: the emoji picker")
        watch.assert_clean()
    assert not findings, "\n".join(findings)


def test_the_phone_layout_and_the_pages_outside_the_chat(open_page, alice, bob, busy_room, server_side):
    findings = []
    page, watch = open_page(alice, room_url(busy_room), viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    expect(message(page, "a thread root")).to_be_visible(timeout=10000)
    findings += axe_findings(page, "phone: a room")
    page.goto("/")
    expect(page.locator("#room-list li").first).to_be_visible()
    findings += axe_findings(page, "phone: the room list")

    outside, _ = open_page(None, "/accounts/login/")
    findings += axe_findings(outside, "the login page")
    outside.goto("/accounts/signup/")
    findings += axe_findings(outside, "the sign-up page")
    invite = server_side(
        lambda: commands.invite_create(actor=alice, room_id=busy_room.pk, role="member", expires_in=timedelta(days=1), max_uses=None)
    )
    guest, _ = open_page(bob, f"/invite/{invite.code}/", chat=False)
    findings += axe_findings(guest, "an invite page")
    watch.assert_clean()
    assert not findings, "\n".join(findings)
