"""Throughput of call sync, in process and against the simulator, and requests per poll.

Prints figures, asserts nothing. Targets: parsing, de-duplicating and adding calls to
the windows at >= 100,000 calls/s on one core; an idle poll costs exactly 1 request.

    .venv/bin/python bench/bench_sync.py [--quick]

Pages are realistic: the simulator's own list items (``monitor.simulator``), 100 calls a
page, newest first, cursor pagination. Each figure is the best of a few runs, each run
on fresh state (a sync drops calls it has seen, so a second run over the same sync
would measure nothing).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import math
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from machine import machine
from pydantic import SecretStr

from monitor.clock import ManualClock
from monitor.metrics import MonitorMetrics
from monitor.models import Call
from monitor.simulator import DEFAULT_API_KEY, SimulatorOptions, SimulatorServer
from monitor.simulator import bodies as sim_bodies
from monitor.simulator.scenarios import Timeline
from monitor.store import StateStore
from monitor.sync import CallSync
from monitor.telepath import parsing
from monitor.telepath.client import TelepathClient, build_http_client
from monitor.windows import CallWindows

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PAGE = 100
TRUNKS = 200
#: Long enough that every generated call stays in the windows (worst case for adding).
RETENTION = timedelta(hours=2)
BACKFILL = timedelta(hours=3)
OVERLAP = timedelta(minutes=10)  # the config default of poll.overlap
#: The client's own budget, lifted like the simulator's limit: we measure our work, not
#: the wait. With the default 6,000 requests/minute a backfill runs at most 100 pages/s.
UNLIMITED_RPM = 10**9


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f} calls/s ({seconds * 1e3:,.0f} ms for {n:,})"


def best_run(runs: int, setup: Callable[[], Any], run: Callable[[Any], object]) -> float:
    """Smallest wall time of ``run(setup())`` over ``runs`` runs; setup is not timed."""
    best = float("inf")
    for _ in range(runs):
        state = setup()
        gc.collect()
        started = time.perf_counter()
        run(state)
        best = min(best, time.perf_counter() - started)
        dispose(state)
    return best


def dispose(state: object) -> None:
    """Close what a run opened: a sync's client and state DB, or a state DB."""
    if isinstance(state, CallSync):
        state.client.close()
        state.store.close()
    elif isinstance(state, StateStore):
        state.close()


# --- data ----------------------------------------------------------------------------------


def page_bodies(n: int) -> list[dict[str, Any]]:
    """The newest ``n`` simulated calls ended by NOW as decoded ``GET /calls`` bodies."""
    minutes = n / 1000 + 10  # 1,000 calls a minute; ten minutes spare
    options = SimulatorOptions(
        trunks=TRUNKS, calls_per_minute=1000, history=timedelta(minutes=minutes)
    )
    calls = Timeline(options, NOW).visible(NOW)[-n:][::-1]  # newest first
    pages: list[dict[str, Any]] = []
    for number, first in enumerate(range(0, len(calls), PAGE)):
        items = [sim_bodies.list_item(c, nested=False) for c in calls[first : first + PAGE]]
        more = first + PAGE < len(calls)
        pages.append(
            {"data": items, "next_cursor": f"p{number + 1}" if more else None, "has_more": more}
        )
    return pages


class NoCallWrites(StateStore):
    """A state DB that skips storing calls, to show what the SQLite write costs."""

    def add_calls(self, calls: Sequence[Call]) -> None:
        return None


def new_sync(client: TelepathClient, store: StateStore, metrics: bool = False) -> CallSync:
    """A CallSync on fresh windows, optionally wired to metrics as the daemon does."""
    clock = ManualClock(NOW)
    windows = CallWindows(RETENTION)
    lock = threading.RLock()
    on_new = None
    if metrics:
        on_new = MonitorMetrics(windows, lock, clock, max_trunks=1000).on_new_calls
    return CallSync(
        client,
        store,
        windows,
        clock,
        backfill=BACKFILL,
        overlap=OVERLAP,
        lock=lock,
        on_new_calls=on_new,
    )


def mock_client(raw_pages: list[bytes], clock: ManualClock) -> TelepathClient:
    """A TelepathClient on httpx.MockTransport serving pre-encoded pages by cursor."""

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        number = 0 if cursor is None else int(cursor[1:])
        return httpx.Response(
            200, content=raw_pages[number], headers={"Content-Type": "application/json"}
        )

    http = httpx.Client(base_url="http://telepath.test/v1", transport=httpx.MockTransport(handler))
    return TelepathClient(
        http,
        api_key=SecretStr(DEFAULT_API_KEY),
        clock=clock,
        requests_per_minute=UNLIMITED_RPM,
        max_pages=len(raw_pages) + 1,
    )


# --- in process ----------------------------------------------------------------------------


def bench_processing(n: int, runs: int, tmp: Path) -> None:
    pages = page_bodies(n)
    n = sum(len(p["data"]) for p in pages)
    raw = [json.dumps(p, separators=(",", ":")).encode() for p in pages]
    print(
        f"in process: {n:,} calls in {len(pages):,} pages of {PAGE}, {TRUNKS} trunks, "
        f"{sum(map(len, raw)) / n:.0f} bytes of JSON per call"
    )
    parsed = [parsing.parse_calls_page(p).calls for p in pages]
    null_client = mock_client([], ManualClock(NOW))
    store_seq = iter(range(10**6))

    def store() -> StateStore:
        return StateStore(tmp / f"state-{next(store_seq)}.db")

    def null_store() -> StateStore:
        return NoCallWrites(":memory:")

    def decode(_: object) -> None:
        for body in raw:
            json.loads(body)

    def parse(_: object) -> None:
        for body in pages:
            parsing.parse_calls_page(body)

    def ingest(sync: CallSync) -> None:
        for calls in parsed:
            sync._ingest(sync._fresh(calls))

    def parse_ingest(sync: CallSync) -> None:
        for body in pages:
            page = parsing.parse_calls_page(body)
            sync._ingest(sync._fresh(page.calls))

    def feed(metrics: MonitorMetrics) -> None:
        for calls in parsed:
            metrics.on_new_calls(calls)

    def write(db: StateStore) -> None:
        for calls in parsed:
            db.add_calls(calls)

    def new_metrics() -> MonitorMetrics:
        return MonitorMetrics(
            CallWindows(RETENTION), threading.RLock(), ManualClock(NOW), max_trunks=1000
        )

    def bare_sync() -> CallSync:
        return new_sync(null_client, null_store())

    print("  components, each alone:")
    parts: list[tuple[str, Callable[[], Any], Callable[[Any], object]]] = [
        ("json.loads of the page bodies (httpx's response.json)", lambda: None, decode),
        ("parse_calls_page on decoded bodies", lambda: None, parse),
        ("CallSync._fresh + _ingest (de-duplicate, seen ids, windows.add_many)", bare_sync, ingest),
        ("MonitorMetrics.on_new_calls (counter + 4 histograms per call)", new_metrics, feed),
        ("StateStore.add_calls, one transaction per page (SQLite file, WAL)", store, write),
    ]
    for label, setup, run in parts:
        print(f"    {label}: {rate(n, best_run(runs, setup, run))}")
    seconds = best_run(runs, bare_sync, parse_ingest)
    print(f"  parse + de-duplicate + add to windows, no HTTP, no SQLite: {rate(n, seconds)}")

    # CallSync.poll's own path: client paging on MockTransport, JSON decode, sync, store.
    def run_poll(sync: CallSync) -> None:
        result = sync.poll()
        if result.new != n:
            raise RuntimeError(f"poll ingested {result.new:,} calls, expected {n:,}")

    def poll_setup(make_store: Callable[[], StateStore], metrics: bool) -> Callable[[], CallSync]:
        def setup() -> CallSync:
            return new_sync(mock_client(raw, ManualClock(NOW)), make_store(), metrics)

        return setup

    print("  CallSync.poll through TelepathClient on httpx.MockTransport (first backfill):")
    for label, make_store, metrics in (
        ("without the SQLite call write", null_store, False),
        ("with the SQLite call write (StateStore in a temp dir)", store, False),
        ("with SQLite and metrics fed, as the daemon wires it", store, True),
    ):
        seconds = best_run(runs, poll_setup(make_store, metrics), run_poll)
        print(f"    {label}: {rate(n, seconds)}")
    null_client.close()


# --- over loopback HTTP --------------------------------------------------------------------


def bench_simulator(calls_per_minute: int, history: timedelta, runs: int, tmp: Path) -> None:
    clock = ManualClock(NOW)
    options = SimulatorOptions(
        trunks=TRUNKS,
        calls_per_minute=calls_per_minute,
        history=history,
        rate_limit_per_minute=None,
    )
    with SimulatorServer(options, clock) as server:
        # The simulator generates its calls on the first request; that is not sync work.
        with httpx.Client(base_url=server.url) as warm:
            warm.get(
                "/calls",
                params={"limit": "1"},
                headers={"Authorization": f"Bearer {options.api_key}"},
            ).raise_for_status()
        visible = len(server.visible_calls())
        print(
            f"simulator on {server.url.rsplit('/', 1)[0]}: {visible:,} calls visible "
            f"({calls_per_minute:,}/min over {history}, {TRUNKS} trunks), rate limit off, "
            "warmed with one request before timing"
        )

        def client() -> TelepathClient:
            return TelepathClient(
                build_http_client(server.url),
                api_key=SecretStr(options.api_key),
                clock=clock,
                requests_per_minute=UNLIMITED_RPM,
                max_pages=visible // PAGE + 10,
            )

        syncs: list[CallSync] = []
        store_seq = iter(range(10**6))
        for label, metrics in (("bare", False), ("metrics fed, as the daemon wires it", True)):
            timings: list[float] = []
            for _ in range(runs):
                db = StateStore(tmp / f"sim-{next(store_seq)}.db")
                sync = new_sync(client(), db, metrics)
                sync.backfill = history  # the first poll reads exactly the history
                server.reset_request_counts()
                gc.collect()
                started = time.perf_counter()
                result = sync.poll()
                timings.append(time.perf_counter() - started)
                requests = sum(server.request_counts.values())
                syncs.append(sync)
            best = min(timings)
            print(
                f"  first backfill via CallSync.poll, StateStore in a temp dir, {label}: "
                f"{rate(result.new, best)}, {requests:,} requests, "
                f"median of {runs} {result.new / statistics.median(timings):,.0f} calls/s"
            )

        sync = syncs[0]
        for other in syncs[1:]:
            dispose(other)
        server.reset_request_counts()
        idle = sync.poll()
        print(
            f"  idle poll right after the full sync: {sum(server.request_counts.values())} "
            f"request(s) ({idle.new} new, {idle.received:,} re-read)"
        )
        for seconds in (30, 30, 60):
            clock.advance(seconds)
            server.reset_request_counts()
            later = sync.poll()
            print(
                f"  poll {seconds} s after the previous one: "
                f"{sum(server.request_counts.values())} requests, {later.new:,} new calls "
                f"of {later.received:,} read"
            )
        # A figure of correctness, not speed: calls the API lists that the polls never got.
        since = clock.now() - history
        stored = {c.id for c in sync.store.load_calls()}  # retention keeps every call here
        missed = [c for c in server.visible_calls() if c.start_time >= since and c.id not in stored]
        print(
            f"  calls listed by the simulator since {since:%H:%M:%S} but not ingested after "
            f"these polls: {len(missed):,}"
            + (
                f" (durations {min(c.finished_at - c.start_time for c in missed)} to "
                f"{max(c.finished_at - c.start_time for c in missed)})"
                if missed
                else ""
            )
        )
        dispose(sync)


# --- old and new sync design, requests per poll ---------------------------------------------


class Traffic:
    """An in-process ``GET /calls`` over a fixed list of calls: listed once ended, newest
    first, offset pagination with ``total``, 100 a page. The date range is bisected, so
    a request costs its page, not the history: the figures are the client's."""

    def __init__(self, clock: ManualClock, calls: list[tuple[float, float]], trunks: int):
        self.clock = clock
        calls.sort()
        self.starts = [start for start, _ in calls]
        self.ends = [end for _, end in calls]
        self.trunks = trunks
        self.requests = 0

    def item(self, i: int) -> dict[str, Any]:
        start, end = self.starts[i], self.ends[i]
        return {
            "id": f"call_{i}", "trunk_id": f"conn_{i % self.trunks}", "status": "connected",
            "start_time": datetime.fromtimestamp(start, UTC).isoformat(),
            "end_time": datetime.fromtimestamp(end, UTC).isoformat(),
            "duration_seconds": round(end - start, 3),
            "ai_latency_ms": 300, "carrier_lag_ms": 85, "gateway_processing_ms": 20,
        }  # fmt: skip

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        now = self.clock.now().timestamp()
        query = request.url.params
        lower = parsing.parse_timestamp(query["from"]).timestamp()
        upper = min(
            now, parsing.parse_timestamp(query.get("to", "9999-01-01T00:00:00Z")).timestamp()
        )
        lo = bisect.bisect_left(self.starts, lower)
        hi = bisect.bisect_right(self.starts, upper)
        listed = [i for i in range(hi - 1, lo - 1, -1) if self.ends[i] <= now]
        offset, limit = int(query.get("offset", "0")), int(query["limit"])
        body = {
            "calls": [self.item(i) for i in listed[offset : offset + limit]],
            "pagination": {"limit": limit, "offset": offset, "total": len(listed)},
        }
        return httpx.Response(200, json=body)

    def listed_ids(self, since: float, now: float) -> set[str]:
        lo = bisect.bisect_left(self.starts, since)
        return {f"call_{i}" for i in range(lo, len(self.starts)) if self.ends[i] <= now}


@dataclass
class DesignRun:
    """What one design did over one scenario."""

    requests: list[int] = field(default_factory=list)  # per poll, the first excluded
    cpu: list[float] = field(default_factory=list)  # seconds per poll, the first excluded
    late: int = 0
    missed: int = 0
    long_delays: list[float] = field(default_factory=list)  # listed → ingested, long calls


def run_design(
    calls: list[tuple[float, float]],
    *,
    trunks: int,
    every: timedelta,
    polls: int,
    overlap: timedelta,
    sweep_every: timedelta,
    long_call: float,
    tmp: Path,
) -> DesignRun:
    """Poll ``polls`` times every ``every`` from NOW on; ``sweep_every`` 0 is the old
    design (every poll walks the whole overlap)."""
    clock = ManualClock(NOW)
    traffic = Traffic(clock, list(calls), trunks)
    http = httpx.Client(base_url="https://api.test/v1", transport=httpx.MockTransport(traffic))
    client = TelepathClient(
        http, api_key=SecretStr("k" * 20), clock=clock, requests_per_minute=UNLIMITED_RPM,
        max_pages=10_000,
    )  # fmt: skip
    heard: dict[str, datetime] = {}

    def on_new(batch: Sequence[Call]) -> None:
        for call in batch:
            heard[call.id] = clock.now()

    store = StateStore(tmp / f"design-{time.monotonic_ns()}.db")
    sync = CallSync(
        client, store, CallWindows(timedelta(minutes=5)), clock, backfill=timedelta(hours=1),
        overlap=overlap, margin=every, sweep_every=sweep_every, on_new_calls=on_new,
    )  # fmt: skip
    run = DesignRun()
    for number in range(polls):
        before, cpu = traffic.requests, time.process_time()
        result = sync.poll()
        if number:
            run.requests.append(traffic.requests - before)
            run.cpu.append(time.process_time() - cpu)
            run.late += result.late
        clock.advance(every.total_seconds())
    now = clock.now().timestamp() - every.total_seconds()
    listed = traffic.listed_ids((NOW - timedelta(hours=1)).timestamp(), now)
    run.missed = len(listed - set(heard))
    for i, (start, end) in enumerate(zip(traffic.starts, traffic.ends, strict=True)):
        if end - start >= long_call and end <= now and f"call_{i}" in heard:
            run.long_delays.append(heard[f"call_{i}"].timestamp() - end)
    client.close()
    store.close()
    return run


def bench_design(scale: int, tmp: Path) -> None:
    """Issue 13's two scenarios, the old design (sweep on every poll) beside the new."""
    rng = random.Random(13)
    print("\nsync design: the whole overlap every poll (old) vs learned overlap + sweep (new)")
    horizon = timedelta(hours=1)

    def arrivals(per_second: float, span: timedelta) -> Iterator[float]:
        moment = (NOW - horizon).timestamp()
        end = moment + (horizon + span).total_seconds()
        while moment < end:
            moment += rng.expovariate(per_second)
            yield moment

    # (a) 10 calls/s over 5 trunks, 1-3 s long, polls every 5 s, poll.overlap 10m.
    span_a = timedelta(minutes=10 // scale or 1)
    calls_a = [(t, t + rng.uniform(1, 3)) for t in arrivals(10, span_a)]
    polls_a = int(span_a / timedelta(seconds=5))
    print(f"(a) 10 calls/s, 1-3 s, polls every 5 s, overlap 10m, {polls_a} polls after the first")
    for label, sweep in (("old", timedelta(0)), ("new", timedelta(minutes=5))):
        run = run_design(
            calls_a, trunks=5, every=timedelta(seconds=5), polls=polls_a + 1,
            overlap=timedelta(minutes=10), sweep_every=sweep, long_call=1e9, tmp=tmp,
        )  # fmt: skip
        print(
            f"  {label}: requests per poll median {statistics.median(run.requests):g}, "
            f"mean {statistics.mean(run.requests):.2f}, max {max(run.requests)}; CPU per poll "
            f"median {statistics.median(run.cpu) * 1e3:.1f} ms; calls listed never ingested "
            f"{run.missed}"
        )

    # (b) 1,000 calls/min, log-normal durations (median 3 min, sigma 0.4) plus a 25-minute
    # call every 10 minutes from NOW-3m30s (ending between two sweeps); polls every 30 s;
    # poll.overlap 30m to reach them.
    span_b = timedelta(minutes=40 // scale or 4)
    calls_b = [(t, t + rng.lognormvariate(math.log(180), 0.4)) for t in arrivals(1000 / 60, span_b)]
    longest_normal = max(end - start for start, end in calls_b)
    for k in range(int(span_b / timedelta(minutes=10)) + 1):
        start = (NOW - timedelta(minutes=3, seconds=30) + timedelta(minutes=10 * k)).timestamp()
        calls_b.append((start, start + 25 * 60))
    polls_b = int(span_b / timedelta(seconds=30))
    print(
        f"(b) 1,000 calls/min, log-normal (median 3 min, longest {longest_normal / 60:.1f} min) "
        f"+ 25-minute calls, polls every 30 s, overlap 30m, {polls_b} polls after the first"
    )
    for label, sweep in (("old", timedelta(0)), ("new", timedelta(minutes=5))):
        run = run_design(
            calls_b, trunks=50, every=timedelta(seconds=30), polls=polls_b + 1,
            overlap=timedelta(minutes=30), sweep_every=sweep, long_call=25 * 60, tmp=tmp,
        )  # fmt: skip
        per_minute = sum(run.requests) / (len(run.requests) * 0.5)
        delays = ", ".join(f"{d:.0f}" for d in run.long_delays) or "none ended"
        print(
            f"  {label}: {per_minute:,.0f} requests/min ({per_minute / 6000:.1%} of 6,000); "
            f"CPU per poll median {statistics.median(run.cpu) * 1e3:.0f} ms; late calls "
            f"{run.late if label == 'new' else 'n/a'}; listed never ingested {run.missed}; "
            "25-minute calls ingested "
            f"this many s after they were listed: {delays}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument(
        "--design", action="store_true", help="only the old-vs-new sync design figures"
    )
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    print(machine() + (" (--quick: sizes / 10)" if args.quick else ""))
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        bench_design(scale, Path(tmp))
        if args.design:
            return
        bench_processing(100_000 // scale, 2 if args.quick else 3, Path(tmp))
        sys.stdout.flush()
        bench_simulator(1000 // scale, timedelta(hours=1), 2 if args.quick else 3, Path(tmp))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
