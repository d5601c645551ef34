"""Message formatting: the Markdown people know from Slack and Zulip, to safe HTML.

A message's source (``content``) is what the sender typed and what an edit
starts from; its HTML is rendered from it here when it is stored or edited
(chat/services), encrypted beside it, and sent in payloads as ``html``. The
browser inserts that HTML and nothing else of a message.

Two steps, each enough on its own for the rules that matter:

1. **markdown-it-py**, with only the rules chatsite supports turned on: bold,
   italic, strikethrough, inline code, fenced code blocks (the language as a
   class), quotes, lists, links and bare URLs (linkify), line breaks as typed.
   Raw HTML is off (``<b>`` stays text), as are headings, tables, images and
   indented code, and a link is only made for http, https and mailto.
2. **nh3** (ammonia) over the result, with an allowlist of tags and attributes:
   anything else — a tag the renderer should never make, an event handler, a
   ``javascript:`` or relative URL, a class that is not a code language — is
   removed. Links get ``rel="noopener noreferrer nofollow"`` and open in a new tab.
"""

import re

import nh3
from markdown_it import MarkdownIt

SCHEMES = frozenset({"http", "https", "mailto"})
TAGS = frozenset(
    {"p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
)
ATTRIBUTES = {"a": {"href"}, "code": {"class"}, "ol": {"start"}}
LANGUAGE_CLASS = re.compile(r"language-[A-Za-z0-9_+#.-]{1,32}")
LINK = re.compile(r"(?:https?://|mailto:)", re.IGNORECASE)

_markdown = (
    MarkdownIt("zero", {"html": False, "linkify": True, "breaks": True, "typographer": False})
    .enable(["emphasis", "strikethrough", "backticks", "fence", "blockquote", "list", "link", "linkify", "newline",
             "escape", "entity", "autolink"])
)
# The renderer's own check of link targets: only the schemes above (markdown-it's
# default refuses javascript: and friends but allows relative and data:image URLs).
_markdown.validateLink = lambda url: LINK.match(url.strip()) is not None
# Bare addresses only with a scheme or "www." (no "example.com" turned into a link).
_markdown.linkify.set({"fuzzy_link": False, "fuzzy_email": False})


def _keep(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "href":
        return value if LINK.match(value) else None
    if tag == "code" and attribute == "class":
        return value if LANGUAGE_CLASS.fullmatch(value) else None
    if tag == "ol" and attribute == "start":
        return value if value.isdigit() and len(value) <= 6 else None
    return value  # allowed by ATTRIBUTES, or set by the cleaner itself (rel, target)


_cleaner = nh3.Cleaner(
    tags=set(TAGS),
    clean_content_tags={"script", "style"},
    attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
    attribute_filter=_keep,
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    url_schemes=set(SCHEMES),
    url_relative="deny",
    strip_comments=True,
)


def render_markdown(text: str) -> str:
    """markdown-it's HTML for ``text``, before sanitizing (for the tests)."""
    return _markdown.render(text)


def sanitize(html: str) -> str:
    return _cleaner.clean(html)


def to_html(text: str) -> str:
    """The safe HTML of a message's source text ("" for none)."""
    if not text:
        return ""
    return sanitize(render_markdown(text)).strip()


def _as_plain_html(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\u00a0", "&nbsp;")
    return "<p>" + escaped.replace("\n", "<br>\n") + "</p>"


# Text without any of these cannot be formatted: it is shown as typed without
# being rendered (most messages; rendering 4,000 characters costs a millisecond).
MARKUP = re.compile(r"[*_~`>\[\]<\\&]|://|mailto:|www\.|^[ \t]*(?:[-+]|\d{1,9}[.)])(?:[ \t]|$)", re.MULTILINE)


def formatted_html(text: str) -> str | None:
    """The safe HTML of ``text``, or None when formatting adds nothing to it
    (one paragraph of the text as typed): most messages, which clients show
    as plain text without a second copy of them in every payload."""
    if not MARKUP.search(text):
        return None
    html = to_html(text)
    # Spaces around lines are not formatting (Markdown drops them; plain text shows them).
    trimmed = "\n".join(line.strip(" \t") for line in text.strip().split("\n"))
    if not html or html == _as_plain_html(trimmed):
        return None
    return html
