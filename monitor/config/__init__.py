"""alerts.yaml: rules and notifiers, loaded with every problem reported as ``file:line:col``.

A package of these parts:

- :mod:`~monitor.config.durations`: ``30s``, ``5m``, ``never``, parsed and printed;
- :mod:`~monitor.config.schema`: the frozen pydantic models of every section (the
  ``mute:`` and ``inhibit:`` models included), the metric vocabulary and the rule
  defaults, down to the resolved :class:`Rule`;
- :mod:`~monitor.config.loader`: YAML with positions, ``${VAR}``, ``include:``, and
  every problem as ``file:line:col: message``;
- :mod:`~monitor.config.checks`: the cross-checks between fields and sections;
- :mod:`~monitor.config.reporting`: the ``history:`` and ``reports:`` sections, and
  :mod:`~monitor.config.zones` the time-zone type they share with ``mute:``;
- :mod:`~monitor.config.slos`: the ``slos:`` section; :mod:`~monitor.config.urls` the URL
  and secret field types of the notifiers and the heartbeat.

Everything the rest of the code uses is importable from ``monitor.config`` itself.
"""

from monitor.config.durations import (
    Duration,
    NonNegativeDuration,
    Repeat,
    format_duration,
    parse_duration,
)
from monitor.config.loader import load_config
from monitor.config.reporting import History, ReportSpec
from monitor.config.schema import (
    DEFAULT_INHIBIT,
    LINK_PLACEHOLDERS,
    METRICS,
    OVERVIEW_METRICS,
    AlertmanagerNotifier,
    Config,
    ConsoleNotifier,
    Defaults,
    Delivery,
    Export,
    Heartbeat,
    InhibitMatcher,
    InhibitRule,
    Links,
    Metric,
    MuteWindow,
    Notifier,
    NotifyRoutes,
    OnceRange,
    Op,
    OverviewMetric,
    Poll,
    Rule,
    Severity,
    SlackNotifier,
    SyncFailing,
    WebhookNotifier,
    WeeklyRange,
)
from monitor.config.slos import DEFAULT_BURN_ALERTS, BurnAlert, GoodCall, Slo
from monitor.models import LATENCY_METRICS

__all__ = [
    "DEFAULT_BURN_ALERTS",
    "DEFAULT_INHIBIT",
    "LATENCY_METRICS",
    "LINK_PLACEHOLDERS",
    "METRICS",
    "OVERVIEW_METRICS",
    "AlertmanagerNotifier",
    "BurnAlert",
    "Config",
    "ConsoleNotifier",
    "Defaults",
    "Delivery",
    "Duration",
    "Export",
    "GoodCall",
    "Heartbeat",
    "History",
    "InhibitMatcher",
    "InhibitRule",
    "Links",
    "Metric",
    "MuteWindow",
    "NonNegativeDuration",
    "Notifier",
    "NotifyRoutes",
    "OnceRange",
    "Op",
    "OverviewMetric",
    "Poll",
    "Repeat",
    "ReportSpec",
    "Rule",
    "Severity",
    "SlackNotifier",
    "Slo",
    "SyncFailing",
    "WebhookNotifier",
    "WeeklyRange",
    "format_duration",
    "load_config",
    "parse_duration",
]
