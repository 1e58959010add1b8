"""``promtool check metrics`` on the daemon's /metrics page."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest
from prometheus_client import generate_latest

from monitor.metrics import MonitorMetrics
from monitor.models import Overview
from monitor.telepath.client import RequestRecord
from tests.unit.test_metrics import HOSTILE, T0, build, make_call

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "page",
    [MonitorMetrics.render, lambda m: generate_latest(m.registry)],
    ids=["render", "registry"],
)
def test_promtool_finds_nothing_to_complain_about(
    page: Callable[[MonitorMetrics], bytes],
) -> None:
    """`promtool check metrics` accepts a realistic scrape, served or read from the registry."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (.ci/run does)")
    calls = [make_call(n, f"conn_{n % 3}", ai=150.0 * n) for n in range(30)]
    metrics = build([*calls, make_call(40, HOSTILE, ai=90)])
    metrics.on_client_event(RequestRecord("/calls", "ok", 200, 0.05, 1, 41, 6000))
    metrics.overview = lambda: Overview(
        fetched_at=T0, values={"ai_latency_ms": 640, "call_count": 10}
    )
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=page(metrics),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, b"")
