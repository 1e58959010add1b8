"""Staying quiet at the right time: silences, maintenance windows and inhibition.

Pure: given an alert (rule and group), the other alerts' states, the silences and
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
from datetime import UTC, datetime, time
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from monitor.config import Rule

__all__ = [
    "ACCOUNT",
    "DEFAULT_INHIBIT",
    "Firing",
    "InhibitMatcher",
    "InhibitRule",
    "MuteWindow",
    "QuietPolicy",
    "Silence",
]

#: The group name silences and matchers use for account-wide alerts.
ACCOUNT: Final = "account"

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: Final[tuple[str, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _clock_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 12:30 as the base-60 integer 750; take it back.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    if value == "24:00":
        return time.max
    return value


ClockTime = Annotated[time, BeforeValidator(_clock_time)]


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", "unknown time zone (use an IANA name such as Europe/Berlin or UTC)"
        ) from None
    return value


TimeZone = Annotated[str, BeforeValidator(_zone)]


class WeeklyRange(_Frozen):
    """Every week on ``days``, from ``from`` to ``to`` local time (``to`` before ``from``
    runs past midnight into the next day)."""

    days: Annotated[tuple[Weekday, ...], Field(min_length=1)]
    start: ClockTime = Field(alias="from")
    end: ClockTime = Field(alias="to")


class OnceRange(_Frozen):
    """One span of time; a time without an offset is in the window's time zone."""

    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> OnceRange:
        if self.start.tzinfo is not None and self.end.tzinfo is not None and self.end <= self.start:
            raise PydanticCustomError("range", "to must be after from")
        return self


class MuteWindow(_Frozen):
    """A maintenance window: notifications of matching rules are held while it is open."""

    name: str
    #: Rule names or globs; with ``labels`` empty too, the window applies to every rule.
    rules: tuple[str, ...] = ()
    #: Rules carrying all of these labels.
    labels: dict[str, str] = Field(default_factory=dict)
    timezone: TimeZone = "UTC"
    weekly: tuple[WeeklyRange, ...] = ()
    once: tuple[OnceRange, ...] = ()

    @model_validator(mode="after")
    def _has_times(self) -> MuteWindow:
        if not self.weekly and not self.once:
            raise PydanticCustomError("mute", "a maintenance window needs weekly or once times")
        return self

    def applies_to(self, rule: Rule) -> bool:
        named = any(fnmatchcase(rule.name, pattern) for pattern in self.rules)
        labelled = bool(self.labels) and all(
            rule.labels.get(k) == v for k, v in self.labels.items()
        )
        return named or labelled or (not self.rules and not self.labels)

    def is_open(self, now: datetime) -> bool:
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        for span in self.once:
            start, end = (_aware(t, zone) for t in (span.start, span.end))
            if start <= now < end:
                return True
        return any(_in_weekly(r, local) for r in self.weekly)


def _aware(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _in_weekly(span: WeeklyRange, local: datetime) -> bool:
    """Whether local wall-clock time ``local`` falls in the weekly range.

    Comparing wall-clock times (not offsets from midnight) keeps "02:00-04:00 local"
    meaning that on both sides of a DST change.
    """
    day = WEEKDAYS[local.weekday()]
    previous = WEEKDAYS[(local.weekday() - 1) % 7]
    clock = local.time().replace(tzinfo=None)
    if span.start < span.end:
        return day in span.days and span.start <= clock < span.end
    # Past midnight: the evening part belongs to the listed day, the morning to the next.
    return (day in span.days and clock >= span.start) or (
        previous in span.days and clock < span.end
    )


class InhibitMatcher(_Frozen):
    """Which alerts a side of an inhibition rule means; every field given must match."""

    rule: str | None = None
    metric: str | None = None
    per: Literal["trunk", "account"] | None = None
    severity: Literal["warning", "critical"] | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    def matches(self, rule: Rule, severity: str | None) -> bool:
        return (
            (self.rule is None or fnmatchcase(rule.name, self.rule))
            and (self.metric is None or rule.metric == self.metric)
            and (self.per is None or rule.per == self.per)
            and (self.severity is None or severity == self.severity)
            and all(rule.labels.get(k) == v for k, v in self.labels.items())
        )


class InhibitRule(_Frozen):
    """While a ``source`` alert fires, hold ``target`` alerts equal to it on ``equal``."""

    source: InhibitMatcher
    target: InhibitMatcher
    equal: tuple[Literal["trunk", "metric", "stat"], ...] = ()


DEFAULT_INHIBIT: Final = (
    InhibitRule(
        source=InhibitMatcher(per="account"),
        target=InhibitMatcher(per="trunk"),
        equal=("metric",),
    ),
    InhibitRule(
        source=InhibitMatcher(metric="gateway_processing_ms"),
        target=InhibitMatcher(metric="total_latency_ms"),
        equal=("trunk",),
    ),
)


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
