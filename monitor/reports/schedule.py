"""Which period a scheduled report covers, and when it is due: pure, no I/O.

A daily report sent at ``at`` on day D covers the local day before D, midnight to
midnight in the report's ``timezone`` (23 or 25 hours across a DST change). A weekly
report is sent on Mondays and covers the seven local days before. A period is due once
its send time has passed and the calls of its last minutes can have been read
(``settle``: calls are listed when they end, and the sync re-reads the whole
``poll.overlap`` every ``poll.sweep_every``).

Only the latest due period is considered: a daemon that was down for three days sends
the last report, not a backlog of stale ones; and a report added to the config is first
sent at its next send time, never for a period before it existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from monitor.config.reporting import ReportSpec

__all__ = ["Due", "latest_due"]


@dataclass(frozen=True, slots=True)
class Due:
    """A report period and when it is sent (all UTC)."""

    start: datetime
    end: datetime
    send_at: datetime


def latest_due(spec: ReportSpec, now: datetime) -> Due:
    """The most recent period whose send time is at or before ``now``."""
    zone = spec.zone
    local = now.astimezone(zone)
    at = time(spec.at_minutes // 60, spec.at_minutes % 60)
    send_day = local.date()
    if local.time() < at:
        send_day -= timedelta(days=1)
    if spec.every == "weekly":
        send_day -= timedelta(days=send_day.weekday())  # back to Monday
        first = send_day - timedelta(days=7)
    else:
        first = send_day - timedelta(days=1)
    return Due(
        start=_midnight(first, spec),
        end=_midnight(send_day, spec),
        send_at=datetime.combine(send_day, at, zone).astimezone(UTC),
    )


def _midnight(day: date, spec: ReportSpec) -> datetime:
    return datetime.combine(day, time(0), spec.zone).astimezone(UTC)


def ready(due: Due, now: datetime, *, settle: timedelta, since: datetime) -> bool:
    """Whether to handle ``due`` now: its calls settled, and the report existed when it
    came due (``since``: when the daemon first ran with this report)."""
    return due.send_at >= since and now >= due.end + settle and now >= due.send_at
