"""Staying quiet at the right time: silences, maintenance windows and inhibition.

Pure: given an alert (rule and group), the alerts firing now, the silences and
``now``, :class:`QuietPolicy` says whether its notifications are held, and why. The
alert itself still changes state and shows everywhere (``once``, metrics, the status
page); only what would be sent is held. The engine (:mod:`monitor.alerts`) asks the
policy after each step and releases a held firing alert once nothing holds it anymore.

- A **silence** (``telepath-monitor silence add``) matches a rule name and a trunk by
  exact name or glob, from ``starts_at`` until ``ends_at`` (or until expired by hand).
  Account-wide alerts have the group name ``account``.
- A **maintenance window** (``mute:`` in the config) applies to rules by name/glob or by
  label, weekly (days and ``HH:MM`` ranges in a time zone, so it follows DST) or once.
- **Inhibition** (``inhibit:``): while a *source* alert fires, *target* alerts that agree
  with it on the ``equal`` fields are held. The defaults: an account-wide alert holds the
  per-trunk alerts of the same metric; a gateway-processing alert holds total-latency
  alerts on the same trunk (the total includes the gateway's share).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Final

from monitor.config import DEFAULT_INHIBIT, InhibitRule, MuteWindow, Rule

__all__ = ["ACCOUNT", "Firing", "QuietPolicy", "Silence"]

#: The group name silences and matchers use for account-wide alerts.
ACCOUNT: Final = "account"


@dataclass(frozen=True)
class Firing:
    """A firing alert, as inhibition needs to know it."""

    rule: str
    group: str | None
    severity: str | None


@dataclass(frozen=True)
class Silence:
    """A silence as stored in the state DB."""

    id: str
    #: Rule name or glob.
    rule: str
    #: Trunk id or glob (``account`` for account-wide alerts); ``*`` matches every group.
    trunk: str
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    created_at: datetime
    expired_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        end = self.ends_at if self.expired_at is None else min(self.ends_at, self.expired_at)
        return self.starts_at <= now < end

    def matches(self, rule: str, group: str | None) -> bool:
        return fnmatchcase(rule, self.rule) and fnmatchcase(group or ACCOUNT, self.trunk)


class QuietPolicy:
    """Why an alert's notifications are held right now, if they are.

    Args:
        rules: the configured rules by name (for inhibition and windows).
        silences: silences to apply (inactive ones are ignored).
        mute: maintenance windows.
        inhibit: inhibition rules.
    """

    def __init__(
        self,
        rules: Mapping[str, Rule],
        silences: Iterable[Silence] = (),
        mute: Sequence[MuteWindow] = (),
        inhibit: Sequence[InhibitRule] = DEFAULT_INHIBIT,
    ) -> None:
        self.rules = rules
        self.silences = list(silences)
        self.mute = list(mute)
        self.inhibit = list(inhibit)

    def reason(
        self, rule: Rule, group: str | None, firing: Sequence[Firing], now: datetime
    ) -> str | None:
        """Why notifications of (rule, group) are held at ``now``, or None.

        ``firing`` lists the alerts firing now (the sources inhibition looks for).
        """
        for silence in self.silences:
            if silence.active(now) and silence.matches(rule.name, group):
                return f"silenced by {silence.id} until {_short(silence.ends_at)}"
        for window in self.mute:
            if window.applies_to(rule) and window.is_open(now):
                return f"maintenance window {window.name}"
        for state in firing:
            source = self._inhibits(state, rule, group)
            if source is not None:
                where = f" on {state.group}" if state.group else " (account-wide)"
                return f"inhibited by {source}{where}"
        return None

    def _inhibits(self, state: Firing, rule: Rule, group: str | None) -> str | None:
        if (state.rule, state.group) == (rule.name, group):
            return None
        source = self.rules.get(state.rule)
        if source is None:
            return None
        for inhibit in self.inhibit:
            if (
                inhibit.source.matches(source, state.severity)
                and inhibit.target.matches(rule, None)
                and all(_equal(f, source, state.group, rule, group) for f in inhibit.equal)
            ):
                return source.name
        return None


def _equal(
    field: str, source: Rule, source_group: str | None, rule: Rule, group: str | None
) -> bool:
    if field == "trunk":
        return source_group is not None and source_group == group
    if field == "metric":
        return source.metric == rule.metric
    return source.stat == rule.stat


def _short(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
