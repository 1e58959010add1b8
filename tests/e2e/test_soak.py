"""A time-bounded soak at a high call rate: memory stays flat once the windows are full."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.e2e.conftest import SOAK_CALLS_PER_MINUTE, SOAK_MAX_GROWTH_MIB, SOAK_SECONDS
from tests.e2e.harness import Scenario

CONFIG = """
poll: {calls_every: 1s, overview_every: 5s, backfill: 2m, overlap: 2m}
export: {window: 30s}
rules:
  - name: ai-latency-p95
    metric: ai_latency_ms
    stat: p95
    window: 30s
    for: 0s
    warning: 5000
"""
#: Everything the daemon holds is full after this long: calls for the 30 s window, seen
#: ids for overlap + 5 min (monitor.sync.SEEN_MARGIN), plus the first backfill.
FILL_SECONDS = 30 + 120 + 300
SAMPLE_EVERY = 2.0
#: Besides the soak itself: the daemon's start and first sync (wait_ready allows 60 s)
#: and its stop. pytest's timeout is twice the sum, whatever TELEPATH_E2E_SOAK_SECONDS is.
SETUP_SECONDS = 60 + 10

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(int(2 * (SOAK_SECONDS + SETUP_SECONDS)))]


def test_soak_memory_stays_flat(scenario: Scenario, figures: Callable[..., None]) -> None:
    """RSS sampled every 2 s; from the warm-up on it grows less than the stated bound."""
    scenario.start_api(
        calls_per_minute=SOAK_CALLS_PER_MINUTE,
        trunks=50,
        history=timedelta(minutes=10),
        rate_limit_per_minute=None,
    )
    scenario.write_config(CONFIG)
    daemon = scenario.daemon()
    daemon.wait_ready()
    warmup = min(SOAK_SECONDS / 2, FILL_SECONDS)
    started = time.monotonic()
    samples: list[tuple[float, int]] = []
    while (elapsed := time.monotonic() - started) < SOAK_SECONDS:
        rss = daemon.rss_kib()
        assert rss is not None, "the daemon died during the soak"
        samples.append((elapsed, rss))
        if len(samples) % 10 == 0:
            daemon.scrape()
        time.sleep(SAMPLE_EVERY)
    ready = daemon.get("/readyz").status_code
    ingested = daemon.metric("telepath_monitor_calls_ingested_total")
    code = daemon.terminate()

    after = [rss for t, rss in samples if t >= warmup]
    start_kib = statistics.median(after[:3])
    end_kib = statistics.median(after[-3:])
    growth_mib = (end_kib - start_kib) / 1024
    figures(
        soak_seconds=SOAK_SECONDS,
        calls_per_minute=SOAK_CALLS_PER_MINUTE,
        calls_ingested=ingested,
        rss_first_mib=round(samples[0][1] / 1024, 1),
        rss_after_warmup_mib=round(start_kib / 1024, 1),
        rss_end_mib=round(end_kib / 1024, 1),
        growth_after_warmup_mib=round(growth_mib, 2),
        bound_mib=SOAK_MAX_GROWTH_MIB,
        warmup_seconds=warmup,
        leaks=len(scenario.leaks()),
    )
    assert code == 0
    assert ready == 200
    assert len(after) >= 6
    assert growth_mib <= SOAK_MAX_GROWTH_MIB
    assert scenario.leaks() == []
