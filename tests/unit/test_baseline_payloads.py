"""A compare rule's alert shows the baseline beside the value everywhere it is read."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from monitor.alerts import AlertEngine, Intent
from monitor.baselines import CallBaselines
from monitor.config import Links, Rule
from monitor.notify.alertmanager import am_alert
from monitor.notify.console import format_block
from monitor.notify.document import alert_document
from monitor.notify.slack_format import render
from monitor.rules import Observation, evaluate
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
