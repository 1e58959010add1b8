"""Sliding windows of calls: what they keep, what they count and how they compute."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.models import LATENCY_METRICS, Call
from monitor.windows import CallWindows, StatSpec, ViewCache, parse_stat, percentile

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_call(
    call_id: str,
    seconds: float,
    *,
    trunk: str = "t1",
    status: str = "connected",
    ai: float | None = 100.0,
    carrier: float | None = 10.0,
    gateway: float | None = 1.0,
) -> Call:
    """A call that finished ``seconds`` after T0 and started 30 s before."""
    return Call(
        id=call_id,
        trunk_id=trunk,
        status=status,
        start_time=at(seconds - 30),
        end_time=at(seconds),
        ai_latency_ms=ai,
        carrier_lag_ms=carrier,
        gateway_processing_ms=gateway,
    )


def windows_with(*calls: Call, retention: timedelta = HOUR) -> CallWindows:
    windows = CallWindows(retention)
    windows.add_many(calls)
    return windows


def ids(calls: list[Call]) -> list[str]:
    return [c.id for c in calls]


# parse_stat


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("avg", ("avg", None)),
        ("min", ("min", None)),
        ("max", ("max", None)),
        ("p50", ("percentile", 50.0)),
        ("p95", ("percentile", 95.0)),
        ("p99.9", ("percentile", 99.9)),
        ("p100", ("percentile", 100.0)),
        ("p0.1", ("percentile", 0.1)),
        ("p050", ("percentile", 50.0)),
    ],
)
def test_parse_stat_accepts(name, expected):
    """avg, min, max and pNN with NN in (0, 100], decimals allowed, parse to a StatSpec."""
    assert parse_stat(name) == StatSpec(*expected)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "expected avg, min, max or pNN"),
        ("median", "expected avg, min, max or pNN"),
        ("mean", "expected avg, min, max or pNN"),
        ("p", "expected avg, min, max or pNN"),
        ("P95", "expected avg, min, max or pNN"),
        (" p95", "expected avg, min, max or pNN"),
        ("p 95", "expected avg, min, max or pNN"),
        ("p95.", "expected avg, min, max or pNN"),
        ("p.5", "expected avg, min, max or pNN"),
        ("p-5", "expected avg, min, max or pNN"),
        ("p1e2", "expected avg, min, max or pNN"),
        ("pinf", "expected avg, min, max or pNN"),
        ("p0", "above 0 and at most 100"),
        ("p0.0", "above 0 and at most 100"),
        ("p100.01", "above 0 and at most 100"),
        ("p101", "above 0 and at most 100"),
    ],
)
def test_parse_stat_rejects(name, message):
    """Anything else is a ValueError naming the stat and what would be accepted."""
    with pytest.raises(ValueError, match=message) as caught:
        parse_stat(name)
    assert repr(name) in str(caught.value)


@pytest.mark.parametrize(
    ("values", "percent", "expected"),
    [
        ([7.0], 50.0, 7.0),
        ([7.0], 0.1, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50.0, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 25.0, 1.75),
        ([1.0, 2.0, 3.0, 4.0], 100.0, 4.0),
        ([10.0, 20.0], 95.0, 19.5),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 50.0, 3.0),
        ([0.0, 100.0], 99.9, 99.9),
    ],
)
def test_percentile_interpolates_between_closest_ranks(values, percent, expected):
    """pNN is x[floor r] + (x[ceil r] - x[floor r]) * frac(r) with r = (n - 1) * NN / 100."""
    assert percentile(values, percent) == pytest.approx(expected, rel=1e-12)


# window boundaries and validation


@pytest.mark.parametrize(
    ("finished", "inside"),
    [
        (at(0), False),  # exactly now - window: the start is exclusive
        (at(0) + timedelta(microseconds=1), True),
        (at(150), True),
        (at(300), True),  # exactly now: the end is inclusive
        (at(300) + timedelta(microseconds=1), False),  # after now (clock skew)
        (at(-1), False),
    ],
)
def test_window_is_open_at_the_start_and_closed_at_the_end(finished, inside):
    """A window of w ending at now holds calls with now - w < finished_at <= now."""
    call = Call(id="c", trunk_id="t1", status="connected", start_time=at(-60), end_time=finished)
    view = windows_with(call).view("t1", at(300), timedelta(minutes=5))
    assert view.count == (1 if inside else 0)


def test_calls_are_placed_at_their_finish_time():
    """A call without end_time counts at start + duration, without either at its start."""
    by_duration = Call(
        id="d", trunk_id="t1", status="connected", start_time=at(0), duration_seconds=400
    )
    by_start = Call(id="s", trunk_id="t1", status="connected", start_time=at(100))
    windows = windows_with(by_duration, by_start)
    assert ids(windows.view("t1", at(350), timedelta(minutes=5)).worst_calls("ai_latency_ms")) == []
    assert windows.view("t1", at(350), timedelta(minutes=5)).count == 1
    assert windows.view("t1", at(450), timedelta(minutes=5)).count == 1
    assert windows.view("t1", at(450), timedelta(minutes=10)).count == 2


def test_window_longer_than_retention_is_refused():
    """Asking beyond the retention would silently miss pruned calls, so it is an error."""
    windows = CallWindows(timedelta(minutes=10))
    with pytest.raises(ValueError, match="longer than the retention"):
        windows.view("t1", at(0), timedelta(minutes=11))


@pytest.mark.parametrize("window", [timedelta(0), timedelta(seconds=-1)])
def test_window_must_be_positive(window):
    """An empty or negative window is a ValueError."""
    with pytest.raises(ValueError, match="window must be positive"):
        CallWindows(HOUR).view(None, at(0), window)


@pytest.mark.parametrize("retention", [timedelta(0), timedelta(seconds=-5)])
def test_retention_must_be_positive(retention):
    """A retention that keeps nothing is a ValueError, at construction and on change."""
    with pytest.raises(ValueError, match="retention must be positive"):
        CallWindows(retention)
    with pytest.raises(ValueError, match="retention must be positive"):
        CallWindows(HOUR).set_retention(retention)


def test_naive_times_are_refused():
    """A naive datetime would silently mean local time, so it is a ValueError."""
    windows = CallWindows(HOUR)
    naive = datetime(2026, 1, 1, 12, 0)  # noqa: DTZ001 (the point of the test)
    with pytest.raises(ValueError, match="timezone-aware"):
        windows.view(None, naive, MINUTE)
    with pytest.raises(ValueError, match="timezone-aware"):
        windows.prune(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        windows.add(Call(id="c", trunk_id="t1", status="failed", start_time=naive))


@pytest.mark.parametrize("metric", ["latency", "ai_latency", "failed_ratio", ""])
def test_unknown_metric_is_refused(metric):
    """Every metric-taking query names the unknown metric in a ValueError."""
    view = windows_with(make_call("c", 10)).view("t1", at(20), MINUTE)
    for query in (
        lambda: view.stat(metric, "avg"),
        lambda: view.samples(metric),
        lambda: view.worst_calls(metric),
    ):
        with pytest.raises(ValueError, match="unknown latency metric"):
            query()


def test_unknown_stat_is_refused():
    """view.stat parses its stat name with parse_stat."""
    view = windows_with(make_call("c", 10)).view("t1", at(20), MINUTE)
    with pytest.raises(ValueError, match="unknown stat 'median'"):
        view.stat("ai_latency_ms", "median")


# what a view reports


def test_statistics_of_one_trunk():
    """count, statuses, failed ratio and each stat come from the calls in the window only."""
    windows = windows_with(
        make_call("old", 1, ai=9999.0),
        make_call("a", 100, ai=100.0, status="connected"),
        make_call("b", 110, ai=300.0, status="failed"),
        make_call("c", 120, ai=200.0, status="disconnected"),
        make_call("d", 130, ai=400.0, status="connected"),
        make_call("other", 125, trunk="t2", ai=5000.0),
    )
    view = windows.view("t1", at(130), timedelta(seconds=60))
    assert (view.count, view.count_by_status(), view.failed_ratio()) == (
        4,
        {"connected": 2, "disconnected": 1, "failed": 1},
        0.25,
    )
    assert {s: view.stat("ai_latency_ms", s) for s in ("avg", "min", "max", "p50", "p100")} == {
        "avg": 250.0,
        "min": 100.0,
        "max": 400.0,
        "p50": 250.0,
        "p100": 400.0,
    }
    assert view.stat("total_latency_ms", "max") == 411.0


def test_missing_latencies_are_left_out_of_their_metric():
    """A None latency is no sample for its metric, and makes the total missing too."""
    windows = windows_with(
        make_call("a", 10, ai=100.0, carrier=None),
        make_call("b", 20, ai=None, carrier=30.0),
        make_call("c", 30, ai=300.0, carrier=10.0),
    )
    view = windows.view("t1", at(30), MINUTE)
    assert [view.samples(m) for m in LATENCY_METRICS] == [2, 2, 3, 1]
    assert view.stat("ai_latency_ms", "avg") == 200.0
    assert view.stat("carrier_lag_ms", "min") == 10.0
    assert view.stat("total_latency_ms", "p95") == 311.0


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 1e300])
def test_values_no_call_can_have_count_as_missing(bad):
    """Non-finite or absurd latencies are missing rather than poisoning sums."""
    windows = windows_with(make_call("a", 10, ai=bad), make_call("b", 20, ai=50.0))
    view = windows.view("t1", at(30), MINUTE)
    assert (view.samples("ai_latency_ms"), view.stat("ai_latency_ms", "avg")) == (1, 50.0)


def test_empty_window_has_no_statistics():
    """No calls: count 0, no statuses, and every ratio or statistic is None."""
    view = windows_with(make_call("a", 10)).view("t1", at(1000), MINUTE)
    assert (view.count, view.count_by_status(), view.failed_ratio()) == (0, {}, None)
    assert [view.stat(m, s) for m in LATENCY_METRICS for s in ("avg", "min", "p99")] == [None] * 12
    assert (view.worst_calls("ai_latency_ms"), view.failed_calls()) == ([], [])


def test_statistic_over_zero_samples_is_none():
    """Calls in the window that all miss the metric give None, not 0."""
    view = windows_with(make_call("a", 10, ai=None, status="failed")).view("t1", at(20), MINUTE)
    assert (view.count, view.failed_ratio(), view.stat("ai_latency_ms", "avg")) == (1, 1.0, None)


def test_unknown_trunk_gives_an_empty_view():
    """A trunk with no calls is an empty window, not an error."""
    assert windows_with(make_call("a", 10)).view("nope", at(20), MINUTE).count == 0


def test_account_view_covers_every_trunk():
    """trunk_id=None answers the same questions over the calls of all trunks."""
    windows = windows_with(
        make_call("a", 10, trunk="t1", ai=100.0),
        make_call("b", 20, trunk="t2", ai=200.0, status="failed"),
        make_call("c", 30, trunk="t3", ai=600.0),
    )
    view = windows.view(None, at(30), MINUTE)
    assert (view.trunk_id, view.count, view.failed_ratio()) == (None, 3, 1 / 3)
    assert (view.stat("ai_latency_ms", "avg"), view.stat("ai_latency_ms", "p50")) == (300.0, 200.0)


def test_view_is_a_snapshot():
    """Calls added after a view was taken do not change it."""
    windows = windows_with(make_call("a", 10, ai=100.0))
    view = windows.view(None, at(30), MINUTE)
    windows.add(make_call("b", 20, ai=900.0))
    assert (view.count, view.stat("ai_latency_ms", "max")) == (1, 100.0)


def test_adding_the_same_call_twice_counts_it_twice():
    """De-duplication is the caller's job: windows keep whatever they are given."""
    call = make_call("a", 10)
    assert windows_with(call, call).view("t1", at(20), MINUTE).count == 2


def test_statuses_beyond_the_interning_table_are_other():
    """A flood of distinct statuses is capped; later ones count as "other"."""
    calls = [make_call(f"c{i}", 10, status=f"s{i}") for i in range(300)]
    calls.append(make_call("f", 10, status="failed"))
    counts = windows_with(*calls).view("t1", at(20), MINUTE).count_by_status()
    assert (len(counts), counts["other"], counts["failed"], counts["s0"]) == (255, 47, 1, 1)


# drill-down calls


def test_worst_calls_highest_first_skipping_missing():
    """worst_calls gives the n highest values of a metric, calls missing it left out."""
    windows = windows_with(
        make_call("a", 10, ai=500.0),
        make_call("b", 11, ai=None),
        make_call("c", 12, ai=900.0, trunk="t2"),
        make_call("d", 13, ai=100.0),
        make_call("e", 14, ai=700.0),
    )
    view = windows.view(None, at(20), MINUTE)
    assert ids(view.worst_calls("ai_latency_ms", 3)) == ["c", "e", "a"]
    assert ids(view.worst_calls("ai_latency_ms", 3, highest=False)) == ["d", "a", "e"]
    assert ids(view.worst_calls("ai_latency_ms", 10)) == ["c", "e", "a", "d"]
    assert view.worst_calls("ai_latency_ms", 0) == []


def test_worst_calls_ties_put_the_newer_call_first():
    """Equal values are ordered newest first, in either direction."""
    windows = windows_with(
        make_call("old", 10, ai=5.0, trunk="t2"),
        make_call("new", 12, ai=5.0, trunk="t1"),
        make_call("mid", 11, ai=5.0, trunk="t3"),
    )
    view = windows.view(None, at(20), MINUTE)
    assert ids(view.worst_calls("ai_latency_ms")) == ["new", "mid", "old"]
    assert ids(view.worst_calls("ai_latency_ms", highest=False)) == ["new", "mid", "old"]


def test_failed_calls_newest_first_across_trunks():
    """failed_calls gives the n newest failed calls of the group, newest first."""
    windows = windows_with(
        make_call("f1", 10, status="failed", trunk="t2"),
        make_call("ok", 11),
        make_call("f2", 12, status="failed", trunk="t1"),
        make_call("f3", 13, status="failed", trunk="t3"),
    )
    assert ids(windows.view(None, at(20), MINUTE).failed_calls(2)) == ["f3", "f2"]
    assert ids(windows.view("t2", at(20), MINUTE).failed_calls()) == ["f1"]


def test_negative_n_is_refused():
    """Asking for fewer than zero calls is a ValueError."""
    view = windows_with(make_call("a", 10)).view("t1", at(20), MINUTE)
    with pytest.raises(ValueError, match="zero or more"):
        view.worst_calls("ai_latency_ms", -1)
    with pytest.raises(ValueError, match="zero or more"):
        view.failed_calls(-1)


def test_drill_down_calls_are_rebuilt_from_the_columns():
    """Returned calls carry id, trunk, status, times and latencies; end_time is finished_at."""
    original = Call(
        id="call_1",
        trunk_id="conn_9",
        status="failed",
        start_time=at(5) + timedelta(microseconds=123457),
        duration_seconds=12.5,
        ai_latency_ms=None,
        carrier_lag_ms=85.0,
        gateway_processing_ms=22.0,
    )
    [rebuilt] = windows_with(original).view(None, at(60), MINUTE).failed_calls()
    assert rebuilt == Call(
        id="call_1",
        trunk_id="conn_9",
        status="failed",
        start_time=original.start_time,
        end_time=original.finished_at,
        ai_latency_ms=None,
        carrier_lag_ms=85.0,
        gateway_processing_ms=22.0,
    )


# keeping and pruning


def test_out_of_order_calls_are_placed_by_time():
    """Late calls land in time order, so windows cut them where they belong."""
    windows = windows_with(make_call("c", 30), make_call("a", 10), make_call("b", 20))
    assert windows.view("t1", at(30), timedelta(seconds=15)).count == 2
    view = windows.view("t1", at(30), MINUTE)
    assert ids(view.failed_calls()) == []
    assert ids(view.worst_calls("ai_latency_ms")) == ["c", "b", "a"]  # equal values: newest first


def test_prune_drops_calls_at_or_before_now_minus_retention():
    """prune(now) drops what no window can reach any more and says how many."""
    windows = windows_with(
        make_call("a", 0), make_call("b", 60), make_call("c", 61, trunk="t2"), retention=MINUTE
    )
    assert (windows.prune(at(119)), len(windows), windows.trunks()) == (1, 2, ["t1", "t2"])
    assert (windows.prune(at(121)), windows.total_calls, windows.trunks()) == (2, 0, [])


def test_trunks_lists_trunks_holding_calls():
    """trunks() is sorted and forgets a trunk once its last call is pruned."""
    windows = windows_with(make_call("a", 0, trunk="zz"), make_call("b", 100, trunk="aa"))
    assert windows.trunks() == ["aa", "zz"]
    windows.prune(at(0) + HOUR)
    assert windows.trunks() == ["aa"]


def test_shrinking_retention_prunes():
    """set_retention with a shorter retention drops calls now beyond it."""
    windows = windows_with(make_call("a", 0), make_call("b", 1000), make_call("c", 2000))
    assert windows.set_retention(timedelta(minutes=20), now=at(2000)) == 1
    assert (windows.retention, len(windows)) == (timedelta(minutes=20), 2)


def test_shrinking_retention_without_now_uses_the_last_prune():
    """Without now, the shorter retention applies from the last prune time, else at the next."""
    windows = windows_with(make_call("a", 0), make_call("b", 1000))
    assert windows.set_retention(timedelta(minutes=30)) == 0
    windows.prune(at(1000))
    assert windows.set_retention(timedelta(minutes=10)) == 1
    assert windows.set_retention(HOUR) == 0
    assert len(windows) == 1


def test_late_call_older_than_the_last_prune_goes_at_the_next():
    """A call already beyond the retention is kept until the next prune, but no window sees it."""
    windows = windows_with(make_call("new", 600), retention=MINUTE)
    windows.prune(at(600))
    windows.add(make_call("late", 10))
    assert (len(windows), windows.view("t1", at(600), MINUTE).count) == (2, 1)
    assert (windows.prune(at(600)), len(windows)) == (1, 1)


def test_pruning_on_every_poll_keeps_answers_and_bounds_dead_rows():
    """Pruning each second keeps exact counts, and dropped rows are compacted away in bulk."""
    windows = CallWindows(timedelta(seconds=100))
    for second in range(1, 1001):
        windows.add(make_call(f"c{second}", second))
        windows.prune(at(second))
        assert len(windows) == min(second, 100)
        assert windows.view("t1", at(second), timedelta(seconds=50)).count == min(second, 50)
        store = windows._trunks["t1"]  # the dead prefix never outgrows the live part by much
        assert len(store.ids) <= 2 * len(store) + 32


def test_views_and_cache_share_work():
    """views() gives one view per trunk; ViewCache hands out one view per (group, window)."""
    windows = windows_with(make_call("a", 10, trunk="t1"), make_call("b", 20, trunk="t2"))
    assert {k: v.count for k, v in windows.views(at(30), MINUTE).items()} == {"t1": 1, "t2": 1}
    cache = ViewCache(windows, at(30))
    assert cache.get(None, MINUTE) is cache.get(None, MINUTE)
    assert cache.get("t1", MINUTE) is not cache.get("t1", 2 * MINUTE)


# properties against an exact reference

RETENTION = timedelta(minutes=15)
METRIC_VALUES = st.one_of(
    st.none(),
    st.integers(0, 3000).map(float),
    st.floats(0, 5000, allow_nan=False, allow_infinity=False),
)
OFFSETS = st.one_of(
    st.integers(0, 900).map(lambda s: timedelta(seconds=s)),  # many equal timestamps
    st.integers(0, 900_000_000).map(lambda us: timedelta(microseconds=us)),
)


@st.composite
def calls(draw: st.DrawFn) -> Call:
    finished = T0 + draw(OFFSETS)
    start = finished - timedelta(microseconds=draw(st.integers(0, 10**9)))
    by_duration = draw(st.booleans())
    return Call(
        id=f"c{draw(st.uuids())}",
        trunk_id=draw(st.sampled_from(["t1", "t2", "t3"])),
        status=draw(st.sampled_from(["connected", "failed", "disconnected", "completed"])),
        start_time=start,
        end_time=None if by_duration else finished,
        duration_seconds=(finished - start).total_seconds() if by_duration else None,
        ai_latency_ms=draw(METRIC_VALUES),
        carrier_lag_ms=draw(METRIC_VALUES),
        gateway_processing_ms=draw(METRIC_VALUES),
    )


def reference_percentile(values: list[float], percent: float) -> float:
    """The documented formula, in exact rational arithmetic."""
    x = [Fraction(v) for v in sorted(values)]
    rank = (len(x) - 1) * Fraction(str(percent)) / 100
    lo = math.floor(rank)
    hi = math.ceil(rank)
    return float(x[lo] + (x[hi] - x[lo]) * (rank - lo))


def in_window(call: Call, now: datetime, window: timedelta) -> bool:
    return now - window < call.finished_at <= now


WINDOW_ENDS = st.builds(
    lambda s, us: T0 + timedelta(seconds=s, microseconds=us),
    st.integers(-10, 950),
    st.sampled_from([0, 0, 1, 500_000]),
)
WINDOWS = st.one_of(
    st.integers(1, 900).map(lambda s: timedelta(seconds=s)),
    st.integers(1, 900_000_000).map(lambda us: timedelta(microseconds=us)),
)
STAT_NAMES = ["avg", "min", "max", "p50", "p90", "p95", "p99", "p99.9", "p0.5", "p100"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(calls(), max_size=60),
    st.permutations(range(60)),
    WINDOW_ENDS,
    WINDOWS,
    st.sampled_from([None, "t1", "t2", "t3"]),
)
def test_every_figure_matches_an_exact_reference(batch, order, now, window, group):
    """In any insertion order, every count and statistic equals the reference computed directly."""
    windows = CallWindows(RETENTION)
    windows.add_many(batch[i] for i in order if i < len(batch))
    view = windows.view(group, now, window)
    chosen = [c for c in batch if in_window(c, now, window) and group in (None, c.trunk_id)]
    statuses = sorted({c.status for c in chosen})
    assert view.count == len(chosen)
    assert view.count_by_status() == {s: sum(c.status == s for c in chosen) for s in statuses}
    failed = sum(c.failed for c in chosen)
    assert view.failed_ratio() == (failed / len(chosen) if chosen else None)
    for metric in LATENCY_METRICS:
        values = [v for c in chosen if (v := c.latency(metric)) is not None]
        assert view.samples(metric) == len(values)
        actual = {name: view.stat(metric, name) for name in STAT_NAMES}
        if not values:
            assert actual == dict.fromkeys(STAT_NAMES)
            continue
        expected = {"avg": statistics.fmean(values), "min": min(values), "max": max(values)}
        for name in STAT_NAMES:
            if name.startswith("p"):
                expected[name] = reference_percentile(values, float(name[1:]))
        assert actual == pytest.approx(expected, rel=1e-12, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=80))
def test_percentiles_agree_with_statistics_quantiles(values):
    """Integer percentiles equal statistics.quantiles(n=100, method="inclusive")."""
    windows = windows_with(*(make_call(f"c{i}", 10, ai=v) for i, v in enumerate(values)))
    view = windows.view("t1", at(10), MINUTE)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    actual = [view.stat("ai_latency_ms", f"p{k}") for k in range(1, 100)]
    assert actual == pytest.approx(cuts, rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(st.lists(calls(), max_size=80), st.lists(st.integers(0, 1000), max_size=12))
def test_pruning_never_changes_an_answer(batch, prune_times):
    """Windows up to the retention read the same whether or not, and however often, we prune."""
    pruned, kept = CallWindows(RETENTION), CallWindows(RETENTION)
    for call in batch:
        pruned.add(call)
        kept.add(call)
    for seconds in sorted(prune_times):
        now = at(seconds)
        pruned.prune(now)
        for group in (None, "t1"):
            a, b = pruned.view(group, now, RETENTION), kept.view(group, now, RETENTION)
            assert (a.count, a.count_by_status()) == (b.count, b.count_by_status())
            assert ids(a.worst_calls("total_latency_ms", 3)) == ids(
                b.worst_calls("total_latency_ms", 3)
            )
    if prune_times:
        last = at(max(prune_times))
        assert len(pruned) == sum(c.finished_at > last - RETENTION for c in batch)


@settings(max_examples=100, deadline=None)
@given(st.lists(calls(), min_size=1, max_size=40), st.integers(1, 5))
def test_drill_down_orders_match_a_sort(batch, n):
    """worst_calls and failed_calls equal sorting the window's calls by value or by time."""
    windows = CallWindows(RETENTION)
    windows.add_many(batch)
    view = windows.view(None, at(900), RETENTION)
    worst = view.worst_calls("ai_latency_ms", n)
    values = sorted(
        (
            c.ai_latency_ms
            for c in batch
            if c.ai_latency_ms is not None and in_window(c, at(900), RETENTION)
        ),
        reverse=True,
    )
    assert [c.ai_latency_ms for c in worst] == values[:n]
    failed = view.failed_calls(n)
    newest = sorted(
        (c.finished_at for c in batch if c.failed and in_window(c, at(900), RETENTION)),
        reverse=True,
    )
    assert [c.end_time for c in failed] == newest[:n]
    by_id = {c.id: c for c in batch}
    for rebuilt in worst + failed:
        source = by_id[rebuilt.id]
        assert (rebuilt.start_time, rebuilt.end_time) == (source.start_time, source.finished_at)
