"""SLO burn-rate alerts end to end below the HTTP edge: calls stored in a real state DB
(their SLO counts rolled up in the same transaction, minute rows downsampled into hours as
the daemon's housekeeping does), figures read back, one pipeline step per evaluation at
an injected time, notifications out of the step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerts import AlertState
from monitor.config import Config, load_config
from monitor.history.store import HistoryStore
from monitor.models import Call
from monitor.notify.base import Notification
from monitor.pipeline import Sync, step
from monitor.slo import classifiers
from monitor.slo.source import read_figures
from monitor.store import StateStore
from monitor.windows import CallWindows

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)

CONFIG = """
notifiers:
  pager: {type: console}
  tickets: {type: console}
defaults:
  notify: [pager]
slos:
  - name: ai-fast
    summary: AI answers within 1.5 s
    good: {metric: ai_latency_ms, threshold: 1500}
    status: [connected]
    objective: 99%
    period: 7d
    alerts:
      - {burn_rate: 14.4, long: 1h, short: 5m, severity: critical}
      - {burn_rate: 6, long: 6h, short: 30m, severity: critical}
      - {burn_rate: 1, long: 3d, short: 6h, severity: warning, notify: [tickets]}
"""
PAGE = "slo-ai-fast-burn-1h-5m"
PAGE_SLOW = "slo-ai-fast-burn-6h-30m"
TICKET = "slo-ai-fast-burn-3d-6h"


class Harness:
    """The daemon's loop in miniature, on a clock the test moves."""

    def __init__(self, tmp_path: Path) -> None:
        path = tmp_path / "alerts.yaml"
        path.write_text(CONFIG)
        self.config: Config = load_config(path)
        self.store = StateStore(tmp_path / "state.db")
        self.store.rollup_counters = classifiers(self.config.slos)
        self.history = HistoryStore(self.store)
        self.windows = CallWindows(timedelta(hours=1))
        self.states: list[AlertState] = []
        self.now = T0
        self.serial = 0
        self.fired: list[tuple[datetime, str, str, str]] = []  # (at, kind, rule, severity)
        self.notified: list[Notification] = []

    def run(
        self, minutes: int, *, bad_every: int, per_minute: int = 10, step_every: int = 5
    ) -> None:
        """``minutes`` of traffic, every ``bad_every``-th call slow, evaluating each
        ``step_every`` minutes."""
        for minute in range(minutes):
            calls = []
            for i in range(per_minute):
                self.serial += 1
                slow = self.serial % bad_every == 0
                start = self.now + timedelta(seconds=i * 60 / per_minute)
                calls.append(
                    Call(id=f"c{self.serial}", trunk_id="t1", status="connected",
                         start_time=start, end_time=start + timedelta(seconds=30),
                         ai_latency_ms=2600.0 if slow else 300.0)
                )  # fmt: skip
            # A failed call never counts, however slow.
            calls.append(Call(id=f"f{self.serial}", trunk_id="t1", status="failed",
                              start_time=self.now, ai_latency_ms=9000.0))  # fmt: skip
            self.store.add_calls(calls)
            self.windows.add_many(calls)
            self.now += timedelta(minutes=1)
            if (minute + 1) % step_every == 0:
                self.evaluate()

    def evaluate(self) -> None:
        self.history.downsample(self.now - self.config.history.fine)
        figures = read_figures(self.store, self.config.slos, self.now, {"t1"})
        result = step(
            self.config, self.windows, None, self.states, self.now,
            quiet=None, sync=Sync(), known_trunks={"t1"}, slos=figures,
        )  # fmt: skip
        self.states = result.states
        for intent in result.intents:
            self.fired.append((self.now, intent.kind, intent.rule.name, intent.severity))
        self.notified += result.notifications

    def firing(self) -> set[str]:
        return {s.rule for s in self.states if s.state == "firing"}


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path)
    yield h
    h.store.close()


def test_a_fast_burn_pages_within_minutes_and_clears(harness):
    """Healthy for 6 hours, then half the calls slow: the 1h/5m page fires first, once
    both windows burn at 14.4x, and names the objective, budget and both burn rates."""
    harness.run(360, bad_every=1000, step_every=30)
    assert harness.fired == []
    start = harness.now
    harness.run(40, bad_every=2)
    firing = {r: (at, sev) for at, k, r, sev in reversed(harness.fired) if k == "firing"}
    # 50% bad is 50x; the 1h window crosses 14.4x after ~17 of its 60 minutes.
    at, severity = firing[PAGE]
    assert severity == "critical"
    assert timedelta(minutes=15) <= at - start <= timedelta(minutes=20)
    # The 6h window needs longer (6x over 6h: ~43 minutes at 50x).
    assert PAGE_SLOW not in firing
    page = next(n for n in harness.notified if n.rule == PAGE)
    (alert,) = page.alerts
    summary = alert["summary"]
    assert "objective 99%" in summary
    assert "budget remaining" in summary
    assert "over 1h" in summary
    assert "over 5m" in summary
    worst = alert["offending_calls"]
    assert worst
    assert all(c["ai_latency_ms"] == 2600.0 for c in worst)
    # Healthy again: the short window clears the page within minutes.
    harness.run(15, bad_every=1000)
    assert PAGE not in harness.firing()
    assert any(k == "resolved" and r == PAGE for _, k, r, _ in harness.fired)


def test_a_slow_burn_opens_a_ticket_and_never_pages(harness):
    """Three quiet days at 0.5% slow (half the budget's pace), then 2% slow (2x): only
    the 3d/6h ticket fires, about a day into the slow burn, routed to its notifier."""
    harness.run(3 * 24 * 60, bad_every=200, per_minute=4, step_every=30)
    assert harness.fired == []
    start = harness.now
    harness.run(36 * 60, bad_every=50, per_minute=4, step_every=30)
    rules = {r for _, k, r, _ in harness.fired if k == "firing"}
    assert rules == {TICKET}
    at = next(a for a, k, r, _ in harness.fired if r == TICKET)
    # (2% t + 0.5% (72h - t)) / 72h reaches 1% at t = 24h.
    assert timedelta(hours=23) <= at - start <= timedelta(hours=25)
    ticket = next(n for n in harness.notified if n.rule == TICKET)
    assert ticket.notifier == "tickets"
    assert ticket.alerts[0]["severity"] == "warning"
