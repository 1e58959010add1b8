"""Component attribution, the status and direction filters, rules by trunk name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import AlertEngine
from monitor.attribution import attribute
from monitor.config import Links, Rule, load_config
from monitor.errors import ConfigError
from monitor.models import Call
from monitor.rules import evaluate
from monitor.trunks import TrunkCatalogue, TrunkInfo
from monitor.windows import CallWindows

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def make_call(
    n: int,
    minutes_ago: float,
    *,
    trunk: str = "t1",
    ai: float = 400.0,
    carrier: float = 80.0,
    gateway: float = 20.0,
    status: str = "connected",
    direction: str | None = "inbound",
) -> Call:
    end = NOW - timedelta(minutes=minutes_ago)
    return Call(
        id=f"c{n}",
        trunk_id=trunk,
        status=status,
        start_time=end - timedelta(seconds=30),
        end_time=end,
        ai_latency_ms=ai,
        carrier_lag_ms=carrier,
        gateway_processing_ms=gateway,
        direction=direction,
    )


def rule(**kwargs: Any) -> Rule:
    fields: dict[str, Any] = {"name": "r", "metric": "total_latency_ms", "warning": 600.0}
    fields.update(kwargs)
    return Rule.model_validate(fields)


def carrier_incident(retention: timedelta = timedelta(hours=2)) -> CallWindows:
    """An hour at 500 ms total, then five minutes where carrier lag rose by 400 ms and the
    AI by 100 ms: carrier lag explains 80% of the rise."""
    windows = CallWindows(retention)
    windows.add_many(make_call(i, 6 + i) for i in range(50))
    windows.add_many(make_call(100 + i, i * 0.5, ai=500.0, carrier=480.0) for i in range(8))
    return windows


def test_each_component_gets_its_share_of_the_rise() -> None:
    windows = carrier_incident()
    current = windows.view("t1", NOW, timedelta(minutes=5))
    baseline = windows.view("t1", NOW - timedelta(minutes=5), timedelta(hours=1))
    result = attribute(current, baseline)
    assert result is not None
    assert (result.calls, result.baseline_calls, result.baseline_seconds) == (8, 50, 3600)
    assert (result.total, result.total_baseline, result.total_change) == (1000.0, 500.0, 500.0)
    shares = {c.metric: (c.value, c.baseline, c.change, c.share) for c in result.components}
    assert shares == {
        "ai_latency_ms": (500.0, 400.0, 100.0, 0.2),
        "carrier_lag_ms": (480.0, 80.0, 400.0, 0.8),
        "gateway_processing_ms": (20.0, 20.0, 0.0, 0.0),
    }
    assert result.headline() == "carrier lag +400 ms, 80% of the rise"
    assert result.lines()[1] == "carrier lag 480 ms (was 80 ms, +400 ms, 80%)"


def test_without_a_baseline_or_a_change_values_come_without_shares() -> None:
    windows = carrier_incident()
    current = windows.view("t1", NOW, timedelta(minutes=5))
    alone = attribute(current, None)
    assert alone is not None
    assert alone.total_baseline is None
    assert [c.share for c in alone.components] == [None, None, None]
    assert alone.headline() == "AI latency 500 ms, carrier lag 480 ms, gateway processing 20 ms"
    flat = attribute(current, current)
    assert flat is not None
    assert [c.share for c in flat.components] == [None, None, None]


def test_calls_missing_a_component_are_left_out_so_shares_add_up() -> None:
    windows = CallWindows(timedelta(hours=1))
    windows.add(make_call(1, 1))
    windows.add(Call("x", "t1", "failed", NOW - timedelta(minutes=2), ai_latency_ms=9000.0))
    result = attribute(windows.view("t1", NOW, timedelta(minutes=5)), None)
    assert result is not None
    assert (result.calls, result.total) == (1, 500.0)
    assert attribute(windows.view("t2", NOW, timedelta(minutes=5)), None) is None


def test_a_breaching_latency_observation_carries_attribution_to_the_alert() -> None:
    """Only past a threshold, and the intent and its document keep it."""
    windows = carrier_incident()
    [breach] = evaluate([rule()], windows, None, NOW)
    [quiet] = evaluate([rule(warning=5000.0)], windows, None, NOW)
    assert breach.attribution is not None
    assert breach.attribution.headline() == "carrier lag +400 ms, 80% of the rise"
    assert quiet.attribution is None
    fired = rule(**{"for": timedelta(0)})
    [intent] = AlertEngine(Links()).step(evaluate([fired], windows, None, NOW), NOW)
    assert intent.attribution == breach.attribution


def test_the_baseline_is_as_long_as_the_windows_hold() -> None:
    """A retention shorter than window + 1 hour gives the last stored period."""
    windows = carrier_incident(retention=timedelta(minutes=35))
    [obs] = evaluate([rule()], windows, None, NOW)
    assert obs.attribution is not None
    assert obs.attribution.baseline_seconds == 30 * 60


def test_the_status_filter_applies_to_latency_figures_too() -> None:
    """status: [connected] leaves a slow failed call out of the p95 and the count."""
    windows = CallWindows(timedelta(hours=1))
    windows.add_many(make_call(i, 1, ai=400.0) for i in range(4))
    windows.add(make_call(9, 1, ai=9000.0, status="failed"))
    everything, connected = evaluate(
        [
            rule(name="a", metric="ai_latency_ms", stat="max"),
            rule(name="b", metric="ai_latency_ms", stat="max", status=("connected",)),
        ],
        windows,
        None,
        NOW,
    )
    assert (everything.value, everything.calls) == (9000.0, 5)
    assert (connected.value, connected.calls) == (400.0, 4)
    assert [c.id for c in connected.offending] == ["c3", "c2", "c1", "c0"]


def test_the_direction_filter_keeps_one_way_and_drops_unknown() -> None:
    windows = CallWindows(timedelta(hours=1))
    windows.add(make_call(1, 1, direction="inbound"))
    windows.add(make_call(2, 1, direction="outbound", carrier=900.0))
    windows.add(make_call(3, 1, direction=None))
    count = {"metric": "call_count", "op": "<", "warning": 1.0}
    inbound, outbound = evaluate(
        [
            rule(name="i", direction="inbound", **count),
            rule(name="o", direction="outbound", **count),
        ],
        windows,
        None,
        NOW,
    )
    assert (inbound.value, outbound.value) == (1.0, 1.0)
    [slow] = evaluate(
        [rule(metric="carrier_lag_ms", direction="outbound", warning=100.0)], windows, None, NOW
    )
    assert [c.direction for c in slow.offending] == ["outbound"]


def test_trunk_names_select_by_glob_with_trunks_and_minus_exclusions() -> None:
    windows = CallWindows(timedelta(hours=1))
    windows.add_many(make_call(i, 1, trunk=t) for i, t in enumerate(["a", "b", "c", "d"]))
    catalogue = TrunkCatalogue(
        [
            TrunkInfo("a", "Support EU", listed=False),  # gone from the list, still calling
            TrunkInfo("b", "Support US"),
            TrunkInfo("z", "Support X"),
            TrunkInfo("gone", "Support old", listed=False),  # gone and silent: not watched
        ]
    )
    chosen = rule(trunk_names=("support *",), trunks=("c",), exclude_trunks=("b",))
    observed = evaluate([chosen], windows, None, NOW, catalogue=catalogue)
    # z never called: watched all the same, as an allow-listed trunk would be.
    assert [o.group for o in observed] == ["a", "c", "z"]


def test_a_count_rule_resolves_instead_of_alerting_on_an_inactive_trunk() -> None:
    """A trunk switched off goes quiet on purpose: no flatline, and an open one resolves."""
    windows = CallWindows(timedelta(hours=1))
    windows.add(make_call(1, 30, trunk="off"))
    flatline = rule(metric="call_count", op="<", warning=1.0, window=timedelta(minutes=5))
    flatline = flatline.model_copy(update={"for_": timedelta(0)})
    engine = AlertEngine(Links())
    active = TrunkCatalogue([TrunkInfo("off", status="active")])
    [fired] = engine.step(
        evaluate([flatline], windows, None, NOW, known_trunks=["off"], catalogue=active), NOW
    )
    assert fired.kind == "firing"
    disabled = TrunkCatalogue([TrunkInfo("off", status="inactive")])
    [obs] = evaluate([flatline], windows, None, NOW, known_trunks=["off"], catalogue=disabled)
    assert (obs.value, obs.reason) == (None, "trunk is inactive")
    [resolved] = engine.step([obs], NOW + timedelta(minutes=1))
    assert resolved.kind == "resolved"
    assert engine.step([obs], NOW + timedelta(minutes=2)) == []


@pytest.mark.parametrize(
    ("rule_yaml", "message"),
    [
        ("direction: sideways", "expected 'inbound' or 'outbound'"),
        ("status: []", "status must not be empty"),
        ("status: ['  ']", "a call status must not be empty"),
        ("trunk_names: ['']", "must not be empty"),
    ],
)
def test_bad_filters_are_config_errors(tmp_path: Path, rule_yaml: str, message: str) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        f"rules:\n  - name: r\n    metric: ai_latency_ms\n    warning: 1\n    {rule_yaml}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}:5:")
    assert message in problem


def test_filters_do_not_apply_to_overview_rules(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "rules:\n  - name: r\n    source: overview\n    metric: ai_latency_ms\n"
        "    warning: 1\n    status: [connected]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == [
        f"{path}:6:5: status does not apply to source: overview (the overview is account-wide)"
    ]


def test_filters_are_read_and_statuses_lower_cased(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "links:\n  detail_calls: 1\npoll:\n  trunks_every: 5m\nrules:\n  - name: r\n"
        "    metric: ai_latency_ms\n    warning: 1\n    direction: outbound\n"
        "    status: [Connected]\n    trunk_names: ['Support *']\n"
    )
    config = load_config(path, env={})
    [loaded] = config.rules
    assert (loaded.direction, loaded.status, loaded.trunk_names) == (
        "outbound",
        ("connected",),
        ("Support *",),
    )
    assert (config.links.detail_calls, config.poll.trunks_every) == (1, timedelta(minutes=5))
