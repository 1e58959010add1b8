"""The pipeline step every command runs: windows and states in, one result record out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.alerts import AlertState
from monitor.config import Config, Rule, Severity
from monitor.models import Call, Overview
from monitor.pipeline import SYNC_FAILING, Sync, quiet_policy, step
from monitor.quiet import Silence
from monitor.windows import CallWindows

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rule(name: str = "ai", **kwargs: Any) -> Rule:
    fields: dict[str, Any] = {
        "name": name,
        "metric": "ai_latency_ms",
        "per": "trunk",
        "warning": 500.0,
        "critical": 1000.0,
        "for": timedelta(0),
        "repeat": None,
        "notify": {"warning": ["ops"], "critical": ["ops"]},
    }
    return Rule.model_validate(fields | kwargs)


def config(*rules: Rule, **kwargs: Any) -> Config:
    return Config.model_validate(
        {"notifiers": {"ops": {"type": "console"}}, "rules": rules} | kwargs
    )


def windows(ai: float, *trunks: str) -> CallWindows:
    out = CallWindows(timedelta(minutes=10))
    out.add_many(
        Call(
            id=f"{trunk}-{n}",
            trunk_id=trunk,
            status="completed",
            start_time=T0 - timedelta(seconds=60 + n),
            end_time=T0 - timedelta(seconds=30),
            ai_latency_ms=ai,
        )
        for trunk in trunks
        for n in range(3)
    )
    return out


def firing(name: str, group: str | None, severity: Severity = "warning") -> AlertState:
    return AlertState(
        name, group, "firing", severity, started_at=T0 - timedelta(minutes=5),
        last_notified_at=T0 - timedelta(minutes=5), alert_id=f"{name}:{group}",
    )  # fmt: skip


def test_a_step_returns_observations_intents_notifications_and_new_states():
    """One breach gives its observation, a firing intent, a notification and a firing state;
    the states passed in are left as they were."""
    cfg = config(rule())
    before: list[AlertState] = []
    result = step(cfg, windows(800, "t1"), None, before, T0, quiet=None, sync=Sync())
    assert [(o.key, o.value) for o in result.observations] == [(("ai", "t1"), 800.0)]
    assert [(i.kind, i.group) for i in result.intents] == [("firing", "t1")]
    assert [n.notifier for n in result.notifications] == ["ops"]
    assert result.held == []
    assert [(s.key, s.state) for s in result.states if s.state != "inactive"] == [
        (("ai", "t1"), "firing")
    ]
    assert before == []


def test_a_silenced_alert_is_held_in_the_result_not_sent():
    """The quiet policy's holds come back in ``held``; nothing is queued for them."""
    cfg = config(rule())
    silence = Silence("s1", "ai", "t1", T0 - timedelta(hours=1), T0 + timedelta(hours=1),
                      "work", "me", T0 - timedelta(hours=1))  # fmt: skip
    policy = quiet_policy(cfg, [silence])
    result = step(cfg, windows(800, "t1"), None, [], T0, quiet=policy, sync=Sync())
    assert (result.intents, result.notifications) == ([], [])
    assert [(i.kind, why.split(" ")[0]) for i, why in result.held] == [("firing", "silenced")]
    assert result.states[0].held is not None


def test_only_a_firing_alert_inhibits():
    """A pending account-wide alert does not hold the per-trunk alerts of its metric;
    a firing one does."""
    account = rule("acct", per="account", **{"for": timedelta(minutes=5)})
    trunk = rule("trunk")
    cfg = config(account, trunk)
    pending = AlertState("acct", None, "pending", "warning", pending_since=T0)
    policy = quiet_policy(cfg, [])
    result = step(cfg, windows(800, "t1"), None, [pending], T0, quiet=policy, sync=Sync())
    assert [(i.rule.name, i.kind) for i in result.intents] == [("trunk", "firing")]
    cfg = config(rule("acct", per="account"), trunk)
    result = step(
        cfg, windows(800, "t1"), None, [firing("acct", None)], T0, quiet=policy, sync=Sync()
    )
    assert [(i.rule.name, why) for i, why in result.held] == [
        ("trunk", "inhibited by acct (account-wide)")
    ]


def test_while_calls_fail_rules_hold_and_the_sync_failing_alert_moves():
    """No rule is evaluated while /calls fails; the monitor's own alert fires after
    sync_failing.after."""
    cfg = config(rule(), sync_failing={"after": "2m"})
    states = [firing("ai", "t1")]
    sync = Sync(calls_ok=False, calls_failing_since=T0 - timedelta(minutes=3))
    result = step(cfg, windows(100, "t1"), None, states, T0, quiet=None, sync=sync)
    assert result.observations == []
    assert [(i.rule.name, i.kind) for i in result.intents] == [(SYNC_FAILING, "firing")]
    assert result.state("ai", "t1") == states[0]


def test_overview_rules_hold_while_polling_the_overview_fails():
    """A pending overview alert does not fire on a stale overview, nor does a firing one
    resolve: they wait for a fresh overview."""
    over = rule("ov", source="overview", per="account", **{"for": timedelta(minutes=2)})
    cfg = config(over, rule())
    stale = Overview(fetched_at=T0 - timedelta(minutes=5), values={"ai_latency_ms": 800.0})
    pending = AlertState("ov", None, "pending", "warning", pending_since=T0 - timedelta(minutes=3))
    down = Sync(overview_ok=False)
    result = step(cfg, windows(800, "t1"), stale, [pending], T0, quiet=None, sync=down)
    assert result.state("ov", None) == pending
    assert [(i.rule.name, i.kind) for i in result.intents] == [("ai", "firing")]
    fresh = step(cfg, windows(800, "t1"), stale, [pending], T0, quiet=None, sync=Sync())
    assert [(i.rule.name, i.kind) for i in fresh.intents] == [("ov", "firing"), ("ai", "firing")]


def test_groups_dropped_by_a_changed_filter_resolve_at_the_next_step():
    """After a reload narrows a kept rule to t2, the alert open on t1 resolves at once."""
    states = [firing("ai", "t1"), firing("ai", "t2")]
    cfg = config(rule(trunks=["t2"]))
    result = step(
        cfg, windows(800, "t1", "t2"), None, states, T0, quiet=None, sync=Sync(),
        known_trunks={"t1", "t2"},
    )  # fmt: skip
    assert [(i.group, i.kind) for i in result.intents] == [("t1", "resolved")]
    assert result.state("ai", "t1").state == "inactive"  # type: ignore[union-attr]


def test_a_trunk_whose_name_stops_matching_trunk_names_resolves_and_names_reach_documents():
    """trunk_names picks trunks through the catalogue the step is given: the matching one
    is observed and its notification carries its name; an open alert on a trunk renamed
    out of the glob resolves as no longer watched instead of waiting for no_data."""
    from monitor.alerts import NOT_WATCHED
    from monitor.models import Trunk
    from monitor.trunks import TrunkCatalogue

    catalogue = TrunkCatalogue()
    catalogue.update([Trunk("t1", "Sales desk", status="active"), Trunk("t2", "Support EU")])
    states = [firing("ai", "t1")]
    cfg = config(rule(trunk_names=["support *"]))
    result = step(
        cfg, windows(800, "t1", "t2"), None, states, T0, quiet=None, sync=Sync(),
        known_trunks={"t1", "t2"}, catalogue=catalogue,
    )  # fmt: skip
    assert [o.group for o in result.observations] == ["t2"]
    assert [(i.group, i.kind, i.reason) for i in result.intents] == [
        ("t2", "firing", None),
        ("t1", "resolved", NOT_WATCHED),
    ]
    groups = [a["group"] for n in result.notifications for a in n.alerts]
    assert {"trunk_id": "t2", "trunk_name": "Support EU"} in groups
