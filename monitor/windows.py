"""Sliding windows of recent calls per trunk and account-wide, with exact statistics.

Pure: no I/O, no threads, no wall clock. Callers pass ``now``; a caller that shares one
:class:`CallWindows` between threads holds its own lock around :meth:`CallWindows.add`,
:meth:`CallWindows.prune` and :meth:`CallWindows.view`. A :class:`WindowView` is a copy,
so it can be read without the lock.

How calls are kept
    Each trunk keeps its calls as columns sorted by ``Call.finished_at`` (the time a call
    counts at): ``array('d')`` for the finish time and start time (epoch seconds) and for
    the three latency components and their total (NaN when missing), ``array('B')`` for
    the status (a code into an interning table) and the direction (0 unknown, 1 inbound,
    2 outbound), and a ``list[str]`` of call ids. That is
    about 130 bytes per call, id string included, instead of one object per field.
    Epoch seconds as a double resolve well under a microsecond until the year 2242, so
    distinct datetimes stay distinct and the window boundaries below are exact.

    Calls may arrive out of order: a call not older than the trunk's newest is appended,
    an older one is inserted at its bisected position (after calls with the same time).
    Adding is not idempotent: the same call added twice counts twice. De-duplication by
    call id belongs to the caller (``monitor.sync``).

    Pruning moves a start index past calls at or before ``now - retention`` and compacts
    the arrays only once the dead prefix is as long as the live part, so ``prune`` on every
    poll costs a bisection and the copying is amortised. A call older than the last prune
    is still accepted; it is never inside a window of ``now`` and goes at the next prune.

Windows
    A window of length ``w`` ending at ``now`` holds the calls with
    ``now - w < finished_at <= now``: the start is exclusive and the end inclusive, so
    consecutive windows never count a call twice. Calls finishing after ``now`` (clock
    skew) are outside. ``w`` may not exceed the retention, since older calls may already
    be pruned and the answer would be silently short.

Account-wide views
    ``view(None, ...)`` merges the per-trunk slices at query time instead of keeping a
    second account-level store. Measured by ``bench/bench_windows.py`` (1,000 trunks,
    200,000 calls held, 16,667 in a 5-minute window): slicing costs 3.4 ms merged against
    0.2 ms from one store, and 13.6 ms against 10.1 ms with every figure computed, since
    sorting for percentiles dominates. A second store would cost about 50 more bytes per
    call (a third more memory) and double the insert work on every call, to save about
    3 ms per account view; merging wins.

Filters
    A rule may keep only some statuses and one direction (``status:``, ``direction:``);
    :meth:`WindowView.select` copies the matching rows into a view of their own, so every
    figure of the rule (count, ratios, latencies, worst calls) is over those calls only.

Statistics
    Missing latencies are left out of that metric's statistics; a statistic over zero
    samples is None. ``avg`` is ``math.fsum`` over the samples divided by their number.
    Percentiles are exact, interpolated linearly between the closest ranks (as
    ``statistics.quantiles(method="inclusive")`` and numpy's default ``"linear"``): for
    the sorted samples ``x`` of length ``n`` and ``q = NN / 100``, the rank is
    ``r = (n - 1) * q`` and ``pNN = x[floor(r)] + (x[ceil(r)] - x[floor(r)]) * (r - floor(r))``.
    So ``p100`` is the maximum and ``p50`` the median.
"""

from __future__ import annotations

import heapq
import math
import re
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final, Literal, NamedTuple

from monitor.models import LATENCY_METRICS, Call

__all__ = [
    "FAILED_STATUS",
    "STAT_KINDS",
    "CallWindows",
    "StatSpec",
    "ViewCache",
    "WindowView",
    "parse_stat",
    "percentile",
]

#: The only status counted as a failure.
FAILED_STATUS: Final = "failed"
#: Statistic names that take no parameter; a percentile is written ``pNN``.
STAT_KINDS: Final = ("avg", "min", "max")

#: At most this many distinct statuses are told apart; any later new one counts as
#: :data:`_OVERFLOW_STATUS`, so a drifting API cannot outgrow the one-byte status column.
_MAX_STATUSES: Final = 255
_OVERFLOW_STATUS: Final = "other"
#: Compact a trunk's arrays once this many dead rows lead them and they are at least
#: as many as the live rows: amortised O(1) per call, bounded waste on small trunks.
_MIN_COMPACT: Final = 32
_NAN: Final = math.nan
#: Latencies beyond this magnitude (about 31 years, in ms) are garbage: kept as missing.
_MAX_MS: Final = 1e12
_PERCENTILE = re.compile(r"p(\d+(?:\.\d+)?)")
#: Direction codes of the direction column; anything else is unknown (0).
DIRECTIONS: Final = ("inbound", "outbound")

StatKind = Literal["avg", "min", "max", "percentile"]


class StatSpec(NamedTuple):
    """A parsed statistic name: ``("avg", None)`` or ``("percentile", 95.0)``."""

    kind: StatKind
    percent: float | None = None


@lru_cache(maxsize=256)
def parse_stat(name: str) -> StatSpec:
    """Parse a statistic name as written in rules: ``avg``, ``min``, ``max`` or ``pNN``.

    ``NN`` is a number in (0, 100], decimals allowed (``p99.9``). Public so config
    validation rejects exactly what evaluation would.

    Raises:
        ValueError: the name is not one of those, with what would be accepted.
    """
    if name == "avg":
        return StatSpec("avg")
    if name == "min":
        return StatSpec("min")
    if name == "max":
        return StatSpec("max")
    match = _PERCENTILE.fullmatch(name)
    if match is None:
        raise ValueError(
            f"unknown stat {name!r}: expected avg, min, max or pNN with NN in (0, 100], "
            "e.g. p95 or p99.9"
        )
    percent = float(match.group(1))
    if not 0.0 < percent <= 100.0:
        raise ValueError(f"unknown stat {name!r}: a percentile must be above 0 and at most 100")
    return StatSpec("percentile", percent)


def percentile(sorted_values: list[float], percent: float) -> float:
    """Linear interpolation between closest ranks over already sorted, non-empty values."""
    rank = (len(sorted_values) - 1) * percent / 100.0
    lo = math.floor(rank)
    low = sorted_values[lo]
    frac = rank - lo
    if frac == 0.0:
        return low
    return low + (sorted_values[lo + 1] - low) * frac


def _check_metric(metric: str) -> None:
    if metric not in LATENCY_METRICS:
        raise ValueError(f"unknown latency metric {metric!r}: expected one of {LATENCY_METRICS}")


def _epoch(moment: datetime, what: str) -> float:
    """Epoch seconds of an aware datetime; a naive one would silently mean local time."""
    if moment.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.timestamp()


def _ms(value: float | None) -> float:
    """A latency as stored: NaN stands for missing, and so does a value no call can have.

    Non-finite and absurdly large values (beyond :data:`_MAX_MS`) would otherwise turn
    sums into inf or NaN, or make ``math.fsum`` overflow.
    """
    if value is None:
        return _NAN
    value = float(value)
    return value if -_MAX_MS <= value <= _MAX_MS else _NAN


def _check_duration(td: timedelta, what: str) -> None:
    if td <= timedelta(0):
        raise ValueError(f"{what} must be positive, got {td}")


class _Columns:
    """One group's calls as parallel columns, row ``i`` being one call."""

    __slots__ = (
        "ai",
        "carrier",
        "direction",
        "gateway",
        "ids",
        "start",
        "status",
        "time",
        "total",
    )

    def __init__(self) -> None:
        self.time = array("d")  # finished_at, epoch seconds; sorted in a trunk store
        self.start = array("d")  # start_time, epoch seconds
        self.ai = array("d")
        self.carrier = array("d")
        self.gateway = array("d")
        self.total = array("d")  # ai + carrier + gateway, NaN when any is missing
        self.status = array("B")
        self.direction = array("B")
        self.ids: list[str] = []

    def metric(self, name: str) -> array[float]:
        if name == "ai_latency_ms":
            return self.ai
        if name == "carrier_lag_ms":
            return self.carrier
        if name == "gateway_processing_ms":
            return self.gateway
        return self.total

    def floats(self) -> tuple[array[float], ...]:
        return (self.time, self.start, self.ai, self.carrier, self.gateway, self.total)

    def extend_from(self, other: _Columns, lo: int, hi: int) -> None:
        """Append rows ``lo:hi`` of ``other`` (memory copies, no per-row objects)."""
        self.time += other.time[lo:hi]
        self.start += other.start[lo:hi]
        self.ai += other.ai[lo:hi]
        self.carrier += other.carrier[lo:hi]
        self.gateway += other.gateway[lo:hi]
        self.total += other.total[lo:hi]
        self.status += other.status[lo:hi]
        self.direction += other.direction[lo:hi]
        self.ids += other.ids[lo:hi]

    def append_row(self, other: _Columns, row: int) -> None:
        """Append row ``row`` of ``other`` (for filtered copies)."""
        for mine, theirs in zip(self.floats(), other.floats(), strict=True):
            mine.append(theirs[row])
        self.status.append(other.status[row])
        self.direction.append(other.direction[row])
        self.ids.append(other.ids[row])


class _TrunkStore(_Columns):
    """A trunk's columns, sorted by time, with a dead prefix ``[0, head)`` awaiting compaction."""

    __slots__ = ("head",)

    def __init__(self) -> None:
        super().__init__()
        self.head = 0

    def __len__(self) -> int:
        return len(self.ids) - self.head

    def add(
        self,
        ts: float,
        start: float,
        ai: float,
        carrier: float,
        gateway: float,
        code: int,
        call_id: str,
        direction: int = 0,
    ) -> None:
        time = self.time
        if not time or ts >= time[-1]:
            time.append(ts)
            self.start.append(start)
            self.ai.append(ai)
            self.carrier.append(carrier)
            self.gateway.append(gateway)
            self.total.append(ai + carrier + gateway)
            self.status.append(code)
            self.direction.append(direction)
            self.ids.append(call_id)
            return
        at = bisect_right(time, ts, self.head)
        time.insert(at, ts)
        self.start.insert(at, start)
        self.ai.insert(at, ai)
        self.carrier.insert(at, carrier)
        self.gateway.insert(at, gateway)
        self.total.insert(at, ai + carrier + gateway)
        self.status.insert(at, code)
        self.direction.insert(at, direction)
        self.ids.insert(at, call_id)

    def prune(self, cutoff: float) -> int:
        """Drop rows at or before ``cutoff``; return how many."""
        head = bisect_right(self.time, cutoff, self.head)
        dropped = head - self.head
        self.head = head
        if head >= _MIN_COMPACT and head * 2 >= len(self.ids):
            for column in self.floats():
                del column[:head]
            del self.status[:head]
            del self.direction[:head]
            del self.ids[:head]
            self.head = 0
        return dropped

    def bounds(self, cutoff: float, end: float) -> tuple[int, int]:
        """Rows with ``cutoff < time <= end``, as a slice."""
        lo = bisect_right(self.time, cutoff, self.head)
        return lo, bisect_right(self.time, end, lo)


class CallWindows:
    """Recent calls per trunk, kept for ``retention``, answering window questions.

    Args:
        retention: how long calls are kept; at least the largest window any rule or
            export asks for.
    """

    def __init__(self, retention: timedelta) -> None:
        _check_duration(retention, "retention")
        self._retention = retention
        self._trunks: dict[str, _TrunkStore] = {}
        # Append-only, so a code once given keeps its meaning; "failed" is code 0.
        self._status_names: list[str] = [FAILED_STATUS]
        self._status_codes: dict[str, int] = {FAILED_STATUS: 0}
        self._last_prune: datetime | None = None

    @property
    def retention(self) -> timedelta:
        """How long calls are kept before :meth:`prune` drops them."""
        return self._retention

    def set_retention(self, retention: timedelta, *, now: datetime | None = None) -> int:
        """Change the retention (config reload); a shorter one prunes at once.

        Pruning happens relative to ``now`` when given, else to the last :meth:`prune`
        time; before any prune there is nothing to measure from, so the next prune does
        it. Returns how many calls were dropped.
        """
        _check_duration(retention, "retention")
        self._retention = retention
        if now is None:
            now = self._last_prune
        return 0 if now is None else self.prune(now)

    @property
    def total_calls(self) -> int:
        """Calls held, over all trunks."""
        return sum(len(store) for store in self._trunks.values())

    def __len__(self) -> int:
        return self.total_calls

    def trunks(self) -> list[str]:
        """Ids of the trunks holding calls, sorted."""
        return sorted(self._trunks)

    def _status_code(self, status: str) -> int:
        code = self._status_codes.get(status)
        if code is None:
            if len(self._status_names) >= _MAX_STATUSES - 1:
                # Full: every further status shares the last code, "other".
                status = _OVERFLOW_STATUS
                code = self._status_codes.get(status)
            if code is None:
                code = len(self._status_names)
                self._status_names.append(status)
                self._status_codes[status] = code
        return code

    def add(self, call: Call) -> None:
        """Keep one call, placed at its ``finished_at``.

        Raises:
            ValueError: a timestamp of the call is naive.
        """
        store = self._trunks.get(call.trunk_id)
        if store is None:
            store = self._trunks[call.trunk_id] = _TrunkStore()
        store.add(
            _epoch(call.finished_at, "call finish time"),
            _epoch(call.start_time, "call start time"),
            _ms(call.ai_latency_ms),
            _ms(call.carrier_lag_ms),
            _ms(call.gateway_processing_ms),
            self._status_code(call.status),
            call.id,
            _direction_code(call.direction),
        )

    def add_many(self, calls: Iterable[Call]) -> int:
        """Keep every call of ``calls``; return how many were added."""
        added = 0
        for call in calls:
            self.add(call)
            added += 1
        return added

    def prune(self, now: datetime) -> int:
        """Drop calls that finished at or before ``now - retention``; return how many."""
        cutoff = _epoch(now - self._retention, "now")
        self._last_prune = now
        dropped = 0
        for trunk_id, store in list(self._trunks.items()):
            dropped += store.prune(cutoff)
            if not len(store):
                del self._trunks[trunk_id]
        return dropped

    def _bounds(self, now: datetime, window: timedelta) -> tuple[float, float]:
        _check_duration(window, "window")
        if window > self._retention:
            raise ValueError(
                f"window {window} is longer than the retention {self._retention}: calls older "
                "than the retention are pruned, so the answer would be short; raise the retention"
            )
        return _epoch(now - window, "now"), _epoch(now, "now")

    def view(self, trunk_id: str | None, now: datetime, window: timedelta) -> WindowView:
        """A snapshot of one trunk's calls (or the account's, for None) in ``(now - window, now]``.

        Raises:
            ValueError: ``now`` is naive, or ``window`` is not positive or exceeds the retention.
        """
        cutoff, end = self._bounds(now, window)
        return self._view(trunk_id, now, window, cutoff, end)

    def views(self, now: datetime, window: timedelta) -> dict[str, WindowView]:
        """One view per trunk holding calls, for exports that walk every trunk."""
        cutoff, end = self._bounds(now, window)
        return {
            trunk_id: self._view(trunk_id, now, window, cutoff, end) for trunk_id in self.trunks()
        }

    def _view(
        self, trunk_id: str | None, now: datetime, window: timedelta, cutoff: float, end: float
    ) -> WindowView:
        columns = _Columns()
        segments: list[tuple[int, str]] = []
        if trunk_id is None:
            groups = sorted(self._trunks.items())
        else:
            store = self._trunks.get(trunk_id)
            groups = [] if store is None else [(trunk_id, store)]
        for group_id, store in groups:
            lo, hi = store.bounds(cutoff, end)
            if lo < hi:
                segments.append((len(columns.ids), group_id))
                columns.extend_from(store, lo, hi)
        return WindowView(trunk_id, now, window, columns, segments, tuple(self._status_names))


class WindowView:
    """The calls of one group in one window, copied once, with statistics cached.

    Build it with :meth:`CallWindows.view`. Each metric's samples are filtered and sorted
    on first use and kept, so many rules and exports over the same group and window pay
    for the sort once.
    """

    def __init__(
        self,
        trunk_id: str | None,
        now: datetime,
        window: timedelta,
        columns: _Columns,
        segments: list[tuple[int, str]],
        status_names: tuple[str, ...],
    ) -> None:
        #: The trunk, or None for the whole account.
        self.trunk_id = trunk_id
        #: The end of the window (inclusive).
        self.now = now
        #: The length of the window; its start, ``now - window``, is exclusive.
        self.window = window
        #: Calls in the window.
        self.count = len(columns.ids)
        self._cols = columns
        self._segment_rows = [row for row, _ in segments]
        self._segment_trunks = [trunk for _, trunk in segments]
        self._status_names = status_names
        self._samples: dict[str, list[float]] = {}
        self._sums: dict[str, float] = {}

    def __repr__(self) -> str:
        return (
            f"WindowView(trunk_id={self.trunk_id!r}, now={self.now.isoformat()}, "
            f"window={self.window}, count={self.count})"
        )

    def count_by_status(self) -> dict[str, int]:
        """Calls per status, only statuses present, sorted by name."""
        codes = self._cols.status
        if len(self._status_names) <= 16:
            counts = {name: codes.count(code) for code, name in enumerate(self._status_names)}
        else:
            counter = Counter(codes)
            counts = {name: counter[code] for code, name in enumerate(self._status_names)}
        return {name: counts[name] for name in sorted(counts) if counts[name]}

    def failed_count(self) -> int:
        """Calls whose status is ``failed``."""
        return self._cols.status.count(0)

    def failed_ratio(self) -> float | None:
        """Share of calls that failed, 0..1; None when the window holds no calls."""
        if not self.count:
            return None
        return self.failed_count() / self.count

    def _sorted(self, metric: str) -> list[float]:
        """The metric's non-missing values, ascending (cached)."""
        values = self._samples.get(metric)
        if values is None:
            _check_metric(metric)
            column = self._cols.metric(metric)
            total = math.fsum(column)
            if math.isnan(total):  # only NaN (missing) makes the sum NaN: values are finite
                values = sorted([v for v in column if not math.isnan(v)])
                total = math.fsum(values)
            else:
                values = sorted(column)
            self._samples[metric] = values
            self._sums[metric] = total
        return values

    def samples(self, metric: str) -> int:
        """How many calls in the window have this metric (the others left it out)."""
        return len(self._sorted(metric))

    def stat(self, metric: str, stat: str) -> float | None:
        """A statistic (``avg``, ``min``, ``max``, ``pNN``) of a metric; None without samples.

        Raises:
            ValueError: unknown metric or statistic name.
        """
        kind, percent = parse_stat(stat)
        values = self._sorted(metric)
        if not values:
            return None
        if kind == "avg":
            return self._sums[metric] / len(values)
        if kind == "min":
            return values[0]
        if percent is not None:
            return percentile(values, percent)
        return values[-1]

    def _call(self, row: int) -> Call:
        """Rebuild the call at ``row``; the duration is not kept, the end time is."""
        cols = self._cols
        segment = bisect_right(self._segment_rows, row) - 1
        return Call(
            id=cols.ids[row],
            trunk_id=self._segment_trunks[segment],
            status=self._status_names[cols.status[row]],
            start_time=datetime.fromtimestamp(cols.start[row], UTC),
            end_time=datetime.fromtimestamp(cols.time[row], UTC),
            ai_latency_ms=_optional(cols.ai[row]),
            carrier_lag_ms=_optional(cols.carrier[row]),
            gateway_processing_ms=_optional(cols.gateway[row]),
            direction=_direction_name(cols.direction[row]),
        )

    def worst_calls(self, metric: str, n: int = 5, *, highest: bool = True) -> list[Call]:
        """The ``n`` calls with the highest values of ``metric`` (lowest with ``highest=False``).

        Calls missing the metric are skipped. Equal values put the newer call first.
        """
        _check_metric(metric)
        _check_n(n)
        column = self._cols.metric(metric)
        time = self._cols.time
        rows = (row for row, value in enumerate(column) if not math.isnan(value))
        if highest:
            chosen = heapq.nlargest(n, rows, key=lambda row: (column[row], time[row], row))
        else:
            chosen = heapq.nsmallest(n, rows, key=lambda row: (column[row], -time[row], -row))
        return [self._call(row) for row in chosen]

    def failed_calls(self, n: int = 5) -> list[Call]:
        """The ``n`` newest failed calls, newest first."""
        _check_n(n)
        status, time = self._cols.status, self._cols.time
        rows = (row for row, code in enumerate(status) if code == 0)
        chosen = heapq.nlargest(n, rows, key=lambda row: (time[row], row))
        return [self._call(row) for row in chosen]

    def select(
        self, statuses: frozenset[str] | None = None, direction: str | None = None
    ) -> WindowView:
        """A view of only the calls with one of ``statuses`` and of ``direction``.

        None keeps every status (every direction). A call whose direction the API did
        not give matches no direction filter.
        """
        if statuses is None and direction is None:
            return self
        cols = self._cols
        codes = None
        if statuses is not None:
            codes = {c for c, name in enumerate(self._status_names) if name in statuses}
        want = None if direction is None else _direction_code(direction)
        out = _Columns()
        segments: list[tuple[int, str]] = []
        for row in range(self.count):
            if codes is not None and cols.status[row] not in codes:
                continue
            if want is not None and cols.direction[row] != want:
                continue
            trunk = self._segment_trunks[bisect_right(self._segment_rows, row) - 1]
            if not segments or segments[-1][1] != trunk:
                segments.append((len(out.ids), trunk))
            out.append_row(cols, row)
        return WindowView(self.trunk_id, self.now, self.window, out, segments, self._status_names)

    def component_means(self) -> tuple[int, dict[str, float]]:
        """Mean of each latency component over the calls that have all three.

        Only complete calls count, so the three means add up to the mean total and a
        change in the total splits exactly into the components' changes. Returns the
        number of those calls and the means (empty when there are none).
        """
        cols = self._cols
        rows = [row for row, total in enumerate(cols.total) if not math.isnan(total)]
        if not rows:
            return 0, {}
        columns = {
            "ai_latency_ms": cols.ai,
            "carrier_lag_ms": cols.carrier,
            "gateway_processing_ms": cols.gateway,
        }
        means = {
            name: math.fsum(column[row] for row in rows) / len(rows)
            for name, column in columns.items()
        }
        return len(rows), means


def _direction_code(direction: str | None) -> int:
    return DIRECTIONS.index(direction) + 1 if direction in DIRECTIONS else 0


def _direction_name(code: int) -> str | None:
    return DIRECTIONS[code - 1] if 0 < code <= len(DIRECTIONS) else None


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else value


def _check_n(n: int) -> None:
    if n < 0:
        raise ValueError(f"n must be zero or more, got {n}")


class ViewCache:
    """Views for one evaluation at one ``now``, built once per (group, window).

    Rules and exports that ask about the same group and window share one view and so one
    slice and one sort per metric. Make a new cache for each evaluation.
    """

    def __init__(self, windows: CallWindows, now: datetime) -> None:
        self.windows = windows
        self.now = now
        self._views: dict[tuple[str | None, timedelta], WindowView] = {}
        self._selected: dict[
            tuple[str | None, timedelta, frozenset[str] | None, str | None], WindowView
        ] = {}

    def get(
        self,
        trunk_id: str | None,
        window: timedelta,
        statuses: frozenset[str] | None = None,
        direction: str | None = None,
    ) -> WindowView:
        """The view of ``trunk_id`` (None: the account) over ``window`` ending at ``now``,
        keeping only ``statuses`` and ``direction`` when given."""
        key = (trunk_id, window)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = self.windows.view(trunk_id, self.now, window)
        if statuses is None and direction is None:
            return view
        chosen = (trunk_id, window, statuses, direction)
        selected = self._selected.get(chosen)
        if selected is None:
            selected = self._selected[chosen] = view.select(statuses, direction)
        return selected
