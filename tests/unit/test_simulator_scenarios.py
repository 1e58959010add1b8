"""The simulator's generated calls: deterministic, visible only once ended, and each
scenario's incident hits exactly the trunks it documents."""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import Call
from monitor.simulator import (
    SCENARIOS,
    FaultOptions,
    SimCall,
    SimulatorOptions,
    Timeline,
    affected_trunks,
)

START = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
INCIDENT_AT = timedelta(minutes=1)
INCIDENT_FOR = timedelta(minutes=30)


def timeline(scenario: str = "steady", **changes: object) -> Timeline:
    options: dict[str, object] = {
        "scenario": scenario,
        "history": timedelta(minutes=40),
        "incident_at": INCIDENT_AT,
        "incident_for": INCIDENT_FOR,
        **changes,
    }
    return Timeline(SimulatorOptions(**options), START)  # type: ignore[arg-type]


def window_calls(tl: Timeline) -> list[SimCall]:
    """Calls starting from 40 minutes before the start until an hour after it."""
    return tl.calls_starting(START - timedelta(minutes=40), START + timedelta(hours=1))


def during(tl: Timeline, call: SimCall) -> bool:
    return tl.incident_start <= call.end_time < tl.incident_end


def before(tl: Timeline, call: SimCall) -> bool:
    return call.end_time < tl.incident_start


def values(calls: list[SimCall], metric: Callable[[SimCall], int | None]) -> list[int]:
    return [v for v in map(metric, calls) if v is not None]


def test_same_seed_gives_same_calls_whatever_the_query_order() -> None:
    """Two timelines with one seed agree, even when one is asked in pieces, backwards."""
    whole = timeline(seed=7).calls_starting(START - timedelta(minutes=30), START)
    pieces = timeline(seed=7)
    parts = [
        pieces.calls_starting(START - timedelta(minutes=m + 5), START - timedelta(minutes=m))
        for m in (0, 5, 10, 15, 20, 25)
    ]
    assert whole == sorted((c for part in parts for c in part), key=SimCall.sort_key)


def test_visible_calls_do_not_depend_on_earlier_questions() -> None:
    """Asking about a later time first does not change what an earlier time shows."""
    fresh = timeline(seed=3).visible(START)
    asked_late_first = timeline(seed=3)
    asked_late_first.visible(START + timedelta(minutes=20))
    assert asked_late_first.visible(START) == fresh


def test_different_seed_gives_different_calls() -> None:
    """Another seed is another account."""
    one = {c.id for c in timeline(seed=1).visible(START)}
    two = {c.id for c in timeline(seed=2).visible(START)}
    assert one.isdisjoint(two)


def test_ids_are_unique_and_well_formed() -> None:
    """Call ids look like call_ + 16 hex digits; trunk ids like conn_sim01."""
    calls = window_calls(timeline())
    assert len({c.id for c in calls}) == len(calls)
    assert all(re.fullmatch(r"call_[0-9a-f]{16}", c.id) for c in calls)
    assert {c.trunk_id for c in calls} == {f"conn_sim{n:02d}" for n in range(1, 7)}


def test_arrivals_follow_the_rate_and_favour_the_first_trunks() -> None:
    """About calls_per_minute calls a minute overall; conn_sim01 busier than conn_sim06."""
    calls = timeline(calls_per_minute=120).calls_starting(START, START + timedelta(hours=1))
    assert 120 * 60 * 0.9 < len(calls) < 120 * 60 * 1.1
    per_trunk = [sum(c.trunk_id == f"conn_sim{n:02d}" for c in calls) for n in (1, 6)]
    assert per_trunk[0] > 1.8 * per_trunk[1]


def test_healthy_calls_have_the_documented_figures() -> None:
    """Mostly connected/disconnected, about 1% failed, latencies around their medians."""
    calls = window_calls(timeline())
    failed = [c for c in calls if c.status == "failed"]
    assert {c.status for c in calls} == {"connected", "disconnected", "failed"}
    assert 0.002 < len(failed) / len(calls) < 0.03
    assert all(20 <= c.duration_seconds <= 400 for c in calls)
    assert all(c.end_time == c.start_time + timedelta(seconds=c.duration_seconds) for c in calls)
    assert 180 < statistics.median(values(calls, lambda c: c.ai_latency_ms)) < 220
    assert 85 <= statistics.median(values(calls, lambda c: c.carrier_lag_ms)) <= 92
    assert 19 <= statistics.median(values(calls, lambda c: c.gateway_processing_ms)) <= 22
    assert all(80 <= v <= 2000 for v in values(calls, lambda c: c.ai_latency_ms))
    assert any(c.ai_latency_ms is None for c in failed)


def test_a_call_is_visible_once_it_has_ended() -> None:
    """visible(now) holds exactly the history calls with end_time <= now."""
    tl = timeline()
    now = START + timedelta(minutes=3)
    generated = tl.calls_starting(tl.history_start, now + timedelta(seconds=1))
    assert tl.visible(now) == [c for c in generated if c.end_time <= now]
    in_progress = [c for c in generated if c.end_time > now]
    assert in_progress
    assert all(c in tl.visible(max(c.end_time for c in in_progress)) for c in in_progress)


def test_history_reaches_back_exactly_as_far_as_asked() -> None:
    """At the start, the oldest visible call starts within a minute after start - history."""
    calls = timeline(history=timedelta(hours=2)).visible(START)
    assert START - timedelta(hours=2) <= calls[0].start_time < START - timedelta(minutes=119)
    assert calls[-1].end_time <= START


def test_find_returns_only_visible_calls() -> None:
    """A call can be looked up by id once visible, not before."""
    tl = timeline()
    call = tl.calls_starting(START + timedelta(minutes=5), START + timedelta(minutes=6))[0]
    assert tl.find(call.id, call.end_time - timedelta(seconds=1)) is None
    assert tl.find(call.id, call.end_time) == call
    assert tl.find("call_0000000000000000", START) is None


def test_affected_trunks_per_scenario() -> None:
    """The documented trunks: 02 spikes, multiples of 3 lose their carrier, 03 fails, 04 stops."""
    assert affected_trunks("steady", 6) == ()
    assert affected_trunks("ai-spike", 6) == ("conn_sim02",)
    assert affected_trunks("carrier-degradation", 6) == ("conn_sim03", "conn_sim06")
    assert affected_trunks("carrier-degradation", 10) == ("conn_sim03", "conn_sim06", "conn_sim09")
    assert affected_trunks("failure-burst", 6) == ("conn_sim03",)
    assert affected_trunks("flatline", 6) == ("conn_sim04",)


@pytest.mark.parametrize("scenario", SCENARIOS[1:])
def test_unaffected_trunks_and_times_are_identical_to_steady(scenario: str) -> None:
    """Outside the incident's trunks and times, every scenario is the steady account."""
    tl = timeline(scenario)
    steady = window_calls(timeline())
    hit = set(affected_trunks(scenario, 6))

    def untouched(c: SimCall) -> bool:
        overlaps = c.start_time < tl.incident_end and c.end_time >= tl.incident_start
        return c.trunk_id not in hit or not overlaps

    assert [c for c in window_calls(tl) if untouched(c)] == [c for c in steady if untouched(c)]


def test_ai_spike_multiplies_ai_latency_on_conn_sim02_only() -> None:
    """During the incident conn_sim02's AI latency median is over 3x its earlier median."""
    tl = timeline("ai-spike")
    trunk = [c for c in window_calls(tl) if c.trunk_id == "conn_sim02"]
    ai_before = statistics.median(values([c for c in trunk if before(tl, c)], _ai))
    ai_during = statistics.median(values([c for c in trunk if during(tl, c)], _ai))
    assert ai_during > 3 * ai_before
    assert 1500 < ai_during < 2100


def test_carrier_degradation_raises_carrier_lag_on_the_shared_carrier() -> None:
    """conn_sim03 and conn_sim06 reach a carrier-lag median near 450 ms; the rest stay near 88."""
    tl = timeline("carrier-degradation")
    incident = [c for c in window_calls(tl) if during(tl, c)]
    for trunk in ("conn_sim03", "conn_sim06"):
        lag = statistics.median(values([c for c in incident if c.trunk_id == trunk], _carrier))
        assert 380 < lag < 520
    healthy = [c for c in incident if c.trunk_id not in ("conn_sim03", "conn_sim06")]
    assert statistics.median(values(healthy, _carrier)) < 100


def test_failure_burst_fails_a_third_of_conn_sim03_calls() -> None:
    """conn_sim03's failed share rises to about 30% during the incident, from about 1%."""
    tl = timeline("failure-burst")
    trunk = [c for c in window_calls(tl) if c.trunk_id == "conn_sim03"]
    assert 0.2 < _failed_share([c for c in trunk if during(tl, c)]) < 0.4
    assert _failed_share([c for c in trunk if before(tl, c)]) < 0.05
    others = [c for c in window_calls(tl) if c.trunk_id != "conn_sim03" and during(tl, c)]
    assert _failed_share(others) < 0.05


def test_flatline_silences_conn_sim04_for_the_incident() -> None:
    """conn_sim04 has no call in progress at any moment of the incident, and calls around it."""
    tl = timeline("flatline")
    trunk = [c for c in window_calls(tl) if c.trunk_id == "conn_sim04"]
    assert not [
        c for c in trunk if c.start_time < tl.incident_end and c.end_time >= tl.incident_start
    ]
    assert any(c.end_time < tl.incident_start for c in trunk)
    assert any(c.start_time >= tl.incident_end for c in trunk)


def test_steady_has_no_incident() -> None:
    """steady reports no incident window."""
    assert not timeline().has_incident
    assert timeline("ai-spike").has_incident


def test_to_call_gives_the_monitor_model() -> None:
    """A generated call converts to monitor.models.Call with the same figures."""
    sim = window_calls(timeline())[0]
    assert sim.to_call() == Call(
        id=sim.id,
        trunk_id=sim.trunk_id,
        status=sim.status,
        start_time=sim.start_time,
        end_time=sim.end_time,
        duration_seconds=sim.duration_seconds,
        ai_latency_ms=sim.ai_latency_ms,
        carrier_lag_ms=sim.carrier_lag_ms,
        gateway_processing_ms=sim.gateway_processing_ms,
        direction=sim.direction,
    )


def test_calls_go_both_ways_and_keep_their_direction() -> None:
    """Calls are inbound or outbound (about 30% outbound), the same for the same id."""
    calls = window_calls(timeline())
    outbound = sum(c.direction == "outbound" for c in calls) / len(calls)
    assert {c.direction for c in calls} == {"inbound", "outbound"}
    assert 0.2 < outbound < 0.4
    again = window_calls(timeline())
    assert [c.direction for c in again] == [c.direction for c in calls]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scenario": "meltdown"}, "unknown scenario"),
        ({"scenario": "flatline", "trunks": 3}, "needs between 4"),
        ({"calls_per_minute": -1}, "calls_per_minute"),
        ({"history": timedelta(minutes=-1)}, "history"),
        ({"pagination": "page"}, "pagination"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"api_key": ""}, "api_key"),
    ],
)
def test_invalid_options_are_refused(changes: dict[str, object], message: str) -> None:
    """Options out of range raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        SimulatorOptions(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"error_rate": 1.5}, "error_rate"),
        ({"fail_next": -1}, "fail_next"),
        ({"fail_status": 200}, "fail_status"),
        ({"slow_seconds": 31}, "slow_seconds"),
    ],
)
def test_invalid_faults_are_refused(changes: dict[str, object], message: str) -> None:
    """Fault options out of range raise ValueError naming the field."""
    with pytest.raises(ValueError, match=message):
        FaultOptions(**changes)  # type: ignore[arg-type]


def _ai(call: SimCall) -> int | None:
    return call.ai_latency_ms


def _carrier(call: SimCall) -> int | None:
    return call.carrier_lag_ms


def _failed_share(calls: list[SimCall]) -> float:
    assert calls
    return sum(c.status == "failed" for c in calls) / len(calls)
