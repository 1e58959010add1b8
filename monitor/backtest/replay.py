"""Backtest phase 2: run the pipeline of ``run`` over the fetched calls on a manual clock.

:func:`replay` builds the real sync (client, windows, a state DB of its own) on a
:class:`~monitor.clock.ManualClock` whose HTTP client talks to :class:`ReplayApi`, a
Telepath-compatible ``/calls`` served from the fetched calls (a call is listed only once it
has ended by the manual clock, as the live API and the simulator do). The clock steps by
``poll.calls_every``; at each step the sync polls and :func:`monitor.pipeline.step` runs:
the same sync, windows, rules, alert engine and quiet policy (maintenance windows,
inhibition) as ``run``. Nothing is sent; each :class:`StepRecord` says what would have
been. :func:`replay_rules` picks the rules a replay can judge, and says why it leaves out
the others.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

import httpx
from pydantic import SecretStr

from monitor.alerts import AlertState, Intent
from monitor.backtest.fetch import _iso
from monitor.baselines import CallBaselines
from monitor.clock import Clock, ManualClock
from monitor.config import Config, Rule, Slo
from monitor.errors import ApiError, SettingsError
from monitor.models import Call
from monitor.pipeline import SYNC_FAILING, StepResult, Sync, quiet_policy, step, window_retention
from monitor.settings import Settings
from monitor.slo import classifiers, rule_name, slo_rules
from monitor.slo.source import read_figures
from monitor.store import StateStore
from monitor.sync import CallSync, SyncHealth
from monitor.telepath.client import TelepathClient
from monitor.windows import CallWindows

__all__ = [
    "ReplayApi",
    "StepRecord",
    "poll_times",
    "replay",
    "replay_rules",
    "replay_slos",
    "shown_rules",
]

#: The replayed API's base URL; MockTransport answers it, nothing leaves the process.
REPLAY_URL: Final = "https://backtest.invalid/v1"


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
    (rule, group, state, severity) of every alert not inactive after the step;
    ``baselines`` (rule, group, baseline, warning, critical) for each ``compare:`` rule's
    observation with a baseline, the thresholds as set from it.
    """

    at: datetime
    values: tuple[tuple[str, str | None, float | None], ...]
    intents: tuple[Intent, ...]
    states: tuple[tuple[str, str | None, str, str | None], ...]
    sync_ok: bool = True
    baselines: tuple[tuple[str, str | None, float, float | None, float | None], ...] = ()


def replay_rules(
    config: Config, names: Sequence[str] = (), trunks: Sequence[str] = ()
) -> tuple[tuple[Rule, ...], list[str]]:
    """The rules a backtest replays, and notes on what it leaves out and why.

    Raises:
        SettingsError: a name in ``names`` is not a rule of the config.
    """
    known = [r.name for r in [*config.rules, *slo_rules(config)]]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SettingsError(
            f"no rule named {', '.join(map(repr, unknown))} (rules: {', '.join(known) or 'none'})"
        )
    rules = [r for r in config.rules if not names or r.name in names]
    notes: list[str] = []
    if names and not rules:
        return (), notes  # only SLO alerts chosen (replay_slos)
    overview = [r.name for r in rules if r.source == "overview"]
    if overview:
        notes.append(
            f"not replayed: {', '.join(overview)} (source: overview; "
            "/analytics/overview keeps no history, so these are no data)"
        )
    rules = [r for r in rules if r.source == "calls"]
    if trunks:
        notes += _account_note("", [r.name for r in rules if r.per == "account"])
        rules = [r for r in rules if r.per == "trunk"]
    return tuple(rules), notes


def replay_slos(
    config: Config, names: Sequence[str] = (), trunks: Sequence[str] = ()
) -> tuple[tuple[Slo, ...], list[str]]:
    """The SLOs a backtest replays (all, or those with an alert named in ``names``),
    and notes on what it leaves out. Their budget counts only the calls fetched."""
    chosen = [
        s for s in config.slos if not names or any(rule_name(s, a) in names for a in s.alerts)
    ]
    notes: list[str] = []
    if trunks:
        notes += _account_note("SLO ", [s.name for s in chosen if s.per == "account"])
        chosen = [s for s in chosen if s.per == "trunk"]
    if chosen:
        notes.append("SLO budgets count only the calls fetched for the replay, not a whole period")
    return tuple(chosen), notes


def _account_note(kind: str, names: Sequence[str]) -> list[str]:
    if not names:
        return []
    return [
        f"not replayed: {kind}{', '.join(names)} (account-wide; --trunk fetches only the "
        "chosen trunks' calls)"
    ]


def shown_rules(config: Config, rules: Sequence[Rule], slos: Sequence[Slo]) -> tuple[Rule, ...]:
    """The replayed rules, then the replayed SLOs' alerts: what the results show."""
    return (*rules, *slo_rules(_replay_config(config, rules, slos)))


def _replay_config(
    config: Config, rules: Sequence[Rule], slos: Sequence[Slo] | None = None
) -> Config:
    """The config with only ``rules`` (and ``slos``), the sync-failing alert off."""
    return config.model_copy(
        update={
            "rules": tuple(rules),
            "slos": tuple(config.slos if slos is None else slos),
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
    slos: Sequence[Slo] | None = None,
) -> list[StepRecord]:
    """Poll and step at ``start``, then every ``poll.calls_every`` until ``end``.

    The sync gets a fresh state DB in a temporary directory, ``settings``' rate limit,
    and an HTTP client on :class:`ReplayApi`. A step whose time the clock has already
    passed (a poll that waited on the rate limit) is skipped, as the scheduler
    coalesces a late job.
    """
    clock = ManualClock(start)
    calls = list(calls)
    api = ReplayApi(calls, clock)
    # Baselines read the fetched calls, which reach back as far as the rules' baselines.
    baselines = CallBaselines(calls)
    replayed = _replay_config(config, rules, slos)
    policy = quiet_policy(replayed, ())
    steps: list[StepRecord] = []
    with tempfile.TemporaryDirectory(prefix="telepath-backtest-") as tmp:
        store = StateStore(Path(tmp) / "replay.db")
        store.rollup_counters = classifiers(replayed.slos)
        client = TelepathClient(
            httpx.Client(base_url=REPLAY_URL, transport=api.transport()),
            api_key=SecretStr("backtest-replay"),
            clock=clock,
            requests_per_minute=settings.api_rate_limit,
            max_pages=replayed.poll.max_pages,
        )
        windows = CallWindows(window_retention(replayed))
        sync = CallSync(
            client, store, windows, clock,
            backfill=replayed.poll.backfill, overlap=replayed.poll.overlap,
            margin=replayed.poll.calls_every, sweep_every=replayed.poll.sweep_every,
        )  # fmt: skip
        health = SyncHealth()
        states: list[AlertState] = []
        known: set[str] = set()
        try:
            for at in poll_times(start, end, replayed.poll.calls_every):
                if clock.now() > at:
                    continue
                clock.advance((at - clock.now()).total_seconds())
                try:
                    sync.poll()
                    health.record_success(clock.now())
                except ApiError as exc:
                    health.record_failure(clock.now(), str(exc))
                known.update(windows.trunks())
                ok = health.failing_since is None
                result = step(
                    replayed, windows, None, states, clock.now(), quiet=policy,
                    sync=Sync(calls_ok=ok, calls_failing_since=health.failing_since),
                    known_trunks=known, baselines=baselines,
                    slos=read_figures(store, replayed.slos, clock.now(), known),
                )  # fmt: skip
                states = result.states
                record = _record(result, at, sync_ok=ok)
                steps.append(record)
                if on_step is not None:
                    on_step(record)
        finally:
            client.close()
            store.close()
    return steps


def poll_times(start: datetime, end: datetime, every: timedelta) -> Iterator[datetime]:
    """``start``, ``start + every``, ... up to and including ``end``."""
    k = 0
    while (at := start + k * every) <= end:
        yield at
        k += 1


def _record(result: StepResult, at: datetime, *, sync_ok: bool) -> StepRecord:
    return StepRecord(
        at=at,
        values=tuple((o.rule.name, o.group, o.value) for o in result.observations),
        intents=tuple(i for i in result.intents if i.rule.name != SYNC_FAILING),
        states=tuple(
            (s.rule, s.group, s.state, s.severity)
            for s in result.states
            if s.state != "inactive" and s.rule != SYNC_FAILING
        ),
        sync_ok=sync_ok,
        baselines=tuple(
            (o.rule.name, o.group, o.baseline, o.rule.warning, o.rule.critical)
            for o in result.observations
            if o.baseline is not None
        ),
    )
