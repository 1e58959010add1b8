"""deploy/ through the real tools: promtool checks and unit-tests the rules, checks the
Prometheus config and every dashboard query; amtool checks the Alertmanager config."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.test_deploy import _LABEL_VALUES, DEPLOY, RULES, _dashboard_exprs

pytestmark = pytest.mark.integration


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install Debian's prometheus package (.ci/run does)")
    return path


def _run(*argv: str, cwd: Path | None = None) -> tuple[int, str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=cwd)
    return result.returncode, result.stdout + result.stderr


def test_promtool_accepts_the_rules():
    """`promtool check rules` passes on rules.yaml."""
    code, output = _run(_tool("promtool"), "check", "rules", str(RULES))
    assert (code, "SUCCESS" in output) == (0, True), output


def test_promtool_accepts_the_prometheus_config():
    """`promtool check config` passes; rule_files are resolved next to prometheus.yml."""
    config = DEPLOY / "prometheus" / "prometheus.yml"
    code, output = _run(_tool("promtool"), "check", "config", str(config))
    assert (code, "SUCCESS: 1 rule files found" in output) == (0, True), output


def test_the_alerting_rules_pass_their_unit_tests():
    """`promtool test rules` passes: alerts fire on bad series and stay quiet on good ones."""
    code, output = _run(
        _tool("promtool"), "test", "rules", "rules.test.yaml", cwd=DEPLOY / "prometheus"
    )
    assert (code, "SUCCESS" in output) == (0, True), output


def test_dashboard_queries_are_valid_promql(tmp_path):
    """Every dashboard query, with its variables filled in, parses as PromQL."""
    fill = {
        "$trunk_id": "conn_a|conn_b",
        "$window": "5m",
        "$__rate_interval": "1m",
        "$__interval": "15s",
        "$__range": "6h",
    }
    rules = []
    for n, expr in enumerate(e for e in _dashboard_exprs() if not _LABEL_VALUES.match(e)):
        for variable, value in fill.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query:{n}", "expr": expr})
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    code, output = _run(_tool("promtool"), "check", "rules", str(path))
    assert (code, "SUCCESS" in output) == (0, True), output


def test_amtool_accepts_the_alertmanager_config():
    """`amtool check-config` passes on the sample Alertmanager config."""
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is missing (Debian package prometheus-alertmanager)")
    code, output = _run(amtool, "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml"))
    assert (code, "SUCCESS" in output) == (0, True), output
