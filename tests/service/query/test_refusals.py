"""Refusals counted a minute at a time, with an injected clock: no test sleeps.

A window opens at a group's first refusal, which is due at once; later refusals of the window
are counted, and their count is due when the window has closed — at the next refusal of any
group, at a flush, or at a flush of everything (shutdown). Every refusal ends up counted.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service._audit import Actor
from service._refusals import RefusalCounter, Refused


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def _wall() -> str:
    return "2030-01-01T00:00:00+00:00"


TRACER = Actor(agency="agency-b", role="tracer", key_id="key_00000000000000aa")
OTHER = Actor(agency="agency-c", role="tracer", key_id="key_00000000000000bb")
A = Refused("agr_0000000000000001", TRACER, "query", "tracing")
B = Refused("agr_0000000000000001", OTHER, "query", "tracing")


def _counter(clock: Clock, window: float = 60.0) -> RefusalCounter:
    return RefusalCounter(window, clock=clock, wall=_wall)


def test_the_first_refusal_of_a_minute_is_due_at_once_the_rest_when_it_closes():
    clock = Clock()
    counter = _counter(clock)
    (first,) = counter.refuse(A, records=3)
    assert (first.refused, first.refusals, first.records, first.counted_since) == (A, 1, 3, None)
    for k in range(9):
        clock.now += 5
        assert counter.refuse(A, records=None if k % 2 else 2) == []
    assert counter.flush() == []  # the minute is still open
    clock.now = 5000.0 + 60
    (rest,) = counter.flush()
    assert (rest.refused, rest.refusals, rest.records) == (A, 9, 10)
    assert rest.counted_since == _wall()
    expected = {
        "status": 429,
        "refusals": 9,
        "records": 10,
        "counted_since": _wall(),
        "window_seconds": 60.0,
    }
    assert rest.details(429, 60.0) == expected
    assert counter.open_windows == 0 and counter.flush(everything=True) == []


def test_a_refusal_after_the_minute_writes_its_count_then_opens_the_next():
    clock = Clock()
    counter = _counter(clock)
    counter.refuse(A)
    counter.refuse(A)
    counter.refuse(A)
    clock.now += 61
    closing, opening = counter.refuse(A)
    assert (closing.refusals, closing.counted_since) == (2, _wall())
    assert (opening.refusals, opening.counted_since) == (1, None)


def test_a_refusal_of_another_key_writes_the_closed_minutes_of_every_key():
    clock = Clock()
    counter = _counter(clock)
    counter.refuse(A)
    counter.refuse(A)
    clock.now += 30
    counter.refuse(B)
    counter.refuse(B)
    clock.now += 31  # A's minute has closed, B's has not
    due = counter.refuse(B)
    assert [(e.refused, e.refusals) for e in due] == [(A, 1)]
    assert [(e.refused, e.refusals) for e in counter.flush(everything=True)] == [(B, 2)]


def test_a_lone_refusal_writes_one_entry_and_nothing_at_the_close():
    clock = Clock()
    counter = _counter(clock)
    assert len(counter.refuse(A)) == 1
    clock.now += 120
    assert counter.flush() == [] and counter.open_windows == 0


def test_keys_purposes_and_chains_are_counted_apart():
    clock = Clock()
    counter = _counter(clock)
    groups = [
        A,
        B,
        Refused(A.scope, TRACER, "query", "other-purpose"),
        Refused("agr_0000000000000002", TRACER, "query", "tracing"),
    ]
    for g in groups:
        assert [e.refused for e in counter.refuse(g)] == [g]  # each opens its own window
        counter.refuse(g)
    assert sorted(
        (e.refused.scope, e.refused.actor.key_id, e.refused.purpose, e.refusals)
        for e in counter.flush(everything=True)
    ) == sorted((g.scope, g.actor.key_id, g.purpose, 1) for g in groups)


def test_a_window_must_have_a_length():
    with pytest.raises(ValueError, match="window"):
        RefusalCounter(0)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.floats(0, 50), st.sampled_from([A, B]), st.booleans()),
        min_size=1,
        max_size=120,
    )
)
def test_every_refusal_is_counted_in_at_most_two_entries_a_window(steps):
    """Whatever the timing: after the final flush, each group's entries add up to its
    refusals, and no window (first refusal to the one that closes it) has more than two."""
    clock = Clock()
    counter = _counter(clock)
    refused: dict[Refused, int] = defaultdict(int)
    written: dict[Refused, list] = defaultdict(list)  # (refusals, opens a window)

    def write(entries) -> None:
        for e in entries:
            written[e.refused].append((e.refusals, e.counted_since is None))

    for wait, group, flush in steps:
        clock.now += wait
        write(counter.refuse(group))
        refused[group] += 1
        if flush:
            write(counter.flush())
    write(counter.flush(everything=True))
    assert {g: sum(n for n, _ in v) for g, v in written.items()} == dict(refused)
    for entries in written.values():  # first (1), count, first (1), count, ...: never 2 counts
        assert entries[0] == (1, True)
        for (_, before), (n, opens) in itertools.pairwise(entries):
            assert opens or before, "two counts of one window"
            assert n == 1 if opens else n >= 1
