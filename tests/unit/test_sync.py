"""Incremental sync against a fake API function on MockTransport, with a manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from monitor.clock import ManualClock
from monitor.errors import ServerError
from monitor.models import Call
from monitor.store import StateStore
from monitor.sync import CallSync
from monitor.telepath.client import RetryPolicy, TelepathClient
from monitor.telepath.parsing import parse_timestamp
from monitor.windows import CallWindows

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


class FakeApi:
    """Calls become visible when they end; listed by start time, filtered by `from`."""

    def __init__(self, clock: ManualClock, *, newest_first: bool = True, page_size: int = 10):
        self.clock = clock
        self.newest_first = newest_first
        self.calls: list[dict[str, object]] = []
        self.requests: list[httpx.Request] = []
        self.page_size = page_size
        self.fail = False

    def add(self, n: int, start: datetime, seconds: float = 30, ai: float = 400) -> None:
        self.calls.append(
            {
                "id": f"call_{n}",
                "trunk_id": f"conn_{n % 3}",
                "status": "connected",
                "start_time": start.isoformat(),
                "end_time": (start + timedelta(seconds=seconds)).isoformat(),
                "ai_latency_ms": ai,
                "carrier_lag_ms": 80,
                "gateway_processing_ms": 15,
            }
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail:
            return httpx.Response(503)
        now = self.clock.now()
        since = parse_timestamp(request.url.params["from"])
        until = parse_timestamp(request.url.params.get("to", "9999-12-31T00:00:00Z"))
        visible = [
            c
            for c in self.calls
            if parse_timestamp(c["end_time"]) <= now
            and since <= parse_timestamp(c["start_time"]) <= until
        ]
        visible.sort(key=lambda c: (c["start_time"], c["id"]), reverse=self.newest_first)
        offset = int(request.url.params.get("offset", "0"))
        page = visible[offset : offset + self.page_size]
        return httpx.Response(
            200,
            json={
                "calls": page,
                "pagination": {"limit": self.page_size, "offset": offset, "total": len(visible)},
            },
        )


def make_sync(tmp_path, api, clock, **kwargs):
    http = httpx.Client(base_url="https://api.test/v1", transport=httpx.MockTransport(api))
    client = TelepathClient(
        http,
        api_key=SecretStr("k" * 20),
        clock=clock,
        page_size=api.page_size,
        retry=RetryPolicy(max_attempts=2),
        max_pages=kwargs.get("max_pages", 50),
    )
    return CallSync(
        client,
        kwargs.get("store") or StateStore(tmp_path / "state.db"),
        CallWindows(timedelta(hours=1)),
        clock,
        backfill=kwargs.get("backfill", timedelta(hours=1)),
        overlap=kwargs.get("overlap", timedelta(minutes=10)),
    )


def ids(windows: CallWindows, now: datetime) -> int:
    return windows.view(None, now, windows.retention).count


@pytest.mark.parametrize("newest_first", [True, False])
def test_first_sync_reads_the_backfill_and_the_next_only_whats_new(tmp_path, newest_first):
    """Backfill once, then only new calls: every call ends up in the windows exactly once."""
    clock = ManualClock(T0)
    api = FakeApi(clock, newest_first=newest_first)
    for n in range(35):
        api.add(n, T0 - timedelta(minutes=50) + timedelta(minutes=n))
    api.add(99, T0 - timedelta(hours=2))  # before the backfill: never read
    sync = make_sync(tmp_path, api, clock)

    first = sync.poll()
    assert (first.new, first.since) == (35, T0 - timedelta(hours=1))
    for n in range(35, 40):
        api.add(n, T0 + timedelta(seconds=n))
    clock.advance(120)
    second = sync.poll()
    assert second.new == 5
    assert second.duplicates >= 0
    assert ids(sync.windows, clock.now()) == 40
    clock.advance(30)
    assert sync.poll().new == 0


def test_a_poll_rereads_the_overlap_and_no_further(tmp_path):
    """The calls started within the overlap are read again, nothing older."""
    clock = ManualClock(T0)
    api = FakeApi(clock)
    for n in range(50):
        api.add(n, T0 - timedelta(minutes=20) + timedelta(seconds=n * 24))
    sync = make_sync(tmp_path, api, clock, overlap=timedelta(minutes=5))
    sync.poll()
    clock.advance(30)
    api.requests.clear()
    result = sync.poll()
    # Starts every 24 s, the newest at T0-24s (it ended meanwhile: the one new call);
    # the overlap reaches back to T0-5m24s: 14 calls, 2 pages of 10.
    assert (len(api.requests), result.received, result.new) == (2, 14, 1)


def test_an_idle_poll_of_a_quiet_account_costs_one_request(tmp_path):
    """No call started within the overlap: one empty page."""
    clock = ManualClock(T0)
    api = FakeApi(clock)
    api.add(1, T0 - timedelta(minutes=50))
    sync = make_sync(tmp_path, api, clock)
    sync.poll()
    clock.advance(30 * 60)
    api.requests.clear()
    sync.poll()
    assert len(api.requests) == 1


def test_late_arriving_long_call_is_picked_up_by_the_overlap(tmp_path):
    """A call that started before the watermark but ended later is still ingested."""
    clock = ManualClock(T0)
    api = FakeApi(clock)
    api.add(1, T0 - timedelta(minutes=5), seconds=600)  # ends at T0+5m
    api.add(2, T0 - timedelta(minutes=1), seconds=10)
    sync = make_sync(tmp_path, api, clock)
    assert sync.poll().new == 1
    clock.advance(6 * 60)
    assert sync.poll().new == 1
    assert sync.seen_count == 2


def test_duplicates_within_and_across_pages_count_once(tmp_path):
    """A record repeated on the next page (offset shift) is dropped, not counted twice."""
    clock = ManualClock(T0)
    api = FakeApi(clock, page_size=5)
    for n in range(12):
        api.add(n, T0 - timedelta(minutes=30) + timedelta(minutes=n))
    repeated = dict(api.calls[3])
    api.calls.append(repeated)
    sync = make_sync(tmp_path, api, clock)
    result = sync.poll()
    assert (result.new, result.duplicates) == (12, 1)


def test_restart_resumes_without_gap_or_double_count(tmp_path):
    """A new process on the same state DB restores calls and re-reads only the overlap."""
    clock = ManualClock(T0)
    api = FakeApi(clock)
    for n in range(20):
        api.add(n, T0 - timedelta(minutes=40) + timedelta(minutes=n))
    first = make_sync(tmp_path, api, clock)
    first.poll()
    watermark = first.watermark
    first.store.close()

    for n in range(20, 25):
        api.add(n, T0 + timedelta(seconds=n))
    clock.advance(300)
    second = make_sync(tmp_path, api, clock)
    assert second.restore() == 20
    assert second.watermark == watermark
    result = second.poll()
    assert result.new == 5
    assert watermark is not None
    assert result.since == watermark - timedelta(minutes=10)
    assert ids(second.windows, clock.now()) == 25


def test_a_failed_poll_moves_nothing(tmp_path):
    """When the API fails the watermark stays, so the next poll reads the same range."""
    clock = ManualClock(T0)
    api = FakeApi(clock)
    api.add(1, T0 - timedelta(minutes=5))
    sync = make_sync(tmp_path, api, clock)
    sync.poll()
    watermark = sync.watermark
    api.fail = True
    with pytest.raises(ServerError):
        sync.poll()
    assert sync.watermark == watermark
    assert sync.store.load_watermark() == watermark


def test_a_long_outage_reads_back_no_further_than_the_backfill(tmp_path):
    """After a day away the re-read is bounded by the backfill, not the old watermark."""
    clock = ManualClock(T0)
    api = FakeApi(clock)
    sync = make_sync(tmp_path, api, clock)
    sync.watermark = T0 - timedelta(days=1)
    assert sync.since(T0) == T0 - timedelta(hours=1)


def test_prune_forgets_seen_ids_outside_the_reread_range(tmp_path):
    """Seen ids and stored calls are pruned so memory and the DB stay bounded."""
    clock = ManualClock(T0)
    api = FakeApi(clock)
    api.add(1, T0 - timedelta(minutes=50))
    sync = make_sync(tmp_path, api, clock)
    sync.poll()
    api.add(2, T0 + timedelta(minutes=100))
    clock.advance(2 * 3600)
    sync.poll()
    assert sync.seen_count == 1
    assert [c.id for c in sync.store.load_calls()] == ["call_2"]


def test_new_calls_are_reported_to_the_listener(tmp_path):
    """on_new_calls hears each new call once, for the cumulative metrics."""
    clock = ManualClock(T0)
    api = FakeApi(clock)
    for n in range(3):
        api.add(n, T0 - timedelta(minutes=5 - n))
    sync = make_sync(tmp_path, api, clock)
    heard: list[Call] = []
    sync._on_new_calls = heard.extend
    sync.poll()
    sync.poll()
    assert sorted(c.id for c in heard) == ["call_0", "call_1", "call_2"]


@pytest.mark.parametrize("newest_first", [True, False])
def test_a_backfill_cut_short_by_max_pages_is_completed_by_later_polls(tmp_path, newest_first):
    """100 calls, 3 pages of 10 per poll: nothing is lost, the rest comes in later polls,
    and the gap survives a restart."""
    clock = ManualClock(T0)
    api = FakeApi(clock, newest_first=newest_first)
    for n in range(100):
        api.add(n, T0 - timedelta(minutes=50) + timedelta(seconds=25 * n))
    sync = make_sync(tmp_path, api, clock, max_pages=3, overlap=timedelta(minutes=1))
    first = sync.poll()
    assert first.new == 30
    assert (first.gap is not None) is newest_first
    store = sync.store
    restarted = make_sync(
        tmp_path, api, clock, max_pages=3, store=store, overlap=timedelta(minutes=1)
    )
    restarted.restore()
    assert restarted.gap == first.gap
    total = first.new
    for _ in range(8):
        clock.advance(30)
        total += restarted.poll().new
    assert total == 100
    assert restarted.gap is None
    assert store.count_calls() == 100
    store.close()
