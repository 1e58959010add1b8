"""`backtest` over a simulated week with a daily pattern shows what the live rules do:
the fixed rule fires every evening, the baseline rule only on the night the agent doubles.

The simulator serves the week over loopback HTTP on the test's manual clock; the CLI
fetches the range and the day before it (the baseline's), with its progress line, and
writes the HTML report with the baseline band.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from monitor.cli import main
from monitor.simulator import DEFAULT_API_KEY
from tests.integration.test_baselines_week import CONFIG, PEAK_HOUR, busy

pytestmark = pytest.mark.integration

#: Every five minutes, as the week test steps: a week of 30-second polls is slow to replay.
BACKTEST_CONFIG = "poll:\n  calls_every: 5m\n" + CONFIG
SLOW_AFTER = timedelta(days=4, hours=12)  # START is 14:00 UTC: the slowdown is 02:00-03:00


def test_backtest_shows_the_fixed_rule_misfiring_and_the_baseline_rule_not(
    tmp_path, monkeypatch, capsys, simulator, clock
):
    server = simulator(
        trunks=1, calls_per_minute=6.0, seed=18, daily_peak=3.5, daily_peak_hour=PEAK_HOUR,
        incident_at=SLOW_AFTER, incident_for=timedelta(hours=1), ai_slowdown=2.0,
    )  # fmt: skip
    started = server.started_at
    start, end = started + timedelta(days=1), started + timedelta(days=7)
    clock.advance((end + timedelta(minutes=10) - clock.now()).total_seconds())
    config = tmp_path / "alerts.yaml"
    config.write_text(BACKTEST_CONFIG)
    report = tmp_path / "report.html"
    monkeypatch.setenv("TELEPATH_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("TELEPATH_API_URL", server.url)
    monkeypatch.setenv("TELEPATH_CONFIG", str(config))
    monkeypatch.setenv("TELEPATH_LOG_LEVEL", "WARNING")

    code = main(
        ["backtest", "--from", start.isoformat(), "--to", end.isoformat(), "--json",
         "--report", str(report)]
    )  # fmt: skip

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "fetching calls [" in captured.err
    data = json.loads(captured.out)
    # The fetch covered the baseline's day before the range: about 7 days of 6 calls a minute.
    assert data["range"]["calls"] > 6 * 60 * 24 * 6.9
    alerts = [(a["rule"], a["start"]) for a in data["timeline"]]
    fixed = [s for rule, s in alerts if rule == "fixed-ai-p90"]
    usual = [s for rule, s in alerts if rule == "usual-ai-p90"]
    fixed_at = [datetime.fromisoformat(s) for s in fixed]
    assert len({t.date() for t in fixed_at}) == 6, fixed
    assert all(busy(t) for t in fixed_at), fixed
    slow_start = started + SLOW_AFTER
    assert len(usual) == 1, usual
    assert slow_start < datetime.fromisoformat(usual[0]) < slow_start + timedelta(hours=1)
    series = {s["rule"]: s for s in data["series"]}
    assert series["usual-ai-p90"]["baseline"], "the baseline rule's series carries its band"
    assert not series["fixed-ai-p90"]["baseline"]
    page = report.read_text()
    assert 'class="baseline-band"' in page
    assert 'class="baseline-line"' in page
