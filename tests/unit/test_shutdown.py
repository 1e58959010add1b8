"""StoppableClock: the client's waits end when the daemon stops."""

from __future__ import annotations

import threading
import time

import pytest

from monitor.clock import ManualClock, SystemClock
from monitor.errors import ShutdownRequested
from monitor.shutdown import StoppableClock


def test_a_wait_on_the_system_clock_ends_when_stopping_is_set():
    """A 60 s backoff ends, raising, as soon as stop() sets the event."""
    stopping = threading.Event()
    clock = StoppableClock(SystemClock(), stopping)
    threading.Timer(0.1, stopping.set).start()
    started = time.monotonic()
    with pytest.raises(ShutdownRequested):
        clock.sleep(60)
    assert time.monotonic() - started < 10


def test_no_wait_starts_once_stopping():
    """After stop(), the next wait raises at once, even on a fake clock."""
    stopping = threading.Event()
    manual = ManualClock()
    clock = StoppableClock(manual, stopping)
    clock.sleep(5)
    assert manual.sleeps == [5]
    stopping.set()
    with pytest.raises(ShutdownRequested):
        clock.sleep(5)
    assert manual.sleeps == [5]
    assert clock.now() == manual.now()
    assert clock.monotonic() == manual.monotonic()
