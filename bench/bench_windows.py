"""Throughput, evaluation cost and memory of monitor.windows.

Prints figures, asserts nothing. Targets: adding >= 100,000 calls/s on one core;
all window figures for 1,000 trunks with 200,000 calls held under 100 ms; under 200
bytes held per call at 1,000,000 calls.

    .venv/bin/python bench/bench_windows.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

from monitor.models import LATENCY_METRICS, Call
from monitor.windows import CallWindows, WindowView

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RETENTION = timedelta(hours=1)
WINDOW = timedelta(minutes=5)
STATS = ("avg", "p50", "p95", "p99")
STATUSES = ("connected", "connected", "connected", "disconnected", "failed")


def generate(n: int, trunks: int, span: timedelta, seed: int = 1) -> Iterator[Call]:
    """``n`` calls in time order, finishing evenly over ``span`` up to NOW, on random trunks."""
    rng = random.Random(seed)
    step = span.total_seconds() / n
    first = NOW - span
    for i in range(n):
        end = first + timedelta(seconds=(i + 1) * step)
        failed = rng.random() < 0.03
        yield Call(
            id=f"call_{i:016x}",
            trunk_id=f"conn_{rng.randrange(trunks):06d}",
            status="failed" if failed else rng.choice(STATUSES[:4]),
            start_time=end - timedelta(seconds=rng.randrange(10, 600)),
            end_time=end,
            ai_latency_ms=None if failed else float(rng.randrange(150, 2500)),
            carrier_lag_ms=None if failed else float(rng.randrange(20, 300)),
            gateway_processing_ms=float(rng.randrange(5, 40)),
        )


def late(calls: list[Call], share: float, seed: int = 2) -> list[Call]:
    """The same calls with ``share`` of them arriving up to 2,000 places late."""
    rng = random.Random(seed)
    out = list(calls)
    for i in rng.sample(range(len(out)), int(len(out) * share)):
        j = min(len(out) - 1, i + rng.randrange(1, 2000))
        out[i], out[j] = out[j], out[i]
    return out


def best_of(runs: int, fn: Callable[[], object]) -> float:
    """Smallest wall time of ``runs`` calls of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def figures(view: WindowView) -> int:
    """Every figure a rule or export reads from one view: count, failed ratio, stats."""
    n = view.count
    view.failed_ratio()
    for metric in LATENCY_METRICS:
        for stat in STATS:
            view.stat(metric, stat)
    return n


def fill(calls: list[Call]) -> CallWindows:
    """A fresh store holding ``calls``, added one by one in list order."""
    windows = CallWindows(RETENTION)
    windows.add_many(calls)
    return windows


def view_figures(windows: CallWindows, trunk_id: str | None) -> int:
    """Slice one group's 5-minute window and compute every figure."""
    return figures(windows.view(trunk_id, NOW, WINDOW))


def bench_add(n: int) -> None:
    calls = list(generate(n, 1000, RETENTION))
    shuffled = late(calls, 0.05)
    for label, batch in (("in time order", calls), ("5% out of order", shuffled)):
        seconds = best_of(3, partial(fill, batch))
        print(f"add {n:,} calls, {label}: {n / seconds:,.0f} calls/s ({seconds * 1e3:.0f} ms)")


def bench_evaluate(n: int, trunks: int) -> None:
    windows = CallWindows(RETENTION)
    windows.add_many(generate(n, trunks, RETENTION))
    in_window = windows.view(None, NOW, WINDOW).count

    def evaluate() -> None:
        for trunk_id in windows.trunks():
            figures(windows.view(trunk_id, NOW, WINDOW))
        figures(windows.view(None, NOW, WINDOW))

    seconds = best_of(5, evaluate)
    print(
        f"evaluate {trunks:,} trunks + account, {n:,} calls held over {RETENTION}, "
        f"{WINDOW} window ({in_window:,} calls in it), count + failed ratio + "
        f"avg/p50/p95/p99 x 4 metrics: {seconds * 1e3:.1f} ms"
    )

    # The worst case: every call held falls inside the window.
    dense = CallWindows(RETENTION)
    dense.add_many(generate(n, trunks, WINDOW - timedelta(seconds=1)))
    seconds = best_of(3, lambda: [figures(dense.view(t, NOW, WINDOW)) for t in dense.trunks()])
    account = best_of(3, lambda: figures(dense.view(None, NOW, WINDOW)))
    print(
        f"  same with all {n:,} calls inside the window: trunks {seconds * 1e3:.1f} ms, "
        f"account {account * 1e3:.1f} ms"
    )

    # Account-wide: merging per-trunk slices versus one account-level store.
    single = CallWindows(RETENTION)
    single.add_many(
        Call(
            id=c.id,
            trunk_id="account",
            status=c.status,
            start_time=c.start_time,
            end_time=c.end_time,
            ai_latency_ms=c.ai_latency_ms,
            carrier_lag_ms=c.carrier_lag_ms,
            gateway_processing_ms=c.gateway_processing_ms,
        )
        for c in generate(n, trunks, RETENTION)
    )
    stores: list[tuple[str, CallWindows, str | None]] = [
        (f"merge {trunks:,} trunks", windows, None),
        ("one account store", single, "account"),
    ]
    for label, group, trunk_id in stores:
        slicing = best_of(20, partial(group.view, trunk_id, NOW, WINDOW))
        total = best_of(5, partial(view_figures, group, trunk_id))
        print(
            f"  account view, {label}: slice {slicing * 1e3:.2f} ms, "
            f"slice + all figures {total * 1e3:.2f} ms"
        )


def bench_memory(n: int, trunks: int) -> None:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    windows = CallWindows(RETENTION)
    # A generator: each input Call is freed once added, so only what the windows keep
    # (columns, ids list and the id strings) remains traced.
    windows.add_many(generate(n, trunks, RETENTION))
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(
        f"memory held for {len(windows):,} calls on {trunks:,} trunks: {held / 2**20:.1f} MiB, "
        f"{held / n:.0f} bytes/call (ids like 'call_0000000000000001', counted)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    print(
        f"{platform.platform()}, {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
        + (" (--quick: sizes / 10)" if args.quick else "")
    )
    bench_add(200_000 // scale)
    bench_evaluate(200_000 // scale, 1000 // scale)
    bench_memory(1_000_000 // scale, 1000)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
