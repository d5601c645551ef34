"""Message formatting (chat/formatting.py): the Markdown subset, the sanitizer
against known XSS payloads, and the HTML stored encrypted beside the source."""

from html.parser import HTMLParser

import pytest

from chat import commands, crypto, formatting
from chat.events.render import message_payload
from chat.models import ChatMessage
from chat.tests.factories import group_room, send

ALLOWED = {
    "p": set(), "br": set(), "strong": set(), "em": set(), "s": set(), "code": {"class"}, "pre": set(),
    "blockquote": set(), "ul": set(), "ol": {"start"}, "li": set(), "a": {"href", "rel", "target"},
}


class Tags(HTMLParser):
    """Every tag and attribute of an HTML fragment, as a browser's tokenizer sees them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def tags_of(html: str) -> list[tuple[str, dict]]:
    parser = Tags()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_safe(html: str) -> None:
    for tag, attrs in tags_of(html):
        assert tag in ALLOWED, (tag, html)
        assert set(attrs) <= ALLOWED[tag], (tag, attrs, html)
        if tag == "a":
            # Without an allowed href the sanitizer leaves an inert <a> (no link; the page drops it).
            assert attrs.get("href", "https://").lower().startswith(("http://", "https://", "mailto:")), html
            assert attrs["rel"] == "noopener noreferrer nofollow" and attrs["target"] == "_blank", html
        if tag == "code" and "class" in attrs:
            assert formatting.LANGUAGE_CLASS.fullmatch(attrs["class"]), html


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("**bold** _it_ ~~gone~~ `x < y`", "<p><strong>bold</strong> <em>it</em> <s>gone</s> <code>x &lt; y</code></p>"),
        ("one\ntwo", "<p>one<br>\ntwo</p>"),
        ("```python\nif a < b:\n    pass\n```", '<pre><code class="language-python">if a &lt; b:\n    pass\n</code></pre>'),
        ("> quoted\n\nreply", "<blockquote>\n<p>quoted</p>\n</blockquote>\n<p>reply</p>"),
        ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
        ("2. two\n3. three", '<ol start="2">\n<li>two</li>\n<li>three</li>\n</ol>'),
        ("[docs](https://example.com/a?b=1&c=2)",
         '<p><a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer nofollow">docs</a></p>'),
        ("see https://example.com/x.",
         '<p>see <a href="https://example.com/x" target="_blank" rel="noopener noreferrer nofollow">https://example.com/x</a>.</p>'),
        ("<mailto:team@example.com>",
         '<p><a href="mailto:team@example.com" target="_blank" rel="noopener noreferrer nofollow">mailto:team@example.com</a></p>'),
        # Not in the subset: shown as typed.
        ("# not a heading", "<p># not a heading</p>"),
        ("<b>raw html</b>", "<p>&lt;b&gt;raw html&lt;/b&gt;</p>"),
        ("    not code", "<p>not code</p>"),
        ("[relative](/admin/)", "<p>[relative](/admin/)</p>"),
        ("file.py and example.com", "<p>file.py and example.com</p>"),
        ("", ""),
    ],
)
def test_the_markdown_subset(source, html):
    assert formatting.to_html(source) == html
    assert_safe(html)


XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="//evil.example/">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="https://evil.example/x.swf"></object>',
    '<embed src="https://evil.example/x.swf">',
    '<form action="https://evil.example"><input name=x><button>go</button></form>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p style="position:fixed;top:0;left:0;width:100%;height:100%">cover</p>',
    "<style>body{display:none}</style>",
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    "<<script>script>alert(1)<</script>/script>",
    "<scr<script>ipt>alert(1)</script>",
    '<a href="https://ok.example" onclick="alert(1)" onmouseover="alert(1)">x</a>',
    '<code class="x onerror" onclick="y">z</code>',
    '<code class="language-python" style="color:red">z</code>',
    '<p id="messages" class="msg">hijack</p>',
    "<!--<img src=x onerror=alert(1)>-->",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    '<a href="https://ok.example"><img src=x onerror=alert(1)></a>',
    "<strong><em>nested <s>fine</strong></em> unclosed <code>",
    '<template><img src=x onerror=alert(1)></template>',
    '<video><source onerror="alert(1)"></video>',
    '<details open ontoggle=alert(1)>',
    '<input autofocus onfocus=alert(1)>',
    '<select><option><img src=x onerror=alert(1)></option></select>',
    '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
]

MARKDOWN_XSS = [
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "[x](vbscript:msgbox)",
    "![x](https://evil.example/track.png)",
    "![x](javascript:alert(1))",
    "<javascript:alert(1)>",
    "[x](https://ok.example \"title\" onclick=alert(1))",
    "```js onclick=alert(1)\ncode\n```",
    "```\"><img src=x onerror=alert(1)>\nx\n```",
    "`<img src=x onerror=alert(1)>`",
    "> <script>alert(1)</script>",
    "- <svg onload=alert(1)>",
    "[<img src=x onerror=alert(1)>](https://ok.example)",
    "https://ok.example/\"onmouseover=\"alert(1)",
    "[x](https://ok.example/\"onmouseover=\"alert(1))",
]


@pytest.mark.parametrize("payload", XSS)
def test_the_sanitizer_alone_refuses_known_xss(payload):
    cleaned = formatting.sanitize(payload)
    assert_safe(cleaned)
    for bad in ("<script", "onerror", "onload", "onclick", "javascript:", "data:", "<svg", "<img", "<iframe", "style="):
        assert bad not in cleaned.lower(), (bad, cleaned)


@pytest.mark.parametrize("payload", XSS + MARKDOWN_XSS)
def test_no_message_source_makes_unsafe_html(payload):
    html = formatting.to_html(payload)
    assert_safe(html)
    for tag, attrs in tags_of(html):
        assert not any(name.startswith("on") for name in attrs), html
        assert "javascript" not in attrs.get("href", "").lower(), html


def test_an_ordinal_or_class_out_of_bounds_is_dropped():
    assert formatting.sanitize('<ol start="99999999"><li>x</li></ol>') == "<ol><li>x</li></ol>"
    assert formatting.sanitize('<code class="language-' + "x" * 40 + '">y</code>') == "<code>y</code>"


# --- stored with the message ------------------------------------------------------


@pytest.mark.django_db
def test_the_html_is_stored_encrypted_and_sent_beside_the_source(alice, bob):
    room = group_room(alice, bob)
    message = send(room, alice, "**ship it** @bob")
    row = ChatMessage.objects.get(pk=message.pk)
    assert "<strong>" not in row.html_encrypted and "ship" not in row.html_encrypted  # a Fernet token
    assert crypto.decrypt(row.html_encrypted) == "<p><strong>ship it</strong> @bob</p>"
    payload = message_payload(row)
    assert payload["content"] == "**ship it** @bob"  # the source, for editing and API clients
    assert payload["html"] == "<p><strong>ship it</strong> @bob</p>"


def test_formatting_that_adds_nothing_gives_no_html():
    for text in ["hello there", 'a & b < c > "q"', "line one\nline two", "nbsp\u00a0here 😀", "", " spaced \n  out  "]:
        assert formatting.formatted_html(text) is None, text
    assert formatting.formatted_html("**b**") == "<p><strong>b</strong></p>"
    assert formatting.formatted_html("see https://x.example").startswith('<p>see <a href="https://x.example"')


@pytest.mark.django_db
def test_a_plain_message_carries_no_second_copy_of_its_text(alice, bob):
    room = group_room(alice, bob)
    message = send(room, alice, "just words & <tags>")
    row = ChatMessage.objects.get(pk=message.pk)
    assert row.html_encrypted == "plain"
    payload = message_payload(row)
    assert (payload["content"], payload["html"]) == ("just words & <tags>", None)


@pytest.mark.django_db
def test_an_edit_renders_again_and_a_delete_hides_it(alice, bob):
    room = group_room(alice, bob)
    message = send(room, alice, "plain")
    result = commands.message_edit(actor=alice, message_id=message.pk, content="now `code`")
    row = ChatMessage.objects.get(pk=message.pk)
    assert crypto.decrypt(row.html_encrypted) == "<p>now <code>code</code></p>"
    assert b'"html":"<p>now <code>code</code></p>"' in result.json
    back = commands.message_edit(actor=alice, message_id=message.pk, content="plain again")
    assert b'"html":null' in back.json and ChatMessage.objects.get(pk=message.pk).html_encrypted == "plain"
    commands.message_delete(actor=alice, message_id=message.pk)
    assert message_payload(ChatMessage.objects.get(pk=message.pk))["html"] is None


@pytest.mark.django_db
def test_messages_stored_before_formatting_are_rendered_when_read_and_system_lines_have_none(alice, bob):
    room = group_room(alice, bob)
    message = send(room, alice, "_old_ message")
    plain = send(room, alice, "old and plain")
    ChatMessage.objects.filter(pk__in=[message.pk, plain.pk]).update(html_encrypted="")
    assert message_payload(ChatMessage.objects.get(pk=message.pk))["html"] == "<p><em>old</em> message</p>"
    assert message_payload(ChatMessage.objects.get(pk=plain.pk))["html"] is None
    assert ChatMessage.objects.get(pk=message.pk).html_encrypted == ""  # a read writes nothing
    system = ChatMessage.objects.filter(room=room, message_type="system").first()
    assert system is not None and message_payload(system)["html"] is None and system.html_encrypted == ""


def test_text_the_quick_check_calls_plain_has_no_formatting_at_all():
    """formatted_html skips rendering text without any markup character; for
    random text it must agree with rendering (paragraph breaks aside: a blank line
    shown as typed is the same thing)."""
    import random

    rng = random.Random(20261130)
    alphabet = list("ab cd\n*_~`>[]<&\\!#-+.|=1234567890:/()'\"\u00a0\t")
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        if formatting.formatted_html(text) is None:
            assert {tag for tag, _ in tags_of(formatting.to_html(text))} <= {"p", "br"}, repr(text)
    assert formatting.formatted_html("abcdefghij " * 1500) is None  # no rendering of a long plain message
    for marked in ("a *b*", "x_y_", "`c`", "> q", "[l](https://x.example)", "1. one", "- item", "see https://x.example", "a &amp; b", "<https://x.example>"):
        assert formatting.formatted_html(marked) is not None or formatting.to_html(marked) == f"<p>{marked}</p>", marked
