"""Pieces every command shares: settings flags, settings with logging, plain tables."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from monitor.logs import configure_logging, escape_text, register_secret
from monitor.settings import Settings, load_settings

if TYPE_CHECKING:
    from monitor.backtest import FetchProgress
    from monitor.models import Call


def add_settings_flags(parser: argparse.ArgumentParser, *names: str) -> None:
    """Flags that override TELEPATH_* settings; the environment supplies the rest."""
    flags = {
        "api_url": ("--api-url", "Telepath API base URL (TELEPATH_API_URL)"),
        "config": ("--config", "rules and notifiers file (TELEPATH_CONFIG)"),
        "state_db": ("--state-db", "SQLite state file (TELEPATH_STATE_DB)"),
        "listen": ("--listen", "host:port of /metrics, /healthz, /readyz (TELEPATH_LISTEN)"),
        "log_level": ("--log-level", "DEBUG, INFO, WARNING or ERROR (TELEPATH_LOG_LEVEL)"),
        "log_format": ("--log-format", "text or json (TELEPATH_LOG_FORMAT)"),
    }
    for name in names:
        flag, help_text = flags[name]
        parser.add_argument(flag, dest=name, default=None, help=help_text)


def settings_from(args: argparse.Namespace, *names: str) -> Settings:
    """Settings from the environment with this command's flags on top; logging set up."""
    settings = load_settings({name: getattr(args, name, None) for name in names})
    if settings.api_key is not None:
        register_secret(settings.api_key.get_secret_value())
    configure_logging(settings.logging_level, settings.log_format)
    return settings


def print_table(
    rows: list[dict[str, object]], headers: list[str], empty: str = "(no rules)"
) -> None:
    cells = [[cell(row[h]) for h in headers] for row in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    print("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    if not rows:
        print(empty)


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape_text(str(value))  # trunk ids come from the API


class FetchInterrupted(Exception):
    """Ctrl-C while calls were fetched; says how far the fetch got."""

    def __init__(self, calls: int, pages: int) -> None:
        super().__init__(
            f"{calls:,} call{'s' * (calls != 1)} in {pages:,} page{'s' * (pages != 1)}"
        )


class ProgressLine:
    """A fetch's progress: redrawn in place on a terminal, else a line every 5 s."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.calls = self.pages = 0
        self._drawn = False
        self._last = -1e9

    def __call__(self, p: FetchProgress) -> None:
        from monitor.backtest import format_progress

        self.calls, self.pages = p.calls, p.pages
        moment = time.monotonic()
        if not p.done and moment - self._last < (0.1 if self.tty else 5.0):
            return
        self._last = moment
        line = format_progress(p)
        self._drawn = self.tty
        print(
            "\r\033[K" + line if self.tty else line, end="" if self.tty else "\n", file=self.stream
        )
        self.stream.flush()

    def end(self) -> None:
        if self._drawn:
            print(file=self.stream)
            self._drawn = False


def fetch_calls(
    settings: Settings, since: datetime, end: datetime, trunks: Sequence[str]
) -> list[Call]:
    """Every call from ``since`` to ``end`` read from the API, as ``backtest`` and ``report``
    read them, with the progress line on stderr.

    Raises:
        FetchInterrupted: on Ctrl-C, after the progress line is ended.
    """
    from monitor import backtest
    from monitor.clock import SystemClock
    from monitor.telepath.client import TelepathClient, build_http_client

    client = TelepathClient(
        build_http_client(settings.api_url, timeout=settings.api_timeout),
        api_key=settings.require_api_key(),
        clock=SystemClock(),
        requests_per_minute=settings.api_rate_limit,
        max_pages=10**9,  # a long range is many pages; repeated cursors still stop a loop
    )
    progress = ProgressLine(sys.stderr)
    try:
        calls = backtest.fetch_calls(
            client, since, end, clock=SystemClock(),
            requests_per_minute=settings.api_rate_limit, trunks=list(trunks), progress=progress,
        )  # fmt: skip
    except KeyboardInterrupt:
        progress.end()
        raise FetchInterrupted(progress.calls, progress.pages) from None
    finally:
        client.close()
    progress.end()
    return calls
