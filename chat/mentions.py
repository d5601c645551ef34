"""Finding mentions in message text: ``@username``, ``@room`` (alias ``@all``)
and ``@here``. Pure text work; who a name is, and who may use ``@room``, is
decided by chat.services.notifications when the message is stored.

Code is not mentioned: text in backticks (inline or fenced) is skipped, as
people quote ``@decorators`` and e-mail addresses there.
"""

import re
from dataclasses import dataclass, field

ROOM_WORDS = frozenset({"room", "all"})
HERE_WORDS = frozenset({"here"})
MAX_NAMES = 50  # more distinct @names than this in one message are plain text

_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)
# An @ that does not continue a word or an address ("bob@example.com" mentions nobody).
_MENTION = re.compile(r"(?<![\w@.+-])@([\w][\w.@+-]*)")
_TRAILING = ".@+-"


@dataclass(frozen=True, slots=True)
class FoundMentions:
    """What the text asks for; ``names`` are lower-cased candidates, longest
    reading first for each token ("@bob." may mean "bob." or "bob")."""

    names: frozenset[str] = field(default_factory=frozenset)
    room: bool = False
    here: bool = False

    def __bool__(self) -> bool:
        return bool(self.names or self.room or self.here)


def find(text: str) -> FoundMentions:
    if not text or "@" not in text:
        return FoundMentions()
    names: set[str] = set()
    room = here = False
    for match in _MENTION.finditer(_CODE.sub(" ", text)):
        token = match.group(1).lower()
        bare = token.rstrip(_TRAILING)
        if bare in ROOM_WORDS:
            room = True
        elif bare in HERE_WORDS:
            here = True
        elif len(names) < MAX_NAMES:
            names.add(token)
            if bare and bare != token:
                names.add(bare)
    return FoundMentions(names=frozenset(names), room=room, here=here)
