"""History end to end: the daemon's rollups against the simulator's own calls, the
`report` command, scheduled reports delivered once across a kill, and the HTML report in
headless Chromium."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.clock import ManualClock
from monitor.daemon import Daemon
from monitor.models import Call
from monitor.simulator import SimulatorOptions, SimulatorServer
from monitor.simulator.scenarios import Timeline
from tests.integration.test_backtest import headless
from tests.integration.test_notify import verify
from tests.support.daemon import make_daemon
from tests.support.receivers import SlackReceiver, WebhookReceiver

pytestmark = pytest.mark.integration

DAY = "2026-03-10"
DAY_START = datetime(2026, 3, 10, tzinfo=UTC)
DAY_END = DAY_START + timedelta(days=1)
SECRET = "whsec_" + "c2VjcmV0LWZvci1yZXBvcnRz"
OPTIONS = {"trunks": 4, "calls_per_minute": 4.0, "scenario": "ai-spike"}
METRICS = ("ai_latency_ms", "carrier_lag_ms", "gateway_processing_ms", "total_latency_ms")


#: The simulated account starts the day before DAY; conn_sim02's AI agent is slow
#: from 12:00 to 13:00 on DAY.
BEGIN = DAY_START - timedelta(days=1)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ManualClock, SimulatorServer]]:
    """The simulator at 00:20 on the day after DAY, its calls reaching back 49 hours."""
    clock = ManualClock(BEGIN)
    options = SimulatorOptions(
        history=timedelta(hours=1),
        incident_at=timedelta(hours=36),
        incident_for=timedelta(hours=1),
        **OPTIONS,  # type: ignore[arg-type]
    )
    with SimulatorServer(options, clock) as server:
        clock.advance((DAY_END + timedelta(minutes=20) - BEGIN).total_seconds())
        yield clock, server


def day_calls(options: SimulatorOptions, started_at: datetime = BEGIN) -> list[Call]:
    """The simulator's own calls of DAY, straight from its timeline (no HTTP, no sync)."""
    return [c.to_call() for c in Timeline(options, started_at).calls_starting(DAY_START, DAY_END)]


def config(backfill: str = "2d", reports: str = "", notifiers: str = "") -> str:
    return f"""
poll:
  backfill: {backfill}
  max_pages: 100000
{notifiers}
{reports}
rules:
  - name: ai-latency-p95
    metric: ai_latency_ms
    stat: p95
    window: 5m
    min_calls: 3
    for: 0s
    warning: 1200
"""


def expected_figures(calls: Sequence[Call]) -> dict[str, Any]:
    """The day's figures computed directly from the calls: plain sums and the standard
    library's inclusive quantiles (numpy's default definition)."""

    def latency(metric: str, subset: Sequence[Call]) -> dict[str, float | None]:
        values = sorted(v for c in subset if (v := c.latency(metric)) is not None)
        if len(values) < 2:
            return {"p50": None, "p95": None, "p99": None}
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "avg": statistics.fmean(values)}

    def totals(subset: Sequence[Call]) -> dict[str, Any]:
        return {
            "calls": len(subset),
            "connected": sum(c.status == "connected" for c in subset),
            "failed": sum(c.status == "failed" for c in subset),
            "duration_hours": sum(c.duration_seconds or 0 for c in subset) / 3600,
            "latency": {m: latency(m, subset) for m in METRICS},
        }

    trunks = sorted({c.trunk_id for c in calls})
    return {
        "totals": totals(calls),
        "trunks": {t: totals([c for c in calls if c.trunk_id == t]) for t in trunks},
    }


def assert_same(report: dict[str, Any], expected: dict[str, Any]) -> None:
    assert report["calls"] == expected["calls"]
    assert report["connected"] == expected["connected"]
    assert report["failed"] == expected["failed"]
    assert report["connected_share"] == expected["connected"] / expected["calls"]
    assert report["duration_hours"] == pytest.approx(expected["duration_hours"], rel=1e-9)
    for metric in METRICS:
        got, want = report["latency"][metric], expected["latency"][metric]
        for p in ("p50", "p95", "p99"):
            assert got[p] == pytest.approx(want[p], rel=0.01), (metric, p)
    assert report["avg_ai_latency_ms"] == pytest.approx(
        expected["latency"]["ai_latency_ms"]["avg"], rel=1e-9
    )


def synced_daemon(tmp_path: Path, clock: ManualClock, server: SimulatorServer, text: str) -> Daemon:
    daemon = make_daemon(tmp_path, server.url, clock, text)
    daemon.sync.restore()
    daemon.poll_calls()
    assert daemon.calls_health.last_success == clock.now()
    return daemon


def test_report_day_matches_the_simulators_calls(tmp_path, world, monkeypatch, capsys):
    """`report --day` from the daemon's rollups gives the figures computed directly from
    the simulator's calls of that day: counts exact, percentiles within 1%."""
    clock, server = world
    daemon = synced_daemon(tmp_path, clock, server, config())
    daemon.stop()
    calls = day_calls(server.options)
    assert len(calls) > 5000
    expected = expected_figures(calls)

    monkeypatch.delenv("TELEPATH_API_KEY", raising=False)  # the history needs no API
    state = str(tmp_path / "state.db")
    assert main(["report", "--day", DAY, "--json", "--state-db", state]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["source"] == "history"
    assert_same(out["totals"], expected["totals"])
    assert set(out["trunks"]) == set(expected["trunks"])
    for trunk, want in expected["trunks"].items():
        assert_same(out["trunks"][trunk], want)
    assert out["busiest"][0] == "conn_sim01"  # the simulator's busiest trunk
    assert out["worst"][0] == "conn_sim02"  # its AI agent slowed down for an hour
    # The day before is covered only from 00:20: no comparison, and the reason says so.
    assert out["previous"] is None
    assert "2026-03-09T00:00Z to 2026-03-09T00:20Z" in out["previous_note"]
    assert out["alerts"] == {"fired": 0, "firing_seconds": 0.0, "by_alert": []}

    # --trunk narrows every figure to that trunk.
    assert (
        main(["report", "--day", DAY, "--json", "--state-db", state, "--trunk", "conn_sim03"]) == 0
    )
    only = json.loads(capsys.readouterr().out)
    assert list(only["trunks"]) == ["conn_sim03"]
    assert_same(only["totals"], expected["trunks"]["conn_sim03"])


def test_report_fetches_what_the_history_lacks(tmp_path, world, monkeypatch, capsys):
    """Without a covering history, `report` fetches the calls with the backtest's
    progress line and gives the same figures."""
    _, server = world
    expected = expected_figures(day_calls(server.options))
    monkeypatch.setenv("TELEPATH_API_KEY", server.options.api_key)
    monkeypatch.setenv("TELEPATH_API_URL", server.url)
    state = str(tmp_path / "absent.db")
    code = main(["report", "--from", "2026-03-10T00:00:00Z", "--to", "2026-03-11T00:00:00Z",
                 "--json", "--state-db", state])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    assert "fetching the calls from the API" in captured.err
    assert "fetching calls [" in captured.err
    assert "done" in captured.err
    out = json.loads(captured.out)
    assert out["source"] == "api"
    assert_same(out["totals"], expected["totals"])
    assert out["alerts"] is None
    assert out["previous"]["calls"] > 0  # the day before was fetched too


def test_report_html_renders_in_headless_chromium(tmp_path, world, monkeypatch, capsys):
    """The HTML report draws its SVG charts in Chromium with no page error and no script."""
    clock, server = world
    synced_daemon(tmp_path, clock, server, config()).stop()
    page = tmp_path / "report.html"
    state = str(tmp_path / "state.db")
    assert main(["report", "--day", DAY, "--html", str(page), "--state-db", state]) == 0
    text = capsys.readouterr().out
    assert "Telepath report 2026-03-10" in text
    assert f"report written to {page}" in text
    source = page.read_text()
    assert "<script" not in source.lower()
    shot = tmp_path / "report.png"
    rendered = headless(tmp_path, f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri())
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    assert not [
        ln for ln in rendered.stderr.splitlines() if "Uncaught" in ln or "ERROR:CONSOLE" in ln
    ]
    dom = headless(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") == 2
    assert dom.stdout.count('class="bar-calls"') == 96  # one bar per 15 minutes of the day
    assert 'class="line-ai_latency_ms"' in dom.stdout


REPORTS = """
reports:
  - name: morning
    every: daily
    at: "09:00"
    timezone: UTC
    notify: [ops, team]
"""


def notifiers(hook: WebhookReceiver, slack: SlackReceiver) -> str:
    return f"""
notifiers:
  ops:
    type: webhook
    url: {hook.url}/reports
    secret: {SECRET}
  team:
    type: slack
    webhook_url: {slack.webhook_url}
"""


def flush(daemon: Daemon) -> int:
    return sum(daemon.delivery.deliver_due(name) for name in daemon.senders)


def test_scheduled_report_is_delivered_once_across_a_kill(tmp_path, monkeypatch):
    """A daemon queues the morning report and dies before delivering it; the next one
    delivers it once, to each notifier, and never queues that day again."""
    clock = ManualClock(DAY_END + timedelta(hours=8, minutes=50))
    options = SimulatorOptions(history=timedelta(hours=34), **OPTIONS)  # type: ignore[arg-type]
    with (
        SimulatorServer(options, clock) as server,
        WebhookReceiver() as hook,
        SlackReceiver() as slack,
    ):
        text = config(reports=REPORTS, notifiers=notifiers(hook, slack))
        first = synced_daemon(tmp_path, clock, server, text)
        assert first.history.tick(clock.now()) == 0  # 08:50: not due yet
        clock.advance(15 * 60)
        first.poll_calls()
        assert first.history.tick(clock.now()) == 1  # 09:05: queued
        assert first.history.tick(clock.now()) == 0
        # Killed here: queued, nothing delivered. The state DB is all that is left.
        first.store.close()
        first.client.close()  # its socket, which the kill would have dropped

        second = make_daemon(tmp_path, server.url, clock, text)
        clock.advance(60)
        assert second.history.tick(clock.now()) == 0
        assert flush(second) == 2
        assert second.history.tick(clock.now()) == 0
        assert flush(second) == 0
        second.stop()

        third = make_daemon(tmp_path, server.url, clock, text)
        clock.advance(3600)
        assert third.history.tick(clock.now()) == 0
        assert flush(third) == 0
        third.stop()

        (request,) = hook.requests
        body = verify(request, SECRET)
        assert body["type"] == "report"
        report = body["report"]
        assert (report["name"], report["start"], report["covered"]) == (
            "morning", "2026-03-10T00:00:00Z", True,
        )  # fmt: skip
        expected = expected_figures(day_calls(options, DAY_END + timedelta(hours=8, minutes=50)))
        assert_same(report["report"]["totals"], expected["totals"])
        (message,) = slack.messages
        assert "Telepath daily report morning" in (message.text or "")
        assert message.blocks is not None
        fields = next(b for b in message.blocks if b.get("fields"))["fields"]
        assert fields[0]["text"].startswith("*Calls*\n")


def test_a_period_the_daemon_did_not_cover_says_what_is_missing(tmp_path):
    """A daemon that started at 08:50 with a one-hour backfill did not read the day: the
    report says which hours are missing instead of figures."""
    clock = ManualClock(DAY_END + timedelta(hours=8, minutes=50))
    options = SimulatorOptions(history=timedelta(hours=2), **OPTIONS)  # type: ignore[arg-type]
    with SimulatorServer(options, clock) as server, WebhookReceiver() as hook:
        slack_free = f"""
notifiers:
  ops:
    type: webhook
    url: {hook.url}/reports
"""
        text = config(
            backfill="1h", reports=REPORTS.replace("[ops, team]", "[ops]"), notifiers=slack_free
        )
        daemon = synced_daemon(tmp_path, clock, server, text)
        daemon.history.tick(clock.now())
        clock.advance(20 * 60)
        assert daemon.history.tick(clock.now()) == 1
        assert flush(daemon) == 1
        daemon.stop()
    report = hook.requests[0].json()["report"]
    assert report["covered"] is False
    assert report["report"] is None
    assert report["missing"] == [{"start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z"}]


def test_status_page_shows_trends_in_chromium(tmp_path):
    """The status page lists each trunk worst first, by name, with its last hour and a
    24-hour sparkline from the rollups; Chromium renders it with the page's CSP, no script."""
    from tests.integration.test_status_page import chromium

    clock = ManualClock(BEGIN)
    options = SimulatorOptions(
        history=timedelta(hours=1), incident_at=timedelta(hours=36),
        incident_for=timedelta(hours=1), **OPTIONS,  # type: ignore[arg-type]
    )  # fmt: skip
    with SimulatorServer(options, clock) as server:
        clock.advance((DAY_START + timedelta(hours=12, minutes=40) - BEGIN).total_seconds())
        # 12:40 on DAY: conn_sim02's AI agent has been slow for 40 minutes.
        daemon = synced_daemon(tmp_path, clock, server, config(backfill="1d"))
        daemon.poll_trunks()
        daemon.server.start()
        try:
            host, port = daemon.server.address
            dom = chromium("--dump-dom", f"http://{host}:{port}/", tmp_path=tmp_path).stdout
        finally:
            daemon.stop()
    assert '<h2 id="trends">Trends</h2>' in dom
    rows = dom.split('<tr class="trend">')[1:]
    assert len(rows) == 4
    assert "Support line EU (conn_sim02)" in rows[0]  # worst first: its AI agent is slow
    assert all(row.count('<svg class="spark"') == 1 for row in rows)
    assert "<script" not in dom.lower()


def test_report_counts_the_alerts_a_daemon_fired(tmp_path, simulator, clock, capsys):
    """A daemon that watched an incident records its alert; `report` over that range
    shows it fired once and for how long."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=4))
    daemon = make_daemon(tmp_path, server.url, clock, config(backfill="1h"))
    begin = clock.now()
    try:
        for _ in range(24):  # twelve minutes of polls every 30 s
            daemon.poll_calls()
            clock.advance(30)
        states = {s.group: s for s in daemon.alert_states()}
    finally:
        daemon.stop()
    assert states["conn_sim02"].state == "inactive"  # fired and resolved
    start = (begin - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (clock.now() - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")  # last poll
    state = str(tmp_path / "state.db")
    assert main(["report", "--from", start, "--to", end, "--json", "--state-db", state]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["source"] == "history"
    (row,) = out["alerts"]["by_alert"]
    assert (row["rule"], row["trunk_id"], row["fired"]) == ("ai-latency-p95", "conn_sim02", 1)
    assert 60 <= row["firing_seconds"] <= (4 + 5) * 60  # at most incident + window
    assert out["alerts"]["firing_seconds"] == row["firing_seconds"]
