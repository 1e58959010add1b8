"""Rules over windows: each (rule, group) becomes one observation, a value or "no data".

Pure: no I/O, no clock. The caller passes ``now`` and the windows; the alert engine
(:mod:`monitor.alerts`) turns observations into alert transitions.

Groups
    ``per: account`` gives one observation with group None. ``per: trunk`` gives one per
    trunk: those holding calls, plus ``known_trunks`` (seen before, maybe silent now: a
    flatlined trunk drops out of the windows, yet "no calls" is exactly what a
    ``call_count < 1`` rule must see), plus every trunk of an allow-list (``trunks``),
    seen or not. ``trunks`` keeps only the listed ones; ``exclude_trunks`` drops some.
    ``trunk_names`` adds the catalogue's trunks whose name matches a glob, while they are
    listed or seen (with ``trunks``, either selects). A count rule (``call_count``) gives
    a trunk the catalogue knows to be switched off no value (reason "trunk is inactive")
    and resolves its open alert: a trunk disabled on purpose is no flatline.

Filters
    ``status:`` and ``direction:`` keep only those calls for every figure of the rule,
    latencies included (``monitor.windows.WindowView.select``).

Attribution
    A latency observation past its lowest threshold carries the attribution of its
    latency to the three components (``monitor.attribution``); below it none is
    computed, since nothing will be sent, and the baseline view would cost a copy.

No data
    A value of None means the rule cannot say: fewer calls than ``min_calls``, a
    statistic over zero samples (every call lacked the metric), no overview yet, or an
    overview without the metric. ``call_count`` over calls is never "no data": zero calls
    is its answer, so it ignores ``min_calls``.

Order
    Observations come in the order of ``rules``, and within a rule by sorted group, so
    two evaluations of the same input compare equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from monitor.attribution import BASELINE, Attribution, attribute
from monitor.config import Rule
from monitor.models import LATENCY_METRICS, Call, Overview
from monitor.trunks import TrunkCatalogue
from monitor.windows import CallWindows, ViewCache, WindowView

__all__ = ["OFFENDING_CALLS", "Observation", "evaluate"]

#: How many offending calls an observation carries (and an alert shows).
OFFENDING_CALLS: Final = 5


@dataclass(frozen=True, slots=True)
class Observation:
    """What one rule saw for one group at one evaluation.

    ``offending`` holds up to five calls that explain the value: for a latency rule the
    worst by the rule's metric (highest first for ``>``/``>=``, lowest first for
    ``<``/``<=``), for ``failed_ratio`` the newest failed calls, for ``call_count`` and
    overview rules none. It is empty when there is no data.
    """

    rule: Rule
    #: The trunk for ``per: trunk``, None for account-wide.
    group: str | None
    #: None means no data; ``reason`` says why.
    value: float | None
    #: Calls in the window; for overview rules the overview's call_count, else 0.
    calls: int
    reason: str | None = None
    offending: tuple[Call, ...] = ()
    #: For a latency value past a threshold: what each component did.
    attribution: Attribution | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        """The alert this observation belongs to: (rule name, group)."""
        return (self.rule.name, self.group)


def evaluate(
    rules: Sequence[Rule],
    windows: CallWindows,
    overview: Overview | None,
    now: datetime,
    *,
    known_trunks: Iterable[str] = (),
    catalogue: TrunkCatalogue | None = None,
) -> list[Observation]:
    """Evaluate every rule at ``now``.

    Args:
        rules: the rules, in config order.
        windows: the sliding windows; their retention must cover every rule's window.
        overview: the latest ``/analytics/overview``, or None before the first one.
        now: the end of every window.
        known_trunks: trunks seen before that may hold no calls now.
        catalogue: trunk names and statuses, for ``trunk_names`` and count rules.

    Raises:
        ValueError: a rule's window exceeds the windows' retention (a wiring mistake).
    """
    views = ViewCache(windows, now)
    present = windows.trunks()
    known = set(known_trunks)
    catalogue = catalogue or TrunkCatalogue()
    out: list[Observation] = []
    for rule in rules:
        if rule.source == "overview":
            out.append(_from_overview(rule, overview))
            continue
        statuses = frozenset(rule.status) if rule.status else None
        groups = [None] if rule.per == "account" else _trunks_of(rule, present, known, catalogue)
        for group in groups:
            if group is not None and rule.metric == "call_count" and catalogue.inactive(group):
                out.append(_inactive(rule, group, catalogue))
                continue
            view = views.get(group, rule.window, statuses, rule.direction)
            obs = _from_view(rule, group, view)
            if _worth_attributing(obs):
                baseline = _baseline(windows, rule, group, now, statuses)
                obs = replace(obs, attribution=attribute(view, baseline))
            out.append(obs)
    return out


def _trunks_of(
    rule: Rule, present: Iterable[str], known: set[str], catalogue: TrunkCatalogue
) -> list[str]:
    """The trunks a per-trunk rule observes, sorted."""
    if rule.trunks is not None or rule.trunk_names is not None:
        # An allow-listed trunk that never called is still watched: it may be the dead one.
        chosen = set(rule.trunks or ())
        seen = known.union(present)
        if rule.trunk_names:
            # A trunk gone from the list (deleted, most likely) is watched only while seen.
            chosen |= {
                t
                for t in catalogue.matching(rule.trunk_names)
                if t in seen or getattr(catalogue.get(t), "listed", False)
            }
        return sorted(chosen.difference(rule.exclude_trunks))
    return sorted(known.union(present).difference(rule.exclude_trunks))


def _inactive(rule: Rule, group: str, catalogue: TrunkCatalogue) -> Observation:
    info = catalogue.get(group)
    status = info.status if info is not None else None
    # No data that resolves: an alert opened before the trunk was switched off closes.
    resolving = rule.model_copy(update={"no_data": "resolve"})
    return Observation(resolving, group, None, 0, f"trunk is {status or 'inactive'}")


def _worth_attributing(obs: Observation) -> bool:
    rule, value = obs.rule, obs.value
    if value is None or rule.metric not in LATENCY_METRICS:
        return False
    return any(rule.breaches(value, threshold) for _, threshold in rule.thresholds())


def _baseline(
    windows: CallWindows,
    rule: Rule,
    group: str | None,
    now: datetime,
    statuses: frozenset[str] | None,
) -> WindowView | None:
    """The period before the rule's window, as long as the windows hold (see attribution)."""
    span = min(BASELINE, windows.retention - rule.window)
    if span <= timedelta(0):
        return None
    return windows.view(group, now - rule.window, span).select(statuses, rule.direction)


def _from_view(rule: Rule, group: str | None, view: WindowView) -> Observation:
    calls = view.count
    if rule.metric == "call_count":
        return Observation(rule, group, float(calls), calls)
    if calls < rule.min_calls:
        noun = "call" if calls == 1 else "calls"
        reason = f"{calls} {noun}, fewer than min_calls {rule.min_calls}"
        return Observation(rule, group, None, calls, reason)
    if rule.metric == "failed_ratio":
        ratio = view.failed_ratio()
        if ratio is None:
            return Observation(rule, group, None, calls, "no calls in the window")
        return Observation(rule, group, ratio, calls, None, tuple(view.failed_calls()))
    value = view.stat(rule.metric, rule.stat or "avg")
    if value is None:
        reason = f"no call in the window has {rule.metric}"
        return Observation(rule, group, None, calls, reason)
    highest = rule.op in (">", ">=")
    worst = view.worst_calls(rule.metric, OFFENDING_CALLS, highest=highest)
    return Observation(rule, group, value, calls, None, tuple(worst))


def _from_overview(rule: Rule, overview: Overview | None) -> Observation:
    if overview is None:
        return Observation(rule, None, None, 0, "no overview yet")
    count = overview.get("call_count")
    calls = int(count) if count is not None else 0
    value = overview.get(rule.metric)
    if value is None:
        return Observation(rule, None, None, calls, f"overview has no {rule.metric}")
    return Observation(rule, None, value, calls)
