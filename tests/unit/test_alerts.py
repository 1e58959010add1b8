"""The alert state machine, driven by an injected time sequence.

Most cases are one row of a table: a rule, the values it sees at given seconds (None is
no data, Down(value) is a step where the API could not be reached: the caller passes
sync_ok=False with whatever stale value it holds), and the notifications that must come
out, as (seconds, kind, severity).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest

from monitor.alerts import NOT_WATCHED, AlertEngine, AlertState, Intent
from monitor.config import Links, NotifyRoutes, Rule
from monitor.models import Call
from monitor.rules import Observation

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Down(NamedTuple):
    """A step during a sync failure, with the (stale) value the caller still passes."""

    value: float | None


Step = tuple[int, float | Down | None]


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rule(**kwargs: Any) -> Rule:
    """An account-wide latency rule: warning 500, critical 1000, no `for`, no repeat."""
    fields: dict[str, Any] = {
        "name": "lat",
        "metric": "ai_latency_ms",
        "per": "account",
        "warning": 500.0,
        "critical": 1000.0,
        "for": timedelta(0),
        "repeat": None,
    }
    fields.update(kwargs)
    return Rule.model_validate(fields)


def run(engine: AlertEngine, r: Rule, steps: list[Step], group: str | None = None) -> list[Intent]:
    intents: list[Intent] = []
    for seconds, step in steps:
        value = step.value if isinstance(step, Down) else step
        reason = "no data" if value is None else None
        obs = Observation(r, group, value, 10, reason)
        intents += engine.step([obs], at(seconds), sync_ok=not isinstance(step, Down))
    return intents


def timeline(intents: list[Intent]) -> list[tuple[int, str, str]]:
    return [(int((i.at - T0).total_seconds()), i.kind, i.severity) for i in intents]


@dataclass
class Case:
    id: str
    rule: dict[str, Any]
    steps: list[Step]
    expected: list[tuple[int, str, str]] = field(default_factory=list)


M = 60
CASES = [
    Case(
        "flapping without recovery fires and resolves each time",
        {},
        [(0, 600), (30, 400), (60, 600), (90, 400)],
        [
            (0, "firing", "warning"),
            (30, "resolved", "warning"),
            (60, "firing", "warning"),
            (90, "resolved", "warning"),
        ],
    ),
    Case(
        "flapping with recovery stays firing until past recovery",
        {"recovery": 300.0},
        [(0, 600), (30, 400), (60, 600), (90, 400), (120, 300)],
        [(0, "firing", "warning"), (120, "resolved", "warning")],
    ),
    Case(
        "op >= treats recovery as inclusive too: clears only below it",
        {"op": ">=", "recovery": 300.0},
        [(0, 500), (30, 300), (60, 299)],
        [(0, "firing", "warning"), (60, "resolved", "warning")],
    ),
    Case(
        "for interrupted restarts the wait, silently",
        {"for": timedelta(minutes=1)},
        [(0, 600), (30, 400), (60, 600), (90, 600), (120, 600)],
        [(120, "firing", "warning")],
    ),
    Case(
        "for fires once exactly elapsed, at the severity then",
        {"for": timedelta(minutes=1)},
        [(0, 600), (30, 700), (60, 1200)],
        [(60, "firing", "critical")],
    ),
    Case(
        "escalation and de-escalation are one alert",
        {},
        [(0, 600), (30, 1200), (60, 1500), (90, 700), (120, 100)],
        [
            (0, "firing", "warning"),
            (30, "escalated", "critical"),
            (90, "deescalated", "warning"),
            (120, "resolved", "warning"),
        ],
    ),
    Case(
        "a value hovering at the critical threshold stays critical until past the midpoint",
        {},
        [(0, 1200), (30, 990), (60, 1010), (90, 760), (120, 1100), (150, 750), (180, 1001)],
        [
            (0, "firing", "critical"),
            (150, "deescalated", "warning"),
            (180, "escalated", "critical"),
        ],
    ),
    Case(
        "op < de-escalates only once back above the midpoint",
        {"op": "<", "warning": 100.0, "critical": 50.0},
        [(0, 40), (30, 55), (60, 45), (90, 74), (120, 76)],
        [(0, "firing", "critical"), (120, "deescalated", "warning")],
    ),
    Case(
        "inside the hysteresis band a critical alert falls to warning",
        {"recovery": 300.0},
        [(0, 1200), (30, 400), (60, 200)],
        [(0, "firing", "critical"), (30, "deescalated", "warning"), (60, "resolved", "warning")],
    ),
    Case(
        "repeat while firing, every period since the last notification",
        {"repeat": timedelta(minutes=10)},
        [(0, 600), (5 * M, 600), (10 * M, 600), (15 * M, 700), (20 * M, 600)],
        [(0, "firing", "warning"), (10 * M, "repeat", "warning"), (20 * M, "repeat", "warning")],
    ),
    Case(
        "an escalation restarts the repeat timer",
        {"repeat": timedelta(minutes=10)},
        [(0, 600), (5 * M, 1200), (10 * M, 1200), (15 * M, 1200)],
        [
            (0, "firing", "warning"),
            (5 * M, "escalated", "critical"),
            (15 * M, "repeat", "critical"),
        ],
    ),
    Case(
        "no_data keep: firing holds and still repeats",
        {"repeat": timedelta(minutes=10)},
        [(0, 600), (5 * M, None), (10 * M, None), (15 * M, 400)],
        [
            (0, "firing", "warning"),
            (10 * M, "repeat", "warning"),
            (15 * M, "resolved", "warning"),
        ],
    ),
    Case(
        "no_data keep: pending holds without progressing, then fires on data",
        {"for": timedelta(minutes=1)},
        [(0, 600), (60, None), (90, None), (120, 600)],
        [(120, "firing", "warning")],
    ),
    Case(
        "no_data keep: never a false firing from no data alone",
        {},
        [(0, None), (30, None), (60, 400)],
        [],
    ),
    Case(
        "no_data resolve: firing resolves",
        {"no_data": "resolve"},
        [(0, 600), (30, None), (60, None)],
        [(0, "firing", "warning"), (30, "resolved", "warning")],
    ),
    Case(
        "no_data resolve: pending goes back to inactive",
        {"no_data": "resolve", "for": timedelta(minutes=1)},
        [(0, 600), (30, None), (60, 600), (90, 600), (120, 600)],
        [(120, "firing", "warning")],
    ),
    Case(
        "sync down: firing holds, no repeat, no resolve even with no_data resolve",
        {"repeat": timedelta(minutes=10), "no_data": "resolve"},
        [(0, 600), (5 * M, Down(None)), (15 * M, Down(100)), (30 * M, Down(None)), (31 * M, 400)],
        [(0, "firing", "warning"), (31 * M, "resolved", "warning")],
    ),
    Case(
        "sync down: pending does not progress",
        {"for": timedelta(minutes=1)},
        [(0, 600), (60, Down(600)), (90, Down(1200)), (100, 400)],
        [],
    ),
    Case(
        "op < (no calls): fires below the threshold, resolves at or above it",
        {"metric": "call_count", "op": "<", "warning": None, "critical": 1.0},
        [(0, 5), (30, 0), (60, 0), (90, 1)],
        [(30, "firing", "critical"), (90, "resolved", "critical")],
    ),
    Case(
        "op < with recovery: clears only at or above recovery",
        {"op": "<", "warning": 100.0, "critical": 50.0, "recovery": 200.0},
        [(0, 40), (30, 80), (60, 150), (90, 200)],
        [
            (0, "firing", "critical"),
            (30, "deescalated", "warning"),
            (90, "resolved", "warning"),
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_state_machine(case: Case) -> None:
    """Each sequence of values gives exactly the expected notifications."""
    engine = AlertEngine(Links())
    assert timeline(run(engine, rule(**case.rule), case.steps)) == case.expected


def test_restart_from_saved_state_continues_without_repeating():
    """A firing alert reloaded from JSON sends no second firing; its repeat timer continues."""
    r = rule(repeat=timedelta(minutes=10))
    before = AlertEngine(Links())
    first = run(before, r, [(0, 600), (10 * M, 600), (15 * M, 600)])
    saved = json.loads(json.dumps([s.to_dict() for s in before.states()]))
    after = AlertEngine(Links(), [AlertState.from_dict(d) for d in saved])
    rest = run(after, r, [(16 * M, 600), (20 * M, 600), (25 * M, 1200), (40 * M, 300)])
    assert timeline(first + rest) == [
        (0, "firing", "warning"),
        (10 * M, "repeat", "warning"),
        (20 * M, "repeat", "warning"),
        (25 * M, "escalated", "critical"),
        (40 * M, "resolved", "critical"),
    ]
    assert len({i.alert_id for i in first + rest}) == 1


def test_state_round_trips_through_json():
    """to_dict is JSON-safe and from_dict gives back an equal state."""
    engine = AlertEngine(Links())
    run(engine, rule(), [(0, 600), (30, 1200)], group="trunk-1")
    (state,) = engine.states()
    assert AlertState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert state.to_dict()["started_at"] == "2026-01-01T00:00:00+00:00"


def test_pending_restart_keeps_its_wait():
    """A pending alert reloaded keeps pending_since, so `for` counts from before the restart."""
    r = rule(**{"for": timedelta(minutes=2)})
    before = AlertEngine(Links())
    run(before, r, [(0, 600)])
    after = AlertEngine(Links(), [AlertState.from_dict(s.to_dict()) for s in before.states()])
    assert timeline(run(after, r, [(120, 600)])) == [(120, "firing", "warning")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"state": "exploded"}, "unknown state"),
        ({"severity": "info"}, "unknown severity"),
        ({"rule": None}, "rule is missing"),
        ({"peak_value": "high"}, "peak_value must be a number"),
        ({"started_at": "2026-01-01T00:00:00"}, "started_at has no timezone"),
        ({"alert_id": None}, "firing needs alert_id"),
        ({"state": "pending", "pending_since": None}, "pending needs pending_since"),
    ],
)
def test_damaged_state_is_refused(change: dict[str, Any], message: str) -> None:
    """A damaged saved state is a ValueError that says what is wrong."""
    engine = AlertEngine(Links())
    run(engine, rule(), [(0, 600)])
    data = engine.states()[0].to_dict() | change
    with pytest.raises(ValueError, match=message):
        AlertState.from_dict(data)


def test_alert_id_is_stable_per_instance_and_new_per_breach():
    """Every notification of one firing instance shares its id; the next breach gets a new one."""
    engine = AlertEngine(Links())
    intents = run(engine, rule(), [(0, 600), (30, 1200), (60, 100), (90, 600)], group="t1")
    assert [i.alert_id for i in intents] == [
        "lat:t1:1767225600",
        "lat:t1:1767225600",
        "lat:t1:1767225600",
        "lat:t1:1767225690",
    ]


def test_account_alert_id_names_the_account():
    """An account-wide alert's id says account where a trunk would be."""
    (intent,) = run(AlertEngine(Links()), rule(), [(0, 600)])
    assert intent.alert_id == "lat:account:1767225600"


def call(call_id: str, trunk: str = "t1", ai: float = 900.0) -> Call:
    return Call(id=call_id, trunk_id=trunk, status="connected", start_time=T0, ai_latency_ms=ai)


def test_intent_carries_what_notifiers_need():
    """A firing intent has value, threshold, calls, offending calls, routes and filled links."""
    links = Links(
        call="https://dash.example/calls/{call_id}?trunk={trunk_id}",
        trunk="https://dash.example/trunks/{trunk_id}",
    )
    r = rule(notify=NotifyRoutes(warning=("ops",), critical=("ops", "pager")))
    worst = (call("c/1 x"), call("c2"))
    engine = AlertEngine(links)
    (intent,) = engine.step([Observation(r, "t1", 1200.0, 37, None, worst)], at(0))
    assert (intent.kind, intent.severity, intent.value, intent.threshold) == (
        "firing",
        "critical",
        1200.0,
        1000.0,
    )
    assert (intent.calls_in_window, intent.offending_calls) == (37, worst)
    assert intent.notify == ("ops", "pager")
    assert intent.links == {
        "c/1 x": "https://dash.example/calls/c%2F1%20x?trunk=t1",
        "c2": "https://dash.example/calls/c2?trunk=t1",
        "trunk": "https://dash.example/trunks/t1",
    }
    assert intent.trunk_url == "https://dash.example/trunks/t1"


def test_no_links_without_templates():
    """Without link templates an intent has no links."""
    (intent,) = run(AlertEngine(Links()), rule(), [(0, 600)], group="t1")
    assert intent.links == {}


def test_resolved_intent_shows_peak_and_value_at_resolution():
    """The resolve message carries the peak, the value that cleared it and both times."""
    engine = AlertEngine(Links())
    intents = run(engine, rule(recovery=300.0), [(0, 600), (30, 1400), (60, 700), (90, 250)])
    resolved = intents[-1]
    assert (resolved.kind, resolved.value, resolved.peak_value, resolved.threshold) == (
        "resolved",
        250.0,
        1400.0,
        300.0,
    )
    assert (resolved.started_at, resolved.resolved_at) == (at(0), at(90))


def test_peak_of_a_falling_rule_is_its_lowest_value():
    """For op <, the most severe value is the lowest one."""
    r = rule(op="<", warning=100.0, critical=50.0)
    intents = run(AlertEngine(Links()), r, [(0, 80), (30, 20), (60, 60), (90, 150)])
    assert intents[-1].peak_value == 20.0


def test_resolved_for_no_data_says_why():
    """Resolving for lack of data carries value None and the reason."""
    intents = run(AlertEngine(Links()), rule(no_data="resolve"), [(0, 600), (30, None)])
    assert (intents[-1].kind, intents[-1].value, intents[-1].reason) == (
        "resolved",
        None,
        "no data",
    )


def test_vanished_group_counts_as_no_data():
    """A firing trunk missing from the next evaluation is treated as no data for its rule."""
    keep, drop = rule(name="keep", per="trunk"), rule(name="drop", per="trunk", no_data="resolve")
    engine = AlertEngine(Links())
    engine.step([Observation(r, "a", 600.0, 5) for r in (keep, drop)], at(0))
    intents = engine.step([Observation(r, "b", 100.0, 5) for r in (keep, drop)], at(30))
    assert [(i.rule.name, i.group, i.kind) for i in intents] == [("drop", "a", "resolved")]
    shown = {(s.rule, s.group): s.display_state for s in engine.states()}
    assert shown == {
        ("drop", "a"): "no_data",
        ("drop", "b"): "inactive",
        ("keep", "a"): "firing",
        ("keep", "b"): "inactive",
    }


def test_vanished_inactive_group_is_forgotten():
    """An inactive alert with nothing to hold is dropped when its group is no longer seen."""
    engine = AlertEngine(Links())
    engine.step([Observation(rule(), "a", 100.0, 5)], at(0))
    engine.step([], at(30))
    assert engine.states() == []


def test_no_data_is_shown_as_its_own_state():
    """An alert with no data and nothing open displays as no_data, and keeps its last value."""
    engine = AlertEngine(Links())
    run(engine, rule(), [(0, 100), (30, None)])
    (state,) = engine.states()
    assert (state.display_state, state.last_value, state.no_data) == ("no_data", 100.0, True)


def test_forget_rules_except_keeps_remaining_states():
    """A config reload drops the states of removed rules and keeps the others."""
    engine = AlertEngine(Links())
    engine.step([Observation(rule(name=n), None, 600.0, 5) for n in ("a", "b")], at(0))
    engine.forget_rules_except({"b"})
    assert [(s.rule, s.state) for s in engine.states()] == [("b", "firing")]


def test_states_are_copies():
    """Changing a returned state does not change the engine."""
    engine = AlertEngine(Links())
    run(engine, rule(), [(0, 600)])
    engine.states()[0].state = "inactive"
    assert engine.get("lat", None) is not None
    assert engine.get("lat", None).state == "firing"  # type: ignore[union-attr]


def test_naive_now_is_refused():
    """Times must be timezone-aware, as everywhere in the monitor."""
    with pytest.raises(ValueError, match="timezone-aware"):
        AlertEngine(Links()).step([], datetime(2026, 1, 1))  # noqa: DTZ001


def test_groups_a_changed_rule_no_longer_watches_resolve_at_once():
    """A kept rule whose trunk filter or per changed (reload) closes its old groups at the
    next step instead of holding them open as no data."""
    before = rule(per="trunk", trunks=("t1", "t2"))
    engine = AlertEngine(Links())
    fired = engine.step([Observation(before, g, 600.0, 5) for g in ("t1", "t2", "t3")], at(0))
    assert [(i.group, i.kind) for i in fired] == [
        ("t1", "firing"),
        ("t2", "firing"),
        ("t3", "firing"),
    ]
    narrowed = rule(per="trunk", trunks=("t2",), exclude_trunks=())
    after = AlertEngine(Links(), engine.states(), [narrowed])
    intents = after.step([Observation(narrowed, "t2", 600.0, 5)], at(30))
    assert [(i.group, i.kind, i.reason) for i in intents] == [
        ("t1", "resolved", NOT_WATCHED),
        ("t3", "resolved", NOT_WATCHED),
    ]
    account = rule(per="account")
    whole = AlertEngine(Links(), after.states(), [account])
    intents = whole.step([Observation(account, None, 600.0, 5)], at(60))
    assert [(i.group, i.kind) for i in intents] == [(None, "firing"), ("t2", "resolved")]
    assert [s.key for s in whole.states() if s.state != "inactive"] == [("lat", None)]


def test_a_pending_alert_its_rule_no_longer_watches_goes_quietly():
    """A pending group dropped by a filter change goes inactive without a notification."""
    before = rule(per="trunk", **{"for": timedelta(minutes=5)})
    engine = AlertEngine(Links())
    engine.step([Observation(before, "t1", 600.0, 5)], at(0))
    after = rule(per="trunk", exclude_trunks=("t1",), **{"for": timedelta(minutes=5)})
    moved = AlertEngine(Links(), engine.states(), [after])
    assert moved.step([], at(30)) == []
    assert [s.state for s in moved.states()] == ["inactive"]


def test_held_rules_neither_move_nor_send():
    """hold_rules keeps those rules' alerts as they were, whatever is observed or missing."""
    r = rule(no_data="resolve")
    engine = AlertEngine(Links())
    engine.step([Observation(r, None, 1200.0, 5)], at(0))
    held = engine.advance([Observation(r, None, 100.0, 5)], at(30), hold_rules={"lat"})
    assert (held.intents, held.held) == ([], [])
    assert engine.advance([], at(60), hold_rules={"lat"}).intents == []
    (state,) = engine.states()
    assert (state.state, state.severity, state.last_value) == ("firing", "critical", 1200.0)
