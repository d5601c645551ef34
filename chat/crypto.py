"""Encryption at rest and the keyed-hash search index.

Content is encrypted with MultiFernet over ``CHAT_ENCRYPTION_KEYS``: the first
key encrypts, every key decrypts, so a new key is rolled in by putting it first
and running ``manage.py reencrypt_messages``. Search never sees plaintext in the
database: a message's normalized words are stored as 64-bit HMAC-SHA256 digests
under ``CHAT_SEARCH_KEY`` and a query's words are hashed the same way.
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
MAX_TOKENS_PER_MESSAGE = 500
MAX_WORD_LENGTH = 64


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


def word_hash(word: str) -> int:
    digest = hmac.new(_search_key(), word.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def search_tokens(text: str) -> list[int]:
    """The distinct keyed hashes of ``text``'s words, in first-seen order."""
    seen: dict[int, None] = {}
    for word in normalize_words(text):
        seen.setdefault(word_hash(word), None)
        if len(seen) >= MAX_TOKENS_PER_MESSAGE:
            break
    return list(seen)
