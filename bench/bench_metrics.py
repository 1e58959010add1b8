"""Cost of serving /metrics with 1,000 trunks, and of feeding the cumulative series.

Prints figures, asserts nothing. Target: rendering /metrics for 1,000 trunks with
200,000 calls held in under 250 ms.

    .venv/bin/python bench/bench_metrics.py [--quick]

The render is ``MonitorMetrics.render()``, which is what the /metrics handler sends:
the scrape-time window figures (7 stats x 4 components per trunk, call counts, failed
ratios, account-wide figures) plus the cumulative histograms of every ingested call
(1,000 trunks x 4 components) and the daemon's own series. For comparison it also times
``prometheus_client.generate_latest`` over ``MonitorMetrics.registry`` (the same
families, formatted sample by sample), which the handler used to send.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from machine import machine
from prometheus_client import generate_latest

from monitor.clock import ManualClock
from monitor.metrics import MonitorMetrics
from monitor.models import Call, Overview
from monitor.telepath.client import RequestRecord
from monitor.windows import CallWindows

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RETENTION = timedelta(hours=1)
EXPORT_WINDOW = timedelta(minutes=5)
STATUSES = ("connected", "connected", "connected", "disconnected")


def generate(n: int, trunks: int, span: timedelta, seed: int = 1) -> Iterator[Call]:
    """``n`` calls in time order, finishing evenly over ``span`` up to NOW.

    The first ``trunks`` calls visit every trunk once, so each has its series.
    """
    rng = random.Random(seed)
    step = span.total_seconds() / n
    first = NOW - span
    for i in range(n):
        end = first + timedelta(seconds=(i + 1) * step)
        failed = rng.random() < 0.03
        trunk = i if i < trunks else rng.randrange(trunks)
        yield Call(
            id=f"call_{i:016x}",
            trunk_id=f"conn_{trunk:06d}",
            status="failed" if failed else rng.choice(STATUSES),
            start_time=end - timedelta(seconds=rng.randrange(10, 600)),
            end_time=end,
            ai_latency_ms=None if failed else float(rng.randrange(150, 2500)),
            carrier_lag_ms=None if failed else float(rng.randrange(20, 300)),
            gateway_processing_ms=float(rng.randrange(5, 40)),
        )


def timings(runs: int, fn: Callable[[], object]) -> list[float]:
    """Wall times of ``runs`` calls of ``fn``, in seconds."""
    out: list[float] = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def build(
    n: int, trunks: int, span: timedelta, *, feed: bool = True
) -> tuple[MonitorMetrics, float]:
    """Metrics over windows holding ``n`` calls, each call fed to the cumulative series
    unless ``feed`` is False (then only the scrape-time window figures have data).

    Returns the metrics and the seconds ``on_new_calls`` took for all of them.
    """
    calls = list(generate(n, trunks, span))
    windows = CallWindows(RETENTION)
    windows.add_many(calls)
    clock = ManualClock(NOW)
    metrics = MonitorMetrics(
        windows,
        threading.RLock(),
        clock,
        export_window=EXPORT_WINDOW,
        max_trunks=trunks,
        sync_watermark=lambda: NOW - timedelta(seconds=5),
    )
    # The daemon's other series, so the page is the one a real scrape gets.
    for endpoint in ("/calls", "/analytics/overview"):
        metrics.on_client_event(RequestRecord(endpoint, "ok", 200, 0.05, 1, 5900, 6000))
        metrics.on_sync(endpoint, ok=True, at=NOW)
    metrics.overview = lambda: Overview(
        fetched_at=NOW,
        values={"ai_latency_ms": 480.0, "carrier_lag_ms": 85.0, "call_count": 900.0},
    )
    gc.collect()
    started = time.perf_counter()
    for first in range(0, n if feed else 0, 100):  # as sync feeds them: one page at a time
        metrics.on_new_calls(calls[first : first + 100])
    return metrics, time.perf_counter() - started


def ms(times: list[float]) -> str:
    return (
        f"median {statistics.median(times) * 1e3:.0f} ms, min {min(times) * 1e3:.0f} ms, "
        f"max {max(times) * 1e3:.0f} ms"
    )


def render(metrics: MonitorMetrics, runs: int, label: str) -> None:
    body = metrics.render()
    lines = body.decode().splitlines()
    series = [line for line in lines if line and not line.startswith("#")]
    per_family: dict[str, int] = {}
    for line in series:
        name = line.split("{", 1)[0].split(" ", 1)[0]
        for suffix in ("_bucket", "_count", "_sum", "_created", "_total"):
            name = name.removesuffix(suffix)
        per_family[name] = per_family.get(name, 0) + 1
    times = timings(runs, metrics.render)
    # The scrape-time window figures, statistics included, before any text is written
    # (an internal step of render(), timed to show where the rest of the time goes).
    windows = timings(runs, metrics._windows.gauges)
    print(
        f"  render /metrics ({label}): {ms(times)} over {runs} runs "
        f"(computing the window figures alone: median "
        f"{statistics.median(windows) * 1e3:.0f} ms); "
        f"{len(body):,} bytes, {len(series):,} series lines"
    )
    biggest = sorted(per_family.items(), key=lambda kv: -kv[1])[:4]
    print("    largest families: " + ", ".join(f"{name} {count:,}" for name, count in biggest))
    old = generate_latest(metrics.registry)
    old_times = timings(max(3, runs // 2), lambda: generate_latest(metrics.registry))
    print(
        f"    for comparison, generate_latest(metrics.registry): {ms(old_times)} "
        f"over {len(old_times)} runs; {len(old):,} bytes"
    )


def bench_render(n: int, trunks: int, runs: int) -> None:
    metrics, fed = build(n, trunks, RETENTION)
    in_window = metrics.registry.get_sample_value("telepath_account_window_calls")
    print(
        f"{trunks:,} trunks, {n:,} calls held over {RETENTION}, {int(in_window or 0):,} in the "
        f"{EXPORT_WINDOW} export window, max_trunks={trunks:,}"
    )
    print(
        f"  on_new_calls for all {n:,} calls (counter + 4 histograms each): "
        f"{n / fed:,.0f} calls/s ({fed * 1e3:,.0f} ms)"
    )
    render(metrics, runs, "scrape-time window figures + histograms")
    unfed, _ = build(n, trunks, RETENTION, feed=False)
    render(unfed, runs, "window figures alone: same windows, no call fed to the histograms")

    # The worst case: every call held falls inside the export window.
    dense, _ = build(n, trunks, EXPORT_WINDOW - timedelta(seconds=1))
    render(dense, runs, f"all {n:,} calls inside the export window")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    print(machine() + (" (--quick: sizes / 10)" if args.quick else ""))
    bench_render(200_000 // scale, 1000 // scale, 3 if args.quick else 7)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
