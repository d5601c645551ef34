"""Search: prefixes of words, the filters (from:, in:, has:, before:, after:,
on:), across rooms and in one, over the keyed-hash index only."""

import random
import string
from datetime import timedelta

import pytest
from django.utils import timezone

from chat import commands, crypto, selectors
from chat.models import ChatMessage, SearchToken
from chat.tests.api_helpers import assert_error, client_for, png_bytes, upload
from chat.tests.factories import group_room, send
from chatsite.core.exceptions import Invalid

pytestmark = pytest.mark.django_db


def found(user, query, **kwargs):
    return [m.content_preview for m in selectors.message_search(user=user, query=query, **kwargs)]


@pytest.fixture(autouse=True)
def _preview(monkeypatch):
    from chat.events.render import message_content

    monkeypatch.setattr(ChatMessage, "content_preview", property(message_content), raising=False)


def test_a_word_finds_the_words_it_starts_and_only_those(alice, bob):
    room = group_room(alice, bob)
    send(room, bob, "the checklist is ready")
    send(room, bob, "check the logs")
    send(room, bob, "a cheque arrived")
    send(room, bob, "recheck nothing")
    assert found(alice, "check") == ["check the logs", "the checklist is ready"]
    assert found(alice, "che") == ["a cheque arrived", "check the logs", "the checklist is ready"]
    assert found(alice, "checklist") == ["the checklist is ready"]
    assert found(alice, "checklists") == []
    assert found(alice, "CHECK LOG") == ["check the logs"]  # every word, any case, each a prefix


def test_short_and_long_words_match_whole(alice, bob):
    room = group_room(alice, bob)
    send(room, bob, "go to the internationalization meeting")
    send(room, bob, "gone internationally")
    assert found(alice, "go") == ["go to the internationalization meeting"]  # under 3 characters: the whole word
    assert found(alice, "internationalization") == ["go to the internationalization meeting"]  # past 12: whole word
    assert found(alice, "internationa") == ["gone internationally", "go to the internationalization meeting"]


def test_the_index_holds_no_word_and_is_bounded(alice, bob):
    room = group_room(alice, bob)
    letters = random.Random(7)
    # 13-letter words of random letters: 11 digests each (10 prefixes and the word), seldom shared.
    words = ["".join(letters.choice(string.ascii_lowercase) for _ in range(13)) for _ in range(280)]
    message = send(room, bob, "Zanzibar " + " ".join(words))
    tokens = set(SearchToken.objects.filter(message=message).values_list("token", flat=True))
    assert len(tokens) == crypto.MAX_TOKENS_PER_MESSAGE
    assert crypto.prefix_hash("zanzibar") in tokens and crypto.word_hash("zanzibar") not in tokens
    assert crypto.prefix_hash("zan") in tokens and crypto.prefix_hash("za") not in tokens
    # A prefix and a word of the same letters are different digests.
    assert crypto.prefix_hash("abc") != crypto.word_hash("abc")


def test_messages_indexed_before_prefixes_are_still_found_by_whole_words(alice, bob):
    room = group_room(alice, bob)
    old = send(room, bob, "release friday")
    SearchToken.objects.filter(message=old).delete()
    SearchToken.objects.bulk_create(
        [SearchToken(message=old, room=room, token=crypto.word_hash(w)) for w in ("release", "friday")]
    )
    assert found(alice, "friday") == ["release friday"]
    assert found(alice, "fri") == []  # until reencrypt_messages --reindex


def test_filters_from_in_has_and_dates(alice, bob, carol):
    team = group_room(alice, bob, carol, name="Launch crew")
    other = group_room(alice, bob, name="Lunch")
    direct, _ = commands.room_get_or_create_direct(actor=alice, user_id=carol.pk)
    send(team, bob, "plan from bob")
    send(team, carol, "plan from carol, see https://example.com/plan")
    send(other, bob, "plan over lunch")
    send(direct, carol, "plan just for you")
    attachment = commands.attachment_create(actor=bob, upload=upload("plan.png", png_bytes(), "image/png"), room_id=other.pk)
    send(other, bob, "plan picture", attachment=attachment)
    old = send(other, alice, "plan of last month")
    ChatMessage.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))

    assert found(alice, "plan from:bob") == ["plan picture", "plan over lunch", "plan from bob"]
    assert found(alice, "plan from:@carol from:bob in:launch") == ["plan from carol, see https://example.com/plan", "plan from bob"]
    assert found(alice, 'in:"launch crew"') == ["plan from carol, see https://example.com/plan", "plan from bob"]
    assert found(alice, "in:@carol") == ["plan just for you"]
    assert found(alice, "from:me") == ["plan of last month"]
    assert found(alice, "has:link") == ["plan from carol, see https://example.com/plan"]
    assert found(alice, "plan has:file") == ["plan picture"]
    assert found(alice, "has:image in:lunch") == ["plan picture"]
    day = (timezone.now() - timedelta(days=40)).date()
    assert found(alice, f"on:{day.isoformat()}") == ["plan of last month"]
    assert found(alice, f"plan before:{(day + timedelta(days=1)).isoformat()}") == ["plan of last month"]
    assert "plan of last month" not in found(alice, f"plan after:{day.isoformat()}")
    assert found(alice, "in:nowhere plan") == []
    assert found(alice, "plan", room=other) == ["plan picture", "plan over lunch", "plan of last month"]
    assert found(bob, "in:@carol") == []  # not bob's room


@pytest.mark.parametrize(
    ("query", "code"),
    [("has:spaceship", "invalid_search_filter"), ("before:yesterday", "invalid_search_filter"), ("  !! ", "query_required"), ("on:2026-13-01", "invalid_search_filter")],
)
def test_a_filter_that_makes_no_sense_is_refused_by_name(alice, query, code):
    with pytest.raises(Invalid) as refused:
        selectors.message_search(user=alice, query=query)
    assert refused.value.code == code
    assert_error(client_for(alice).get("/api/search/", {"q": query}), 400, code, fields=("q",))


def test_unknown_prefixes_and_odd_quotes_are_words(alice, bob):
    room = group_room(alice, bob)
    send(room, bob, "see ticket:1234 today")
    assert found(alice, "ticket:1234") == ["see ticket:1234 today"]
    assert found(alice, 'ticket "1234') == ["see ticket:1234 today"]
    response = client_for(alice).get("/api/search/", {"q": "from:bob tick"})
    assert response.status_code == 200 and [m["content"] for m in response.json()] == ["see ticket:1234 today"]


def test_walking_a_common_word_a_window_at_a_time_finds_the_newest_matches(alice, bob, monkeypatch):
    """With a tiny window, the walk needs many windows: what it returns is what
    a full scan would, newest first, also when old messages were re-indexed
    (edited: their index entries are newer than they are)."""
    monkeypatch.setattr(selectors, "SEARCH_WINDOW", 2)
    monkeypatch.setattr(selectors, "SEARCH_WINDOW_MAX", 3)
    room = group_room(alice, bob)
    other = group_room(alice, bob, name="Other")
    base = timezone.now() - timedelta(hours=1)
    for n in range(30):
        target = room if n % 3 else other
        message = send(target, bob, f"common words {n}" + (" rare" if n % 7 == 0 else ""))
        ChatMessage.objects.filter(pk=message.pk).update(created_at=base + timedelta(minutes=n))
    oldest_rare = ChatMessage.objects.get(room=other, created_at=base)
    commands.message_edit(actor=bob, message_id=oldest_rare.pk, content="common words 0 rare edited")

    assert found(alice, "common rare") == ["common words 28 rare", "common words 21 rare", "common words 14 rare", "common words 7 rare", "common words 0 rare edited"]
    assert found(alice, "common", limit=4) == ["common words 29", "common words 28 rare", "common words 27", "common words 26"]
    assert len(found(alice, "common", limit=100)) == 30
    assert found(alice, "common rare", room=room) == ["common words 28 rare", "common words 14 rare", "common words 7 rare"]
