"""The message search index: keyed hashes of a message's words (chat.crypto),
never the words. Services index what they write; the re-encryption job
(``reencrypt_messages --reindex``) rebuilds it under a new search key."""

from . import crypto
from .models import ChatMessage, SearchToken


def index_message(message: ChatMessage, text: str) -> None:
    """(Re)build the keyed-hash search index of ``message`` from ``text``."""
    SearchToken.objects.filter(message=message).delete()
    SearchToken.objects.bulk_create(
        [SearchToken(message=message, room_id=message.room_id, token=t) for t in crypto.search_tokens(text)]
    )
