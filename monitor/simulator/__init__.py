"""A Telepath-compatible API simulator on loopback, for demos, integration tests and benchmarks.

``SimulatorServer(SimulatorOptions(scenario="ai-spike")).start()`` serves ``/v1/calls``,
``/v1/calls/{id}``, ``/v1/analytics/overview`` and ``/v1/trunks`` with generated calls,
the chosen incident, a rate limit and injectable faults. See ``scenarios`` for the
data, ``api`` for the dialect and ``faults`` for what can go wrong.
"""

from __future__ import annotations

from monitor.simulator.faults import (
    MALFORMED_KINDS,
    MALFORMED_VARIANTS,
    ODD_RECORD_VARIANTS,
)
from monitor.simulator.options import (
    DEFAULT_API_KEY,
    SCENARIOS,
    FaultOptions,
    SimulatorOptions,
)
from monitor.simulator.scenarios import SimCall, Timeline, affected_trunks
from monitor.simulator.server import SimulatorServer

__all__ = [
    "DEFAULT_API_KEY",
    "MALFORMED_KINDS",
    "MALFORMED_VARIANTS",
    "ODD_RECORD_VARIANTS",
    "SCENARIOS",
    "FaultOptions",
    "SimCall",
    "SimulatorOptions",
    "SimulatorServer",
    "Timeline",
    "affected_trunks",
]
