"""Trends on the status page: each trunk's last hour and a 24-hour sparkline.

:func:`trend_rows` reads the rollups into plain :class:`TrendRow` records (worst first:
highest p95 total latency over the last hour, then highest failed share);
:func:`render_trends` turns them into an HTML section with inline SVG sparklines (no
script, nothing external, so the page's CSP holds). The sparkline is the hourly p95 of
the total latency over the last 24 hours, from the rollups.

Reading 24 hours of minute rows of 1,000 trunks on every page load would decode about
1.4 million rows; :class:`TrendCache` keeps the per-hour figures of hours that are over
(and settled: past ``SETTLED`` ago), so a page load reads only the current hour.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from monitor.history.rollup import HOUR, Tally, floor_to
from monitor.history.store import HistoryStore
from monitor.models import LATENCY_METRICS
from monitor.reports.render import SHORT

__all__ = ["TrendCache", "TrendRow", "render_trends", "trend_rows"]

#: An hour is cached once it ended this long ago (calls are listed when they end).
SETTLED: Final = timedelta(minutes=15)
HOURS: Final = 24


@dataclass(frozen=True, slots=True)
class TrendRow:
    """One trunk on the status page."""

    trunk_id: str
    name: str | None
    calls: int
    failed_share: float | None
    p95: Mapping[str, float | None]
    #: Hourly p95 of the total latency, oldest first, None for an hour without calls.
    spark: tuple[float | None, ...]


class TrendCache:
    """Per-hour p95 total latency per trunk, for hours that are over."""

    def __init__(self) -> None:
        self._hours: dict[int, dict[str, float | None]] = {}
        self._lock = threading.Lock()

    def hour(self, history: HistoryStore, start: int, now: datetime) -> dict[str, float | None]:
        with self._lock:
            cached = self._hours.get(start)
        if cached is not None:
            return cached
        tallies = history.by_trunk(_at(start, now), _at(start + HOUR, now))
        figures = {
            t: tally.distribution("total_latency_ms").quantile(95.0) for t, tally in tallies.items()
        }
        if start + HOUR <= (now - SETTLED).timestamp():
            with self._lock:
                self._hours[start] = figures
                for old in [h for h in self._hours if h < start - HOURS * HOUR]:
                    del self._hours[old]
        return figures


def trend_rows(
    history: HistoryStore,
    now: datetime,
    cache: TrendCache,
    names: Mapping[str, str] | None = None,
) -> tuple[TrendRow, ...]:
    """Every trunk seen in the last 24 hours, worst first."""
    current = floor_to(now.timestamp(), HOUR)
    hours = [current - HOUR * i for i in range(HOURS - 1, -1, -1)]
    per_hour = [cache.hour(history, h, now) for h in hours]
    last = history.by_trunk(now - timedelta(hours=1), now)
    trunks = set(last).union(*per_hour)
    rows = []
    for trunk in trunks:
        tally = last.get(trunk) or Tally()
        calls = tally.calls
        rows.append(
            TrendRow(
                trunk_id=trunk,
                name=(names or {}).get(trunk),
                calls=calls,
                failed_share=tally.count("failed") / calls if calls else None,
                p95={m: tally.distribution(m).quantile(95.0) for m in LATENCY_METRICS},
                spark=tuple(hour.get(trunk) for hour in per_hour),
            )
        )
    return tuple(sorted(rows, key=_worst_first))


def _worst_first(row: TrendRow) -> tuple[float, float, str]:
    p95 = row.p95["total_latency_ms"]
    return (-(p95 if p95 is not None else -1.0), -(row.failed_share or 0.0), row.trunk_id)


def _at(epoch: int, like: datetime) -> datetime:
    return datetime.fromtimestamp(epoch, like.tzinfo)


# --- HTML --------------------------------------------------------------------------------


def render_trends(rows: Sequence[TrendRow]) -> str:
    """The trends section's body: a table, one row per trunk, worst first."""
    if not rows:
        return '<p class="muted">No calls in the last 24 hours yet.</p>'
    heads = ["Trunk", "Calls (1h)", "Failed (1h)"]
    heads += [f"p95 {SHORT[m]} (1h)" for m in LATENCY_METRICS] + ["p95 total, 24h"]
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in heads)
    body = []
    for row in rows:
        label = row.trunk_id if row.name is None else f"{row.name} ({row.trunk_id})"
        cells = [
            (heads[0], f"<code>{_e(label)}</code>"),
            (heads[1], f"{row.calls:,}"),
            (heads[2], "—" if row.failed_share is None else f"{row.failed_share * 100:.1f}%"),
        ]
        cells += [(heads[3 + i], _ms(row.p95[m])) for i, m in enumerate(LATENCY_METRICS)]
        cells.append((heads[-1], sparkline(row.spark, row.trunk_id)))
        body.append(
            '<tr class="trend">'
            + "".join(f'<td data-label="{_e(h)}">{v}</td>' for h, v in cells)
            + "</tr>"
        )
    return (
        '<table class="stack trends">\n<thead><tr>'
        + head
        + "</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody>\n</table>"
    )


def sparkline(
    values: Sequence[float | None], label: str, width: int = 120, height: int = 24
) -> str:
    """A small inline SVG line; gaps where an hour had no calls."""
    known = [v for v in values if v is not None]
    top = max(known, default=1.0) or 1.0
    step = width / max(len(values) - 1, 1)
    parts, pen_down = [], False
    for i, value in enumerate(values):
        if value is None:
            pen_down = False
            continue
        y = height - 2 - (value / top) * (height - 4)
        parts.append(f"{'L' if pen_down else 'M'}{i * step:.1f},{y:.1f}")
        pen_down = True
    peak = "no calls" if not known else f"peak {top:,.0f} ms"
    return (
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(label)}: {peak}">'
        f'<path d="{" ".join(parts)}" fill="none" stroke="currentColor" stroke-width="1.5"/>'
        "</svg>"
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
