"""Rollups: calls aggregated per trunk and per minute (or hour), mergeable on read.

Pure: no I/O. A :class:`Tally` is what the history keeps of a set of calls: calls by
status, the sum of durations, one :class:`~monitor.history.buckets.Distribution` per
latency metric (the three components and their total), and named exact counters that
later features add (an SLO's good calls, say) by passing classifiers to
:func:`aggregate`. Tallies merge by addition, so a day is the merge of its minutes, a
trunk group the merge of its trunks, and an hour row the merge of its minute rows.

A call counts in the minute it *started* (as Telepath's own daily report selects calls
by start date), not when it ended as windows do.

A latency that is negative, not finite or beyond ``MAX_MS`` cannot be a real one; it is
left out of its distribution and counted under ``counters["invalid_latency"]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from monitor.history.buckets import Distribution
from monitor.models import LATENCY_METRICS, Call

__all__ = ["INVALID", "MAX_MS", "Rollup", "Tally", "aggregate", "floor_to"]

MINUTE: Final = 60
HOUR: Final = 3600
#: No call waits ten hours for an answer; beyond this a value is a data error.
MAX_MS: Final = 3.6e7
INVALID: Final = "invalid_latency"

#: Named exact counts: a name and which calls it counts.
Classifiers = Mapping[str, Callable[[Call], bool]]


@dataclass
class Tally:
    """What the history keeps of some calls; merge with :meth:`merge`."""

    statuses: dict[str, int] = field(default_factory=dict)
    duration_sum: float = 0.0
    latency: dict[str, Distribution] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return sum(self.statuses.values())

    def count(self, status: str) -> int:
        return self.statuses.get(status, 0)

    def distribution(self, metric: str) -> Distribution:
        return self.latency.get(metric) or Distribution()

    def add(self, call: Call, classifiers: Classifiers | None = None) -> None:
        self.statuses[call.status] = self.statuses.get(call.status, 0) + 1
        duration = call.duration_seconds
        if duration is not None and math.isfinite(duration) and duration >= 0:
            self.duration_sum += duration
        for metric in LATENCY_METRICS:
            value = call.latency(metric)
            if value is None:
                continue
            if not (math.isfinite(value) and 0 <= value <= MAX_MS):
                self.counters[INVALID] = self.counters.get(INVALID, 0) + 1
                continue
            self.latency.setdefault(metric, Distribution()).add(value)
        for name, counts in (classifiers or {}).items():
            if counts(call):
                self.counters[name] = self.counters.get(name, 0) + 1

    def merge(self, other: Tally) -> None:
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.duration_sum += other.duration_sum
        for metric, dist in other.latency.items():
            self.latency.setdefault(metric, Distribution()).merge(dist)
        for name, n in other.counters.items():
            self.counters[name] = self.counters.get(name, 0) + n

    @classmethod
    def merged(cls, parts: Iterable[Tally]) -> Tally:
        out = cls()
        for part in parts:
            out.merge(part)
        return out


@dataclass
class Rollup:
    """One stored row: a trunk's tally over ``[start, start + seconds)``."""

    trunk_id: str
    start: int  # epoch seconds, a multiple of ``seconds``
    seconds: int  # 60 (fine) or 3600 (downsampled)
    tally: Tally

    @property
    def start_time(self) -> datetime:
        return datetime.fromtimestamp(self.start, UTC)


def floor_to(epoch: float, seconds: int) -> int:
    return int(epoch // seconds) * seconds


def aggregate(
    calls: Iterable[Call], classifiers: Classifiers | None = None, *, seconds: int = MINUTE
) -> dict[tuple[str, int], Tally]:
    """Calls tallied per (trunk, start of their minute); de-duplication is the caller's."""
    out: dict[tuple[str, int], Tally] = {}
    for call in calls:
        key = (call.trunk_id, floor_to(call.start_time.timestamp(), seconds))
        tally = out.get(key)
        if tally is None:
            tally = out[key] = Tally()
        tally.add(call, classifiers)
    return out
