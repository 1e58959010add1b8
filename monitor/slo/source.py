"""The SLO counts read back from the history's rollups in the state DB.

Only the ``counters`` column is read (no latency blobs), over the longest period of the
configured SLOs; minute rows and the hour rows they were downsampled into both count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from monitor.config import Slo
from monitor.history.rollup import HOUR, floor_to
from monitor.history.store import Transactional
from monitor.slo.counts import CountRow, SloFigures, figures

__all__ = ["count_rows", "read_figures"]


def count_rows(store: Transactional, start: datetime, end: datetime) -> list[CountRow]:
    """Rows with SLO counters starting in ``[start, end)``, oldest first."""
    with store.transaction() as db:
        rows = db.execute(
            "SELECT trunk_id, start, res, counters FROM rollups "
            "WHERE start >= ? AND start < ? AND counters LIKE '%\"slo:%' ORDER BY start",
            (int(start.timestamp()), end.timestamp()),
        ).fetchall()
    out: list[CountRow] = []
    for trunk, at, res, counters in rows:
        parsed = json.loads(str(counters))
        out.append((str(trunk), int(at), int(res), parsed))
    return out


def read_figures(
    store: Transactional, slos: Sequence[Slo], now: datetime, groups: Iterable[str] = ()
) -> list[SloFigures]:
    """Every SLO's figures at ``now``, per group, in config order."""
    if not slos:
        return []
    longest = max(slo.period for slo in slos)
    # From the hour: a window's first hour row may start before the window does.
    start = datetime.fromtimestamp(floor_to((now - longest).timestamp(), HOUR), UTC)
    rows = count_rows(store, start, now)
    known = sorted(set(groups))
    out: list[SloFigures] = []
    for slo in slos:
        out += figures(slo, rows, now, known)
    return out
