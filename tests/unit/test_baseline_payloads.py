"""A compare rule's alert shows the baseline beside the value everywhere it is read."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from monitor.alerts import AlertEngine, Intent
from monitor.backtest import fetch_start
from monitor.baselines import CallBaselines
from monitor.clock import ManualClock
from monitor.config import Links, Rule, load_config
from monitor.daemon import Daemon
from monitor.notify.alertmanager import am_alert
from monitor.notify.console import format_block
from monitor.notify.document import alert_document
from monitor.notify.slack_format import render
from monitor.rules import Observation, evaluate
from monitor.settings import load_settings
from monitor.status import render as render_status
from monitor.status import snapshot
from monitor.sync import SyncHealth
from monitor.windows import CallWindows
from tests.unit.test_baselines import NOW, calls_at

RULE = Rule.model_validate(
    {"name": "ai-unusual", "metric": "ai_latency_ms", "stat": "p95", "window": "5m",
     "min_calls": 5, "for": "0s",
     "compare": {"baseline": "same time 1d", "warning": "1.5x", "critical": "+500ms"}}
)  # fmt: skip


def fired() -> tuple[Observation, Intent, AlertEngine]:
    """The p95 went from 400 ms yesterday to 700 ms: warning (1.5x = 600 ms)."""
    windows = CallWindows(timedelta(hours=1))
    windows.add_many(calls_at(NOW, 700.0, 30))
    history = CallBaselines(calls_at(NOW - timedelta(days=1), 400.0, 30))
    (obs,) = evaluate([RULE], windows, None, NOW, baselines=history)
    engine = AlertEngine(Links(), [], [RULE])
    (intent,) = engine.step([obs], NOW)
    return obs, intent, engine


def test_the_webhook_document_carries_value_threshold_and_baseline():
    _, intent, _ = fired()
    doc = alert_document(intent)
    assert (doc["severity"], doc["rule"]) == ("warning", "ai-unusual")
    assert doc["value"] == pytest.approx(700.0, rel=0.02)
    assert doc["threshold"] == pytest.approx(600.0, rel=0.02)
    base = doc["baseline"]
    assert base["value"] == pytest.approx(400.0, rel=0.02)
    assert {k: base[k] for k in ("of", "warning", "critical", "min_value")} == {
        "of": "same time 1d", "warning": "1.5x", "critical": "+500", "min_value": None,
    }  # fmt: skip


def test_a_fixed_rule_has_no_baseline():
    rule = Rule.model_validate({"name": "fixed", "metric": "ai_latency_ms", "warning": 1.0})
    windows = CallWindows(timedelta(hours=1))
    windows.add_many(calls_at(NOW, 700.0, 30))
    (obs,) = evaluate([rule], windows, None, NOW)
    (intent,) = AlertEngine(Links(), [], [rule.model_copy(update={"for_": timedelta(0)})]).step(
        [Observation(rule.model_copy(update={"for_": timedelta(0)}), "t1", 700.0, 30)], NOW
    )
    assert obs.baseline is None
    assert alert_document(intent)["baseline"] is None


def test_console_slack_and_alertmanager_show_both_values():
    _, intent, _ = fired()
    doc = alert_document(intent)
    console = format_block("firing", doc)
    # Log buckets put 400 ms at 399 or 400 ms.
    both = r"\(warning > (599|600) ms\), baseline (399|400) ms \(same time 1d\)"
    assert re.search(r"p95 ai_latency_ms 70\d ms " + both, console), console
    message = render("firing", [doc])
    assert re.search(r"baseline (399|400) ms, same time 1d", message["text"]), message["text"]
    assert re.search(r"\(baseline (399|400) ms, same time 1d\)", str(message["blocks"]))
    assert am_alert(doc, severity="warning")["annotations"]["baseline"].endswith("(same time 1d)")


def test_the_status_page_shows_the_baseline_and_its_threshold():
    obs, _, engine = fired()
    snap = snapshot(
        NOW,
        states=engine.states(),
        rules={RULE.name: RULE},
        latest={obs.key: obs},
        links=Links(),
        silences=(),
        calls=SyncHealth(),
        overview=SyncHealth(),
        watermark=NOW,
        readiness=(True, "ok"),
        rate_limit=None,
        rate_limit_remaining=None,
    )
    (view,) = snap.firing
    assert view.baseline == pytest.approx(400.0, rel=0.02)
    assert view.threshold == pytest.approx(600.0, rel=0.02)
    assert view.baseline_of == "same time 1d"
    page = render_status(snap)
    assert re.search(
        r"<dt>Baseline</dt><dd>(399|400) ms <span class=\"muted\">\(same time 1d\)", page
    )


def test_the_daemon_reads_baselines_from_its_history(tmp_path):
    """`run` (and `once`) evaluate compare rules against the state DB's rollups."""
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "rules:\n  - name: ai-unusual\n    metric: ai_latency_ms\n    stat: p95\n"
        "    window: 5m\n    min_calls: 5\n"
        "    compare: {baseline: same time 1d, warning: 1.5x}\n"
    )
    settings = load_settings(
        env={
            "TELEPATH_API_KEY": "test-key",
            "TELEPATH_API_URL": "http://127.0.0.1:9",
            "TELEPATH_STATE_DB": str(tmp_path / "state.db"),
            "TELEPATH_LISTEN": "127.0.0.1:0",
        }
    )
    daemon = Daemon(settings, load_config(path), clock=ManualClock(NOW))
    try:
        daemon.store.add_calls(calls_at(NOW - timedelta(days=1), 400.0, 30))
        daemon.windows.add_many(calls_at(NOW, 700.0, 30))
        (obs,) = daemon.run_step(NOW, sync_ok=True).observations
    finally:
        daemon.stop()
    assert obs.baseline == pytest.approx(400.0, rel=0.02)
    assert obs.rule.warning == pytest.approx(600.0, rel=0.02)


def test_backtest_fetches_back_as_far_as_the_baselines_reach(tmp_path):
    """A same-time-1w rule over 15m: the fetch starts a week and 15 minutes earlier."""
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "rules:\n  - name: fixed\n    metric: ai_latency_ms\n    warning: 900\n"
        "  - name: weekly\n    metric: ai_latency_ms\n    window: 15m\n"
        "    compare: {baseline: same time 1w, warning: 2x}\n"
    )
    start = NOW
    assert fetch_start(load_config(path), start) == start - timedelta(weeks=1, minutes=15)
