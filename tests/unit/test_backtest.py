"""The backtest's pure parts, and its replay over calls served by MockTransport."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from monitor.alerts import Intent
from monitor.backtest import (
    FetchProgress,
    ReplayApi,
    StepRecord,
    build_result,
    check_range,
    estimate_left,
    fetch_calls,
    fetch_start,
    format_progress,
    format_timeline,
    parse_when,
    replay,
    replay_rules,
    union_length,
)
from monitor.cli import main
from monitor.clock import ManualClock
from monitor.config import Config, Rule, load_config
from monitor.errors import SettingsError
from monitor.models import Call
from monitor.settings import load_settings
from monitor.telepath.client import TelepathClient

NOW = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
RULE = Rule(name="slow", metric="ai_latency_ms", stat="p95", warning=800, critical=1500)
KEY = SecretStr("sk_test_backtest")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- times ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-10T14:00:00Z", T0),
        ("2026-03-10T14:00:00", T0),
        ("2026-03-10T16:00:00+02:00", T0),
        ("2026-03-10", datetime(2026, 3, 10, tzinfo=UTC)),
        ("now", NOW),
        ("-24h", NOW - timedelta(hours=24)),
        ("-90m", NOW - timedelta(minutes=90)),
        ("-7d", NOW - timedelta(days=7)),
        ("-1h30m", NOW - timedelta(minutes=90)),
        ("now-2w", NOW - timedelta(weeks=2)),
    ],
)
def test_times_read_iso_8601_and_relative_forms(text, expected):
    """ISO 8601 (naive is UTC), `now` and relative offsets all name one UTC instant."""
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "24h", "-24x", "", "2026-13-01"])
def test_unreadable_times_are_usage_errors(text):
    """A time that is none of the accepted forms is refused with exit code 2."""
    with pytest.raises(SettingsError) as raised:
        parse_when(text, NOW)
    assert raised.value.exit_code == 2


def test_a_range_must_be_forward_and_in_the_past():
    """from >= to, or a to after now, is refused; a past range passes."""
    check_range(NOW - timedelta(hours=1), NOW, NOW)
    with pytest.raises(SettingsError, match="before"):
        check_range(NOW, NOW, NOW)
    with pytest.raises(SettingsError, match="future"):
        check_range(NOW - timedelta(hours=1), NOW + timedelta(minutes=1), NOW)


def test_cli_rejects_a_reversed_range_before_reading_any_setting(capsys, monkeypatch):
    """`backtest --from -1h --to -2h` exits 2 with a clear message, without an API key."""
    monkeypatch.delenv("TELEPATH_API_KEY", raising=False)
    assert main(["backtest", "--from", "-1h", "--to", "-2h"]) == 2
    assert "must be before --to" in capsys.readouterr().err


def test_the_fetch_reaches_back_one_window_and_overlap_at_most_backfill():
    """Calls before from - (longest window + overlap), capped by backfill, cannot matter."""
    config = Config(
        rules=(RULE, RULE.model_copy(update={"name": "b", "window": timedelta(hours=2)}))
    )
    assert fetch_start(config, T0) == T0 - timedelta(hours=1)  # backfill 1h caps 2h10m
    assert fetch_start(Config(rules=(RULE,)), T0) == T0 - timedelta(minutes=15)


# --- fetch --------------------------------------------------------------------------------


def call(
    n: int, start: datetime, *, trunk: str = "conn_a", ai: float = 400.0, lasts: int = 60
) -> Call:
    return Call(
        id=f"call_{n:05d}",
        trunk_id=trunk,
        status="connected",
        start_time=start,
        end_time=start + timedelta(seconds=lasts),
        duration_seconds=lasts,
        ai_latency_ms=ai,
        carrier_lag_ms=80.0,
        gateway_processing_ms=15.0,
    )


def client_on(api: ReplayApi) -> TelepathClient:
    http = httpx.Client(base_url="https://api.example/v1", transport=api.transport())
    return TelepathClient(http, api_key=KEY, clock=ManualClock(NOW), max_pages=1000)


def test_fetch_reads_every_page_once_and_reports_progress_to_the_end():
    """All calls of the range come back once each; progress ends done at 100%."""
    calls = [call(n, at(n / 10)) for n in range(450)]
    reports: list[FetchProgress] = []
    with client_on(ReplayApi(calls, ManualClock(NOW))) as client:
        got = fetch_calls(
            client, at(0), at(60), clock=ManualClock(NOW), requests_per_minute=6000,
            progress=reports.append,
        )  # fmt: skip
    assert sorted(c.id for c in got) == [c.id for c in calls]
    assert [r.pages for r in reports] == [1, 2, 3, 4, 5, 5]
    assert reports[-1].done
    assert reports[-1].fraction == 1.0
    fractions = [r.fraction or 0.0 for r in reports]
    assert fractions == sorted(fractions)


def test_fetch_by_trunk_keeps_only_the_chosen_trunks():
    """With trunks, one filtered walk per trunk; other trunks' calls never appear."""
    calls = [call(n, at(n), trunk=f"conn_{n % 3}") for n in range(30)]
    with client_on(ReplayApi(calls, ManualClock(NOW))) as client:
        got = fetch_calls(
            client, at(0), at(60), clock=ManualClock(NOW), requests_per_minute=6000,
            trunks=["conn_1", "conn_2"],
        )  # fmt: skip
    assert {c.trunk_id for c in got} == {"conn_1", "conn_2"}
    assert len(got) == 20


def test_ctrl_c_from_the_progress_callback_stops_the_fetch():
    """A KeyboardInterrupt raised while reporting progress propagates at once."""
    calls = [call(n, at(n / 10)) for n in range(450)]
    seen: list[int] = []

    def interrupt(progress: FetchProgress) -> None:
        seen.append(progress.pages)
        raise KeyboardInterrupt

    api = ReplayApi(calls, ManualClock(NOW))
    with client_on(api) as client, pytest.raises(KeyboardInterrupt):
        fetch_calls(
            client, at(0), at(60), clock=ManualClock(NOW), requests_per_minute=6000,
            progress=interrupt,
        )  # fmt: skip
    assert (seen, api.requests) == ([1], 1)


def test_time_left_is_the_slower_of_our_pace_and_the_rate_limit():
    """Half done in 10 s: 10 s more by pace, unless the rate limit needs longer."""
    assert estimate_left(10.0, 50, 0.5, 6000) == 10.0
    assert estimate_left(10.0, 50, 0.5, 60) == 50.0  # 50 pages at one a second
    assert estimate_left(10.0, 0, None, 6000) is None


def test_progress_line_shows_calls_pages_and_time_left():
    """The progress line reads as a bar, a share, counts, elapsed and time left."""
    line = format_progress(FetchProgress(8200, 82, 65.0, 0.5, 125.0), width=10)
    assert line == (
        "fetching calls [#####-----]  50%  8,200 calls  82 pages  1:05 elapsed  2:05 left"
    )


# --- the replayed API ---------------------------------------------------------------------


def test_replayed_api_lists_a_call_only_once_it_has_ended():
    """Newest first; a call still running at the clock's now is not listed yet."""
    clock = ManualClock(at(2))
    api = ReplayApi([call(1, at(0)), call(2, at(1), lasts=30), call(3, at(1.5), lasts=60)], clock)
    with client_on(api) as client:
        assert [c.id for c in client.iter_calls()] == ["call_00002", "call_00001"]
        clock.advance(30)
        assert [c.id for c in client.iter_calls()] == ["call_00003", "call_00002", "call_00001"]
        assert [c.id for c in client.iter_calls(since=at(1), until=at(1))] == ["call_00002"]


def test_replayed_api_pages_stay_whole_across_cursors():
    """Cursor pages of 100 cover every visible call exactly once, newest first."""
    calls = [call(n, at(n / 60), lasts=20 + n % 300) for n in range(1000)]
    clock = ManualClock(at(12))
    with client_on(ReplayApi(calls, clock)) as client:
        got = [c.id for c in client.iter_calls()]
    visible = [c for c in calls if c.finished_at <= at(12)]
    assert got == [c.id for c in sorted(visible, key=lambda c: c.start_time, reverse=True)]


def test_replayed_api_answers_anything_else_with_404():
    """Only GET /calls is replayed: /analytics/overview has no history."""
    api = ReplayApi([], ManualClock(NOW))
    with httpx.Client(base_url="https://api.example/v1", transport=api.transport()) as http:
        assert http.get("/analytics/overview").status_code == 404
        assert http.get("/calls", params={"limit": "500"}).status_code == 400


# --- results from steps ---------------------------------------------------------------------


def intent(kind, minute, *, severity="warning", value=900.0, group="conn_a", alert="slow:a:1"):
    return Intent(
        kind=kind, alert_id=alert, rule=RULE, group=group, severity=severity, value=value,
        threshold=800.0, peak_value=value, started_at=at(2), resolved_at=None,
        calls_in_window=10, offending_calls=(), links={}, notify=("oncall",), at=at(minute),
    )  # fmt: skip


def steps_of(values, intents=None, states=None, group="conn_a"):
    """One step a minute: values[i] at minute i, with optional intents and states."""
    out = []
    for i, v in enumerate(values):
        out.append(
            StepRecord(
                at=at(i),
                values=(("slow", group, v),),
                intents=tuple((intents or {}).get(i, ())),
                states=tuple((states or {}).get(i, ())),
            )
        )
    return out


def story():
    """Pending at 1, firing at 2, escalated at 3, repeat at 4, resolved at 6."""
    values = [500.0, 900.0, 950.0, 1600.0, 1700.0, 1000.0, 700.0, 600.0]
    intents = {
        2: [intent("firing", 2, value=950.0)],
        3: [intent("escalated", 3, severity="critical", value=1600.0)],
        4: [intent("repeat", 4, severity="critical", value=1700.0)],
        6: [intent("resolved", 6, value=700.0)],
    }
    pending = {1: [("slow", "conn_a", "pending", "warning")]}
    firing = {i: [("slow", "conn_a", "firing", "warning")] for i in range(2, 6)}
    return steps_of(values, intents, {**pending, **firing})


def test_timeline_has_one_row_per_alert_with_peak_and_every_notification():
    """Start, end, max severity, peak observed while firing, and 4 notifications, 3 pages."""
    result = build_result([RULE], story(), at(0), at(7), timedelta(minutes=1))
    [row] = result.timeline
    assert (row.rule, row.group, row.severity) == ("slow", "conn_a", "critical")
    assert (row.start, row.end, row.peak) == (at(2), at(6), 1700.0)
    assert (row.notifications, row.pages, row.notifiers) == (4, 3, ("oncall",))


def test_series_carry_values_pending_and_firing_spans():
    """The chart data: one point per step, pending 1..2, firing 2..6."""
    [series] = build_result([RULE], story(), at(0), at(7), timedelta(minutes=1)).series
    assert [v for _, v in series.points] == [500, 900, 950, 1600, 1700, 1000, 700, 600]
    assert [(p.start, p.end) for p in series.pending] == [(at(1), at(2))]
    assert [(f.start, f.end, f.severity) for f in series.firing] == [(at(2), at(6), "critical")]


def test_summary_counts_pages_per_day_and_time_firing():
    """Over one day: 3 pages a day, 4 minutes firing."""
    day = timedelta(days=1)
    result = build_result([RULE], story(), at(0), at(0) + day, timedelta(minutes=1))
    [summary] = result.summary
    assert (summary.alerts, summary.notifications, summary.pages) == (1, 4, 3)
    assert summary.pages_per_day == pytest.approx(3.0)
    assert summary.firing == timedelta(minutes=4)
    assert summary.share == pytest.approx(4 / (24 * 60))


def test_an_alert_open_at_the_end_is_still_firing():
    """Without a resolution the row has no end and its duration runs to the range end."""
    steps = story()[:5]
    result = build_result([RULE], steps, at(0), at(10), timedelta(minutes=1))
    [row] = result.timeline
    assert row.end is None
    assert row.duration(result.end) == timedelta(minutes=8)
    assert "still firing" in "\n".join(format_timeline(result))


def test_trunk_filter_keeps_only_the_chosen_groups():
    """--trunk conn_b drops conn_a's alert and series."""
    result = build_result([RULE], story(), at(0), at(7), timedelta(minutes=1), trunks=["conn_b"])
    assert (result.timeline, result.series) == ([], [])


def test_union_counts_overlapping_spans_once():
    """Two trunks firing over the same minutes count those minutes once."""
    spans = [(at(0), at(10)), (at(5), at(15)), (at(20), at(30)), (at(-5), at(1))]
    assert union_length(spans, at(0), at(25)) == timedelta(minutes=20)


def test_json_has_range_timeline_summary_and_series():
    """--json: the same data as the table plus the chart series, JSON-safe."""
    result = build_result([RULE], story(), at(0), at(7), timedelta(minutes=1), calls=42)
    data = json.loads(json.dumps(result.to_json()))
    assert set(data) == {"range", "notes", "rules", "timeline", "summary", "series"}
    assert data["range"] == {
        "from": "2026-03-10T14:00:00Z", "to": "2026-03-10T14:07:00Z",
        "poll_every_seconds": 60.0, "polls": 8, "calls": 42,
    }  # fmt: skip
    assert data["timeline"][0] | {"alert_id": None} == {
        "rule": "slow", "group": "conn_a", "alert_id": None, "severity": "critical",
        "start": "2026-03-10T14:02:00Z", "end": "2026-03-10T14:06:00Z", "still_firing": False,
        "duration_seconds": 240.0, "peak": 1700.0, "notifications": 4, "pages": 3,
        "notifiers": ["oncall"],
    }  # fmt: skip
    series = data["series"][0]
    assert series["thresholds"] == {"warning": 800.0, "critical": 1500.0}
    assert series["points"][0] == ["2026-03-10T14:00:00Z", 500.0]
    assert series["firing"][0]["start"] == "2026-03-10T14:02:00Z"
    assert data["summary"][0]["firing_seconds"] == 240.0


# --- rules chosen and the replay itself ---------------------------------------------------------


CONFIG = """
notifiers:
  ops:
    type: webhook
    url: https://hooks.example/never-called
poll:
  calls_every: 30s
defaults:
  for: 1m
  repeat: 2m
  notify: [ops]
rules:
  - {name: slow, metric: ai_latency_ms, stat: p95, window: 2m, min_calls: 3, warning: 1000}
  - {name: account-slow, metric: ai_latency_ms, per: account, window: 2m, warning: 5000}
  - {name: overview, source: overview, metric: ai_latency_ms, warning: 900}
"""


def load(tmp_path: Path) -> Config:
    path = tmp_path / "alerts.yaml"
    path.write_text(CONFIG)
    return load_config(path)


def test_overview_and_unknown_rules_are_explained(tmp_path):
    """Overview rules are left out with a note; an unknown --rule is a usage error."""
    config = load(tmp_path)
    rules, notes = replay_rules(config)
    assert [r.name for r in rules] == ["slow", "account-slow"]
    assert notes == [
        "not replayed: overview (source: overview; /analytics/overview keeps no history, "
        "so these are no data)"
    ]
    rules, notes = replay_rules(config, trunks=["conn_a"])
    assert [r.name for r in rules] == ["slow"]
    assert "account-slow (account-wide" in notes[1]
    with pytest.raises(SettingsError, match="no rule named 'nope'"):
        replay_rules(config, ["nope"])


def test_replay_fires_repeats_and_resolves_on_the_poll_grid(tmp_path):
    """Slow calls ending 14:05..14:10: pending at 14:05, firing 1m later, repeats, resolves.

    A p95 over 12 calls is past 1000 ms with one slow call in the window, so the alert
    clears only once the last slow call (ending 14:09:50) is 2m old: at the 14:12 poll.
    """
    calls = [
        call(n, at(n / 6) - timedelta(seconds=60), ai=3000.0 if 5 <= n / 6 < 10 else 300.0)
        for n in range(6 * 20)
    ]
    config = load(tmp_path)
    rules, _ = replay_rules(config, ["slow"])
    settings = load_settings({"api_key": "unused"}, env={})
    steps = replay(settings, config, rules, calls, at(0), at(20))
    assert [s.at for s in steps] == [at(k / 2) for k in range(41)]
    kinds = [(i.kind, i.at) for s in steps for i in s.intents]
    assert kinds == [
        ("firing", at(6)), ("repeat", at(8)), ("repeat", at(10)), ("resolved", at(12)),
    ]  # fmt: skip
    [row] = build_result(rules, steps, at(0), at(20), timedelta(seconds=30)).timeline
    assert (row.notifications, row.pages, row.notifiers, row.peak) == (4, 3, ("ops",), 3000.0)
