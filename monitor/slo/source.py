"""The SLO counts read back from the history's rollups in the state DB.

Only the ``counters`` column is read (no latency blobs); minute rows and the hour rows
they were downsampled into both count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from monitor.config import Slo
from monitor.history.rollup import HOUR, MINUTE, floor_to
from monitor.history.store import Transactional
from monitor.slo.counts import CountRow, Counts, SloFigures, counter_names, windows_of

__all__ = ["count_rows", "read_figures"]


def count_rows(store: Transactional, start: datetime, end: datetime) -> list[CountRow]:
    """Rows with SLO counters starting in ``[start, end)``, oldest first (for
    :func:`~monitor.slo.counts.figures`; :func:`read_figures` sums in SQL instead)."""
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
    """Every SLO's figures at ``now``, per group, in config order.

    Summed in SQL, one query per SLO and window (SQLite parses the counters), the same
    rows :func:`~monitor.slo.counts.figures` takes: each evaluation pays for this.
    """
    known = sorted(set(groups))
    out: list[SloFigures] = []
    cut = now.timestamp()
    with store.transaction() as db:
        for slo in slos:
            good, total = (f'$."{name}"' for name in counter_names(slo))
            per: dict[str | None, dict[timedelta, Counts]] = {}
            if slo.per == "account":
                per[None] = {}
            else:
                for trunk in slo.trunks if slo.trunks is not None else known:
                    if slo.counts(trunk):
                        per[trunk] = {}
            spans = windows_of(slo)
            for span in spans:
                begin = cut - span.total_seconds()
                rows = db.execute(
                    "SELECT trunk_id, SUM(json_extract(counters, ?)), "
                    "SUM(json_extract(counters, ?)) FROM rollups "
                    "WHERE start < ? AND ((res = ? AND start >= ?) OR (res = ? AND start >= ?)) "
                    "AND counters IS NOT NULL GROUP BY trunk_id",
                    (
                        good,
                        total,
                        cut,
                        MINUTE,
                        floor_to(begin, MINUTE),
                        HOUR,
                        floor_to(begin, HOUR),
                    ),
                ).fetchall()
                for trunk, n_good, n_total in rows:
                    if not n_total or not slo.counts(str(trunk)):
                        continue
                    group = None if slo.per == "account" else str(trunk)
                    into = per.setdefault(group, {})
                    into[span] = into.get(span, Counts()) + Counts(int(n_good or 0), int(n_total))
            out += [
                SloFigures(slo, group, now, {span: counts.get(span, Counts()) for span in spans})
                for group, counts in sorted(per.items(), key=lambda kv: kv[0] or "")
            ]
    return out
