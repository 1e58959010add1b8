"""Reports: schedules, figures, notifier messages, config and the command's ranges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.config.reporting import ReportSpec
from monitor.errors import ConfigError, SettingsError
from monitor.history.rollup import aggregate
from monitor.history.store import AlertEvent
from monitor.models import Call
from monitor.reports.deliver import (
    console_text,
    report_document,
    report_notifications,
    slack_message,
    webhook_payload,
)
from monitor.reports.figures import alert_figures, compute, to_json
from monitor.reports.render import render_html, render_text
from monitor.reports.schedule import latest_due, ready
from monitor.reports.source import from_calls, period_for, series_step
from monitor.reports.trends import TrendRow, render_trends, sparkline
from tests.support.receivers import block_kit_problems

NOW = datetime(2026, 3, 11, 9, 30, tzinfo=UTC)


def spec(**changes: object) -> ReportSpec:
    return ReportSpec.model_validate({"name": "morning", "notify": ["ops"], **changes})


@dataclass(frozen=True)
class DueCase:
    what: str
    now: datetime
    changes: dict[str, object]
    start: datetime
    end: datetime
    send_at: datetime


DUE = [
    DueCase(
        "daily after the send time: yesterday",
        datetime(2026, 3, 11, 9, 30, tzinfo=UTC), {},
        datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC),
        datetime(2026, 3, 11, 9, tzinfo=UTC),
    ),
    DueCase(
        "daily before the send time: the day before yesterday",
        datetime(2026, 3, 11, 8, 59, tzinfo=UTC), {},
        datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC),
        datetime(2026, 3, 10, 9, tzinfo=UTC),
    ),
    DueCase(
        "a local day in Paris is 23:00 to 23:00 UTC in winter",
        datetime(2026, 3, 11, 8, 30, tzinfo=UTC), {"timezone": "Europe/Paris"},
        datetime(2026, 3, 9, 23, tzinfo=UTC), datetime(2026, 3, 10, 23, tzinfo=UTC),
        datetime(2026, 3, 11, 8, tzinfo=UTC),
    ),
    DueCase(
        "the day clocks go forward has 23 hours",
        datetime(2026, 3, 30, 12, tzinfo=UTC), {"timezone": "Europe/Paris"},
        datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC),
        datetime(2026, 3, 30, 7, tzinfo=UTC),
    ),
    DueCase(
        "weekly: Monday to Monday, sent on Monday",
        datetime(2026, 3, 12, 12, tzinfo=UTC), {"every": "weekly", "at": "07:15"},
        datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC),
        datetime(2026, 3, 9, 7, 15, tzinfo=UTC),
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", DUE, ids=[c.what for c in DUE])
def test_latest_due_period(case: DueCase) -> None:
    due = latest_due(spec(**case.changes), case.now)
    assert (due.start, due.end, due.send_at) == (case.start, case.end, case.send_at)


def test_a_period_waits_for_its_calls_and_for_the_report_to_exist() -> None:
    """Due only once the last calls can be read, and never for a time before the report
    was configured."""
    due = latest_due(spec(at="00:00"), datetime(2026, 3, 11, 0, 5, tzinfo=UTC))
    settle = timedelta(minutes=10)
    early = datetime(2026, 3, 11, 0, 5, tzinfo=UTC)
    assert not ready(due, early, settle=settle, since=early - timedelta(days=3))
    later = early + timedelta(minutes=6)
    assert ready(due, later, settle=settle, since=early - timedelta(days=3))
    assert not ready(due, later, settle=settle, since=later)


def ev(kind: str, minute: int, alert: str = "a1", trunk: str | None = "t1") -> AlertEvent:
    at = datetime(2026, 3, 10, 12, tzinfo=UTC) + timedelta(minutes=minute)
    return AlertEvent(alert, kind, at, "ai-latency", trunk, "warning")


def test_alert_figures_count_firings_and_clip_time_to_the_period() -> None:
    """Fired counts transitions to firing inside the period; time firing is clipped to it,
    including an alert firing since before the period and one still firing at its end."""
    start = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
    end = start + timedelta(hours=1)
    events = [
        ev("firing", 0),  # before the period, resolved inside it: 10 minutes count
        ev("escalated", 20),
        ev("resolved", 40),
        ev("firing", 50),  # fired inside, resolved after 15 minutes
        ev("resolved", 65),
        ev("firing", 80, alert="a2", trunk=None),  # still firing at the end: 10 minutes
    ]
    figures = alert_figures(events, start, end)
    assert figures.fired == 2
    assert figures.firing_seconds == (10 + 15 + 10) * 60
    assert figures.rows[0] == ("ai-latency", "t1", 1, 25 * 60.0)


def calls_of(day: datetime, n: int) -> list[Call]:
    return [
        Call(
            id=f"c{i}", trunk_id=f"t{i % 3}", status="failed" if i % 10 == 0 else "connected",
            start_time=day + timedelta(minutes=i * 7 % 1440), duration_seconds=100.0,
            ai_latency_ms=200.0 + i, carrier_lag_ms=50.0, gateway_processing_ms=10.0,
        )
        for i in range(n)
    ]  # fmt: skip


DAY = datetime(2026, 3, 10, tzinfo=UTC)


def test_figures_from_calls_and_their_comparison() -> None:
    """Totals, shares and the previous period, each as the definition says."""
    previous = [
        Call(id=f"p{i}", trunk_id="t0", status="connected",
             start_time=DAY - timedelta(hours=5), ai_latency_ms=100.0)
        for i in range(150)
    ]  # fmt: skip
    figures = from_calls(calls_of(DAY, 300) + previous, DAY, DAY + timedelta(days=1))
    assert figures.totals.calls == 300
    assert figures.totals.failed == 30
    assert figures.totals.failed_share == pytest.approx(0.1)
    assert figures.totals.duration_hours == pytest.approx(300 * 100 / 3600)
    assert figures.previous is not None
    assert figures.previous.calls == 150
    assert figures.busiest == ("t0", "t1", "t2")
    assert figures.worst[0] in {"t0", "t1", "t2"}
    data = to_json(figures)
    assert data["source"] == "api"
    assert data["alerts"] is None
    text = "\n".join(render_text(figures))
    assert "Calls" in text
    assert "+100.0%" in text  # 300 calls against 150
    assert "Alerts: not known" in text
    page = render_html(figures)
    assert page.count("<svg") == 2
    assert "<script" not in page


def test_a_period_without_calls_reports_zeros_not_errors() -> None:
    figures = compute(DAY, DAY + timedelta(days=1), {}, source="history", alerts=[])
    assert figures.totals.calls == 0
    assert figures.totals.failed_share is None
    assert "—" in "\n".join(render_text(figures))
    assert render_html(figures).startswith("<!doctype html>")


def test_hostile_trunk_ids_are_escaped_in_html_and_slack() -> None:
    evil = "<img src=x onerror=alert(1)>"
    calls = [
        Call(id=f"c{i}", trunk_id=evil, status="connected", start_time=DAY, ai_latency_ms=300.0)
        for i in range(20)
    ]
    figures = from_calls(calls, DAY, DAY + timedelta(days=1))
    assert evil not in render_html(figures)
    doc = report_document(spec(), DAY, DAY + timedelta(days=1), figures)
    (note,) = report_notifications(spec(), DAY, doc, NOW)
    message = slack_message(note.alerts)
    assert "<img" not in str(message["blocks"])


def test_report_notifications_have_stable_ids_per_notifier_and_period() -> None:
    """Queueing a period again gives the same ids (the outbox ignores it); another period
    or notifier gives new ones."""
    s = spec(notify=["ops", "team"])
    doc = report_document(s, DAY, DAY + timedelta(days=1), None, [(DAY, DAY + timedelta(hours=2))])
    first = report_notifications(s, DAY, doc, NOW)
    again = report_notifications(s, DAY, doc, NOW + timedelta(minutes=5))
    other = report_notifications(s, DAY + timedelta(days=1), doc, NOW)
    assert [n.id for n in first] == [n.id for n in again]
    assert len({n.id for n in first + other}) == 4
    assert {n.event for n in first} == {"report"}


def test_messages_of_a_covered_report() -> None:
    figures = from_calls(calls_of(DAY, 300), DAY, DAY + timedelta(days=1))
    doc = report_document(spec(), DAY, DAY + timedelta(days=1), figures)
    (note,) = report_notifications(spec(), DAY, doc, NOW)
    message = slack_message(note.alerts)
    assert block_kit_problems(message["blocks"]) == []
    assert message["text"].startswith("Telepath daily report morning")
    table = message["blocks"][2]["text"]["text"]
    assert "```" in table
    assert "t0" in table
    body = webhook_payload(note, "2026-03-11T09:00:00Z")
    assert body["type"] == "report"
    assert body["report"]["report"]["totals"]["calls"] == 300
    assert "series" not in body["report"]["report"]
    text = console_text(note.alerts)
    assert text.startswith("REPORT  Telepath daily report morning")
    assert "Calls" in text


def test_messages_of_a_period_not_covered_say_what_is_missing() -> None:
    gap = (DAY + timedelta(hours=3), DAY + timedelta(hours=5))
    doc = report_document(spec(), DAY, DAY + timedelta(days=1), None, [gap])
    (note,) = report_notifications(spec(), DAY, doc, NOW)
    message = slack_message(note.alerts)
    assert block_kit_problems(message["blocks"]) == []
    assert "2026-03-10T03:00:00Z to 2026-03-10T05:00:00Z" in message["text"]
    assert "No report" in console_text(note.alerts)
    assert webhook_payload(note, "x")["report"]["covered"] is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"day": "2026-13-01"}, "cannot read the date"),
        ({"day": "2026-03-10", "week": ""}, "one of --day, --week"),
        ({"end": NOW}, "--to needs --from"),
        ({"start": NOW, "end": NOW - timedelta(hours=1)}, "range is empty"),
        ({"day": "2026-03-11"}, "in the future"),
    ],
)
def test_bad_ranges_are_refused(kwargs: dict[str, object], message: str) -> None:
    args = {"day": None, "week": None, "start": None, "end": None, **kwargs}
    with pytest.raises(SettingsError, match=message):
        period_for(now=NOW, **args)  # type: ignore[arg-type]


def test_ranges() -> None:
    assert period_for(day=None, week=None, start=None, end=None, now=NOW) == (
        DAY, DAY + timedelta(days=1),
    )  # fmt: skip
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    assert period_for(day=None, week="", start=None, end=None, now=NOW) == (
        monday, monday + timedelta(days=7),
    )  # fmt: skip
    later = NOW + timedelta(days=7)
    week = period_for(day=None, week="2026-03-11", start=None, end=None, now=later)
    assert week[0] == monday + timedelta(days=7)
    assert series_step(DAY, DAY + timedelta(days=1)) == 900
    assert series_step(DAY, DAY + timedelta(days=7)) == 3600


def test_config_errors_for_reports_and_history(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        """notifiers:
  c: {type: console}
  am: {type: alertmanager, url: "http://127.0.0.1:9093"}
history: {fine: 3d, keep: 2d}
reports:
  - name: daily
    at: "9am"
    timezone: Mars/Olympus
    notify: [c, nobody]
  - name: daily
    every: monthly
    notify: [am]
"""
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = [str(p) for p in caught.value.problems]
    assert [p.split(": ", 1)[0].rsplit(":", 2)[-2:] for p in problems] == [
        ["4", "10"], ["7", "9"], ["8", "15"], ["9", "17"], ["10", "11"], ["11", "12"],
        ["12", "14"],
    ]  # fmt: skip
    assert "history.fine is longer than history.keep" in problems[0]
    assert "unknown notifier 'nobody'" in problems[3]
    assert "duplicate report name" in problems[4]
    assert "alertmanager" in problems[6]


def test_config_defaults(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("notifiers:\n  c: {type: console}\nreports:\n  - {name: d, notify: [c]}\n")
    config = load_config(path)
    assert config.history.fine == timedelta(hours=48)
    assert config.history.keep == timedelta(days=35)
    (report,) = config.reports
    assert (report.every, report.at, report.timezone) == ("daily", "09:00", "UTC")


def test_trends_render_worst_first_with_escaped_ids() -> None:
    rows = [
        TrendRow("<b>x</b>", None, 10, 0.1, dict.fromkeys(
            ("ai_latency_ms", "carrier_lag_ms", "gateway_processing_ms", "total_latency_ms"), 5.0
        ), (None, 1.0, 2.0)),
    ]  # fmt: skip
    page = render_trends(rows)
    assert "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert page.count('<svg class="spark"') == 1
    assert "No calls" in render_trends([])
    assert 'd=""' in sparkline([None, None], "t")


def test_aggregate_is_what_reports_merge() -> None:
    """A day's tally is the merge of its minutes (a sanity link between the modules)."""
    calls = calls_of(DAY, 100)
    assert sum(t.calls for t in aggregate(calls).values()) == 100


def test_report_without_history_or_key_says_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no state DB covering the range and no API key, `report` exits 2 naming both."""
    from monitor.cli import main

    monkeypatch.delenv("TELEPATH_API_KEY", raising=False)
    code = main(["report", "--day", "2026-03-10", "--state-db", str(tmp_path / "none.db")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no state DB at" in err
    assert "TELEPATH_API_KEY is not set" in err
    assert not (tmp_path / "none.db").exists()  # a report never creates a state DB


def test_a_period_with_unread_parts_waits_while_the_sync_can_still_read_them(
    tmp_path: Path,
) -> None:
    """After downtime, a gap the next polls will read (within poll.backfill) holds the
    report; once the gap is beyond the backfill, the report goes out saying it is missing."""
    from monitor.reports.jobs import HistoryJobs
    from monitor.store import StateStore

    path = tmp_path / "alerts.yaml"
    path.write_text(
        "poll: {backfill: 6h}\nnotifiers:\n  c: {type: console}\n"
        "reports:\n  - {name: daily, at: '01:00', notify: [c]}\n"
    )
    config = load_config(path)
    store = StateStore(tmp_path / "state.db")
    jobs = HistoryJobs(store, lambda: config)
    day = datetime(2026, 3, 10, tzinfo=UTC)
    jobs.history.first_seen("daily", day - timedelta(days=2))
    jobs.history.add_covered(day - timedelta(hours=1), day + timedelta(hours=20))
    # 01:30: the unread 20:00-24:00 is within the 6 h backfill, so a poll may still read it.
    assert jobs.tick(day + timedelta(days=1, hours=1, minutes=30)) == 0
    assert jobs.tick(day + timedelta(days=1, hours=5, minutes=59)) == 0
    # 06:01: it is out of reach; the report goes out, saying what is missing.
    assert jobs.tick(day + timedelta(days=1, hours=6, minutes=1)) == 1
    (entry,) = store.outbox_entries("pending")
    document = entry.notification.alerts[0]
    assert document["covered"] is False
    assert document["missing"] == [{"start": "2026-03-10T20:00:00Z", "end": "2026-03-11T00:00:00Z"}]
    assert jobs.tick(day + timedelta(days=1, hours=7)) == 0  # once
    store.close()


def test_a_report_waits_for_the_sweep_after_the_overlap(tmp_path: Path) -> None:
    """A call longer than the learned overlap is read only by the next sweep, up to
    poll.sweep_every after poll.overlap: the report waits for both."""
    from monitor.reports.jobs import HistoryJobs
    from monitor.store import StateStore

    path = tmp_path / "alerts.yaml"
    path.write_text(
        "poll: {overlap: 10m, sweep_every: 5m}\nnotifiers:\n  c: {type: console}\n"
        "reports:\n  - {name: daily, at: '00:00', notify: [c]}\n"
    )
    config = load_config(path)
    store = StateStore(tmp_path / "state.db")
    jobs = HistoryJobs(store, lambda: config)
    day = datetime(2026, 3, 10, tzinfo=UTC)
    jobs.history.first_seen("daily", day - timedelta(days=2))
    jobs.history.add_covered(day - timedelta(hours=1), day + timedelta(days=1, minutes=20))
    assert jobs.tick(day + timedelta(days=1, minutes=11)) == 0  # past the overlap only
    assert jobs.tick(day + timedelta(days=1, minutes=14, seconds=59)) == 0
    assert jobs.tick(day + timedelta(days=1, minutes=15)) == 1
    store.close()
