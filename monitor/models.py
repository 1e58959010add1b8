"""What the monitor knows about calls, the account overview and trunks.

Frozen, typed, no I/O. The parsing of API bodies into these lives in
``monitor.telepath.parsing``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal, get_args

#: Metrics a rule or export can ask for per call; total is the sum of the three components.
#: The one latency vocabulary: the config's metric names build on it.
LatencyMetric = Literal[
    "ai_latency_ms", "carrier_lag_ms", "gateway_processing_ms", "total_latency_ms"
]
LATENCY_METRICS: Final[tuple[str, ...]] = get_args(LatencyMetric)
#: The three latency components Telepath reports for each call, in milliseconds.
LATENCY_COMPONENTS: Final = LATENCY_METRICS[:3]


@dataclass(frozen=True, slots=True)
class Call:
    """One finished call as the list endpoint reports it.

    ``status`` is lower-cased; only ``failed`` is treated as a failure, any other
    value (``connected``, ``disconnected``, ``completed``, unknown ones) is kept as is.
    A latency is None when the API left it out (failed calls often have none).
    """

    id: str
    trunk_id: str
    status: str
    start_time: datetime
    end_time: datetime | None = None
    duration_seconds: float | None = None
    ai_latency_ms: float | None = None
    carrier_lag_ms: float | None = None
    gateway_processing_ms: float | None = None
    #: ``inbound`` or ``outbound`` (lower-cased); None when the API did not say.
    direction: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def finished_at(self) -> datetime:
        """When the call ended: the time it counts at in windows.

        A call becomes visible to the API only once it has ended, so windows place it
        at its end; without ``end_time`` we derive it from the duration, else the start.
        """
        if self.end_time is not None:
            return self.end_time
        if self.duration_seconds is not None:
            return self.start_time + timedelta(seconds=self.duration_seconds)
        return self.start_time

    @property
    def total_latency_ms(self) -> float | None:
        """Sum of the three components, or None when any of them is missing."""
        parts = (self.ai_latency_ms, self.carrier_lag_ms, self.gateway_processing_ms)
        if any(p is None for p in parts):
            return None
        return sum(p for p in parts if p is not None)

    def latency(self, metric: str) -> float | None:
        """The value of one of :data:`LATENCY_METRICS` for this call."""
        if metric == "total_latency_ms":
            return self.total_latency_ms
        if metric in LATENCY_COMPONENTS:
            value: float | None = getattr(self, metric)
            return value
        raise ValueError(f"unknown latency metric {metric!r}")


@dataclass(frozen=True, slots=True)
class CallDetail:
    """One call from ``GET /calls/{id}``: the list fields plus what only the detail has."""

    call: Call
    disconnect_reason: str | None = None
    packet_loss_percent: float | None = None
    jitter_ms: float | None = None
    codec: str | None = None


@dataclass(frozen=True, slots=True)
class Overview:
    """Account-wide figures from ``GET /analytics/overview``.

    The endpoint's fields are undocumented, so every value is optional and
    ``values`` maps our metric names (``ai_latency_ms``...) to what was found.
    ``raw`` keeps the unwrapped body for logging shapes we did not recognise.
    """

    fetched_at: datetime
    values: dict[str, float] = field(default_factory=dict)
    raw: dict[str, object] = field(default_factory=dict)

    def get(self, metric: str) -> float | None:
        return self.values.get(metric)


@dataclass(frozen=True, slots=True)
class Trunk:
    """A trunk (SIP connection). ``success_rate`` is converted to 0..1.

    ``status`` is lower-cased (``active``, ``inactive``, ``error``...); ``provider`` is the
    AI provider (``ai_provider`` on the endpoint pages, ``provider`` in the overview's).
    """

    id: str
    name: str | None = None
    status: str | None = None
    calls_today: int | None = None
    success_ratio: float | None = None
    avg_latency_ms: float | None = None
    provider: str | None = None
