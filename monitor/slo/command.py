"""``telepath-monitor slo rules [CONFIG]``: print the Prometheus rules of the config's SLOs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_command"]


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "slo",
        help="service level objectives: print their Prometheus rules",
        description="Tools for the slos: section of the config.",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    rules = actions.add_parser(
        "rules",
        help="print Prometheus recording and alerting rules over the SLO counters",
        description="Print a Prometheus rule file (YAML) with each SLO's error ratios and "
        "burn rates over its windows and one alert per burn alert, over "
        "telepath_slo_events_total and telepath_slo_good_events_total. Exit 1 when the "
        "config is invalid or has no SLO.",
    )
    rules.add_argument("path", nargs="?", default=None, help="default: TELEPATH_CONFIG")
    rules.set_defaults(handler=_rules)
    parser.set_defaults(handler=lambda _args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _rules(args: argparse.Namespace) -> int:
    from monitor.config import load_config
    from monitor.errors import ConfigError
    from monitor.settings import load_settings
    from monitor.slo.promrules import render_rules

    path = Path(args.path) if args.path else load_settings().config
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            sys.stderr.write(problem + "\n")
        return 1
    if not config.slos:
        sys.stderr.write(f"{path}: no slos: section, so no rules\n")
        return 1
    sys.stdout.write(render_rules(config.slos))
    return 0
