"""Backtest: replay the rules over a past range of calls and report what would have fired.

Two phases, so the replay cannot drift from ``run``:

1. **Fetch.** :func:`fetch_calls` reads every call of the range through the normal
   :class:`~monitor.telepath.client.TelepathClient` (rate limit, retries, both date
   spellings), reporting :class:`FetchProgress` after each page.
2. **Replay.** :func:`replay` builds a real :class:`~monitor.daemon.Daemon` on a
   :class:`~monitor.clock.ManualClock` whose HTTP client talks to :class:`ReplayApi`, a
   Telepath-compatible ``/calls`` served from the fetched calls (a call is listed only
   once it has ended by the manual clock, as the live API and the simulator do). The
   clock steps by ``poll.calls_every`` and ``Daemon.poll_calls`` runs at each step: the
   same sync, windows, rules and alert engine as ``run``. Notifiers are replaced by
   console notifiers whose delivery threads never start, so nothing is ever sent; the
   intents say what would have been.

What is left out, on purpose: rules with ``source: overview`` (``/analytics/overview``
has no history to replay), and the daemon's own ``monitor-sync-failing`` alert (the
replayed API never fails). With ``--trunk``, account-wide rules are left out too, since
only the chosen trunks' calls are fetched.

:func:`build_result` turns the recorded steps into the timeline, the summary per rule
and the series for charts. It is pure, like the formatting helpers; the CLI prints.
"""

from __future__ import annotations

import bisect
import io
import json
import logging
import math
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

import httpx

from monitor.alerts import Intent
from monitor.clock import Clock, ManualClock
from monitor.config import Config, ConsoleNotifier, Rule, format_duration
from monitor.daemon import SYNC_FAILING, Daemon
from monitor.errors import SettingsError
from monitor.models import Call
from monitor.notify.document import format_value, unit_of
from monitor.rules import Observation
from monitor.settings import Settings, load_settings
from monitor.telepath.client import TelepathClient

__all__ = [
    "AlertRow",
    "BacktestResult",
    "FetchProgress",
    "ReplayApi",
    "RuleSummary",
    "Series",
    "Span",
    "StepRecord",
    "build_result",
    "check_range",
    "estimate_left",
    "fetch_calls",
    "fetch_start",
    "format_progress",
    "format_timeline",
    "parse_when",
    "poll_times",
    "replay",
    "replay_rules",
    "to_json_text",
    "union_length",
]

log = logging.getLogger(__name__)

#: The replayed API's base URL; MockTransport answers it, nothing leaves the process.
REPLAY_URL: Final = "https://backtest.invalid/v1"
#: Intent kinds that wake someone up: counted as pages.
PAGE_KINDS: Final = frozenset({"firing", "escalated", "repeat"})
_DAY: Final = 86400.0
_RELATIVE_RE: Final = re.compile(r"(?:now)?\s*-\s*((?:\d+[smhdw])+)")
_PART_RE: Final = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Key = tuple[str, str | None]


# --- times -------------------------------------------------------------------------------


def parse_when(text: str, now: datetime) -> datetime:
    """``--from``/``--to``: ISO 8601 (naive = UTC), ``now``, or relative (``-24h``, ``-1h30m``).

    Raises:
        SettingsError: the text is neither (exit code 2).
    """
    raw = text.strip()
    if raw.lower() == "now":
        return now
    relative = _RELATIVE_RE.fullmatch(raw.lower())
    if relative is not None:
        seconds = sum(
            int(n) * _UNIT_SECONDS[unit] for n, unit in _PART_RE.findall(relative.group(1))
        )
        return now - timedelta(seconds=seconds)
    iso = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise SettingsError(
            f"cannot read the time {text!r}: use ISO 8601 (2026-03-10T14:00:00Z), "
            "'now', or a relative time such as -24h, -90m, -7d"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def check_range(start: datetime, end: datetime, now: datetime) -> None:
    """A backtest range must be non-empty and in the past.

    Raises:
        SettingsError: it is not (exit code 2).
    """
    if start >= end:
        raise SettingsError(f"--from ({_iso(start)}) must be before --to ({_iso(end)})")
    if end > now:
        shown = _iso(now.replace(microsecond=0))
        raise SettingsError(
            f"--to ({_iso(end)}) is in the future; a backtest replays the past (now is {shown})"
        )


def fetch_start(config: Config, start: datetime) -> datetime:
    """The earliest call start the replay can need.

    The replay's first poll reads back ``poll.backfill``; but a call older than the
    longest window plus ``poll.overlap`` can only matter if it lasted longer than the
    overlap, which the live sync does not allow for either. So we read no further.
    """
    windows = [r.window for r in config.rules if r.source == "calls"] or [timedelta(0)]
    reach = min(config.poll.backfill, max(windows) + config.poll.overlap)
    return start - reach


# --- phase 1: fetch ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchProgress:
    """How far the fetch is; ``fraction`` and ``seconds_left`` are None until known."""

    calls: int
    pages: int
    elapsed: float
    fraction: float | None
    seconds_left: float | None
    done: bool = False


def estimate_left(
    elapsed: float, pages: int, fraction: float | None, requests_per_minute: int
) -> float | None:
    """Seconds left: the slower of our pace so far and what the rate limit allows."""
    if fraction is None or fraction <= 0 or pages <= 0:
        return None
    if fraction >= 1:
        return 0.0
    pages_left = pages / fraction - pages
    by_rate = pages_left / (requests_per_minute / 60.0)
    by_pace = elapsed * (1 - fraction) / fraction
    return max(by_rate, by_pace)


def _covered(
    oldest: datetime, newest: datetime, newest_first: bool, since: datetime, until: datetime
) -> float | None:
    """Share of [since, until] a walk has covered, judged by the start times it reached."""
    if until <= since:
        return None
    reached = (until - oldest) if newest_first else (newest - since)
    return min(1.0, max(0.0, reached / (until - since)))


def fetch_calls(
    client: TelepathClient,
    since: datetime,
    until: datetime,
    *,
    clock: Clock,
    requests_per_minute: int,
    trunks: Sequence[str] = (),
    progress: Callable[[FetchProgress], None] | None = None,
) -> list[Call]:
    """Every call starting in [since, until], each once, through the normal client.

    With ``trunks``, one walk per trunk (``trunk_id`` filter, re-checked here). A
    ``KeyboardInterrupt`` (Ctrl-C, or raised by ``progress``) propagates at once.
    """
    began = clock.monotonic()
    seen: dict[str, Call] = {}
    pages = 0
    walks: list[str | None] = list(trunks) or [None]
    for number, trunk in enumerate(walks):
        reach: tuple[datetime, datetime, bool] | None = None  # oldest, newest, newest first
        for page in client.iter_call_pages(since=since, until=until, trunk_id=trunk):
            pages += 1
            for call in page.calls:
                if trunk is None or call.trunk_id == trunk:
                    seen.setdefault(call.id, call)
            if page.calls:
                starts = [c.start_time for c in page.calls]
                if reach is None:
                    reach = (min(starts), max(starts), starts[0] >= starts[-1])
                else:
                    reach = (min(reach[0], *starts), max(reach[1], *starts), reach[2])
            if progress is not None:
                covered = None if reach is None else _covered(*reach, since, until)
                fraction = None if covered is None else (number + covered) / len(walks)
                elapsed = clock.monotonic() - began
                left = estimate_left(elapsed, pages, fraction, requests_per_minute)
                progress(FetchProgress(len(seen), pages, elapsed, fraction, left))
    if progress is not None:
        progress(FetchProgress(len(seen), pages, clock.monotonic() - began, 1.0, 0.0, done=True))
    return list(seen.values())


def format_progress(p: FetchProgress, width: int = 24) -> str:
    """One line of progress for stderr, e.g. ``[#####---] 61%  8,200 calls  82 pages ...``."""
    if p.fraction is None:
        bar, percent = "?" * width, "  ?%"
    else:
        filled = round(p.fraction * width)
        bar, percent = "#" * filled + "-" * (width - filled), f"{p.fraction:4.0%}"
    left = "done" if p.done else _clock_text(p.seconds_left) + " left"
    return (
        f"fetching calls [{bar}] {percent}  {p.calls:,} calls  {p.pages:,} pages  "
        f"{_clock_text(p.elapsed)} elapsed  {left}"
    )


def _clock_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# --- phase 2: replay ---------------------------------------------------------------------


class ReplayApi:
    """A Telepath-compatible ``GET /calls`` over fixed calls, for ``httpx.MockTransport``.

    Like the simulator: newest first by (start_time, id); ``from``/``start_date`` and
    ``to``/``end_date`` (inclusive, narrowest wins) apply to ``start_time``; a call is
    listed once ``finished_at <= clock.now()``; cursor pagination whose cursor names the
    last item served, so it stays right while calls appear. Everything else is 404.
    Pages are cut from pre-sorted arrays by bisection, so a poll costs what it returns.
    """

    def __init__(self, calls: Iterable[Call], clock: Clock) -> None:
        ordered = sorted({c.id: c for c in calls}.values(), key=lambda c: (c.start_time, c.id))
        self._clock = clock
        self._keys = [(c.start_time.timestamp(), c.id) for c in ordered]
        self._starts = [k[0] for k in self._keys]
        self._ends = [c.finished_at.timestamp() for c in ordered]
        # Pre-encoded once: a page is then a join, not a JSON encoding of 100 dicts.
        self._items = [json.dumps(_list_item(c), separators=(",", ":")).encode() for c in ordered]
        durations = (e - s for s, e in zip(self._starts, self._ends, strict=True))
        #: Every call that started this long before now has ended.
        self._longest = max(durations, default=0.0)
        self.requests = 0

    def __len__(self) -> int:
        return len(self._items)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if request.method != "GET" or request.url.path.rstrip("/") != "/v1/calls":
            error = {"error": {"code": "not_found", "message": "not replayed", "status": 404}}
            return httpx.Response(404, json=error)
        query = parse_qs(request.url.query.decode(), keep_blank_values=True)
        try:
            body = self._page(query, self._clock.now().timestamp())
        except ValueError as exc:
            error = {"error": {"code": "INVALID_PARAMS", "message": str(exc)}}
            return httpx.Response(400, json=error)
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    def _page(self, query: dict[str, list[str]], now: float) -> bytes:
        limit = int(_param(query, "limit") or 20)
        if not 1 <= limit <= 100:
            raise ValueError("Invalid limit parameter. Must be between 1 and 100")
        lowers = [_query_time(query, n) for n in ("from", "start_date")]
        uppers = [_query_time(query, n) for n in ("to", "end_date")]
        lower = max((t for t in lowers if t is not None), default=-math.inf)
        upper = min((t for t in uppers if t is not None), default=math.inf)
        lo = bisect.bisect_left(self._starts, lower)
        end = bisect.bisect_right(self._starts, min(upper, now))
        cursor = _param(query, "cursor")
        if cursor is not None:
            end = min(end, bisect.bisect_left(self._keys, _decode_cursor(cursor)))
        settled = bisect.bisect_right(self._starts, now - self._longest)
        picked: list[int] = []
        i = end - 1
        while i >= lo and len(picked) < limit:
            if i < settled or self._ends[i] <= now:
                picked.append(i)
            i -= 1
        has_more = any(j < settled or self._ends[j] <= now for j in range(i, lo - 1, -1))
        next_cursor = None
        if has_more and picked:
            start, call_id = self._keys[picked[-1]]
            next_cursor = f"{start!r}~{call_id}"
        tail = {"next_cursor": next_cursor, "has_more": next_cursor is not None}
        items = b",".join(self._items[j] for j in picked)
        return b'{"data":[' + items + b"]," + json.dumps(tail).encode()[1:]


def _param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _query_time(query: dict[str, list[str]], name: str) -> float | None:
    raw = _param(query, name)
    if raw is None:
        return None
    text = raw.strip().replace(" ", "+")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    start, sep, call_id = cursor.partition("~")
    if not sep:
        raise ValueError("Invalid cursor parameter")
    return float(start), call_id


def _list_item(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "trunk_id": call.trunk_id,
        "status": call.status,
        "start_time": _iso(call.start_time),
        "end_time": _iso(call.finished_at),
        "duration_seconds": call.duration_seconds,
        "ai_latency_ms": call.ai_latency_ms,
        "carrier_lag_ms": call.carrier_lag_ms,
        "gateway_processing_ms": call.gateway_processing_ms,
    }


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What one replayed poll saw and did.

    ``values`` holds (rule, group, value) for every observation; ``states`` the
    (rule, group, state, severity) of every alert not inactive after the step.
    """

    at: datetime
    values: tuple[tuple[str, str | None, float | None], ...]
    intents: tuple[Intent, ...]
    states: tuple[tuple[str, str | None, str, str | None], ...]
    sync_ok: bool = True


class _RecordingDaemon(Daemon):
    """The daemon of ``run``, remembering what each evaluation observed and decided."""

    observed: list[Observation]
    decided: list[Intent]

    def observe(self, now: datetime) -> list[Observation]:
        observations = super().observe(now)
        self.observed = observations
        return observations

    def evaluate(self, *, sync_ok: bool) -> list[Intent]:
        intents = super().evaluate(sync_ok=sync_ok)
        self.decided = intents
        return intents


def replay_rules(
    config: Config, names: Sequence[str] = (), trunks: Sequence[str] = ()
) -> tuple[tuple[Rule, ...], list[str]]:
    """The rules a backtest replays, and notes on what it leaves out and why.

    Raises:
        SettingsError: a name in ``names`` is not a rule of the config.
    """
    known = [r.name for r in config.rules]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SettingsError(
            f"no rule named {', '.join(map(repr, unknown))} (rules: {', '.join(known) or 'none'})"
        )
    rules = [r for r in config.rules if not names or r.name in names]
    notes: list[str] = []
    overview = [r.name for r in rules if r.source == "overview"]
    if overview:
        notes.append(
            f"not replayed: {', '.join(overview)} (source: overview; "
            "/analytics/overview keeps no history, so these are no data)"
        )
    rules = [r for r in rules if r.source == "calls"]
    if trunks:
        account = [r.name for r in rules if r.per == "account"]
        if account:
            notes.append(
                f"not replayed: {', '.join(account)} (account-wide; --trunk fetches only "
                "the chosen trunks' calls)"
            )
        rules = [r for r in rules if r.per == "trunk"]
    return tuple(rules), notes


def _replay_config(config: Config, rules: Sequence[Rule]) -> Config:
    """The config with only ``rules``, every notifier a console that never runs, and the
    daemon's own sync-failing alert off: nothing a replay does can reach anyone."""
    notifiers = {name: ConsoleNotifier(type="console") for name in config.notifiers}
    return config.model_copy(
        update={
            "rules": tuple(rules),
            "notifiers": notifiers,
            "sync_failing": config.sync_failing.model_copy(update={"enabled": False}),
        }
    )


@contextmanager
def _quiet(name: str, level: int) -> Iterator[None]:
    """Hold a logger at ``level`` or above (replayed alerts are not news)."""
    logger = logging.getLogger(name)
    before = logger.level
    if logger.getEffectiveLevel() < level:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def replay(
    settings: Settings,
    config: Config,
    rules: Sequence[Rule],
    calls: Iterable[Call],
    start: datetime,
    end: datetime,
    *,
    on_step: Callable[[StepRecord], None] | None = None,
) -> list[StepRecord]:
    """Run ``Daemon.poll_calls`` at ``start``, then every ``poll.calls_every`` until ``end``.

    The daemon gets a fresh state DB in a temporary directory, ``settings``' rate limit
    and timeout, and an HTTP client on :class:`ReplayApi`. A step whose time the clock
    has already passed (a poll that waited on the rate limit) is skipped, as the
    scheduler coalesces a late job.
    """
    clock = ManualClock(start)
    api = ReplayApi(calls, clock)
    every = config.poll.calls_every
    steps: list[StepRecord] = []
    with tempfile.TemporaryDirectory(prefix="telepath-backtest-") as tmp:
        replay_settings = load_settings(
            {
                "api_key": "backtest-replay",
                "api_url": REPLAY_URL,
                "state_db": str(Path(tmp) / "replay.db"),
                "listen": "127.0.0.1:0",
                "api_rate_limit": settings.api_rate_limit,
                "api_timeout": settings.api_timeout,
            },
            env={},
        )
        http = httpx.Client(base_url=REPLAY_URL, transport=api.transport())
        daemon = _RecordingDaemon(
            replay_settings,
            _replay_config(config, rules),
            clock=clock,
            http=http,
            console=io.StringIO(),
        )
        try:
            with _quiet("monitor.daemon", logging.ERROR):
                for at in poll_times(start, end, every):
                    if clock.now() > at:
                        continue
                    clock.advance((at - clock.now()).total_seconds())
                    daemon.observed, daemon.decided = [], []
                    daemon.poll_calls()
                    step = _record(daemon, at)
                    steps.append(step)
                    if on_step is not None:
                        on_step(step)
        finally:
            daemon.stop()
    return steps


def poll_times(start: datetime, end: datetime, every: timedelta) -> Iterator[datetime]:
    """``start``, ``start + every``, ... up to and including ``end``."""
    k = 0
    while (at := start + k * every) <= end:
        yield at
        k += 1


def _record(daemon: _RecordingDaemon, at: datetime) -> StepRecord:
    states = tuple(
        (s.rule, s.group, s.state, s.severity)
        for s in daemon.engine.states()
        if s.state != "inactive"
    )
    return StepRecord(
        at=at,
        values=tuple((o.rule.name, o.group, o.value) for o in daemon.observed),
        intents=tuple(i for i in daemon.decided if i.rule.name != SYNC_FAILING),
        states=states,
        sync_ok=daemon.calls_health.failing_since is None,
    )


# --- results (pure) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of time an alert was pending or firing; ``end`` None: still at the end."""

    start: datetime
    end: datetime | None
    severity: str | None = None
    alert_id: str | None = None
    peak: float | None = None


@dataclass
class Series:
    """One (rule, group) over the range: its value at each poll, and when it alerted."""

    rule: Rule
    group: str | None
    points: list[tuple[datetime, float | None]] = field(default_factory=list)
    pending: list[Span] = field(default_factory=list)
    firing: list[Span] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Whether it was ever pending or firing."""
        return bool(self.pending or self.firing)


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert that would have fired: a line of the timeline."""

    rule: str
    group: str | None
    alert_id: str
    metric: str
    severity: str
    start: datetime
    end: datetime | None
    peak: float | None
    notifications: int
    pages: int
    notifiers: tuple[str, ...]

    def duration(self, range_end: datetime) -> timedelta:
        return (self.end or range_end) - self.start


@dataclass(frozen=True, slots=True)
class RuleSummary:
    """One rule over the whole range."""

    rule: str
    alerts: int
    notifications: int
    pages: int
    pages_per_day: float
    firing: timedelta
    share: float


@dataclass
class BacktestResult:
    """Everything a backtest found; rendered as a table, JSON or an HTML report."""

    start: datetime
    end: datetime
    poll_every: timedelta
    polls: int
    calls: int
    rules: tuple[Rule, ...]
    timeline: list[AlertRow]
    summary: list[RuleSummary]
    series: list[Series]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The same data for scripts: times ISO 8601, durations in seconds."""
        return {
            "range": {
                "from": _iso(self.start),
                "to": _iso(self.end),
                "poll_every_seconds": self.poll_every.total_seconds(),
                "polls": self.polls,
                "calls": self.calls,
            },
            "notes": list(self.notes),
            "rules": [_rule_json(r) for r in self.rules],
            "timeline": [
                {
                    "rule": a.rule,
                    "group": a.group,
                    "alert_id": a.alert_id,
                    "severity": a.severity,
                    "start": _iso(a.start),
                    "end": None if a.end is None else _iso(a.end),
                    "still_firing": a.end is None,
                    "duration_seconds": a.duration(self.end).total_seconds(),
                    "peak": a.peak,
                    "notifications": a.notifications,
                    "pages": a.pages,
                    "notifiers": list(a.notifiers),
                }
                for a in self.timeline
            ],
            "summary": [
                {
                    "rule": s.rule,
                    "alerts": s.alerts,
                    "notifications": s.notifications,
                    "pages": s.pages,
                    "pages_per_day": s.pages_per_day,
                    "firing_seconds": s.firing.total_seconds(),
                    "firing_share": s.share,
                }
                for s in self.summary
            ],
            "series": [
                {
                    "rule": s.rule.name,
                    "group": s.group,
                    "unit": unit_of(s.rule.metric),
                    "op": s.rule.op,
                    "thresholds": {"warning": s.rule.warning, "critical": s.rule.critical},
                    "points": [[_iso(t), v] for t, v in s.points],
                    "pending": [_span_json(p) for p in s.pending],
                    "firing": [_span_json(f) for f in s.firing],
                }
                for s in self.series
            ],
        }


def _rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "metric": rule.metric,
        "stat": rule.stat,
        "per": rule.per,
        "op": rule.op,
        "warning": rule.warning,
        "critical": rule.critical,
        "window_seconds": rule.window.total_seconds(),
        "for_seconds": rule.for_.total_seconds(),
        "unit": unit_of(rule.metric),
    }


def _span_json(span: Span) -> dict[str, Any]:
    return {
        "start": _iso(span.start),
        "end": None if span.end is None else _iso(span.end),
        "severity": span.severity,
        "alert_id": span.alert_id,
        "peak": span.peak,
    }


def build_result(
    rules: Sequence[Rule],
    steps: Sequence[StepRecord],
    start: datetime,
    end: datetime,
    poll_every: timedelta,
    *,
    calls: int = 0,
    trunks: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> BacktestResult:
    """Timeline, summary and series from the recorded steps; ``trunks`` keeps only those
    groups (and drops account-wide ones)."""
    by_name = {r.name: r for r in rules}
    wanted = set(trunks)

    def keep(rule: str, group: str | None) -> bool:
        return rule in by_name and (not wanted or group in wanted)

    series: dict[Key, Series] = {}
    for step in steps:
        for name, group, value in step.values:
            if keep(name, group):
                s = series.setdefault((name, group), Series(by_name[name], group))
                s.points.append((step.at, value))
    _pending_spans(steps, series, keep)
    timeline = _alerts(steps, series, keep)
    for row in timeline:
        s = series.setdefault((row.rule, row.group), Series(by_name[row.rule], row.group))
        s.firing.append(Span(row.start, row.end, row.severity, row.alert_id, row.peak))
    summary = [_summary(rule.name, timeline, start, end) for rule in rules]
    ordered = sorted(series.values(), key=lambda s: (_rule_order(rules, s.rule.name), _g(s.group)))
    return BacktestResult(
        start, end, poll_every, len(steps), calls, tuple(rules), timeline, summary, ordered,
        list(notes),
    )  # fmt: skip


def _rule_order(rules: Sequence[Rule], name: str) -> int:
    return next(i for i, r in enumerate(rules) if r.name == name)


def _g(group: str | None) -> tuple[bool, str]:
    return (group is not None, group or "")


def _pending_spans(
    steps: Sequence[StepRecord], series: dict[Key, Series], keep: Callable[[str, str | None], bool]
) -> None:
    """Pending from the first step an alert is pending to the first step it is not."""
    open_since: dict[Key, tuple[datetime, str | None]] = {}
    for step in steps:
        pending = {(r, g): sev for r, g, state, sev in step.states if state == "pending"}
        for key in list(open_since):
            if key not in pending:
                began, severity = open_since.pop(key)
                if key in series:
                    series[key].pending.append(Span(began, step.at, severity))
        for key, severity in pending.items():
            if key not in open_since and keep(*key):
                open_since[key] = (step.at, severity)
    for key, (began, severity) in open_since.items():
        if key in series:
            series[key].pending.append(Span(began, None, severity))


def _alerts(
    steps: Sequence[StepRecord], series: dict[Key, Series], keep: Callable[[str, str | None], bool]
) -> list[AlertRow]:
    """One row per firing instance, from its intents; the peak from the observed values."""
    intents: dict[str, list[Intent]] = {}
    for step in steps:
        for intent in step.intents:
            if keep(intent.rule.name, intent.group):
                intents.setdefault(intent.alert_id, []).append(intent)
    rows: list[AlertRow] = []
    for alert_id, group in intents.items():
        first, last = group[0], group[-1]
        end = last.at if last.kind == "resolved" else None
        severity = "critical" if any(i.severity == "critical" for i in group) else "warning"
        notifiers = sorted({name for i in group for name in i.notify})
        rule = first.rule
        s = series.get((rule.name, first.group))
        values = [
            v
            for t, v in (s.points if s else [])
            if v is not None and t >= first.at and (end is None or t <= end)
        ]
        peak = _most_severe(rule, values) if values else last.peak_value
        rows.append(
            AlertRow(
                rule=rule.name,
                group=first.group,
                alert_id=alert_id,
                metric=rule.metric,
                severity=severity,
                start=first.at,
                end=end,
                peak=peak,
                notifications=len(group),
                pages=sum(1 for i in group if i.kind in PAGE_KINDS),
                notifiers=tuple(notifiers),
            )
        )
    rows.sort(key=lambda r: (r.start, r.rule, _g(r.group)))
    return rows


def _most_severe(rule: Rule, values: Sequence[float]) -> float:
    return max(values) if rule.op in (">", ">=") else min(values)


def _summary(
    rule: str, timeline: Sequence[AlertRow], start: datetime, end: datetime
) -> RuleSummary:
    rows = [a for a in timeline if a.rule == rule]
    days = (end - start).total_seconds() / _DAY
    pages = sum(a.pages for a in rows)
    firing = union_length([(a.start, a.end or end) for a in rows], start, end)
    return RuleSummary(
        rule=rule,
        alerts=len(rows),
        notifications=sum(a.notifications for a in rows),
        pages=pages,
        pages_per_day=pages / days if days > 0 else 0.0,
        firing=firing,
        share=firing / (end - start) if end > start else 0.0,
    )


def union_length(
    spans: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime
) -> timedelta:
    """Total time covered by ``spans`` within [start, end], overlaps counted once."""
    total = timedelta(0)
    reach: datetime | None = None
    for a, b in sorted((max(a, start), min(b, end)) for a, b in spans):
        if b <= a:
            continue
        if reach is None or a >= reach:
            total += b - a
            reach = b
        elif b > reach:
            total += b - reach
            reach = b
    return total


# --- text (pure) -------------------------------------------------------------------------


def format_timeline(result: BacktestResult) -> list[str]:
    """The timeline and summary tables as lines for people."""
    every = format_duration(result.poll_every)
    lines = [
        f"backtest {_iso(result.start)} .. {_iso(result.end)}: {result.calls:,} calls, "
        f"{result.polls:,} polls every {every}, {_count(len(result.rules), 'rule')}"
    ]
    lines += [f"note: {note}" for note in result.notes]
    lines.append("")
    headers = ["rule", "group", "severity", "start", "end", "duration", "peak", "notifications"]
    rows = [
        [
            a.rule,
            a.group or "account",
            a.severity,
            _iso(a.start),
            _iso(a.end) if a.end else "still firing",
            format_duration(_whole(a.duration(result.end))),
            format_value(a.peak, a.metric),
            f"{a.notifications} ({_count(a.pages, 'page')})",
        ]
        for a in result.timeline
    ]
    lines += _table(headers, rows) if rows else ["no alert would have fired"]
    lines.append("")
    headers = ["rule", "alerts", "notifications", "pages/day", "time firing", "share"]
    rows = [
        [
            s.rule,
            str(s.alerts),
            str(s.notifications),
            f"{s.pages_per_day:.2f}",
            format_duration(_whole(s.firing)),
            f"{s.share:.1%}",
        ]
        for s in result.summary
    ]
    lines += _table(headers, rows) if rows else ["(no rules replayed)"]
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    out = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out


def _whole(value: timedelta) -> timedelta:
    return timedelta(seconds=int(value.total_seconds()))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_json_text(result: BacktestResult) -> str:
    """``--json`` output."""
    return json.dumps(result.to_json(), indent=2)
