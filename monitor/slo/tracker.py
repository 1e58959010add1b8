"""The daemon's SLOs: the history counters it keeps for them, their figures at the
latest step and the SLO families on /metrics (:class:`monitor.daemon.Daemon` holds one)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from monitor.config import Config
from monitor.metrics import MonitorMetrics
from monitor.models import Call
from monitor.slo.counts import SloFigures, classifiers
from monitor.slo.metrics import SloCollector
from monitor.slo.source import read_figures
from monitor.slo.views import SloRow, slo_rows
from monitor.store import StateStore

__all__ = ["SloTracker"]

log = logging.getLogger("monitor.daemon")


class SloTracker:
    """Args:
    config: returns the config in force (it changes on reload).
    store: the state DB whose history keeps the SLO counters.
    metrics: the registry the SLO families join.
    """

    def __init__(
        self, config: Callable[[], Config], store: StateStore, metrics: MonitorMetrics
    ) -> None:
        self._config = config
        self._store = store
        #: Every SLO's figures at the latest step.
        self.figures: list[SloFigures] = []
        self.collector = SloCollector(
            lambda: self._config().slos, lambda: self.figures, metrics.cap.label, metrics.cap.admits
        )
        metrics.add_collector(self.collector)
        self.configure(config())

    def configure(self, config: Config) -> None:
        """Count what ``config``'s SLOs need in the history from now on."""
        self._store.rollup_counters = classifiers(config.slos)

    def refresh(self, now: datetime, groups: Iterable[str]) -> list[SloFigures]:
        """The SLOs' figures at ``now`` from the history, kept as the latest; none when
        it cannot be read, so their alerts hold (no data) while the rules go on."""
        try:
            self.figures = read_figures(self._store, self._config().slos, now, groups)
        except Exception:
            log.exception("reading the SLO counts failed; SLO alerts hold this evaluation")
            self.figures = []
        return self.figures

    def on_new_calls(self, calls: Sequence[Call]) -> None:
        """Count newly ingested calls in the SLO counters on /metrics."""
        self.collector.on_new_calls(calls)

    def rows(self) -> list[SloRow]:
        """The latest figures as the status page's rows."""
        return slo_rows(self.figures)
