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
import gc
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    print(machine() + (" (--quick: sizes / 10)" if args.quick else ""))
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        bench_processing(100_000 // scale, 2 if args.quick else 3, Path(tmp))
        sys.stdout.flush()
        bench_simulator(1000 // scale, timedelta(hours=1), 2 if args.quick else 3, Path(tmp))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
