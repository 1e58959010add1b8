"""Command line: the only place that prints for people and picks exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from monitor import __version__
from monitor.cli_silence import add_silence
from monitor.cli_support import (
    FetchInterrupted,
    add_settings_flags,
    fetch_calls,
    print_table,
    settings_from,
)
from monitor.errors import MonitorError, SettingsError
from monitor.lifecycle import ConfigWatcher, load_config_file, wait_for_stop_signal
from monitor.logs import configure_logging
from monitor.settings import load_settings

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 1 failure, 2 usage or settings)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except MonitorError as exc:
        print(f"telepath-monitor: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telepath-monitor",
        description="Watch the latency of AI voice calls running through Telepath and alert "
        "before callers notice.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_run(commands)
    _add_check(commands)
    _add_once(commands)
    _add_test_notify(commands)
    add_silence(commands)
    _add_simulate(commands)
    _add_demo(commands)
    _add_backtest(commands)
    _add_report(commands)
    from monitor.slo.command import add_command as _add_slo

    _add_slo(commands)
    return parser


# --- run ---------------------------------------------------------------------------------

RUN_SETTINGS = ("api_url", "config", "state_db", "listen", "log_level", "log_format")


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        help="the daemon: poll, export metrics, evaluate rules, alert",
        description="Poll the Telepath API, keep latency windows, serve /metrics, /healthz "
        "and /readyz. Reloads the config on SIGHUP; stops cleanly on SIGTERM or SIGINT.",
    )
    add_settings_flags(parser, *RUN_SETTINGS)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from monitor.daemon import Daemon

    settings = settings_from(args, *RUN_SETTINGS)
    settings.require_api_key()
    config = load_config_file(settings.config)
    daemon = Daemon(settings, config)
    watcher = ConfigWatcher(settings.config, daemon)
    daemon.start()
    try:
        wait_for_stop_signal(watcher.tick)
    finally:
        clean = daemon.stop()
    if not clean:
        # A job thread is stuck past TELEPATH_SHUTDOWN_GRACE; a normal exit would wait
        # for it (the thread pool joins its workers at exit), so leave without it.
        logging.shutdown()
        os._exit(1)
    return 0


# --- test-notify -----------------------------------------------------------------------

TEST_NOTIFY_SETTINGS = ("config", "log_level", "log_format")


def _add_test_notify(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "test-notify",
        help="send a test alert through one notifier",
        description="Send a clearly marked test alert through the notifier NAME of the config "
        "and report whether it was delivered. Nothing is queued or retried.",
    )
    parser.add_argument("name", metavar="NAME", help="a notifier name from the config")
    add_settings_flags(parser, *TEST_NOTIFY_SETTINGS)
    parser.set_defaults(handler=_test_notify)


def _test_notify(args: argparse.Namespace) -> int:
    from monitor.clock import SystemClock
    from monitor.errors import DeliveryError
    from monitor.notify.sample import sample_notification
    from monitor.notify.senders import build_sender

    settings = settings_from(args, *TEST_NOTIFY_SETTINGS)
    config = load_config_file(settings.config)
    spec = config.notifiers.get(args.name)
    if spec is None:
        names = ", ".join(sorted(config.notifiers)) or "none are configured"
        print(f"telepath-monitor: no notifier {args.name!r} (notifiers: {names})", file=sys.stderr)
        return 2
    clock = SystemClock()
    sender = build_sender(args.name, spec, clock, None)
    try:
        sender.send(sample_notification(args.name, config.links, clock.now()))
    except DeliveryError as exc:
        hint = "a retry may succeed" if exc.transient else "a retry would fail the same way"
        print(f"test notification to {args.name} ({spec.type}) failed: {exc} ({hint})")
        return 1
    finally:
        sender.close()
    print(f"test notification delivered to {args.name} ({spec.type})")
    return 0


# --- once ------------------------------------------------------------------------------

ONCE_SETTINGS = ("api_url", "config", "state_db", "log_level", "log_format")


def _add_once(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "once",
        help="one sync and one evaluation, printed as a table",
        description="Sync once and evaluate every rule; print each rule and group with its "
        "value, thresholds and state. Works on a copy of the state DB, so a running "
        "daemon's state is never changed; nothing is sent unless --notify (silences, "
        "maintenance windows and inhibition apply).",
    )
    add_settings_flags(parser, *ONCE_SETTINGS)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--notify", action="store_true", help="send what the step would send")
    parser.set_defaults(handler=_once)


def _once(args: argparse.Namespace) -> int:
    import json

    from monitor.daemon import Daemon
    from monitor.once import ONCE_COLUMNS, once_report, state_db_copy

    settings = settings_from(args, *ONCE_SETTINGS)
    settings.require_api_key()
    config = load_config_file(settings.config)
    # A copy of the state DB: a running daemon's own state is never written.
    with state_db_copy(settings.state_db) as copy:
        daemon = Daemon(settings.model_copy(update={"state_db": copy}), config)
        try:
            now, rows = once_report(daemon, notify=args.notify)
        finally:
            daemon.stop()
    if args.json:
        print(json.dumps({"evaluated_at": now.isoformat(), "rules": rows}, indent=2))
    else:
        print_table(rows, ONCE_COLUMNS)
    return 0


# --- check -------------------------------------------------------------------------------


def _add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "check",
        help="validate a config file (and the web config) offline",
        description="Validate a config file without any network call. Exit 0 when valid; "
        "exit 1 with every problem as file:line:col: message. Secrets written in the "
        "file instead of ${VAR} are warned about.",
    )
    parser.add_argument("path", nargs="?", default=None, help="default: TELEPATH_CONFIG")
    parser.add_argument(
        "--web-config",
        default=None,
        help="also validate this web config (TLS, basic auth); default: TELEPATH_WEB_CONFIG",
    )
    parser.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from monitor.config import load_config
    from monitor.errors import ConfigError, WebConfigError
    from monitor.secretcheck import literal_secrets
    from monitor.webconfig import load_web_config

    settings = load_settings()
    path = args.path or settings.config
    web_path = Path(args.web_config) if args.web_config else settings.web_config
    failed = False
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        failed = True
    else:
        for warning in literal_secrets(Path(path), config):
            print(warning, file=sys.stderr)
        print(f"{path}: ok ({config.summary()})")
    if web_path is not None:
        try:
            web = load_web_config(web_path)
        except WebConfigError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"{web_path}: ok ({web.summary()})")
    return 1 if failed else 0


# --- simulate ----------------------------------------------------------------------------


def _add_simulate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from monitor.simulator import DEFAULT_API_KEY, SCENARIOS

    parser = commands.add_parser(
        "simulate",
        help="serve a Telepath-compatible API on loopback",
        description="Serve a Telepath-compatible API with chosen scenarios and faults, for "
        "demos, tests and benchmarks. Deterministic for a seed.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any)")
    parser.add_argument("--scenario", choices=SCENARIOS, default="steady")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--api-key",
        default=None,
        help=f"bearer key to accept (default TELEPATH_API_KEY, else {DEFAULT_API_KEY})",
    )
    parser.add_argument("--trunks", type=int, default=6)
    parser.add_argument("--calls-per-minute", type=float, default=60.0, help="account-wide")
    parser.add_argument("--history", type=_minutes, default=120, help="minutes of past calls")
    parser.add_argument(
        "--incident-at", type=_minutes, default=1, help="minutes after start the incident begins"
    )
    parser.add_argument("--incident-for", type=_minutes, default=5, help="incident minutes")
    parser.add_argument("--daily-peak", type=float, default=1.0, help="AI latency x, busy peak")
    parser.add_argument("--daily-peak-hour", type=float, default=19.0, help="UTC hour of the peak")
    parser.add_argument("--ai-slowdown", type=float, default=1.0, help="AI latency x, incident")
    parser.add_argument("--pagination", choices=("cursor", "offset"), default="cursor")
    parser.add_argument("--order", choices=("newest", "oldest"), default="newest")
    parser.add_argument("--latency-layout", choices=("flat", "nested"), default="flat")
    parser.add_argument(
        "--list-in-progress", action="store_true", help="list calls from their start"
    )
    parser.add_argument("--rate-limit", type=int, default=6000, help="requests per minute")
    parser.add_argument("--no-rate-limit", action="store_true", help="for benchmarks")
    parser.add_argument("--retry-after", action="store_true", help="send Retry-After on 429")
    parser.add_argument(
        "--disable-trunk",
        action="append",
        default=[],
        metavar="ID",
        help="list this trunk as inactive in /trunks (repeatable)",
    )
    faults = parser.add_argument_group("faults (probabilities 0..1)")
    faults.add_argument("--error-rate", type=_probability, default=0.0, help="5xx responses")
    faults.add_argument("--slow-rate", type=_probability, default=0.0, help="slow responses")
    faults.add_argument("--slow-seconds", type=float, default=2.0)
    faults.add_argument("--malformed-rate", type=_probability, default=0.0, help="broken bodies")
    faults.add_argument(
        "--duplicate-rate", type=_probability, default=0.0, help="records repeated across pages"
    )
    faults.add_argument(
        "--odd-record-rate", type=_probability, default=0.0, help="records with odd fields"
    )
    parser.set_defaults(handler=_simulate)


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected minutes, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number 0..1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _simulate(args: argparse.Namespace) -> int:
    from monitor.settings import is_loopback_host
    from monitor.simulator import (
        DEFAULT_API_KEY,
        FaultOptions,
        SimulatorOptions,
        SimulatorServer,
    )

    if not is_loopback_host(args.host):
        raise SettingsError(f"--host must be a loopback address, got {args.host}")
    settings = settings_from(args)
    key = args.api_key or (
        settings.api_key.get_secret_value() if settings.api_key else DEFAULT_API_KEY
    )
    options = SimulatorOptions(
        scenario=args.scenario,
        seed=args.seed,
        api_key=key,
        trunks=args.trunks,
        calls_per_minute=args.calls_per_minute,
        history=timedelta(minutes=args.history),
        incident_at=timedelta(minutes=args.incident_at),
        incident_for=timedelta(minutes=args.incident_for),
        daily_peak=args.daily_peak,
        daily_peak_hour=args.daily_peak_hour,
        ai_slowdown=args.ai_slowdown,
        pagination=args.pagination,
        order=args.order,
        latency_layout=args.latency_layout,
        list_in_progress=args.list_in_progress,
        rate_limit_per_minute=None if args.no_rate_limit else args.rate_limit,
        retry_after_header=args.retry_after,
        disabled_trunks=tuple(args.disable_trunk),
        host=args.host,
        port=args.port,
        faults=FaultOptions(
            error_rate=args.error_rate,
            slow_rate=args.slow_rate,
            slow_seconds=args.slow_seconds,
            malformed_rate=args.malformed_rate,
            duplicate_rate=args.duplicate_rate,
            odd_record_rate=args.odd_record_rate,
        ),
    )
    with SimulatorServer(options) as server:
        key_hint = "the key in --api-key/TELEPATH_API_KEY" if key != DEFAULT_API_KEY else key
        print(f"Telepath simulator ({args.scenario}, seed {args.seed}) serving {server.url}")
        print(f"  bearer key: {key_hint}")
        print(f"  try: curl -H 'Authorization: Bearer <key>' {server.url}/calls?limit=5")
        print("  Ctrl-C stops it.", flush=True)
        wait_for_stop_signal()
    print("simulator stopped", flush=True)
    return 0


# --- demo ------------------------------------------------------------------------------

#: Seconds between the demo's progress lines.
DEMO_STATUS_EVERY = 15.0


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "demo",
        help="simulator + daemon + alerts on this terminal, no credentials needed",
        description="Start a simulated Telepath account whose trunk conn_sim02 slows down "
        "about 45 s in, watch it with the daemon, and print the alerts as they fire and "
        "resolve (about 1.5 and 3 minutes in). Everything stays on loopback; Ctrl-C stops.",
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1:19310",
        help="host:port of /metrics, /healthz, /readyz (default 127.0.0.1:19310; :0 picks one)",
    )
    parser.add_argument("--log-level", dest="log_level", default="ERROR", help="default ERROR")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    import time

    from monitor.demo import banner, build_demo, status_line

    configure_logging(args.log_level.upper(), "text")
    demo = build_demo(listen=args.listen)
    try:
        demo.daemon.start()
        print(banner(demo), flush=True)
        started = last = time.monotonic()

        def tick(hup: bool) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= DEMO_STATUS_EVERY:
                last = now
                print(status_line(demo, now - started), flush=True)

        wait_for_stop_signal(tick)
    finally:
        demo.stop()
    print("demo stopped", flush=True)
    return 0


# --- backtest ----------------------------------------------------------------------------

BACKTEST_SETTINGS = ("api_url", "config", "log_level", "log_format")


def _add_backtest(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    import re

    parser = commands.add_parser(
        "backtest",
        help="replay the rules over past calls and report when alerts would have fired",
        description="Fetch the calls of a past range from the Telepath API, replay sync and "
        "rule evaluation at the configured poll cadence with the same code as `run`, and "
        "print the alerts that would have fired. Nothing is sent. Times are ISO 8601 "
        "(naive means UTC), 'now', or relative such as -24h, -90m, -7d.",
    )
    # Let "-24h" be a value, not an option ("--from=-24h" works whatever argparse does).
    parser._negative_number_matcher = re.compile(r"^-(\d+(\.\d+)?|(\d+[smhdw])+)$")
    parser.add_argument(
        "--from", dest="start", required=True, metavar="TIME", help="start of the range"
    )
    parser.add_argument("--to", dest="end", default="now", metavar="TIME", help="default: now")
    parser.add_argument(
        "--rule", action="append", default=[], metavar="NAME", help="only this rule (repeatable)"
    )
    parser.add_argument(
        "--trunk", action="append", default=[], metavar="ID", help="only this trunk (repeatable)"
    )
    parser.add_argument("--report", type=Path, metavar="FILE", help="write an HTML report")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_settings_flags(parser, *BACKTEST_SETTINGS)
    parser.set_defaults(handler=_backtest)


def _backtest(args: argparse.Namespace) -> int:
    import os
    import time
    from datetime import UTC

    from monitor import backtest
    from monitor.report import render_html

    now = datetime.now(UTC)
    start = backtest.parse_when(args.start, now)
    end = backtest.parse_when(args.end, now)
    backtest.check_range(start, end, now)
    settings = settings_from(args, *BACKTEST_SETTINGS)
    settings.require_api_key()
    config = load_config_file(settings.config)
    rules, notes = backtest.replay_rules(config, args.rule, args.trunk)
    slos, slo_notes = backtest.replay_slos(config, args.rule, args.trunk)
    notes += slo_notes
    since = backtest.fetch_start(config, start)
    try:
        calls = fetch_calls(settings, since, end, args.trunk)
    except FetchInterrupted as stop:
        print(
            f"telepath-monitor: backtest interrupted while fetching calls ({stop}); "
            "nothing was written",
            file=sys.stderr,
        )
        return 130
    print(f"replaying {len(calls):,} calls ...", file=sys.stderr, flush=True)
    began = time.monotonic()
    try:
        steps = backtest.replay(settings, config, rules, calls, start, end, slos=slos)
    except KeyboardInterrupt:
        print(
            "telepath-monitor: backtest interrupted during the replay; nothing was written",
            file=sys.stderr,
        )
        return 130
    print(
        f"replayed {len(steps):,} polls in {time.monotonic() - began:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    result = backtest.build_result(
        backtest.shown_rules(config, rules, slos), steps, start, end, config.poll.calls_every,
        calls=len(calls), trunks=args.trunk, notes=notes,
    )  # fmt: skip
    if args.report is not None:
        partial = args.report.with_name(args.report.name + ".partial")
        partial.write_text(render_html(result), encoding="utf-8")
        os.replace(partial, args.report)
    if args.json:
        print(backtest.to_json_text(result))
    else:
        for line in backtest.format_timeline(result):
            print(line)
        if args.report is not None:
            print(f"\nreport written to {args.report}")
    return 0


# --- report ------------------------------------------------------------------------------

REPORT_SETTINGS = ("api_url", "config", "state_db", "log_level", "log_format")


def _add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from monitor.reports.command import DESCRIPTION, HELP, add_arguments

    parser = commands.add_parser("report", help=HELP, description=DESCRIPTION)
    add_arguments(parser)
    add_settings_flags(parser, *REPORT_SETTINGS)
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from monitor.reports.command import run_report

    return run_report(args, settings_from(args, *REPORT_SETTINGS))
