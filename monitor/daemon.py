"""Wiring for ``telepath-monitor run``: scheduler jobs, HTTP server, signals, shutdown.

Jobs run on APScheduler 3.x threads, one instance each at a time, coalesced when late.
A job never raises into the scheduler: API failures are logged, counted and recorded
in the sync health; anything unexpected is logged with its traceback and the daemon
carries on. Stopping is bounded by ``TELEPATH_SHUTDOWN_GRACE`` (:mod:`monitor.shutdown`):
a running poll's waits end at once, then the server and the state DB are closed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TextIO

import httpx
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.alerts import AlertState, Intent
from monitor.baselines import HistoryBaselines
from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.details import DetailFetcher
from monitor.errors import ApiError, AuthError, DeliveryError, ShutdownRequested
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
from monitor.shutdown import StoppableClock
from monitor.slo import slo_rules
from monitor.slo.metrics import histogram_edges
from monitor.slo.tracker import SloTracker
from monitor.status import StatusSnapshot, render, snapshot
from monitor.store import StateStore
from monitor.sync import CallSync, SyncHealth
from monitor.telepath.client import TelepathClient, build_http_client
from monitor.trunks import TrunkCatalogue
from monitor.webconfig import load_web_config
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
        #: Set by stop(): the client's waits end and a running poll unwinds.
        self.stopping = threading.Event()
        api_key = settings.require_api_key()
        # Before anything is opened: a bad web config stops the start with nothing to undo.
        self.web = None if settings.web_config is None else load_web_config(settings.web_config)
        self.store = StateStore(settings.state_db)
        #: Trunk names, providers and statuses (GET /trunks), kept in the state DB.
        self.catalogue = TrunkCatalogue(self.store.load_trunks())
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
            trunk_info=lambda: list(self.catalogue),
            outbox_stats=lambda: self.store.outbox_stats(self.clock.now()),
            overview=lambda: self.overview,
            latency_buckets=histogram_edges(config),
        )
        self.slos = SloTracker(lambda: self.config, self.store, self.metrics)
        self.client = TelepathClient(
            http or build_http_client(settings.api_url, timeout=settings.api_timeout),
            api_key=api_key,
            clock=StoppableClock(self.clock, self.stopping),
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
            margin=config.poll.calls_every,
            sweep_every=config.poll.sweep_every,
            lock=self.lock,
            on_new_calls=self._on_new_calls,
        )
        self._overview_fields = {str(k): v for k, v in config.overview_fields.items()}
        self.known_trunks: set[str] = set()
        self.details = DetailFetcher(self.client, self.store, self.clock, config.links)
        self.trunks_health = SyncHealth()
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
            web=self.web,
            listener=self.metrics.on_server_event,
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
        log.info(
            "serving /metrics, /healthz and /readyz on %s:%d (%s)", host, port, self.server.scheme
        )
        if self.web is not None:
            log.info("web config %s: %s", self.web.path, self.web.summary())
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
        self.scheduler.add_job(
            self.poll_trunks, "interval", seconds=poll.trunks_every.total_seconds(),
            id="trunks", next_run_time=now,
        )  # fmt: skip
        self._schedule_alertmanager()
        self._schedule_heartbeat()
        self.scheduler.add_job(self.prune, "interval", hours=1, id="prune")
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

    def stop(self) -> bool:
        """Stop taking work, cut a running poll short, then release everything, all
        within ``TELEPATH_SHUTDOWN_GRACE`` seconds.

        Returns:
            True when every job and delivery ended in time; False when one is still
            running (its thread is left behind: the caller should exit at once).
        """
        grace = self.settings.shutdown_grace
        deadline = time.monotonic() + grace
        self.stopping.set()
        running = self.scheduler.running
        clean = True
        if running:
            log.info("stopping: cutting running polls short (at most %.0fs)", grace)
            self.client.cancel()  # a slow response must not hold up the shutdown
            # On a thread of its own, so the wait for a stuck job is bounded here.
            waiter = threading.Thread(
                target=self.scheduler.shutdown, kwargs={"wait": True}, name="scheduler-stop"
            )
            waiter.daemon = True
            waiter.start()
            waiter.join(max(0.0, deadline - time.monotonic()))
            clean = not waiter.is_alive()
        self.delivery_threads.stop(timeout=max(0.1, deadline - time.monotonic()))
        close_senders(self.senders)
        if self.heartbeat_pinger is not None:
            self.heartbeat_pinger.close()
        self.server.stop()
        if not clean:
            # The stuck job may still use the client and the store; SQLite's journal
            # keeps the DB consistent when the process exits under it.
            log.error(
                "a poll did not end within TELEPATH_SHUTDOWN_GRACE (%.0fs); exiting "
                "anyway, the next start reads its range again",
                grace,
            )
            return False
        self.client.close()
        self.store.close()
        if running:
            log.info("stopped")
        return True

    # --- jobs --------------------------------------------------------------------------

    def poll_calls(self) -> None:
        """One incremental sync of /calls; never raises."""
        started = self.clock.monotonic()
        try:
            result = self.sync.poll()
        except ShutdownRequested:
            log.info("the poll of /calls was cut short by the shutdown; it is read again at start")
            return
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
        self.send_details(self.evaluate(sync_ok=True))
        self.metrics.on_sync("/calls", ok=True, at=now)
        took = self.clock.monotonic() - started
        self.metrics.sync_duration.observe(took)
        self._note_slow_poll(took)
        self.metrics.duplicates.inc(result.duplicates)
        self.metrics.late_calls.inc(result.late)
        self.metrics.calls_in_progress.set(result.in_progress)
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
        except ShutdownRequested:
            return
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

    def poll_trunks(self) -> None:
        """Read the trunk catalogue (``GET /trunks``); never raises."""
        try:
            listed = self.client.list_trunks()
        except ApiError as exc:
            self._failed(self.trunks_health, "/trunks", exc)
            return
        except Exception:
            log.exception("reading /trunks failed unexpectedly")
            self._failed(self.trunks_health, "/trunks", None)
            return
        now = self.clock.now()
        with self.lock:
            renames = self.catalogue.update(listed)
            trunks = list(self.catalogue)
        for trunk_id, old, new in renames:
            log.info("trunk %s renamed from %r to %r", trunk_id, old, new)
        if not listed:
            log.warning("/trunks listed no trunk; keeping the %d known", len(trunks))
        try:
            self.store.save_trunks(trunks)
        except Exception:
            log.exception("saving the trunk catalogue failed")
        self.trunks_health.record_success(now)
        self.metrics.on_sync("/trunks", ok=True, at=now)

    def send_details(self, intents: Sequence[Intent]) -> int:
        """Fetch call details for newly firing alerts and queue their follow-ups; never
        raises. Runs after the firing notifications were queued, so it delays none."""
        try:
            follow_ups = self.details.follow_ups(
                intents, group_flags(self.senders), self.catalogue.names()
            )
            if follow_ups:
                self.store.enqueue(follow_ups)
                self.delivery_threads.wake()
            return len(follow_ups)
        except Exception:
            log.exception("call details failed unexpectedly")
            return 0

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
                slos=self.slos.refresh(now, self.known_trunks),
                catalogue=self.catalogue,
                baselines=HistoryBaselines(self.history.history),
            )

    def _on_new_calls(self, calls: Sequence[Call]) -> None:
        self.metrics.on_new_calls(calls)
        self.slos.on_new_calls(calls)

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

    def send_now(
        self, notifications: Sequence[Notification], intents: Sequence[Intent] = ()
    ) -> int:
        """Queue notifications and deliver them at once, without the threads (``once
        --notify``), then the call-detail follow-ups of ``intents`` (the step's intents
        that caused them); returns how many were delivered. What a first attempt could
        not deliver is dead-lettered, not left for a later ``run``."""
        self.store.enqueue(notifications)
        delivered = sum(self.delivery.deliver_due(name) for name in self.senders)
        names = self.catalogue.names()
        follow_ups = self.details.follow_ups(intents, group_flags(self.senders), names)
        self.store.enqueue(follow_ups)
        delivered += sum(self.delivery.deliver_due(name) for name in self.senders)
        # Nothing is left behind for a later `run` to send long after the fact.
        ids = {n.id for n in [*notifications, *follow_ups]}
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
            attributions = {key: obs.attribution for key, obs in self.latest.items()}
        firing = [
            FiringAlert(
                rule,
                st.group,
                st.severity,
                st.alert_id,
                st.started_at,
                st.last_value,
                trunk_name=self.catalogue.name(st.group),
                attribution=attributions.get(st.key),
                call_details=tuple(self.store.alert_details(st.alert_id)),
            )
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

    def prune(self) -> None:
        """Forget delivered and dead notifications, and silences, over ``delivery.keep`` old."""
        try:
            self.store.prune_outbox(self.clock.now() - self.config.delivery.keep)
            self.store.prune_slack_messages()
            self.details.prune(self.clock.now())
            self.store.prune_silences(self.clock.now() - self.config.delivery.keep)
        except Exception:
            log.exception("pruning the state DB failed")

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
        self.slos.configure(config)
        self.states = [s for s in self.states if s.rule in kept]
        self.metrics.export_window = config.export.window
        # A lower cap applies to trunks not exported yet: a series cannot be taken back.
        self.metrics.cap.limit = config.export.max_trunks
        self.client.max_pages = config.poll.max_pages
        self.details.links = config.links
        self.sync.backfill, self.sync.overlap = config.poll.backfill, config.poll.overlap
        self.sync.margin, self.sync.sweep_every = config.poll.calls_every, config.poll.sweep_every
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
            self.scheduler.reschedule_job(
                "trunks", trigger="interval", seconds=config.poll.trunks_every.total_seconds()
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
            trunks = {trunk.id: trunk for trunk in self.catalogue}
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
            trends=self.history.trends(now, self.catalogue.names()),
            slos=self.slos.rows(),
            trunks=trunks,
        )

    def readiness(self) -> tuple[bool, str]:
        """/readyz: calls synced recently and the key accepted."""
        max_age = max(self.config.poll.calls_every * READY_INTERVALS, timedelta(minutes=1))
        return self.calls_health.ready(self.clock.now(), max_age)
