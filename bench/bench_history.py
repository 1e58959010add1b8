"""Cost of the history: bytes per trunk-day, write cost per call, 35 days x 1,000 trunks.

Prints figures, asserts nothing.

    .venv/bin/python bench/bench_history.py [--quick]

Traffic: 1,000 trunks, each with 2 calls a minute (2,000 calls a minute account-wide), so
every trunk has a rollup row every minute: the worst case for rows. Latencies log-normal
as in the simulator (AI median 450 ms, carrier 80, gateway 15), 1% failed.

- Write cost: ``StateStore.add_calls`` for pages of 100 calls spread over the 1,000 trunks,
  with the rollup written in the same transaction, against the same with the rollup
  switched off; the difference per call is what the history costs the sync.
- Bytes: one day of minute rows for ``SAMPLE`` trunks, measured as the SQLite file grows
  (after VACUUM, calls table emptied as the sync's pruning would), then the same after
  downsampling to hour rows. Per trunk-day, then projected to 35 days x 1,000 trunks with
  the defaults (``history.fine`` 48 h at minute resolution, the rest hourly).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from machine import machine

import monitor.store as store_module
from monitor.history.store import HistoryStore
from monitor.models import Call
from monitor.store import StateStore

DAY = datetime(2026, 3, 10, tzinfo=UTC)
TRUNKS = 1000
PER_MINUTE = 2
PAGE = 100


def calls(trunks: int, minutes: int, seed: int = 1, prefix: str = "c") -> Iterator[Call]:
    rng = random.Random(seed)
    n = 0
    for minute in range(minutes):
        at = DAY + timedelta(minutes=minute)
        for trunk in range(trunks):
            for _ in range(PER_MINUTE):
                n += 1
                failed = rng.random() < 0.01
                yield Call(
                    id=f"{prefix}{n}",
                    trunk_id=f"conn_{trunk:04d}",
                    status="failed" if failed else "connected",
                    start_time=at + timedelta(seconds=rng.randrange(60)),
                    duration_seconds=float(rng.randint(20, 400)),
                    ai_latency_ms=None if failed else round(rng.lognormvariate(6.11, 0.4)),
                    carrier_lag_ms=None if failed else round(rng.lognormvariate(4.38, 0.5)),
                    gateway_processing_ms=None if failed else round(rng.lognormvariate(2.7, 0.5)),
                )


def write_cost(folder: Path, pages: int) -> tuple[float, float]:
    """Seconds per call of add_calls, with and without the rollup."""
    results = []
    names = vars(store_module)  # add_calls looks record_calls up here at each call
    original = names["record_calls"]
    for rollups in (True, False):
        names["record_calls"] = original if rollups else (lambda db, c, k=None: 0)
        state = StateStore(folder / f"write-{rollups}.db")
        batch = list(calls(TRUNKS, pages * PAGE // (TRUNKS * PER_MINUTE) + 1, seed=2))
        batch = batch[: pages * PAGE]
        began = time.perf_counter()
        for i in range(0, len(batch), PAGE):
            state.add_calls(batch[i : i + PAGE])
        results.append((time.perf_counter() - began) / len(batch))
        state.close()
    names["record_calls"] = original
    return results[0], results[1]


def file_bytes(path: Path) -> int:
    db = sqlite3.connect(path)
    db.execute("VACUUM")
    size = (
        db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
    )
    db.close()
    return int(size)


def bytes_per_trunk_day(folder: Path, sample: int) -> tuple[float, float]:
    path = folder / "size.db"
    empty = StateStore(path)
    empty.close()
    base = file_bytes(path)
    state = StateStore(path)
    batch: list[Call] = []
    for call in calls(sample, 1440, seed=3):
        batch.append(call)
        if len(batch) == 1000:
            state.add_calls(batch)
            batch.clear()
    state.add_calls(batch)
    with state.transaction() as db:
        db.execute("DELETE FROM calls")
    state.close()
    fine = (file_bytes(path) - base) / sample
    state = StateStore(path)
    HistoryStore(state).downsample(DAY + timedelta(days=1))
    state.close()
    hourly = (file_bytes(path) - base) / sample
    return fine, hourly


def trends_cost(folder: Path, minutes: int) -> tuple[float, float, float]:
    """Seconds for the status page's trend rows at 1,000 trunks: a first page load (the
    last hour's slots read), the background fill of the hours, a page load after it."""
    from monitor.reports.trends import TrendCache, trend_rows

    state = StateStore(folder / "trends.db")
    batch: list[Call] = []
    for call in calls(TRUNKS, minutes, seed=4):
        batch.append(call)
        if len(batch) == 5000:
            state.add_calls(batch)
            batch.clear()
    state.add_calls(batch)
    history, cache = HistoryStore(state), TrendCache()
    now = DAY + timedelta(minutes=minutes)
    began = time.perf_counter()
    rows = trend_rows(history, now, cache)
    cold = time.perf_counter() - began
    began = time.perf_counter()
    cache.refresh(history, now, hours=24)
    background = time.perf_counter() - began
    began = time.perf_counter()
    trend_rows(history, now + timedelta(seconds=30), cache)
    warm = time.perf_counter() - began
    state.close()
    if len(rows) != TRUNKS:
        raise RuntimeError(f"expected {TRUNKS} trend rows, got {len(rows)}")
    return cold, background, warm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="sizes divided by 10")
    args = parser.parse_args()
    pages = 50 if args.quick else 500
    sample = 5 if args.quick else 50
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with_rollup, without = write_cost(folder, pages)
        print(
            f"add_calls, {pages * PAGE:,} calls over {TRUNKS:,} trunks in pages of {PAGE}: "
            f"{with_rollup * 1e6:.1f} us/call with the rollup, {without * 1e6:.1f} us/call "
            f"without: the history costs {(with_rollup - without) * 1e6:.1f} us per call "
            f"({1 / with_rollup:,.0f} calls/s stored)"
        )
        began = time.perf_counter()
        fine, hourly = bytes_per_trunk_day(folder, sample)
        took = time.perf_counter() - began
        print(
            f"bytes per trunk-day ({PER_MINUTE} calls a minute, {sample} trunks measured "
            f"in {took:.0f}s): {fine:,.0f} at minute resolution, {hourly:,.0f} after "
            "downsampling to hours"
        )
        minutes = 30 if args.quick else 120
        cold, background, warm = trends_cost(folder, minutes)
        print(
            f"status page trends, {TRUNKS:,} trunks, {minutes} minutes of minute rows: "
            f"first page load {cold:.2f}s, background fill of the hours {background:.2f}s, "
            f"later page loads {warm:.2f}s"
        )
        total = TRUNKS * (2 * fine + 33 * hourly)
        print(
            f"35 days x {TRUNKS:,} trunks (48 h of minutes, 33 days of hours): "
            f"{total / 2**20:,.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
