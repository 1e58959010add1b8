"""Rules over windows: which groups are observed, what value each gets, and why none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.config import Rule
from monitor.models import Call, Overview
from monitor.rules import Observation, evaluate
from monitor.windows import CallWindows

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(minutes=10)


def make_call(
    call_id: str,
    seconds_ago: float,
    *,
    trunk: str = "t1",
    status: str = "connected",
    ai: float | None = 100.0,
) -> Call:
    """A call that finished ``seconds_ago`` before NOW."""
    end = NOW - timedelta(seconds=seconds_ago)
    return Call(
        id=call_id,
        trunk_id=trunk,
        status=status,
        start_time=end - timedelta(seconds=30),
        end_time=end,
        ai_latency_ms=ai,
        carrier_lag_ms=10.0,
        gateway_processing_ms=1.0,
    )


def windows_with(*calls: Call) -> CallWindows:
    windows = CallWindows(timedelta(hours=1))
    windows.add_many(calls)
    return windows


def rule(**kwargs: Any) -> Rule:
    """A rule built as a file would build it: defaults from the Rule model."""
    fields: dict[str, Any] = {"name": "r", "metric": "ai_latency_ms", "warning": 500.0}
    fields.update(kwargs)
    return Rule.model_validate(fields)


def summary(observations: list[Observation]) -> list[tuple[str, str | None, float | None, int]]:
    return [(o.rule.name, o.group, o.value, o.calls) for o in observations]


def ids(calls: tuple[Call, ...]) -> list[str]:
    return [c.id for c in calls]


TWO_TRUNKS = windows_with(
    make_call("a1", 10, trunk="a", ai=100),
    make_call("a2", 20, trunk="a", ai=300),
    make_call("b1", 30, trunk="b", ai=1000),
    make_call("old", 900, trunk="b", ai=9000),  # outside the 5-minute window
)


def test_per_trunk_gives_one_observation_per_trunk_sorted():
    """A per-trunk rule observes each trunk holding calls, in sorted order."""
    observations = evaluate([rule(per="trunk")], TWO_TRUNKS, None, NOW)
    assert summary(observations) == [("r", "a", 200.0, 2), ("r", "b", 1000.0, 1)]


def test_per_account_merges_every_trunk():
    """An account-wide rule gives one observation, group None, over all trunks' calls."""
    observations = evaluate([rule(per="account", stat="max")], TWO_TRUNKS, None, NOW)
    assert summary(observations) == [("r", None, 1000.0, 3)]


def test_observations_follow_rule_order_then_group():
    """Rules keep their config order; groups within a rule are sorted."""
    rules = [rule(name="z", per="account"), rule(name="a", per="trunk")]
    observations = evaluate(rules, TWO_TRUNKS, None, NOW)
    assert [(o.rule.name, o.group) for o in observations] == [("z", None), ("a", "a"), ("a", "b")]


def test_fewer_calls_than_min_calls_is_no_data_with_reason():
    """Below min_calls there is no value, and the reason counts the calls."""
    (a, b) = evaluate([rule(min_calls=2)], TWO_TRUNKS, None, NOW)
    assert (a.value, a.reason) == (200.0, None)
    assert (b.value, b.calls, b.reason) == (None, 1, "1 call, fewer than min_calls 2")
    assert b.offending == ()


def test_latency_stat_over_zero_samples_is_no_data():
    """Calls that all lack the metric give no value, not zero."""
    windows = windows_with(make_call("f1", 10, status="failed", ai=None))
    (obs,) = evaluate([rule()], windows, None, NOW)
    assert (obs.value, obs.calls, obs.reason) == (
        None,
        1,
        "no call in the window has ai_latency_ms",
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["a", "b", "c"]),
        ({"trunks": ("c", "a")}, ["a", "c"]),
        ({"trunks": ("never-seen",)}, ["never-seen"]),
        ({"exclude_trunks": ("b",)}, ["a", "c"]),
    ],
)
def test_trunk_filters(filters: dict[str, Any], expected: list[str]) -> None:
    """trunks keeps only the listed (seen or not); exclude_trunks drops the listed."""
    windows = windows_with(*(make_call(t, 10, trunk=t) for t in "abc"))
    observations = evaluate([rule(**filters)], windows, None, NOW)
    assert [o.group for o in observations] == expected


def test_silent_known_trunk_counts_zero_calls():
    """A trunk seen before but silent now still gets call_count 0, so "no calls" can fire."""
    no_calls = rule(name="no-calls", metric="call_count", op="<", critical=1, warning=None)
    observations = evaluate([no_calls], TWO_TRUNKS, None, NOW, known_trunks={"quiet"})
    assert summary(observations) == [
        ("no-calls", "a", 2.0, 2),
        ("no-calls", "b", 1.0, 1),
        ("no-calls", "quiet", 0.0, 0),
    ]
    assert all(o.reason is None and o.offending == () for o in observations)


def test_never_seen_allow_listed_trunk():
    """An allow-listed trunk with no calls: call_count 0, latency no data."""
    count = rule(name="count", metric="call_count", trunks=("x",))
    latency = rule(name="lat", trunks=("x",))
    observations = evaluate([count, latency], TWO_TRUNKS, None, NOW)
    assert summary(observations) == [("count", "x", 0.0, 0), ("lat", "x", None, 0)]
    assert observations[1].reason == "0 calls, fewer than min_calls 1"


def test_failed_ratio_and_failed_calls_newest_first():
    """failed_ratio is failed over all calls; its offending calls are the failed, newest first."""
    calls = [make_call(f"ok{i}", 10 + i) for i in range(4)]
    calls += [make_call(f"f{i}", 100 - i * 10, status="failed", ai=None) for i in range(6)]
    (obs,) = evaluate([rule(metric="failed_ratio", warning=0.1)], windows_with(*calls), None, NOW)
    assert obs.value == pytest.approx(0.6)
    assert ids(obs.offending) == ["f5", "f4", "f3", "f2", "f1"]


def test_failed_ratio_with_no_calls_is_no_data():
    """With min_calls 0 and no calls, the ratio is undefined: no data, not 0."""
    failed = rule(metric="failed_ratio", min_calls=0, trunks=("x",))
    (obs,) = evaluate([failed], TWO_TRUNKS, None, NOW)
    assert (obs.value, obs.reason) == (None, "no calls in the window")


def test_latency_offending_worst_first_at_most_five():
    """For > the five highest values come first; for < the five lowest."""
    values = [300, 900, 100, 700, 500, 800, 200]
    windows = windows_with(*(make_call(f"c{v}", 10 + i, ai=v) for i, v in enumerate(values)))
    (high,) = evaluate([rule()], windows, None, NOW)
    (low,) = evaluate([rule(op="<", warning=50)], windows, None, NOW)
    assert ids(high.offending) == ["c900", "c800", "c700", "c500", "c300"]
    assert ids(low.offending) == ["c100", "c200", "c300", "c500", "c700"]


def test_call_count_ignores_min_calls():
    """call_count answers even below min_calls: zero calls is its answer."""
    count = rule(metric="call_count", min_calls=50, per="account")
    (obs,) = evaluate([count], TWO_TRUNKS, None, NOW)
    assert (obs.value, obs.reason) == (3.0, None)


@pytest.mark.parametrize(
    ("overview", "expected"),
    [
        (None, (None, 0, "no overview yet")),
        (Overview(NOW, {"carrier_lag_ms": 5.0}), (None, 0, "overview has no ai_latency_ms")),
        (Overview(NOW, {"ai_latency_ms": 640.0}), (640.0, 0, None)),
        (Overview(NOW, {"ai_latency_ms": 640.0, "call_count": 42.0}), (640.0, 42, None)),
    ],
)
def test_overview_rules(overview: Overview | None, expected: tuple[Any, ...]) -> None:
    """An overview rule reads one account figure; missing overview or field is no data."""
    (obs,) = evaluate([rule(source="overview")], TWO_TRUNKS, overview, NOW)
    assert (obs.group, (obs.value, obs.calls, obs.reason)) == (None, expected)


def test_evaluation_is_deterministic():
    """The same input evaluates to equal observations."""
    rules = [rule(per="trunk"), rule(name="acc", per="account", stat="p95")]
    known = ["z", "q"]
    first = evaluate(rules, TWO_TRUNKS, None, NOW, known_trunks=known)
    second = evaluate(rules, TWO_TRUNKS, None, NOW, known_trunks=reversed(known))
    assert first == second
