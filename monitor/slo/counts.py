"""Good and total calls of an SLO, their per-minute counts, burn rates and budget.

Pure: no I/O, no clock. Each SLO adds two exact counters to the history's minute rollups
(:mod:`monitor.history`), written in the transaction that stores the calls, so a restart
neither loses nor double-counts a call, and a 28-day period is read back from the DB.

- A call *counts* when its status is one of the SLO's ``status`` (any status when left
  out). A counted call is *good* when its latency meets ``good``; a counted call without
  that latency (the AI never answered) is bad.
- The counter names carry a digest of the definition, so changing what "good" means
  starts new counts instead of mixing two definitions. The trunk selection is applied on
  read, so changing it re-reads the same counts.
- Burn rate: the error ratio over a window divided by the error budget (``1 -
  objective``); 1 spends the budget exactly over the period. A window without counted
  calls burns nothing (0), as ``rate()`` over idle counters gives no alert.
- Budget remaining: ``1 - errors / (total * (1 - objective))`` over the period; 1 with no
  calls, negative once overspent.
- A window ``[now - w, now)`` takes whole rows: every row starting at or after the minute
  (hour, for downsampled rows) in which it begins.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Final

from monitor.config import Slo
from monitor.models import Call

__all__ = [
    "CountRow",
    "Counts",
    "SloFigures",
    "budget_remaining",
    "burn_rate",
    "classifiers",
    "counter_names",
    "figures",
    "is_counted",
    "is_good",
    "windows_of",
]

#: One history row of counts: (trunk, start epoch seconds, row length seconds, counters).
CountRow = tuple[str, int, int, Mapping[str, int]]
_PREFIX: Final = "slo:"


@dataclass(frozen=True, slots=True)
class Counts:
    """Counted calls and the good ones among them."""

    good: int = 0
    total: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.good + other.good, self.total + other.total)

    @property
    def bad(self) -> int:
        return self.total - self.good

    @property
    def attainment(self) -> float | None:
        """The share of good calls, None without calls."""
        return None if self.total == 0 else self.good / self.total


def counter_names(slo: Slo) -> tuple[str, str]:
    """The history counter names of (good, total) for this SLO's definition."""
    definition = {"good": slo.good.model_dump(), "status": slo.status}
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:8]
    base = f"{_PREFIX}{slo.name}:{digest}"
    return f"{base}:good", f"{base}:total"


def is_counted(slo: Slo, call: Call) -> bool:
    return slo.status is None or call.status in slo.status


def is_good(slo: Slo, call: Call) -> bool:
    """Counted and fast enough (a missing latency is not good)."""
    if not is_counted(slo, call):
        return False
    value = call.latency(slo.good.metric)
    return value is not None and slo.good.holds(value)


def classifiers(slos: Iterable[Slo]) -> dict[str, Callable[[Call], bool]]:
    """The history's named counters for every SLO (``StateStore.rollup_counters``)."""
    out: dict[str, Callable[[Call], bool]] = {}
    for slo in slos:
        good, total = counter_names(slo)
        out[good] = partial(is_good, slo)
        out[total] = partial(is_counted, slo)
    return out


def burn_rate(counts: Counts, objective: float) -> float:
    if counts.total == 0:
        return 0.0
    return (counts.bad / counts.total) / (1 - objective)


def budget_remaining(counts: Counts, objective: float) -> float:
    if counts.total == 0:
        return 1.0
    return 1 - counts.bad / (counts.total * (1 - objective))


def windows_of(slo: Slo) -> list[timedelta]:
    """Every window the SLO needs, shortest first, its period included."""
    spans = {slo.period}
    for alert in slo.alerts:
        spans.update((alert.long, alert.short))
    return sorted(spans)


@dataclass(frozen=True)
class SloFigures:
    """An SLO for one group (a trunk, or None account-wide) at one time."""

    slo: Slo
    group: str | None
    now: datetime
    #: Counts per window (every one of :func:`windows_of`, the period included).
    counts: dict[timedelta, Counts] = field(default_factory=dict)

    @property
    def period(self) -> Counts:
        return self.counts.get(self.slo.period, Counts())

    @property
    def budget_remaining(self) -> float:
        return budget_remaining(self.period, self.slo.objective)

    def burn_rate(self, window: timedelta) -> float:
        return burn_rate(self.counts.get(window, Counts()), self.slo.objective)


def figures(
    slo: Slo, rows: Iterable[CountRow], now: datetime, groups: Iterable[str] = ()
) -> list[SloFigures]:
    """The SLO's figures at ``now`` from history rows, per group (sorted).

    Args:
        rows: count rows covering at least the period before ``now``.
        groups: trunks to show even without counts (known trunks); per-trunk only.
    """
    good_name, total_name = counter_names(slo)
    spans = windows_of(slo)
    cut = now.timestamp()
    per: dict[str | None, dict[timedelta, Counts]] = {}
    if slo.per == "account":
        per[None] = {}
    else:
        wanted = slo.trunks if slo.trunks is not None else groups
        for trunk in wanted:
            if slo.counts(trunk):
                per[trunk] = {}
    for trunk, start, seconds, counters in rows:
        if not slo.counts(trunk) or start >= cut:
            continue
        row = Counts(int(counters.get(good_name, 0)), int(counters.get(total_name, 0)))
        if row.total == 0:
            continue
        group = None if slo.per == "account" else trunk
        into = per.setdefault(group, {})
        for span in spans:
            begin = cut - span.total_seconds()
            if start >= begin - begin % seconds:
                into[span] = into.get(span, Counts()) + row
    return [
        SloFigures(slo, group, now, {span: counts.get(span, Counts()) for span in spans})
        for group, counts in sorted(per.items(), key=lambda kv: kv[0] or "")
    ]
