"""``telepath-monitor once``: one sync and one pipeline step, on a state DB of its own.

``once`` never writes into the state DB a running daemon uses. It copies that DB
(SQLite's online backup, the original opened read-only, so a daemon writing meanwhile
is neither blocked for long nor disturbed) into a temporary directory, syncs and steps
against the copy, and deletes it. The copy gives ``once`` the daemon's calls, watermark,
alert states and silences, so its table shows what the daemon would decide; whatever
``once`` syncs, decides or queues (``--notify``) is thrown away with the copy.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path

from monitor.alerts import AlertState
from monitor.daemon import Daemon
from monitor.rules import Observation
from monitor.trunks import TrunkInfo

__all__ = ["ONCE_COLUMNS", "once_report", "state_db_copy"]

ONCE_COLUMNS = ["rule", "group", "trunk", "metric", "value", "op", "warning", "critical",
                "state", "severity", "calls", "note"]  # fmt: skip


@contextmanager
def state_db_copy(path: Path) -> Iterator[Path]:
    """A private copy of the state DB at ``path`` (an empty one when there is none yet),
    deleted on exit."""
    with tempfile.TemporaryDirectory(prefix="telepath-once-") as tmp:
        copy = Path(tmp) / "state.db"
        if path.exists():
            source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            with closing(source), closing(sqlite3.connect(copy)) as target:
                source.backup(target)
        yield copy


def once_report(
    daemon: Daemon, *, notify: bool = False
) -> tuple[datetime, list[dict[str, object]]]:
    """One sync and one pipeline step on the daemon's states; the states are not saved.

    With ``notify``, what the step would send (quiet rules applied: silences,
    maintenance windows, inhibition) is delivered at once.
    """
    daemon.sync.restore()
    daemon.poll_trunks()
    daemon.poll_overview()
    daemon.sync.poll()
    now = daemon.clock.now()
    result = daemon.run_step(now, sync_ok=True)
    if notify and result.notifications:
        daemon.send_now(result.notifications, result.intents)
    states = {s.key: s for s in result.states}
    catalogue = daemon.catalogue
    return now, [
        _row(o, states.get(o.key), catalogue.get(o.group or "")) for o in result.observations
    ]


def _row(
    observation: Observation, state: AlertState | None, trunk: TrunkInfo | None = None
) -> dict[str, object]:
    rule = observation.rule
    name = None if trunk is None else trunk.name
    shown = name  # the table's column: a trunk switched off says so
    if trunk is not None and not trunk.active:
        shown = f"{name or ''} ({trunk.status})".strip()
    return {
        "rule": rule.name,
        "group": observation.group or "account",
        "trunk": shown,
        "trunk_name": name,
        "trunk_status": None if trunk is None else trunk.status,
        "metric": rule.metric if rule.stat is None else f"{rule.metric} {rule.stat}",
        "value": observation.value,
        "op": rule.op,
        "warning": rule.warning,
        "critical": rule.critical,
        "state": state.display_state if state else "inactive",
        "severity": state.severity if state else None,
        "calls": observation.calls,
        "note": observation.reason,
    }
