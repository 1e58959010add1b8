"""SLO and histogram figures: how close ``histogram_quantile`` comes to the exact
percentiles with the old and the new latency bucket edges, what the edges cost in
series, and how long reading an SLO's counts takes.

Prints figures, asserts nothing.

    .venv/bin/python bench/bench_slo.py [--quick]

- Accuracy: each simulator scenario at 240 calls a minute; at every minute of its
  incident and of the 10 minutes around it, per trunk and latency component, the exact
  p50/p95/p99 of the calls that started in the last 5 minutes against Prometheus's
  ``histogram_quantile`` (its algorithm, in Python) over the same calls' buckets.
  Figures under 50 calls are skipped, as a window rule's ``min_calls`` would, and so are
  exact figures outside 0.1-5 s (gateway times of ~15 ms sit in the coarse low buckets).
- Series: per trunk, the four latency histograms (buckets + ``+Inf`` + sum + count) and
  the SLO families of one SLO with the default alerts.
- Read cost: ``read_figures`` for one SLO over 28 days of rows, the last 48 hours at
  minute resolution and the rest hourly, for 100 trunks (10 with ``--quick``): what each
  evaluation pays.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from machine import machine

from monitor.config import Slo
from monitor.exposition import LATENCY_BUCKETS
from monitor.history.rollup import HOUR, MINUTE, Tally
from monitor.history.store import _add
from monitor.models import LATENCY_METRICS
from monitor.simulator import SCENARIOS, SimulatorOptions
from monitor.simulator.scenarios import Timeline
from monitor.slo.counts import counter_names
from monitor.slo.source import read_figures
from monitor.store import StateStore
from monitor.windows import percentile

#: The edges before issue 17.
OLD_EDGES = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8,
    1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def histogram_quantile(q: float, edges: tuple[float, ...], values: list[float]) -> float:
    """Prometheus's histogram_quantile over cumulative buckets of ``values``."""
    counts = [sum(1 for v in values if v <= e) for e in edges] + [len(values)]
    bounds = [*edges, math.inf]
    rank = q * counts[-1]
    i = next(k for k, c in enumerate(counts) if c >= rank)
    if bounds[i] == math.inf:
        return bounds[i - 1]
    start, before = (0.0, 0) if i == 0 else (bounds[i - 1], counts[i - 1])
    if counts[i] == before:
        return bounds[i]
    return start + (bounds[i] - start) * (rank - before) / (counts[i] - before)


def accuracy() -> None:
    print("histogram_quantile vs exact, relative error (max over trunks, components, minutes)")
    print(f"{'scenario':<22}{'q':>5}{'old edges':>12}{'new edges':>12}{'figures':>9}")
    for scenario in SCENARIOS:
        options = SimulatorOptions(scenario=scenario, calls_per_minute=240)
        timeline = Timeline(options, T0)
        begin = T0 + options.incident_at - timedelta(minutes=5)
        end = T0 + options.incident_at + options.incident_for + timedelta(minutes=5)
        calls = [c.to_call() for c in timeline.calls_starting(begin - timedelta(minutes=5), end)]
        for q in (0.5, 0.95, 0.99):
            worst = {"old": 0.0, "new": 0.0}
            n = 0
            at = begin
            while at <= end:
                recent = [c for c in calls if at - timedelta(minutes=5) <= c.start_time < at]
                for trunk in sorted({c.trunk_id for c in recent}):
                    for metric in LATENCY_METRICS:
                        values = sorted(
                            v / 1000
                            for c in recent
                            if c.trunk_id == trunk and (v := c.latency(metric)) is not None
                        )
                        if len(values) < 50:
                            continue
                        exact = percentile(values, q * 100)
                        if not 0.1 <= exact <= 5:  # where the edges are dense
                            continue
                        n += 1
                        for name, edges in (("old", OLD_EDGES), ("new", LATENCY_BUCKETS)):
                            got = histogram_quantile(q, edges, values)
                            worst[name] = max(worst[name], abs(got - exact) / exact)
                at += timedelta(minutes=1)
            old, new = worst["old"] * 100, worst["new"] * 100
            print(f"{scenario:<22}{q:>5}{old:>11.1f}%{new:>11.1f}%{n:>9}")


def series() -> None:
    old = 4 * (len(OLD_EDGES) + 3)
    new = 4 * (len(LATENCY_BUCKETS) + 3)
    slo = Slo.model_validate(
        {"name": "x", "good": {"metric": "ai_latency_ms", "threshold": 1500}, "objective": 0.99}
    )
    windows = {w for a in slo.alerts for w in (a.long, a.short)}
    per_slo = 2 + 1 + len(windows)
    print()
    print("series per trunk")
    print(f"  latency histograms, old edges ({len(OLD_EDGES)}):  {old}")
    print(f"  latency histograms, new edges ({len(LATENCY_BUCKETS)}):  {new}  (+{new - old})")
    print(f"  one SLO with the default alerts:     {per_slo}")
    print(f"  with export.max_trunks 500: +{(new - old) * 500:,} histogram series")


def read_cost(trunks: int) -> None:
    slo = Slo.model_validate(
        {"name": "x", "good": {"metric": "ai_latency_ms", "threshold": 1500}, "objective": 0.99}
    )
    good, total = counter_names(slo)
    now = T0
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(Path(tmp) / "s.db")
        with store.transaction() as db:
            for hour in range(48, 28 * 24):
                start = int((now - timedelta(hours=hour + 1)).timestamp()) // HOUR * HOUR
                _add(
                    db,
                    HOUR,
                    {(f"t{t:03}", start): _tally(good, total, 1200) for t in range(trunks)},
                )
            for minute in range(48 * 60):
                start = int((now - timedelta(minutes=minute + 1)).timestamp()) // MINUTE * MINUTE
                _add(
                    db,
                    MINUTE,
                    {(f"t{t:03}", start): _tally(good, total, 20) for t in range(trunks)},
                )
        rows = 0
        with store.transaction() as db:
            (rows,) = db.execute("SELECT COUNT(*) FROM rollups").fetchone()
        began = time.perf_counter()
        reads = 3
        for _ in range(reads):
            read_figures(store, [slo], now)
        took = (time.perf_counter() - began) / reads
        store.close()
    print()
    print(f"read_figures, 1 SLO, 28 days, {trunks} trunks ({rows:,} rows): {took * 1000:,.0f} ms")


def _tally(good: str, total: str, n: int) -> Tally:
    return Tally(statuses={"connected": n}, counters={good: n - 1, total: n})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes divided by 10")
    args = parser.parse_args()
    print(machine())
    accuracy()
    series()
    read_cost(10 if args.quick else 100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
