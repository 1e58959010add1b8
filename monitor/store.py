"""Durable state in SQLite: the only module with SQL.

What survives a restart: the sync watermark and the recent calls (so windows refill
without re-reading the API and no call is counted twice), alert states, and the
notification outbox. An evaluation commits its alert states and the notifications
they cause in one transaction, so a kill can neither lose a notification nor send one
twice for the same transition.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from monitor.errors import MonitorError
from monitor.history.store import create_schema as create_history_schema
from monitor.history.store import record_calls

if TYPE_CHECKING:
    from monitor.history.rollup import Classifiers
from monitor.models import Call
from monitor.notify.base import Notification
from monitor.quiet import Silence
from monitor.statefile import prepare_state_file
from monitor.trunks import TrunkInfo

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
CREATE TABLE IF NOT EXISTS outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    notifier    TEXT NOT NULL,
    event       TEXT NOT NULL,
    rule        TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_ts  REAL NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_ts     REAL NOT NULL,
    last_error  TEXT,
    done_ts     REAL
);
CREATE INDEX IF NOT EXISTS outbox_by_status ON outbox (status, notifier, seq);
CREATE TABLE IF NOT EXISTS slack_threads (
    notifier  TEXT NOT NULL,
    alert_id  TEXT NOT NULL,
    channel   TEXT NOT NULL,
    ts        TEXT NOT NULL,
    PRIMARY KEY (notifier, alert_id)
);
CREATE TABLE IF NOT EXISTS silences (
    id          TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,
    trunk       TEXT NOT NULL,
    starts_ts   REAL NOT NULL,
    ends_ts     REAL NOT NULL,
    comment     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_ts  REAL NOT NULL,
    expired_ts  REAL
);
CREATE TABLE IF NOT EXISTS slack_messages (
    notifier  TEXT NOT NULL,
    channel   TEXT NOT NULL,
    ts        TEXT NOT NULL,
    alerts    TEXT NOT NULL,
    resolved  TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (notifier, channel, ts)
);
CREATE TABLE IF NOT EXISTS trunks (
    id        TEXT PRIMARY KEY,
    name      TEXT,
    provider  TEXT,
    status    TEXT,
    listed    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS call_details (
    id          TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    fetched_ts  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS detailed_alerts (
    alert_id  TEXT PRIMARY KEY,
    at_ts     REAL NOT NULL,
    details   TEXT NOT NULL DEFAULT '[]'
);
"""

OutboxStatus = Literal["pending", "delivered", "dead"]


@dataclass(frozen=True)
class OutboxEntry:
    """One stored notification and its delivery bookkeeping."""

    seq: int
    notification: Notification
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    done_at: datetime | None


@dataclass(frozen=True)
class SlackThread:
    """Where an alert's firing message went in bot-token mode, to thread what follows."""

    channel: str
    ts: str


class StateError(MonitorError):
    """The state DB cannot be opened or has an unknown layout."""

    exit_code = 2


class StateStore:
    """One SQLite file, one connection, guarded by a lock (the scheduler and the HTTP
    server run on other threads)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        prepare_state_file(self.path)
        try:
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=10
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            create_history_schema(self._db)
            self._check_version()
            self._add_direction_column()
            # A write now, so a DB we cannot write (read-only mount, someone else's
            # file) is refused at start instead of failing every sync afterwards.
            self._db.execute("UPDATE meta SET value = value WHERE key = 'schema_version'")
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc):
                raise StateError(
                    f"TELEPATH_STATE_DB {self.path} cannot be used as the state database: {exc}"
                ) from None
            raise StateError(
                f"TELEPATH_STATE_DB {self.path} cannot be written ({exc}); give the file, "
                f"its directory and any -wal/-shm files beside it to the daemon's user "
                f"(chown) and make them writable (chmod 600 the file, 700 the directory)"
            ) from None
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"TELEPATH_STATE_DB {self.path} cannot be used as the state database: {exc}"
            ) from None
        self._lock = threading.RLock()
        #: Named exact per-minute counts the rollups keep (an SLO's good calls, say).
        self.rollup_counters: Classifiers | None = None

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

    def _add_direction_column(self) -> None:
        # Added after schema 1 shipped; an additive column keeps older DBs readable.
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(calls)")}
        if "direction" not in columns:
            self._db.execute("ALTER TABLE calls ADD COLUMN direction TEXT")

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
        self.set_metas({key: value})

    def set_metas(self, values: Mapping[str, str]) -> None:
        """Set several meta keys in one transaction (a gap's two ends together)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
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
                c.direction,
            )
            for c in calls
        ]
        with self.transaction() as db:
            # The history counts exactly the calls stored here.
            record_calls(db, calls, self.rollup_counters)
            db.executemany(
                "INSERT OR IGNORE INTO calls (id, trunk_id, status, start_ts, end_ts, duration, "
                "ai_ms, carrier_ms, gateway_ms, direction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def load_calls(self) -> list[Call]:
        """Every stored call, oldest start first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, trunk_id, status, start_ts, end_ts, duration, ai_ms, carrier_ms, "
                "gateway_ms, direction FROM calls ORDER BY start_ts, id"
            ).fetchall()
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
                direction=row[9],
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

    def save_alert_states(
        self,
        states: Sequence[Mapping[str, object]],
        notifications: Sequence[Notification] = (),
    ) -> None:
        """Replace every stored alert state with these (``AlertState.to_dict`` forms) and
        queue the notifications they cause, in one transaction."""
        rows = [
            (str(state["rule"]), str(state.get("group") or ""), json.dumps(state, sort_keys=True))
            for state in states
        ]
        with self.transaction() as db:
            db.execute("DELETE FROM alert_states")
            db.executemany("INSERT INTO alert_states VALUES (?, ?, ?)", rows)
            _enqueue(db, notifications)

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

    # --- outbox ------------------------------------------------------------------------

    def enqueue(self, notifications: Sequence[Notification]) -> None:
        """Queue notifications; one whose id is already queued is left as it was."""
        with self.transaction() as db:
            _enqueue(db, notifications)

    def next_pending(self, notifier: str) -> OutboxEntry | None:
        """The oldest pending entry of a notifier: each notifier delivers in order."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM outbox WHERE status = 'pending' AND notifier = ? "
                "ORDER BY seq LIMIT 1",
                (notifier,),
            ).fetchone()
        return None if row is None else _entry(row)

    def pending_notifiers(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT notifier FROM outbox WHERE status = 'pending' ORDER BY notifier"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def mark_delivered(self, seq: int, at: datetime) -> None:
        self._finish(seq, "delivered", at, None)

    def mark_dead(self, seq: int, at: datetime, reason: str) -> None:
        self._finish(seq, "dead", at, reason)

    def mark_retry(self, seq: int, *, attempts: int, next_attempt_at: datetime, error: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = ?, next_ts = ?, last_error = ? WHERE seq = ?",
                (attempts, next_attempt_at.timestamp(), error, seq),
            )

    def _finish(self, seq: int, status: OutboxStatus, at: datetime, error: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET status = ?, done_ts = ?, attempts = attempts + 1, "
                "last_error = COALESCE(?, last_error) WHERE seq = ?",
                (status, at.timestamp(), error, seq),
            )

    def outbox_entries(self, status: OutboxStatus | None = None) -> list[OutboxEntry]:
        """Entries for inspection, oldest first; all of them when ``status`` is None."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM outbox WHERE ? IS NULL OR status = ? ORDER BY seq", (status, status)
            ).fetchall()
        return [_entry(row) for row in rows]

    def outbox_stats(self, now: datetime) -> list[tuple[str, int, float | None]]:
        """(notifier, pending entries, age of the oldest in seconds) per notifier."""
        with self._lock:
            rows = self._db.execute(
                "SELECT notifier, COUNT(*), MIN(created_ts) FROM outbox WHERE status = 'pending' "
                "GROUP BY notifier ORDER BY notifier"
            ).fetchall()
        return [(str(n), int(c), max(0.0, now.timestamp() - float(t))) for n, c, t in rows]

    def prune_outbox(self, done_before: datetime) -> int:
        """Forget delivered and dead entries finished before ``done_before``."""
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM outbox WHERE status != 'pending' AND done_ts < ?",
                (done_before.timestamp(),),
            )
        return cursor.rowcount

    # --- Slack threads (bot-token mode) ------------------------------------------------

    def save_slack_message(
        self, notifier: str, thread: SlackThread, alerts: Sequence[Mapping[str, Any]]
    ) -> None:
        """Remember a posted firing message and which alerts it announced."""
        ids = [str(a["id"]) for a in alerts]
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO slack_messages (notifier, channel, ts, alerts) "
                "VALUES (?, ?, ?, ?)",
                (notifier, thread.channel, thread.ts, json.dumps(list(alerts))),
            )
            db.executemany(
                "INSERT OR REPLACE INTO slack_threads VALUES (?, ?, ?, ?)",
                [(notifier, i, thread.channel, thread.ts) for i in ids],
            )

    def slack_thread(self, notifier: str, alert_id: str) -> SlackThread | None:
        with self._lock:
            row = self._db.execute(
                "SELECT channel, ts FROM slack_threads WHERE notifier = ? AND alert_id = ?",
                (notifier, alert_id),
            ).fetchone()
        return None if row is None else SlackThread(str(row[0]), str(row[1]))

    def resolve_in_slack_message(
        self, notifier: str, thread: SlackThread, alert_ids: Sequence[str]
    ) -> tuple[list[dict[str, Any]], list[str]] | None:
        """Mark alerts of a firing message resolved; returns (its alerts, resolved ids)."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT alerts, resolved FROM slack_messages "
                "WHERE notifier = ? AND channel = ? AND ts = ?",
                (notifier, thread.channel, thread.ts),
            ).fetchone()
            if row is None:
                return None
            resolved = sorted(set(json.loads(row[1])) | set(alert_ids))
            db.execute(
                "UPDATE slack_messages SET resolved = ? "
                "WHERE notifier = ? AND channel = ? AND ts = ?",
                (json.dumps(resolved), notifier, thread.channel, thread.ts),
            )
        # The thread stays known after the resolution: a resolution re-sent after a kill
        # must land in the same thread, not in the channel.
        return json.loads(row[0]), resolved

    def prune_slack_messages(self, keep: int = 10_000) -> None:
        """Keep the newest ``keep`` remembered messages (thread targets of old alerts)."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM slack_messages WHERE rowid NOT IN "
                "(SELECT rowid FROM slack_messages ORDER BY rowid DESC LIMIT ?)",
                (keep,),
            )
            db.execute(
                "DELETE FROM slack_threads WHERE NOT EXISTS (SELECT 1 FROM slack_messages m "
                "WHERE m.notifier = slack_threads.notifier AND m.channel = slack_threads.channel "
                "AND m.ts = slack_threads.ts)"
            )

    # --- silences ----------------------------------------------------------------------

    def add_silence(self, silence: Silence) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    silence.id,
                    silence.rule,
                    silence.trunk,
                    silence.starts_at.timestamp(),
                    silence.ends_at.timestamp(),
                    silence.comment,
                    silence.created_by,
                    silence.created_at.timestamp(),
                    None if silence.expired_at is None else silence.expired_at.timestamp(),
                ),
            )

    def silences(self, *, active_at: datetime | None = None) -> list[Silence]:
        """Every silence, or those in force at ``active_at``; newest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM silences ORDER BY created_ts DESC").fetchall()
        found = [_silence(row) for row in rows]
        return found if active_at is None else [s for s in found if s.active(active_at)]

    def expire_silence(self, silence_id: str, at: datetime) -> bool:
        """End a silence now; False when no silence has that id (or a unique prefix)."""
        with self.transaction() as db:
            rows = db.execute(
                "SELECT id FROM silences WHERE id LIKE ? || '%'", (silence_id,)
            ).fetchall()
            if len(rows) != 1:
                return False
            db.execute(
                "UPDATE silences SET expired_ts = MIN(?, ends_ts) WHERE id = ?",
                (at.timestamp(), rows[0][0]),
            )
        return True

    def prune_silences(self, ended_before: datetime) -> int:
        """Forget silences that ended before ``ended_before``."""
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM silences WHERE MIN(ends_ts, COALESCE(expired_ts, ends_ts)) < ?",
                (ended_before.timestamp(),),
            )
        return cursor.rowcount

    # --- trunk catalogue and call details ----------------------------------------------

    def save_trunks(self, trunks: Sequence[TrunkInfo]) -> None:
        """Replace the stored trunk catalogue."""
        rows = [(t.id, t.name, t.provider, t.status, int(t.listed)) for t in trunks]
        with self.transaction() as db:
            db.execute("DELETE FROM trunks")
            db.executemany("INSERT INTO trunks VALUES (?, ?, ?, ?, ?)", rows)

    def load_trunks(self) -> list[TrunkInfo]:
        """The stored trunk catalogue, by id."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM trunks ORDER BY id").fetchall()
        return [TrunkInfo(row[0], row[1], row[2], row[3], bool(row[4])) for row in rows]

    def call_detail(self, call_id: str) -> dict[str, Any] | None:
        """The cached summary of a call's detail record, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM call_details WHERE id = ?", (call_id,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def save_call_detail(self, call_id: str, body: Mapping[str, Any], at: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO call_details VALUES (?, ?, ?)",
                (call_id, json.dumps(body, sort_keys=True), at.timestamp()),
            )

    def claim_detailed_alert(self, alert_id: str, at: datetime) -> bool:
        """Record that an alert's details are being fetched; False if that was done before."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO detailed_alerts (alert_id, at_ts) VALUES (?, ?)",
                (alert_id, at.timestamp()),
            )
        return cursor.rowcount == 1

    def save_alert_details(self, alert_id: str, details: Sequence[Mapping[str, Any]]) -> None:
        """The call details an alert's follow-up carried (Alertmanager re-posts them)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE detailed_alerts SET details = ? WHERE alert_id = ?",
                (json.dumps(list(details), sort_keys=True), alert_id),
            )

    def alert_details(self, alert_id: str) -> list[dict[str, Any]]:
        with self._lock:
            row = self._db.execute(
                "SELECT details FROM detailed_alerts WHERE alert_id = ?", (alert_id,)
            ).fetchone()
        return [] if row is None else list(json.loads(row[0]))

    def prune_call_details(self, before: datetime) -> None:
        """Forget cached details and claims older than ``before``."""
        with self.transaction() as db:
            db.execute("DELETE FROM call_details WHERE fetched_ts < ?", (before.timestamp(),))
            db.execute("DELETE FROM detailed_alerts WHERE at_ts < ?", (before.timestamp(),))


def _silence(row: Sequence[Any]) -> Silence:
    def at(ts: float) -> datetime:
        return datetime.fromtimestamp(ts, UTC)

    return Silence(
        id=row[0],
        rule=row[1],
        trunk=row[2],
        starts_at=at(row[3]),
        ends_at=at(row[4]),
        comment=row[5],
        created_by=row[6],
        created_at=at(row[7]),
        expired_at=None if row[8] is None else at(row[8]),
    )


def enqueue_in(db: sqlite3.Connection, notifications: Sequence[Notification]) -> None:
    """Queue notifications inside the caller's transaction (a scheduled report and its
    bookkeeping commit together)."""
    _enqueue(db, notifications)


def _enqueue(db: sqlite3.Connection, notifications: Sequence[Notification]) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO outbox (id, notifier, event, rule, body, created_ts, status, "
        "next_ts) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
        [
            (
                n.id,
                n.notifier,
                n.event,
                n.rule,
                json.dumps({"alerts": list(n.alerts), "test": n.test}, sort_keys=True),
                n.created_at.timestamp(),
                n.created_at.timestamp(),
            )
            for n in notifications
        ],
    )


def _entry(row: Sequence[Any]) -> OutboxEntry:
    """An outbox row (``SELECT *``, columns in table order) as an entry."""
    body = json.loads(row[5])
    created = datetime.fromtimestamp(row[6], UTC)
    return OutboxEntry(
        seq=int(row[0]),
        notification=Notification(
            id=row[1],
            notifier=row[2],
            event=row[3],
            rule=row[4],
            alerts=body["alerts"],
            created_at=created,
            test=bool(body.get("test", False)),
        ),
        status=row[7],
        attempts=int(row[8]),
        next_attempt_at=datetime.fromtimestamp(row[9], UTC),
        last_error=row[10],
        done_at=None if row[11] is None else datetime.fromtimestamp(row[11], UTC),
    )
