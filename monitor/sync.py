"""Incremental call sync: API → de-duplicated calls → state DB + windows.

The API lists a call once it has ended, sorted by when it started. So a poll has to
reach back as far as the longest call that may have ended since the last poll, and
no further: that is the *learned overlap*. It is the longest duration of the calls
ingested over the last :data:`LEARN_PERIOD`, account-wide, plus a margin of at least
``poll.calls_every``, and never more than ``poll.overlap``, which is the ceiling.
Account-wide because one walk of ``/calls`` serves every trunk: a per-trunk overlap
could not make that walk any shorter. Calls already seen (by id) are dropped, so
nothing counts twice; an idle account costs one request.

A call longer than any seen lies outside the learned overlap. Every
``poll.sweep_every`` a poll *sweeps* the whole ``poll.overlap``; a call only a sweep
finds is a *late call*: ingested, counted, and its duration widens the learned overlap
at once. Before the first walk nothing is learned, so the first poll sweeps.

A call listed while still in progress (an in-progress status, or neither end time nor
duration) is not final: it is not ingested and its id is not marked seen, and the next
polls reach back at least to the start of the oldest such call until it ends.

Crash safety: each page's new calls are committed to the state DB before they reach
the windows, and the watermark moves only when a walk completes. A restart reloads
the stored calls into the windows, the seen set and the learned overlap, then
re-reads from the old watermark: no gap, and stored calls are recognised, not counted
again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor.clock import Clock
from monitor.models import Call
from monitor.store import StateStore
from monitor.telepath.client import MAX_CLOCK_SKEW, TelepathClient
from monitor.windows import CallWindows

log = logging.getLogger(__name__)

#: Seen ids are kept this much longer than the re-read range needs, for clock skew.
SEEN_MARGIN = timedelta(minutes=5)
#: Durations of the calls ingested over this period make the learned overlap: long
#: enough to remember the long calls of a day's busy hour, short enough that one odd
#: call does not cost wide reads for the rest of the day.
LEARN_PERIOD = timedelta(hours=1)
#: The learned overlap's margin when the caller gives none (``poll.calls_every``).
DEFAULT_MARGIN = timedelta(seconds=30)
#: How often a poll sweeps the full ``poll.overlap`` when the caller does not say.
DEFAULT_SWEEP_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one poll did."""

    pages: int
    received: int
    new: int
    duplicates: int
    skipped: int
    since: datetime
    watermark: datetime | None
    #: Start times still to read after a walk was cut short by ``poll.max_pages``.
    gap: tuple[datetime, datetime] | None = None
    #: True when this poll walked the whole ``poll.overlap``.
    sweep: bool = False
    #: Calls found by the sweep that the learned overlap would have missed.
    late: int = 0
    #: Calls listed as still in progress after this poll.
    in_progress: int = 0


@dataclass
class _Walk:
    """One page walk's tally."""

    pages: int = 0
    received: int = 0
    new: int = 0
    duplicates: int = 0
    skipped: int = 0
    newest: datetime | None = None
    oldest: datetime | None = None
    newest_first: bool = True
    cut: bool = False
    fresh: list[Call] = field(default_factory=list)
    open: dict[str, datetime] = field(default_factory=dict)

    def add(self, other: _Walk) -> None:
        """Count a second walk of the same poll (the gap's) in this tally."""
        self.pages += other.pages
        self.received += other.received
        self.new += other.new
        self.duplicates += other.duplicates
        self.skipped += other.skipped
        self.fresh += other.fresh


class CallSync:
    """Keeps the windows and the state DB up to date with the API's calls.

    Args:
        client: the API client.
        store: the state DB (watermark and recent calls).
        windows: the sliding windows rules and exports read; guarded by ``lock``.
        clock: time.
        backfill: how far back the first poll reads.
        overlap: the most of the already-synced range a poll re-reads; a sweep reads
            all of it.
        margin: added to the longest recent call duration to make the learned overlap;
            at least the poll interval.
        sweep_every: how often a poll reads the whole ``overlap``.
        lock: held while windows change; readers (scrapes, evaluations) hold it too.
        on_new_calls: told about each batch of newly ingested calls (metrics).
    """

    def __init__(
        self,
        client: TelepathClient,
        store: StateStore,
        windows: CallWindows,
        clock: Clock,
        *,
        backfill: timedelta,
        overlap: timedelta,
        margin: timedelta = DEFAULT_MARGIN,
        sweep_every: timedelta = DEFAULT_SWEEP_EVERY,
        lock: threading.RLock | None = None,
        on_new_calls: Callable[[Sequence[Call]], None] | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.windows = windows
        self.clock = clock
        self.backfill = backfill
        self.overlap = overlap
        self.lock = lock or threading.RLock()
        self._on_new_calls = on_new_calls
        self.margin = margin
        self.sweep_every = sweep_every
        self._seen: dict[str, float] = {}  # call id → start time (epoch seconds)
        self.watermark: datetime | None = None
        # Longest duration (seconds) of the calls that ended in each minute (epoch // 60).
        self._durations: dict[int, float] = {}
        self._last_sweep: datetime | None = None
        self._open: dict[str, datetime] = {}  # call id → start, listed in progress

    def restore(self) -> int:
        """Reload watermark and stored calls after a restart; returns the calls restored."""
        self.watermark = self.store.load_watermark()
        calls = self.store.load_calls()
        now = self.clock.now()
        if self.watermark is not None and self.watermark > now + MAX_CLOCK_SKEW:
            # Saved by an older version from a record dated in the future: every poll
            # would ask for calls after it and find none.
            log.warning(
                "ignored a sync position in the future (%s); reading from the backfill",
                self.watermark.isoformat(),
            )
            self.watermark = None
        with self.lock:
            for call in calls:
                self._seen[call.id] = call.start_time.timestamp()
            self.windows.add_many(calls)
            self.windows.prune(now)
        self._learn(calls, now)
        if calls or self.watermark:
            log.info(
                "restored %d calls from the state DB; watermark %s",
                len(calls),
                self.watermark.isoformat() if self.watermark else "none",
            )
        return len(calls)

    def learned_overlap(self, now: datetime) -> timedelta | None:
        """The longest recent call plus the margin, capped by ``overlap``; None before
        anything is learned (no walk yet): then a poll reads the whole ``overlap``."""
        if self._last_sweep is None:
            return None
        horizon = (now - LEARN_PERIOD).timestamp() // 60
        longest = max((d for m, d in self._durations.items() if m >= horizon), default=0.0)
        return min(self.overlap, timedelta(seconds=longest) + self.margin)

    def since(self, now: datetime, *, sweep: bool = False) -> datetime:
        """Where the next poll starts reading: the learned overlap before the watermark,
        the whole ``overlap`` for a sweep, and never past the oldest call in progress."""
        earliest = now - self.backfill
        if self.watermark is None:
            return earliest
        floor = max(self.watermark - self.overlap, earliest)
        reach = None if sweep else self.learned_overlap(now)
        if reach is None:
            return floor
        start = self.watermark - reach
        if self._open:
            start = min(start, *self._open.values())
        return max(start, floor)

    def poll(self) -> SyncResult:
        """Read what is new, then what a cut-short walk left; raises the client's ApiError
        when the API cannot be read.

        A poll walks from ``since`` to now, all of it: a call listed only once it has
        ended, but sorted by start, may sit anywhere in the range, so stopping at a page
        with nothing new could miss it. The learned overlap keeps that range short; a
        sweep (every ``sweep_every``) walks the whole ``overlap`` and counts as *late*
        the calls the short range would have missed.

        A newest-first walk that hits ``poll.max_pages`` (a backfill of a busy account)
        has read the newest calls but not the oldest of its range. The range it missed
        is kept as the *gap* (in the state DB, so it survives a restart) and read,
        newest first again, by the following polls until it is closed or falls out of
        the backfill range. The watermark still moves: everything newer than the gap
        was read.
        """
        now = self.clock.now()
        sweep = self._last_sweep is None or now - self._last_sweep >= self.sweep_every
        fast_since = self.since(now)
        since = self.since(now, sweep=True) if sweep else fast_since
        previous = self.watermark
        walk = self._walk(since, None)
        if walk.newest is not None and (previous is None or walk.newest > previous):
            self.store.save_watermark(walk.newest)
            self.watermark = walk.newest
        self._track_open(since, walk)
        late = self._late(walk, fast_since) if sweep and self._last_sweep is not None else []
        if sweep:
            self._last_sweep = now
        if walk.cut and walk.newest_first and walk.oldest is not None:
            self._widen_gap(since, walk.oldest)
        elif not walk.cut:
            self._fill_gap(now, walk)
        self._learn(walk.fresh, now)
        if late:
            longest = max(_duration(c) for c in late)
            log.warning(
                "a sweep found %d call(s) the last polls could not see (the longest lasted "
                "%.0fs); polls now reach back %.0fs",
                len(late), longest, (self.learned_overlap(now) or self.overlap).total_seconds(),
            )  # fmt: skip
        self._prune(now)
        return SyncResult(
            walk.pages, walk.received, walk.new, walk.duplicates, walk.skipped, since,
            self.watermark, self.gap, sweep, len(late), len(self._open),
        )  # fmt: skip

    def _walk(self, since: datetime, until: datetime | None) -> _Walk:
        walk = _Walk()
        pages_iter = self.client.iter_call_pages(since=since, until=until)
        try:
            for page in pages_iter:
                walk.pages += 1
                walk.received += len(page.calls)
                walk.skipped += len(page.skipped)
                walk.cut = page.cut_short
                fresh = self._fresh(page.calls)
                walk.duplicates += len(page.calls) - len(fresh)
                if fresh:
                    self._ingest(fresh)
                    walk.new += len(fresh)
                    walk.fresh += fresh
                for call in page.open:
                    if call.id not in self._seen:
                        walk.open[call.id] = call.start_time
                if page.calls:
                    starts = [c.start_time for c in page.calls]
                    walk.newest = max(starts + ([walk.newest] if walk.newest else []))
                    walk.oldest = min(starts + ([walk.oldest] if walk.oldest else []))
                    walk.newest_first = starts[0] >= starts[-1]
        finally:
            pages_iter.close()
        return walk

    def _track_open(self, since: datetime, walk: _Walk) -> None:
        """Calls in progress: those this walk listed, plus earlier ones it did not reach."""
        reached = walk.oldest if walk.cut and walk.oldest is not None else since
        kept = {i: start for i, start in self._open.items() if start < reached}
        self._open = {i: start for i, start in {**kept, **walk.open}.items() if i not in self._seen}

    def _late(self, walk: _Walk, fast_since: datetime) -> list[Call]:
        """The calls this sweep ingested that the learned overlap would have missed."""
        return [c for c in walk.fresh if c.start_time < fast_since]

    def _learn(self, calls: Sequence[Call], now: datetime) -> None:
        for call in calls:
            minute = int(call.finished_at.timestamp() // 60)
            self._durations[minute] = max(self._durations.get(minute, 0.0), _duration(call))
        horizon = (now - LEARN_PERIOD).timestamp() // 60
        for minute in [m for m in self._durations if m < horizon]:
            del self._durations[minute]

    @property
    def gap(self) -> tuple[datetime, datetime] | None:
        start, end = self.store.get_meta("gap_from"), self.store.get_meta("gap_until")
        if not start or not end:
            return None
        return (_from_epoch(start), _from_epoch(end))

    def _save_gap(self, gap: tuple[datetime, datetime] | None) -> None:
        start, end = (
            ("", "") if gap is None else (repr(gap[0].timestamp()), repr(gap[1].timestamp()))
        )
        self.store.set_metas({"gap_from": start, "gap_until": end})

    def _widen_gap(self, since: datetime, oldest_read: datetime) -> None:
        gap = self.gap
        start = since if gap is None else min(gap[0], since)
        end = oldest_read if gap is None else max(gap[1], oldest_read)
        log.warning(
            "a poll stopped at poll.max_pages (%d pages); calls started %s to %s are read "
            "by the next polls",
            self.client.max_pages, start.isoformat(), end.isoformat(),
        )  # fmt: skip
        self._save_gap((start, end))

    def _fill_gap(self, now: datetime, tally: _Walk) -> None:
        gap = self.gap
        if gap is None:
            return
        start = max(gap[0], now - self.backfill)
        if start >= gap[1]:
            self._save_gap(None)
            return
        walk = self._walk(start, gap[1])
        tally.add(walk)
        if walk.cut and walk.oldest is not None and walk.newest is not None:
            # Still cut short: what is left is below what a newest-first walk read, or
            # above what an oldest-first one did.
            rest = (start, walk.oldest) if walk.newest_first else (walk.newest, gap[1])
            self._save_gap(rest if rest[0] < rest[1] else None)
        else:
            log.info("the calls missed by an earlier cut-short poll are now read")
            self._save_gap(None)

    def _fresh(self, calls: Sequence[Call]) -> list[Call]:
        """Calls not seen before, each once (a page may repeat a record too)."""
        fresh: dict[str, Call] = {}
        for call in calls:
            if call.id not in self._seen and call.id not in fresh:
                fresh[call.id] = call
        return list(fresh.values())

    def _ingest(self, calls: list[Call]) -> None:
        # Durable first: a crash after this line re-loads them; before it, re-reads them.
        self.store.add_calls(calls)
        with self.lock:
            for call in calls:
                self._seen[call.id] = call.start_time.timestamp()
            self.windows.add_many(calls)
        if self._on_new_calls is not None:
            self._on_new_calls(calls)

    def _prune(self, now: datetime) -> None:
        """Drop what no window and no re-read can need any more."""
        # A sweep re-reads the whole overlap: ids must stay known that far back.
        full = self.since(now, sweep=True)
        reread_from = full - SEEN_MARGIN
        expired = [i for i, start in self._open.items() if start < full]
        if expired:
            log.warning(
                "gave up waiting for %d call(s) listed in progress for longer than "
                "poll.overlap", len(expired),
            )  # fmt: skip
            for call_id in expired:
                del self._open[call_id]
        gap = self.gap
        if gap is not None:  # still to be read: its calls seen so far must stay known
            reread_from = min(reread_from, gap[0] - SEEN_MARGIN)
        cutoff = reread_from.timestamp()
        with self.lock:
            self.windows.prune(now)
            stale = [call_id for call_id, start in self._seen.items() if start < cutoff]
            for call_id in stale:
                del self._seen[call_id]
        self.store.prune_calls(
            started_before=reread_from, finished_before=now - self.windows.retention
        )

    @property
    def seen_count(self) -> int:
        return len(self._seen)


def _duration(call: Call) -> float:
    """How long a final call lasted, in seconds (it has an end time or a duration)."""
    return (call.finished_at - call.start_time).total_seconds()


def _from_epoch(text: str) -> datetime:
    return datetime.fromtimestamp(float(text), UTC)


@dataclass
class SyncHealth:
    """How polling of one endpoint is going; read by /readyz and the sync-failing alert."""

    last_attempt: datetime | None = None
    last_success: datetime | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    key_refused: bool = False

    def record_success(self, now: datetime) -> None:
        self.last_attempt = self.last_success = now
        self.failing_since = None
        self.consecutive_failures = 0
        self.last_error = None
        self.key_refused = False

    def record_failure(self, now: datetime, error: str, *, key_refused: bool = False) -> None:
        self.last_attempt = now
        if self.failing_since is None:
            self.failing_since = now
        self.consecutive_failures += 1
        self.last_error = error
        self.key_refused = key_refused

    def ready(self, now: datetime, max_age: timedelta) -> tuple[bool, str]:
        """Ready when the key was accepted and the last success is recent."""
        if self.key_refused:
            return False, "the Telepath API refused the key"
        if self.last_success is None:
            return False, "no successful sync yet"
        age = now - self.last_success
        if age > max_age:
            return False, f"last successful sync {int(age.total_seconds())}s ago"
        return True, "ok"
