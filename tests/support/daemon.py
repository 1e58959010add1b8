"""A Daemon on the test's manual clock, pointed at a loopback simulator."""

from __future__ import annotations

from pathlib import Path

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.settings import load_settings
from monitor.simulator import DEFAULT_API_KEY

#: The rule the ai-spike scenario trips on conn_sim02 (p95 AI latency over 2 minutes),
#: for configs that end with ``rules:``.
SPIKE_RULE = """\
  - name: ai-latency-p95
    summary: AI agent answers slowly
    metric: ai_latency_ms
    stat: p95
    window: 2m
    per: trunk
    min_calls: 5
    warning: 1500
    critical: 2500
"""


def make_daemon(tmp_path: Path, api_url: str, clock: ManualClock, config: str) -> Daemon:
    """Write ``config`` as alerts.yaml in ``tmp_path`` and build (not start) a daemon on it,
    with its state DB beside it and its HTTP server on 127.0.0.1:0."""
    path = tmp_path / "alerts.yaml"
    path.write_text(config)
    settings = load_settings(
        env={
            "TELEPATH_API_KEY": DEFAULT_API_KEY,
            "TELEPATH_API_URL": api_url,
            "TELEPATH_CONFIG": str(path),
            "TELEPATH_STATE_DB": str(tmp_path / "state.db"),
            "TELEPATH_LISTEN": "127.0.0.1:0",
        }
    )
    return Daemon(settings, load_config(path), clock=clock)
