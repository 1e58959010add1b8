"""``telepath-monitor report`` (its flags are in ``monitor.cli``): figures of a past day,
week or range.

From the state DB's rollups when the daemon read every call of the range; otherwise
the calls are fetched from the API like ``backtest`` does (with its progress line) and
rolled up in memory by the same code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from monitor.errors import SettingsError

if TYPE_CHECKING:
    from monitor.reports.figures import ReportFigures
    from monitor.settings import Settings

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run_report"]

HELP = "figures of a past day, week or range: calls, shares, percentiles, trunks, alerts"
DESCRIPTION = (
    "Report a past range: Telepath's daily-report figures, p50/p95/p99 per latency "
    "component and trunk, the busiest and worst trunks, alerts fired, and a comparison "
    "with the previous period. Read from the daemon's history (TELEPATH_STATE_DB) when it "
    "covers the range, else fetched from the API. Days and weeks are UTC; weeks start on "
    "Monday. Default: yesterday."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's own flags (the CLI adds the settings flags)."""
    # As backtest: "-6h" is a value, not an option.
    parser._negative_number_matcher = re.compile(r"^-(\d+(\.\d+)?|(\d+[smhdw])+)$")
    parser.add_argument("--day", metavar="YYYY-MM-DD", help="one UTC day")
    parser.add_argument(
        "--week", nargs="?", const="", metavar="YYYY-MM-DD",
        help="the week (Monday to Monday) holding this date; alone: the last complete week",
    )  # fmt: skip
    parser.add_argument("--from", dest="start", metavar="TIME", help="start (as backtest)")
    parser.add_argument("--to", dest="end", metavar="TIME", help="end (default: now)")
    parser.add_argument(
        "--trunk", action="append", default=[], metavar="ID", help="only this trunk (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML report")


def run_report(args: argparse.Namespace, settings: Settings) -> int:
    """The ``report`` command, after the CLI parsed its flags and loaded the settings."""
    from monitor.backtest import parse_when
    from monitor.history.store import HistoryStore
    from monitor.reports.figures import to_json
    from monitor.reports.render import render_html, render_text
    from monitor.reports.source import describe_missing, from_history, period_for
    from monitor.store import StateStore

    now = datetime.now(UTC)
    start, end = period_for(
        day=args.day,
        week=args.week,
        start=None if args.start is None else parse_when(args.start, now),
        end=None if args.end is None else parse_when(args.end, now),
        now=now,
    )
    figures = None
    reason = f"no state DB at {settings.state_db}"
    if Path(settings.state_db).exists():
        store = StateStore(settings.state_db)
        try:
            history = HistoryStore(store)
            gaps = history.missing(start, end)
            if not gaps:
                figures = from_history(history, start, end, args.trunk)
            else:
                reason = f"the daemon's history lacks {describe_missing(gaps)}"
        finally:
            store.close()
    if figures is None:
        if settings.api_key is None or not settings.api_key.get_secret_value().strip():
            raise SettingsError(
                f"{reason}, and TELEPATH_API_KEY is not set to fetch the calls from the API"
            )
        _say(f"{reason}; fetching the calls from the API", sys.stderr)
        figures = _fetched(settings, start, end, args.trunk)
        if figures is None:
            return 130
    from monitor.slo.report import insert_html, slo_report, text_lines

    slos, slo_note = slo_report(settings.config, Path(settings.state_db), end, args.trunk or ())
    if args.html is not None:
        partial = args.html.with_name(args.html.name + ".partial")
        document = insert_html(render_html(figures), slos, slo_note)
        partial.write_text(document, encoding="utf-8")
        os.replace(partial, args.html)
    if args.json:
        _say(json.dumps({**to_json(figures), "slos": [r.to_dict() for r in slos]}, indent=2))
    else:
        for line in render_text(figures) + text_lines(slos, slo_note):
            _say(line)
        if args.html is not None:
            _say(f"\nreport written to {args.html}")
    return 0


def _fetched(
    settings: Settings, start: datetime, end: datetime, trunks: list[str]
) -> ReportFigures | None:
    """Figures from calls fetched like ``backtest``; None when interrupted (Ctrl-C)."""
    from monitor.cli_support import FetchInterrupted, fetch_calls
    from monitor.reports.source import from_calls, previous_of

    try:
        calls = fetch_calls(settings, previous_of(start, end)[0], end, trunks)
    except FetchInterrupted as stop:
        _say(
            f"telepath-monitor: report interrupted while fetching calls ({stop}); "
            "nothing was written",
            sys.stderr,
        )
        return None
    return from_calls(calls, start, end, trunks)


def _say(text: str, stream: TextIO | None = None) -> None:
    """A line for people (this module is part of the CLI)."""
    out = stream or sys.stdout
    out.write(text + "\n")
    out.flush()
