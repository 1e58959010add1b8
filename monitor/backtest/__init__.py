"""Backtest: replay the rules over a past range of calls and report what would have fired.

Two phases, so the replay cannot drift from ``run``:

1. **Fetch** (:mod:`~monitor.backtest.fetch`). :func:`fetch_calls` reads every call of the
   range through the normal :class:`~monitor.telepath.client.TelepathClient`, reporting
   :class:`FetchProgress` after each page.
2. **Replay** (:mod:`~monitor.backtest.replay`). :func:`replay` runs a real
   :class:`~monitor.daemon.Daemon` on a :class:`~monitor.clock.ManualClock` against
   :class:`ReplayApi`, a ``/calls`` served from the fetched calls, polling every
   ``poll.calls_every``: the same sync, windows, rules and alert engine as ``run``, with
   notifiers that never send.

:mod:`~monitor.backtest.results` then turns the recorded steps into the timeline, the
summary per rule and the series for charts (:func:`build_result`); it is pure, and the CLI
prints.

What is left out, on purpose: rules with ``source: overview`` (``/analytics/overview``
has no history to replay), and the daemon's own ``monitor-sync-failing`` alert (the
replayed API never fails). With ``--trunk``, account-wide rules are left out too, since
only the chosen trunks' calls are fetched.
"""

from __future__ import annotations

from monitor.backtest.fetch import (
    FetchProgress,
    check_range,
    estimate_left,
    fetch_calls,
    fetch_start,
    format_progress,
    parse_when,
)

# The function ``replay`` shadows its module here, as callers expect (``backtest.replay(...)``);
# reach the module's other names with ``from monitor.backtest.replay import ...``.
from monitor.backtest.replay import (
    ReplayApi,
    StepRecord,
    replay,
    replay_rules,
    replay_slos,
    shown_rules,
)
from monitor.backtest.results import (
    BacktestResult,
    Series,
    Span,
    build_result,
    format_timeline,
    to_json_text,
    union_length,
)

__all__ = [
    "BacktestResult",
    "FetchProgress",
    "ReplayApi",
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
    "replay",
    "replay_rules",
    "replay_slos",
    "shown_rules",
    "to_json_text",
    "union_length",
]
