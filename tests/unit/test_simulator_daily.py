"""The simulator's daily pattern and AI slowdown: slower busy hours, the same calls."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from monitor.simulator.daily import daily_factor
from monitor.simulator.options import SimulatorOptions
from monitor.simulator.scenarios import SimCall, Timeline

DAY = datetime(2026, 3, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hour", "expected"),
    [(19.0, 3.0), (16.0, 1.0), (22.0, 1.0), (12.0, 1.0), (17.5, 2.0), (20.5, 2.0)],
)
def test_the_factor_rises_smoothly_to_the_peak(hour, expected):
    """1 outside the six busy hours, the peak at the peak hour, halfway 1.5 h either side."""
    moment = DAY + timedelta(hours=hour)
    assert daily_factor(moment, 3.0, 19.0) == pytest.approx(expected)


def test_a_late_peak_spans_midnight():
    assert daily_factor(DAY + timedelta(hours=0, minutes=30), 2.0, 23.5) > 1.5
    assert daily_factor(DAY + timedelta(hours=12), 2.0, 23.5) == 1.0


def test_no_minute_jumps_by_more_than_a_few_percent():
    """Smooth: history (by start) and windows (by end) a few minutes apart agree."""
    factors = [daily_factor(DAY + timedelta(minutes=m), 3.0, 19.0) for m in range(24 * 60)]
    assert max(abs(b - a) for a, b in itertools.pairwise(factors)) < 0.02


def _calls(options: SimulatorOptions, start: datetime, end: datetime) -> list[SimCall]:
    return Timeline(options, DAY).calls_starting(start, end)


def test_busy_hours_slow_the_same_calls_down():
    """Same ids and times as without the pattern; AI latency times the factor at the end."""
    flat = SimulatorOptions(seed=5, trunks=2, calls_per_minute=20)
    busy = SimulatorOptions(seed=5, trunks=2, calls_per_minute=20, daily_peak=3.0)
    span = (DAY + timedelta(hours=18, minutes=50), DAY + timedelta(hours=19, minutes=10))
    plain, shaped = _calls(flat, *span), _calls(busy, *span)
    assert [c.id for c in plain] == [c.id for c in shaped]
    assert plain
    for a, b in zip(plain, shaped, strict=True):
        assert (a.carrier_lag_ms, a.start_time) == (b.carrier_lag_ms, b.start_time)
        if a.ai_latency_ms is not None:
            factor = daily_factor(a.end_time, 3.0, 19.0)
            assert b.ai_latency_ms == round(a.ai_latency_ms * factor)
    quiet = (DAY + timedelta(hours=8), DAY + timedelta(hours=8, minutes=10))
    assert _calls(flat, *quiet) == _calls(busy, *quiet)


def test_the_slowdown_doubles_ai_latency_in_the_incident_only():
    flat = SimulatorOptions(seed=5, trunks=2, incident_at=timedelta(hours=1))
    slow = SimulatorOptions(
        seed=5, trunks=2, incident_at=timedelta(hours=1), incident_for=timedelta(minutes=30),
        ai_slowdown=2.0,
    )  # fmt: skip
    span = (DAY, DAY + timedelta(hours=2))
    for a, b in zip(_calls(flat, *span), _calls(slow, *span), strict=True):
        inside = DAY + timedelta(hours=1) <= a.end_time < DAY + timedelta(hours=1, minutes=30)
        if a.ai_latency_ms is not None:
            assert b.ai_latency_ms == (a.ai_latency_ms * 2 if inside else a.ai_latency_ms)


@pytest.mark.parametrize(
    "bad", [{"daily_peak": 0.0}, {"ai_slowdown": 50.0}, {"daily_peak_hour": 24.0}]
)
def test_out_of_range_options_are_refused(bad):
    with pytest.raises(ValueError, match=r"daily_peak|ai_slowdown"):
        SimulatorOptions(**bad)
