"""A bounded shutdown: SIGTERM ends a slow or failing poll within the grace period.

Without this, ``stop`` waited for a running poll, which the client's retry budget
bounds only at two minutes; Kubernetes sends SIGKILL after 30 s. Now:

1. ``stop`` sets the daemon's ``stopping`` event. The API client waits (rate-limit
   pauses and retry backoff) through a :class:`StoppableClock`, so a wait in progress
   ends at once and the poll unwinds with :class:`~monitor.errors.ShutdownRequested`.
   A request on the wire is bounded by ``TELEPATH_API_TIMEOUT``.
2. ``stop`` gives the scheduler, then the delivery threads, what is left of
   ``TELEPATH_SHUTDOWN_GRACE``; past it, it gives up on them and says so.

Nothing is lost by cutting a poll short: the watermark and the calls of a poll are
committed only when the poll succeeds, so the next start reads the same range again.
"""

from __future__ import annotations

import threading
from datetime import datetime

from monitor.clock import Clock, SystemClock
from monitor.errors import ShutdownRequested


class StoppableClock:
    """``clock``, except that ``sleep`` ends early, raising, once ``stopping`` is set.

    A fake clock advances instantly and has nothing to cut short, so only the
    system clock's waits are made on the event.
    """

    def __init__(self, clock: Clock, stopping: threading.Event) -> None:
        self._clock = clock
        self._stopping = stopping

    def now(self) -> datetime:
        return self._clock.now()

    def monotonic(self) -> float:
        return self._clock.monotonic()

    def sleep(self, seconds: float) -> None:
        self._check()
        if isinstance(self._clock, SystemClock):
            self._stopping.wait(max(0.0, seconds))
        else:
            self._clock.sleep(seconds)
        self._check()

    def _check(self) -> None:
        if self._stopping.is_set():
            raise ShutdownRequested("the daemon is stopping; the poll is cut short")
