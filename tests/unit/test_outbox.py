"""The outbox: which notifications intents become, and how the worker delivers them."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import Intent
from monitor.clock import ManualClock
from monitor.config import Delivery, NotifyRoutes, Rule
from monitor.errors import DeliveryError
from monitor.models import Call
from monitor.notify.base import Notification
from monitor.notify.outbox import DeliveryEvent, DeliveryWorker, notifications_for
from monitor.store import StateStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GROUPING = {"slack": True, "hook": False}


def intent(group: str | None = "t1", kind: str = "firing", **kwargs: Any) -> Intent:
    rule = Rule.model_validate(
        {
            "name": kwargs.pop("rule", "lat"),
            "metric": "ai_latency_ms",
            "stat": "p95",
            "warning": 500.0,
            "notify": NotifyRoutes(warning=("slack", "hook"), critical=("slack", "hook")),
        }
    )
    call = Call(id=f"c-{group}", trunk_id=group or "t0", status="completed", start_time=T0)
    fields: dict[str, Any] = {
        "kind": kind,
        "alert_id": f"lat:{group}:1",
        "rule": rule,
        "group": group,
        "severity": "warning",
        "value": 900.0,
        "threshold": 500.0,
        "peak_value": 900.0,
        "started_at": T0,
        "resolved_at": None,
        "calls_in_window": 30,
        "offending_calls": (call,),
        "links": {call.id: f"https://dash.example/calls/{call.id}"},
        "notify": ("slack", "hook"),
        "at": T0,
    }
    fields.update(kwargs)
    return Intent(**fields)


def test_slack_gets_one_notification_per_rule_and_event_webhooks_one_per_alert():
    """Three trunks firing together: one grouped Slack entry listing them, three webhook entries."""
    out = notifications_for([intent("t1"), intent("t2"), intent("t3")], GROUPING, T0)
    slack = [n for n in out if n.notifier == "slack"]
    hooks = [n for n in out if n.notifier == "hook"]
    assert [[a["group"]["trunk_id"] for a in n.alerts] for n in slack] == [["t1", "t2", "t3"]]
    assert [n.alerts[0]["group"]["trunk_id"] for n in hooks] == ["t1", "t2", "t3"]
    assert len({n.id for n in out}) == 4


def test_different_events_and_rules_are_not_grouped_together():
    """A firing and a resolution, or two rules, are separate Slack messages."""
    out = notifications_for(
        [intent("t1"), intent("t2", kind="resolved"), intent("t3", rule="other")], GROUPING, T0
    )
    assert [(n.rule, n.event) for n in out if n.notifier == "slack"] == [
        ("lat", "firing"),
        ("lat", "resolved"),
        ("other", "firing"),
    ]


def test_ids_are_stable_for_the_same_transition_and_differ_otherwise():
    """Queuing the same transition twice gives the same id (the store ignores the second)."""
    first = notifications_for([intent("t1")], {"hook": False}, T0)
    again = notifications_for([intent("t1")], {"hook": False}, T0 + timedelta(seconds=5))
    later = notifications_for([intent("t1", at=T0 + timedelta(hours=1))], {"hook": False}, T0)
    assert first[0].id == again[0].id
    assert first[0].id != later[0].id
    assert first[0].id.startswith("msg_")


def test_an_unknown_notifier_is_skipped_with_a_warning(caplog):
    """A route to a notifier that is not configured is logged, not a crash."""
    out = notifications_for([intent("t1", notify=("gone",))], GROUPING, T0)
    assert out == []
    assert "unknown notifier gone" in caplog.text


def test_the_document_carries_the_contract_fields():
    """The alert document has every field of the webhook contract."""
    (n,) = notifications_for([intent("t1")], {"hook": False}, T0)
    alert = n.alerts[0]
    for key in [
        "id",
        "rule",
        "severity",
        "summary",
        "metric",
        "stat",
        "value",
        "threshold",
        "op",
        "window_seconds",
        "group",
        "started_at",
        "resolved_at",
        "calls_in_window",
        "offending_calls",
        "links",
    ]:
        assert key in alert
    assert alert["offending_calls"][0]["url"] == "https://dash.example/calls/c-t1"
    assert alert["window_seconds"] == 300
    assert alert["started_at"] == "2026-03-01T12:00:00Z"


# --- the worker -----------------------------------------------------------------------


class FakeSender:
    """Answers each send with the next scripted outcome (None: delivered)."""

    groups = False

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome

    def close(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path / "state.db")
    yield s
    s.close()


def queue(store: StateStore, *groups: str, at: datetime = T0) -> list[Notification]:
    notes = notifications_for([intent(g, at=at) for g in groups], {"hook": False}, at)
    store.enqueue(notes)
    return notes


def worker(
    store: StateStore, sender: FakeSender, clock: ManualClock, events: list[DeliveryEvent]
) -> DeliveryWorker:
    policy = Delivery(
        retry_initial=timedelta(seconds=10),
        retry_max=timedelta(minutes=5),
        max_age=timedelta(hours=1),
    )
    return DeliveryWorker(
        store, {"hook": sender}, clock, policy, listener=events.append, rng=random.Random(7)
    )


Make = Callable[..., tuple[DeliveryWorker, FakeSender, ManualClock, list[DeliveryEvent]]]


@pytest.fixture
def make(store: StateStore) -> Make:
    def build(
        *outcomes: Exception | None,
    ) -> tuple[DeliveryWorker, FakeSender, ManualClock, list[DeliveryEvent]]:
        clock = ManualClock(T0)
        sender = FakeSender(*outcomes)
        events: list[DeliveryEvent] = []
        return worker(store, sender, clock, events), sender, clock, events

    return build


def test_pending_entries_are_delivered_in_order_and_marked(store, make):
    """Queued entries go out oldest first and are then no longer pending."""
    w, sender, _, events = make()
    notes = queue(store, "t1", "t2")
    assert w.deliver_due("hook") == 2
    assert [n.id for n in sender.sent] == [n.id for n in notes]
    assert store.next_pending("hook") is None
    assert [e.outcome for e in events] == ["delivered", "delivered"]
    assert store.outbox_stats(T0) == []


def test_a_transient_failure_is_retried_with_backoff_and_the_same_id(store, make):
    """A 5xx-like failure waits about retry_initial, then the same notification is resent."""
    w, sender, clock, events = make(DeliveryError("HTTP 503", transient=True))
    queue(store, "t1")
    assert w.deliver_due("hook") == 0
    due = w.next_due("hook")
    assert due is not None
    assert timedelta(seconds=5) <= due - T0 <= timedelta(seconds=10)
    clock.advance(4)
    assert w.deliver_due("hook") == 0
    assert len(sender.sent) == 1
    clock.advance(6)
    assert w.deliver_due("hook") == 1
    assert sender.sent[0].id == sender.sent[1].id
    assert [e.outcome for e in events] == ["failed", "delivered"]


def test_backoff_grows_exponentially_up_to_the_cap(store, make):
    """Each further failure waits longer (with jitter), never past retry_max."""
    failures = [DeliveryError("timed out", transient=True) for _ in range(8)]
    w, _, clock, _ = make(*failures)
    queue(store, "t1")
    waits = []
    for _ in range(8):
        w.deliver_due("hook")
        due = w.next_due("hook")
        assert due is not None
        waits.append((due - clock.now()).total_seconds())
        clock.advance(waits[-1])
    assert waits[0] <= 10
    assert waits[3] >= 40
    assert max(waits) <= 300
    assert waits[-1] >= 150


def test_retry_after_is_honoured(store, make):
    """A 429 with Retry-After: 120 waits exactly that long."""
    w, _sender, clock, _ = make(DeliveryError("HTTP 429", transient=True, retry_after=120))
    queue(store, "t1")
    w.deliver_due("hook")
    assert w.next_due("hook") == T0 + timedelta(seconds=120)
    clock.advance(119)
    assert w.deliver_due("hook") == 0
    clock.advance(1)
    assert w.deliver_due("hook") == 1


def test_a_failing_head_holds_back_later_entries(store, make):
    """A resolution never overtakes its firing: entries behind a retry wait."""
    w, sender, clock, _ = make(DeliveryError("HTTP 500", transient=True))
    queue(store, "t1", "t2")
    w.deliver_due("hook")
    assert len(sender.sent) == 1
    clock.advance(600)
    assert w.deliver_due("hook") == 2
    assert [n.alerts[0]["group"]["trunk_id"] for n in sender.sent] == ["t1", "t1", "t2"]


def test_a_permanent_failure_is_dead_lettered_once_and_the_queue_moves_on(store, make, caplog):
    """A 404 is not retried: dead, logged once with its reason, counted; the next goes out."""
    caplog.set_level(logging.INFO)
    w, sender, _, events = make(DeliveryError("HTTP 404", transient=False))
    queue(store, "t1", "t2")
    assert w.deliver_due("hook") == 1
    (dead,) = store.outbox_entries("dead")
    assert dead.last_error == "HTTP 404"
    assert dead.notification.alerts[0]["group"]["trunk_id"] == "t1"
    assert [(e.outcome, e.reason) for e in events] == [("dead", "rejected"), ("delivered", None)]
    assert caplog.text.count("gave up delivering") == 1
    assert w.deliver_due("hook") == 0
    assert len(sender.sent) == 2


def test_entries_older_than_max_age_are_dead_lettered_as_expired(store, make):
    """A receiver down for longer than max_age: the entry expires instead of retrying forever."""
    failures = [DeliveryError("connection failed", transient=True) for _ in range(50)]
    w, _sender, clock, events = make(*failures)
    queue(store, "t1")
    while store.next_pending("hook") is not None:
        w.deliver_due("hook")
        due = w.next_due("hook")
        if due is not None:
            clock.advance(max(1.0, (due - clock.now()).total_seconds()))
    (dead,) = store.outbox_entries("dead")
    assert "max_age" in (dead.last_error or "")
    assert events[-1] == DeliveryEvent("hook", "dead", "expired")
    assert clock.now() - T0 <= timedelta(hours=1, minutes=6)


def test_entries_of_a_notifier_no_longer_configured_are_dead_lettered(store, make):
    """After a reload removed a notifier, its queue is given up on, not kept forever."""
    w, _, _, events = make()
    store.enqueue(notifications_for([intent("t1", notify=("gone",))], {"gone": False}, T0))
    w.deliver_due("gone")
    (dead,) = store.outbox_entries("dead")
    assert dead.last_error == "notifier is no longer configured"
    assert events == [DeliveryEvent("gone", "dead", "rejected")]


def test_a_sender_bug_is_retried_not_fatal(store, make, caplog):
    """An unexpected exception in a sender is logged with its traceback and retried later."""
    w, _sender, clock, events = make(RuntimeError("bug"))
    queue(store, "t1")
    assert w.deliver_due("hook") == 0
    assert "failed unexpectedly" in caplog.text
    clock.advance(60)
    assert w.deliver_due("hook") == 1
    assert [e.outcome for e in events] == ["failed", "delivered"]


def test_a_queued_notification_survives_reopening_the_store(tmp_path, make):
    """What was queued before a crash is still pending after reopening the DB, same id."""
    path = tmp_path / "crash.db"
    first = StateStore(path)
    (note,) = queue(first, "t1")
    first.close()
    again = StateStore(path)
    try:
        entry = again.next_pending("hook")
        assert entry is not None
        assert entry.notification == note
        assert again.outbox_stats(T0 + timedelta(seconds=30)) == [("hook", 1, 30.0)]
    finally:
        again.close()


def test_states_and_notifications_commit_together(store):
    """If queuing fails, the alert states of that evaluation are not saved either."""
    (note,) = notifications_for([intent("t1")], {"hook": False}, T0)
    broken = Notification(**{**note.__dict__, "alerts": [{"id": object()}]})
    with pytest.raises(TypeError):
        store.save_alert_states([{"rule": "lat", "group": "t1", "state": "firing"}], [broken])
    assert store.load_alert_states() == []
    assert store.next_pending("hook") is None


def test_pruning_forgets_old_finished_entries_only(store, make):
    """Delivered entries older than keep go; pending ones stay whatever their age."""
    w, _, _, _ = make()
    queue(store, "t1")
    w.deliver_due("hook")
    queue(store, "t2", at=T0 + timedelta(minutes=1))
    assert store.prune_outbox(T0 + timedelta(days=8)) == 1
    assert [e.status for e in store.outbox_entries()] == ["pending"]
