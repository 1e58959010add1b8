"""Regression: a long call, listed only once it ends but sorted by when it started, sits
deep in a newest-first listing among calls already seen; it must still be synced.

In-process on the simulator with a manual clock, so it is deterministic and quick.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from monitor.clock import ManualClock
from monitor.models import Call
from monitor.simulator import DEFAULT_API_KEY, SimulatorOptions, SimulatorServer
from monitor.store import StateStore
from monitor.sync import CallSync
from monitor.telepath.client import TelepathClient
from monitor.windows import CallWindows

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 10, 14, 0, 30, tzinfo=UTC)


def sync_on(server: SimulatorServer, store: StateStore, clock: ManualClock, **kw: Any) -> CallSync:
    """A sync of the last 10 minutes (the overlap too) through a real HTTP client."""
    client = TelepathClient(
        httpx.Client(base_url=server.url, timeout=5),
        api_key=SecretStr(DEFAULT_API_KEY),
        clock=clock,
    )
    window = CallWindows(timedelta(minutes=5))
    ten = timedelta(minutes=10)
    return CallSync(client, store, window, clock, backfill=ten, overlap=ten, **kw)


def test_a_long_call_listed_deep_in_a_newest_first_listing_is_synced(tmp_path: Path) -> None:
    """Polling every 5 seconds for a minute, every call that ended meanwhile is stored."""
    clock = ManualClock(START)
    options = SimulatorOptions(calls_per_minute=600, history=timedelta(minutes=20))
    store = StateStore(tmp_path / "state.db")
    with SimulatorServer(options, clock) as server:
        sync = sync_on(server, store, clock, margin=timedelta(seconds=5))
        since = clock.now() - timedelta(minutes=10)
        try:
            for _ in range(12):
                sync.poll()
                clock.advance(5)
            sync.poll()
            stored = {call.id for call in store.load_calls()}
            expected = {c.id for c in server.visible_calls() if c.start_time >= since}
        finally:
            sync.client.close()
            store.close()
    assert expected - stored == set()


def test_calls_listed_from_their_start_are_ingested_once_final(tmp_path: Path) -> None:
    """The simulator lists calls while in progress (partial latencies, no end): each is
    ingested once, after it ends, with its final latencies; none while in progress."""
    clock = ManualClock(START)
    options = SimulatorOptions(
        calls_per_minute=120, history=timedelta(minutes=20), list_in_progress=True
    )
    store = StateStore(tmp_path / "state.db")
    in_progress: list[int] = []
    heard: list[Call] = []
    with SimulatorServer(options, clock) as server:
        sync = sync_on(server, store, clock, on_new_calls=heard.extend)
        since = clock.now() - timedelta(minutes=10)
        try:
            for _ in range(24):  # polls every 30 s for 12 minutes
                result = sync.poll()
                in_progress.append(result.in_progress)
                clock.advance(30)
            sync.poll()
            expected = {c.id: c for c in server.visible_calls() if c.start_time >= since}
        finally:
            sync.client.close()
            store.close()
    assert min(in_progress) > 0  # at 2 calls a second, some are always going
    stored = {call.id: call for call in heard}
    assert len(stored) == len(heard)  # each once
    assert set(expected) - set(stored) == set()
    wrong = [
        i for i, c in expected.items()
        if (stored[i].ai_latency_ms, stored[i].end_time) != (c.ai_latency_ms, c.end_time)
    ]  # fmt: skip
    assert wrong == []
