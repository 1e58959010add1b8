"""A Daemon on the test's manual clock, pointed at a loopback simulator."""

from __future__ import annotations

from pathlib import Path

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.settings import load_settings
from monitor.simulator import DEFAULT_API_KEY


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
