"""The SQLite state store: watermark, calls, pruning, bad files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import Call
from monitor.store import StateError, StateStore

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def make_call(n: int, *, start: datetime = T0, minutes: float = 1) -> Call:
    return Call(
        id=f"call_{n}",
        trunk_id="conn_1",
        status="connected",
        start_time=start,
        end_time=start + timedelta(minutes=minutes),
        duration_seconds=minutes * 60,
        ai_latency_ms=400.0 + n,
        carrier_lag_ms=None,
        gateway_processing_ms=12.5,
    )


def test_calls_and_watermark_survive_reopening(tmp_path):
    """What one process stored, the next one reads back exactly."""
    path = tmp_path / "state.db"
    store = StateStore(path)
    calls = [make_call(1), make_call(2, start=T0 + timedelta(seconds=1))]
    store.add_calls(calls)
    store.save_watermark(T0 + timedelta(seconds=1, microseconds=250))
    store.close()

    reopened = StateStore(path)
    assert reopened.load_calls() == calls
    assert reopened.load_watermark() == T0 + timedelta(seconds=1, microseconds=250)
    reopened.close()


def test_storing_a_call_twice_keeps_one(tmp_path):
    """The call id is the key: a re-read call is not stored twice."""
    store = StateStore(tmp_path / "s.db")
    store.add_calls([make_call(1)])
    store.add_calls([make_call(1), make_call(2)])
    assert store.count_calls() == 2


def test_prune_keeps_calls_still_in_a_window_or_the_overlap(tmp_path):
    """A call goes only when it started before the re-read range and ended before retention."""
    store = StateStore(tmp_path / "s.db")
    old = make_call(1, start=T0 - timedelta(hours=2))
    long_call = make_call(2, start=T0 - timedelta(hours=2), minutes=110)
    recent = make_call(3, start=T0)
    store.add_calls([old, long_call, recent])
    removed = store.prune_calls(
        started_before=T0 - timedelta(minutes=30), finished_before=T0 - timedelta(minutes=15)
    )
    assert removed == 1
    assert [c.id for c in store.load_calls()] == ["call_2", "call_3"]


def test_transaction_rolls_back_on_error(tmp_path):
    """A failure inside a transaction leaves nothing half-written."""
    store = StateStore(tmp_path / "s.db")

    def write_then_crash() -> None:
        with store.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES ('x', '1')")
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        write_then_crash()
    assert store.get_meta("x") is None


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path):
    """A corrupt state file names the setting instead of a traceback."""
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="TELEPATH_STATE_DB"):
        StateStore(path)


def test_a_newer_schema_is_refused(tmp_path):
    """A DB written by a newer version is not silently misread."""
    path = tmp_path / "state.db"
    store = StateStore(path)
    store.set_meta("schema_version", "99")
    store.close()
    with pytest.raises(StateError, match="newer"):
        StateStore(path)


def test_alert_states_replace_and_survive_reopening(tmp_path):
    """Saved alert states replace the previous set and are read back by the next process."""
    path = tmp_path / "s.db"
    store = StateStore(path)
    store.save_alert_states([{"rule": "a", "group": "conn_1", "state": "firing"}])
    store.save_alert_states([{"rule": "b", "group": None, "state": "pending"}])
    store.close()
    assert StateStore(path).load_alert_states() == [
        {"rule": "b", "group": None, "state": "pending"}
    ]


def test_a_damaged_alert_state_row_is_skipped(tmp_path):
    """A row that is not JSON is skipped with a warning, not a crash at start-up."""
    store = StateStore(tmp_path / "s.db")
    with store.transaction() as db:
        db.execute("INSERT INTO alert_states VALUES ('a', '', '{not json')")
    assert store.load_alert_states() == []
