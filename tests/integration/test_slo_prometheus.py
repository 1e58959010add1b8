"""The real Prometheus (Debian ``prometheus``) scraping the daemon, which read the
simulator's ai-spike incident: PromQL over our SLO counters gives our burn-rate gauge,
and ``histogram_quantile`` over our latency buckets is within 10% of the exact p95.

Prometheus keeps real time while the daemon and simulator run on the test's clock, so
nothing is ingested while Prometheus watches: the comparison is at one instant, over the
counters' totals, with SLO windows (2h, 1h) that hold every call read. The generated
rules are loaded too, and must evaluate without error.
"""

from __future__ import annotations

import shutil
import socket
import statistics
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor.slo.promrules import render_rules
from tests.support.daemon import make_daemon
from tests.support.waiting import wait_for

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus (Debian package) missing"),
]

CONFIG = """
poll:
  backfill: 1h
slos:
  - name: ai-fast
    good: {metric: ai_latency_ms, threshold: 1500}
    status: [connected]
    objective: 95%
    period: 1d
    alerts:
      - {burn_rate: 1, long: 2h, short: 1h, severity: warning}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    def __init__(self, tmp_path: Path, target: str, rules: Path) -> None:
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": "telepath", "static_configs": [{"targets": [target]}]}],
        }
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        assert PROMETHEUS is not None
        self.log = (tmp_path / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5)

    def query(self, promql: str) -> list[dict[str, Any]]:
        response = self.http.get("/api/v1/query", params={"query": promql})
        if response.status_code == 503:  # starting: "Service Unavailable", not JSON
            return []
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, promql: str, timeout: float = 30) -> list[dict[str, Any]]:
        def check() -> list[dict[str, Any]]:
            assert self.process.poll() is None, "prometheus exited"
            try:
                return self.query(promql)
            except httpx.TransportError:
                return []

        return wait_for(check, f"result for {promql}", timeout, interval=0.25)

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def by_trunk(result: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"].get("trunk_id", ""): float(r["value"][1]) for r in result}


def test_prometheus_agrees_with_our_burn_rate_and_percentiles(tmp_path, simulator, clock):
    server = simulator(scenario="ai-spike", calls_per_minute=240)
    clock.advance(4 * 60)  # into the incident: conn_sim02 answers slowly
    daemon = make_daemon(tmp_path, server.url, clock, CONFIG)
    rules = tmp_path / "slo-rules.yaml"
    rules.write_text(render_rules(daemon.config.slos))
    daemon.server.start()
    daemon.poll_calls()
    daemon.evaluate(sync_ok=True)
    # What the daemon read: every call /calls shows now (the store keeps only recent ones).
    ingested = server.visible_calls()
    host, port = daemon.server.address
    prometheus = Prometheus(tmp_path, f"{host}:{port}", rules)
    try:
        ours = by_trunk(prometheus.wait_for('telepath_slo_burn_rate{window="2h"}'))
        theirs = by_trunk(
            prometheus.wait_for(
                '(sum by (trunk_id) (telepath_slo_events_total{slo="ai-fast"})'
                ' - sum by (trunk_id) (telepath_slo_good_events_total{slo="ai-fast"}))'
                ' / sum by (trunk_id) (telepath_slo_events_total{slo="ai-fast"}) / 0.05'
            )
        )
        quantiles = by_trunk(
            prometheus.wait_for(
                "histogram_quantile(0.95, sum by (trunk_id, le) "
                '(telepath_call_latency_seconds_bucket{component="ai"}))'
            )
        )
        rule_health = prometheus.wait_for('slo:objective:ratio{slo="ai-fast"}')
        groups = prometheus.http.get("/api/v1/rules").json()["data"]["groups"]
    finally:
        prometheus.stop()
        daemon.stop()

    assert len(ours) == 6
    assert set(theirs) == set(ours)
    for trunk, burn in ours.items():
        assert theirs[trunk] == pytest.approx(burn, rel=1e-9, abs=1e-12), trunk
    assert ours["conn_sim02"] > 1 > ours["conn_sim01"]  # the spiked trunk burns

    for trunk, quantile in quantiles.items():
        ai = [c.ai_latency_ms for c in ingested if c.trunk_id == trunk]
        ai = [v for v in ai if v is not None]
        exact = statistics.quantiles(ai, n=100, method="inclusive")[94] / 1000
        assert quantile == pytest.approx(exact, rel=0.10), trunk
    assert len(quantiles) == 6
    assert float(rule_health[0]["value"][1]) == 0.95
    health = {r["name"]: r["health"] for g in groups for r in g["rules"]}
    assert set(health.values()) == {"ok"}, health
