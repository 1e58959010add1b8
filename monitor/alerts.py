"""The alert state machine: observations in, notification intents out.

Pure: no I/O, no clock. :meth:`AlertEngine.step` takes the observations of one
evaluation (:mod:`monitor.rules`) and ``now``; it returns :class:`Intent` records that the
notifiers act on, and the caller persists :meth:`AlertEngine.states` with them so a
restart neither repeats a notification nor forgets an open alert.

One alert per (rule, group). Its life::

    inactive ──breach──▶ pending ──held for `for`──▶ firing ──clear──▶ inactive
                           │ clear before `for`         │ severity changes: escalated/deescalated
                           └──────▶ inactive (silent)   │ every `repeat`: repeat

"Resolved" is not a stored state: resolving sends a ``resolved`` intent and returns the
alert to inactive with ``resolved_at`` set; the next breach starts a new instance with a
new ``alert_id``. Decisions where the behaviour is a choice:

- Severity is the most severe threshold breached, critical over warning.
- Hysteresis between severities: a critical alert falls back to warning only once the
  value no longer breaches the de-escalation level, halfway between ``warning`` and
  ``critical`` (for ``op: >`` with warning 700 and critical 1000: at 850 or below). A
  value hovering at the critical threshold stays critical instead of sending an
  escalate/de-escalate pair at every poll; escalation is at the threshold itself.
- Hysteresis: with ``recovery`` set, a firing alert clears only once the value no longer
  breaches ``recovery`` under the rule's own ``op`` (for ``>``: value <= recovery; for
  ``>=``: value < recovery; mirrored for ``<``/``<=``). Between ``recovery`` and the
  lowest threshold it stays firing at the lowest configured severity. Pending alerts
  ignore ``recovery``: nothing was sent, so there is nothing to flap.
- No data, ``no_data: keep``: the alert holds. Pending does not progress, but keeps its
  ``pending_since``, so a breach seen when data returns fires if ``for`` has elapsed by
  then. Firing keeps repeating (the alert is still open), with value None.
- No data, ``no_data: resolve``: firing resolves (value None), pending goes inactive.
- A (rule, group) that had state but no observation this step (a trunk that vanished
  from the windows) counts as no data. An inactive one is simply forgotten.
- A kept rule whose ``per`` or trunk filters changed (config reload), or a trunk whose
  name no longer matches the rule's ``trunk_names``, is no longer watched: the alert
  resolves at the next step (reason "no longer watched"), a pending one goes inactive
  silently. They do not wait for ``no_data``.
- ``sync_ok=False``: our own failure, not the calls'. Nothing moves and nothing is sent.
  ``hold_rules`` does the same for some rules only (overview rules while polling the
  overview fails): their alerts keep their state and send nothing.
- Repeats are timed from the last notification of any kind (firing, escalation, repeat).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, TypeVar

from monitor.attribution import Attribution
from monitor.config import Links, Rule, Severity
from monitor.models import Call
from monitor.rules import Observation

__all__ = ["Advance", "AlertEngine", "AlertState", "Intent", "IntentKind", "State"]

State = Literal[
    "inactive",  # the condition is false, unknown, or the alert was resolved: nothing is open
    "pending",  # the condition is true but has not held for `for` yet: nothing was sent
    "firing",  # the condition held for `for`: notified, repeats and escalates until it clears
]
IntentKind = Literal["firing", "escalated", "deescalated", "repeat", "resolved"]
Key = tuple[str, str | None]
#: Why an alert's notifications are held: (rule, group, every state) -> reason or None.
Quiet = Callable[[Rule, str | None, Sequence["AlertState"]], str | None]
#: The reason a group resolves when its rule no longer watches it.
NOT_WATCHED = "no longer watched by the rule (its filters or the trunk's name changed)"

_TIMES = ("pending_since", "started_at", "last_notified_at", "resolved_at")
_T = TypeVar("_T")


@dataclass
class AlertState:
    """The state of one alert, (rule name, group); serialisable with :meth:`to_dict`."""

    rule: str
    #: The trunk for per-trunk rules, None for account-wide ones.
    group: str | None
    state: State = "inactive"
    #: While pending or firing, the severity it is at.
    severity: Severity | None = None
    pending_since: datetime | None = None
    #: When this instance began firing.
    started_at: datetime | None = None
    last_notified_at: datetime | None = None
    #: The most severe value seen while firing.
    peak_value: float | None = None
    #: The latest value seen (kept through "no data", which ``no_data`` flags).
    last_value: float | None = None
    #: The latest observation had no value.
    no_data: bool = False
    #: Stable id of the firing instance; notifiers use it as the idempotency key.
    alert_id: str | None = None
    #: When the previous instance resolved.
    resolved_at: datetime | None = None
    #: Why this alert's notifications are held right now (silence, maintenance window,
    #: inhibition); None while they flow.
    held: str | None = None
    #: Whether this firing instance was announced; a held firing is announced once
    #: nothing holds it anymore, and an unannounced one resolves silently.
    announced: bool = True

    @property
    def key(self) -> Key:
        return (self.rule, self.group)

    @property
    def display_state(self) -> str:
        """The state for people: ``no_data`` replaces ``inactive`` when nothing is known."""
        return "no_data" if self.no_data and self.state == "inactive" else self.state

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe dict (times as ISO 8601 strings)."""
        out: dict[str, object] = {
            "rule": self.rule,
            "group": self.group,
            "state": self.state,
            "severity": self.severity,
            "peak_value": self.peak_value,
            "last_value": self.last_value,
            "no_data": self.no_data,
            "alert_id": self.alert_id,
            "held": self.held,
            "announced": self.announced,
        }
        for name in _TIMES:
            time: datetime | None = getattr(self, name)
            out[name] = None if time is None else time.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> AlertState:
        """Rebuild a state saved by :meth:`to_dict`; unknown keys are ignored.

        Raises:
            ValueError: a field is missing or of the wrong type, or the state is
                inconsistent (firing without an id), e.g. a damaged state DB row.
        """
        state = data.get("state", "inactive")
        if state not in ("inactive", "pending", "firing"):
            raise ValueError(f"alert state: unknown state {state!r}")
        severity = data.get("severity")
        if severity not in (None, "warning", "critical"):
            raise ValueError(f"alert state: unknown severity {severity!r}")
        no_data = data.get("no_data", False)
        announced = data.get("announced", True)
        if not isinstance(no_data, bool) or not isinstance(announced, bool):
            raise ValueError("alert state: no_data and announced must be true or false")
        rule = _opt(data, "rule", str)
        if rule is None:
            raise ValueError("alert state: rule is missing")
        times = {name: _time(data, name) for name in _TIMES}
        restored = cls(
            rule=rule,
            group=_opt(data, "group", str),
            state=state,
            severity=severity,
            peak_value=_number(data, "peak_value"),
            last_value=_number(data, "last_value"),
            no_data=no_data,
            alert_id=_opt(data, "alert_id", str),
            held=_opt(data, "held", str),
            announced=announced,
            **times,
        )
        restored._check()
        return restored

    def _check(self) -> None:
        if self.state == "pending" and (self.pending_since is None or self.severity is None):
            raise ValueError(f"alert state {self.key}: pending needs pending_since and severity")
        if self.state == "firing" and None in (
            self.alert_id,
            self.started_at,
            self.last_notified_at,
            self.severity,
        ):
            raise ValueError(
                f"alert state {self.key}: firing needs alert_id, started_at, "
                "last_notified_at and severity"
            )


def _opt(data: Mapping[str, object], name: str, kind: type[_T]) -> _T | None:
    value = data.get(name)
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"alert state: {name} must be a {kind.__name__}")
    return value


def _number(data: Mapping[str, object], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"alert state: {name} must be a number")
    return float(value)


def _time(data: Mapping[str, object], name: str) -> datetime | None:
    text = _opt(data, name, str)
    if text is None:
        return None
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"alert state: {name} has no timezone")
    return parsed


@dataclass(frozen=True)
class Intent:
    """A notification to send: everything a notifier needs, nothing it must look up.

    ``links`` maps each offending call's id to its drill-down URL (``links.call``) and,
    for a per-trunk alert, ``"trunk"`` to the trunk's (``links.trunk``); ids are
    percent-encoded so API text cannot break a link. For ``resolved``, ``threshold`` is
    the one the value came back past (``recovery`` when set) and ``value`` the value at
    resolution (None when resolved for lack of data, ``reason`` saying why).
    """

    kind: IntentKind
    alert_id: str
    rule: Rule
    group: str | None
    severity: Severity
    value: float | None
    threshold: float | None
    peak_value: float | None
    started_at: datetime
    resolved_at: datetime | None
    calls_in_window: int
    offending_calls: tuple[Call, ...]
    links: dict[str, str] = field(hash=False)
    #: Notifier names for this severity.
    notify: tuple[str, ...]
    #: When the transition happened (the evaluation's ``now``).
    at: datetime
    #: Why ``value`` is None, when it is.
    reason: str | None = None
    #: What each latency component did (latency alerts past a threshold).
    attribution: Attribution | None = None

    @property
    def trunk_url(self) -> str | None:
        return self.links.get("trunk")


@dataclass(frozen=True)
class Advance:
    """What one step decided: the notifications to send, and those held with the reason."""

    intents: list[Intent]
    held: list[tuple[Intent, str]]


class AlertEngine:
    """Holds every alert's state and advances them one evaluation at a time.

    Args:
        links: drill-down URL templates for intents.
        states: states saved by a previous run; the alerts continue where they were.
        rules: the configured rules, so groups that are not observed (vanished trunks,
            trunks a changed filter dropped) are judged by their rule from the first step.
    """

    def __init__(
        self, links: Links, states: Iterable[AlertState] = (), rules: Iterable[Rule] = ()
    ) -> None:
        self._links = links
        self._states: dict[Key, AlertState] = {s.key: replace(s) for s in states}
        # The latest Rule seen per name: vanished groups still need theirs.
        self._rules: dict[str, Rule] = {r.name: r for r in rules}

    def states(self) -> list[AlertState]:
        """Copies of every state, sorted by (rule, group), for persistence and display."""
        return [replace(self._states[key]) for key in sorted(self._states, key=_sort_key)]

    def get(self, rule: str, group: str | None) -> AlertState | None:
        """A copy of one alert's state, or None when nothing is known of it."""
        state = self._states.get((rule, group))
        return None if state is None else replace(state)

    def forget_rules_except(self, names: set[str]) -> None:
        """Drop the states of rules no longer configured (config reload); keep the rest."""
        self._states = {k: s for k, s in self._states.items() if s.rule in names}
        self._rules = {n: r for n, r in self._rules.items() if n in names}

    def step(
        self,
        observations: Sequence[Observation],
        now: datetime,
        *,
        sync_ok: bool = True,
        quiet: Quiet | None = None,
    ) -> list[Intent]:
        """:meth:`advance`, keeping only the notifications to send."""
        return self.advance(observations, now, sync_ok=sync_ok, quiet=quiet).intents

    def advance(
        self,
        observations: Sequence[Observation],
        now: datetime,
        *,
        sync_ok: bool = True,
        quiet: Quiet | None = None,
        hold_rules: Iterable[str] = (),
    ) -> Advance:
        """Advance every alert to ``now``; return the notifications to send, in order.

        Args:
            observations: one evaluation's observations; a repeated key keeps the last.
            now: the evaluation time, timezone-aware.
            sync_ok: False when the API could not be reached: every alert holds.
            quiet: says why an alert's notifications are held (silence, maintenance,
                inhibition), given the states after this step; held notifications come
                back in :attr:`Advance.held`, and a held firing alert is announced once
                ``quiet`` lets it go (a ``firing`` intent, or ``repeat`` if it was
                announced before being held).
            hold_rules: rules whose alerts hold this step, as if ``sync_ok`` were False
                for them alone (their source could not be read).

        Raises:
            ValueError: ``now`` is naive.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if not sync_ok:
            return Advance([], [])
        holding = set(hold_rules)
        seen = {obs.key: obs for obs in observations if obs.rule.name not in holding}
        intents: list[Intent] = []
        for key, obs in seen.items():
            self._rules[obs.rule.name] = obs.rule
            state = self._states.setdefault(key, AlertState(*key))
            intents += self._advance(state, obs, now)
        for key in sorted(self._states.keys() - seen.keys(), key=_sort_key):
            state = self._states[key]
            rule = self._rules.get(state.rule)
            if state.rule in holding:
                continue
            if state.state == "inactive":
                del self._states[key]
            elif rule is not None and not rule.watches(state.group):
                intents += self._unwatched(state, rule, now)
            elif rule is not None:  # unknown until its rule is observed again: hold
                missing = Observation(rule, state.group, None, 0, "no longer observed")
                intents += self._advance(state, missing, now)
        return self._quiet(intents, seen, now, quiet)

    def _unwatched(self, st: AlertState, rule: Rule, now: datetime) -> list[Intent]:
        """Close an alert whose group its rule no longer watches (changed on reload)."""
        if st.state != "firing":
            st.state, st.severity, st.pending_since = "inactive", None, None
            return []
        return self._resolve(st, Observation(rule, st.group, None, 0, NOT_WATCHED), now)

    def _quiet(
        self,
        intents: list[Intent],
        seen: Mapping[Key, Observation],
        now: datetime,
        quiet: Quiet | None,
    ) -> Advance:
        states = list(self._states.values())
        out: list[Intent] = []
        held: list[tuple[Intent, str]] = []
        for intent in intents:
            st = self._states[(intent.rule.name, intent.group)]
            reason = None
            if quiet is not None and intent.kind != "resolved":
                reason = quiet(intent.rule, intent.group, states)
            if reason is not None:
                st.held = reason
                held.append((intent, reason))
                continue
            if intent.kind != "resolved":
                st.held, st.announced = None, True
            out.append(intent)
        for key in sorted(seen, key=_sort_key):
            waiting = self._states.get(key)
            if waiting is None or waiting.state != "firing" or waiting.held is None:
                continue
            if quiet is not None and quiet(seen[key].rule, waiting.group, states) is not None:
                continue
            kind: IntentKind = "repeat" if waiting.announced else "firing"
            waiting.held, waiting.announced, waiting.last_notified_at = None, True, now
            out.append(self._intent(kind, waiting, seen[key], now))
        return Advance(out, held)

    # -- transitions -------------------------------------------------------------------

    def _advance(self, st: AlertState, obs: Observation, now: datetime) -> list[Intent]:
        rule, value = obs.rule, obs.value
        if value is None:
            return self._no_data(st, obs, now)
        st.no_data = False
        st.last_value = value
        severity = _severity(rule, value)
        if st.state == "firing":
            return self._while_firing(st, obs, value, severity, now)
        if severity is None:  # pending interrupted, or still quiet: nothing was sent
            st.state, st.severity, st.pending_since = "inactive", None, None
            return []
        if st.state == "inactive" or st.pending_since is None:
            st.state, st.pending_since = "pending", now
        st.severity = severity
        if now - st.pending_since < rule.for_:
            return []
        st.state, st.pending_since, st.announced = "firing", None, False
        st.started_at = st.last_notified_at = now
        st.alert_id = f"{rule.name}:{st.group or 'account'}:{int(now.timestamp())}"
        st.peak_value = value
        return [self._intent("firing", st, obs, now)]

    def _while_firing(
        self,
        st: AlertState,
        obs: Observation,
        value: float,
        severity: Severity | None,
        now: datetime,
    ) -> list[Intent]:
        rule = obs.rule
        st.peak_value = _more_severe(rule, st.peak_value, value)
        if st.severity == "critical" and severity != "critical" and _stays_critical(rule, value):
            severity = "critical"
        if severity is None:
            levels = rule.thresholds()
            if rule.recovery is None or not levels or not rule.breaches(value, rule.recovery):
                return self._resolve(st, obs, now)
            severity = levels[-1][0]  # inside the hysteresis band: the lowest severity
        if severity != st.severity:
            kind: IntentKind = "escalated" if severity == "critical" else "deescalated"
            st.severity, st.last_notified_at = severity, now
            return [self._intent(kind, st, obs, now)]
        return self._maybe_repeat(st, obs, now)

    def _no_data(self, st: AlertState, obs: Observation, now: datetime) -> list[Intent]:
        st.no_data = True
        if st.state == "firing":
            if obs.rule.no_data == "resolve":
                return self._resolve(st, obs, now)
            return self._maybe_repeat(st, obs, now)
        if st.state == "pending" and obs.rule.no_data == "resolve":
            st.state, st.severity, st.pending_since = "inactive", None, None
        return []

    def _maybe_repeat(self, st: AlertState, obs: Observation, now: datetime) -> list[Intent]:
        repeat, last = obs.rule.repeat, st.last_notified_at
        if repeat is None or last is None or now - last < repeat:
            return []
        st.last_notified_at = now
        return [self._intent("repeat", st, obs, now)]

    def _resolve(self, st: AlertState, obs: Observation, now: datetime) -> list[Intent]:
        """Resolve a firing alert; a resolution is sent only if its firing was."""
        rule = obs.rule
        severity = _open_severity(st)
        threshold = rule.recovery if rule.recovery is not None else _threshold(rule, severity)
        intent = self._intent("resolved", st, obs, now, threshold=threshold, resolved_at=now)
        announced = st.announced
        st.state, st.severity, st.alert_id = "inactive", None, None
        st.started_at = st.last_notified_at = st.peak_value = None
        st.resolved_at, st.held, st.announced = now, None, True
        return [intent] if announced else []

    # -- intents -----------------------------------------------------------------------

    def _intent(
        self,
        kind: IntentKind,
        st: AlertState,
        obs: Observation,
        now: datetime,
        *,
        threshold: float | None = None,
        resolved_at: datetime | None = None,
    ) -> Intent:
        rule = obs.rule
        severity = _open_severity(st)
        return Intent(
            kind=kind,
            alert_id=_need(st.alert_id, "alert_id"),
            rule=rule,
            group=st.group,
            severity=severity,
            value=obs.value,
            threshold=_threshold(rule, severity) if threshold is None else threshold,
            peak_value=st.peak_value,
            started_at=_need(st.started_at, "started_at"),
            resolved_at=resolved_at,
            calls_in_window=obs.calls,
            offending_calls=obs.offending,
            links=self._fill_links(st.group, obs.offending),
            notify=tuple(rule.notifiers_for(severity)),
            at=now,
            reason=obs.reason,
            attribution=obs.attribution,
        )

    def _fill_links(self, group: str | None, calls: Sequence[Call]) -> dict[str, str]:
        out: dict[str, str] = {}
        for call in calls:
            url = self._links.call_url(call.id, call.trunk_id)
            if url is not None:
                out[call.id] = url
        trunk = None if group is None else self._links.trunk_url(group)
        if trunk is not None:
            out["trunk"] = trunk
        return out


def _severity(rule: Rule, value: float) -> Severity | None:
    """The most severe threshold ``value`` breaches, or None."""
    for severity, threshold in rule.thresholds():
        if rule.breaches(value, threshold):
            return severity
    return None


def _stays_critical(rule: Rule, value: float) -> bool:
    """Whether a critical alert's value still breaches the de-escalation level."""
    if rule.warning is None or rule.critical is None:
        return False
    return rule.breaches(value, (rule.warning + rule.critical) / 2)


def _threshold(rule: Rule, severity: Severity) -> float | None:
    return rule.critical if severity == "critical" else rule.warning


def _more_severe(rule: Rule, peak: float | None, value: float) -> float:
    if peak is None:
        return value
    return max(peak, value) if rule.op in (">", ">=") else min(peak, value)


def _open_severity(st: AlertState) -> Severity:
    if st.severity is None:
        raise RuntimeError("firing alert without severity")
    return st.severity


def _need(value: _T | None, name: str) -> _T:
    """A field the state machine guarantees while firing; a broken one is a bug here."""
    if value is None:
        raise RuntimeError(f"firing alert without {name}")
    return value


def _sort_key(key: Key) -> tuple[str, bool, str]:
    """By rule, then the account-wide alert, then trunks by id."""
    return (key[0], key[1] is not None, key[1] or "")
