"""The history's SQL: rollup rows, covered ranges, alert events and report runs.

Everything lives in the state DB beside the calls, on the same connection. Rollups are
written by :func:`record_calls` inside the transaction that stores the calls
(``StateStore.add_calls``), so a call is in the history exactly when it is stored: a
kill can neither count a call twice nor lose it (the sync re-reads what was not
committed, and the calls table tells which calls were).

Tables:

- ``rollups``: one row per (resolution, start, trunk); 60-second rows for the last
  ``history.fine``, then 3600-second rows (:func:`downsample`), dropped after
  ``history.keep`` (:func:`drop_older`). Keyed by time first, so a range over all
  trunks (the status page, a report) is one index range.
- ``history_covered``: time ranges of call starts the daemon has read, merged; a report
  period outside them is not reported as if it were quiet.
- ``history_alerts``: each alert transition (firing, resolved...), for "alerts fired
  and time spent firing".
- ``report_runs``: each scheduled report period once handled, so it is sent once.

Reads merge rows into :class:`~monitor.history.rollup.Tally` values in Python.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from monitor.history.buckets import Distribution
from monitor.history.rollup import HOUR, MINUTE, Classifiers, Rollup, Tally, aggregate, floor_to
from monitor.models import LATENCY_METRICS, Call


class Transactional(Protocol):
    """What the history needs of the state DB (``monitor.store.StateStore``): one
    transaction at a time on its connection."""

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...


__all__ = [
    "AlertEvent",
    "HistoryStore",
    "create_schema",
    "record_calls",
]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS rollups (
    res        INTEGER NOT NULL,
    start      INTEGER NOT NULL,
    trunk_id   TEXT NOT NULL,
    statuses   TEXT NOT NULL,
    duration   REAL NOT NULL,
    ai         BLOB,
    carrier    BLOB,
    gateway    BLOB,
    total      BLOB,
    counters   TEXT,
    PRIMARY KEY (res, start, trunk_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_covered (
    start  REAL PRIMARY KEY,
    end    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS history_alerts (
    alert_id  TEXT NOT NULL,
    kind      TEXT NOT NULL,
    at        REAL NOT NULL,
    rule      TEXT NOT NULL,
    grp       TEXT NOT NULL,
    severity  TEXT,
    PRIMARY KEY (alert_id, kind, at)
);
CREATE TABLE IF NOT EXISTS report_runs (
    name          TEXT NOT NULL,
    period_start  REAL NOT NULL,
    period_end    REAL NOT NULL,
    outcome       TEXT NOT NULL,
    at            REAL NOT NULL,
    PRIMARY KEY (name, period_start)
);
"""
#: Blob column per latency metric, in :data:`~monitor.models.LATENCY_METRICS` order.
_COLUMNS: Final = dict(zip(LATENCY_METRICS, ("ai", "carrier", "gateway", "total"), strict=True))
_SELECT: Final = (
    "SELECT res, start, trunk_id, statuses, duration, ai, carrier, gateway, total, counters"
)


def create_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def record_calls(
    db: sqlite3.Connection, calls: Sequence[Call], classifiers: Classifiers | None = None
) -> int:
    """Add the calls not yet in the ``calls`` table to the minute rollups; returns how many.

    Call it inside the transaction that stores the calls, before they are inserted.
    """
    known: set[str] = set()
    ids = [c.id for c in calls]
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        known.update(r[0] for r in db.execute(f"SELECT id FROM calls WHERE id IN ({marks})", chunk))  # noqa: S608 - only placeholders
    fresh: dict[str, Call] = {}
    for call in calls:
        if call.id not in known:
            fresh.setdefault(call.id, call)
    _add(db, MINUTE, aggregate(fresh.values(), classifiers))
    return len(fresh)


def _add(db: sqlite3.Connection, res: int, tallies: dict[tuple[str, int], Tally]) -> None:
    for (trunk, start), tally in tallies.items():
        row = db.execute(
            f"{_SELECT} FROM rollups WHERE res = ? AND start = ? AND trunk_id = ?",
            (res, start, trunk),
        ).fetchone()
        if row is not None:
            stored = _rollup(row).tally
            stored.merge(tally)
            tally = stored
        db.execute(
            "INSERT OR REPLACE INTO rollups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (res, start, trunk, *_columns(tally)),
        )


def _columns(tally: Tally) -> tuple[object, ...]:
    blobs = [
        tally.latency[m].encode() if m in tally.latency and tally.latency[m].count else None
        for m in LATENCY_METRICS
    ]
    counters = json.dumps(tally.counters, sort_keys=True) if tally.counters else None
    return (json.dumps(tally.statuses, sort_keys=True), tally.duration_sum, *blobs, counters)


def _rollup(row: Sequence[object]) -> Rollup:
    latency = {
        metric: Distribution.decode(blob)
        for metric, blob in zip(LATENCY_METRICS, row[5:9], strict=True)
        if isinstance(blob, bytes)
    }
    counters = json.loads(str(row[9])) if row[9] is not None else {}
    tally = Tally(json.loads(str(row[3])), float(str(row[4])), latency, counters)
    return Rollup(str(row[2]), int(str(row[1])), int(str(row[0])), tally)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert transition as the history keeps it."""

    alert_id: str
    kind: str  # firing | escalated | deescalated | repeat | resolved
    at: datetime
    rule: str
    group: str | None
    severity: str | None


class HistoryStore:
    """The history's reads and housekeeping, on a :class:`~monitor.store.StateStore`."""

    def __init__(self, store: Transactional) -> None:
        self.store = store

    # --- rollups ---------------------------------------------------------------------------

    def rollups(
        self, start: datetime, end: datetime, trunks: Iterable[str] | None = None
    ) -> list[Rollup]:
        """Rows of either resolution starting in ``[start, end)``, oldest first.

        Hour rows are included when their hour starts in the range: ranges in the
        downsampled past resolve to whole hours.
        """
        wanted = None if trunks is None else set(trunks)
        with self.store.transaction() as db:
            rows = db.execute(
                f"{_SELECT} FROM rollups WHERE res IN (?, ?) AND start >= ? AND start < ? "
                "ORDER BY start, trunk_id",
                (MINUTE, HOUR, start.timestamp(), end.timestamp()),
            ).fetchall()
        return [_rollup(row) for row in rows if wanted is None or str(row[2]) in wanted]

    def by_trunk(
        self, start: datetime, end: datetime, trunks: Iterable[str] | None = None
    ) -> dict[str, Tally]:
        """Each trunk's tally over the range."""
        out: dict[str, Tally] = {}
        for row in self.rollups(start, end, trunks):
            out.setdefault(row.trunk_id, Tally()).merge(row.tally)
        return out

    def series(
        self, start: datetime, end: datetime, step: int, trunks: Iterable[str] | None = None
    ) -> dict[str, dict[int, Tally]]:
        """Per trunk, tallies per ``step`` seconds (bucket start epoch -> tally)."""
        out: dict[str, dict[int, Tally]] = {}
        for row in self.rollups(start, end, trunks):
            slot = floor_to(row.start, step)
            out.setdefault(row.trunk_id, {}).setdefault(slot, Tally()).merge(row.tally)
        return out

    def row_count(self) -> int:
        with self.store.transaction() as db:
            (n,) = db.execute("SELECT COUNT(*) FROM rollups").fetchone()
        return int(n)

    # --- housekeeping ----------------------------------------------------------------------

    def downsample(self, before: datetime) -> int:
        """Merge minute rows of the hours ending by ``before`` into hour rows; returns
        how many minute rows went. One transaction per hour, so a kill loses nothing."""
        limit = floor_to(before.timestamp(), HOUR)
        merged = 0
        while True:
            with self.store.transaction() as db:
                first = db.execute(
                    "SELECT MIN(start) FROM rollups WHERE res = ? AND start < ?", (MINUTE, limit)
                ).fetchone()[0]
                if first is None:
                    return merged
                hour = floor_to(int(first), HOUR)
                rows = db.execute(
                    f"{_SELECT} FROM rollups WHERE res = ? AND start >= ? AND start < ?",
                    (MINUTE, hour, hour + HOUR),
                ).fetchall()
                tallies: dict[tuple[str, int], Tally] = {}
                for row in rows:
                    minute = _rollup(row)
                    tallies.setdefault((minute.trunk_id, hour), Tally()).merge(minute.tally)
                _add(db, HOUR, tallies)
                db.execute(
                    "DELETE FROM rollups WHERE res = ? AND start >= ? AND start < ?",
                    (MINUTE, hour, hour + HOUR),
                )
                merged += len(rows)

    def drop_older(self, before: datetime) -> int:
        """Forget everything the history holds from before ``before``."""
        cut = before.timestamp()
        with self.store.transaction() as db:
            gone = db.execute("DELETE FROM rollups WHERE start < ?", (cut,)).rowcount
            db.execute("DELETE FROM history_covered WHERE end < ?", (cut,))
            db.execute("UPDATE history_covered SET start = ? WHERE start < ?", (cut, cut))
            db.execute("DELETE FROM history_alerts WHERE at < ?", (cut,))
            db.execute("DELETE FROM report_runs WHERE period_end < ?", (cut,))
        return int(gone)

    # --- coverage --------------------------------------------------------------------------

    def add_covered(self, start: datetime, end: datetime) -> None:
        """Record that every call started in ``[start, end]`` has been read."""
        if end <= start:
            return
        lo, hi = start.timestamp(), end.timestamp()
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT start, end FROM history_covered WHERE start <= ? AND end >= ?", (hi, lo)
            ).fetchall()
            for s, e in rows:
                lo, hi = min(lo, float(s)), max(hi, float(e))
            db.executemany("DELETE FROM history_covered WHERE start = ?", [(r[0],) for r in rows])
            db.execute("INSERT INTO history_covered VALUES (?, ?)", (lo, hi))

    def missing(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The parts of ``[start, end)`` the daemon has not read, oldest first."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT start, end FROM history_covered WHERE start < ? AND end > ? ORDER BY start",
                (end.timestamp(), start.timestamp()),
            ).fetchall()
        gaps: list[tuple[datetime, datetime]] = []
        at = start
        for s, e in rows:
            s_at, e_at = _at(float(s)), _at(float(e))
            if s_at > at:
                gaps.append((at, min(s_at, end)))
            at = max(at, e_at)
        if at < end:
            gaps.append((at, end))
        return gaps

    # --- alerts ----------------------------------------------------------------------------

    def add_alert_events(self, events: Iterable[AlertEvent]) -> None:
        rows = [
            (e.alert_id, e.kind, e.at.timestamp(), e.rule, e.group or "", e.severity)
            for e in events
        ]
        if rows:
            with self.store.transaction() as db:
                db.executemany(
                    "INSERT OR IGNORE INTO history_alerts VALUES (?, ?, ?, ?, ?, ?)", rows
                )

    def alert_events(self, start: datetime, end: datetime) -> list[AlertEvent]:
        """Transitions in ``[start, end)``, plus the last one of each alert before it (an
        alert firing since earlier fires into the range)."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT alert_id, kind, at, rule, grp, severity FROM history_alerts "
                "WHERE at < ? AND (at >= ? OR at = (SELECT MAX(h.at) FROM history_alerts h "
                "WHERE h.alert_id = history_alerts.alert_id AND h.at < ?)) ORDER BY at",
                (end.timestamp(), start.timestamp(), start.timestamp()),
            ).fetchall()
        return [
            AlertEvent(str(r[0]), str(r[1]), _at(float(r[2])), str(r[3]), str(r[4]) or None, r[5])
            for r in rows
        ]

    # --- scheduled reports -----------------------------------------------------------------

    def report_done(self, name: str, period_start: datetime) -> bool:
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT 1 FROM report_runs WHERE name = ? AND period_start = ?",
                (name, period_start.timestamp()),
            ).fetchone()
        return row is not None

    @staticmethod
    def mark_report(
        db: sqlite3.Connection,
        name: str,
        period: tuple[datetime, datetime],
        outcome: str,
        at: datetime,
    ) -> None:
        """Inside the transaction that queues the report's notifications."""
        db.execute(
            "INSERT OR IGNORE INTO report_runs VALUES (?, ?, ?, ?, ?)",
            (name, period[0].timestamp(), period[1].timestamp(), outcome, at.timestamp()),
        )

    def first_seen(self, name: str, now: datetime) -> datetime:
        """When the daemon first ran with report ``name`` configured (now, the first time)."""
        key = f"report_since:{name}"
        with self.store.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return _at(float(row[0]))
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, repr(now.timestamp())))
        return now


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
