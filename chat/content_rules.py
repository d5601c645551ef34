"""Content rules applied to every message: banned words and watched link domains.

Configured by ``CHAT_BANNED_WORDS`` (with ``CHAT_BANNED_WORDS_MODE`` "mask" or
"reject") and ``CHAT_FLAGGED_LINK_DOMAINS``.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from chatsite.core.exceptions import Invalid

# Hosts in links: scheme URLs and bare "www." names.
_LINK_HOST_RE = re.compile(r"(?:https?://|\bwww\.)([^\s/:?#<>\"']+)", re.IGNORECASE)


@dataclass(frozen=True)
class CheckedContent:
    text: str
    is_flagged: bool = False
    flag_reason: str = ""


@lru_cache(maxsize=1)
def _banned_word_re() -> re.Pattern | None:
    words = [w for w in settings.CHAT_BANNED_WORDS if w]
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


@receiver(setting_changed)
def _reset(*, setting, **kwargs):
    if setting == "CHAT_BANNED_WORDS":
        _banned_word_re.cache_clear()


def _flagged_domain(text: str) -> str | None:
    domains = [d.lower().lstrip(".") for d in settings.CHAT_FLAGGED_LINK_DOMAINS]
    if not domains:
        return None
    for match in _LINK_HOST_RE.finditer(text):
        host = match.group(1).lower().rstrip(".")
        for domain in domains:
            if host == domain or host.endswith("." + domain):
                return domain
    return None


def check_content(text: str) -> CheckedContent:
    """Mask or reject banned words (raises Invalid ``banned_word``) and flag watched links."""
    pattern = _banned_word_re()
    if pattern is not None and pattern.search(text):
        if settings.CHAT_BANNED_WORDS_MODE == "reject":
            raise Invalid("The message contains a word that is not allowed here.", code="banned_word")
        text = pattern.sub(lambda m: "*" * len(m.group(0)), text)
    domain = _flagged_domain(text)
    if domain:
        return CheckedContent(text, True, f"link to {domain}")
    return CheckedContent(text)
