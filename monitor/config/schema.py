"""The config's schema: frozen pydantic models for every section, and the resolved Rule.

The metric vocabulary is here (latency metrics from :mod:`monitor.models`), the stat
grammar is :func:`monitor.windows.parse_stat`'s, and the defaults a rule gets for what it
leaves out are worked out by :func:`implied` alone. The ``mute:`` (maintenance windows)
and ``inhibit:`` models are here too; :mod:`monitor.quiet` applies them.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta
from fnmatch import fnmatchcase
from typing import Annotated, Any, Final, Literal, get_args
from urllib.parse import quote
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitor.config.compare import Compare
from monitor.config.durations import Duration, NonNegativeDuration, Repeat, WrittenRepeat
from monitor.config.reporting import History, ReportSpec
from monitor.config.slos import Slo
from monitor.config.urls import HttpUrl, OptionalSecret, OptionalSecretHttpUrl, SecretHttpUrl
from monitor.config.zones import TimeZone
from monitor.models import LATENCY_METRICS, LatencyMetric
from monitor.notify.signing import secret_key
from monitor.windows import parse_stat

Severity = Literal["warning", "critical"]
Op = Literal[">", ">=", "<", "<="]
#: Every metric a rule can watch: the per-call latencies, then two per-window figures;
#: ``burn_rate`` only on the alerts an SLO makes (:mod:`monitor.slo`), never written.
Metric = Literal[LatencyMetric, "failed_ratio", "call_count", "burn_rate"]
OverviewMetric = Literal[
    "ai_latency_ms", "carrier_lag_ms", "gateway_processing_ms", "call_count", "failed_ratio"
]

METRICS: Final[tuple[str, ...]] = tuple(m for m in get_args(Metric) if m != "burn_rate")
OVERVIEW_METRICS: Final[tuple[str, ...]] = get_args(OverviewMetric)
LINK_PLACEHOLDERS: Final = ("call_id", "trunk_id")


def _name_check(pattern: str, what: str) -> Callable[[str], str]:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise PydanticCustomError("name", f"{what} must match {pattern}")
        return value

    return check


RuleName = Annotated[str, AfterValidator(_name_check(r"[a-z0-9][a-z0-9_.-]*", "a rule name"))]
NotifierName = Annotated[
    str, AfterValidator(_name_check(r"[A-Za-z0-9][A-Za-z0-9_.-]*", "a notifier name"))
]


def _check_stat(value: str) -> str:
    """The stat grammar of :func:`monitor.windows.parse_stat`, which evaluation uses."""
    try:
        parse_stat(value)
    except ValueError:
        raise PydanticCustomError(
            "stat",
            "expected avg, min, max or a percentile like p95 or p99.9 (above p0, up to p100)",
        ) from None
    return value


Stat = Annotated[str, AfterValidator(_check_stat)]


def _check_metric(value: str) -> str:
    if value not in METRICS:
        raise PydanticCustomError("unknown_metric", "unknown metric")
    return value


MetricName = Annotated[str, AfterValidator(_check_metric)]


def _status_name(value: str) -> str:
    # The API's statuses are compared lower-cased (windows keep them so).
    text = value.strip().lower()
    if not text:
        raise PydanticCustomError("status", "a call status must not be empty")
    return text


def _non_empty(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("non_empty", "must not be empty")
    return value


StatusName = Annotated[str, AfterValidator(_status_name)]
NonEmpty = Annotated[str, AfterValidator(_non_empty)]


def _check_template(value: str) -> str:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError:
        raise PydanticCustomError(
            "template", "unbalanced braces; write {{ or }} for a literal brace"
        ) from None
    for name in fields:
        if name not in LINK_PLACEHOLDERS:
            raise PydanticCustomError(
                "template",
                "unknown placeholder {" + "{name}}; links can use {call_id} and {trunk_id}",
                {"name": name},
            )
    return value


LinkTemplate = Annotated[str, AfterValidator(_check_template)]


def _check_field_path(value: str) -> str:
    if not re.fullmatch(r"[^.\s]+(?:\.[^.\s]+)*", value):
        raise PydanticCustomError(
            "field_path", "expected a JSON field name, dotted for nesting (data.ai_latency_ms)"
        )
    return value


FieldPath = Annotated[str, AfterValidator(_check_field_path)]


# ---------------------------------------------------------------------------------------
# Sections


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NotifyRoutes(_Frozen):
    """Which notifiers hear about each severity. ``notify: [a, b]`` means both get a, b."""

    warning: tuple[str, ...] = ()
    critical: tuple[str, ...] = ()

    def for_severity(self, severity: str) -> list[str]:
        return list(self.critical if severity == "critical" else self.warning)


def _notify_shape(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return {"warning": value, "critical": value}
    if isinstance(value, Mapping | NotifyRoutes):
        return value
    raise PydanticCustomError(
        "notify", "expected a list of notifier names, or a mapping with warning and critical lists"
    )


NotifySpec = Annotated[NotifyRoutes, BeforeValidator(_notify_shape)]


class Links(_Frozen):
    """Drill-down URL templates; ``{call_id}`` and ``{trunk_id}`` are filled in."""

    call: LinkTemplate | None = None
    trunk: LinkTemplate | None = None
    #: Worst calls of a firing alert whose full record (``GET /calls/{id}``) is fetched.
    detail_calls: int = Field(default=3, ge=0, le=5)

    def call_url(self, call_id: str, trunk_id: str) -> str | None:
        """The drill-down URL of a call, or None when ``call`` is not set."""
        return None if self.call is None else _fill(self.call, call_id, trunk_id)

    def trunk_url(self, trunk_id: str) -> str | None:
        """The drill-down URL of a trunk, or None when ``trunk`` is not set."""
        return None if self.trunk is None else _fill(self.trunk, "", trunk_id)


def _fill(template: str, call_id: str, trunk_id: str) -> str:
    # Ids are percent-encoded whole, so API text cannot leave the path segment it is in.
    return template.format(call_id=quote(call_id, safe=""), trunk_id=quote(trunk_id, safe=""))


class Poll(_Frozen):
    """How often and how far back the API is read."""

    calls_every: Duration = timedelta(seconds=30)
    overview_every: Duration = timedelta(seconds=60)
    #: How far back the first sync reads.
    backfill: Duration = timedelta(hours=1)
    #: The most a poll re-reads before the watermark: polls reach back as far as the
    #: longest recent call, a sweep all of it. Default 10m, at most an explicit backfill.
    overlap: Duration = timedelta(minutes=10)
    #: How often a poll reads the whole overlap, for calls longer than any seen.
    sweep_every: Duration = timedelta(minutes=5)
    max_pages: int = Field(default=500, ge=1)
    #: How often the trunk catalogue (``GET /trunks``: names, providers, statuses) is read.
    trunks_every: Duration = timedelta(minutes=10)

    @model_validator(mode="after")
    def _default_overlap_yields(self) -> Poll:
        # A default never contradicts what the user wrote: `backfill: 5m` alone caps it.
        if "overlap" not in self.model_fields_set and self.overlap > self.backfill:
            object.__setattr__(self, "overlap", self.backfill)
        return self


class Export(_Frozen):
    """What the Prometheus collector exports."""

    window: Duration = timedelta(minutes=5)
    max_trunks: int = Field(default=500, ge=1)


class SlackNotifier(_Frozen):
    """Slack, either through an incoming webhook or as a bot (token + channel)."""

    type: Literal["slack"]
    webhook_url: OptionalSecretHttpUrl = None
    token: OptionalSecret = None
    channel: str | None = None
    username: str | None = None
    timeout: Duration = timedelta(seconds=10)
    #: Web API base for bot-token mode; change it only for a Slack-compatible service.
    api_url: HttpUrl = "https://slack.com/api/"

    @model_validator(mode="after")
    def _one_mode(self) -> SlackNotifier:
        bot = self.token is not None or self.channel is not None
        if self.webhook_url is not None and bot:
            raise PydanticCustomError(
                "slack_mode", "set either webhook_url, or token and channel, not both"
            )
        if self.webhook_url is None and (self.token is None or self.channel is None):
            raise PydanticCustomError(
                "slack_mode", "slack needs webhook_url, or both token and channel"
            )
        return self


class WebhookNotifier(_Frozen):
    """A generic JSON webhook, signed the Standard Webhooks way when ``secret`` is set."""

    type: Literal["webhook"]
    url: SecretHttpUrl
    secret: OptionalSecret = None
    #: Kept out of repr: an Authorization header is a secret too.
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    timeout: Duration = timedelta(seconds=10)

    @field_validator("secret")
    @classmethod
    def _whsec_is_base64(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                secret_key(value.get_secret_value())
            except ValueError as exc:
                raise PydanticCustomError("secret", str(exc)) from None
        return value


class AlertmanagerNotifier(_Frozen):
    """Prometheus Alertmanager (base URL); alerts are re-posted every ``resend_every``."""

    type: Literal["alertmanager"]
    url: HttpUrl
    resend_every: Duration = timedelta(minutes=1)
    timeout: Duration = timedelta(seconds=10)
    headers: dict[str, str] = Field(default_factory=dict, repr=False)


class ConsoleNotifier(_Frozen):
    """Prints alerts to the terminal (the demo uses it)."""

    type: Literal["console"]


Notifier = Annotated[
    SlackNotifier | WebhookNotifier | AlertmanagerNotifier | ConsoleNotifier,
    Field(discriminator="type"),
]


class Delivery(_Frozen):
    """How the outbox retries: exponential backoff with jitter, then dead letters."""

    #: First retry after about this long; each further retry waits twice as long...
    retry_initial: Duration = timedelta(seconds=5)
    #: ...up to this (a receiver's Retry-After is honoured even when longer).
    retry_max: Duration = timedelta(minutes=10)
    #: A notification still undelivered after this long is dead-lettered.
    max_age: Duration = timedelta(hours=24)
    #: Delivered and dead-lettered entries are kept this long for inspection.
    keep: Duration = timedelta(days=7)


class Heartbeat(_Frozen):
    """A dead-man's switch: ``url`` is requested every ``every`` while the daemon is
    healthy, so an external service pages when the pings stop."""

    url: SecretHttpUrl
    every: Duration = timedelta(minutes=5)
    method: Literal["GET", "POST", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    timeout: Duration = timedelta(seconds=10)


class Defaults(_Frozen):
    """Values a rule gets for whatever it leaves out."""

    for_: NonNegativeDuration = Field(default=timedelta(minutes=2), alias="for")
    repeat: WrittenRepeat = timedelta(hours=4)
    notify: NotifySpec = NotifyRoutes()
    window: Duration = timedelta(minutes=5)
    per: Literal["trunk", "account"] = "trunk"
    min_calls: int = Field(default=1, ge=0)
    no_data: Literal["keep", "resolve"] = "keep"


class SyncFailing(_Frozen):
    """The daemon's own ``monitor-sync-failing`` alert, raised while the API is unreachable."""

    after: Duration = timedelta(minutes=5)
    severity: Severity = "critical"
    notify: NotifyRoutes = NotifyRoutes()
    enabled: bool = True


class _SyncFailingSpec(_Frozen):
    after: Duration = timedelta(minutes=5)
    severity: Severity = "critical"
    notify: NotifySpec | None = None  # None: defaults.notify
    enabled: bool = True


class _RuleSpec(_Frozen):
    """A rule as written: anything left out comes from ``defaults`` later."""

    name: RuleName
    summary: str | None = None
    runbook_url: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    source: Literal["calls", "overview"] = "calls"
    metric: MetricName
    stat: Stat | None = None
    window: Duration | None = None
    per: Literal["trunk", "account"] | None = None
    trunks: Annotated[tuple[str, ...], Field(min_length=1)] | None = None
    exclude_trunks: tuple[str, ...] | None = None
    # Emptiness is checked in CrossChecks: a min_length here doubles an item's error.
    trunk_names: tuple[NonEmpty, ...] | None = None
    direction: Literal["inbound", "outbound"] | None = None
    status: tuple[StatusName, ...] | None = None
    min_calls: Annotated[int, Field(ge=0)] | None = None
    op: Op = ">"
    warning: float | None = None
    critical: float | None = None
    recovery: float | None = None
    for_: NonNegativeDuration | None = Field(default=None, alias="for")
    repeat: WrittenRepeat = None  # meaningful only when set; see model_fields_set
    notify: NotifySpec | None = None
    no_data: Literal["keep", "resolve"] | None = None
    compare: Compare | None = None


# ---------------------------------------------------------------------------------------
# Maintenance windows and inhibition


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: Final[tuple[str, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clock_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 12:30 as the base-60 integer 750; take it back.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    if value == "24:00":
        return time.max
    return value


ClockTime = Annotated[time, BeforeValidator(_clock_time)]


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


#: What a rule gets for whatever it leaves out when no ``defaults:`` section says otherwise.
_DEFAULTS: Final = Defaults()


def implied(written: dict[str, Any], defaults: Defaults) -> dict[str, Any]:
    """``written`` with per, stat and min_calls filled in where left out: the one place
    these rule defaults are worked out (for rules from a file and rules built by hand).

    Overview rules are account-wide; latency metrics default to ``avg`` and the others
    have no stat; ``min_calls`` is 0 for overview and ``call_count`` rules ("no calls"
    is the very condition a call_count rule watches).
    """
    data = dict(written)
    overview = data.get("source") == "overview"
    counts = overview or data["metric"] == "call_count"
    if data.get("per") is None:
        data["per"] = "account" if overview else defaults.per
    if data.get("stat") is None:
        data["stat"] = "avg" if data["metric"] in LATENCY_METRICS else None
    if data.get("min_calls") is None:
        data["min_calls"] = 0 if counts else defaults.min_calls
    return data


# ---------------------------------------------------------------------------------------
# The resolved configuration


class Rule(_Frozen):
    """A rule with every default applied: the engine needs nothing else to evaluate it.

    ``stat`` is None for ``failed_ratio`` and ``call_count`` (they have no statistic) and
    ``avg`` for overview rules. ``window``, ``min_calls`` and the trunk filters do not
    apply to overview rules (``per`` is always ``account`` there). ``repeat`` None means
    never. ``source_location`` (``file:line:col``) is for messages and is ignored by
    equality, so moving a rule in its file does not make it a different rule.
    """

    name: RuleName
    summary: str | None = None
    runbook_url: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    source: Literal["calls", "overview"] = "calls"
    metric: Metric
    stat: Stat | None = None
    window: Duration = _DEFAULTS.window
    per: Literal["trunk", "account"] = _DEFAULTS.per
    trunks: tuple[str, ...] | None = None
    exclude_trunks: tuple[str, ...] = ()
    #: Name globs (``Support *``), matched case-insensitively against the trunk catalogue.
    trunk_names: tuple[str, ...] | None = None
    #: Only calls of this direction count; None: both.
    direction: Literal["inbound", "outbound"] | None = None
    #: Only calls with one of these statuses count (latency figures included); None: all.
    status: tuple[str, ...] | None = None
    min_calls: int = Field(default=_DEFAULTS.min_calls, ge=0)
    op: Op = ">"
    warning: float | None = None
    critical: float | None = None
    recovery: float | None = None
    for_: NonNegativeDuration = Field(default=_DEFAULTS.for_, alias="for")
    repeat: Repeat = _DEFAULTS.repeat
    notify: NotifyRoutes = _DEFAULTS.notify
    no_data: Literal["keep", "resolve"] = _DEFAULTS.no_data
    #: Thresholds relative to a baseline (:mod:`monitor.baselines`) instead of fixed ones.
    compare: Compare | None = None
    source_location: str = Field(default="", repr=False)

    @model_validator(mode="before")
    @classmethod
    def _metric_defaults(cls, data: Any) -> Any:
        """Built by hand (tests, backtests), a rule gets the same defaults as from a file."""
        if not isinstance(data, dict) or not isinstance(data.get("metric"), str):
            return data
        return implied(data, _DEFAULTS)

    def notifiers_for(self, severity: str) -> list[str]:
        """Names of the notifiers to tell about this rule at this severity."""
        return self.notify.for_severity(severity)

    def thresholds(self) -> list[tuple[Severity, float]]:
        """The thresholds set, most severe first."""
        out: list[tuple[Severity, float]] = []
        if self.critical is not None:
            out.append(("critical", self.critical))
        if self.warning is not None:
            out.append(("warning", self.warning))
        return out

    def watches(self, group: str | None) -> bool:
        """Whether this rule observes ``group`` (None: account-wide) under its filters."""
        if self.per == "account" or self.source == "overview":
            return group is None
        if group is None or group in self.exclude_trunks:
            return False
        if self.trunk_names is not None:  # a named trunk is observed while its name matches:
            # the engine asks only of groups not observed, so those no longer match
            return group in (self.trunks or ())
        return self.trunks is None or group in self.trunks

    def breaches(self, value: float, threshold: float) -> bool:
        """Whether ``value`` is past ``threshold`` in the direction of ``op``."""
        if self.op == ">":
            return value > threshold
        if self.op == ">=":
            return value >= threshold
        if self.op == "<":
            return value < threshold
        return value <= threshold

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rule):
            return NotImplemented
        skip = {"source_location"}
        return self.model_dump(exclude=skip) == other.model_dump(exclude=skip)

    def __hash__(self) -> int:
        return hash((self.name, self.metric, self.source))


class Config(_Frozen):
    """The whole validated configuration; ``rules`` are resolved (see :class:`Rule`)."""

    links: Links = Links()
    poll: Poll = Poll()
    export: Export = Export()
    #: Overview metric -> JSON field (dotted path) to read it from, when the usual names miss.
    overview_fields: dict[OverviewMetric, str] = Field(default_factory=dict)
    notifiers: dict[str, Notifier] = Field(default_factory=dict)
    delivery: Delivery = Delivery()
    #: Maintenance windows: notifications of matching rules are held while one is open.
    mute: tuple[MuteWindow, ...] = ()
    #: Inhibition rules; left out, the two documented defaults apply.
    inhibit: tuple[InhibitRule, ...] = DEFAULT_INHIBIT
    heartbeat: Heartbeat | None = None
    defaults: Defaults = Defaults()
    sync_failing: SyncFailing = SyncFailing()
    rules: tuple[Rule, ...] = ()
    #: How long the per-trunk rollups are kept (monitor.history).
    history: History = History()
    #: Scheduled reports (monitor.reports).
    reports: tuple[ReportSpec, ...] = ()
    #: Service level objectives and their burn-rate alerts (monitor.slo).
    slos: tuple[Slo, ...] = ()

    def secrets(self) -> list[str]:
        """Every secret value in the notifiers (URLs, tokens, signing secrets, header
        values), for log redaction."""
        out: list[str] = []
        specs: list[BaseModel] = [*self.notifiers.values()]
        if self.heartbeat is not None:
            specs.append(self.heartbeat)
        for spec in specs:
            for value in dict(spec).values():
                if isinstance(value, SecretStr):
                    out.append(value.get_secret_value())
            out += getattr(spec, "headers", {}).values()
        return out

    def summary(self) -> str:
        """One line for ``check`` and logs, e.g. ``4 rules, 2 notifiers``."""
        rules, notifiers = len(self.rules), len(self.notifiers)
        return f"{rules} rule{'s' * (rules != 1)}, {notifiers} notifier{'s' * (notifiers != 1)}"
