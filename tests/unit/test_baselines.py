"""Baselines: spellings, ranges, and how a compare rule's thresholds follow what is normal."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from monitor.baselines import CallBaselines, HistoryBaselines, baseline_ranges
from monitor.config import Rule
from monitor.config.compare import Baseline, Relative, parse_baseline, parse_relative
from monitor.history.store import HistoryStore
from monitor.models import Call
from monitor.rules import Observation, evaluate
from monitor.store import StateStore
from monitor.windows import CallWindows

NOW = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def calls_at(end: datetime, ai: float, n: int, *, trunk: str = "t1", tag: str = "") -> list[Call]:
    """``n`` calls of ``ai`` ms, ending in the 5 minutes before ``end`` (started 20 s earlier)."""
    out = []
    for i in range(n):
        finish = end - timedelta(seconds=1 + i * 270 / max(n, 1))
        out.append(
            Call(
                id=f"{tag}{trunk}-{end.timestamp():.0f}-{i}",
                trunk_id=trunk,
                status="connected",
                start_time=finish - timedelta(seconds=20),
                end_time=finish,
                ai_latency_ms=ai,
                carrier_lag_ms=20.0,
                gateway_processing_ms=10.0,
            )
        )
    return out


def compare_rule(**compare: Any) -> Rule:
    spec: dict[str, Any] = {"baseline": "same time 1d", "warning": "1.5x", "critical": "2x"}
    spec.update(compare)
    return Rule.model_validate(
        {"name": "b", "metric": "ai_latency_ms", "stat": "p95", "window": "5m", "min_calls": 5,
         "compare": spec}
    )  # fmt: skip


def observe(
    rule: Rule, now_calls: list[Call], history: list[Call], *, source: bool = True
) -> Observation:
    windows = CallWindows(timedelta(hours=1))
    windows.add_many(now_calls)
    baselines = CallBaselines(history + now_calls) if source else None
    (obs,) = evaluate([rule], windows, None, NOW, baselines=baselines)
    return obs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("previous 1h", Baseline("previous", timedelta(hours=1))),
        ("same time 1d", Baseline("same_time", timedelta(days=1))),
        ("same  time 1w", Baseline("same_time", timedelta(weeks=1))),
        ("median of same hour over 4w", Baseline("median_same_hour", timedelta(days=1), 4)),
    ],
)
def test_baselines_parse_and_print_back(text, expected):
    """Each documented spelling parses, and prints back in its normal spelling."""
    parsed = parse_baseline(text)
    assert parsed == expected
    assert parse_baseline(str(parsed)) == parsed


@pytest.mark.parametrize(
    "text",
    ["yesterday", "previous", "same time 0s", "same time 40d", "median of same hour over 9w"],
)
def test_wrong_baselines_are_refused(text):
    with pytest.raises(ValueError, match=r"baseline|offset|between"):
        parse_baseline(text)


@pytest.mark.parametrize(
    ("text", "expected", "at_400"),
    [("1.5x", Relative(ratio=1.5), 600.0), ("+500ms", Relative(delta=500.0), 900.0),
     ("+0.05", Relative(delta=0.05), 400.05), ("-50", Relative(delta=-50.0), 350.0)],
)  # fmt: skip
def test_relative_thresholds(text, expected, at_400):
    """Ratios multiply the baseline, differences add to it."""
    parsed = parse_relative(text)
    assert parsed == expected
    assert parsed.absolute(400.0) == pytest.approx(at_400)
    assert parse_relative(str(parsed)) == parsed


@pytest.mark.parametrize("value", ["150%", "0x", 0.5, "x2", True])
def test_wrong_relative_thresholds_are_refused(value):
    with pytest.raises(ValueError, match=r"ratio (like 1\.5x|must be more than 0x)"):
        parse_relative(value)


def test_ranges_of_each_baseline():
    """previous: just before the window; same time: the window shifted; median: each day."""
    w = timedelta(minutes=5)
    assert baseline_ranges(parse_baseline("previous 1h"), w, NOW) == [
        (NOW - timedelta(hours=1, minutes=5), NOW - w)
    ]
    assert baseline_ranges(parse_baseline("same time 1w"), w, NOW) == [
        (NOW - timedelta(days=7, minutes=5), NOW - timedelta(days=7))
    ]
    days = baseline_ranges(parse_baseline("median of same hour over 4w"), w, NOW)
    assert len(days) == 28
    assert days[0] == (NOW - timedelta(days=1, minutes=5), NOW - timedelta(days=1))
    assert days[-1][1] == NOW - timedelta(days=28)


def test_thresholds_follow_the_baseline():
    """400 ms yesterday: 1.5x warns at 600, 2x is critical at 800; both values are shown."""
    obs = observe(
        compare_rule(), calls_at(NOW, 700.0, 30), calls_at(NOW - timedelta(days=1), 400.0, 30)
    )
    assert obs.value == pytest.approx(700.0, rel=0.02)
    assert obs.baseline == pytest.approx(400.0, rel=0.02)
    assert obs.rule.warning == pytest.approx(600.0, rel=0.02)
    assert obs.rule.critical == pytest.approx(800.0, rel=0.02)


def test_min_value_is_a_floor_under_both_thresholds():
    """40 ms to 90 ms is more than double, yet below min_value nothing breaches."""
    rule = compare_rule(min_value=300)
    obs = observe(rule, calls_at(NOW, 90.0, 30), calls_at(NOW - timedelta(days=1), 40.0, 30))
    assert obs.baseline == pytest.approx(40.0, rel=0.02)
    assert (obs.rule.warning, obs.rule.critical) == (300.0, 300.0)
    assert not obs.rule.breaches(obs.value or 0.0, obs.rule.warning or 0.0)


def test_too_little_history_is_no_data():
    """A baseline over fewer than min_baseline_calls calls is no data, never a page."""
    rule = compare_rule(min_baseline_calls=20)
    obs = observe(rule, calls_at(NOW, 5000.0, 30), calls_at(NOW - timedelta(days=1), 400.0, 19))
    assert obs.value is None
    assert obs.reason == ("baseline same time 1d: 19 calls, fewer than min_baseline_calls 20")
    assert observe(rule, calls_at(NOW, 5000.0, 30), [], source=False).value is None


def test_the_median_over_weeks_ignores_one_bad_day():
    """Four weeks of 400 ms with one day at 3 s: the baseline stays 400 ms."""
    history: list[Call] = []
    for day in range(1, 29):
        ai = 3000.0 if day == 3 else 400.0
        history += calls_at(NOW - timedelta(days=day), ai, 4, tag=f"d{day}-")
    rule = compare_rule(baseline="median of same hour over 4w", min_baseline_calls=100)
    obs = observe(rule, calls_at(NOW, 500.0, 30), history)
    assert obs.baseline == pytest.approx(400.0, rel=0.02)


def test_per_trunk_baselines_are_each_trunks_own():
    """A slow trunk is compared with its own normal, not the account's."""
    yesterday = NOW - timedelta(days=1)
    history = calls_at(yesterday, 1200.0, 30, trunk="slow") + calls_at(yesterday, 300.0, 30)
    now = calls_at(NOW, 1250.0, 30, trunk="slow") + calls_at(NOW, 310.0, 30)
    windows = CallWindows(timedelta(hours=1))
    windows.add_many(now)
    observations = evaluate([compare_rule()], windows, None, NOW, baselines=CallBaselines(history))
    got = {
        o.group: (o.baseline, o.rule.breaches(o.value or 0, o.rule.warning or 0))
        for o in observations
    }
    assert got["slow"][0] == pytest.approx(1200.0, rel=0.02)
    assert got["t1"][0] == pytest.approx(300.0, rel=0.02)
    assert not got["slow"][1]
    assert not got["t1"][1]


def test_a_backtest_baseline_leaves_out_calls_still_in_progress():
    """Calls fetched while in progress have partial latencies; the history never counts
    them, so neither do the fetched calls' baselines."""
    yesterday = NOW - timedelta(days=1)
    ongoing = [
        replace(c, status="in_progress", end_time=None, ai_latency_ms=5000.0)
        for c in calls_at(yesterday, 0.0, 30, tag="open-")
    ]
    obs = observe(compare_rule(min_baseline_calls=30), calls_at(NOW, 500.0, 30),
                  calls_at(yesterday, 400.0, 30) + ongoing)  # fmt: skip
    assert obs.baseline == pytest.approx(400.0, rel=0.02)
    thin = observe(compare_rule(min_baseline_calls=31), calls_at(NOW, 500.0, 30),
                   calls_at(yesterday, 400.0, 30) + ongoing)  # fmt: skip
    assert thin.value is None
    assert "30 calls, fewer than min_baseline_calls 31" in (thin.reason or "")


@pytest.mark.parametrize(("ai", "attributed"), [(900.0, True), (420.0, False)])
def test_compare_rules_attribute_past_the_thresholds_set_from_their_baseline(ai, attributed):
    """Attribution follows the thresholds the baseline set: a compare rule has none of
    its own, so it must be worked out after the baseline."""
    obs = observe(
        compare_rule(), calls_at(NOW, ai, 30), calls_at(NOW - timedelta(days=1), 400.0, 30)
    )
    assert obs.baseline == pytest.approx(400.0, rel=0.02)
    assert (obs.attribution is not None) is attributed


def test_history_baselines_read_minute_and_hour_rows(tmp_path):
    """From the state DB's rollups: minute rows inside the range, hour rows whole."""
    state = StateStore(tmp_path / "state.db")
    try:
        week_ago = NOW - timedelta(days=7)
        state.add_calls(
            calls_at(week_ago, 500.0, 30) + calls_at(NOW - timedelta(days=1), 400.0, 30)
        )
        history = HistoryStore(state)
        history.downsample(NOW - timedelta(days=2))
        source = HistoryBaselines(history)
        for text, expected in (("same time 1d", 400.0), ("same time 1w", 500.0)):
            ranges = baseline_ranges(parse_baseline(text), timedelta(minutes=5), NOW)
            ((start, end),) = ranges
            tally = source.tallies(start, end, "ai_latency_ms")["t1"]
            assert set(tally.latency) == {"ai_latency_ms"}  # the others are not decoded
            assert tally.calls == 30
            assert tally.distribution("ai_latency_ms").quantile(95) == pytest.approx(
                expected, rel=0.02
            )
    finally:
        state.close()


def test_compare_section_is_checked():
    """A compare without any threshold is refused with the reason."""
    with pytest.raises(ValidationError, match="compare needs warning or critical"):
        Rule.model_validate(
            {"name": "b", "metric": "ai_latency_ms", "compare": {"baseline": "previous 1h"}}
        )
