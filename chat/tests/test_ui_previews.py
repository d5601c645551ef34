"""File previews in the browser: inline thumbnails seen live, the image
viewer (keyboard: ← / →, Esc back to the thumbnail), a file card with name,
size and type, a PDF's first page arriving in its card once the job ran."""

import io
import subprocess
import sys

import pytest

from chat.tests.factories import group_room
from chat.tests.test_ui import LIVE, compose, message, room_url
from chat.tests.test_ui_accessibility import axe_findings
from chat.tests.ui_helpers import PROJECT_DIR

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - test_ui's server fixture skips with the reason
    expect = None


def picture(size, color, fmt="PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def attach(page, name, mime, content, text):
    page.locator("#file-input").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": content}])
    expect(page.locator("#attachment-text")).to_contain_text(name)
    compose(page, text)
    # Sent (the server's copy: a link, where the pending one is a span) before the next.
    expect(message(page, text).locator("a.msg-image, a.msg-file")).to_be_visible(timeout=LIVE * 3)


def test_previews_inline_the_viewer_by_keyboard_and_a_pdf_card(open_page, server, alice, bob, server_side):
    room = server_side(group_room, alice, bob, name="Pictures")
    alice_page, alice_watch = open_page(alice, room_url(room))
    bob_page, bob_watch = open_page(bob, room_url(room))

    # The checkbox for images only, off, explained.
    alice_page.locator("#file-input").set_input_files(files=[{"name": "a.png", "mimeType": "image/png", "buffer": picture((10, 10), "red")}])
    keep = alice_page.get_by_role("checkbox", name="Keep the original (with its metadata)")
    expect(keep).to_be_visible()
    expect(keep).not_to_be_checked()
    assert axe_findings(alice_page, "the attachment bar of an image") == []
    expect(keep).to_have_accessible_description("Photos can hold where they were taken, the camera and the author. Unless you tick this, that is removed before the picture is shared.")
    alice_page.get_by_role("button", name="Remove the attached file").click()

    attach(alice_page, "beach.png", "image/png", picture((1600, 900), (30, 120, 220)), "The beach")
    attach(alice_page, "forest.jpg", "image/jpeg", picture((600, 800), (20, 140, 40), "JPEG"), "The forest")
    attach(alice_page, "notes.txt", "text/plain", b"minutes of the meeting\n", "The notes")
    expect(alice_page.get_by_role("checkbox", name="Keep the original (with its metadata)")).to_be_hidden()
    attach(alice_page, "report.pdf", "application/pdf", picture((300, 200), "white", "PDF"), "The report")

    # Bob sees the small thumbnails, live, sized before they load.
    beach = message(bob_page, "The beach").get_by_role("link", name="Open image beach.png")
    forest = message(bob_page, "The forest").get_by_role("link", name="Open image forest.jpg")
    expect(forest).to_be_visible(timeout=LIVE * 2)
    beach_image = beach.locator("img")
    assert beach_image.get_attribute("src").endswith("/preview/small/")
    assert (beach_image.get_attribute("width"), beach_image.get_attribute("height")) == ("320", "180")
    bob_page.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=beach_image.element_handle(), timeout=5000)

    # Cards: name, type and size; the PDF's first page arrives when its job has run.
    notes = message(bob_page, "The notes").get_by_role("link", name="Download notes.txt")
    expect(notes).to_contain_text("notes.txt")
    expect(notes.locator(".file-meta")).to_have_text("Text · 23 B")
    report = message(bob_page, "The report").get_by_role("link", name="Download report.pdf")
    expect(report).to_be_visible(timeout=LIVE * 2)
    expect(report.locator(".file-meta")).to_contain_text("PDF document · ")
    expect(report.locator("img.file-preview")).to_have_count(0)
    # The worker process, as deployed, with the server's files and database.
    done = subprocess.run(
        [sys.executable, "manage.py", "notification_worker", "--once"],
        env=server.env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0 and "jobs: 1" in done.stdout, (done.stdout, done.stderr)
    expect(report.locator("img.file-preview")).to_be_visible(timeout=LIVE * 2)
    assert report.locator("img.file-preview").get_attribute("src").endswith("/preview/small/")

    # The viewer: the large preview, its name, the original to download; ← / →; Esc.
    beach.click()
    dialog = bob_page.get_by_role("dialog", name="beach.png")
    expect(dialog).to_be_visible()
    large = dialog.locator("img.viewer-image")
    expect(large).to_have_attribute("alt", "beach.png")
    assert large.get_attribute("src").endswith("/preview/large/")
    bob_page.wait_for_function("img => img.complete && img.naturalWidth === 1280", arg=large.element_handle(), timeout=5000)
    download = dialog.get_by_role("link", name="Download original: beach.png", exact=False)
    assert download.get_attribute("href") == beach.get_attribute("href")
    expect(dialog.locator(".viewer-position")).to_have_text("1 of 2")
    assert axe_findings(bob_page, "the image viewer") == []
    bob_page.keyboard.press("ArrowRight")
    expect(bob_page.get_by_role("dialog", name="forest.jpg")).to_be_visible()
    expect(bob_page.locator("#dialog .viewer-position")).to_have_text("2 of 2")
    bob_page.keyboard.press("ArrowRight")  # the last: stays
    expect(bob_page.get_by_role("dialog", name="forest.jpg")).to_be_visible()
    bob_page.keyboard.press("ArrowLeft")
    expect(bob_page.get_by_role("dialog", name="beach.png")).to_be_visible()
    # Focus stays in the dialog.
    for key in ["Tab"] * 6 + ["Shift+Tab"] * 6:
        bob_page.keyboard.press(key)
        assert bob_page.evaluate("document.activeElement.closest('#dialog') !== null")
    bob_page.keyboard.press("ArrowRight")
    bob_page.keyboard.press("Escape")
    expect(bob_page.locator("#dialog")).to_be_hidden()
    expect(forest).to_be_focused()  # back to the thumbnail of the image last shown
    alice_watch.assert_clean()
    bob_watch.assert_clean()


def test_keep_original_from_the_composer_keeps_the_bytes(open_page, alice, bob, server_side):
    from chat.models import Attachment

    room = server_side(group_room, alice, bob, name="Originals")
    page, watch = open_page(alice, room_url(room))
    content = picture((40, 30), "orange", "JPEG")
    page.locator("#file-input").set_input_files(files=[{"name": "kept.jpg", "mimeType": "image/jpeg", "buffer": content}])
    page.get_by_role("checkbox", name="Keep the original (with its metadata)").check()
    compose(page, "Kept")
    expect(message(page, "Kept").locator("a.msg-image img")).to_be_visible(timeout=LIVE * 3)
    stored = server_side(lambda: Attachment.objects.get(original_name="kept.jpg"))
    assert stored.original_kept
    expect(page.get_by_role("checkbox", name="Keep the original (with its metadata)")).to_be_hidden()
    watch.assert_clean()


def test_keep_original_in_a_thread_reply(open_page, alice, bob, server_side):
    from chat.models import Attachment
    from chat.tests.factories import send

    room = server_side(group_room, alice, bob, name="Threads")
    root = server_side(send, room, bob, "Pictures here")
    page, watch = open_page(alice, room_url(room))
    message(page, "Pictures here").hover()
    message(page, "Pictures here").get_by_role("button", name="Reply in thread", exact=True).click()
    page.locator("#thread-file-input").set_input_files(files=[{"name": "reply.png", "mimeType": "image/png", "buffer": picture((20, 20), "purple")}])
    keep = page.get_by_role("checkbox", name="Keep the original (with its metadata)").and_(page.locator("#thread-keep-original"))
    expect(keep).not_to_be_checked()
    keep.check()
    reply = page.get_by_role("textbox", name="Reply in thread", exact=True)
    reply.fill("Kept in the thread")
    reply.press("Enter")
    expect(page.locator("#thread-replies a.msg-image img")).to_be_visible(timeout=LIVE * 3)
    stored = server_side(lambda: Attachment.objects.get(original_name="reply.png"))
    assert stored.original_kept and root.pk
    expect(page.locator("#thread-keep-original-box")).to_be_hidden()
    watch.assert_clean()
