"""The token bucket without a server: all-or-nothing takes, refill, Retry-After, per bucket;
and one bucket per agency and role, whatever key of theirs calls."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service._ratelimit import RateLimiter, bucket_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_then_refill():
    clock = Clock()
    limiter = RateLimiter(60, 5, clock=clock)  # one token a second
    assert limiter.take("k", 5).allowed
    refused = limiter.take("k", 1)
    assert not refused.allowed and refused.retry_after == pytest.approx(1.0)
    assert refused.retry_after_header == "1"
    clock.now += 1.0
    assert limiter.take("k", 1).allowed
    assert not limiter.take("k", 1).allowed


def test_a_refused_take_takes_nothing():
    clock = Clock()
    limiter = RateLimiter(6, 4, clock=clock)  # 0.1 token a second
    assert limiter.take("k", 3).allowed
    refused = limiter.take("k", 2)
    assert not refused.allowed and refused.remaining == pytest.approx(1.0)
    assert refused.retry_after == pytest.approx(10.0)
    assert limiter.take("k", 1).allowed  # the one token left was not spent by the refusal


def test_keys_have_their_own_buckets_and_fits_is_the_burst():
    limiter = RateLimiter(1, 3, clock=Clock())
    assert limiter.take("a", 3).allowed and not limiter.take("a", 1).allowed
    assert limiter.take("b", 3).allowed
    assert limiter.fits(3) and not limiter.fits(4)


def test_peek_takes_nothing():
    limiter = RateLimiter(1, 2, clock=Clock())
    assert limiter.peek("k", 2).allowed and limiter.peek("k", 2).allowed
    assert limiter.take("k", 2).allowed and not limiter.peek("k", 1).allowed


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 5), (10, 0)])
def test_bad_settings_are_refused(rate, burst):
    with pytest.raises(ValueError, match="rate_per_minute"):
        RateLimiter(rate, burst)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.5, 600),
    burst=st.integers(1, 50),
    steps=st.lists(st.tuples(st.floats(0, 30), st.integers(1, 60)), min_size=1, max_size=60),
)
def test_never_more_than_burst_plus_refill(rate, burst, steps):
    """Over any run of requests, what was granted is at most burst + rate x elapsed; and
    a refused request would have passed after its Retry-After."""
    clock = Clock()
    limiter = RateLimiter(rate, burst, clock=clock)
    start, granted = clock.now, 0
    for wait, cost in steps:
        clock.now += wait
        decision = limiter.take("k", cost)
        if decision.allowed:
            granted += cost
        elif cost <= burst:
            probe = RateLimiter(rate, burst, clock=clock)
            probe._buckets = dict(limiter._buckets)
            clock.now += decision.retry_after + 1e-6
            assert probe.peek("k", cost).allowed
            assert math.ceil(decision.retry_after) <= int(decision.retry_after_header) or (
                decision.retry_after < 1
            )
            clock.now -= decision.retry_after + 1e-6
        assert granted <= burst + rate / 60.0 * (clock.now - start) + 1e-6


def test_the_bucket_is_the_agency_and_role_not_the_key():
    """A rotated key, or a second tracer key of the agency, finds the same empty bucket."""
    limiter = RateLimiter(1, 3, clock=Clock())
    assert bucket_of(7, "tracer") == bucket_of(7, "tracer")
    assert len({bucket_of(7, "tracer"), bucket_of(8, "tracer"), bucket_of(7, "steward")}) == 3
    assert limiter.take(bucket_of(7, "tracer"), 3).allowed
    assert not limiter.peek(bucket_of(7, "tracer"), 1).allowed  # any key of agency 7
    assert limiter.take(bucket_of(8, "tracer"), 3).allowed  # another agency: its own budget
