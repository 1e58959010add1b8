"""History: log-bucket distributions, per-minute rollups, and their SQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.history.buckets import ALPHA, Distribution
from monitor.history.rollup import INVALID, Tally, aggregate
from monitor.history.store import HistoryStore
from monitor.models import Call
from monitor.store import StateStore
from monitor.windows import percentile

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def call(
    n: int, at: datetime, *, trunk: str = "t1", status: str = "connected", ai: float | None = 300.0
) -> Call:
    return Call(
        id=f"c{n}", trunk_id=trunk, status=status, start_time=at, duration_seconds=60.0,
        ai_latency_ms=ai, carrier_lag_ms=80.0, gateway_processing_ms=12.0,
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_within_one_percent_of_the_exact_ones(seed):
    """Every pNN from the buckets is within 1% of the exact interpolated percentile."""
    rng = random.Random(seed)
    values = [rng.lognormvariate(6, 1.2) for _ in range(rng.randint(1, 3000))]
    dist = Distribution.of(values)
    ordered = sorted(values)
    for p in (0, 1, 50, 90, 95, 99, 99.9, 100):
        exact = percentile(ordered, p)
        assert dist.quantile(p) == pytest.approx(exact, rel=ALPHA + 1e-12)
    assert dist.mean() == pytest.approx(sum(values) / len(values), rel=1e-12)


def test_merge_equals_one_distribution_of_everything():
    """Merging parts gives exactly the counts of the whole (merges are sums)."""
    rng = random.Random(7)
    parts = [[rng.uniform(0, 5000) for _ in range(200)] for _ in range(10)]
    merged = Distribution.merged(Distribution.of(p) for p in parts)
    whole = Distribution.of(v for p in parts for v in p)
    assert merged.counts == whole.counts
    assert merged.count == 2000


def test_encoding_round_trips_and_refuses_damage():
    """Bytes decode to the same counts and sum; truncated bytes are an error, not garbage."""
    dist = Distribution.of([0.0, 0.001, 1, 12, 12, 250, 3000.5, 60_000])
    back = Distribution.decode(dist.encode())
    assert back.counts == dist.counts
    assert back.total == dist.total
    assert back.quantile(0) == 0.0
    with pytest.raises(ValueError, match="bytes end"):
        Distribution.decode(dist.encode() + b"\x80")
    with pytest.raises(ValueError, match="8-byte"):
        Distribution.decode(b"\x00")


def test_empty_distribution_has_no_statistics():
    assert Distribution().quantile(95) is None
    assert Distribution().mean() is None


def test_aggregate_counts_per_trunk_and_start_minute():
    """Calls land in the minute they started, per trunk, with statuses and durations."""
    calls = [
        call(1, T0),
        call(2, T0 + timedelta(seconds=59), status="failed", ai=None),
        call(3, T0 + timedelta(seconds=60)),
        call(4, T0, trunk="t2"),
    ]
    tallies = aggregate(calls)
    minute = int(T0.timestamp())
    assert set(tallies) == {("t1", minute), ("t1", minute + 60), ("t2", minute)}
    first = tallies[("t1", minute)]
    assert first.statuses == {"connected": 1, "failed": 1}
    assert first.duration_sum == 120.0
    assert first.distribution("ai_latency_ms").count == 1
    assert first.distribution("total_latency_ms").count == 1  # the failed call has no total


def test_impossible_latencies_are_counted_not_kept():
    """A negative or non-finite latency is left out and counted as invalid."""
    tally = Tally()
    tally.add(call(1, T0, ai=-5.0))
    tally.add(call(2, T0, ai=float("inf")))
    assert tally.counters[INVALID] == 3  # both ai values, and the infinite total
    assert tally.distribution("ai_latency_ms").count == 0
    assert tally.distribution("carrier_lag_ms").count == 2


def test_named_counters_count_exactly():
    """Classifiers (an SLO's good calls) give exact per-minute counts."""
    tallies = aggregate(
        [call(1, T0, ai=100), call(2, T0, ai=2000)],
        {"fast": lambda c: (c.ai_latency_ms or 0) < 500},
    )
    assert next(iter(tallies.values())).counters == {"fast": 1}


@pytest.fixture
def store(tmp_path):
    state = StateStore(tmp_path / "state.db")
    yield state
    state.close()


def test_rollups_are_written_with_the_calls_and_only_once(store):
    """Storing calls writes their rollup in the same transaction; a call stored again
    (a re-read) is not counted twice, nor one repeated within a batch."""
    history = HistoryStore(store)
    store.add_calls([call(1, T0), call(2, T0), call(2, T0)])
    store.add_calls([call(1, T0), call(3, T0 + timedelta(minutes=1))])
    tallies = history.by_trunk(T0, T0 + timedelta(hours=1))
    assert tallies["t1"].calls == 3


def test_a_failed_transaction_writes_no_rollup(store, monkeypatch):
    """When storing the calls fails, the rollup rolls back with them."""
    history = HistoryStore(store)

    class Boom(Exception):
        pass

    def fail(*args):
        raise Boom

    bad = call(1, T0)
    monkeypatch.setattr(Call, "duration_seconds", property(fail), raising=False)
    with pytest.raises(Boom):
        store.add_calls([bad])
    monkeypatch.undo()
    assert history.rollups(T0, T0 + timedelta(hours=1)) == []
    assert store.count_calls() == 0


def test_downsampling_keeps_figures_and_drop_forgets(store):
    """Hour rows hold exactly what their minute rows held; old rows are dropped."""
    history = HistoryStore(store)
    rng = random.Random(3)
    calls = [
        call(i, T0 + timedelta(seconds=rng.uniform(0, 7200)), ai=rng.uniform(50, 3000),
             trunk=rng.choice(["t1", "t2"]))
        for i in range(500)
    ]  # fmt: skip
    store.add_calls(calls)
    end = T0 + timedelta(hours=2)
    before = history.by_trunk(T0, end)
    minute_rows = history.row_count()
    assert history.downsample(T0 + timedelta(hours=1, minutes=30)) > 0
    assert history.row_count() < minute_rows
    after = history.by_trunk(T0, end)
    for trunk in ("t1", "t2"):
        assert after[trunk].statuses == before[trunk].statuses
        assert after[trunk].distribution("ai_latency_ms").counts == (
            before[trunk].distribution("ai_latency_ms").counts
        )
    # A late call in an hour already downsampled is merged at the next downsample.
    store.add_calls([call(9999, T0 + timedelta(minutes=5))])
    history.downsample(T0 + timedelta(hours=1, minutes=30))
    assert history.by_trunk(T0, end)["t1"].calls == before["t1"].calls + 1
    history.drop_older(T0 + timedelta(hours=1))
    assert all(r.start >= (T0 + timedelta(hours=1)).timestamp() for r in history.rollups(T0, end))


def test_coverage_merges_ranges_and_reports_what_is_missing(store):
    history = HistoryStore(store)
    h = timedelta(hours=1)
    history.add_covered(T0, T0 + h)
    history.add_covered(T0 + h, T0 + 2 * h)  # touching: merged
    history.add_covered(T0 + 3 * h, T0 + 4 * h)
    assert history.missing(T0, T0 + 2 * h) == []
    assert history.missing(T0 - h, T0 + 5 * h) == [
        (T0 - h, T0),
        (T0 + 2 * h, T0 + 3 * h),
        (T0 + 4 * h, T0 + 5 * h),
    ]


def test_history_survives_a_reopen(tmp_path):
    """A restart keeps the history."""
    state = StateStore(tmp_path / "s.db")
    state.add_calls([call(1, T0)])
    state.close()
    again = StateStore(tmp_path / "s.db")
    assert HistoryStore(again).by_trunk(T0, T0 + timedelta(minutes=1))["t1"].calls == 1
    again.close()


def test_rollup_counters_set_on_the_store_are_kept_per_minute(store):
    """Named classifiers on the store (what SLOs plug in) give exact stored counts."""
    store.rollup_counters = {"fast": lambda c: (c.ai_latency_ms or 0) <= 400}
    store.add_calls([call(1, T0, ai=100), call(2, T0, ai=900), call(3, T0, ai=400)])
    (row,) = HistoryStore(store).rollups(T0, T0 + timedelta(minutes=1))
    assert row.tally.counters == {"fast": 2}


def test_trends_from_the_cache_equal_the_rollups_read_directly(store):
    """The status page's cached slots and hours give the figures a direct read gives."""
    from monitor.history.rollup import floor_to
    from monitor.reports.trends import SLOT, TrendCache, trend_rows

    history = HistoryStore(store)
    rng = random.Random(5)
    now = T0 + timedelta(hours=3, minutes=7)
    store.add_calls([
        call(i, T0 + timedelta(seconds=rng.uniform(0, 3 * 3600 + 420)),
             trunk=rng.choice(["t1", "t2"]), ai=rng.uniform(50, 3000))
        for i in range(3000)
    ])  # fmt: skip
    cache = TrendCache()
    cold = trend_rows(history, now, cache)
    cache.refresh(history, now, hours=24)
    warm = trend_rows(history, now, cache)
    since = datetime.fromtimestamp(floor_to(now.timestamp() - 3600, SLOT), UTC)
    direct = history.by_trunk(since, now + timedelta(minutes=1))
    for rows in (cold, warm):
        assert {r.trunk_id: r.calls for r in rows} == {t: x.calls for t, x in direct.items()}
    hour = T0 + timedelta(hours=1)  # a settled hour: its p95 is in the sparkline
    p95 = (
        history.by_trunk(hour, hour + timedelta(hours=1))["t1"]
        .distribution("total_latency_ms")
        .quantile(95.0)
    )
    (t1,) = [r for r in warm if r.trunk_id == "t1"]
    assert t1.spark[-3] == p95
    assert len(t1.spark) == 24
