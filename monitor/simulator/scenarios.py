"""The simulated account's calls: pure, deterministic, independent of how they are asked for.

Calls are generated per (trunk, minute) bucket with an RNG seeded from (seed, trunk
number, minute since the Unix epoch), so any time range, asked for in any order, yields
the same calls. Within a bucket, arrivals are Poisson; trunk ``n`` gets a share of the
account-wide rate proportional to ``1/sqrt(n)``, so ``conn_sim01`` is the busiest.

Every call, whatever the scenario:

- status ``failed`` about 1% of the time, else ``connected`` (75%) or ``disconnected``;
  half of the failed calls have no latencies at all and a fifth more lack only
  ``ai_latency_ms``;
- ``duration_seconds`` 20..400 (median about 120); ``start_time`` on whole seconds;
- ``ai_latency_ms`` log-normal, median 200, clamped to 80..2000; ``carrier_lag_ms``
  median 88 (20..400); ``gateway_processing_ms`` median 20 (4..80); all integers.
  These are Telepath's own figures: the example calls of its API reference show an AI
  latency of 215 ms, carrier lag of 85..92 ms and gateway processing of 19..22 ms. The
  spreads are narrow enough that a healthy account stays under every shipped threshold
  (``rules/*.yaml``, ``deploy/prometheus``): the steady account must not page anyone.

A call is visible once ``end_time <= now``; the history holds the calls that start at
or after ``started_at - history``.

Scenarios. The incident runs over ``[started_at + incident_at, + incident_for)`` and a
call is affected when its END time falls inside (except flatline, see below):

=====================  ==========================================================
``steady``             no incident.
``ai-spike``           ``conn_sim02``: ``ai_latency_ms`` median about 1800
                       (clamped 600..8000), nine times normal. Other trunks
                       unchanged.
``carrier-degradation`` every trunk whose number is a multiple of 3 (``conn_sim03``
                       and ``conn_sim06`` with six trunks; they share carrier B):
                       ``carrier_lag_ms`` median 450 (150..2500).
``failure-burst``      ``conn_sim03``: the failed share rises from 1% to 30%.
``flatline``           ``conn_sim04`` carries no call at any moment of the incident:
                       every call of it that would start, end or be in progress then is
                       dropped, so it is silent by start time and by end time alike.
=====================  ==========================================================

The same random draws are made for every call in every scenario, so outside the
affected trunks and times the calls are identical to those of ``steady``.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from monitor.models import Call
from monitor.simulator.options import SimulatorOptions

BUCKET_SECONDS: Final = 60
#: Longest possible call: calls starting earlier than ``now - MAX_DURATION`` are all visible.
MAX_DURATION: Final = timedelta(seconds=400)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_FAILED_SHARE: Final = 0.01
_BURST_FAILED_SHARE: Final = 0.30
_OUTBOUND_PERCENT: Final = 30
# Medians of a healthy call, from the example calls in Telepath's API reference.
_AI_MEDIAN: Final = 200
_CARRIER_MEDIAN: Final = 88
_GATEWAY_MEDIAN: Final = 20


@dataclass(frozen=True, slots=True)
class SimCall:
    """One generated call with everything the list and detail endpoints show."""

    id: str
    trunk_id: str
    from_number: str
    to_number: str
    status: str
    start_time: datetime
    end_time: datetime
    duration_seconds: int
    ai_latency_ms: int | None
    carrier_lag_ms: int | None
    gateway_processing_ms: int | None
    disconnect_reason: str
    #: ``inbound`` or ``outbound`` (see :func:`direction_of`).
    direction: str = "inbound"

    def sort_key(self) -> tuple[datetime, str]:
        """The order of ``/calls``: by start time, ties broken by id."""
        return (self.start_time, self.id)

    def to_call(self) -> Call:
        """The call as a perfect client would parse it."""
        return Call(
            id=self.id,
            trunk_id=self.trunk_id,
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            duration_seconds=self.duration_seconds,
            ai_latency_ms=self.ai_latency_ms,
            carrier_lag_ms=self.carrier_lag_ms,
            gateway_processing_ms=self.gateway_processing_ms,
            direction=self.direction,
        )


def trunk_id(number: int) -> str:
    """``conn_sim01`` for trunk 1."""
    return f"conn_sim{number:02d}"


def affected_trunks(scenario: str, trunks: int) -> tuple[str, ...]:
    """The trunks a scenario's incident touches (empty for ``steady``)."""
    if scenario == "ai-spike":
        numbers: list[int] = [2]
    elif scenario == "carrier-degradation":
        numbers = [n for n in range(3, trunks + 1, 3)]
    elif scenario == "failure-burst":
        numbers = [3]
    elif scenario == "flatline":
        numbers = [4]
    else:
        numbers = []
    return tuple(trunk_id(n) for n in numbers if n <= trunks)


class Timeline:
    """All calls of one simulated account, generated lazily and cached by minute.

    Thread-safe: the HTTP handlers of the simulator share one timeline.
    """

    def __init__(self, options: SimulatorOptions, started_at: datetime) -> None:
        self.options = options
        self.started_at = started_at
        self.history_start = started_at - options.history
        self.incident_start = started_at + options.incident_at
        self.incident_end = self.incident_start + options.incident_for
        self.trunk_ids = tuple(trunk_id(n) for n in range(1, options.trunks + 1))
        self._affected = frozenset(affected_trunks(options.scenario, options.trunks))
        weights = [1 / math.sqrt(n) for n in range(1, options.trunks + 1)]
        total = sum(weights)
        self._rates = [options.calls_per_minute * w / total for w in weights]
        self._lock = threading.Lock()
        self._buckets: dict[int, tuple[SimCall, ...]] = {}
        self._by_id: dict[str, SimCall] = {}
        # Calls of the history window onwards, sorted, built up to bucket _built - 1.
        self._first = _bucket_of(self.history_start)
        self._built = self._first
        self._sorted: list[SimCall] = []

    @property
    def has_incident(self) -> bool:
        """False for ``steady`` (and for an empty incident)."""
        return bool(self._affected) and self.incident_end > self.incident_start

    def calls_starting(self, start: datetime, end: datetime) -> list[SimCall]:
        """Every generated call with ``start <= start_time < end``, visible or not, sorted."""
        calls: list[SimCall] = []
        with self._lock:
            for b in range(_bucket_of(start), _bucket_of(end) + 1):
                calls.extend(c for c in self._bucket(b) if start <= c.start_time < end)
        return calls

    def visible(self, now: datetime) -> list[SimCall]:
        """The calls the API lists at ``now``, sorted by (start_time, id) ascending."""
        with self._lock:
            self._extend_to(now)
            calls = self._sorted
            lo = bisect.bisect_left(calls, self.history_start, key=_start)
            hi = bisect.bisect_right(calls, now, key=_start)
            # A call lasts at most MAX_DURATION: everything that started earlier has ended.
            settled = max(lo, bisect.bisect_right(calls, now - MAX_DURATION, key=_start))
            settled = min(settled, hi)
            return calls[lo:settled] + [c for c in calls[settled:hi] if c.end_time <= now]

    def listed(
        self, lower: datetime | None, upper: datetime | None, now: datetime, *, started: bool
    ) -> list[SimCall]:
        """What ``visible`` holds with ``lower <= start_time <= upper``, found by bisection
        so a request costs its range, not the whole history. With ``started``, calls are
        listed from their start (those not ended yet are in progress)."""
        with self._lock:
            self._extend_to(now)
            calls = self._sorted
            floor = self.history_start if lower is None else max(lower, self.history_start)
            lo = bisect.bisect_left(calls, floor, key=_start)
            top = now if upper is None else min(upper, now)
            hi = max(lo, bisect.bisect_right(calls, top, key=_start))
            if started:
                return calls[lo:hi]
            settled = bisect.bisect_right(calls, now - MAX_DURATION, key=_start)
            settled = min(max(lo, settled), hi)
            return calls[lo:settled] + [c for c in calls[settled:hi] if c.end_time <= now]

    def find(self, call_id: str, now: datetime) -> SimCall | None:
        """The call with this id if it is visible at ``now``."""
        with self._lock:
            self._extend_to(now)
            call = self._by_id.get(call_id)
        if call is None or call.start_time < self.history_start or call.end_time > now:
            return None
        return call

    def _extend_to(self, now: datetime) -> None:
        last = _bucket_of(now)
        while self._built <= last:
            self._sorted.extend(self._bucket(self._built))
            self._built += 1

    def _bucket(self, b: int) -> tuple[SimCall, ...]:
        cached = self._buckets.get(b)
        if cached is None:
            calls = [c for n in range(1, len(self.trunk_ids) + 1) for c in self._generate(n, b)]
            cached = tuple(sorted(calls, key=SimCall.sort_key))
            self._buckets[b] = cached
            self._by_id.update((c.id, c) for c in cached)
        return cached

    def _generate(self, number: int, b: int) -> Iterator[SimCall]:
        seed = self.options.seed
        bucket_seed = _digest(f"bucket/{seed}/{number}/{b}")
        rng = random.Random(bucket_seed)  # noqa: S311 - simulation, not security
        bucket_start = _EPOCH + timedelta(seconds=b * BUCKET_SECONDS)
        for k in range(_poisson(rng, self._rates[number - 1])):
            call = self._draw(rng, number, bucket_start, f"call_{seed}/{number}/{b}/{k}")
            if call is not None:
                yield call

    def _draw(
        self, rng: random.Random, number: int, bucket_start: datetime, key: str
    ) -> SimCall | None:
        # Fixed sequence of draws per call, whatever the scenario: see the module docstring.
        start = bucket_start + timedelta(seconds=rng.randrange(BUCKET_SECONDS))
        duration = round(_clamp(rng.lognormvariate(math.log(120), 0.6), 20, 400))
        fail_roll, connected_roll, null_roll, reason_roll = (rng.random() for _ in range(4))
        z_ai, z_carrier, z_gateway = (rng.gauss(0.0, 1.0) for _ in range(3))
        caller = rng.randrange(10**7)
        end = start + timedelta(seconds=duration)

        tid = trunk_id(number)
        scenario = self.options.scenario if tid in self._affected else "steady"
        in_incident = self.incident_start <= end < self.incident_end
        if scenario == "flatline" and start < self.incident_end and end >= self.incident_start:
            return None
        ai = _lognormal(_AI_MEDIAN, 0.45, z_ai, 80, 2000)
        if scenario == "ai-spike" and in_incident:
            ai = _lognormal(1800, 0.45, z_ai, 600, 8000)
        carrier = _lognormal(_CARRIER_MEDIAN, 0.15, z_carrier, 20, 400)
        if scenario == "carrier-degradation" and in_incident:
            carrier = _lognormal(450, 0.35, z_carrier, 150, 2500)
        gateway = _lognormal(_GATEWAY_MEDIAN, 0.15, z_gateway, 4, 80)
        failed_share = _FAILED_SHARE
        if scenario == "failure-burst" and in_incident:
            failed_share = _BURST_FAILED_SHARE

        latencies: tuple[int | None, int | None, int | None] = (ai, carrier, gateway)
        if fail_roll < failed_share:
            status = "failed"
            reasons = ("connection_failed", "ai_provider_error", "carrier_error", "network_error")
            reason = reasons[int(reason_roll * len(reasons))]
            if null_roll < 0.5:
                latencies = (None, None, None)
            elif null_roll < 0.7:
                latencies = (None, carrier, gateway)
        elif connected_roll < 0.75:
            status, reason = "connected", "normal_clearing"
        else:
            status = "disconnected"
            reason = "caller_hangup" if reason_roll < 0.6 else "normal_disconnect"
        call_id = "call_" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
        return SimCall(
            id=call_id,
            trunk_id=tid,
            from_number=f"+1415{caller:07d}",
            to_number=f"+1628555{number:04d}",
            status=status,
            start_time=start,
            end_time=end,
            duration_seconds=duration,
            ai_latency_ms=latencies[0],
            carrier_lag_ms=latencies[1],
            gateway_processing_ms=latencies[2],
            disconnect_reason=reason,
            direction=direction_of(call_id),
        )


def _start(call: SimCall) -> datetime:
    return call.start_time


def direction_of(call_id: str) -> str:
    """``inbound`` or ``outbound`` (30%), drawn from the id: the scenario's RNG draws stay
    as they were, so every scenario keeps its calls."""
    roll = int.from_bytes(hashlib.blake2b(call_id.encode(), digest_size=2).digest(), "big")
    return "outbound" if roll % 100 < _OUTBOUND_PERCENT else "inbound"


def _bucket_of(moment: datetime) -> int:
    return math.floor((moment - _EPOCH).total_seconds() / BUCKET_SECONDS)


def _digest(text: str) -> int:
    """A stable integer seed (``hash()`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _lognormal(median: float, sigma: float, z: float, low: int, high: int) -> int:
    return round(_clamp(median * math.exp(sigma * z), low, high))


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw: Knuth's method for small means, a normal approximation above."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
