"""Trends on the status page: each trunk's last hour and a 24-hour sparkline.

:func:`trend_rows` reads the rollups into plain :class:`TrendRow` records (worst first:
highest p95 total latency over the last hour, then highest failed share);
:func:`render_trends` turns them into an HTML section with inline SVG sparklines (no
script, nothing external, so the page's CSP holds). The sparkline is the hourly p95 of
the total latency over the last 24 hours, from the rollups.

Reading 24 hours of minute rows of 1,000 trunks on every page load would decode about
1.4 million rows; :class:`TrendCache` keeps what settled slots and hours contribute, so
a page load reads only the last ``SETTLED`` minutes. The "last hour" is the settled
5-minute slots of the past hour plus that tail (55 to 60 minutes).
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
from monitor.reports.words import SHORT, ms

__all__ = ["TrendCache", "TrendRow", "render_trends", "trend_rows"]

#: A slot or hour is cached once it ended this long ago (calls are listed when they end).
SETTLED: Final = timedelta(minutes=15)
#: The "last hour" is merged from 5-minute slots.
SLOT: Final = 300
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
    """What the trends need from hours and minutes that are over, kept in memory.

    - per settled 5-minute slot of the last hour, each trunk's tally (the "last hour"
      figures merge these with the unsettled tail, read on each page load);
    - per settled hour of the last 24, each trunk's p95 total latency (the sparkline).

    :meth:`refresh` fills them: every slot of the last hour that is missing, and at
    most ``hours`` missing hours, newest first (the history job runs it every minute
    with a small budget, so a restart with 1,000 trunks fills the sparklines over a
    few minutes in the background instead of on one page load).
    """

    def __init__(self) -> None:
        self._slots: dict[int, dict[str, Tally]] = {}
        self._hours: dict[int, dict[str, float | None]] = {}
        self._lock = threading.Lock()

    def refresh(self, history: HistoryStore, now: datetime, *, hours: int = 0) -> None:
        settled = floor_to((now - SETTLED).timestamp(), SLOT)
        first_slot = floor_to(now.timestamp() - HOUR, SLOT)
        with self._lock:
            missing = [s for s in range(first_slot, settled, SLOT) if s not in self._slots]
        if missing:
            found: dict[int, dict[str, Tally]] = {s: {} for s in missing}
            for row in history.rollups(_at(missing[0], now), _at(missing[-1] + SLOT, now)):
                slot = found.get(floor_to(row.start, SLOT))
                if slot is not None:
                    slot.setdefault(row.trunk_id, Tally()).merge(row.tally)
            with self._lock:
                self._slots.update(found)
        current = floor_to(now.timestamp(), HOUR)
        wanted = [current - HOUR * i for i in range(1, HOURS)]
        for start in [h for h in wanted if h + HOUR <= settled and h not in self._hours][:hours]:
            tallies = history.by_trunk(_at(start, now), _at(start + HOUR, now))
            p95 = {t: x.distribution("total_latency_ms").quantile(95.0) for t, x in tallies.items()}
            with self._lock:
                self._hours[start] = p95
        with self._lock:
            for old in [s for s in self._slots if s < first_slot]:
                del self._slots[old]
            for old in [h for h in self._hours if h < current - HOURS * HOUR]:
                del self._hours[old]

    def slots(self, start: int, end: int) -> list[dict[str, Tally]]:
        with self._lock:
            return [self._slots[s] for s in range(start, end, SLOT) if s in self._slots]

    def hour(self, start: int) -> dict[str, float | None] | None:
        with self._lock:
            return self._hours.get(start)


def trend_rows(
    history: HistoryStore,
    now: datetime,
    cache: TrendCache,
    names: Mapping[str, str] | None = None,
) -> tuple[TrendRow, ...]:
    """Every trunk seen in the last 24 hours, worst first.

    Reads only the unsettled tail (the last ``SETTLED`` or so) from the state DB; the
    rest comes from ``cache``, refreshed here for the last hour's slots.
    """
    cache.refresh(history, now)
    settled = floor_to((now - SETTLED).timestamp(), SLOT)
    first_slot = floor_to(now.timestamp() - HOUR, SLOT)
    current = floor_to(now.timestamp(), HOUR)
    tail: dict[int, dict[str, Tally]] = {}
    for row in history.rollups(_at(settled, now), now + timedelta(minutes=1)):
        tail.setdefault(floor_to(row.start, SLOT), {}).setdefault(row.trunk_id, Tally()).merge(
            row.tally
        )
    recent = cache.slots(first_slot, settled) + list(tail.values())
    last = _merge(recent)
    this_hour = _merge(cache.slots(current, settled) + list(tail.values()))
    spark_hours: list[dict[str, float | None]] = [
        cache.hour(current - HOUR * i) or {} for i in range(HOURS - 1, 0, -1)
    ]
    spark_hours.append(
        {t: x.distribution("total_latency_ms").quantile(95.0) for t, x in this_hour.items()}
    )
    trunks = set(last).union(*spark_hours)
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
                spark=tuple(hour.get(trunk) for hour in spark_hours),
            )
        )
    return tuple(sorted(rows, key=_worst_first))


def _merge(slots: Sequence[Mapping[str, Tally]]) -> dict[str, Tally]:
    out: dict[str, Tally] = {}
    for slot in slots:
        for trunk, tally in slot.items():
            out.setdefault(trunk, Tally()).merge(tally)
    return out


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
        cells += [(heads[3 + i], ms(row.p95[m])) for i, m in enumerate(LATENCY_METRICS)]
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


def _e(text: str) -> str:
    return html.escape(text, quote=True)
