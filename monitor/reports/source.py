"""Where a report's figures come from: the daemon's rollups, or calls fetched for it.

:func:`period_for` turns ``--day``/``--week``/``--from``/``--to`` into a range.
:func:`from_history` builds the figures from the state DB when the daemon read every
call of the range (its covered ranges say so); :func:`from_calls` builds the same
figures from calls fetched like ``backtest``, through the same rollup code, so both
sources agree to the last call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from monitor.errors import SettingsError
from monitor.history.rollup import MINUTE, Tally, aggregate, floor_to
from monitor.history.store import HistoryStore
from monitor.models import Call
from monitor.reports.figures import ReportFigures, compute

__all__ = [
    "describe_missing",
    "from_calls",
    "from_history",
    "period_for",
    "previous_of",
    "series_step",
]


def period_for(
    *, day: str | None, week: str | None, start: datetime | None, end: datetime | None,
    now: datetime,
) -> tuple[datetime, datetime]:  # fmt: skip
    """The range a ``report`` command asks for (UTC days, ISO weeks from Monday).

    ``week`` is ``""`` for the last complete week, else a date inside the wanted week.
    With nothing given: yesterday.

    Raises:
        SettingsError: a malformed date, a range that is empty or not yet over.
    """
    chosen = sum(x is not None for x in (day, week)) + (start is not None or end is not None)
    if chosen > 1:
        raise SettingsError("give one of --day, --week or --from/--to")
    if start is not None or end is not None:
        if start is None:
            raise SettingsError("--to needs --from")
        period = (start, end or now)
    elif week is not None:
        inside = _date(week) if week else (now - timedelta(days=7)).date()
        monday = inside - timedelta(days=inside.weekday())
        first = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        period = (first, first + timedelta(days=7))
    else:
        wanted = _date(day) if day else (now - timedelta(days=1)).date()
        first = datetime(wanted.year, wanted.month, wanted.day, tzinfo=UTC)
        period = (first, first + timedelta(days=1))
    if period[0] >= period[1]:
        raise SettingsError("the report's range is empty: --from must be before --to")
    if period[1] > now:
        raise SettingsError(
            f"the report's range ends {_iso(period[1])}, in the future; a report covers the past"
        )
    return period


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"cannot read the date {text!r}: use YYYY-MM-DD") from None


def previous_of(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The period of the same length just before."""
    return start - (end - start), start


def series_step(start: datetime, end: datetime) -> int:
    """Seconds per chart step: about 24 to 170 points whatever the range."""
    span = (end - start).total_seconds()
    for step in (60, 300, 900, 3600, 21600):
        if span / step <= 200:
            return step
    return 86400


def describe_missing(gaps: Sequence[tuple[datetime, datetime]]) -> str:
    """E.g. ``2026-03-10T00:00Z to 2026-03-10T06:30Z (6h30m)``, joined by commas."""
    from monitor.config import format_duration

    return ", ".join(f"{_iso(a)} to {_iso(b)} ({format_duration(_whole(b - a))})" for a, b in gaps)


def _whole(span: timedelta) -> timedelta:
    return timedelta(seconds=round(span.total_seconds()))


def from_history(
    history: HistoryStore, start: datetime, end: datetime, trunks: Sequence[str] = ()
) -> ReportFigures:
    """Figures from the rollups; the caller checked that ``history.missing`` is empty."""
    wanted = list(trunks) or None
    step = series_step(start, end)
    rows = history.rollups(start, end, wanted)
    by_trunk: dict[str, Tally] = {}
    series: dict[int, Tally] = {}
    for row in rows:
        by_trunk.setdefault(row.trunk_id, Tally()).merge(row.tally)
        series.setdefault(floor_to(row.start, step), Tally()).merge(row.tally)
    prev = previous_of(start, end)
    gaps = history.missing(*prev)
    previous = None if gaps else history.by_trunk(*prev, wanted)
    note = f"the daemon did not read {describe_missing(gaps)}" if gaps else None
    alerts = history.alert_events(start, end)
    if wanted is not None:
        alerts = [a for a in alerts if a.group is None or a.group in wanted]
    return compute(
        start, end, by_trunk, source="history", series=_filled(series, start, end, step),
        previous=previous, previous_note=note, alerts=alerts, trunk_filter=trunks,
    )  # fmt: skip


def from_calls(
    calls: Iterable[Call], start: datetime, end: datetime, trunks: Sequence[str] = ()
) -> ReportFigures:
    """Figures from fetched calls (those of the previous period give the comparison)."""
    wanted = set(trunks)
    step = series_step(start, end)
    prev_start, _ = previous_of(start, end)
    lo, hi, prev_lo = start.timestamp(), end.timestamp(), prev_start.timestamp()
    by_trunk: dict[str, Tally] = {}
    previous: dict[str, Tally] = {}
    series: dict[int, Tally] = {}
    for (trunk, minute), tally in aggregate(
        c for c in calls if not wanted or c.trunk_id in wanted
    ).items():
        if lo <= minute < hi:
            by_trunk.setdefault(trunk, Tally()).merge(tally)
            series.setdefault(floor_to(minute, step), Tally()).merge(tally)
        elif prev_lo <= minute < lo:
            previous.setdefault(trunk, Tally()).merge(tally)
    return compute(
        start, end, by_trunk, source="api", series=_filled(series, start, end, step),
        previous=previous, alerts=None, trunk_filter=trunks,
        notes=("alerts are known only for ranges the daemon watched",),
    )  # fmt: skip


def _filled(
    series: dict[int, Tally], start: datetime, end: datetime, step: int
) -> dict[int, Tally]:
    """Every step of the range, empty ones included (a chart must show a quiet hour)."""
    first = floor_to(start.timestamp(), step)
    return {
        at: series.get(at) or Tally()
        for at in range(first, int(end.timestamp()), max(step, MINUTE))
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
