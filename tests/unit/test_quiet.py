"""Silences, maintenance windows and inhibition, and how the engine holds and releases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import AlertEngine, AlertState
from monitor.config import DEFAULT_INHIBIT, Links, MuteWindow, Rule, load_config
from monitor.quiet import Firing, QuietPolicy, Silence
from monitor.rules import Observation

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def rule(name: str = "lat", **kwargs: Any) -> Rule:
    fields: dict[str, Any] = {
        "name": name,
        "metric": "ai_latency_ms",
        "warning": 500.0,
        "for": timedelta(0),
        "repeat": None,
    }
    fields.update(kwargs)
    return Rule.model_validate(fields)


def silence(rule_glob: str = "lat", trunk: str = "*", minutes: int = 60, **kw: Any) -> Silence:
    fields: dict[str, Any] = {
        "id": "s1",
        "rule": rule_glob,
        "trunk": trunk,
        "starts_at": T0,
        "ends_at": T0 + timedelta(minutes=minutes),
        "comment": "maintenance",
        "created_by": "ops",
        "created_at": T0,
    }
    fields.update(kw)
    return Silence(**fields)


@pytest.mark.parametrize(
    ("rule_glob", "trunk", "name", "group", "matches"),
    [
        ("lat", "*", "lat", "t1", True),
        ("lat", "*", "lat", None, True),
        ("voice-*", "*", "voice-ai-p95", "t1", True),
        ("voice-*", "*", "lat", "t1", False),
        ("*", "conn_sim0[1-3]", "lat", "conn_sim02", True),
        ("*", "conn_sim0[1-3]", "lat", "conn_sim04", False),
        ("*", "account", "lat", None, True),
        ("*", "account", "lat", "t1", False),
    ],
)
def test_silences_match_rule_and_trunk_by_name_or_glob(rule_glob, trunk, name, group, matches):
    """Rule and trunk accept exact names or globs; account-wide alerts are 'account'."""
    assert silence(rule_glob, trunk).matches(name, group) is matches


def test_a_silence_is_in_force_from_start_to_end_or_expiry():
    """Active in [starts_at, ends_at), and no longer once expired by hand."""
    s = silence(minutes=30)
    assert s.active(T0)
    assert s.active(T0 + timedelta(minutes=29))
    assert not s.active(T0 + timedelta(minutes=30))
    expired = silence(minutes=30, expired_at=T0 + timedelta(minutes=5))
    assert not expired.active(T0 + timedelta(minutes=6))


def window(**kwargs: Any) -> MuteWindow:
    return MuteWindow.model_validate({"name": "w", **kwargs})


def test_a_weekly_window_keeps_local_time_across_a_dst_change():
    """Mondays 02:00-04:00 Berlin time: 01:00-03:00 UTC in winter, 00:00-02:00 in summer."""
    w = window(timezone="Europe/Berlin", weekly=[{"days": ["mon"], "from": "02:00", "to": "04:00"}])
    winter = datetime(2026, 3, 23, tzinfo=UTC)  # a Monday, CET (UTC+1)
    summer = datetime(2026, 3, 30, tzinfo=UTC)  # the Monday after the change, CEST (UTC+2)
    assert not w.is_open(winter + timedelta(hours=0, minutes=30))
    assert w.is_open(winter + timedelta(hours=1))
    assert w.is_open(winter + timedelta(hours=2, minutes=59))
    assert not w.is_open(winter + timedelta(hours=3))
    assert w.is_open(summer + timedelta(hours=0))
    assert w.is_open(summer + timedelta(hours=1, minutes=59))
    assert not w.is_open(summer + timedelta(hours=2))


def test_a_window_through_the_night_of_the_dst_change():
    """Saturday 23:00 to 04:00 local covers the night clocks jump, 23:00 CET to 04:00 CEST."""
    w = window(timezone="Europe/Berlin", weekly=[{"days": ["sat"], "from": "23:00", "to": "04:00"}])
    saturday_night = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # 23:00 CET
    assert w.is_open(saturday_night)
    assert w.is_open(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))  # 03:30 CEST
    assert not w.is_open(datetime(2026, 3, 29, 2, 0, tzinfo=UTC))  # 04:00 CEST
    assert not w.is_open(datetime(2026, 3, 28, 21, 59, tzinfo=UTC))


def test_a_one_off_window_reads_naive_times_in_its_zone():
    """once: from/to without an offset are local to the window's time zone."""
    w = window(
        timezone="America/New_York", once=[{"from": "2026-07-04T20:00", "to": "2026-07-04T23:00"}]
    )
    assert w.is_open(datetime(2026, 7, 5, 0, 0, tzinfo=UTC))  # 20:00 EDT
    assert not w.is_open(datetime(2026, 7, 5, 3, 0, tzinfo=UTC))  # 23:00 EDT


def test_windows_apply_to_rules_by_name_glob_or_label():
    """rules: globs, labels: all must match; neither given means every rule."""
    once = [{"from": T0, "to": T0 + timedelta(hours=1)}]
    by_name = window(rules=["voice-*"], once=once)
    by_label = window(labels={"team": "voice"}, once=once)
    everything = window(once=once)
    assert by_name.applies_to(rule("voice-ai"))
    assert not by_name.applies_to(rule("other"))
    assert by_label.applies_to(rule("x", labels={"team": "voice"}))
    assert not by_label.applies_to(rule("x", labels={"team": "data"}))
    assert everything.applies_to(rule("anything"))


def test_unquoted_yaml_times_are_read_as_times(tmp_path: Path) -> None:
    """YAML 1.1 turns an unquoted 12:30 into 750; the config takes it back as 12:30."""
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "mute:\n  - name: lunch\n    weekly: [{days: [mon], from: 12:30, to: 13:45}]\n"
        "rules:\n  - {name: a, metric: call_count, warning: 1}\n"
    )
    (w,) = load_config(path).mute
    assert (w.weekly[0].start.isoformat(), w.weekly[0].end.isoformat()) == ("12:30:00", "13:45:00")


def firing(rule_name: str, group: str | None) -> Firing:
    return Firing(rule_name, group, "warning")


def test_an_account_wide_alert_inhibits_per_trunk_alerts_of_its_metric():
    """Default inhibition 1: account-wide ai latency firing holds per-trunk ai latency."""
    account = rule("ai-account", per="account")
    trunk = rule("ai-trunk", per="trunk")
    other = rule("carrier-trunk", per="trunk", metric="carrier_lag_ms")
    policy = QuietPolicy({r.name: r for r in (account, trunk, other)})
    states = [firing("ai-account", None)]
    assert policy.reason(trunk, "t1", states, T0) == "inhibited by ai-account (account-wide)"
    assert policy.reason(other, "t1", states, T0) is None
    assert policy.reason(account, None, states, T0) is None


def test_a_gateway_alert_inhibits_total_latency_on_the_same_trunk():
    """Default inhibition 2: gateway processing firing on t1 holds total latency on t1 only."""
    gateway = rule("gw", metric="gateway_processing_ms")
    total = rule("total", metric="total_latency_ms")
    policy = QuietPolicy({"gw": gateway, "total": total})
    states = [firing("gw", "t1")]
    assert policy.reason(total, "t1", states, T0) == "inhibited by gw on t1"
    assert policy.reason(total, "t2", states, T0) is None


def test_inhibit_can_be_configured_or_switched_off():
    """inhibit: [] turns the defaults off."""
    account, trunk = rule("a", per="account"), rule("b", per="trunk")
    rules = {"a": account, "b": trunk}
    assert QuietPolicy(rules, inhibit=()).reason(trunk, "t1", [firing("a", None)], T0) is None
    assert QuietPolicy(rules, inhibit=DEFAULT_INHIBIT).reason(trunk, "t1", [firing("a", None)], T0)


# --- the engine holding and releasing -----------------------------------------------------


def step(
    engine: AlertEngine, r: Rule, minute: int, value: float | None, policy: QuietPolicy
) -> tuple[list[tuple[str, int]], list[tuple[str, str]]]:
    now = T0 + timedelta(minutes=minute)
    obs = Observation(r, "t1", value, 10, None if value is not None else "no data")

    def quiet(rr: Rule, group: str | None, states: Sequence[AlertState]) -> str | None:
        on = [Firing(s.rule, s.group, s.severity) for s in states if s.state == "firing"]
        return policy.reason(rr, group, on, now)

    done = engine.advance([obs], now, quiet=quiet)
    return [(i.kind, minute) for i in done.intents], [(i.kind, why) for i, why in done.held]


def test_a_silenced_alert_fires_quietly_and_is_announced_when_the_silence_ends():
    """The state moves while silenced; the firing goes out the step after the silence ends."""
    r = rule()
    policy = QuietPolicy({"lat": r}, [silence(minutes=10)])
    engine = AlertEngine(Links())
    sent, held = step(engine, r, 1, 900, policy)
    assert sent == []
    assert held == [("firing", "silenced by s1 until 2026-03-01 12:10 UTC")]
    state = engine.get("lat", "t1")
    assert state is not None
    assert (state.state, state.announced) == ("firing", False)
    assert step(engine, r, 5, 950, policy)[0] == []
    assert step(engine, r, 10, 950, policy)[0] == [("firing", 10)]
    assert step(engine, r, 11, 300, policy)[0] == [("resolved", 11)]


def test_an_alert_that_resolves_while_silenced_never_notifies():
    """Never announced, so its resolution is not sent either."""
    r = rule()
    policy = QuietPolicy({"lat": r}, [silence(minutes=10)])
    engine = AlertEngine(Links())
    step(engine, r, 1, 900, policy)
    assert step(engine, r, 2, 300, policy) == ([], [])
    assert step(engine, r, 20, 300, policy) == ([], [])


def test_an_announced_alert_silenced_later_sends_its_resolution_and_a_reminder_after():
    """Silencing an alert already announced holds its repeats; when the silence ends a
    repeat says it still fires; its resolution is always sent."""
    r = rule(repeat=timedelta(minutes=2))
    engine = AlertEngine(Links())
    quiet = QuietPolicy({"lat": r})
    assert step(engine, r, 0, 900, quiet)[0] == [("firing", 0)]
    silenced = QuietPolicy({"lat": r}, [silence(minutes=10)])
    assert step(engine, r, 3, 900, silenced) == (
        [],
        [("repeat", "silenced by s1 until 2026-03-01 12:10 UTC")],
    )
    assert step(engine, r, 10, 900, silenced)[0] == [("repeat", 10)]
    assert step(engine, r, 11, 100, silenced)[0] == [("resolved", 11)]


def test_held_and_announced_survive_a_restart():
    """A held alert saved and restored is still released once, as a firing."""
    r = rule()
    policy = QuietPolicy({"lat": r}, [silence(minutes=10)])
    engine = AlertEngine(Links())
    step(engine, r, 1, 900, policy)
    restored = AlertEngine(Links(), [AlertState.from_dict(s.to_dict()) for s in engine.states()])
    assert step(restored, r, 12, 900, policy)[0] == [("firing", 12)]
    assert step(restored, r, 13, 900, policy)[0] == []
