"""Rate-limit and backoff decisions."""

from __future__ import annotations

import random

import pytest

from monitor.telepath.ratelimit import (
    MAX_RATE_LIMIT_WAIT,
    RateLimiter,
    backoff_delay,
    rate_limit_wait,
)


def test_bucket_allows_a_burst_then_paces():
    """60/min gives a burst of 6, then one request a second."""
    limiter = RateLimiter(60, now=0.0)
    waits = [limiter.reserve(now=0.0, now_epoch=1000.0) for _ in range(7)]
    assert waits[:6] == [0.0] * 6
    assert waits[6] == pytest.approx(1.0)


def test_bucket_refills_with_time():
    """After a quiet spell the budget is available again."""
    limiter = RateLimiter(60, now=0.0)
    for _ in range(6):
        limiter.reserve(now=0.0, now_epoch=0.0)
    assert limiter.reserve(now=10.0, now_epoch=10.0) == 0.0


def test_server_says_none_remain():
    """Remaining 0 holds every request until the server's reset time."""
    limiter = RateLimiter(6000, now=0.0)
    limiter.observe(
        {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1030"},
        now_epoch=1000.0,
    )
    assert limiter.reserve(now=0.0, now_epoch=1000.0) == pytest.approx(30.0)
    assert (limiter.server_limit, limiter.server_remaining) == (100, 0)
    assert limiter.reserve(now=0.0, now_epoch=1031.0) == 0.0


def test_a_lower_advertised_limit_paces_the_bucket():
    """Our budget 6,000/min, the key 240/min: a burst of 24, then one request per 0.25 s."""
    limiter = RateLimiter(6000, now=0.0)
    limiter.observe({"x-ratelimit-limit": "240", "x-ratelimit-remaining": "239"}, now_epoch=0.0)
    waits = [limiter.reserve(now=0.0, now_epoch=0.0) for _ in range(26)]
    assert waits[:24] == [0.0] * 24
    assert waits[24:] == [pytest.approx(0.25), pytest.approx(0.5)]


def test_a_higher_advertised_limit_keeps_our_own_budget():
    """The key allows 6,000/min but we were told 60: we stay at 60."""
    limiter = RateLimiter(60, now=0.0)
    limiter.observe({"x-ratelimit-limit": "6000", "x-ratelimit-remaining": "5999"}, now_epoch=0.0)
    waits = [limiter.reserve(now=0.0, now_epoch=0.0) for _ in range(7)]
    assert waits[6] == pytest.approx(1.0)


def test_garbage_headers_are_ignored():
    """Unreadable rate-limit headers change nothing."""
    limiter = RateLimiter(6000, now=0.0)
    limiter.observe({"x-ratelimit-remaining": "lots", "x-ratelimit-reset": "soon"}, now_epoch=0)
    assert limiter.server_remaining is None
    assert limiter.reserve(now=0.0, now_epoch=0.0) == 0.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "Thu, 01 Jan 1970 00:16:50 GMT"}, 10.0),
        ({"x-ratelimit-reset": "1012"}, 12.0),
        ({"retry-after": "3", "x-ratelimit-reset": "1012"}, 3.0),
        ({"x-ratelimit-reset": "990"}, 0.0),
        ({"x-ratelimit-reset": "99999999"}, MAX_RATE_LIMIT_WAIT),
        ({"retry-after": "whenever"}, None),
        ({}, None),
    ],
)
def test_wait_after_429(headers, expected):
    """Retry-After (seconds or date) first, then the absolute reset time, capped."""
    assert rate_limit_wait(headers, now_epoch=1000.0) == expected


def test_backoff_grows_with_jitter_and_a_cap():
    """Each retry waits within [d/2, d] for d doubling from base up to the cap."""
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (10, 30.0)]:
        delay = backoff_delay(attempt, base=0.5, cap=30.0, rng=rng)
        assert ceiling / 2 <= delay <= ceiling


def test_requests_sent_since_the_last_answer_count_against_the_window():
    """Two left in this window: two go at once, the third waits for the reset."""
    limiter = RateLimiter(6000, now=0.0)
    limiter.observe(
        {"x-ratelimit-limit": "6000", "x-ratelimit-remaining": "2", "x-ratelimit-reset": "1060"},
        now_epoch=1000.0,
    )
    waits = [limiter.reserve(now=0.0, now_epoch=1000.0) for _ in range(3)]
    assert waits == [0.0, 0.0, pytest.approx(60.0)]
    assert limiter.reserve(now=61.0, now_epoch=1061.0) == 0.0
