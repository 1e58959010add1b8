"""alerts.yaml: rules and notifiers, loaded with every problem reported as ``file:line:col``.

Loading goes in four steps, each reporting all it finds before giving up:

1. YAML to plain values with positions (:mod:`monitor.yamlpos`); ``${VAR}`` and
   ``${VAR:-default}`` are then filled into string values only, so the environment can
   never inject YAML structure and positions stay exact (``$${`` is a literal ``${``).
2. ``include:`` pulls in rule packs, relative to the including file. Included rules come
   first, in include order, then the file's own rules, so a clash with a pack is
   reported in the user's own file.
3. Each section and each rule is validated by its own frozen pydantic model, so one bad
   rule does not hide the problems of the next.
4. Cross-checks between fields and sections; then defaults are applied and every
   :class:`Rule` comes out concrete, ready to evaluate.

Messages never echo a value that came from the environment, nor the value of a secret
field: they name the place and the rule broken, not the input.
"""

from __future__ import annotations

import difflib
import os
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin
from urllib.parse import quote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from monitor import yamlpos
from monitor.errors import ConfigError
from monitor.notify.signing import secret_key
from monitor.quiet import DEFAULT_INHIBIT, InhibitRule, MuteWindow
from monitor.yamlpos import Loc, Mark, Positions, Problem

Severity = Literal["warning", "critical"]
Op = Literal[">", ">=", "<", "<="]
Metric = Literal[
    "ai_latency_ms",
    "carrier_lag_ms",
    "gateway_processing_ms",
    "total_latency_ms",
    "failed_ratio",
    "call_count",
]
OverviewMetric = Literal[
    "ai_latency_ms", "carrier_lag_ms", "gateway_processing_ms", "call_count", "failed_ratio"
]

METRICS: Final[tuple[str, ...]] = get_args(Metric)
OVERVIEW_METRICS: Final[tuple[str, ...]] = get_args(OverviewMetric)
#: Metrics that are a per-call latency, so a statistic (avg, pNN...) applies.
LATENCY_METRICS: Final = frozenset(
    ("ai_latency_ms", "carrier_lag_ms", "gateway_processing_ms", "total_latency_ms")
)
LINK_PLACEHOLDERS: Final = ("call_id", "trunk_id")


# ---------------------------------------------------------------------------------------
# Scalar types


_DURATION_RE: Final = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_HINT: Final = "expected a duration like 30s, 5m, 1h, 1d"


def parse_duration(text: str) -> timedelta:
    """``30s``, ``5m``, ``1h``, ``1d`` and compounds like ``1h30m``; ValueError otherwise.

    A bare number is refused on purpose: seconds or minutes would be a guess.
    """
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        raise ValueError(_DURATION_HINT)
    d, h, m, s = (int(g or 0) for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


def format_duration(value: timedelta) -> str:
    """The shortest config spelling of a duration (``1h30m``, ``0s``), for messages and UIs."""
    total = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts) or "0s"


def _duration(minimum: timedelta, inclusive: bool) -> Callable[[Any], timedelta]:
    def validate(value: Any) -> timedelta:
        if isinstance(value, timedelta):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = parse_duration(value)
            except ValueError:
                raise PydanticCustomError("duration", _DURATION_HINT) from None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            raise PydanticCustomError("duration", "a bare number is ambiguous; " + _DURATION_HINT)
        else:
            raise PydanticCustomError("duration", _DURATION_HINT)
        if parsed < minimum or (parsed == minimum and not inclusive):
            raise PydanticCustomError("duration", "must be longer than 0s")
        return parsed

    return validate


def _repeat(value: Any) -> timedelta | None:
    if value == "never" or value is None:
        return None
    try:
        return _duration(timedelta(0), inclusive=False)(value)
    except PydanticCustomError:
        raise PydanticCustomError("duration", _DURATION_HINT + ", or never") from None


_serialize_duration = PlainSerializer(format_duration)
#: A duration that must be longer than zero.
Duration = Annotated[
    timedelta, PlainValidator(_duration(timedelta(0), inclusive=False)), _serialize_duration
]
#: A duration that may be zero (``for: 0s`` fires at once).
NonNegativeDuration = Annotated[
    timedelta, PlainValidator(_duration(timedelta(0), inclusive=True)), _serialize_duration
]


def _repeat_written(value: Any) -> timedelta | None:
    if value is None:  # `repeat:` left empty is a slip, not a way to say never
        raise PydanticCustomError("duration", _DURATION_HINT + ", or never")
    return _repeat(value)


_serialize_repeat = PlainSerializer(lambda v: "never" if v is None else format_duration(v))
#: How often to repeat a firing notification; None means ``never``.
Repeat = Annotated[timedelta | None, PlainValidator(_repeat), _serialize_repeat]
_WrittenRepeat = Annotated[timedelta | None, PlainValidator(_repeat_written), _serialize_repeat]


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

_STAT_RE: Final = re.compile(r"p(\d+(?:\.\d+)?)")


def _check_stat(value: str) -> str:
    """``avg``, ``min``, ``max`` or ``pNN`` with 0 < NN <= 100 (``p99.9`` allowed)."""
    if value in ("avg", "min", "max"):
        return value
    match = _STAT_RE.fullmatch(value)
    if match is None or not 0 < float(match.group(1)) <= 100:
        raise PydanticCustomError(
            "stat",
            "expected avg, min, max or a percentile like p95 or p99.9 (above p0, up to p100)",
        )
    return value


Stat = Annotated[str, AfterValidator(_check_stat)]


def _check_metric(value: str) -> str:
    if value not in METRICS:
        raise PydanticCustomError("unknown_metric", "unknown metric")
    return value


MetricName = Annotated[str, AfterValidator(_check_metric)]


def _check_url(value: str) -> None:
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("url", "expected an http:// or https:// URL")


def _url(value: str) -> str:
    _check_url(value)
    return value


def _secret_url(value: SecretStr) -> SecretStr:
    _check_url(value.get_secret_value())
    return value


def _blank_is_none(value: Any) -> Any:
    """``${VAR:-}`` gives an empty string: for an optional setting that means "not set"."""
    return None if value == "" else value


HttpUrl = Annotated[str, AfterValidator(_url)]
SecretHttpUrl = Annotated[SecretStr, AfterValidator(_secret_url)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_is_none)]
OptionalSecretHttpUrl = Annotated[SecretHttpUrl | None, BeforeValidator(_blank_is_none)]


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
    repeat: _WrittenRepeat = timedelta(hours=4)
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
    min_calls: Annotated[int, Field(ge=0)] | None = None
    op: Op = ">"
    warning: float | None = None
    critical: float | None = None
    recovery: float | None = None
    for_: NonNegativeDuration | None = Field(default=None, alias="for")
    repeat: _WrittenRepeat = None  # meaningful only when set; see model_fields_set
    notify: NotifySpec | None = None
    no_data: Literal["keep", "resolve"] | None = None


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
    window: Duration = timedelta(minutes=5)
    per: Literal["trunk", "account"] = "trunk"
    trunks: tuple[str, ...] | None = None
    exclude_trunks: tuple[str, ...] = ()
    min_calls: int = Field(default=1, ge=0)
    op: Op = ">"
    warning: float | None = None
    critical: float | None = None
    recovery: float | None = None
    for_: NonNegativeDuration = Field(default=timedelta(minutes=2), alias="for")
    repeat: Repeat = timedelta(hours=4)
    notify: NotifyRoutes = NotifyRoutes()
    no_data: Literal["keep", "resolve"] = "keep"
    source_location: str = Field(default="", repr=False)

    @model_validator(mode="before")
    @classmethod
    def _metric_defaults(cls, data: Any) -> Any:
        """Built by hand (tests, backtests), a rule gets the same defaults as from a file."""
        if not isinstance(data, dict) or not isinstance(data.get("metric"), str):
            return data
        data = dict(data)
        latency = data["metric"] in LATENCY_METRICS
        overview = data.get("source") == "overview"
        if overview:
            data.setdefault("per", "account")
        if "stat" not in data:
            data["stat"] = "avg" if latency else None
        if "min_calls" not in data:
            data["min_calls"] = 0 if overview or data["metric"] == "call_count" else 1
        return data

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


# ---------------------------------------------------------------------------------------
# Loading


_SECTIONS: Final[dict[str, Any]] = {
    "links": Links,
    "poll": Poll,
    "export": Export,
    "overview_fields": dict[OverviewMetric, FieldPath],
    "notifiers": dict[NotifierName, Notifier],
    "delivery": Delivery,
    "mute": tuple[MuteWindow, ...],
    "inhibit": tuple[InhibitRule, ...],
    "heartbeat": Heartbeat,
    "defaults": Defaults,
    "sync_failing": _SyncFailingSpec,
}
_TOP_KEYS: Final = (*_SECTIONS, "rules", "include")
_PACK_KEYS: Final = ("rules", "include")
_ADAPTERS: Final[dict[str, TypeAdapter[Any]]] = {k: TypeAdapter(t) for k, t in _SECTIONS.items()}
_RULE_ADAPTER: Final = TypeAdapter(_RuleSpec)
_RESOLVED_ADAPTER: Final = TypeAdapter(Rule)
#: The files being included, outermost first: (resolved path, path as shown).
_Stack = tuple[tuple[Path, Path], ...]


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read, check and resolve a config file.

    Args:
        path: the file; messages show it as given.
        env: where ``${VAR}`` is looked up; ``os.environ`` when None.

    Raises:
        ConfigError: with every problem found, each ``file:line:col: message``.
    """
    loader = _Loader(os.environ if env is None else env)
    config = loader.load(Path(path))
    if loader.problems or config is None:
        raise ConfigError(loader.report())
    return config


@dataclass
class _Loader:
    env: Mapping[str, str]
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # in load order, to sort problems
    included: dict[Path, Mark] = field(default_factory=dict)
    env_problems: list[Problem] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    pos: Positions = field(default_factory=Positions)

    def report(self) -> list[str]:
        order = {f: i for i, f in enumerate(self.files)}

        def key(p: Problem) -> tuple[int, int, int]:
            if p.mark is None:
                return (order.get(p.file, 0), 0, 0)
            return (order.get(p.mark.file, len(order)), p.mark.line, p.mark.col)

        # A value whose ${VAR} is missing gets that one problem, not also "expected a URL".
        broken = {p.mark for p in self.env_problems}
        kept = [p for p in self.problems if p.mark not in broken or p in self.env_problems]
        return list(dict.fromkeys(str(p) for p in sorted(kept, key=key)))

    # -- files -----------------------------------------------------------------------

    def load(self, path: Path) -> Config | None:
        top = self._read(path, at=None)
        if top is None:
            return None
        data, pos = top
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self._at(
                pos.values[()], "expected a mapping of sections (notifiers, defaults, rules...)"
            )
            return None
        for key in data:
            # x-anything holds YAML anchors to reuse, as in Compose files; it is ignored.
            if key not in _TOP_KEYS and not key.startswith("x-"):
                self._unknown_key(pos.keys[(key,)], key, _TOP_KEYS)
        # An empty section (every entry commented out) means the section's defaults.
        data = {k: v for k, v in data.items() if v is not None and k in _TOP_KEYS}
        rules, rule_pos = self._rules_of(data, pos, path, stack=((path.resolve(), path),))
        self.data = {k: v for k, v in data.items() if k not in _PACK_KEYS}
        self.data["rules"] = rules

        def outside_rules(loc: Loc) -> bool:
            return loc[:1] != ("rules",) or len(loc) == 1

        self.pos = Positions(
            values={k: v for k, v in pos.values.items() if outside_rules(k)},
            keys={k: v for k, v in pos.keys.items() if outside_rules(k)},
            from_env={k for k in pos.from_env if outside_rules(k)},
        )
        self.pos.update(rule_pos)
        return self._validate()

    def _read(self, path: Path, at: Mark | None) -> tuple[Any, Positions] | None:
        """One file as plain values with env filled in; None (problem recorded) if unusable."""
        shown = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            if at is None:
                self.problems.append(Problem(f"cannot read: {reason}", file=shown))
            else:
                self._at(at, f"cannot read included file {shown}: {reason}")
            return None
        self.files.append(shown)
        try:
            data, pos = yamlpos.load(text, shown)
        except yamlpos.YamlError as exc:
            self.problems.extend(exc.problems)
            return None
        data, problems = yamlpos.fill_env(data, pos, self.env)
        self.problems += problems
        self.env_problems += problems
        return data, pos

    def _rules_of(
        self, data: dict[str, Any], pos: Positions, path: Path, stack: _Stack
    ) -> tuple[list[Any], Positions]:
        """Rules of the included packs, then this file's own, with positions re-filed."""
        rules: list[Any] = []
        out = Positions()

        def append(items: list[Any], src: Positions) -> None:
            for i, item in enumerate(items):
                out.update(src.moved(("rules", i), ("rules", len(rules))))
                rules.append(item)

        includes = data.get("include")
        if includes is not None and not isinstance(includes, list):
            self._at(pos.values[("include",)], "expected a list of file paths")
            includes = None
        for i, entry in enumerate(includes or []):
            mark = pos.values[("include", i)]
            if not isinstance(entry, str) or not entry.strip():
                self._at(mark, "expected a file path")
                continue
            pack = self._include(path.parent / entry, mark, stack)
            if pack is not None:
                append(*pack)
        own = data.get("rules")
        if isinstance(own, list):
            append(own, pos)
        elif own is not None:
            self._at(pos.values[("rules",)], "expected a list of rules")
        return rules, out

    def _include(
        self, joined: Path, mark: Mark, stack: _Stack
    ) -> tuple[list[Any], Positions] | None:
        path = Path(os.path.normpath(joined))
        real = path.resolve()
        reals = [r for r, _ in stack]
        if real in reals:
            names = [str(shown) for _, shown in stack[reals.index(real) :]]
            self._at(mark, f"include cycle: {' -> '.join([*names, str(path)])}")
            return None
        if real in self.included:
            self._at(mark, f"{path} is already included at {self.included[real]}")
            return None
        self.included[real] = mark
        loaded = self._read(path, at=mark)
        if loaded is None:
            return None
        data, pos = loaded
        if data is None:
            return [], pos
        if not isinstance(data, dict):
            self._at(pos.values[()], "a rule pack must be a mapping with a rules: list")
            return None
        for key in data:
            if key not in _PACK_KEYS and not key.startswith("x-"):
                self._at(
                    pos.keys[(key,)],
                    f"an included file may only have rules and include, not {key!r}",
                )
        return self._rules_of(data, pos, path, (*stack, (real, path)))

    # -- validation ------------------------------------------------------------------

    def _validate(self) -> Config | None:
        sections: dict[str, Any] = {}
        for key, adapter in _ADAPTERS.items():
            if key in self.data:
                sections[key] = self._check(adapter, self.data[key], (key,), _SECTIONS[key])
        specs: list[tuple[int, _RuleSpec]] = []
        for i, raw in enumerate(self.data["rules"]):
            spec = self._check(_RULE_ADAPTER, raw, ("rules", i), _RuleSpec)
            if spec is not None:
                specs.append((i, spec))
        failed = {key for key, value in sections.items() if value is None}
        poll: Poll | None = None if "poll" in failed else sections.get("poll", Poll())
        defaults: Defaults | None = (
            None if "defaults" in failed else sections.get("defaults", Defaults())
        )
        raw_notifiers = self.data.get("notifiers", {})
        names = set(raw_notifiers) if isinstance(raw_notifiers, dict) else None
        self._cross_check(specs, poll, defaults, names, sections.get("sync_failing"))
        if self.problems or defaults is None or poll is None:
            return None
        return self._resolve(sections, specs, defaults)

    def _check(self, adapter: TypeAdapter[Any], value: Any, prefix: Loc, root: Any) -> Any:
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                self._schema_problem(error, prefix, root)
            return None

    def _schema_problem(self, error: ErrorDetails, prefix: Loc, root: Any) -> None:
        kind = error["type"]
        loc: Loc = prefix + tuple(error["loc"])
        if kind == "union_tag_invalid":
            loc = (*loc, "type")
        mark, known = self._locate(loc, key=kind in ("extra_forbidden",))
        if kind not in ("missing", "extra_forbidden") and self._has_broken_child(known):
            return  # e.g. "slack needs webhook_url" when ${SLACK_WEBHOOK_URL} is not set
        ctx = error.get("ctx") or {}
        # A discriminated union reports the whole mapping as input; the tag is in ctx.
        shown = self._shown(known, ctx.get("tag", error.get("input")))
        if kind == "missing":
            message = f"missing required key {loc[-1]!r}"
        elif kind == "union_tag_not_found":
            message = "missing required key 'type'"
        elif kind == "extra_forbidden":
            at = [el for el in error["loc"][:-1] if el != "[key]"]
            self._unknown_key(mark, str(loc[-1]), _fields_at(root, at))
            return
        elif kind == "union_tag_invalid":
            message = f"unknown notifier type{' ' + shown if shown else ''}; expected one of: "
            message += ctx.get("expected_tags", "").replace("'", "")
        elif kind == "unknown_metric":
            message = _unknown("metric", shown, error.get("input"), METRICS)
        else:
            message = _MESSAGES.get(kind, "") or _bound_message(kind, ctx) or error["msg"]
        self._at(mark, message)

    def _locate(self, loc: Loc, key: bool = False) -> tuple[Mark, Loc]:
        return yamlpos.locate(self.data, self.pos, loc, key=key)

    def _has_broken_child(self, loc: Loc) -> bool:
        broken = {p.mark for p in self.env_problems}
        return any(mark in broken for where, mark in self.pos.values.items() if where[:-1] == loc)

    def _shown(self, loc: Loc, value: Any) -> str:
        """The input quoted for a message, or "" when it may be secret or came from env."""
        if not isinstance(value, str) or loc in self.pos.from_env or len(value) > 60:
            return ""
        return repr(value)

    def _at(self, mark: Mark, message: str) -> None:
        self.problems.append(Problem(message, mark))

    def _unknown_key(self, mark: Mark, key: str, valid: Sequence[str]) -> None:
        message = f"unknown key {key!r}"
        close = difflib.get_close_matches(key, valid, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        self._at(mark, message)

    # -- cross-checks ----------------------------------------------------------------

    def _cross_check(
        self,
        specs: list[tuple[int, _RuleSpec]],
        poll: Poll | None,
        defaults: Defaults | None,
        notifiers: set[str] | None,
        sync_failing: _SyncFailingSpec | None,
    ) -> None:
        if notifiers is not None:
            if defaults is not None:
                self._check_notify(("defaults", "notify"), notifiers)
            if sync_failing is not None and sync_failing.notify is not None:
                self._check_notify(("sync_failing", "notify"), notifiers)
            for i, spec in specs:
                if spec.notify is not None:
                    self._check_notify(("rules", i, "notify"), notifiers)
        first: dict[str, Mark] = {}
        for i, raw in enumerate(self.data["rules"]):
            name = raw.get("name") if isinstance(raw, dict) else None
            if not isinstance(name, str):
                continue
            mark = self.pos.values[("rules", i, "name")]
            if name in first:
                shown = self._shown(("rules", i, "name"), name)
                named = f" {shown}" if shown else ""
                self._at(mark, f"duplicate rule name{named} (first at {first[name]})")
            else:
                first[name] = mark
        for i, spec in specs:
            self._check_rule(("rules", i), spec)
            if spec.source == "calls" and poll is not None:
                self._check_window(("rules", i), spec, poll, defaults)
        if poll is not None and poll.overlap > poll.backfill:
            # Both were written (a default overlap yields to the backfill): polls never
            # read further back than the backfill, so calls longer would be missed.
            where = ("poll", "overlap") if ("poll", "overlap") in self.pos.values else ("poll",)
            self._at(
                self.pos.values.get(where, self.pos.values[()]),
                f"poll.overlap is longer than poll.backfill ({format_duration(poll.overlap)} > "
                f"{format_duration(poll.backfill)}); polls never read further back than the "
                "backfill, so make the backfill at least as long",
            )

    def _check_notify(self, loc: Loc, notifiers: set[str]) -> None:
        raw: Any = self.data
        for el in loc:  # the written form tells where each name sits
            in_list = isinstance(raw, list) and isinstance(el, int) and el < len(raw)
            if not (in_list or (isinstance(raw, dict) and el in raw)):
                return
            raw = raw[el]
        entries: list[tuple[Loc, Any]] = []
        if isinstance(raw, list):
            entries = [((*loc, j), name) for j, name in enumerate(raw)]
        elif isinstance(raw, dict):
            for severity in ("warning", "critical"):
                items = raw.get(severity)
                if isinstance(items, list):
                    entries += [((*loc, severity, j), name) for j, name in enumerate(items)]
        valid = ", ".join(sorted(notifiers)) if notifiers else "none are defined"
        for where, name in entries:
            if isinstance(name, str) and name not in notifiers:
                shown = self._shown(where, name)
                self._at(
                    self.pos.values[where],
                    f"unknown notifier{' ' + shown if shown else ''} (notifiers: {valid})",
                )

    def _check_rule(self, loc: Loc, spec: _RuleSpec) -> None:
        def at(key: str | None) -> Mark:
            where = loc if key is None else (*loc, key)
            return self.pos.values.get(where, self.pos.values[loc])

        set_keys = spec.model_fields_set
        if spec.warning is None and spec.critical is None:
            self._at(at(None), "a rule needs a warning or a critical threshold (or both)")
        rising = spec.op in (">", ">=")
        warning, critical = spec.warning, spec.critical
        if (
            warning is not None
            and critical is not None
            and (warning > critical if rising else warning < critical)
        ):
            side = "above" if rising else "below"
            self._at(at("warning"), f"warning must not be {side} critical when op is {spec.op!r}")
        levels = [t for t in (spec.warning, spec.critical) if t is not None]
        if spec.recovery is not None and levels:
            if rising and spec.recovery >= min(levels):
                self._at(
                    at("recovery"), f"recovery must be below the lowest threshold (op {spec.op!r})"
                )
            elif not rising and spec.recovery <= max(levels):
                self._at(
                    at("recovery"), f"recovery must be above the highest threshold (op {spec.op!r})"
                )
        if spec.metric == "failed_ratio":
            for key in ("warning", "critical", "recovery"):
                value = getattr(spec, key)
                if value is not None and not 0 <= value <= 1:
                    self._at(at(key), "failed_ratio is a share from 0 to 1 (0.05 means 5%)")
        if spec.stat is not None and spec.metric not in LATENCY_METRICS:
            self._at(at("stat"), f"{spec.metric} has no stat; leave stat out")
        if spec.trunks is not None and spec.exclude_trunks is not None:
            self._at(at("exclude_trunks"), "set trunks or exclude_trunks, not both")
        if spec.source != "overview":
            return
        if spec.metric not in OVERVIEW_METRICS:
            self._at(
                at("metric"),
                f"the overview has no {spec.metric}; it gives {', '.join(OVERVIEW_METRICS)}",
            )
        if spec.stat not in (None, "avg") and spec.metric in LATENCY_METRICS:
            self._at(
                at("stat"), "overview rules can only use stat avg (the overview gives averages)"
            )
        if spec.per == "trunk":
            self._at(at("per"), "overview rules are account-wide; per: trunk needs source: calls")
        for key in ("window", "min_calls", "trunks", "exclude_trunks"):
            if key in set_keys:
                self._at(
                    self.pos.keys.get((*loc, key), at(key)),
                    f"{key} does not apply to source: overview (the overview is account-wide)",
                )

    def _check_window(
        self, loc: Loc, spec: _RuleSpec, poll: Poll, defaults: Defaults | None
    ) -> None:
        if spec.window is not None:
            window, where = spec.window, (*loc, "window")
        elif defaults is not None:
            window = defaults.window
            where = ("defaults", "window")
            if where not in self.pos.values:
                where = ("poll", "calls_every")
        else:
            return
        if window < poll.calls_every:
            self._at(
                self.pos.values.get(where, self.pos.values[loc]),
                "window is shorter than poll.calls_every; a window must span at least one poll",
            )

    # -- resolution ------------------------------------------------------------------

    def _resolve(
        self, sections: dict[str, Any], specs: list[tuple[int, _RuleSpec]], defaults: Defaults
    ) -> Config | None:
        sync: _SyncFailingSpec = sections.get("sync_failing") or _SyncFailingSpec()
        rules = []
        for i, spec in specs:
            resolved = _resolve_rule(spec, defaults)
            resolved["source_location"] = str(self.pos.values[("rules", i)])
            rule = self._check(_RESOLVED_ADAPTER, resolved, ("rules", i), Rule)
            if rule is not None:
                rules.append(rule)
        if self.problems:
            return None
        return Config(
            links=sections.get("links") or Links(),
            poll=sections.get("poll") or Poll(),
            export=sections.get("export") or Export(),
            overview_fields=sections.get("overview_fields") or {},
            notifiers=sections.get("notifiers") or {},
            delivery=sections.get("delivery") or Delivery(),
            mute=sections.get("mute") or (),
            inhibit=sections.get("inhibit", DEFAULT_INHIBIT),
            heartbeat=sections.get("heartbeat"),
            defaults=defaults,
            sync_failing=SyncFailing(
                after=sync.after,
                severity=sync.severity,
                notify=defaults.notify if sync.notify is None else sync.notify,
                enabled=sync.enabled,
            ),
            rules=tuple(rules),
        )


def _resolve_rule(spec: _RuleSpec, defaults: Defaults) -> dict[str, Any]:
    """The keyword arguments of a :class:`Rule`: the spec with every gap filled."""
    overview = spec.source == "overview"
    latency = spec.metric in LATENCY_METRICS
    if spec.min_calls is not None:
        min_calls = spec.min_calls
    elif overview or spec.metric == "call_count":
        min_calls = 0  # "no calls" is the very condition a call_count rule watches
    else:
        min_calls = defaults.min_calls
    return {
        "name": spec.name,
        "summary": spec.summary,
        "runbook_url": spec.runbook_url,
        "labels": spec.labels,
        "source": spec.source,
        "metric": spec.metric,
        "stat": (spec.stat or "avg") if latency else None,
        "window": spec.window or defaults.window,
        "per": "account" if overview else spec.per or defaults.per,
        "trunks": spec.trunks,
        "exclude_trunks": spec.exclude_trunks or (),
        "min_calls": min_calls,
        "op": spec.op,
        "warning": spec.warning,
        "critical": spec.critical,
        "recovery": spec.recovery,
        "for_": defaults.for_ if spec.for_ is None else spec.for_,
        "repeat": spec.repeat if "repeat" in spec.model_fields_set else defaults.repeat,
        "notify": defaults.notify if spec.notify is None else spec.notify,
        "no_data": spec.no_data or defaults.no_data,
    }


_MESSAGES: Final = {
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
}


def _bound_message(kind: str, ctx: dict[str, Any]) -> str:
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the allowed values')}"
    words = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">=")}
    words |= {"less_than": ("lt", "<"), "less_than_equal": ("le", "<=")}
    if kind in words:
        name, op = words[kind]
        return f"must be {op} {ctx.get(name)}"
    return ""


def _unknown(what: str, shown: str, value: Any, valid: Sequence[str]) -> str:
    message = f"unknown {what}{' ' + shown if shown else ''}"
    if shown and isinstance(value, str):
        close = difflib.get_close_matches(value, valid, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
    return f"{message} (valid: {', '.join(valid)})"


def _fields_at(root: Any, path: Sequence[Any]) -> list[str]:
    """Keys valid at ``path`` below type ``root``, to suggest one for a misspelt key."""
    tp = root
    for el in path:
        tp = _step(tp, el)
        if tp is None:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or name for name, f in tp.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _step(tp: Any, el: Any) -> Any:
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            if el in (name, info.alias):
                return info.annotation
        return None
    if origin in (Union, UnionType):  # the notifier union: the tag names the member
        for member in get_args(tp):
            member = _unwrap(member)
            fields = getattr(member, "model_fields", {})
            if "type" in fields and el in get_args(fields["type"].annotation):
                return member
        return None
    if origin is dict:
        return get_args(tp)[1]
    if origin in (list, tuple):
        return get_args(tp)[0]
    return None
