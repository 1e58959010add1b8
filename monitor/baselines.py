"""Baselines: what is normal for a trunk at this time, and thresholds relative to it.

A rule with ``compare:`` (:mod:`monitor.config.compare`) is evaluated like any other
rule over its window; then its baseline, the same statistic over an earlier range, turns
the relative thresholds (``1.5x``, ``+500ms``) into absolute ones for this evaluation
only. The observation then carries a copy of the rule with those absolute thresholds, so
the alert engine decides, escalates and resolves as for a fixed rule, and every alert
shows the baseline beside the value.

Ranges, for a rule window ``w`` ending at ``now``:

- ``previous D``: ``[now - w - D, now - w)``, the time just before the window.
- ``same time D``: ``[now - D - w, now - D)``, the same window a day (a week...) ago.
- ``median of same hour over Nw``: the same window 1, 2 ... ``7N`` days ago, each day's
  statistic taken alone; the baseline is their median, so one bad day does not move it.

Decisions:

- Too little history is "no data", never a page: fewer than ``min_baseline_calls`` calls
  behind the baseline (summed over the days of a median), or no value in them.
- ``min_value`` is a floor under both thresholds: a value below it never breaches, so a
  fast trunk going from 40 ms to 90 ms does not page.
- Statistics come from the history's log-bucket distributions (:mod:`monitor.history`),
  within about 1% of exact; where the history holds hour rows (older than
  ``history.fine``), a range resolves to the whole hours it starts in.

Pure: a :class:`BaselineSource` gives per-trunk tallies of a time range; the daemon reads
them from the history (:class:`HistoryBaselines`), a backtest from the fetched calls
(:class:`CallBaselines`).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from monitor.config import Rule
from monitor.config.compare import Baseline, Compare, Relative
from monitor.history.rollup import HOUR, MINUTE, Tally, aggregate, floor_to
from monitor.history.store import HistoryStore
from monitor.models import LATENCY_METRICS, Call
from monitor.telepath.parsing import is_in_progress
from monitor.windows import parse_stat

__all__ = [
    "BaselineFigure",
    "BaselineSource",
    "Baselines",
    "CallBaselines",
    "HistoryBaselines",
    "baseline_ranges",
    "baseline_reach",
    "relative_rule",
    "tally_value",
]


class BaselineSource(Protocol):
    """Per-trunk tallies of calls that started in ``[start, end)``; only ``metric``'s
    distribution need be there (None: none; the call counts always are)."""

    def tallies(self, start: datetime, end: datetime, metric: str | None) -> dict[str, Tally]: ...


@dataclass(frozen=True, slots=True)
class BaselineFigure:
    """A baseline for one (rule, group): a value, or None with the reason."""

    value: float | None
    calls: int
    reason: str | None = None


def baseline_ranges(
    baseline: Baseline, window: timedelta, now: datetime
) -> list[tuple[datetime, datetime]]:
    """The ranges a baseline reads, newest first (one, or one per day for a median)."""
    if baseline.kind == "previous":
        return [(now - window - baseline.offset, now - window)]
    if baseline.kind == "same_time":
        return [(now - baseline.offset - window, now - baseline.offset)]
    days = range(1, 7 * baseline.weeks + 1)
    return [(now - timedelta(days=d) - window, now - timedelta(days=d)) for d in days]


def baseline_reach(rule: Rule) -> timedelta:
    """How far before ``now`` a rule's baseline reads (zero without ``compare:``)."""
    if rule.compare is None:
        return timedelta(0)
    return rule.window + rule.compare.baseline.lookback


def tally_value(rule: Rule, tally: Tally) -> float | None:
    """The rule's statistic over a tally, None when it has no such value."""
    if rule.metric == "failed_ratio":
        return None if tally.calls == 0 else tally.count("failed") / tally.calls
    if rule.metric not in LATENCY_METRICS:
        return None
    dist = tally.distribution(rule.metric)
    spec = parse_stat(rule.stat or "avg")
    if spec.kind == "avg":
        return dist.mean()
    if spec.kind == "min":
        return dist.quantile(0.0)
    if spec.kind == "max":
        return dist.quantile(100.0)
    return dist.quantile(spec.percent or 0.0)


def relative_rule(rule: Rule, compare: Compare, baseline: float) -> Rule:
    """``rule`` with absolute thresholds from ``baseline``, floored at ``min_value``."""
    floor = compare.min_value

    def level(relative: Relative | None) -> float | None:
        if relative is None:
            return None
        value = relative.absolute(baseline)
        return value if floor is None else max(value, floor)

    return rule.model_copy(
        update={"warning": level(compare.warning), "critical": level(compare.critical)}
    )


class Baselines:
    """Baseline figures for one evaluation; each range is read once, for every trunk."""

    def __init__(self, source: BaselineSource, now: datetime) -> None:
        self.source = source
        self.now = now
        self._ranges: dict[tuple[datetime, datetime, str | None], dict[str, Tally]] = {}

    def figure(self, rule: Rule, group: str | None) -> BaselineFigure:
        """The baseline of ``rule`` for ``group`` (None: the account) at ``now``."""
        compare = rule.compare
        if compare is None:
            raise ValueError(f"rule {rule.name} has no compare")
        ranges = baseline_ranges(compare.baseline, rule.window, self.now)
        metric = rule.metric if rule.metric in LATENCY_METRICS else None
        parts = [self._tally(group, start, end, metric) for start, end in ranges]
        calls = sum(p.calls for p in parts)
        need = compare.min_baseline_calls
        if calls < need:
            return BaselineFigure(
                None, calls, f"baseline {compare.baseline}: {calls} calls, fewer than "
                f"min_baseline_calls {need}",
            )  # fmt: skip
        if len(parts) == 1:
            value = tally_value(rule, parts[0])
        else:
            # A day with a handful of calls would give a noisy point; each day must hold
            # its share of min_baseline_calls to vote.
            share = max(1, need // len(parts))
            days = [tally_value(rule, p) for p in parts if p.calls >= share]
            points = [v for v in days if v is not None]
            value = statistics.median(points) if points else None
        if value is None:
            return BaselineFigure(None, calls, f"baseline {compare.baseline}: no {rule.metric}")
        return BaselineFigure(value, calls)

    def _tally(
        self, group: str | None, start: datetime, end: datetime, metric: str | None
    ) -> Tally:
        key = (start, end, metric)
        trunks = self._ranges.get(key)
        if trunks is None:
            trunks = self._ranges[key] = self.source.tallies(start, end, metric)
        if group is None:
            return Tally.merged(trunks.values())
        return trunks.get(group) or Tally()


class HistoryBaselines:
    """Baselines read from the history's rollups (the daemon, ``once``)."""

    def __init__(self, history: HistoryStore) -> None:
        self.history = history

    def tallies(self, start: datetime, end: datetime, metric: str | None) -> dict[str, Tally]:
        # Hour rows start on the hour: read from the hour ``start`` falls in, then keep
        # minute rows inside the range and the hour rows whole.
        since = floor_to(start.timestamp(), HOUR)
        rows = self.history.rollups_of(_at(since, start), end, metric)
        out: dict[str, Tally] = {}
        for row in rows:
            if row.seconds == MINUTE and row.start < start.timestamp():
                continue
            out.setdefault(row.trunk_id, Tally()).merge(row.tally)
        return out


class CallBaselines:
    """Baselines from calls in memory (``backtest``, which fetched the baseline's range)."""

    def __init__(self, calls: Iterable[Call]) -> None:
        self._minutes: dict[int, dict[str, Tally]] = {}
        # As in the history: a call still in progress when fetched has partial latencies.
        final = (c for c in calls if not is_in_progress(c))
        for (trunk, minute), tally in aggregate(final).items():
            self._minutes.setdefault(minute, {})[trunk] = tally

    def tallies(self, start: datetime, end: datetime, metric: str | None) -> dict[str, Tally]:
        out: dict[str, Tally] = {}
        first = floor_to(start.timestamp(), MINUTE)
        if first < start.timestamp():
            first += MINUTE
        for minute in range(first, int(end.timestamp()), MINUTE):
            for trunk, tally in self._minutes.get(minute, {}).items():
                out.setdefault(trunk, Tally()).merge(tally)
        return out


def _at(epoch: int, like: datetime) -> datetime:
    return datetime.fromtimestamp(epoch, like.tzinfo)
