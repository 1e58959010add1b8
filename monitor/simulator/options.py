"""What a simulator run looks like: scenario, data shape, API dialect and injected faults.

Each field of :class:`SimulatorOptions` and :class:`FaultOptions` is one flag of
``telepath-monitor simulate`` (``trunks`` → ``--trunks``, ``fail_next`` → ``--fail-next``...).
Invalid values raise ``ValueError`` at construction so the CLI can report them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Final, Literal

#: The fixed key the simulator accepts unless told otherwise; the README names it.
DEFAULT_API_KEY: Final = "sk_test_telepath_simulator"

#: Scenario names, in the order the CLI lists them. Their effects are documented in
#: :mod:`monitor.simulator.scenarios`.
SCENARIOS: Final[tuple[str, ...]] = (
    "steady",
    "ai-spike",
    "carrier-degradation",
    "failure-burst",
    "flatline",
)

#: Longest artificial delay of one response, so a typo cannot hang a client for hours.
MAX_SLOW_SECONDS: Final = 30.0

_RATES: Final = ("error_rate", "slow_rate", "malformed_rate", "duplicate_rate", "odd_record_rate")
_COUNTERS: Final = ("fail_next", "slow_next", "malformed_next", "reset_next")
#: The highest trunk number each scenario touches (see ``scenarios``).
_TRUNKS_NEEDED: Final = {"ai-spike": 2, "carrier-degradation": 3, "failure-burst": 3, "flatline": 4}


@dataclass
class FaultOptions:
    """Faults injected into ``/v1`` responses; mutable while the server runs.

    ``*_next`` counters are deterministic: the next N API requests get the fault and the
    counter goes down by one each time. They are applied before the ``*_rate``
    probabilities, which are drawn from an RNG seeded from the run's seed. Change them
    through ``SimulatorServer.faults`` or ``PUT /_sim/faults``.
    """

    #: Share of API requests answered 500, 502 (an HTML page, not JSON) or 503.
    error_rate: float = 0.0
    #: The next N API requests fail with ``fail_status``.
    fail_next: int = 0
    #: HTTP status used by ``fail_next`` (400..599; 502 comes with an HTML body).
    fail_status: int = 503
    #: Share of responses delayed by ``slow_seconds`` of real time (for client timeouts).
    slow_rate: float = 0.0
    #: Delay of a slow response in seconds, at most 30.
    slow_seconds: float = 2.0
    #: The next N API responses are slow.
    slow_next: int = 0
    #: Share of 200 responses whose body is malformed (not JSON, truncated, wrong shape).
    malformed_rate: float = 0.0
    #: The next N API requests get a malformed body (wasted on one that is not a 200).
    malformed_next: int = 0
    #: The next N API requests have their connection dropped without any response.
    reset_next: int = 0
    #: Share of list pages (after the first) that repeat a few records of the previous page.
    duplicate_rate: float = 0.0
    #: Share of list records made odd (see ``ODD_RECORD_VARIANTS`` in ``faults``).
    odd_record_rate: float = 0.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field out of range."""
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in _COUNTERS:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 400 <= self.fail_status <= 599:
            raise ValueError(
                f"fail_status must be an HTTP error status (400..599), got {self.fail_status}"
            )
        if not 0.0 <= self.slow_seconds <= MAX_SLOW_SECONDS:
            raise ValueError(f"slow_seconds must be between 0 and {MAX_SLOW_SECONDS:g}")

    def as_dict(self) -> dict[str, float | int]:
        """The fields as JSON-ready values, for ``GET /_sim/faults``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class SimulatorOptions:
    """One simulator run. Immutable in practice once the server is built (faults aside)."""

    #: Which incident the run plays; one of :data:`SCENARIOS`.
    scenario: str = "steady"
    #: Seed of every random choice: same seed, same calls, same fault sequence.
    seed: int = 1
    #: The bearer key the API accepts.
    api_key: str = DEFAULT_API_KEY
    #: Number of trunks, named ``conn_sim01``..; some scenarios need 2, 3 or 4 of them.
    trunks: int = 6
    #: Account-wide arrival rate of calls, spread unevenly over the trunks.
    calls_per_minute: float = 60.0
    #: Calls that already happened before the server started (they start this far back).
    history: timedelta = timedelta(hours=2)
    #: The scenario's incident begins this long after the start.
    incident_at: timedelta = timedelta(minutes=1)
    #: ...and lasts this long (flatline: the trunk carries no call for this long).
    incident_for: timedelta = timedelta(minutes=5)
    #: List style: ``cursor`` (data/next_cursor/has_more) or ``offset`` (calls/pagination).
    pagination: Literal["cursor", "offset"] = "cursor"
    #: Sort of ``/calls``: ``newest`` first or ``oldest`` first, by (start_time, id).
    order: Literal["newest", "oldest"] = "newest"
    #: Latencies in list items: ``flat`` at top level or ``nested`` under ``metrics``.
    latency_layout: Literal["flat", "nested"] = "flat"
    #: List calls from their start, not their end: those still going are ``in_progress``,
    #: with no end time and partial latencies (the API reference does not rule it out).
    list_in_progress: bool = False
    #: Requests per clock minute before 429; None disables the limit (benchmarks).
    rate_limit_per_minute: int | None = 6000
    #: Also send ``Retry-After`` with a 429 (the real API documents none).
    retry_after_header: bool = False
    #: Rate windows are clock minutes shifted by this many seconds (0..59), so a test can
    #: place a window's end a few seconds ahead instead of waiting for the next minute.
    rate_window_phase: int = 0
    #: Address to listen on; loopback unless you mean otherwise.
    host: str = "127.0.0.1"
    #: Port to listen on; 0 picks a free one (see ``SimulatorServer.url``).
    port: int = 0
    #: Trunk ids ``GET /trunks`` lists as ``inactive`` (they still carry their calls).
    disabled_trunks: tuple[str, ...] = ()
    #: Faults to inject from the start; the server works on a copy (see its ``faults``).
    faults: FaultOptions = field(default_factory=FaultOptions)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(
                f"unknown scenario {self.scenario!r}; choose from {', '.join(SCENARIOS)}"
            )
        needed = _TRUNKS_NEEDED.get(self.scenario, 1)
        if not needed <= self.trunks <= 999:
            raise ValueError(f"scenario {self.scenario} needs between {needed} and 999 trunks")
        if self.calls_per_minute < 0:
            raise ValueError("calls_per_minute must not be negative")
        for name in ("history", "incident_at", "incident_for"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"{name} must not be negative")
        if self.pagination not in ("cursor", "offset"):
            raise ValueError("pagination must be 'cursor' or 'offset'")
        if self.order not in ("newest", "oldest"):
            raise ValueError("order must be 'newest' or 'oldest'")
        if self.latency_layout not in ("flat", "nested"):
            raise ValueError("latency_layout must be 'flat' or 'nested'")
        if not 0 <= self.rate_window_phase < 60:
            raise ValueError("rate_window_phase must be between 0 and 59 seconds")
        if self.rate_limit_per_minute is not None and self.rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be at least 1 (or None for no limit)")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if not self.api_key:
            raise ValueError("api_key must not be empty")
