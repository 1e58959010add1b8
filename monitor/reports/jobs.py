"""The daemon's history jobs: what it read, what fired, scheduled reports, housekeeping.

:class:`HistoryJobs` is the daemon's one handle on the history. It is told after each
successful poll which call starts it has read (:meth:`polled`) and after each
evaluation which alerts moved (:meth:`alerts_moved`); :meth:`tick`, run every minute
by the scheduler, queues the scheduled reports that are due and, once an hour,
downsamples and drops old rows.

A period with unread parts is held while the sync can still read them (they are within
``poll.backfill``: a restart after downtime catches up on its first poll); once they are
out of its reach, the report is sent saying what is missing.

Exactly once: a report period's notifications are queued in the same transaction that
records the period as handled (``report_runs``), under ids derived from the period, so
a kill before that commit queues it again on restart and a kill after it does not; the
outbox then delivers each notification once (its id lets receivers drop the duplicate
a kill mid-send can cause, as for alerts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.config.reporting import ReportSpec
from monitor.history.store import AlertEvent, HistoryStore
from monitor.reports.deliver import report_document, report_notifications
from monitor.reports.schedule import latest_due, ready
from monitor.reports.source import from_history
from monitor.reports.trends import TrendCache, TrendRow, trend_rows
from monitor.store import StateStore, enqueue_in

if TYPE_CHECKING:
    from monitor.alerts import Intent
    from monitor.config import Config

__all__ = ["HOUSEKEEPING_EVERY", "HistoryJobs"]

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = timedelta(hours=1)


class HistoryJobs:
    """Args:
    store: the state DB.
    config: returns the config in force (it changes on reload).
    on_queued: called when report notifications were queued (wakes delivery).
    """

    def __init__(
        self,
        store: StateStore,
        config: Callable[[], Config],
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.history = HistoryStore(store)
        self._config = config
        self._on_queued = on_queued
        self._housekept: datetime | None = None
        self._trends = TrendCache()

    def polled(self, since: datetime, now: datetime, gap: tuple[datetime, datetime] | None) -> None:
        """A poll read every call started in ``[since, now]`` except those in ``gap``."""
        if gap is None:
            self.history.add_covered(since, now)
            return
        self.history.add_covered(since, min(gap[0], now))
        self.history.add_covered(max(gap[1], since), now)

    def alerts_moved(self, intents: Iterable[Intent]) -> None:
        self.history.add_alert_events(
            AlertEvent(i.alert_id, i.kind, i.at, i.rule.name, i.group, i.severity) for i in intents
        )

    def trends(self, now: datetime, names: Mapping[str, str] | None = None) -> tuple[TrendRow, ...]:
        """The status page's trend rows, trunks named by ``names`` (id → name); empty (and
        logged) if the history cannot be read."""
        try:
            return trend_rows(self.history, now, self._trends, names)
        except Exception:
            log.exception("reading the trends for the status page failed")
            return ()

    def tick(self, now: datetime) -> int:
        """Queue due reports, housekeep when an hour has passed; returns reports queued."""
        queued = 0
        for spec in self._config().reports:
            try:
                queued += self._report(spec, now)
            except Exception:
                log.exception("scheduled report %s failed; it is retried next minute", spec.name)
        try:
            self._trends.refresh(self.history, now, hours=2)
        except Exception:
            log.exception("refreshing the status page's trends failed")
        if self._housekept is None or now - self._housekept >= HOUSEKEEPING_EVERY:
            try:
                self.housekeep(now)
            except Exception:
                log.exception("history housekeeping failed; it is retried next minute")
        if queued:
            self._on_queued()
        return queued

    def housekeep(self, now: datetime) -> None:
        history = self._config().history
        merged = self.history.downsample(now - history.fine)
        dropped = self.history.drop_older(now - history.keep)
        self._housekept = now
        if merged or dropped:
            log.info(
                "history: %d minute rows merged into hours, %d rows past history.keep dropped",
                merged,
                dropped,
            )

    def _report(self, spec: ReportSpec, now: datetime) -> int:
        due = latest_due(spec, now)
        config = self._config()
        since = self.history.first_seen(spec.name, now)
        # A call longer than the learned overlap is read by the next sweep, so the
        # period's last calls are all in only a sweep after the overlap has passed.
        settle = config.poll.overlap + config.poll.sweep_every
        if not ready(due, now, settle=settle, since=since):
            return 0
        if self.history.report_done(spec.name, due.start):
            return 0
        gaps = self.history.missing(due.start, due.end)
        if gaps and gaps[-1][1] > now - config.poll.backfill:
            # The next polls still read that far back (after a restart, say): wait for them.
            return 0
        figures = None
        if not gaps:
            figures = from_history(self.history, due.start, due.end, spec.trunks or ())
        document = report_document(spec, due.start, due.end, figures, gaps)
        notifications = report_notifications(spec, due.start, document, now)
        outcome = "sent" if figures is not None else "missing"
        with self.history.store.transaction() as db:
            enqueue_in(db, notifications)
            HistoryStore.mark_report(db, spec.name, (due.start, due.end), outcome, now)
        if figures is None:
            log.warning(
                "report %s for %s: the daemon did not read the whole period; sending what is "
                "missing instead of figures",
                spec.name,
                document["start"],
            )
        else:
            log.info("report %s for %s queued", spec.name, document["start"])
        return 1
