"""SIGTERM during a slow or failing poll: the daemon stops within TELEPATH_SHUTDOWN_GRACE
and loses nothing, the next start resumes the sync (issue 19, point 2).

The daemon is a real ``python -m monitor run`` process against the simulator on the
real clock (the end-to-end suite's harness), since signals and exit are what we test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import Scenario, query, stored_call_ids
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

GRACE = 4.0
CONFIG = """
poll: {calls_every: 1s, overview_every: 30s, backfill: 10m}
rules:
  - name: slow
    metric: ai_latency_ms
    stat: p95
    window: 5m
    warning: 100000
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Scenario]:
    run = Scenario(workdir=tmp_path)
    run.start_api(scenario="steady", calls_per_minute=120, history=timedelta(minutes=20))
    run.write_config(CONFIG)
    run.extra_env["TELEPATH_SHUTDOWN_GRACE"] = str(GRACE)
    yield run
    run.close()


def watermark(db: Path) -> float:
    rows = query(db, "SELECT value FROM meta WHERE key = 'watermark'")
    return float(rows[0][0]) if rows else 0.0


def terminate_mid_poll(run: Scenario, **faults: object) -> tuple[float, int, float]:
    """Start a daemon, let it sync once, make the API fail or hang, SIGTERM mid-poll.

    Returns the seconds from SIGTERM to exit, the exit code and the watermark before.
    """
    assert run.api is not None
    daemon = run.daemon()
    daemon.wait_ready(timeout=60)
    before = watermark(run.db)
    assert before > 0
    seen = run.api.count()
    run.api.set_faults(**faults)
    if faults.get("slow_next"):
        # A slow answer is recorded only once sent: give the next poll (every 1 s) time
        # to be on the wire.
        time.sleep(2.5)
    else:  # failing: the API has answered the poll's first attempts
        wait_for(lambda: run.api is not None and run.api.count() > seen + 1, "a failing poll", 30)
        time.sleep(0.3)
    started = time.monotonic()
    code = daemon.terminate(timeout=GRACE + 20)
    return time.monotonic() - started, code, before


def resumes(run: Scenario, before: float) -> None:
    """A new start, with the API healthy again, syncs on from where the last one stopped."""
    assert run.api is not None
    assert query(run.db, "PRAGMA integrity_check") == [("ok",)]
    assert watermark(run.db) >= before  # the cut poll committed nothing half-done
    run.api.set_faults(fail_next=0, slow_next=0, error_rate=0.0, slow_rate=0.0)
    calls_before = stored_call_ids(run.db)
    daemon = run.daemon()
    daemon.wait_ready(timeout=60)
    # Calls end every half second, so new ones are listed at once; the watermark (the
    # newest start seen) can stand still for a while when the latest calls are long.
    wait_for(lambda: stored_call_ids(run.db) > calls_before, "newly ended calls stored", 30)
    assert watermark(run.db) >= before
    assert daemon.terminate(timeout=GRACE + 20) == 0


def test_sigterm_while_the_api_fails_stops_at_once_and_cleanly(scenario):
    """5xx and retry backoff (a budget of 2 minutes): the backoff wait ends on SIGTERM."""
    took, code, before = terminate_mid_poll(scenario, fail_next=100_000, fail_status=503)
    assert code == 0
    assert took < GRACE, f"took {took:.1f}s"
    assert "cut short by the shutdown" in scenario.daemons[0].output()
    resumes(scenario, before)


def test_sigterm_while_a_response_hangs_stops_within_the_grace(scenario):
    """A response slower than the grace: the daemon gives up on it and exits (code 1)."""
    scenario.extra_env["TELEPATH_API_TIMEOUT"] = "60"
    took, code, before = terminate_mid_poll(scenario, slow_next=100_000, slow_seconds=30)
    assert code == 1
    assert took < GRACE + 3, f"took {took:.1f}s"
    assert "did not end within TELEPATH_SHUTDOWN_GRACE" in scenario.daemons[0].output()
    resumes(scenario, before)
