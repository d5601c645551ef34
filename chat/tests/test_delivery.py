"""The per-socket delivery state machine (chat/realtime/delivery.py), without a socket."""

from chat.realtime.delivery import DROP, FILL, HOLD, MAX_HELD_EVENTS, SEND, Delivery

ROOM = "0b7f0f4e-0000-4000-8000-000000000001"
OTHER = "0b7f0f4e-0000-4000-8000-000000000002"
ME = "6c1e0000-0000-4000-8000-0000000000aa"


def event(seq, room=ROOM, **extra):
    return {"type": "chat.event", "room": room, "seq": seq, "text": f'{{"seq": {seq}}}', **extra}


def ephemeral():
    return {"type": "chat.ephemeral", "text": '{"type": "typing"}'}


def started(seqs=None, *, holding=False) -> Delivery:
    delivery = Delivery(ME, holding=holding)
    delivery.start(seqs if seqs is not None else {ROOM: 5, OTHER: 0})
    return delivery


def test_nothing_goes_the_fast_way_before_hello():
    delivery = Delivery(ME)
    assert not delivery.direct(event(1))
    assert not delivery.direct(ephemeral())
    delivery.start({ROOM: 0})
    assert delivery.direct(event(1)) and delivery.direct(ephemeral())


def test_the_next_event_goes_the_fast_way_and_moves_the_cursor():
    delivery = started()
    assert delivery.direct(event(6))
    assert delivery.cursor(ROOM) == 6
    assert delivery.direct(event(7))
    assert delivery.cursor(ROOM) == 7


def test_anything_but_the_next_event_goes_the_slow_way_unchanged():
    delivery = started()
    assert not delivery.direct(event(5))  # duplicate
    assert not delivery.direct(event(8))  # gap
    assert not delivery.direct(event(1, room="not-followed"))
    assert not delivery.direct({"type": "chat.membership", "action": "added", "room": ROOM, "seq": 6, "text": ""})
    assert not delivery.direct({"type": "chat.disconnect", "reason": "logged_out"})
    assert delivery.cursor(ROOM) == 5


def test_slow_path_sends_the_next_drops_duplicates_and_fills_gaps():
    delivery = started()
    assert delivery.event(event(6)) is SEND
    assert delivery.event(event(6)) is DROP
    assert delivery.event(event(3)) is DROP
    assert delivery.event(event(9)) is FILL
    assert delivery.cursor(ROOM) == 6  # untouched until the gap is filled
    assert delivery.event(event(1, room="not-followed")) is DROP


def test_after_a_fill_the_event_is_a_duplicate_or_goes_out():
    delivery = started()
    assert delivery.event(event(9)) is FILL
    delivery.replay_started()
    assert not delivery.direct(event(10))  # no fast path during a replay
    assert delivery.replayed(ROOM, after=9, room_seq=9) == 9
    delivery.replay_finished()
    assert delivery.event(event(9), filled=True) is DROP
    # The log did not reach it (yet): send it anyway rather than lose it.
    assert delivery.event(event(12), filled=True) is SEND
    assert delivery.cursor(ROOM) == 12


def test_replay_keeps_live_progress_made_meanwhile():
    delivery = started({ROOM: 5})
    delivery.replay_started()
    delivery.cursors[ROOM] = 9  # a live event went out while the log was read
    assert delivery.replayed(ROOM, after=7, room_seq=9) == 9
    # ...but never past what the room had when the log was read
    delivery.cursors[ROOM] = 50
    assert delivery.replayed(ROOM, after=7, room_seq=9) == 9
    delivery.replay_finished()
    assert delivery.busy == 0


def test_hold_keeps_events_until_released_in_order():
    delivery = started(holding=True)
    assert not delivery.direct(event(6))
    assert delivery.direct(ephemeral())  # ephemeral notices are not held
    assert delivery.event(event(6)) is HOLD
    assert delivery.event(event(7)) is HOLD
    held = delivery.release()
    assert [m["seq"] for m in held] == [6, 7] and not delivery.holding
    assert [delivery.event(m) for m in held] == [SEND, SEND]
    assert delivery.direct(event(8))


def test_the_hold_is_bounded():
    delivery = started(holding=True)
    for seq in range(6, 6 + MAX_HELD_EVENTS + 10):
        assert delivery.event(event(seq)) is HOLD
    assert len(delivery.release()) == MAX_HELD_EVENTS


def test_membership_notices_are_never_held():
    delivery = started(holding=True)
    assert delivery.event(event(6), may_hold=False) is SEND


def test_removal_of_this_user_sends_the_room_the_slow_way_until_handled():
    delivery = started()
    removal = event(6, removes=[ME])
    assert not delivery.direct(removal)
    assert not delivery.direct(event(7))  # after the removal: the slow way too
    assert delivery.direct(event(1, room=OTHER))  # other rooms are unaffected
    assert delivery.event(removal, may_hold=False) is SEND
    delivery.left(ROOM)
    assert not delivery.follows(ROOM)
    assert delivery.event(event(7)) is DROP
    assert ROOM not in delivery.rooms


def test_someone_elses_removal_goes_the_fast_way():
    delivery = started()
    assert delivery.direct(event(6, removes=["someone-else"]))


def test_joining_a_room_starts_before_the_event_that_added_us():
    delivery = started({OTHER: 0})
    assert delivery.joined(ROOM, 4)
    assert delivery.cursor(ROOM) == 3
    assert delivery.event(event(4), may_hold=False) is SEND
    assert not delivery.joined(ROOM, 9)  # already followed: nothing to join
    assert delivery.cursor(ROOM) == 4


def test_a_removal_for_a_room_not_followed_clears_the_leaving_mark():
    delivery = started({OTHER: 0})
    delivery.direct(event(3, removes=[ME]))
    delivery.removal_handled(ROOM)
    assert delivery.joined(ROOM, 10)
    assert delivery.direct(event(10))


def test_resync_moves_the_cursor_to_the_room_seq():
    delivery = started()
    delivery.resync(ROOM, 40)
    assert delivery.event(event(40)) is DROP
    assert delivery.event(event(41)) is SEND
