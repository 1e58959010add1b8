"""`report` shows each SLO over its period up to the report's end, from the daemon's
history, with the exact counts of the simulator's own calls."""

from __future__ import annotations

import json

import pytest

from monitor.cli import main
from tests.integration.test_history_reports import (
    DAY,
    config,
    day_calls,
    synced_daemon,
    world,
)

pytestmark = pytest.mark.integration
__all__ = ["world"]  # the fixture, shared

SLOS = """
slos:
  - name: ai-fast
    good: {metric: ai_latency_ms, threshold: 1200}
    status: [connected]
    objective: 99%
    period: 1d
"""


def test_report_shows_each_slo_with_exact_counts(tmp_path, world, monkeypatch, capsys):
    clock, server = world
    text = config() + SLOS
    synced_daemon(tmp_path, clock, server, text).stop()
    monkeypatch.delenv("TELEPATH_API_KEY", raising=False)
    state, path = str(tmp_path / "state.db"), str(tmp_path / "alerts.yaml")
    (tmp_path / "alerts.yaml").write_text(text)

    assert main(["report", "--day", DAY, "--json", "--state-db", state, "--config", path]) == 0
    rows = {r["trunk_id"]: r for r in json.loads(capsys.readouterr().out)["slos"]}
    calls = [c for c in day_calls(server.options) if c.status == "connected"]
    assert set(rows) == {c.trunk_id for c in calls}
    for trunk, row in rows.items():
        mine = [c for c in calls if c.trunk_id == trunk]
        good = sum(c.ai_latency_ms is not None and c.ai_latency_ms <= 1200 for c in mine)
        assert (row["good"], row["total"]) == (good, len(mine))
        assert row["attainment"] == good / len(mine)
        assert row["budget_remaining"] == pytest.approx(1 - (1 - good / len(mine)) / 0.01)
    # The incident's trunk spent most of its budget.
    assert min(rows.values(), key=lambda r: r["budget_remaining"])["trunk_id"] == "conn_sim02"

    assert main(["report", "--day", DAY, "--state-db", state, "--config", path]) == 0
    out = capsys.readouterr().out
    assert "SLOs (each over its period" in out
    assert "slo: ai-fast  trunk: conn_sim02" in out
    page = tmp_path / "report.html"
    args = ["report", "--day", DAY, "--html", str(page), "--state-db", state, "--config", path]
    assert main(args) == 0
    assert "<h2>SLOs</h2>" in page.read_text()
