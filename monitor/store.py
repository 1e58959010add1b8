"""Durable state in SQLite: the only module with SQL.

What survives a restart: the sync watermark and the recent calls (so windows refill
without re-reading the API and no call is counted twice). Later concerns (alert
states, the notification outbox) add their tables here, and a tick commits all of
its changes in one transaction.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from monitor.errors import MonitorError
from monitor.models import Call

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    id          TEXT PRIMARY KEY,
    trunk_id    TEXT NOT NULL,
    status      TEXT NOT NULL,
    start_ts    REAL NOT NULL,
    end_ts      REAL,
    duration    REAL,
    ai_ms       REAL,
    carrier_ms  REAL,
    gateway_ms  REAL
);
CREATE INDEX IF NOT EXISTS calls_by_start ON calls (start_ts);
CREATE TABLE IF NOT EXISTS alert_states (
    rule   TEXT NOT NULL,
    grp    TEXT NOT NULL,
    state  TEXT NOT NULL,
    PRIMARY KEY (rule, grp)
);
"""


class StateError(MonitorError):
    """The state DB cannot be opened or has an unknown layout."""

    exit_code = 2


class StateStore:
    """One SQLite file, one connection, guarded by a lock (the scheduler and the HTTP
    server run on other threads)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=10
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"TELEPATH_STATE_DB {self.path} cannot be used as the state database: {exc}"
            ) from None
        self._lock = threading.RLock()

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise StateError(
                f"TELEPATH_STATE_DB {self.path} was written by a newer telepath-monitor "
                f"(schema {row[0]}, this version reads {SCHEMA_VERSION})"
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside commit together or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # --- sync ------------------------------------------------------------------------------

    def load_watermark(self) -> datetime | None:
        """Newest call start time fully synced, or None before the first sync."""
        value = self.get_meta("watermark")
        return None if value is None else datetime.fromtimestamp(float(value), UTC)

    def save_watermark(self, watermark: datetime) -> None:
        self.set_meta("watermark", repr(watermark.timestamp()))

    def add_calls(self, calls: Sequence[Call]) -> None:
        """Store calls; one already stored (same id) is left as it was."""
        rows = [
            (
                c.id,
                c.trunk_id,
                c.status,
                c.start_time.timestamp(),
                c.end_time.timestamp() if c.end_time is not None else None,
                c.duration_seconds,
                c.ai_latency_ms,
                c.carrier_lag_ms,
                c.gateway_processing_ms,
            )
            for c in calls
        ]
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def load_calls(self) -> list[Call]:
        """Every stored call, oldest start first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM calls ORDER BY start_ts, id").fetchall()
        return [
            Call(
                id=row[0],
                trunk_id=row[1],
                status=row[2],
                start_time=datetime.fromtimestamp(row[3], UTC),
                end_time=None if row[4] is None else datetime.fromtimestamp(row[4], UTC),
                duration_seconds=row[5],
                ai_latency_ms=row[6],
                carrier_lag_ms=row[7],
                gateway_processing_ms=row[8],
            )
            for row in rows
        ]

    def count_calls(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM calls").fetchone()
        return int(count)

    def prune_calls(self, *, started_before: datetime, finished_before: datetime) -> int:
        """Forget calls that are out of every window and out of the re-read overlap."""
        start, finish = started_before.timestamp(), finished_before.timestamp()
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM calls WHERE start_ts < ? AND COALESCE(end_ts, start_ts + "
                "COALESCE(duration, 0)) < ?",
                (start, finish),
            )
        return cursor.rowcount

    # --- alert states ------------------------------------------------------------------

    def save_alert_states(self, states: Sequence[Mapping[str, object]]) -> None:
        """Replace every stored alert state with these (``AlertState.to_dict`` forms)."""
        rows = [
            (str(state["rule"]), str(state.get("group") or ""), json.dumps(state, sort_keys=True))
            for state in states
        ]
        with self.transaction() as db:
            db.execute("DELETE FROM alert_states")
            db.executemany("INSERT INTO alert_states VALUES (?, ?, ?)", rows)

    def load_alert_states(self) -> list[dict[str, object]]:
        """Stored alert states; a row that is not valid JSON is skipped (and said so)."""
        with self._lock:
            rows = self._db.execute("SELECT rule, grp, state FROM alert_states").fetchall()
        states: list[dict[str, object]] = []
        for rule, group, text in rows:
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                log.warning("ignoring a damaged stored alert state for %s/%s", rule, group)
                continue
            if isinstance(value, dict):
                states.append(value)
        return states
