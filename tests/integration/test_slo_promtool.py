"""The generated SLO rules pass ``promtool check rules``, and under ``promtool test
rules`` their burn rates equal the daemon's own for the same counts, and the alerts fire
as the daemon's would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from monitor.cli import main
from monitor.slo.counts import Counts, burn_rate

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian prometheus) missing")

CONFIG = """
slos:
  - name: ai-fast
    good: {metric: ai_latency_ms, threshold: 1500}
    objective: 99%
    period: 7d
  - name: account-wide
    per: account
    good: {metric: total_latency_ms, threshold: 2500}
    objective: 99.5%
    period: 7d
    alerts:
      - {burn_rate: 2, long: 1h, short: 10m, severity: warning}
"""


def rules_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    config = tmp_path / "alerts.yaml"
    config.write_text(CONFIG)
    assert main(["slo", "rules", str(config)]) == 0
    out = tmp_path / "slo-rules.yaml"
    out.write_text(capsys.readouterr().out)
    return out


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_checks_the_generated_rules(tmp_path, capsys):
    result = promtool("check", "rules", str(rules_file(tmp_path, capsys)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_burn_rates_equal_ours_and_the_page_fires(tmp_path, capsys):
    rules = rules_file(tmp_path, capsys)
    # t1: 100 calls a minute, 80 good (20x burn); t2: 100 a minute, 99.5 good (0.5x).
    # account-wide: both trunks summed, budget 0.5%.
    ours_t1 = burn_rate(Counts(good=80 * 5, total=100 * 5), 0.99)
    ours_t2 = burn_rate(Counts(good=995 * 5, total=1000 * 5), 0.99)
    ours_account = burn_rate(Counts(good=800 + 995, total=2000), 0.995)
    tests = {
        "rule_files": [rules.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    _series("events", "ai-fast", "t1", "0+100x120"),
                    _series("good_events", "ai-fast", "t1", "0+80x120"),
                    _series("events", "ai-fast", "t2", "0+1000x120"),
                    _series("good_events", "ai-fast", "t2", "0+995x120"),
                    _series("events", "account-wide", "t1", "0+100x120"),
                    _series("good_events", "account-wide", "t1", "0+80x120"),
                    _series("events", "account-wide", "t2", "0+100x120"),
                    _series("good_events", "account-wide", "t2", "0+99.5x120"),
                ],
                # promtool compares floats exactly: ask whether PromQL's figure is
                # within 1e-9 of ours instead.
                "promql_expr_test": [
                    _same('slo:burn_rate:ratio_rate5m{slo="ai-fast",trunk_id="t1"}', ours_t1),
                    _same('slo:burn_rate:ratio_rate5m{slo="ai-fast",trunk_id="t2"}', ours_t2),
                    _same('slo:burn_rate:ratio_rate10m{slo="account-wide"}', ours_account),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "90m",
                        "alertname": "TelepathSLOBurnRate",
                        "exp_alerts": [
                            _alert("ai-fast", "t1", "1h", "5m", "critical", ours_t1, 14.4),
                            _alert("ai-fast", "t1", "6h", "30m", "critical", ours_t1, 6),
                            _alert("ai-fast", "t1", "3d", "6h", "warning", ours_t1, 1),
                            _alert("account-wide", None, "1h", "10m", "warning", ours_account, 2),
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "slo-test.yaml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def _series(counter: str, slo: str, trunk: str, values: str) -> dict[str, str]:
    name = f"telepath_slo_{counter}_total"
    return {"series": f'{name}{{slo="{slo}",trunk_id="{trunk}"}}', "values": values}


def _same(selector: str, ours: float) -> dict[str, object]:
    labels = selector[selector.index("{") :]
    return {
        "expr": f"abs({selector} - {ours!r}) < bool 1e-9",
        "eval_time": "90m",
        "exp_samples": [{"labels": labels, "value": 1}],
    }


def _alert(
    slo: str, trunk: str | None, long: str, short: str, severity: str, burn: float, at: float
) -> dict[str, object]:
    labels = {"slo": slo, "long_window": long, "short_window": short, "severity": severity}
    if trunk is not None:
        labels["trunk_id"] = trunk
    summary = f"SLO {slo}: error budget burning at {at:g}x or faster"
    objective = "99%" if slo == "ai-fast" else "99.5%"
    description = (
        f"Objective {objective} over 7d; burn rate {burn:.2f}x over {long} "
        f"(and at least {at:g}x over {short})."
    )
    return {
        "exp_labels": labels,
        "exp_annotations": {"summary": summary, "description": description},
    }
