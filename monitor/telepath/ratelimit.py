"""Pure decisions about when the next request may go. No I/O; callers pass the time.

Telepath allows 6,000 requests per minute per key (headers say the real figure) and
answers 429 past it, with ``X-RateLimit-Reset`` as an absolute Unix time in seconds.
The same key may serve other integrations, so we also keep our own, possibly lower,
budget with a token bucket.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Final

#: Never wait longer than this on one rate-limit answer: a reset far in the future is
#: more likely a clock or header bug than a real instruction.
MAX_RATE_LIMIT_WAIT: Final = 120.0
#: Larger header values are not rate-limit figures (a Unix time fits well below this).
MAX_HEADER_VALUE: Final = 1e12


class RateLimiter:
    """A token bucket of ``per_minute`` requests per minute, plus the server's own view.

    When the server advertises a lower ``X-RateLimit-Limit``, the bucket runs at that.

    Burst capacity is a tenth of a minute's budget (at least one request) so a long
    backfill spreads over the minute instead of spending it all in the first second.
    """

    def __init__(self, per_minute: int, *, now: float) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._capacity = max(1.0, per_minute / 10.0)
        self._tokens = self._capacity
        self._updated = now
        self._blocked_until_epoch = 0.0
        self._reset_epoch: float | None = None
        self.server_limit: int | None = None
        self.server_remaining: int | None = None
        # The poll jobs share one client from scheduler threads.
        self._lock = threading.Lock()

    def reserve(self, *, now: float, now_epoch: float) -> float:
        """Take one request from the budget; return how long to wait before sending it.

        Args:
            now: monotonic seconds, for the bucket.
            now_epoch: wall-clock Unix seconds, for the server's reset time.
        """
        with self._lock:
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            self._tokens -= 1.0
            bucket_wait = 0.0 if self._tokens >= 0 else -self._tokens / self._rate
            blocked_until = self._blocked_until_epoch
            # The server's count for its window, less what we sent since it answered: the
            # bucket is sliding, the server's window fixed, so the bucket alone can go
            # over the window by its burst.
            reset, remaining = self._reset_epoch, self.server_remaining
            if reset is not None and remaining is not None:
                if now_epoch >= reset:
                    self.server_remaining = None  # a new window: unknown until answered
                elif remaining <= 0:
                    blocked_until = max(blocked_until, reset)
                else:
                    self.server_remaining = remaining - 1
            server_wait = max(0.0, min(blocked_until - now_epoch, MAX_RATE_LIMIT_WAIT))
            return max(bucket_wait, server_wait)

    def _pace(self, per_minute: int) -> None:
        # A key allowed fewer requests than our own budget is paced to its limit, so a
        # busy poll spreads over the minute instead of spending it and then waiting,
        # blind, for the reset.
        self._rate = per_minute / 60.0
        self._capacity = max(1.0, per_minute / 10.0)
        self._tokens = min(self._tokens, self._capacity)

    def observe(self, headers: Mapping[str, str], *, now_epoch: float) -> list[str]:
        """Read ``X-RateLimit-*`` from a response; when none remain, hold until reset.

        Returns the names of the headers present but unusable (not a finite number,
        ``inf``, ``1e400``...): they are ignored, and the caller reports them.
        """
        names = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
        unusable = [n for n in names if n in headers and _header_int(headers, n) is None]
        limit = _header_int(headers, "x-ratelimit-limit")
        remaining = _header_int(headers, "x-ratelimit-remaining")
        reset = _header_int(headers, "x-ratelimit-reset")
        with self._lock:
            if limit is not None and limit >= 1 and limit != self.server_limit:
                self.server_limit = limit
                self._pace(min(self.per_minute, limit))
            if reset is not None:
                self._reset_epoch = float(reset)
            if remaining is not None:
                self.server_remaining = remaining
                if remaining <= 0 and reset is not None and reset > now_epoch:
                    self._blocked_until_epoch = float(reset)
        return unusable


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    """A header as an integer; None when absent or not a finite number (``inf``,
    ``nan``, ``1e400`` would overflow, or stall the bucket, further on)."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number) or abs(number) > MAX_HEADER_VALUE:
        return None
    return int(number)


def rate_limit_wait(headers: Mapping[str, str], *, now_epoch: float) -> float | None:
    """Seconds a 429 asks us to wait: ``Retry-After`` (seconds or HTTP date) first,
    then ``X-RateLimit-Reset`` (absolute Unix seconds). None when neither is usable."""
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        wait = _parse_retry_after(retry_after, now_epoch)
        if wait is not None:
            return min(wait, MAX_RATE_LIMIT_WAIT)
    reset = _header_int(headers, "x-ratelimit-reset")
    if reset is not None:
        return min(max(0.0, reset - now_epoch), MAX_RATE_LIMIT_WAIT)
    return None


def _parse_retry_after(value: str, now_epoch: float) -> float | None:
    # RFC 9110 §10.2.3: delay-seconds or an HTTP-date.
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when: datetime = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_epoch)


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with equal jitter for retry number ``attempt`` (1-based).

    Half the delay is fixed so retries never bunch at zero; the other half is random
    so many clients failing together do not retry in lockstep.
    """
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)
