"""tests.support.waiting.wait_for: returns what the check found, pauses between checks,
gives up after its timeout naming what it waited for."""

from __future__ import annotations

import pytest

from tests.support.waiting import wait_for


def test_returns_the_first_truthy_check_and_pauses_in_between():
    answers = iter([None, 0, "found", "later"])
    pauses: list[float] = []
    assert wait_for(lambda: next(answers), "an answer", 10, interval=0.5, pause=pauses.append) == (
        "found"
    )
    assert pauses == [0.5, 0.5]


def test_gives_up_after_the_timeout_naming_what_it_waited_for():
    checks: list[None] = []
    pauses: list[float] = []

    def never() -> None:
        checks.append(None)

    with pytest.raises(TimeoutError, match=r"^no green light within 0s$"):
        wait_for(never, "green light", 0, pause=pauses.append)
    assert (len(checks), pauses) == (1, [])  # looked once, then gave up without pausing


def test_a_pause_that_raises_ends_the_wait():
    def exited(seconds: float) -> None:
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="exited"):
        wait_for(lambda: False, "readiness", 10, pause=exited)
