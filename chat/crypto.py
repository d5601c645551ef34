"""Encryption at rest and the keyed-hash search index.

Content is encrypted with MultiFernet over ``CHAT_ENCRYPTION_KEYS``: the first
key encrypts, every key decrypts, so a new key is rolled in by putting it first
and running ``manage.py reencrypt_messages``. Search never sees plaintext in the
database: a message's normalized words are stored as 64-bit HMAC-SHA256 digests
under ``CHAT_SEARCH_KEY`` and a query's words are hashed the same way.

For prefix matching ("check" finds "checklist"), a word of 3 or more
characters is stored as the digests of its prefixes of 3 to PREFIX_MAX
characters (the word itself among them when it is not longer); a word shorter
than 3, or longer than PREFIX_MAX, also as the digest of the whole word. The
two kinds are kept apart by a marker byte, so a prefix's digest never equals a
word's. A message with a link also carries the digest of a marker that no word
can produce: ``has:link`` looks for it.
"""

import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

# Words are runs of letters and digits; a message indexes at most this many distinct ones.
WORD_RE = re.compile(r"\w+", re.UNICODE)
MAX_TOKENS_PER_MESSAGE = 2000
MAX_WORD_LENGTH = 64
PREFIX_MIN = 3
PREFIX_MAX = 12
_PREFIX_MARK = "\x00p"
_FACET_MARK = "\x00f"
LINK_RE = re.compile(r"(?:https?://|mailto:|www\.)\S", re.IGNORECASE)


@lru_cache(maxsize=1)
def _fernets() -> tuple[MultiFernet, Fernet]:
    keys = list(settings.CHAT_ENCRYPTION_KEYS)
    if not keys:
        raise ImproperlyConfigured("CHAT_ENCRYPTION_KEYS is empty")
    try:
        fernets = [Fernet(key.encode() if isinstance(key, str) else key) for key in keys]
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "CHAT_ENCRYPTION_KEYS must be comma-separated Fernet keys "
            "(32 url-safe base64-encoded bytes each)"
        ) from exc
    return MultiFernet(fernets), fernets[0]


@lru_cache(maxsize=1)
def _search_key() -> bytes:
    key = settings.CHAT_SEARCH_KEY
    if not key:
        raise ImproperlyConfigured("CHAT_SEARCH_KEY is empty")
    return key.encode()


@receiver(setting_changed)
def _reset_keys(*, setting, **kwargs):
    if setting == "CHAT_ENCRYPTION_KEYS":
        _fernets.cache_clear()
    elif setting == "CHAT_SEARCH_KEY":
        _search_key.cache_clear()


def encrypt(text: str) -> str:
    return _fernets()[0].encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    return _fernets()[0].decrypt(token.encode()).decode()


def is_under_primary_key(token: str) -> bool:
    """True when ``token`` is already encrypted with the newest (first) key."""
    try:
        _fernets()[1].decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def reencrypt(token: str) -> str:
    """Re-encrypt ``token`` under the primary key (raises InvalidToken if no key opens it)."""
    return _fernets()[0].rotate(token.encode()).decode()


def normalize_words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [word[:MAX_WORD_LENGTH] for word in WORD_RE.findall(folded)]


def _digest(value: str) -> int:
    digest = hmac.new(_search_key(), value.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def word_hash(word: str) -> int:
    """The digest of a whole word."""
    return _digest(word)


def prefix_hash(prefix: str) -> int:
    """The digest of a word's first characters (PREFIX_MIN to PREFIX_MAX of them)."""
    return _digest(_PREFIX_MARK + prefix)


def facet_hash(name: str) -> int:
    """The digest of something a message has (``link``), not a word of it."""
    return _digest(_FACET_MARK + name)


def word_tokens(word: str) -> list[int]:
    """What one (normalized) word of a message is indexed as."""
    if len(word) < PREFIX_MIN:
        return [word_hash(word)]
    tokens = [prefix_hash(word[:end]) for end in range(PREFIX_MIN, min(len(word), PREFIX_MAX) + 1)]
    if len(word) > PREFIX_MAX:
        tokens.append(word_hash(word))
    return tokens


def query_word_tokens(word: str) -> tuple[int, ...]:
    """The digests any of which makes a message match one (normalized) query
    word: words starting with it (a query word of PREFIX_MIN to PREFIX_MAX
    characters), else the whole word. The whole word's digest is also looked
    for in the first case, so that messages indexed before prefixes were (up to
    a ``reencrypt_messages --reindex``) are still found by their whole words."""
    if PREFIX_MIN <= len(word) <= PREFIX_MAX:
        return (prefix_hash(word), word_hash(word))
    return (word_hash(word),)


def search_tokens(text: str) -> list[int]:
    """The distinct digests ``text`` is indexed as, in first-seen order (at most
    MAX_TOKENS_PER_MESSAGE): its words' prefixes and words, and facets."""
    seen: dict[int, None] = {}
    if LINK_RE.search(text):
        seen[facet_hash("link")] = None
    for word in dict.fromkeys(normalize_words(text)):  # a word said twice is hashed once
        for token in word_tokens(word):
            seen.setdefault(token, None)
        if len(seen) >= MAX_TOKENS_PER_MESSAGE:
            return list(seen)[:MAX_TOKENS_PER_MESSAGE]
    return list(seen)
