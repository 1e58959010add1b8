"""Wiring for ``telepath-monitor run``: scheduler jobs, HTTP server, signals, shutdown.

Jobs run on APScheduler 3.x threads, one instance each at a time, coalesced when late.
A job never raises into the scheduler: API failures are logged, counted and recorded
in the sync health; anything unexpected is logged with its traceback and the daemon
carries on. Stopping lets a running sync finish (the client's retry budget bounds
it), then closes the server and the state DB.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TextIO

import httpx
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.alerts import AlertState, Intent
from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.errors import ApiError, AuthError, DeliveryError
from monitor.heartbeat import HeartbeatPinger, heartbeat_health
from monitor.metrics import MonitorMetrics
from monitor.models import Call, Overview
from monitor.notify.alertmanager import AlertmanagerSender, FiringAlert
from monitor.notify.base import Notification, Sender
from monitor.notify.outbox import DeliveryThreads, DeliveryWorker, group_flags
from monitor.notify.senders import build_senders, close_senders
from monitor.pipeline import (
    SYNC_FAILING,
    StepResult,
    Sync,
    quiet_policy,
    step,
    sync_failing_rule,
    window_retention,
)
from monitor.quiet import QuietPolicy
from monitor.reports.jobs import HistoryJobs
from monitor.rules import Observation
from monitor.server import MetricsServer
from monitor.settings import Settings, parse_listen
from monitor.slo import SloFigures, classifiers, slo_rules
from monitor.slo.metrics import SloCollector, histogram_edges
from monitor.slo.source import read_figures
from monitor.slo.views import slo_rows
from monitor.status import StatusSnapshot, render, snapshot
from monitor.store import StateStore
from monitor.sync import CallSync, SyncHealth
from monitor.telepath.client import TelepathClient, build_http_client
from monitor.windows import CallWindows

log = logging.getLogger(__name__)

#: /readyz fails when no sync succeeded for this many poll intervals (at least a minute).
READY_INTERVALS = 3
__all__ = ["SYNC_FAILING", "Daemon", "sync_failing_rule", "window_retention"]


def _log_intent(intent: Intent, *, held: str | None = None) -> None:
    where = f" trunk {intent.group}" if intent.group else ""
    value = "no data" if intent.value is None else f"{intent.value:g}"
    quiet = f", not sent: {held}" if held else ""
    log.log(
        logging.INFO if intent.kind == "resolved" or held else logging.WARNING,
        "alert %s: %s%s %s value %s threshold %s (%s)%s",
        intent.kind, intent.rule.name, where, intent.severity, value,
        intent.threshold, intent.alert_id, quiet,
    )  # fmt: skip


def _pinger(config: Config) -> HeartbeatPinger | None:
    return None if config.heartbeat is None else HeartbeatPinger(config.heartbeat)


class Daemon:
    """Everything ``run`` keeps alive, built from settings and config.

    Args:
        settings: TELEPATH_* settings (the API key must be set).
        config: the loaded alerts.yaml.
        clock: time for sync, windows and metrics.
        http: an ``httpx.Client`` for the API (tests may pass their own).
        console: where the console notifier writes (standard output by default).
    """

    def __init__(
        self,
        settings: Settings,
        config: Config,
        *,
        clock: Clock | None = None,
        http: httpx.Client | None = None,
        console: TextIO | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.clock = clock or SystemClock()
        self.lock = threading.RLock()
        api_key = settings.require_api_key()
        self.store = StateStore(settings.state_db)
        self.store.rollup_counters = classifiers(config.slos)
        self.windows = CallWindows(window_retention(config))
        #: The latest /analytics/overview, None before the first one.
        self.overview: Overview | None = None
        self.metrics = MonitorMetrics(
            self.windows,
            self.lock,
            self.clock,
            export_window=config.export.window,
            max_trunks=config.export.max_trunks,
            sync_watermark=lambda: self.sync.watermark,
            alert_states=self.alert_states,
            outbox_stats=lambda: self.store.outbox_stats(self.clock.now()),
            overview=lambda: self.overview,
            latency_buckets=histogram_edges(config),
        )
        #: Every SLO's figures at the latest step.
        self.slo_figures: list[SloFigures] = []
        self.slo_metrics = SloCollector(
            lambda: self.config.slos,
            lambda: self.slo_figures,
            self.metrics.cap.label,
            self.metrics.cap.admits,
        )
        self.metrics.add_collector(self.slo_metrics)
        self.client = TelepathClient(
            http or build_http_client(settings.api_url, timeout=settings.api_timeout),
            api_key=api_key,
            clock=self.clock,
            requests_per_minute=settings.api_rate_limit,
            max_pages=config.poll.max_pages,
            listener=self.metrics.on_client_event,
        )
        self.sync = CallSync(
            self.client,
            self.store,
            self.windows,
            self.clock,
            backfill=config.poll.backfill,
            overlap=config.poll.overlap,
            lock=self.lock,
            on_new_calls=self._on_new_calls,
        )
        self._overview_fields = {str(k): v for k, v in config.overview_fields.items()}
        self.known_trunks: set[str] = set()
        #: Every alert's state, the sync-failing alert's included; replaced by each step.
        self.states: list[AlertState] = self._load_states()
        self._console = console
        self.senders: dict[str, Sender] = build_senders(
            config.notifiers, self.clock, self.store, console=console
        )
        self.delivery = self._worker()
        self.delivery_threads = DeliveryThreads(self.delivery)
        self.history = HistoryJobs(
            self.store, lambda: self.config, lambda: self.delivery_threads.wake()
        )
        self.heartbeat_pinger = _pinger(config)
        self._slow_polls = False
        #: The last evaluation's observations by (rule, group), for the status page.
        self.latest: dict[tuple[str, str | None], Observation] = {}
        #: The latest pipeline step's whole result (None before the first).
        self.last_step: StepResult | None = None
        self.calls_health = SyncHealth()
        self.overview_health = SyncHealth()
        host, port = parse_listen(settings.listen)
        self.server = MetricsServer(
            host,
            port,
            self.metrics.render,
            self.readiness,
            status_page=lambda: render(self.status_snapshot()),
        )
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # --- lifecycle ---------------------------------------------------------------------

    def _load_states(self) -> list[AlertState]:
        states = []
        for data in self.store.load_alert_states():
            try:
                states.append(AlertState.from_dict(data))
            except ValueError as exc:
                log.warning("ignoring a stored alert state that cannot be read: %s", exc)
        return states

    def _worker(self) -> DeliveryWorker:
        return DeliveryWorker(
            self.store,
            self.senders,
            self.clock,
            self.config.delivery,
            listener=self.metrics.on_delivery,
        )

    def alert_states(self) -> list[AlertState]:
        """Every alert's state; under the lock, as evaluations change them on another thread."""
        with self.lock:
            return list(self.states)

    def state(self, rule: str, group: str | None) -> AlertState | None:
        """One alert's state, or None when nothing is known of it."""
        with self.lock:
            return next((s for s in self.states if s.key == (rule, group)), None)

    def start(self) -> None:
        """Restore state, serve /metrics, and start polling (the first poll at once)."""
        self.sync.restore()
        self.known_trunks.update(self.windows.trunks())
        self.drop_unrouted()
        self.delivery_threads.start()
        self.server.start()
        host, port = self.server.address
        log.info("serving /metrics, /healthz and /readyz on %s:%d", host, port)
        now = datetime.now(UTC)
        poll = self.config.poll
        self.scheduler.add_job(
            self.poll_calls, "interval", seconds=poll.calls_every.total_seconds(),
            id="calls", next_run_time=now,
        )  # fmt: skip
        self.scheduler.add_job(
            self.poll_overview, "interval", seconds=poll.overview_every.total_seconds(),
            id="overview", next_run_time=now,
        )  # fmt: skip
        self._schedule_alertmanager()
        self._schedule_heartbeat()
        self.scheduler.add_job(self.prune_outbox, "interval", hours=1, id="prune-outbox")
        self.scheduler.add_job(self.prune_silences, "interval", hours=1, id="prune-silences")
        self.scheduler.add_job(
            lambda: self.history.tick(self.clock.now()), "interval", minutes=1,
            id="history", next_run_time=now,
        )  # fmt: skip
        self.scheduler.start()

    def _schedule_heartbeat(self) -> None:
        if self.scheduler.get_job("heartbeat") is not None:
            self.scheduler.remove_job("heartbeat")
        if self.heartbeat_pinger is not None:
            every = self.heartbeat_pinger.spec.every.total_seconds()
            self.scheduler.add_job(self.heartbeat, "interval", seconds=every, id="heartbeat")

    def heartbeat(self) -> None:
        """Ping the dead-man's switch if the daemon is healthy; never raises."""
        if self.heartbeat_pinger is None:
            return
        try:
            unhealthy = heartbeat_health(
                self.readiness(), self.store.outbox_stats(self.clock.now())
            )
            self.metrics.heartbeats.labels(self.heartbeat_pinger.beat(unhealthy)).inc()
        except Exception:
            log.exception("heartbeat failed unexpectedly")

    def _schedule_alertmanager(self) -> None:
        for name, sender in self.senders.items():
            if isinstance(sender, AlertmanagerSender):
                self.scheduler.add_job(
                    self.refresh_alertmanager, "interval", args=[name],
                    seconds=sender.resend_every.total_seconds(), id=f"alertmanager-{name}",
                )  # fmt: skip

    def stop(self) -> None:
        """Stop taking work, let a running poll finish, then release everything."""
        running = self.scheduler.running
        if running:
            log.info("stopping: waiting for running polls to finish")
            self.scheduler.shutdown(wait=True)
        self.delivery_threads.stop()
        close_senders(self.senders)
        if self.heartbeat_pinger is not None:
            self.heartbeat_pinger.close()
        self.server.stop()
        self.client.close()
        self.store.close()
        if running:
            log.info("stopped")

    # --- jobs --------------------------------------------------------------------------

    def poll_calls(self) -> None:
        """One incremental sync of /calls; never raises."""
        started = self.clock.monotonic()
        try:
            result = self.sync.poll()
        except ApiError as exc:
            self._failed(self.calls_health, "/calls", exc)
            self.evaluate(sync_ok=False)
            return
        except Exception:
            log.exception("sync of /calls failed unexpectedly")
            self._failed(self.calls_health, "/calls", None)
            self.evaluate(sync_ok=False)
            return
        now = self.clock.now()
        self.calls_health.record_success(now)
        self.history.polled(result.since, now, result.gap)
        self.evaluate(sync_ok=True)
        self.metrics.on_sync("/calls", ok=True, at=now)
        took = self.clock.monotonic() - started
        self.metrics.sync_duration.observe(took)
        self._note_slow_poll(took)
        self.metrics.duplicates.inc(result.duplicates)
        log.debug(
            "synced /calls: %d new, %d duplicates, %d skipped in %d pages",
            result.new, result.duplicates, result.skipped, result.pages,
        )  # fmt: skip

    def _note_slow_poll(self, took: float) -> None:
        """Say once when polls take longer than calls_every (the next ones are skipped)."""
        every = self.config.poll.calls_every.total_seconds()
        if took > every and not self._slow_polls:
            log.warning(
                "a poll of /calls took %.1fs, longer than poll.calls_every (%.0fs): polls "
                "run back to back; raise calls_every, or lower poll.overlap to read less",
                took, every,
            )  # fmt: skip
        elif took <= every and self._slow_polls:
            log.info("polls of /calls are back within poll.calls_every")
        self._slow_polls = took > every

    def poll_overview(self) -> None:
        """Read /analytics/overview; never raises."""
        try:
            overview = self.client.get_overview(self._overview_fields)
        except ApiError as exc:
            self._failed(self.overview_health, "/analytics/overview", exc)
            return
        except Exception:
            log.exception("reading /analytics/overview failed unexpectedly")
            self._failed(self.overview_health, "/analytics/overview", None)
            return
        if not overview.values:
            log.warning(
                "/analytics/overview has none of the fields we look for; its keys are: %s "
                "(name the right ones under overview_fields:)",
                ", ".join(sorted(overview.raw)[:20]) or "none",
            )
        self.overview_health.record_success(overview.fetched_at)
        self.metrics.on_sync("/analytics/overview", ok=True, at=overview.fetched_at)
        with self.lock:
            self.overview = overview

    # --- evaluation --------------------------------------------------------------------

    def evaluate(self, *, sync_ok: bool) -> list[Intent]:
        """Step the alerts after a poll (:func:`monitor.pipeline.step`) and commit;
        return the intents sent (the whole result is kept in :attr:`last_step`).

        Under the lock from the step to the commit, so scrapes, the status page and a
        config reload (:meth:`apply_config`, which takes the same lock) see the states
        either before the step or after its commit, never between. A step that fails
        unexpectedly is logged and changes nothing.
        """
        now = self.clock.now()
        started = self.clock.monotonic()
        try:
            with self.lock:
                result = self.run_step(now, sync_ok=sync_ok)
                states = [s.to_dict() for s in result.states]
                self.store.save_alert_states(states, result.notifications)
                self.states, self.last_step = result.states, result
                if sync_ok:
                    self.latest = {o.key: o for o in result.observations}
                self.history.alerts_moved([*result.intents, *(i for i, _ in result.held)])
        except Exception:
            log.exception("evaluating rules failed unexpectedly")
            return []
        self.metrics.rule_evaluation.observe(self.clock.monotonic() - started)
        for intent in result.intents:
            _log_intent(intent)
        for intent, reason in result.held:
            _log_intent(intent, held=reason)
            self.metrics.notifications_held.labels(reason.split(" ", 1)[0]).inc()
        if result.notifications:
            self.delivery_threads.wake()
        return result.intents

    def run_step(self, now: datetime, *, sync_ok: bool) -> StepResult:
        """One pipeline step on the daemon's config, windows and states; nothing is saved
        (``evaluate`` commits the result, ``once`` only shows it)."""
        with self.lock:
            self.known_trunks.update(self.windows.trunks())
            self.slo_figures = self._slo_figures(now)
            return step(
                self.config,
                self.windows,
                self.overview,
                self.states,
                now,
                quiet=self.quiet_policy(now),
                sync=self._sync_status(ok=sync_ok),
                known_trunks=self.known_trunks,
                grouping=group_flags(self.senders),
                slos=self.slo_figures,
            )

    def _slo_figures(self, now: datetime) -> list[SloFigures]:
        """The SLOs' figures from the history; none when it cannot be read, so their
        alerts hold (no data) while the rules go on."""
        try:
            return read_figures(self.store, self.config.slos, now, self.known_trunks)
        except Exception:
            log.exception("reading the SLO counts failed; SLO alerts hold this evaluation")
            return []

    def _on_new_calls(self, calls: Sequence[Call]) -> None:
        self.metrics.on_new_calls(calls)
        self.slo_metrics.on_new_calls(calls)

    def _sync_status(self, *, ok: bool) -> Sync:
        """How polling goes, for a pipeline step; ``ok``: the last poll of /calls worked."""
        return Sync(
            calls_ok=ok,
            calls_failing_since=self.calls_health.failing_since,
            overview_ok=self.overview_health.failing_since is None,
        )

    def quiet_policy(self, now: datetime) -> QuietPolicy:
        """Silences in force, maintenance windows and inhibition, as of ``now``."""
        return quiet_policy(self.config, self.store.silences(active_at=now))

    # --- notifications -------------------------------------------------------------------

    def send_now(self, notifications: Sequence[Notification]) -> int:
        """Queue notifications and deliver them at once, without the threads (``once
        --notify``); returns how many were delivered. What a first attempt could not
        deliver is dead-lettered, not left for a later ``run``."""
        self.store.enqueue(notifications)
        delivered = sum(self.delivery.deliver_due(name) for name in self.senders)
        # Nothing is left behind for a later `run` to send long after the fact.
        ids = {n.id for n in notifications}
        for entry in self.store.outbox_entries("pending"):
            if entry.notification.id in ids:
                self.store.mark_dead(entry.seq, self.clock.now(), "not delivered by once --notify")
        return delivered

    def drop_unrouted(self) -> None:
        """Dead-letter pending entries of notifiers no longer configured."""
        for name in self.store.pending_notifiers():
            if name not in self.senders:
                self.delivery.deliver_due(name)

    def refresh_alertmanager(self, name: str) -> None:
        """Re-post the firing alerts routed to one Alertmanager; never raises."""
        sender = self.senders.get(name)
        if not isinstance(sender, AlertmanagerSender):
            return
        with self.lock:
            rules = {r.name: r for r in [*self.config.rules, *slo_rules(self.config)]}
            rules[SYNC_FAILING] = sync_failing_rule(self.config)
        firing = [
            FiringAlert(rule, st.group, st.severity, st.alert_id, st.started_at, st.last_value)
            for st in self.alert_states()
            if st.state == "firing"
            and st.severity is not None
            and st.alert_id is not None
            and st.started_at is not None
            and (rule := rules.get(st.rule)) is not None
            and name in rule.notifiers_for(st.severity)
        ]
        try:
            sender.refresh(firing)
        except DeliveryError as exc:
            self.metrics.notifications_failed.labels(name).inc()
            log.warning("re-posting %d firing alerts to %s failed: %s", len(firing), name, exc)
        except Exception:
            log.exception("re-posting firing alerts to %s failed unexpectedly", name)

    def prune_outbox(self) -> None:
        """Forget delivered and dead entries older than ``delivery.keep``."""
        try:
            self.store.prune_outbox(self.clock.now() - self.config.delivery.keep)
            self.store.prune_slack_messages()
        except Exception:
            log.exception("pruning the outbox failed")

    def prune_silences(self) -> None:
        """Forget silences that ended more than ``delivery.keep`` ago."""
        try:
            self.store.prune_silences(self.clock.now() - self.config.delivery.keep)
        except Exception:
            log.exception("pruning silences failed")

    # --- reload ------------------------------------------------------------------------

    def apply_config(self, config: Config) -> None:
        """Put a new, already validated config in force; states of kept rules survive.

        Under the daemon's lock, like a step: a step in progress commits first, and the
        next one runs on the new config. Groups a kept rule no longer watches (its
        ``per`` or trunk filters changed) are closed by that next step.
        """
        with self.lock:
            self._apply_config(config)

    def _apply_config(self, config: Config) -> None:
        self.windows.set_retention(window_retention(config), now=self.clock.now())
        kept = {r.name for r in [*config.rules, *slo_rules(config)]} | {SYNC_FAILING}
        self.store.rollup_counters = classifiers(config.slos)
        self.states = [s for s in self.states if s.rule in kept]
        self.metrics.export_window = config.export.window
        # A lower cap applies to trunks not exported yet: a series cannot be taken back.
        self.metrics.cap.limit = config.export.max_trunks
        self.client.max_pages = config.poll.max_pages
        self.sync.backfill, self.sync.overlap = config.poll.backfill, config.poll.overlap
        self._overview_fields = {str(k): v for k, v in config.overview_fields.items()}
        old, self.config = self.config, config
        old_poll = old.poll
        if config.notifiers != old.notifiers or config.delivery != old.delivery:
            self._replace_senders()
        if config.heartbeat != old.heartbeat:
            if self.heartbeat_pinger is not None:
                self.heartbeat_pinger.close()
            self.heartbeat_pinger = _pinger(config)
            if self.scheduler.running:
                self._schedule_heartbeat()
        if self.scheduler.running and config.poll != old_poll:
            self.scheduler.reschedule_job(
                "calls", trigger="interval", seconds=config.poll.calls_every.total_seconds()
            )
            self.scheduler.reschedule_job(
                "overview", trigger="interval", seconds=config.poll.overview_every.total_seconds()
            )
        log.info("config reloaded: %s", config.summary())

    def _replace_senders(self) -> None:
        running = self.scheduler.running
        self.delivery_threads.stop()
        close_senders(self.senders)
        for job in self.scheduler.get_jobs():
            if job.id.startswith("alertmanager-"):
                job.remove()
        self.senders = build_senders(
            self.config.notifiers, self.clock, self.store, console=self._console
        )
        self.delivery = self._worker()
        self.delivery_threads = DeliveryThreads(self.delivery)
        self.drop_unrouted()
        if running:
            self.delivery_threads.start()
            self._schedule_alertmanager()

    def _failed(self, health: SyncHealth, endpoint: str, exc: ApiError | None) -> None:
        now = self.clock.now()
        first = health.failing_since is None
        message = str(exc) if exc is not None else "unexpected error (see the traceback above)"
        health.record_failure(now, message, key_refused=isinstance(exc, AuthError))
        self.metrics.on_sync(endpoint, ok=False, at=now)
        if exc is not None:
            log.log(
                logging.ERROR if first else logging.WARNING,
                "polling %s failed (%d in a row): %s",
                endpoint, health.consecutive_failures, message,
            )  # fmt: skip

    def status_snapshot(self) -> StatusSnapshot:
        """What the status page shows, copied under the lock (sync and steps change it)."""
        now = self.clock.now()
        with self.lock:
            policy = self.quiet_policy(now)
            states, latest = list(self.states), dict(self.latest)
            calls, overview = replace(self.calls_health), replace(self.overview_health)
            watermark, links = self.sync.watermark, self.config.links
            slos = slo_rows(self.slo_figures)
        return snapshot(
            now,
            states=states,
            rules=policy.rules,
            latest=latest,
            links=links,
            silences=policy.silences,
            calls=calls,
            overview=overview,
            watermark=watermark,
            readiness=self.readiness(),
            rate_limit=self.client.rate_limit,
            rate_limit_remaining=self.client.rate_limit_remaining,
            trends=self.history.trends(now),
            slos=slos,
        )

    def readiness(self) -> tuple[bool, str]:
        """/readyz: calls synced recently and the key accepted."""
        max_age = max(self.config.poll.calls_every * READY_INTERVALS, timedelta(minutes=1))
        return self.calls_health.ready(self.clock.now(), max_age)
