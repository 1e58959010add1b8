"""Incremental sync against a fake API function on MockTransport, with a manual clock."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from monitor.clock import ManualClock
from monitor.errors import ServerError
from monitor.history.rollup import Tally
from monitor.history.store import HistoryStore
from monitor.models import Call
from monitor.store import StateStore
from monitor.sync import CallSync
from monitor.telepath.client import RetryPolicy, TelepathClient
from monitor.telepath.parsing import parse_timestamp
from monitor.windows import CallWindows

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


class FakeApi:
    """Calls become visible when they end; listed by start time, filtered by `from`."""

    def __init__(
        self,
        clock: ManualClock,
        *,
        newest_first: bool = True,
        page_size: int = 10,
        list_from_start: bool = False,
    ):
        self.clock = clock
        self.list_from_start = list_from_start
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
            c if parse_timestamp(c["end_time"]) <= now else in_progress(c)
            for c in self.calls
            if (
                parse_timestamp(c["start_time" if self.list_from_start else "end_time"]) <= now
                and since <= parse_timestamp(c["start_time"]) <= until
            )
        ]
        visible.sort(key=lambda c: (c["start_time"], c["id"]), reverse=self.newest_first)
        offset = int(request.url.params.get("offset", "0"))
        page = visible[offset : offset + self.page_size]
        body = {
            "calls": page,
            "pagination": {"limit": self.page_size, "offset": offset, "total": len(visible)},
        }
        # Python's default ASCII escapes, so a record may carry a lone surrogate (\ud800).
        return httpx.Response(200, content=json.dumps(body).encode())


def in_progress(record: dict[str, object]) -> dict[str, object]:
    """A call listed before it ended: no end time, partial latencies."""
    partial = {k: v for k, v in record.items() if k not in ("end_time", "duration_seconds")}
    return {**partial, "status": "in_progress", "ai_latency_ms": 1}


def make_sync(tmp_path, api, clock, **kwargs):
    http = httpx.Client(base_url="https://api.test/v1", transport=httpx.MockTransport(api))
    client = TelepathClient(
        http,
        api_key=SecretStr("k" * 20),
        clock=clock,
        page_size=getattr(api, "page_size", 10),
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
        margin=kwargs.get("margin", timedelta(seconds=30)),
        sweep_every=kwargs.get("sweep_every", timedelta(minutes=5)),
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


def test_a_poll_rereads_the_learned_overlap_and_a_sweep_the_whole_overlap(tmp_path):
    """Calls last 30 s: a poll reads back 30 s + the margin; a sweep the whole overlap."""
    clock = ManualClock(T0)
    api = FakeApi(clock)
    for n in range(80):
        api.add(n, T0 - timedelta(minutes=20) + timedelta(seconds=n * 24))
    sync = make_sync(tmp_path, api, clock, overlap=timedelta(minutes=5))
    first = sync.poll()
    assert first.sweep
    assert sync.learned_overlap(clock.now()) == timedelta(seconds=60)
    assert sync.watermark == T0 - timedelta(seconds=48)  # the newest call that ended
    clock.advance(30)
    api.requests.clear()
    result = sync.poll()
    # Starts every 24 s; two more ended meanwhile. 60 s back from the watermark: 5 calls.
    assert not result.sweep
    assert result.since == T0 - timedelta(seconds=108)
    assert (len(api.requests), result.received, result.new) == (1, 5, 2)

    clock.advance(270)  # poll.sweep_every (5m) after the first poll
    api.requests.clear()
    sweep = sync.poll()
    # The whole overlap, 5 minutes before the watermark (T0): 24 calls, 11 of them new.
    assert sweep.sweep
    assert (sweep.late, sweep.new) == (0, 11)
    assert (len(api.requests), sweep.received) == (3, 24)


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


def test_a_call_longer_than_any_seen_is_found_by_the_sweep_counted_late_once(tmp_path, caplog):
    """Calls of 30 s every 10 s, polls every 30 s; one call lasts 25 minutes. The fast path
    reaches back a minute and cannot see it; the next sweep ingests it, once, as late."""
    clock = ManualClock(T0)
    api = FakeApi(clock, page_size=100)
    for n in range(6 * 60):  # an hour of calls
        api.add(n, T0 - timedelta(minutes=10) + timedelta(seconds=10 * n))
    api.add(9999, T0 - timedelta(minutes=5), seconds=25 * 60)  # ends at T0+20m
    sync = make_sync(tmp_path, api, clock, overlap=timedelta(minutes=30))
    caplog.set_level(logging.WARNING, logger="monitor.sync")
    found_at, late, requests = None, 0, []
    for _ in range(2 * 40):  # 40 minutes of polls
        api.requests.clear()
        result = sync.poll()
        requests.append((result.sweep, len(api.requests)))
        late += result.late
        if found_at is None and sync._seen.get("call_9999"):
            found_at = clock.now()
        clock.advance(30)
    ends = T0 + timedelta(minutes=20)
    assert found_at is not None
    assert ends <= found_at <= ends + timedelta(minutes=5)
    assert late == 1
    assert sync.learned_overlap(clock.now()) == timedelta(minutes=25, seconds=30)
    assert len([r for r in caplog.records if "sweep found" in r.message]) == 1
    # Before the long call was found, a fast poll cost one request (60 s of calls).
    before = [n for sweep, n in requests[1:40] if not sweep]
    assert before
    assert max(before) == 1


def test_a_call_listed_in_progress_counts_once_with_its_final_latencies(tmp_path):
    """Listed from its start: not ingested, not seen, read again until it has ended."""
    clock = ManualClock(T0)
    api = FakeApi(clock, list_from_start=True)
    api.add(1, T0 - timedelta(minutes=2), seconds=10)
    api.add(2, T0 - timedelta(minutes=4), seconds=300, ai=777)  # ends at T0+1m
    sync = make_sync(tmp_path, api, clock, sweep_every=timedelta(hours=1))
    heard: list[Call] = []
    sync._on_new_calls = heard.extend
    first = sync.poll()
    assert (first.new, first.in_progress) == (1, 1)
    clock.advance(30)
    second = sync.poll()
    # Still open: the poll reaches back to its start, not just the learned overlap.
    assert (second.new, second.in_progress) == (0, 1)
    assert second.since == T0 - timedelta(minutes=4)
    clock.advance(60)
    third = sync.poll()
    assert (third.new, third.in_progress) == (1, 0)
    clock.advance(30)
    assert sync.poll().new == 0
    assert [(c.id, c.ai_latency_ms) for c in heard] == [("call_1", 400), ("call_2", 777)]
    assert sorted(c.id for c in sync.store.load_calls()) == ["call_1", "call_2"]


def test_a_record_from_the_future_never_moves_the_position(tmp_path):
    """A start in 9999 moved the watermark there, saved it, and blinded every later poll."""
    clock = ManualClock(T0)
    api = FakeApi(clock)
    api.add(1, T0 - timedelta(minutes=2))
    future = {**api.calls[0], "id": "call_future", "start_time": "9999-12-31T23:49:59Z"}

    def handler(request: httpx.Request) -> httpx.Response:
        body = api(request).json()
        return httpx.Response(200, json={**body, "calls": [future, *body["calls"]]})

    sync = make_sync(tmp_path, handler, clock)
    assert sync.poll().skipped == 1
    assert sync.watermark == T0 - timedelta(minutes=2)
    api.add(2, T0 + timedelta(seconds=10))
    clock.advance(60)
    assert sync.poll().new == 1
    assert sync.watermark == T0 + timedelta(seconds=10)


def test_a_future_position_saved_by_an_older_version_is_ignored_on_restore(tmp_path):
    clock = ManualClock(T0)
    api = FakeApi(clock)
    api.add(1, T0 - timedelta(minutes=2))
    store = StateStore(tmp_path / "state.db")
    store.save_watermark(datetime(9999, 12, 31, 23, 49, 59, tzinfo=UTC))
    sync = make_sync(tmp_path, api, clock, store=store)
    sync.restore()
    assert sync.watermark is None
    assert sync.poll().new == 1


def test_a_bad_record_costs_itself_not_its_page(tmp_path):
    """A lone surrogate in an id raised UnicodeEncodeError in the store: every poll failed."""
    clock = ManualClock(T0)
    api = FakeApi(clock)
    for n in range(3):
        api.add(n, T0 - timedelta(minutes=3 - n))
    api.calls.append({**api.calls[0], "id": "call_\ud800"})
    sync = make_sync(tmp_path, api, clock)
    result = sync.poll()
    assert (result.new, result.skipped) == (3, 1)
    assert sorted(c.id for c in sync.store.load_calls()) == ["call_0", "call_1", "call_2"]


def test_a_gap_walk_tallies_its_skips_and_ending_on_its_last_page_is_not_cut(tmp_path):
    """Issue 14: the gap walk's skips were not tallied; a walk ending exactly on its last
    allowed page was taken as cut short; the gap was saved in two commits."""
    clock = ManualClock(T0)
    api = FakeApi(clock)
    for n in range(30):
        api.add(n, T0 - timedelta(minutes=50) + timedelta(minutes=n))
    sync = make_sync(tmp_path, api, clock, max_pages=3)
    first = sync.poll()
    # 30 calls in exactly 3 pages of 10: the walk is complete, no gap.
    assert (first.pages, first.new, first.gap) == (3, 30, None)

    sync.store.set_metas(
        {
            "gap_from": repr((T0 - timedelta(minutes=55)).timestamp()),
            "gap_until": repr((T0 - timedelta(minutes=45)).timestamp()),
        }
    )
    api.calls.append(
        {
            **api.calls[0],
            "id": "call_bad",
            "ai_latency_ms": "fast",
            "start_time": (T0 - timedelta(minutes=48)).isoformat(),
        }
    )
    clock.advance(30)
    writes: list[list[str]] = []  # the meta keys of each commit
    set_metas = sync.store.set_metas

    def spy(values: dict[str, str]) -> None:
        writes.append(sorted(values))
        set_metas(values)

    sync.store.set_metas = spy
    second = sync.poll()
    assert second.skipped == 1
    assert second.gap is None
    assert [w for w in writes if "gap_from" in w] == [["gap_from", "gap_until"]]


def test_the_history_counts_each_final_call_once_never_an_open_or_skipped_one(tmp_path):
    """The rollups are written with the stored calls: a call listed in progress adds
    nothing until it has ended, then its final latencies, once; a skipped record never;
    neither sweeps of the overlap nor a restart that re-reads it count a call again."""
    clock = ManualClock(T0)
    api = FakeApi(clock, list_from_start=True, page_size=100)
    api.add(1, T0 - timedelta(minutes=2), seconds=10)  # trunk conn_1
    api.add(2, T0 - timedelta(minutes=4), seconds=300, ai=777)  # conn_2, ends at T0+1m
    api.add(4, T0 - timedelta(minutes=3), ai=1e308)  # conn_1, implausible: skipped
    sync = make_sync(tmp_path, api, clock, sweep_every=timedelta(minutes=1))
    history = HistoryStore(sync.store)

    def tallies() -> dict[str, Tally]:
        return history.by_trunk(T0 - timedelta(hours=1), T0 + timedelta(hours=1))

    assert sync.poll().in_progress == 1
    assert {t: tally.calls for t, tally in tallies().items()} == {"conn_1": 1}
    for _ in range(8):  # 4 minutes of polls, sweeps among them: call_2 ends and is read
        clock.advance(30)
        sync.poll()
    sync.store.close()
    restarted = make_sync(tmp_path, api, clock, sweep_every=timedelta(minutes=1))
    restarted.restore()
    assert restarted.poll().sweep  # the first poll after a restart walks the whole overlap
    totals = HistoryStore(restarted.store).by_trunk(
        T0 - timedelta(hours=1), T0 + timedelta(hours=1)
    )
    assert {t: tally.calls for t, tally in totals.items()} == {"conn_1": 1, "conn_2": 1}
    ai = totals["conn_2"].distribution("ai_latency_ms")
    assert ai.count == 1
    assert ai.quantile(100) == pytest.approx(777, rel=0.01)  # final, not the partial 1 ms
    restarted.store.close()
