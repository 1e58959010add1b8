"""Backtest phase 1: read every call of a past range through the normal client.

The range comes from ``--from``/``--to`` (:func:`parse_when`, :func:`check_range`), widened
back by :func:`fetch_start` so the first replayed windows are full. :func:`fetch_calls` walks
the pages with :class:`~monitor.telepath.client.TelepathClient` (rate limit, retries, both
date spellings) and reports :class:`FetchProgress` after each one, which
:func:`format_progress` turns into a line for stderr.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from monitor.baselines import baseline_reach
from monitor.clock import Clock
from monitor.config import Config
from monitor.errors import SettingsError
from monitor.models import Call
from monitor.telepath.client import TelepathClient

__all__ = [
    "FetchProgress",
    "check_range",
    "estimate_left",
    "fetch_calls",
    "fetch_start",
    "format_progress",
    "parse_when",
]

_RELATIVE_RE: Final = re.compile(r"(?:now)?\s*-\s*((?:\d+[smhdw])+)")
_PART_RE: Final = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


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
    overlap, which the live sync does not allow for either. So we read no further,
    except for the baselines of ``compare:`` rules, which reach back a day, a week...
    """
    windows = [r.window for r in config.rules if r.source == "calls"] or [timedelta(0)]
    windows += [a.long for s in config.slos for a in s.alerts]  # an SLO alert's long window
    reach = min(config.poll.backfill, max(windows) + config.poll.overlap)
    # A compare rule's baseline is read from the fetched calls: fetch its range too.
    reach = max([reach, *(baseline_reach(r) for r in config.rules)])
    return start - reach


# --- fetch -------------------------------------------------------------------------------


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


def _iso(moment: datetime) -> str:
    """UTC, ISO 8601 with ``Z``: how the backtest writes every time (replay and results too)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
