"""Cost of baselines: one evaluation of compare rules over 1,000 trunks, from the history.

Prints figures, asserts nothing.

    .venv/bin/python bench/bench_baselines.py [--quick]

History: every trunk has 2 calls a minute in the 15 minutes before "now" 1 hour, 1 day,
then each day back to 28 days ago (the ranges the four baselines read), written through
``StateStore.add_calls`` as the sync writes them; days older than 2 are downsampled to
hour rows as the daemon does. Then, per baseline kind, the time of
``rules.evaluate`` for one compare rule over all trunks (windows empty but for
``min_calls: 0``-style data, so the figure is the baseline's cost), and for all four.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from machine import machine

from monitor.baselines import HistoryBaselines
from monitor.config import Rule
from monitor.history.store import HistoryStore
from monitor.models import Call
from monitor.rules import evaluate
from monitor.store import StateStore
from monitor.windows import CallWindows

NOW = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
BASELINES = ("previous 1h", "same time 1d", "same time 1w", "median of same hour over 4w")


def calls_before(end: datetime, trunks: int, rng: random.Random, tag: str) -> Iterator[Call]:
    """2 calls a minute per trunk over the 15 minutes before ``end``."""
    for minute in range(15):
        at = end - timedelta(minutes=15 - minute)
        for trunk in range(trunks):
            for k in range(2):
                yield Call(
                    id=f"{tag}-{minute}-{trunk}-{k}",
                    trunk_id=f"conn_{trunk:04d}",
                    status="connected",
                    start_time=at + timedelta(seconds=rng.randrange(60)),
                    duration_seconds=60.0,
                    ai_latency_ms=round(rng.lognormvariate(6.11, 0.4)),
                    carrier_lag_ms=80.0,
                    gateway_processing_ms=15.0,
                )


def rule(baseline: str) -> Rule:
    return Rule.model_validate(
        {"name": baseline.replace(" ", "-"), "metric": "ai_latency_ms", "stat": "p95",
         "window": "15m", "min_calls": 0,
         "compare": {"baseline": baseline, "warning": "1.5x", "min_baseline_calls": 1}}
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100 trunks instead of 1,000")
    trunks = 100 if parser.parse_args().quick else 1000
    print(machine())
    rng = random.Random(1)
    ends = [NOW - WINDOW, NOW - timedelta(hours=1)]  # now's window, and previous 1h's range
    ends += [NOW - timedelta(days=d) for d in range(1, 29)]
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(Path(tmp) / "state.db")
        began = time.perf_counter()
        for i, end in enumerate(ends):
            store.add_calls(list(calls_before(end, trunks, rng, f"r{i}")))
        history = HistoryStore(store)
        history.downsample(NOW - timedelta(days=2))
        written = len(ends) * 15 * 2 * trunks
        print(f"history: {written:,} calls written in {time.perf_counter() - began:.1f}s")
        source = HistoryBaselines(history)
        windows = CallWindows(timedelta(hours=1))
        windows.add_many(calls_before(NOW, trunks, rng, "now"))
        for kinds in [(b,) for b in BASELINES] + [BASELINES]:
            rules = [rule(b) for b in kinds]
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                observations = evaluate(rules, windows, None, NOW, baselines=source)
                times.append(time.perf_counter() - t0)
            with_baseline = sum(o.baseline is not None for o in observations)
            name = " + ".join(kinds) if len(kinds) == 1 else "all four"
            print(
                f"{name:<30} {trunks:,} trunks: best {min(times) * 1000:,.0f} ms per "
                f"evaluation ({with_baseline:,} of {len(observations):,} with a baseline)"
            )
        store.close()


if __name__ == "__main__":
    main()
