"""Backtest results: from the replay's steps to a timeline, a summary per rule and series.

All pure: :func:`build_result` turns the recorded :class:`~monitor.backtest.replay.StepRecord`
list into a :class:`BacktestResult`, which :func:`format_timeline` renders as tables and
:func:`to_json_text` as ``--json``; :mod:`monitor.report` draws its series. The CLI prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from monitor.alerts import Intent
from monitor.backtest.fetch import _iso
from monitor.backtest.replay import StepRecord
from monitor.config import Rule, format_duration
from monitor.notify.document import format_value, unit_of

__all__ = [
    "AlertRow",
    "BacktestResult",
    "RuleSummary",
    "Series",
    "Span",
    "build_result",
    "format_timeline",
    "to_json_text",
    "union_length",
]

#: Intent kinds that wake someone up: counted as pages.
PAGE_KINDS: Final = frozenset({"firing", "escalated", "repeat"})
_DAY: Final = 86400.0

Key = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of time an alert was pending or firing; ``end`` None: still at the end."""

    start: datetime
    end: datetime | None
    severity: str | None = None
    alert_id: str | None = None
    peak: float | None = None


@dataclass
class Series:
    """One (rule, group) over the range: its value at each poll, and when it alerted."""

    rule: Rule
    group: str | None
    points: list[tuple[datetime, float | None]] = field(default_factory=list)
    pending: list[Span] = field(default_factory=list)
    firing: list[Span] = field(default_factory=list)
    #: For a ``compare:`` rule: (time, baseline, lowest threshold set from it) per poll.
    band: list[tuple[datetime, float, float | None]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Whether it was ever pending or firing."""
        return bool(self.pending or self.firing)


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert that would have fired: a line of the timeline."""

    rule: str
    group: str | None
    alert_id: str
    metric: str
    severity: str
    start: datetime
    end: datetime | None
    peak: float | None
    notifications: int
    pages: int
    notifiers: tuple[str, ...]

    def duration(self, range_end: datetime) -> timedelta:
        return (self.end or range_end) - self.start


@dataclass(frozen=True, slots=True)
class RuleSummary:
    """One rule over the whole range."""

    rule: str
    alerts: int
    notifications: int
    pages: int
    pages_per_day: float
    firing: timedelta
    share: float


@dataclass
class BacktestResult:
    """Everything a backtest found; rendered as a table, JSON or an HTML report."""

    start: datetime
    end: datetime
    poll_every: timedelta
    polls: int
    calls: int
    rules: tuple[Rule, ...]
    timeline: list[AlertRow]
    summary: list[RuleSummary]
    series: list[Series]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The same data for scripts: times ISO 8601, durations in seconds."""
        return {
            "range": {
                "from": _iso(self.start),
                "to": _iso(self.end),
                "poll_every_seconds": self.poll_every.total_seconds(),
                "polls": self.polls,
                "calls": self.calls,
            },
            "notes": list(self.notes),
            "rules": [_rule_json(r) for r in self.rules],
            "timeline": [
                {
                    "rule": a.rule,
                    "group": a.group,
                    "alert_id": a.alert_id,
                    "severity": a.severity,
                    "start": _iso(a.start),
                    "end": None if a.end is None else _iso(a.end),
                    "still_firing": a.end is None,
                    "duration_seconds": a.duration(self.end).total_seconds(),
                    "peak": a.peak,
                    "notifications": a.notifications,
                    "pages": a.pages,
                    "notifiers": list(a.notifiers),
                }
                for a in self.timeline
            ],
            "summary": [
                {
                    "rule": s.rule,
                    "alerts": s.alerts,
                    "notifications": s.notifications,
                    "pages": s.pages,
                    "pages_per_day": s.pages_per_day,
                    "firing_seconds": s.firing.total_seconds(),
                    "firing_share": s.share,
                }
                for s in self.summary
            ],
            "series": [
                {
                    "rule": s.rule.name,
                    "group": s.group,
                    "unit": unit_of(s.rule.metric),
                    "op": s.rule.op,
                    "thresholds": {"warning": s.rule.warning, "critical": s.rule.critical},
                    "points": [[_iso(t), v] for t, v in s.points],
                    "baseline": [[_iso(t), b, level] for t, b, level in s.band],
                    "pending": [_span_json(p) for p in s.pending],
                    "firing": [_span_json(f) for f in s.firing],
                }
                for s in self.series
            ],
        }


def _rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "metric": rule.metric,
        "stat": rule.stat,
        "per": rule.per,
        "op": rule.op,
        "warning": rule.warning,
        "critical": rule.critical,
        "window_seconds": rule.window.total_seconds(),
        "for_seconds": rule.for_.total_seconds(),
        "unit": unit_of(rule.metric),
    }


def _span_json(span: Span) -> dict[str, Any]:
    return {
        "start": _iso(span.start),
        "end": None if span.end is None else _iso(span.end),
        "severity": span.severity,
        "alert_id": span.alert_id,
        "peak": span.peak,
    }


def build_result(
    rules: Sequence[Rule],
    steps: Sequence[StepRecord],
    start: datetime,
    end: datetime,
    poll_every: timedelta,
    *,
    calls: int = 0,
    trunks: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> BacktestResult:
    """Timeline, summary and series from the recorded steps; ``trunks`` keeps only those
    groups (and drops account-wide ones)."""
    by_name = {r.name: r for r in rules}
    wanted = set(trunks)

    def keep(rule: str, group: str | None) -> bool:
        return rule in by_name and (not wanted or group in wanted)

    series: dict[Key, Series] = {}
    for step in steps:
        for name, group, value in step.values:
            if keep(name, group):
                s = series.setdefault((name, group), Series(by_name[name], group))
                s.points.append((step.at, value))
        for name, group, base, warning, critical in step.baselines:
            if keep(name, group):
                s = series.setdefault((name, group), Series(by_name[name], group))
                s.band.append((step.at, base, warning if warning is not None else critical))
    _pending_spans(steps, series, keep)
    timeline = _alerts(steps, series, keep)
    for row in timeline:
        s = series.setdefault((row.rule, row.group), Series(by_name[row.rule], row.group))
        s.firing.append(Span(row.start, row.end, row.severity, row.alert_id, row.peak))
    summary = [_summary(rule.name, timeline, start, end) for rule in rules]
    ordered = sorted(series.values(), key=lambda s: (_rule_order(rules, s.rule.name), _g(s.group)))
    return BacktestResult(
        start, end, poll_every, len(steps), calls, tuple(rules), timeline, summary, ordered,
        list(notes),
    )  # fmt: skip


def _rule_order(rules: Sequence[Rule], name: str) -> int:
    return next(i for i, r in enumerate(rules) if r.name == name)


def _g(group: str | None) -> tuple[bool, str]:
    return (group is not None, group or "")


def _pending_spans(
    steps: Sequence[StepRecord], series: dict[Key, Series], keep: Callable[[str, str | None], bool]
) -> None:
    """Pending from the first step an alert is pending to the first step it is not."""
    open_since: dict[Key, tuple[datetime, str | None]] = {}
    for step in steps:
        pending = {(r, g): sev for r, g, state, sev in step.states if state == "pending"}
        for key in list(open_since):
            if key not in pending:
                began, severity = open_since.pop(key)
                if key in series:
                    series[key].pending.append(Span(began, step.at, severity))
        for key, severity in pending.items():
            if key not in open_since and keep(*key):
                open_since[key] = (step.at, severity)
    for key, (began, severity) in open_since.items():
        if key in series:
            series[key].pending.append(Span(began, None, severity))


def _alerts(
    steps: Sequence[StepRecord], series: dict[Key, Series], keep: Callable[[str, str | None], bool]
) -> list[AlertRow]:
    """One row per firing instance, from its intents; the peak from the observed values."""
    intents: dict[str, list[Intent]] = {}
    for step in steps:
        for intent in step.intents:
            if keep(intent.rule.name, intent.group):
                intents.setdefault(intent.alert_id, []).append(intent)
    rows: list[AlertRow] = []
    for alert_id, group in intents.items():
        first, last = group[0], group[-1]
        end = last.at if last.kind == "resolved" else None
        severity = "critical" if any(i.severity == "critical" for i in group) else "warning"
        notifiers = sorted({name for i in group for name in i.notify})
        rule = first.rule
        s = series.get((rule.name, first.group))
        values = [
            v
            for t, v in (s.points if s else [])
            if v is not None and t >= first.at and (end is None or t <= end)
        ]
        peak = _most_severe(rule, values) if values else last.peak_value
        rows.append(
            AlertRow(
                rule=rule.name,
                group=first.group,
                alert_id=alert_id,
                metric=rule.metric,
                severity=severity,
                start=first.at,
                end=end,
                peak=peak,
                notifications=len(group),
                pages=sum(1 for i in group if i.kind in PAGE_KINDS),
                notifiers=tuple(notifiers),
            )
        )
    rows.sort(key=lambda r: (r.start, r.rule, _g(r.group)))
    return rows


def _most_severe(rule: Rule, values: Sequence[float]) -> float:
    return max(values) if rule.op in (">", ">=") else min(values)


def _summary(
    rule: str, timeline: Sequence[AlertRow], start: datetime, end: datetime
) -> RuleSummary:
    rows = [a for a in timeline if a.rule == rule]
    days = (end - start).total_seconds() / _DAY
    pages = sum(a.pages for a in rows)
    firing = union_length([(a.start, a.end or end) for a in rows], start, end)
    return RuleSummary(
        rule=rule,
        alerts=len(rows),
        notifications=sum(a.notifications for a in rows),
        pages=pages,
        pages_per_day=pages / days if days > 0 else 0.0,
        firing=firing,
        share=firing / (end - start) if end > start else 0.0,
    )


def union_length(
    spans: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime
) -> timedelta:
    """Total time covered by ``spans`` within [start, end], overlaps counted once."""
    total = timedelta(0)
    reach: datetime | None = None
    for a, b in sorted((max(a, start), min(b, end)) for a, b in spans):
        if b <= a:
            continue
        if reach is None or a >= reach:
            total += b - a
            reach = b
        elif b > reach:
            total += b - reach
            reach = b
    return total


# --- text (pure) -------------------------------------------------------------------------


def format_timeline(result: BacktestResult) -> list[str]:
    """The timeline and summary tables as lines for people."""
    every = format_duration(result.poll_every)
    lines = [
        f"backtest {_iso(result.start)} .. {_iso(result.end)}: {result.calls:,} calls, "
        f"{result.polls:,} polls every {every}, {_count(len(result.rules), 'rule')}"
    ]
    lines += [f"note: {note}" for note in result.notes]
    lines.append("")
    headers = ["rule", "group", "severity", "start", "end", "duration", "peak", "notifications"]
    rows = [
        [
            a.rule,
            a.group or "account",
            a.severity,
            _iso(a.start),
            _iso(a.end) if a.end else "still firing",
            format_duration(_whole(a.duration(result.end))),
            format_value(a.peak, a.metric),
            f"{a.notifications} ({_count(a.pages, 'page')})",
        ]
        for a in result.timeline
    ]
    lines += _table(headers, rows) if rows else ["no alert would have fired"]
    lines.append("")
    headers = ["rule", "alerts", "notifications", "pages/day", "time firing", "share"]
    rows = [
        [
            s.rule,
            str(s.alerts),
            str(s.notifications),
            f"{s.pages_per_day:.2f}",
            format_duration(_whole(s.firing)),
            f"{s.share:.1%}",
        ]
        for s in result.summary
    ]
    lines += _table(headers, rows) if rows else ["(no rules replayed)"]
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    out = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out


def _whole(value: timedelta) -> timedelta:
    return timedelta(seconds=int(value.total_seconds()))


def to_json_text(result: BacktestResult) -> str:
    """``--json`` output."""
    return json.dumps(result.to_json(), indent=2)
