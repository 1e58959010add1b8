"""One way for tests to wait on something outside them: poll a condition, bounded."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")


def wait_for(
    check: Callable[[], _T | None],
    what: str,
    timeout: float = 30.0,
    *,
    interval: float = 0.05,
    pause: Callable[[float], object] = time.sleep,
) -> _T:
    """Call ``check`` until it returns something truthy, and return that.

    Args:
        check: looks once at the state waited for (a server, a process, a file).
        what: named in the error, e.g. ``"a firing notification"``.
        timeout: seconds before giving up with ``TimeoutError``.
        interval: longest pause between two checks.
        pause: how to spend a pause; waiting on a process here lets its exit end the
            wait at once (raise from it to stop waiting).
    """
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {what} within {timeout:g}s")
        pause(min(interval, remaining))
