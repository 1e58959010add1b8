"""The shipped thresholds against the simulator: quiet over ``steady``, and over each
incident scenario exactly the rules about that incident.

A real daemon, configured with ``alerts.example.yaml`` and every pack it includes, polls
each scenario on a manual clock as ``run`` would (calls every 30 s, the overview every
minute), from a quiet stretch before the incident to well after every window has let go
of it. Every (rule, group) that is ever pending or firing is collected. The daemon's
``/metrics`` page is captured every minute and replayed through the real
``deploy/prometheus/rules.yaml`` by ``promtool test rules``, which checks that the
alerts ever pending or firing there are exactly the expected ones (on a mismatch its
diff names them).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.settings import load_settings
from monitor.simulator import DEFAULT_API_KEY, SCENARIOS, SimulatorServer
from tests.support.receivers import WebhookReceiver

pytestmark = pytest.mark.integration

ROOT: Final = Path(__file__).resolve().parents[2]
EXAMPLE: Final = ROOT / "alerts.example.yaml"
PROMETHEUS_RULES: Final = ROOT / "deploy" / "prometheus" / "rules.yaml"
POLL: Final = 30
#: A quiet stretch first, so every window is full of healthy calls when the incident starts.
INCIDENT_AT: Final = timedelta(minutes=10)
#: Long enough for the longest window of the packs (30 m, the trunk flatline) to see it.
INCIDENT_FOR: Final = {"flatline": timedelta(minutes=35)}
DEFAULT_INCIDENT_FOR: Final = timedelta(minutes=10)
#: After the incident, until the longest window (30 m) has let go of it.
AFTER: Final = timedelta(minutes=35)
JOB_LABELS: Final = {"job": "telepath-monitor", "instance": "telepath-monitor:19310"}

Pair = tuple[str, str]


@dataclass
class Run:
    """What one scenario raised in the daemon, and its /metrics pages, one a minute."""

    started: datetime
    raised: set[Pair] = field(default_factory=set)  # ever pending or firing
    fired: set[Pair] = field(default_factory=set)
    pages: list[str] = field(default_factory=list)


def run_scenario(
    tmp_path: Path, server: SimulatorServer, receiver_url: str, clock: ManualClock, end: datetime
) -> Run:
    settings = load_settings(
        env={
            "TELEPATH_API_KEY": DEFAULT_API_KEY,
            "TELEPATH_API_URL": server.url,
            "TELEPATH_CONFIG": str(EXAMPLE),
            "TELEPATH_STATE_DB": str(tmp_path / "state.db"),
            "TELEPATH_LISTEN": "127.0.0.1:0",
        }
    )
    env = {"SLACK_WEBHOOK_URL": receiver_url, "ALERT_WEBHOOK_URL": receiver_url}
    daemon = Daemon(settings, load_config(EXAMPLE, env=env), clock=clock)
    run = Run(started=clock.now())
    try:
        step = 0
        while clock.now() <= end:
            if step % 2 == 0:
                daemon.poll_overview()
            daemon.poll_calls()
            for state in daemon.alert_states():
                pair = (state.rule, state.group or "account")
                if state.state in ("pending", "firing"):
                    run.raised.add(pair)
                if state.state == "firing":
                    run.fired.add(pair)
            for name in daemon.senders:  # as the delivery threads would
                daemon.delivery.deliver_due(name)
            if step % 2 == 0:
                run.pages.append(daemon.metrics.render().decode())
            clock.advance(POLL)
            step += 1
    finally:
        daemon.stop()
    return run


# -- promtool ------------------------------------------------------------------------------


def _series_name(name: str, labels: dict[str, str]) -> str:
    def quoted(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    inner = ",".join(f'{k}="{quoted(v)}"' for k, v in sorted({**labels, **JOB_LABELS}.items()))
    return f"{name}{{{inner}}}"


def input_series(pages: list[str], started: datetime) -> list[dict[str, str]]:
    """The scraped pages as promtool input series, one sample a minute.

    Timestamps (``*_timestamp_seconds``) are made relative to the first scrape, since
    promtool's clock starts at 0; ``up`` is added, as Prometheus would.
    """
    offset = started.timestamp()
    series: dict[str, list[str]] = {}
    for minute, page in enumerate(pages):
        for family in text_string_to_metric_families(page):
            for sample in family.samples:
                value = sample.value
                if value != value:  # NaN: no sample, as a gap
                    continue
                if sample.name.endswith("_timestamp_seconds"):
                    value -= offset
                key = _series_name(sample.name, dict(sample.labels))
                column = series.setdefault(key, ["_"] * len(pages))
                column[minute] = repr(float(value))
    series[_series_name("up", {})] = ["1"] * len(pages)
    return [{"series": k, "values": " ".join(v)} for k, v in sorted(series.items())]


def check_prometheus_alerts(tmp_path: Path, run: Run, expected: set[Pair]) -> None:
    """``promtool test rules``: the (alertname, trunk) pairs ever pending or firing over
    the run are exactly ``expected``; on a mismatch promtool's diff is the message."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed; `make tools` installs Debian's prometheus")
    minutes = len(run.pages) - 1
    test: dict[str, Any] = {
        "rule_files": [str(PROMETHEUS_RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series(run.pages, run.started),
                "promql_expr_test": [
                    {
                        "expr": f"group by (alertname, trunk_id) "
                        f"(count_over_time(ALERTS{selector}[{minutes + 1}m]))",
                        "eval_time": f"{minutes}m",
                        "exp_samples": [
                            {"labels": f'{{alertname="{a}",trunk_id="{t}"}}', "value": 1}
                            for a, t in sorted(expected)
                        ],
                    }
                    # Ever pending or firing, then ever firing: both are exactly `expected`.
                    for selector in ("", '{alertstate="firing"}')
                ],
            }
        ],
    }
    path = tmp_path / "calibration.test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- the tests -----------------------------------------------------------------------------

#: Per scenario: the (rule, group) pairs of the example config, then the (alertname, trunk)
#: pairs of the Prometheus rules, that must fire; nothing else may even be pending.
#: Total latency is the sum of the three, so an AI or carrier incident rightly moves it too.
EXPECTED: Final[dict[str, tuple[set[Pair], set[Pair]]]] = {
    "steady": (set(), set()),
    "ai-spike": (
        {
            # The ai-answers SLO's 6h and 3d windows hold only the ~80 minutes the daemon
            # has read, so the spike alone burns 6x and 1x of them (not 14.4x over 1h).
            ("slo-ai-answers-burn-3d-6h", "conn_sim02"),
            ("slo-ai-answers-burn-6h-30m", "conn_sim02"),
            ("ai-latency-p95", "conn_sim02"),
            ("voice-ai-latency-p95", "conn_sim02"),
            ("voice-ai-latency-p99", "conn_sim02"),
            ("voice-total-latency-p95", "conn_sim02"),
        },
        {
            ("TelepathAILatencyP95High", "conn_sim02"),
            ("TelepathTotalLatencyP95High", "conn_sim02"),
        },
    ),
    "carrier-degradation": (
        {
            ("voice-carrier-lag-p95", "conn_sim03"),
            ("voice-carrier-lag-p95", "conn_sim06"),
            ("voice-total-latency-p95", "conn_sim03"),
            ("voice-total-latency-p95", "conn_sim06"),
        },
        {
            ("TelepathCarrierLagP95High", "conn_sim03"),
            ("TelepathCarrierLagP95High", "conn_sim06"),
        },
    ),
    "failure-burst": (
        {("failed-calls", "conn_sim03"), ("reliability-failed-ratio", "conn_sim03")},
        {("TelepathFailedCallsHigh", "conn_sim03")},
    ),
    # The Prometheus rules have no per-trunk flatline alert.
    "flatline": ({("reliability-trunk-flatline", "conn_sim04")}, set()),
}


def test_every_scenario_has_its_expectation():
    assert set(EXPECTED) == set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_shipped_rules_fire_exactly_for_the_scenarios_incident(
    tmp_path, simulator, clock, scenario
):
    """steady raises nothing, not even pending; each incident fires the rules about it,
    on the trunks it hits, and nothing else, in the daemon and in Prometheus alike."""
    incident_for = INCIDENT_FOR.get(scenario, DEFAULT_INCIDENT_FOR)
    server = simulator(
        scenario=scenario,
        history=timedelta(hours=1),
        incident_at=INCIDENT_AT,
        incident_for=incident_for,
    )
    end = clock.now() + INCIDENT_AT + incident_for + AFTER
    with WebhookReceiver() as receiver:
        run = run_scenario(tmp_path, server, receiver.url, clock, end)
    daemon_expected, prometheus_expected = EXPECTED[scenario]
    assert run.raised == daemon_expected
    assert run.fired == daemon_expected
    check_prometheus_alerts(tmp_path, run, prometheus_expected)
