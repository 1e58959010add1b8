"""A report's figures, from tallies: pure, no I/O.

:func:`compute` takes each trunk's :class:`~monitor.history.rollup.Tally` over the period
(from the rollups, or from calls fetched like ``backtest``), an hourly series, the
previous period's tallies and the alert transitions, and returns a :class:`ReportFigures`
record that every renderer (text, JSON, HTML, Slack, webhook) reads.

Definitions:

- Telepath's own daily report: total calls, connected and failed shares (status
  ``connected`` / ``failed`` among all calls), total duration in hours, average AI latency.
- Percentiles as in :mod:`monitor.windows`, from the rollups' log buckets (within 1%).
- Busiest trunks: most calls. Worst trunks: highest p95 of the total latency (the sum of
  the three components) among trunks with at least ``MIN_CALLS`` calls, then the highest
  failed share.
- Alerts: transitions to firing in the period, and the time any alert spent firing in it
  (per alert, from firing until resolved, clipped to the period).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from monitor.history.rollup import Tally
from monitor.history.store import AlertEvent
from monitor.models import LATENCY_METRICS

__all__ = [
    "PERCENTS",
    "AlertFigures",
    "ComponentFigures",
    "Point",
    "ReportFigures",
    "Totals",
    "TrunkFigures",
    "alert_figures",
    "compute",
    "totals_of",
]

PERCENTS: Final = (50.0, 95.0, 99.0)
#: A trunk needs this many calls to be ranked among the worst.
MIN_CALLS: Final = 10
TOP: Final = 5


@dataclass(frozen=True, slots=True)
class ComponentFigures:
    """One latency metric's figures: calls with a value, average and p50/p95/p99 (ms)."""

    count: int
    avg: float | None
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True, slots=True)
class Totals:
    """The daily-report figures of a set of calls."""

    calls: int
    connected: int
    failed: int
    duration_hours: float
    avg_ai_latency_ms: float | None
    components: Mapping[str, ComponentFigures]

    @property
    def connected_share(self) -> float | None:
        return None if self.calls == 0 else self.connected / self.calls

    @property
    def failed_share(self) -> float | None:
        return None if self.calls == 0 else self.failed / self.calls


@dataclass(frozen=True, slots=True)
class TrunkFigures:
    trunk_id: str
    totals: Totals


@dataclass(frozen=True, slots=True)
class Point:
    """One step of the period's series, account-wide (or over the chosen trunks)."""

    at: datetime
    calls: int
    failed: int
    p95: Mapping[str, float | None]


@dataclass(frozen=True, slots=True)
class AlertFigures:
    fired: int
    firing_seconds: float
    #: (rule, trunk or None, times fired, seconds firing), most firing time first.
    rows: tuple[tuple[str, str | None, int, float], ...] = ()


@dataclass(frozen=True, slots=True)
class ReportFigures:
    """Everything a report shows."""

    start: datetime
    end: datetime
    #: "history" (the daemon's rollups) or "api" (calls fetched for this report).
    source: str
    totals: Totals
    trunks: tuple[TrunkFigures, ...]
    busiest: tuple[str, ...]
    worst: tuple[str, ...]
    series: tuple[Point, ...] = ()
    #: None when unknown (the range was fetched, not watched by the daemon).
    alerts: AlertFigures | None = None
    previous: Totals | None = None
    #: Why there is no comparison, when there is none.
    previous_note: str | None = None
    trunk_filter: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def trunk(self, trunk_id: str) -> TrunkFigures | None:
        return next((t for t in self.trunks if t.trunk_id == trunk_id), None)


def totals_of(tally: Tally) -> Totals:
    components = {}
    for metric in LATENCY_METRICS:
        dist = tally.distribution(metric)
        q = dist.quantiles(PERCENTS)
        components[metric] = ComponentFigures(dist.count, dist.mean(), q[50.0], q[95.0], q[99.0])
    return Totals(
        calls=tally.calls,
        connected=tally.count("connected"),
        failed=tally.count("failed"),
        duration_hours=tally.duration_sum / 3600.0,
        avg_ai_latency_ms=components["ai_latency_ms"].avg,
        components=components,
    )


def compute(
    start: datetime,
    end: datetime,
    by_trunk: Mapping[str, Tally],
    *,
    source: str,
    series: Mapping[int, Tally] | None = None,
    previous: Mapping[str, Tally] | None = None,
    previous_note: str | None = None,
    alerts: Sequence[AlertEvent] | None = None,
    trunk_filter: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> ReportFigures:
    """The figures of ``[start, end)``; see the module docstring for each definition."""
    trunks = tuple(TrunkFigures(t, totals_of(by_trunk[t])) for t in sorted(by_trunk))
    busiest = sorted(trunks, key=lambda t: (-t.totals.calls, t.trunk_id))
    ranked = [t for t in trunks if t.totals.calls >= MIN_CALLS] or list(trunks)
    worst = sorted(ranked, key=_badness, reverse=True)
    points = tuple(
        Point(
            at=datetime.fromtimestamp(at, start.tzinfo),
            calls=tally.calls,
            failed=tally.count("failed"),
            p95={m: tally.distribution(m).quantile(95.0) for m in LATENCY_METRICS},
        )
        for at, tally in sorted((series or {}).items())
    )
    return ReportFigures(
        start=start,
        end=end,
        source=source,
        totals=totals_of(Tally.merged(by_trunk.values())),
        trunks=trunks,
        busiest=tuple(t.trunk_id for t in busiest[:TOP] if t.totals.calls),
        worst=tuple(t.trunk_id for t in worst[:TOP] if t.totals.calls),
        series=points,
        alerts=None if alerts is None else alert_figures(alerts, start, end),
        previous=None if previous is None else totals_of(Tally.merged(previous.values())),
        previous_note=previous_note,
        trunk_filter=tuple(trunk_filter),
        notes=tuple(notes),
    )


def _badness(trunk: TrunkFigures) -> tuple[float, float, str]:
    p95 = trunk.totals.components["total_latency_ms"].p95
    return (p95 if p95 is not None else -1.0, trunk.totals.failed_share or 0.0, trunk.trunk_id)


def alert_figures(events: Sequence[AlertEvent], start: datetime, end: datetime) -> AlertFigures:
    """Times fired and time firing per alert, clipped to ``[start, end)``."""
    by_alert: dict[str, list[AlertEvent]] = {}
    for event in sorted(events, key=lambda e: e.at):
        by_alert.setdefault(event.alert_id, []).append(event)
    rows: dict[tuple[str, str | None], list[float]] = {}
    for history in by_alert.values():
        fired, seconds = 0, 0.0
        since: datetime | None = None
        for event in history:
            if event.kind == "resolved":
                if since is not None:
                    seconds += _clipped(since, event.at, start, end)
                since = None
            elif since is None:  # firing, or a later event of an alert firing before
                since = event.at
                fired += event.kind == "firing" and start <= event.at < end
        if since is not None:
            seconds += _clipped(since, end, start, end)
        last = history[-1]
        row = rows.setdefault((last.rule, last.group), [0, 0.0])
        row[0] += fired
        row[1] += seconds
    ordered = sorted(
        ((rule, group, int(n), s) for (rule, group), (n, s) in rows.items() if n or s),
        key=lambda r: (-r[3], -r[2], r[0], r[1] or ""),
    )
    return AlertFigures(
        fired=sum(r[2] for r in ordered),
        firing_seconds=sum(r[3] for r in ordered),
        rows=tuple(ordered),
    )


def _clipped(a: datetime, b: datetime, start: datetime, end: datetime) -> float:
    return max(0.0, (min(b, end) - max(a, start)) / timedelta(seconds=1))


def to_json(figures: ReportFigures) -> dict[str, Any]:
    """The figures as JSON-safe data (the ``--json`` output and the webhook's ``report``)."""

    def totals(t: Totals) -> dict[str, Any]:
        return {
            "calls": t.calls,
            "connected": t.connected,
            "failed": t.failed,
            "connected_share": t.connected_share,
            "failed_share": t.failed_share,
            "duration_hours": t.duration_hours,
            "avg_ai_latency_ms": t.avg_ai_latency_ms,
            "latency": {
                m: {"count": c.count, "avg": c.avg, "p50": c.p50, "p95": c.p95, "p99": c.p99}
                for m, c in t.components.items()
            },
        }

    alerts = figures.alerts
    return {
        "start": _iso(figures.start),
        "end": _iso(figures.end),
        "source": figures.source,
        "trunk_filter": list(figures.trunk_filter),
        "totals": totals(figures.totals),
        "trunks": {t.trunk_id: totals(t.totals) for t in figures.trunks},
        "busiest": list(figures.busiest),
        "worst": list(figures.worst),
        "alerts": None
        if alerts is None
        else {
            "fired": alerts.fired,
            "firing_seconds": alerts.firing_seconds,
            "by_alert": [
                {"rule": r, "trunk_id": g, "fired": n, "firing_seconds": s}
                for r, g, n, s in alerts.rows
            ],
        },
        "previous": None if figures.previous is None else totals(figures.previous),
        "previous_note": figures.previous_note,
        "series": [
            {"at": _iso(p.at), "calls": p.calls, "failed": p.failed, "p95": dict(p.p95)}
            for p in figures.series
        ],
        "notes": list(figures.notes),
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
