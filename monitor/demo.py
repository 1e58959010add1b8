"""``telepath-monitor demo``: the simulator and the daemon together, alerts on the terminal.

The simulator plays the ai-spike scenario: ``conn_sim02``'s AI agent slows down about
45 seconds in and recovers a minute later. The daemon polls it every 10 seconds with
one rule (p95 AI latency per trunk over one minute) and the console notifier, so the
alert fires about a minute and a half in and resolves about three minutes in. Nothing
leaves loopback and no credentials are needed; the config and state DB live in a
temporary directory that is removed on exit.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from monitor.clock import Clock, SystemClock
from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.settings import load_settings
from monitor.simulator import DEFAULT_API_KEY, SimulatorOptions, SimulatorServer

__all__ = ["DEMO_CONFIG", "INCIDENT_AT", "INCIDENT_FOR", "Demo", "build_demo"]

INCIDENT_AT = timedelta(seconds=45)
INCIDENT_FOR = timedelta(seconds=60)

DEMO_CONFIG = """\
# The demo's config: one rule, printed to the terminal. See alerts.example.yaml for more.
links:
  call: https://dashboard.telepathvoice.com/calls/{call_id}
poll:
  calls_every: 10s
  overview_every: 30s
  backfill: 15m
notifiers:
  terminal:
    type: console
defaults:
  notify: [terminal]
  repeat: never
rules:
  - name: ai-latency-p95
    summary: AI agent answers slowly
    metric: ai_latency_ms
    stat: p95
    window: 1m
    per: trunk
    min_calls: 5
    for: 20s
    warning: 1200
    critical: 3000
"""


@dataclass
class Demo:
    """The running pieces, so the CLI (and tests) can drive and stop them."""

    simulator: SimulatorServer
    daemon: Daemon
    workdir: tempfile.TemporaryDirectory[str]

    def stop(self) -> None:
        try:
            self.daemon.stop()
        finally:
            self.simulator.stop()
            self.workdir.cleanup()


def build_demo(
    *, listen: str = "127.0.0.1:19310", clock: Clock | None = None, console: TextIO | None = None
) -> Demo:
    """Start the simulator and build (not start) the daemon pointed at it."""
    clock = clock or SystemClock()
    workdir = tempfile.TemporaryDirectory(prefix="telepath-monitor-demo-")
    try:
        path = Path(workdir.name) / "alerts.yaml"
        path.write_text(DEMO_CONFIG)
        simulator = SimulatorServer(
            SimulatorOptions(
                scenario="ai-spike",
                calls_per_minute=300,
                history=timedelta(minutes=15),
                incident_at=INCIDENT_AT,
                incident_for=INCIDENT_FOR,
            ),
            clock,
        )
        simulator.start()
    except BaseException:
        workdir.cleanup()
        raise
    try:
        settings = load_settings(
            {
                "api_key": DEFAULT_API_KEY,
                "api_url": simulator.url,
                "config": str(path),
                "state_db": str(Path(workdir.name) / "state.db"),
                "listen": listen,
            },
            env={},
        )
        daemon = Daemon(settings, load_config(path), clock=clock, console=console)
    except BaseException:
        simulator.stop()
        workdir.cleanup()
        raise
    return Demo(simulator, daemon, workdir)


def banner(demo: Demo) -> str:
    """What to look at, printed once the daemon is serving."""
    host, port = demo.daemon.server.address
    base = f"http://{host}:{port}"
    incident = int(INCIDENT_AT.total_seconds())
    return (
        "telepath-monitor demo: a simulated Telepath account, watched by the daemon\n"
        f"  simulated API   {demo.simulator.url}  (scenario ai-spike)\n"
        f"  metrics         {base}/metrics   health: {base}/healthz, {base}/readyz\n"
        f"  config          {demo.workdir.name}/alerts.yaml\n"
        f"In about {incident} s trunk conn_sim02's AI agent slows down for a minute: the alert "
        "fires\nabout a minute and a half from now and resolves about three minutes from now. "
        "Ctrl-C stops.\n"
    )


def status_line(demo: Demo, elapsed: float) -> str:
    """A periodic one-line progress report while waiting for the alert."""
    daemon = demo.daemon
    firing = sum(1 for s in daemon.alert_states() if s.state == "firing")
    pending = sum(1 for s in daemon.alert_states() if s.state == "pending")
    minutes, seconds = divmod(int(elapsed), 60)
    return (
        f"[{minutes}:{seconds:02d}] {daemon.windows.total_calls} calls in the windows, "
        f"{pending} alert(s) pending, {firing} firing"
    )
