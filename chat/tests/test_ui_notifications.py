"""Mentions and notifications in a real browser: Debian's Chromium driven by
Playwright, against a real daphne with real Redis and PostgreSQL, as in
test_ui.py (whose fixtures these tests use).

The reader's browser context has the notifications permission granted, and an
init script wraps ``window.Notification`` so that every notification the page
makes is recorded (and still made).
"""

import re
import urllib.request

import pytest

from chat.tests import ui_helpers as ui
from chat.tests.factories import group_room, mark_read, send
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

# Every `new Notification(...)` of the page, recorded in window.__notifications
# (title, body, tag, data, and the onclick the page set), then made for real;
# every sound played, in window.__sounds.
RECORD_NOTIFICATIONS = """
(() => {
  const play = HTMLMediaElement.prototype.play;
  window.__sounds = [];
  HTMLMediaElement.prototype.play = function () {
    window.__sounds.push(new URL(this.src).pathname);
    return play.call(this);
  };
  const Real = window.Notification;
  const made = [];
  class Recorded {
    constructor(title, options = {}) {
      this.title = title;
      this.body = options.body;
      this.tag = options.tag;
      this.data = options.data;
      this.onclick = null;
      this.closed = false;
      made.push(this);
      try { this.real = new Real(title, options); } catch (error) { this.real = null; }
    }
    close() { this.closed = true; if (this.real) this.real.close(); }
    static get permission() { return Real.permission; }
    static requestPermission(callback) { return Real.requestPermission(callback); }
  }
  window.__notifications = made;
  Object.defineProperty(window, "Notification", { value: Recorded, configurable: true, writable: true });
})();
"""
RECORDED = "() => window.__notifications.map(({title, body, tag, data, closed}) => ({title, body, tag, data, closed}))"


@pytest.fixture
def notifying_context(browser, server, server_side):
    """notifying_context(user) -> a logged-in browser context that may notify and records it."""
    contexts = []

    def make(user):
        context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800}, permissions=["notifications"])
        context.set_default_timeout(5000)
        context.add_init_script(RECORD_NOTIFICATIONS)
        context.add_cookies([server_side(ui.session_cookie, user, server.url)])
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def read_rooms(run, user, *names, owner, members):
    """Group rooms of ``owner`` with ``members``, read to their end by ``user``
    (the "created the room" line counts as unread until then)."""

    def make():
        rooms = [group_room(owner, *members, name=name) for name in names]
        for room in rooms:
            room.refresh_from_db()
            mark_read(room, user, room.seq)
        return rooms

    return run(make)


def mention_counts(user, room):
    """The user's unread mentions of the room, as the server counts them."""
    from chat import selectors

    (row,) = selectors.attention(user=user, room_ids=[room.pk])
    return row["mention_count"]


def open_tab(context, path):
    page = context.new_page()
    watch = ui.PageWatch(page)
    page.goto(path)
    expect(page.locator("body[data-connection=live]")).to_be_attached(timeout=10000)
    return page, watch


def recorded(page):
    return page.evaluate(RECORDED)


def notifications_of(pages):
    """What the pages (tabs of one person) notified: [(page, notification)]."""
    return [(page, item) for page in pages for item in recorded(page)]


def wait_for_notifications(pages, count, timeout=LIVE):
    """Until the pages together made ``count`` notifications; then those (never more)."""
    made = []
    for _ in range(timeout // 100 + 1):
        made = notifications_of(pages)
        if len(made) >= count:
            break
        pages[0].wait_for_timeout(100)
    assert len(made) == count, f"expected {count} notifications across the tabs, got {made}"
    return made


def turn_on_desktop_notifications(page):
    page.get_by_role("button", name="Notification settings").click()
    dialog = page.get_by_role("dialog")
    box = dialog.get_by_label("Desktop notifications")
    expect(box).not_to_be_checked()
    box.check()
    expect(dialog.get_by_role("status")).to_have_text("Saved.", timeout=LIVE)
    dialog.get_by_role("button", name="Close", exact=True).click()


def test_a_mention_in_another_room_notifies_once_badges_and_lists_it_live(
    open_page, notifying_context, alice, bob, server_side
):
    from chat.models import NotificationPreferences

    x, y = read_rooms(server_side, bob, "Xylophone", "Yard", owner=alice, members=[bob])
    bob_context = notifying_context(bob)
    bob_page, bob_watch = open_tab(bob_context, room_url(x))
    # Nothing asked on page load: the permission is the context's, the setting still off.
    assert recorded(bob_page) == []
    turn_on_desktop_notifications(bob_page)
    assert server_side(lambda: NotificationPreferences.objects.get(user=bob).desktop_enabled) is True
    # A second tab of Bob's, looking at X too: it must not notify a second time.
    second_page, second_watch = open_tab(bob_context, room_url(x))
    expect(second_page.locator("body[data-settings=loaded]")).to_be_attached()

    # Alice mentions Bob in Y, completing his name with the keyboard.
    alice_page, alice_watch = open_page(alice, room_url(y))
    box = alice_page.get_by_role("textbox", name="Message", exact=True)
    listbox = alice_page.get_by_role("listbox", name="People to mention")
    box.press_sequentially("Hi @")
    expect(listbox).to_be_visible()
    options = listbox.get_by_role("option")
    # Alice owns Y: @room and @all are offered to her, and she is not offered to herself.
    expect(options).to_have_text(["Bob@bob", "@hereEveryone in the room who is online", "@roomEveryone in the room", "@allEveryone in the room"])
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    artifact(alice_page, "mention-autocomplete.png")
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    assert box.get_attribute("aria-activedescendant") == options.nth(1).get_attribute("id")
    box.press("ArrowUp")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    box.press("Escape")
    expect(listbox).to_be_hidden()
    box.press_sequentially("b")
    expect(options).to_have_count(1)
    box.press("Tab")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("Hi @bob ")
    box.press_sequentially("can you look?")
    box.press("Enter")
    expect(message(alice_page, "Hi @bob can you look?")).to_be_visible()

    # Bob is notified, once across his two tabs (whichever claimed it first).
    tabs = (bob_page, second_page)
    ((notified, first),) = wait_for_notifications(tabs, 1)
    assert first["title"] == "Alice mentioned you in Yard"
    assert first["body"] == "Hi @bob can you look?"
    assert first["data"]["room"] == str(y.pk)
    assert first["tag"] == first["data"]["message"]
    bob_page.wait_for_timeout(500)
    assert len(notifications_of(tabs)) == 1, "the other tab notified too"
    # With the sound (on by default), from the static files, in that tab only.
    assert [page.evaluate("() => window.__sounds") for page in tabs] == [
        ["/static/chat/notify.wav"] if page is notified else [] for page in tabs
    ]

    # The room list: Y has one unread message, one of them a mention; X nothing.
    for page in (bob_page, second_page):
        room_y = page.locator(f'[data-room-id="{y.pk}"]')
        expect(room_y.locator(".badge")).to_have_text("1 unread")
        expect(room_y.locator(".mention-badge")).to_have_attribute("data-mentions", "1")
        expect(room_y.locator(".mention-badge")).to_have_text("@11 mention")
        expect(page.locator(f'[data-room-id="{x.pk}"] .mention-badge')).to_have_count(0)
    expect(bob_page).to_have_title("(1) Xylophone · chatsite")

    # The Mentions view lists it, and a new mention arrives live, on top.
    bob_page.locator("#mentions-toggle").click()
    mentions = bob_page.locator("#mentions-list .mention-item")
    expect(mentions).to_have_count(1)
    expect(mentions.first).to_contain_text("Yard")
    expect(mentions.first).to_contain_text("Alice")
    expect(mentions.first).to_contain_text("Hi @bob can you look?")
    server_side(send, x, alice, "@bob and this one too")
    expect(mentions).to_have_count(2, timeout=LIVE)
    expect(mentions.first).to_contain_text("@bob and this one too")
    expect(mentions.first).to_contain_text("Xylophone")
    artifact(bob_page, "mentions-view.png")
    # One tab has the Mentions view open, not room X: this mention notifies too.
    made = wait_for_notifications(tabs, 2)
    assert sorted(item["title"] for _, item in made) == ["Alice mentioned you in Xylophone", "Alice mentioned you in Yard"]
    # Bob's other tab has X open and reads it there: no tab keeps a badge for it.
    for page in tabs:
        expect(page.locator(f'[data-room-id="{x.pk}"] .mention-badge')).to_have_count(0, timeout=LIVE)
        expect(page.locator(f'[data-room-id="{x.pk}"] .badge')).to_have_count(0)
    server_side.wait_for(lambda: mention_counts(bob, x) == 0, what="X to be read in the other tab")

    # A click on the first notification opens its room at its message, highlighted as mine.
    notified.evaluate(f"() => window.__notifications.find((n) => n.tag === {first['tag']!r}).onclick(new Event('click'))")
    expect(notified.locator("#room-name")).to_have_text("Yard")
    mentioned = message(notified, "Hi @bob can you look?")
    expect(mentioned).to_have_class(re.compile(r"\bmentions-me\b"))
    expect(mentioned.locator("mark.mention.to-me")).to_have_text("@bob")
    expect(mentioned).to_contain_text("Mentions you")
    artifact(notified, "mention-highlighted.png")
    assert [item["closed"] for item in recorded(notified) if item["tag"] == first["tag"]] == [True]
    # Read here: both of Bob's tabs drop Y's badges.
    for page in (bob_page, second_page):
        expect(page.locator(f'[data-room-id="{y.pk}"] .mention-badge')).to_have_count(0, timeout=LIVE)
        expect(page.locator(f'[data-room-id="{y.pk}"] .badge')).to_have_count(0)
    for watch in (bob_watch, second_watch, alice_watch):
        watch.assert_clean()


def test_muting_a_room_in_its_details_hides_its_unread_badge_in_every_tab(
    open_page, notifying_context, alice, bob, server_side
):
    x, y = read_rooms(server_side, bob, "Xylophone", "Yard", owner=alice, members=[bob])
    context = notifying_context(bob)
    page, watch = open_tab(context, room_url(y))
    other, other_watch = open_tab(context, room_url(x))

    page.get_by_role("button", name="Members", exact=True).click()
    panel = page.get_by_role("complementary", name="Room details")
    level = panel.get_by_label("Notify me about")
    expect(level).to_have_value("default")
    level.select_option("all")
    mute = panel.get_by_label("Mute this room")
    mute.check()
    expect(mute).to_be_enabled(timeout=LIVE)
    expect(mute).to_be_checked()

    server_side(send, y, alice, "Plain news")
    server_side(send, y, alice, "@bob a mention still counts")
    room_y = other.locator(f'[data-room-id="{y.pk}"]')
    expect(room_y.locator(".mention-badge")).to_have_attribute("data-mentions", "1", timeout=LIVE)
    expect(room_y.locator(".badge")).to_have_count(0)
    expect(room_y).to_have_class(re.compile(r"\bmuted-room\b"))
    expect(room_y).to_contain_text("(muted)")
    artifact(page, "room-notifications.png")
    # Unmuted from the other tab: the unread badge comes back in both.
    other.locator(f'[data-room-id="{y.pk}"]').click()
    other.get_by_role("button", name="Members", exact=True).click()
    other_panel = other.get_by_role("complementary", name="Room details")
    expect(other_panel.get_by_label("Notify me about")).to_have_value("all")
    other_panel.get_by_label("Mute this room").uncheck()
    page.locator(f'[data-room-id="{x.pk}"]').click()
    server_side(send, y, alice, "More news")
    expect(page.locator(f'[data-room-id="{y.pk}"] .badge')).to_have_text("1 unread", timeout=LIVE)
    expect(page.locator(f'[data-room-id="{y.pk}"]')).not_to_have_class(re.compile(r"\bmuted-room\b"))
    watch.assert_clean()
    other_watch.assert_clean()


def test_the_service_worker_registers_from_sw_js(notifying_context, alice, server):
    page, watch = open_tab(notifying_context(alice), "/")
    script = page.evaluate("async () => (await navigator.serviceWorker.ready).active.scriptURL")
    assert script == f"{server.url}/sw.js"
    scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == f"{server.url}/"
    with urllib.request.urlopen(f"{server.url}/sw.js", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/javascript")
        assert response.headers["Service-Worker-Allowed"] == "/"
        assert b'addEventListener("push"' in response.read()
    # The settings the page speaks to, including the server's VAPID key for subscribing.
    settings = page.evaluate("async () => (await fetch('/api/notification-settings/')).json()")
    assert set(settings) >= {"desktop_enabled", "sound_enabled", "email_enabled", "email_delay_minutes", "push_public_key"}
    watch.assert_clean()


# The browser's push service is outside the machine: this browser "has" a
# subscription (as if Web Push had been turned on here), and records unsubscribing.
FAKE_PUSH_SUBSCRIPTION = """
(() => {
  const endpoint = %r;
  PushManager.prototype.getSubscription = async function () {
    return { endpoint, options: {}, unsubscribe: async () => true };
  };
})();
"""


def test_logging_out_unsubscribes_this_browser_from_web_push(notifying_context, alice, bob, server, server_side):
    from chat.models import PushSubscription

    endpoint = "https://fcm.googleapis.com/fcm/send/this-browser"
    server_side(lambda: alice.chat_push_subscriptions.create(endpoint=endpoint, p256dh="k", auth="a"))
    server_side(lambda: bob.chat_push_subscriptions.create(endpoint=endpoint + "-bobs", p256dh="k", auth="a"))
    context = notifying_context(alice)
    context.add_init_script(FAKE_PUSH_SUBSCRIPTION % endpoint)
    page, _watch = open_tab(context, "/")
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")

    page.get_by_role("button", name="Log out").click()

    expect(page).to_have_url(re.compile(r"/accounts/login/"), timeout=LIVE)
    remaining = server_side(lambda: sorted(PushSubscription.objects.values_list("endpoint", flat=True)))
    assert remaining == [endpoint + "-bobs"]  # this browser's is gone, nobody else's


def test_mentions_view_pages_with_load_more_and_opens_the_room_at_the_message(
    open_page, alice, bob, server_side, no_rate_limits
):
    def busy_room():
        room = group_room(alice, bob, name="Busy")
        for number in range(1, 33):
            send(room, alice, f"@bob question {number}")
        return room

    room = server_side(busy_room)
    page, watch = open_page(bob, "/#mentions")
    items = page.locator("#mentions-list .mention-item")
    expect(items).to_have_count(30)
    expect(items.first).to_contain_text("@bob question 32")
    more = page.get_by_role("button", name="Load more", exact=True)
    more.click()
    expect(items).to_have_count(32)
    expect(items.last).to_contain_text("@bob question 1")
    expect(more).to_be_hidden()

    items.filter(has_text=re.compile(r"@bob question 2$")).get_by_role("button").click()
    expect(page.locator("#room-name")).to_have_text("Busy")
    assert page.url.endswith(f"#room/{room.pk}")
    expect(message(page, "@bob question 2")).to_have_class(re.compile(r"\bhighlight\b"))
    page.go_back()
    expect(page.locator("#mentions-title")).to_be_visible()
    watch.assert_clean()
