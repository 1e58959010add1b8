"""Incremental call sync: API → de-duplicated calls → state DB + windows.

Each poll reads calls that started since ``watermark - overlap`` (the first poll
since ``now - backfill``). The overlap re-reads recent history because a call only
appears once it has ended, so a long call started before the watermark can arrive
after it; calls already seen (by id) are dropped, so nothing counts twice.

Paging stops early, newest-first, at the first page that brings nothing new and
reaches back to the watermark of the last completed walk: an idle poll costs one
request. When the API lists oldest-first (detected from the page's
start times) the new calls are at the end, so every page of the range is read.

Crash safety: each page's new calls are committed to the state DB before they reach
the windows, and the watermark moves only when a walk completes. A restart reloads
the stored calls into the windows and the seen set, then re-reads from the old
watermark: no gap, and stored calls are recognised, not counted again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.clock import Clock
from monitor.models import Call
from monitor.store import StateStore
from monitor.telepath.client import TelepathClient
from monitor.windows import CallWindows

log = logging.getLogger(__name__)

#: Seen ids are kept this much longer than the re-read range needs, for clock skew.
SEEN_MARGIN = timedelta(minutes=5)


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


class CallSync:
    """Keeps the windows and the state DB up to date with the API's calls.

    Args:
        client: the API client.
        store: the state DB (watermark and recent calls).
        windows: the sliding windows rules and exports read; guarded by ``lock``.
        clock: time.
        backfill: how far back the first poll reads.
        overlap: how much of the already-synced range each poll re-reads.
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
        self._seen: dict[str, float] = {}  # call id → start time (epoch seconds)
        self.watermark: datetime | None = None

    def restore(self) -> int:
        """Reload watermark and stored calls after a restart; returns the calls restored."""
        self.watermark = self.store.load_watermark()
        calls = self.store.load_calls()
        now = self.clock.now()
        with self.lock:
            for call in calls:
                self._seen[call.id] = call.start_time.timestamp()
            self.windows.add_many(calls)
            self.windows.prune(now)
        if calls or self.watermark:
            log.info(
                "restored %d calls from the state DB; watermark %s",
                len(calls),
                self.watermark.isoformat() if self.watermark else "none",
            )
        return len(calls)

    def since(self, now: datetime) -> datetime:
        """Where the next poll starts reading."""
        earliest = now - self.backfill
        if self.watermark is None:
            return earliest
        return max(self.watermark - self.overlap, earliest)

    def poll(self) -> SyncResult:
        """Read what is new, then what a cut-short walk left; raises the client's ApiError
        when the API cannot be read.

        Every poll walks the whole range from ``since`` (the watermark minus the overlap)
        to now. A call is listed only once it has ended but sorted by when it started, so
        one that ends now may sit many pages deep among calls already seen; stopping at
        the first page with nothing new would never reach it. The cost is about
        overlap x calls per minute / 100 requests per poll.

        A newest-first walk that hits ``poll.max_pages`` (a backfill of a busy account)
        has read the newest calls but not the oldest of its range. The range it missed
        is kept as the *gap* (in the state DB, so it survives a restart) and read,
        newest first again, by the following polls until it is closed or falls out of
        the backfill range. The watermark still moves: everything newer than the gap
        was read.
        """
        now = self.clock.now()
        since = self.since(now)
        previous = self.watermark
        walk = self._walk(since, None)
        if walk.newest is not None and (previous is None or walk.newest > previous):
            self.store.save_watermark(walk.newest)
            self.watermark = walk.newest
        if self._cut(walk) and walk.newest_first and walk.oldest is not None:
            self._widen_gap(since, walk.oldest)
        elif not self._cut(walk):
            self._fill_gap(now, walk)
        self._prune(now)
        return SyncResult(
            walk.pages, walk.received, walk.new, walk.duplicates, walk.skipped, since,
            self.watermark, self.gap,
        )  # fmt: skip

    def _walk(self, since: datetime, until: datetime | None) -> _Walk:
        walk = _Walk()
        pages_iter = self.client.iter_call_pages(since=since, until=until)
        try:
            for page in pages_iter:
                walk.pages += 1
                walk.received += len(page.calls)
                walk.skipped += len(page.skipped)
                fresh = self._fresh(page.calls)
                walk.duplicates += len(page.calls) - len(fresh)
                if fresh:
                    self._ingest(fresh)
                    walk.new += len(fresh)
                if page.calls:
                    starts = [c.start_time for c in page.calls]
                    walk.newest = max(starts + ([walk.newest] if walk.newest else []))
                    walk.oldest = min(starts + ([walk.oldest] if walk.oldest else []))
                    walk.newest_first = starts[0] >= starts[-1]
        finally:
            pages_iter.close()
        return walk

    def _cut(self, walk: _Walk) -> bool:
        return walk.pages >= self.client.max_pages

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
        self.store.set_meta("gap_from", start)
        self.store.set_meta("gap_until", end)

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
        tally.pages += walk.pages
        tally.received += walk.received
        tally.new += walk.new
        tally.duplicates += walk.duplicates
        if self._cut(walk) and walk.oldest is not None and walk.newest is not None:
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
        reread_from = self.since(now) - SEEN_MARGIN
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
