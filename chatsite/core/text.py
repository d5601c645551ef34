"""Text that names things (people, rooms, files) is shown beside other text:
the explicit bidirectional controls that could reorder what surrounds it
("file\u202egnp.exe" shows as "fileexe.png") are taken out of it.

Message text keeps them (a right-to-left writer may need them); the browser
isolates every piece of user text instead (static/chat: dir="auto" and
unicode-bidi: isolate).
"""

# LRE, RLE, PDF, LRO, RLO (U+202A–U+202E) and LRI, RLI, FSI, PDI (U+2066–U+2069).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_DROP = {ord(ch): None for ch in BIDI_CONTROLS}


def without_bidi_controls(text: str) -> str:
    return text.translate(_DROP) if text else text
