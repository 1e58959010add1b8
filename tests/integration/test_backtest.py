"""Backtest end to end against the simulator: known incidents, live vs replay, CLI, Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor import backtest
from monitor.alerts import Intent
from monitor.cli import main
from monitor.clock import ManualClock
from monitor.config import Config, load_config
from monitor.daemon import Daemon
from monitor.settings import Settings, load_settings
from monitor.simulator import DEFAULT_API_KEY, SimulatorServer
from monitor.simulator.scenarios import affected_trunks
from monitor.telepath.client import TelepathClient
from tests.support.daemon import SPIKE_RULE
from tests.support.receivers import WebhookReceiver

pytestmark = pytest.mark.integration

POLL = timedelta(seconds=30)
FOR = timedelta(minutes=2)
WINDOW = timedelta(minutes=2)
CONFIG = (
    """
poll:
  calls_every: 30s
defaults:
  for: 2m
  repeat: 2m
rules:
"""
    + SPIKE_RULE
    + """\
  - name: failed-calls
    metric: failed_ratio
    window: 5m
    min_calls: 10
    warning: 0.2
  - name: account-ai-avg
    metric: ai_latency_ms
    per: account
    window: 2m
    warning: 900
"""
)

IntentKey = tuple[str, str | None, str, datetime, str, float | None, str]


def key(intent: Intent) -> IntentKey:
    return (
        intent.rule.name, intent.group, intent.kind, intent.at, intent.severity, intent.value,
        intent.alert_id,
    )  # fmt: skip


def write_config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    return path


def settings_for(tmp_path: Path, url: str) -> Settings:
    return load_settings(
        env={
            "TELEPATH_API_KEY": DEFAULT_API_KEY,
            "TELEPATH_API_URL": url,
            "TELEPATH_CONFIG": str(write_config(tmp_path)),
            "TELEPATH_STATE_DB": str(tmp_path / "live.db"),
            "TELEPATH_LISTEN": "127.0.0.1:0",
        }
    )


def run_backtest(
    server: SimulatorServer,
    clock: ManualClock,
    api_client: Callable[..., TelepathClient],
    config: Config,
    start: datetime,
    end: datetime,
) -> tuple[backtest.BacktestResult, list[backtest.StepRecord]]:
    """Fetch through the real client from the simulator, then replay: the CLI's two phases."""
    if clock.now() < end + timedelta(minutes=10):  # every call of the range has ended
        clock.advance((end + timedelta(minutes=10) - clock.now()).total_seconds())
    client = api_client(server.url, max_pages=10_000)
    since = backtest.fetch_start(config, start)
    calls = backtest.fetch_calls(client, since, end, clock=clock, requests_per_minute=6000)
    rules, notes = backtest.replay_rules(config)
    settings = load_settings({"api_key": "unused"}, env={})
    steps = backtest.replay(settings, config, rules, calls, start, end)
    result = backtest.build_result(
        rules, steps, start, end, config.poll.calls_every, calls=len(calls), notes=notes
    )
    return result, steps


def test_backtest_reports_exactly_the_known_incident(tmp_path, simulator, clock, api_client):
    """ai-spike on conn_sim02: one alert, starting `for` after the spike and ending one
    window after it, each within one poll interval; nothing else fires."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=6))
    incident_start, incident_end = server.incident
    start, end = clock.now(), incident_end + timedelta(minutes=8)
    config = load_config(write_config(tmp_path))
    result, _ = run_backtest(server, clock, api_client, config, start, end)
    [alert] = result.timeline
    assert (alert.rule, alert.group) == ("ai-latency-p95", *affected_trunks("ai-spike", 6))
    assert incident_start + FOR <= alert.start <= incident_start + FOR + POLL
    assert alert.end is not None
    assert abs(alert.end - (incident_end + WINDOW)) <= POLL
    assert alert.peak is not None
    assert alert.peak > 2500
    assert [s.alerts for s in result.summary] == [1, 0, 0]


def test_backtest_gives_what_the_live_daemon_gave(tmp_path, simulator, clock, api_client):
    """The same history polled live every calls_every and replayed by the backtest yields
    the same intents: rule, group, kind, time, severity, value and alert id."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=7))
    _, incident_end = server.incident
    start, end = clock.now(), incident_end + timedelta(minutes=6)
    settings = settings_for(tmp_path, server.url)
    config = load_config(settings.config)
    live = Daemon(settings, config, clock=clock)
    seen: list[IntentKey] = []
    try:
        while clock.now() <= end:
            seen += [key(i) for i in _poll(live)]
            clock.advance(POLL.total_seconds())
    finally:
        live.stop()
    result, steps = run_backtest(server, clock, api_client, config, start, end)
    replayed = [key(i) for step in steps for i in step.intents]
    assert {k[2] for k in seen} >= {"firing", "repeat", "resolved"}
    assert replayed == seen
    assert len(steps) == (end - start) // POLL + 1
    assert {a.alert_id for a in result.timeline} == {k[6] for k in seen}


def _poll(daemon: Daemon) -> list[Intent]:
    """One scheduled poll of the live daemon, returning what its evaluation decided."""
    decided: list[Intent] = []
    evaluate = daemon.evaluate

    def recording(*, sync_ok: bool) -> list[Intent]:
        intents = evaluate(sync_ok=sync_ok)
        decided.extend(intents)
        return intents

    daemon.evaluate = recording  # type: ignore[method-assign]
    try:
        daemon.poll_calls()
    finally:
        del daemon.evaluate
    return decided


def test_replay_never_notifies_anyone(tmp_path, monkeypatch, simulator, clock, api_client):
    """Alerts fire in the replay, yet a configured webhook receiver gets no request."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=6))
    assert server.incident is not None
    start, end = clock.now(), server.incident[1] + timedelta(minutes=4)
    with WebhookReceiver() as hook:
        monkeypatch.setenv("HOOK_URL", hook.url)
        routed = CONFIG.replace(
            "defaults:\n", 'notifiers:\n  ops: {type: webhook, url: "${HOOK_URL}"}\ndefaults:\n'
        ).replace("  repeat: 2m\n", "  repeat: 2m\n  notify: [ops]\n")
        config = load_config(write_config(tmp_path, routed))
        result, _ = run_backtest(server, clock, api_client, config, start, end)
        assert [a.notifiers for a in result.timeline] == [("ops",)]
        assert hook.requests == []


# --- the command ----------------------------------------------------------------------------


def cli_backtest(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: SimulatorServer,
    clock: ManualClock,
    *extra: str,
) -> int:
    """`telepath-monitor backtest` over the simulator's incident, TELEPATH_* pointing at it."""
    assert server.incident is not None
    _, incident_end = server.incident
    start, end = server.started_at, incident_end + timedelta(minutes=8)
    clock.advance((end + timedelta(minutes=10) - clock.now()).total_seconds())
    monkeypatch.setenv("TELEPATH_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("TELEPATH_API_URL", server.url)
    monkeypatch.setenv("TELEPATH_CONFIG", str(write_config(tmp_path)))
    monkeypatch.setenv("TELEPATH_LOG_LEVEL", "WARNING")
    return main(["backtest", "--from", start.isoformat(), "--to", end.isoformat(), *extra])


def test_cli_prints_json_and_writes_the_report(tmp_path, monkeypatch, capsys, simulator, clock):
    """`backtest --json --report FILE`: exit 0, one alert on conn_sim02, a report with charts."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=6))
    report = tmp_path / "out" / "report.html"
    report.parent.mkdir()
    code = cli_backtest(tmp_path, monkeypatch, server, clock, "--json", "--report", str(report))
    captured = capsys.readouterr()
    assert code == 0
    data = json.loads(captured.out)
    assert [(a["rule"], a["group"]) for a in data["timeline"]] == [("ai-latency-p95", "conn_sim02")]
    assert "fetching calls [" in captured.err
    assert "done" in captured.err
    page = report.read_text()
    assert 'class="threshold-warning"' in page
    assert 'class="firing-span' in page
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.html"]


def test_cli_table_filters_by_rule_and_trunk(tmp_path, monkeypatch, capsys, simulator, clock):
    """--rule and --trunk narrow the replay; the table names the alert and the summary."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=6))
    code = cli_backtest(
        tmp_path, monkeypatch, server, clock,
        "--rule", "ai-latency-p95", "--trunk", "conn_sim02", "--trunk", "conn_sim01",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("RULE  "))
    assert lines[header + 1].split()[:3] == ["ai-latency-p95", "conn_sim02", "critical"]
    assert "failed-calls" not in out
    assert "1 rule" in lines[0]


def test_ctrl_c_during_the_fetch_exits_130_and_writes_nothing(
    tmp_path, monkeypatch, capsys, simulator, clock
):
    """An interrupt while fetching prints one clear line, exits 130, leaves no report."""
    server = simulator(scenario="ai-spike")

    def interrupted(progress: backtest.FetchProgress, width: int = 24) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(backtest, "format_progress", interrupted)
    report = tmp_path / "report.html"
    code = cli_backtest(tmp_path, monkeypatch, server, clock, "--report", str(report))
    captured = capsys.readouterr()
    assert code == 130
    assert captured.out == ""
    assert captured.err.strip().splitlines()[-1] == (
        "telepath-monitor: backtest interrupted while fetching calls (100 calls in 1 page); "
        "nothing was written"
    )
    assert list(tmp_path.glob("report.html*")) == []


# --- the report in a real browser -------------------------------------------------------------


def artifacts(tmp_path: Path) -> Path:
    """TELEPATH_TEST_ARTIFACTS when set (CI keeps it), else this test's tmp_path."""
    root = os.environ.get("TELEPATH_TEST_ARTIFACTS")
    out = Path(root) / "backtest" if root else tmp_path / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    return out


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is not installed: `make tools` installs it (Debian package chromium)")


def headless(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [
            chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args,
        ],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip


def test_report_renders_in_headless_chromium(tmp_path, monkeypatch, capsys, simulator, clock):
    """Chromium renders the report without page errors; the screenshot is kept as an
    artefact, and the parsed DOM still holds the thresholds and the firing span."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=6))
    out = artifacts(tmp_path)
    report = out / "backtest-report.html"
    assert cli_backtest(tmp_path, monkeypatch, server, clock, "--report", str(report)) == 0
    capsys.readouterr()
    shot = out / "backtest-report.png"
    shot.unlink(missing_ok=True)
    url = report.resolve().as_uri()

    rendered = headless(tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", url)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a blank page is a few kB
    errors = [
        line
        for line in rendered.stderr.splitlines()
        if "Uncaught" in line or "ERROR:CONSOLE" in line
    ]
    assert errors == []

    dom = headless(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") == 1
    assert 'class="threshold-warning"' in dom.stdout
    assert 'class="threshold-critical"' in dom.stdout
    assert 'class="firing-span severity-critical"' in dom.stdout
    assert "<title>firing critical" in dom.stdout
