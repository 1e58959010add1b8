"""Cost of rule filters (status, direction) and of component attribution in an evaluation.

Prints figures, asserts nothing. The worst case for attribution is every trunk breaching
at once (a carrier outage over the whole account): each gets a baseline view of the
hour before its window. Setup: 1,000 trunks, 200,000 calls held over 65 minutes, one
per-trunk p95 rule over 5 minutes.

    .venv/bin/python bench/bench_rule_filters.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config import Rule
from monitor.models import Call
from monitor.rules import evaluate
from monitor.windows import CallWindows

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPAN = timedelta(minutes=65)
STATUSES = ("connected", "connected", "connected", "disconnected", "failed")


def windows_of(n: int, trunks: int) -> CallWindows:
    rng = random.Random(1)
    windows = CallWindows(SPAN)
    step = SPAN.total_seconds() / n
    for i in range(n):
        end = NOW - SPAN + timedelta(seconds=(i + 1) * step)
        windows.add(
            Call(
                id=f"c{i}",
                trunk_id=f"t{rng.randrange(trunks):04d}",
                status=rng.choice(STATUSES),
                start_time=end - timedelta(seconds=60),
                end_time=end,
                ai_latency_ms=rng.lognormvariate(6.1, 0.4),
                carrier_lag_ms=rng.lognormvariate(4.4, 0.4),
                gateway_processing_ms=rng.lognormvariate(2.7, 0.3),
                direction=rng.choice(("inbound", "outbound")),
            )
        )
    return windows


def timed(windows: CallWindows, rule: Rule, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        evaluate([rule], windows, None, NOW)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20,000 calls, 100 trunks")
    args = parser.parse_args()
    calls, trunks = (20_000, 100) if args.quick else (200_000, 1_000)
    windows = windows_of(calls, trunks)
    base: dict[str, Any] = {"name": "r", "metric": "ai_latency_ms", "stat": "p95"}
    cases = {
        "no filter, nothing breaches": {**base, "warning": 1e9},
        "status: [connected]": {**base, "warning": 1e9, "status": ("connected",)},
        "direction: inbound": {**base, "warning": 1e9, "direction": "inbound"},
        "every trunk breaches (attribution)": {**base, "warning": 1.0},
        "breaches, status + direction filters": {
            **base,
            "warning": 1.0,
            "status": ("connected",),
            "direction": "inbound",
        },
    }
    print(f"{calls:,} calls held over {SPAN}, {trunks:,} trunks, window 5m, best of 3")
    for label, spec in cases.items():
        rule = Rule.model_validate(spec)
        print(f"  {label:<40} {timed(windows, rule, 3):8.1f} ms per evaluation")


if __name__ == "__main__":
    main()
