"""One evaluation, from windows to notifications: the step every command runs.

Pure: no I/O, no clock, no lock. ``run`` (the daemon), ``once`` and ``backtest`` all
call :func:`step`; the daemon takes its lock around it, commits the result's states and
notifications in one transaction, then wakes the outbox. The flow, top to bottom::

    windows + overview + trunk catalogue ──rules.evaluate──▶ observations
    observations + states ──alerts (quiet policy asked per intent)──▶ intents, held
    the daemon's own sync-failing alert, on its own states ──▶ intents, held
    intents ──notify.outbox──▶ notifications (one per notifier, grouped where it groups)

Decisions:

- While ``/calls`` fails (``sync_ok`` False) no rule is evaluated and every alert holds;
  only the sync-failing alert moves, so it can fire while the rules hold.
- While ``/analytics/overview`` fails (``overview_ok`` False) the overview rules hold the
  same way: they never judge a stale overview.
- The sync-failing alert lives on its own states, so inhibition between it and the
  rules never applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.alerts import AlertEngine, AlertState, Intent, Quiet
from monitor.attribution import BASELINE
from monitor.baselines import BaselineSource
from monitor.config import Config, Rule
from monitor.models import LATENCY_METRICS, Overview
from monitor.notify.base import Notification
from monitor.notify.outbox import notifications_for
from monitor.quiet import Firing, QuietPolicy, Silence
from monitor.rules import Observation, evaluate
from monitor.slo import SloFigures, slo_rules
from monitor.slo import observations as slo_observations
from monitor.trunks import TrunkCatalogue
from monitor.windows import CallWindows

__all__ = [
    "SYNC_FAILING",
    "StepResult",
    "Sync",
    "quiet_policy",
    "step",
    "sync_failing_rule",
    "window_retention",
]

#: The rule name of the daemon's own alert.
SYNC_FAILING = "monitor-sync-failing"


@dataclass(frozen=True)
class Sync:
    """How polling goes, as far as one step cares."""

    #: The last poll of /calls succeeded: the windows are current.
    calls_ok: bool = True
    #: Since when /calls has been failing (None while it works).
    calls_failing_since: datetime | None = None
    #: The overview is current (False while polling it fails).
    overview_ok: bool = True


@dataclass(frozen=True)
class StepResult:
    """Everything one step decided; the caller commits ``states`` and ``notifications``."""

    now: datetime
    #: The rules' observations, in rule order (empty while /calls fails).
    observations: list[Observation]
    #: Notifications to send, rules first, then the sync-failing alert.
    intents: list[Intent]
    #: Notifications held back by a silence, maintenance window or inhibition, with why.
    held: list[tuple[Intent, str]]
    #: ``intents`` as outbox rows, one per notifier (grouped where it groups).
    notifications: list[Notification]
    #: Every alert's state after the step, the sync-failing alert's included.
    states: list[AlertState]

    def state(self, rule: str, group: str | None) -> AlertState | None:
        """One alert's state after the step, or None when nothing is known of it."""
        return next((s for s in self.states if s.key == (rule, group)), None)


def step(
    config: Config,
    windows: CallWindows,
    overview: Overview | None,
    states: Sequence[AlertState],
    now: datetime,
    *,
    quiet: QuietPolicy | None,
    sync: Sync,
    known_trunks: Set[str] = frozenset(),
    grouping: Mapping[str, bool] | None = None,
    slos: Sequence[SloFigures] = (),
    catalogue: TrunkCatalogue | None = None,
    baselines: BaselineSource | None = None,
) -> StepResult:
    """Evaluate every rule at ``now`` and advance the alerts; change nothing given.

    Args:
        config: the config in force.
        windows: the call windows (the caller holds whatever lock guards them).
        overview: the latest overview, or None before the first one.
        states: every alert's state before the step.
        now: the evaluation time, timezone-aware.
        quiet: silences, maintenance windows and inhibition; None holds nothing.
        sync: how polling goes.
        known_trunks: trunks seen before that may hold no calls now.
        grouping: notifier name -> whether it groups; None: every configured notifier,
            ungrouped (only what ``notifications`` holds depends on it).
        slos: every SLO's figures at ``now`` (:func:`monitor.slo.source.read_figures`);
            their burn alerts follow the rules' observations.
        catalogue: trunk names and statuses (``trunk_names``, count rules, and the
            names in the notifications); None: no trunk is known by name.
        baselines: where ``compare:`` rules read their baselines (the history, or a
            backtest's calls); None makes them "no data".
    """
    rule_states = [s for s in states if s.rule != SYNC_FAILING]
    own_states = [s for s in states if s.rule == SYNC_FAILING]

    observations: list[Observation] = []
    if sync.calls_ok:
        watched = known_trunks | {s.group for s in rule_states if s.group and s.state != "inactive"}
        observations = evaluate(
            config.rules,
            windows,
            overview,
            now,
            known_trunks=watched,
            catalogue=catalogue,
            baselines=baselines,
        )
        observations += slo_observations(config, slos, windows, now)
    overview_rules = (
        [] if sync.overview_ok else [r.name for r in config.rules if r.source == "overview"]
    )

    rules = AlertEngine(config.links, rule_states, [*config.rules, *slo_rules(config)])
    decided = rules.advance(
        observations,
        now,
        sync_ok=sync.calls_ok,
        quiet=_asker(quiet, now),
        hold_rules=overview_rules,
    )
    own_rule = sync_failing_rule(config)
    own = AlertEngine(config.links, own_states, [own_rule])
    own_decided = own.advance(
        [_sync_failing(own_rule, config, sync, now)], now, quiet=_asker(quiet, now)
    )

    intents = decided.intents + own_decided.intents
    flags = grouping if grouping is not None else dict.fromkeys(config.notifiers, False)
    return StepResult(
        now=now,
        observations=observations,
        intents=intents,
        held=decided.held + own_decided.held,
        notifications=notifications_for(
            intents, flags, now, None if catalogue is None else catalogue.names()
        ),
        states=rules.states() + own.states(),
    )


def quiet_policy(config: Config, silences: Iterable[Silence]) -> QuietPolicy:
    """The silences given, the config's maintenance windows and inhibition rules."""
    rules = {r.name: r for r in [*config.rules, *slo_rules(config)]}
    rules[SYNC_FAILING] = sync_failing_rule(config)
    return QuietPolicy(rules, silences, config.mute, config.inhibit)


def _asker(policy: QuietPolicy | None, now: datetime) -> Quiet | None:
    """The engine's question "why is this held?", answered from the firing alerts."""
    if policy is None:
        return None

    def ask(rule: Rule, group: str | None, states: Sequence[AlertState]) -> str | None:
        firing = [Firing(s.rule, s.group, s.severity) for s in states if s.state == "firing"]
        return policy.reason(rule, group, firing, now)

    return ask


def sync_failing_rule(config: Config) -> Rule:
    """The daemon's own alert: value = seconds /calls has been failing."""
    spec = config.sync_failing
    threshold = spec.after.total_seconds()
    return Rule(
        name=SYNC_FAILING,
        summary="telepath-monitor cannot read the Telepath API; latency alerts are on hold",
        metric="call_count",
        per="account",
        op=">=",
        min_calls=0,
        warning=threshold if spec.severity == "warning" else None,
        critical=threshold if spec.severity == "critical" else None,
        repeat=config.defaults.repeat,
        notify=spec.notify,
        labels={"source": "telepath-monitor"},
        **{"for": timedelta(0)},
    )


def _sync_failing(rule: Rule, config: Config, sync: Sync, now: datetime) -> Observation:
    since = sync.calls_failing_since
    seconds = 0.0 if since is None else (now - since).total_seconds()
    if not config.sync_failing.enabled:
        seconds = 0.0
    return Observation(rule=rule, group=None, value=seconds, calls=0)


def window_retention(config: Config) -> timedelta:
    """How long calls must be kept: the longest window any rule or the export asks for,
    plus the hour before a latency rule's window that attribution compares with."""
    windows = [config.export.window]
    for rule in config.rules:
        if rule.source == "calls":
            latency = rule.metric in LATENCY_METRICS
            windows.append(rule.window + BASELINE if latency else rule.window)
    return max(windows)
