"""The README's reference sections, generated from the code so they cannot drift.

    python tools/reference.py            # print every section
    python tools/reference.py --write    # rewrite them in README.md (``make docs``)
    python tools/reference.py --check    # exit 1 when README.md is out of date

Each section sits in README.md between ``<!-- reference:NAME -->`` and
``<!-- /reference:NAME -->``; everything between the markers is replaced. The facts
(names, defaults, types, labels, payload keys) come from the code: the settings model,
the config models, a live metrics registry, the CLI parser, a real webhook payload.
Only the meanings are written here, keyed by name, and the generator refuses to run
(:class:`DocsError`) when a key has no meaning or a meaning names a key that no longer
exists: a new config key, setting, metric label or payload field cannot go undocumented.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

from prometheus_client.core import Metric
from prometheus_client.metrics import MetricWrapperBase
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from monitor.alerts import AlertEngine, AlertState
from monitor.attribution import Attribution, ComponentChange
from monitor.cli import build_parser
from monitor.clock import ManualClock
from monitor.config import (
    METRICS,
    OVERVIEW_METRICS,
    Config,
    Defaults,
    Links,
    NotifyRoutes,
    Rule,
    Slo,
    format_duration,
)
from monitor.config.loader import _SECTIONS, _TOP_KEYS
from monitor.config.schema import _RuleSpec
from monitor.details import DETAILS_EVENT
from monitor.exposition import OTHER_TRUNKS
from monitor.metrics import COMPONENTS, EXPORTED_STATS, MonitorMetrics
from monitor.models import Call, Overview
from monitor.notify.base import Notification
from monitor.notify.outbox import MAX_RETRY_AFTER, DeliveryEvent, notifications_for
from monitor.notify.sample import sample_notification
from monitor.notify.webhook import payload
from monitor.rules import Observation
from monitor.settings import ENV_PREFIX, Settings
from monitor.slo import counter_names, figures
from monitor.slo.metrics import SloCollector
from monitor.telepath.client import PaginationStopped, RecordSkipped, RequestRecord
from monitor.trunks import TrunkInfo
from monitor.windows import CallWindows

ROOT: Final = Path(__file__).resolve().parents[1]
README: Final = ROOT / "README.md"
#: When the reference registry and the example alert are built: any fixed instant.
T0: Final = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


class DocsError(Exception):
    """The code and the meanings written here disagree, or README.md lacks a marker."""


# ---------------------------------------------------------------------------------------
# Meanings: the only prose in the generated sections


_METRIC_LIST: Final = ", ".join(f"`{m}`" for m in METRICS)
_OVERVIEW_LIST: Final = ", ".join(f"`{m}`" for m in OVERVIEW_METRICS)
_RETRY_AFTER_CAP: Final = format_duration(timedelta(seconds=MAX_RETRY_AFTER))

#: ``TELEPATH_*`` settings, by field name of :class:`monitor.settings.Settings`.
SETTINGS: Final[Mapping[str, str]] = {
    "api_key": "Bearer key for the Telepath API; required by `run` and `once`. Use a "
    "read-only key. Never printed, logged or exported.",
    "api_url": "Base URL of the API. Must be `https://`, except for loopback hosts "
    "(127.0.0.0/8, `::1`, `localhost`): the simulator and tests.",
    "config": "The rules and notifiers file (see `alerts.example.yaml`).",
    "state_db": "SQLite file for durable state: sync watermark, recent calls, alert "
    "states, the notification outbox. Its directory must be writable (SQLite keeps "
    "`-wal` and `-shm` files beside it).",
    "listen": "`host:port` of `/metrics`, `/healthz` and `/readyz`; `:port` means every interface.",
    "log_level": "`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`.",
    "log_format": "`text`, or `json` for one JSON object per line.",
    "api_rate_limit": "Our own request budget per minute (the API allows 6,000 per key); "
    "lower it when the key also serves other integrations.",
    "api_timeout": "Seconds to wait for one API response (connecting waits at most 5 s); "
    "at most 300.",
    "web_config": "A Prometheus web-config file (`tls_server_config`, `basic_auth_users`) "
    "for the HTTP server: TLS and bcrypt basic auth on `/metrics` and the status page; "
    "`/healthz` and `/readyz` stay open. Unset: plain HTTP, open. See "
    "`deploy/web/web-config.yml`.",
    "shutdown_grace": "Seconds from SIGTERM to exit, a running poll included; a poll cut "
    "short is read again by the next start. Keep it under Kubernetes' "
    "`terminationGracePeriodSeconds` (30 s by default).",
}

_NOTIFY = "Notifier names: a list for both severities, or `{warning: [...], critical: [...]}`."
_TIMEOUT = "Time allowed for one delivery request."

#: Config keys, by dotted path. Notifier keys name their type: ``(webhook)``.
CONFIG: Final[Mapping[str, str]] = {
    "include": "Rule packs to pull in, paths relative to this file. Their rules come "
    "first, then the file's own. A pack may hold only `rules:` and `include:`.",
    # links
    "links.call": "URL template of one call; `{call_id}` and `{trunk_id}` are filled in "
    "(percent-encoded). Every alert links its worst calls here. `{{`, `}}`: literal braces.",
    "links.trunk": "URL template of a trunk (`{trunk_id}`); per-trunk alerts link to it "
    "(Slack, webhook `links.trunk`, Alertmanager `generatorURL`).",
    "links.detail_calls": "When an alert fires, the full record (`GET /calls/{id}`) of this "
    "many of its worst calls is fetched, once per alert, and sent as a `details` follow-up. "
    "0: never.",
    # poll
    "poll.calls_every": "How often `GET /calls` is polled, from the newest call seen; the "
    "rules are evaluated after each poll.",
    "poll.overview_every": "How often `GET /analytics/overview` is polled (overview rules, "
    "`telepath_overview_*`).",
    "poll.backfill": "How far back the very first sync reads (an empty state DB).",
    "poll.overlap": "The most a poll re-reads before the newest call seen (a call is "
    "listed only once it has ended). Polls reach back as far as the longest call of the "
    "last hour plus `poll.calls_every`; a sweep reads all of it. Default 10m, capped by "
    "an explicit `poll.backfill`.",
    "poll.sweep_every": "How often a poll reads the whole `poll.overlap`, to find calls "
    "longer than any seen (`telepath_monitor_late_calls_total`).",
    "poll.max_pages": "At most this many pages (100 calls each) per poll; past it the walk "
    "stops with a warning and the rest is read by the next polls.",
    "poll.trunks_every": "How often `GET /trunks` is read (trunk names, providers, statuses; "
    "also at start).",
    # export
    "export.window": "Window of the `telepath_window_*` and `telepath_account_window_*` gauges.",
    "export.max_trunks": "Trunks with their own `trunk_id` series, first come first "
    f'served; later ones go to `trunk_id="{OTHER_TRUNKS}"` in the cumulative series. '
    "Lowered on reload, it applies to trunks not exported yet.",
    # overview_fields
    **{
        f"overview_fields.{metric}": f"Where the overview holds `{metric}` when the usual "
        "names miss: a JSON field, dotted for nesting (`data.latency.ai`)."
        for metric in OVERVIEW_METRICS
    },
    # notifiers
    "notifiers.<name>.type (slack)": "`slack`.",
    "notifiers.<name>.webhook_url (slack)": "Incoming-webhook URL: webhook mode, one "
    "message per notification. Either this, or `token` and `channel`.",
    "notifiers.<name>.token (slack)": "Bot token (`xoxb-...`, scope `chat:write`): "
    "bot-token mode, with `channel`. What follows a firing message is threaded under it "
    "and the original is marked resolved.",
    "notifiers.<name>.channel (slack)": "Channel for bot-token mode (`#voice-oncall` or "
    "an id); invite the bot to it.",
    "notifiers.<name>.username (slack)": "Sender name shown, where Slack allows it "
    "(bot-token mode needs the `chat:write.customize` scope).",
    "notifiers.<name>.timeout (slack)": _TIMEOUT,
    "notifiers.<name>.api_url (slack)": "Web API base for bot-token mode; change it only "
    "for a Slack-compatible service.",
    "notifiers.<name>.type (webhook)": "`webhook`: POST of the version 1 JSON payload.",
    "notifiers.<name>.url (webhook)": "Where to POST. Treated as a secret: such URLs "
    "often carry a token.",
    "notifiers.<name>.secret (webhook)": "Signing secret (Standard Webhooks): `whsec_` + "
    "base64, or any other string used as its UTF-8 bytes. Empty or left out: unsigned.",
    "notifiers.<name>.headers (webhook)": "Extra request headers, e.g. `Authorization: "
    "Bearer ${TOKEN}`; their values are masked in logs.",
    "notifiers.<name>.timeout (webhook)": _TIMEOUT,
    "notifiers.<name>.type (alertmanager)": "`alertmanager`: alerts posted to `/api/v2/alerts`.",
    "notifiers.<name>.url (alertmanager)": "Alertmanager's base URL "
    "(`http://alertmanager:9093`), or a load balancer in front of a cluster.",
    "notifiers.<name>.resend_every (alertmanager)": "Firing alerts are re-posted this "
    "often, so Alertmanager does not expire them (its `resolve_timeout` is 5m).",
    "notifiers.<name>.timeout (alertmanager)": _TIMEOUT,
    "notifiers.<name>.headers (alertmanager)": "Extra request headers (authentication of "
    "a proxy); their values are masked in logs.",
    "notifiers.<name>.type (console)": "`console`: prints alerts on standard output (the "
    "demo uses it).",
    # delivery
    "delivery.retry_initial": "First retry of a failed delivery after about this long; "
    "each further retry waits twice as long, with jitter.",
    "delivery.retry_max": "Longest wait between retries. A receiver's `Retry-After` is "
    f"honoured even when longer, up to {_RETRY_AFTER_CAP}.",
    "delivery.max_age": "A notification still undelivered after this long is "
    "dead-lettered as expired.",
    "delivery.keep": "Delivered and dead-lettered outbox entries are kept this long for "
    "inspection, then pruned.",
    # mute
    "mute": "Maintenance windows. While one is open, notifications of the rules it "
    "applies to are held; the alerts still change state and show in `once` and metrics.",
    "mute[].name": "Its name, given as the reason notifications are held.",
    "mute[].rules": "Rule names or globs (`voice-*`); with `labels` empty too, every rule.",
    "mute[].labels": "Rules carrying all of these labels.",
    "mute[].timezone": "IANA time zone of the times (`Europe/Berlin`); weekly windows "
    "follow daylight saving time.",
    "mute[].weekly": "Weekly ranges; a window needs `weekly`, `once` or both.",
    "mute[].weekly[].days": "`mon` to `sun`, at least one.",
    "mute[].weekly[].from": "Local start time, `HH:MM`.",
    "mute[].weekly[].to": "Local end time; before `from`, the range runs past midnight.",
    "mute[].once": "One-off ranges.",
    "mute[].once[].from": "Start (ISO 8601); without an offset, in `timezone`.",
    "mute[].once[].to": "End, after `from`.",
    # inhibit
    "inhibit": "While a `source` alert fires, `target` alerts that agree with it on "
    "`equal` are held. Left out: an account-wide alert holds the per-trunk alerts of its "
    "metric, a gateway-processing alert the total-latency alerts of its trunk. `[]`: none.",
    "inhibit[].source": "The alerts that hold others; every field given must match.",
    "inhibit[].target": "The alerts held; every field given must match.",
    **{
        f"inhibit[].{side}.{key}": meaning
        for side in ("source", "target")
        for key, meaning in {
            "rule": "Rule name or glob.",
            "metric": "The rule's metric.",
            "per": "`trunk` or `account`.",
            "severity": "`warning` or `critical`, the alert's severity now.",
            "labels": "Rule labels, all of them.",
        }.items()
    },
    "inhibit[].equal": "What source and target must share: `trunk`, `metric`, `stat`.",
    # heartbeat
    "heartbeat.url": "A dead-man's switch (Healthchecks.io, Cronitor...), requested every "
    "`every` while the daemon is healthy, so that service pages when the pings stop.",
    "heartbeat.every": "How often to ping.",
    "heartbeat.method": "`GET`, `POST` or `HEAD`.",
    "heartbeat.headers": "Extra request headers; their values are masked in logs.",
    "heartbeat.timeout": "Time allowed for one ping.",
    # history
    "history.fine": "Rollups stay at minute resolution this long, then are merged into hour rows.",
    "history.keep": "Rollups (and covered ranges, alert transitions) older than this are "
    "dropped; `report` falls back to the API beyond it.",
    # reports
    "reports": "Scheduled reports, each delivered once per period through the outbox.",
    "reports[].name": "Unique; names the report in messages and its sent-once identity.",
    "reports[].every": "`daily`: the previous local day; `weekly`: the previous local week, "
    "Monday to Monday, sent on Mondays.",
    "reports[].at": "Local time of day it is sent, `HH:MM`.",
    "reports[].timezone": "IANA time zone the days and `at` are counted in.",
    "reports[].trunks": "Only these trunks; left out, all of them.",
    "reports[].notify": "Notifier names (Slack, webhook, console; not Alertmanager).",
    # slos
    "slos": "Service level objectives; each burn alert goes through the rules' alert machinery.",
    "slos[].name": "Unique; names the counters, the metrics' `slo` label and the alerts "
    "(`slo-<name>-burn-<long>-<short>`).",
    "slos[].summary": "What the objective promises, for people; heads each alert.",
    "slos[].per": "`trunk`: one budget per trunk; `account`: one over all selected calls.",
    "slos[].trunks": "Only these trunks; not with `exclude_trunks`.",
    "slos[].exclude_trunks": "Every trunk but these.",
    "slos[].good": "What a good call is: one latency at or under a bound.",
    "slos[].good.metric": "A component latency or `total_latency_ms`.",
    "slos[].good.op": "`<=` or `<`.",
    "slos[].good.threshold": "Milliseconds. A counted call without the metric is bad.",
    "slos[].status": "Only calls of these statuses count, good or bad; left out, all.",
    "slos[].objective": "Share of counted calls that must be good: `99%` or `0.99`.",
    "slos[].period": "The error budget's period; must fit in `history.keep`.",
    "slos[].alerts": "Burn-rate alerts; left out, the SRE workbook's 14.4x 1h/5m and 6x "
    "6h/30m pages and 1x 3d/6h ticket.",
    "slos[].alerts[].burn_rate": "Fire while both windows burn the budget this many times "
    "faster than the period allows.",
    "slos[].alerts[].long": "The long window: the burn is real.",
    "slos[].alerts[].short": "The short window: the burn goes on now (and clears fast).",
    "slos[].alerts[].severity": "`warning` or `critical`.",
    "slos[].alerts[].notify": "Notifier names; left out, `defaults.notify` for the severity.",
    # defaults
    "defaults.for": "How long a condition must hold before the alert fires; `0s` fires at once.",
    "defaults.repeat": "Re-notify a firing alert this often; `never` notifies once.",
    "defaults.notify": _NOTIFY + " Empty: alerts are tracked and exported, sent nowhere.",
    "defaults.window": "How much recent history a calls rule looks at.",
    "defaults.per": "`trunk`: one alert per trunk; `account`: one over all calls.",
    "defaults.min_calls": "Fewer calls in the window is no data: the rule is not evaluated.",
    "defaults.no_data": "`keep`: without data an alert holds its state; `resolve`: a "
    "firing alert resolves.",
    # sync_failing
    "sync_failing.after": "How long polling `/calls` must fail before "
    "`monitor-sync-failing` fires.",
    "sync_failing.severity": "`warning` or `critical`.",
    "sync_failing.notify": _NOTIFY,
    "sync_failing.enabled": "`false` turns the alert off.",
    # rules
    "rules[].name": "Unique across the file and its includes: lower case, digits, `_ . -`.",
    "rules[].summary": "One line shown in every notification.",
    "rules[].runbook_url": "Link shown in the alert (Slack, webhook `runbook_url`, "
    "Alertmanager annotation).",
    "rules[].labels": "Extra `key: value` pairs for webhooks (`alert.labels`) and "
    "Alertmanager (labels; `alertname`, `severity`, `trunk_id` win).",
    "rules[].source": "`calls`: computed from `GET /calls`; `overview`: the account-wide "
    "figure of `/analytics/overview`.",
    "rules[].metric": f"One of {_METRIC_LIST}. `total_latency_ms` is the sum of the "
    "three latencies, `failed_ratio` the share (0..1) of calls with status `failed`. "
    f"Overview rules: {_OVERVIEW_LIST}.",
    "rules[].stat": "`avg`, `min`, `max` or a percentile `pNN` (`p95`, `p99.9`); latency "
    "metrics only. Overview rules: `avg` only.",
    "rules[].window": "How much recent history the rule looks at; at least "
    "`poll.calls_every`. Not for overview rules.",
    "rules[].per": "`trunk` or `account`. Overview rules are always `account`.",
    "rules[].trunks": "Only these trunk ids.",
    "rules[].exclude_trunks": "Every trunk but these; not together with `trunks`.",
    "rules[].trunk_names": "Trunks whose name (from `GET /trunks`) matches one of these "
    "globs (`Support *`), case-insensitive; with `trunks`, either selects.",
    "rules[].direction": "Only `inbound` or only `outbound` calls count.",
    "rules[].status": "Only calls with one of these statuses count (`[connected]`), for "
    "every figure of the rule, latencies included.",
    "rules[].min_calls": "Fewer calls in the window is no data. `call_count` and overview "
    "rules default to 0.",
    "rules[].op": "The bad direction: `>`, `>=`, `<` or `<=`.",
    "rules[].warning": "Warning threshold, in the metric's unit (ms, share 0..1, calls). "
    "A rule needs `warning`, `critical` or both; warning is the milder.",
    "rules[].critical": "Critical threshold.",
    "rules[].recovery": "Hysteresis: a firing alert clears only once the value is back "
    "past this (below it for `>`, `>=`; above it for `<`, `<=`).",
    "rules[].for": "How long the condition must hold before firing.",
    "rules[].repeat": "Re-notify this often while firing, or `never`.",
    "rules[].notify": _NOTIFY,
    "rules[].no_data": "`keep` or `resolve`, as in `defaults.no_data`.",
    "rules[].compare": "Thresholds relative to what is normal for the trunk instead of "
    "`warning`/`critical` on the rule; see [Baselines](#baselines-alert-on-what-is-unusual).",
    "rules[].compare.baseline": "`previous 1h`, `same time 1d`, `same time 1w` or "
    "`median of same hour over 4w` (any duration; 1..5 weeks).",
    "rules[].compare.warning": "`1.5x` (times the baseline) or `+500ms` (added to it; "
    'quote a plain difference: `"+0.05"`).',
    "rules[].compare.critical": "As `warning`.",
    "rules[].compare.min_value": "Absolute floor under both thresholds: below it nothing "
    "fires, whatever the ratio.",
    "rules[].compare.min_baseline_calls": "Fewer calls behind the baseline is no data, "
    "never a page.",
}

#: The default column where the model's own default (None) would mislead.
DEFAULT_NOTES: Final[Mapping[str, str]] = {
    "rules[].stat": "`avg`",
    "rules[].min_calls": "`defaults.min_calls`",
    "sync_failing.notify": "`defaults.notify`",
}

#: Label values worth knowing, by label name (names only, checked against the registry).
LABELS: Final[Mapping[str, str]] = {
    "trunk_id": f'the trunk, or `"{OTHER_TRUNKS}"` beyond `export.max_trunks`',
    "component": ", ".join(f"`{c}`" for c in COMPONENTS.values()),
    "stat": ", ".join(f"`{s}`" for s in EXPORTED_STATS),
    "status": "the call's final status (`connected`, `failed`, ...); on "
    "`telepath_trunk_info` the trunk's (`active`, `inactive`, ...)",
    "name": "the trunk's name from `GET /trunks` (empty when it has none)",
    "provider": "the trunk's AI provider (`openai`, `elevenlabs`, `custom`, ...)",
    "endpoint": "`/calls`, `/calls/{id}`, `/analytics/overview`, `/trunks`",
    "outcome": "`ok`, `http_error`, `rate_limited`, `timeout`, `connection_error`, `malformed`",
    "result": "`ok`, `error` (polls, reloads); `sent`, `failed`, `skipped` (heartbeats)",
    "reason": "why a record was skipped (`future_start_time`, `implausible_ai_latency_ms`, "
    "`missing_id`, ...) or paging stopped; for dead letters `rejected` "
    "or `expired`; for held notifications `silenced`, `maintenance` or `inhibited`; "
    "for refused logins `missing`, `malformed`, `wrong`; for connections `tls_failed`, "
    "`idle_closed`, `over_capacity`, `refused`",
    "header": "`x-ratelimit-limit`, `x-ratelimit-remaining`, `x-ratelimit-reset`",
    "rule": "the rule's name",
    "severity": "`warning`, `critical`",
    "state": "`pending`, `firing`, `no_data`",
    "notifier": "the notifier's name in the config",
    "version": "telepath-monitor's version",
    "python_version": "the Python running it",
    "slo": "the SLO's name in the config",
    "window": "an SLO alert window, e.g. `1h`, `5m`",
}

#: Webhook payload fields, by dotted path (``[]`` for the items of a list).
PAYLOAD: Final[Mapping[str, str]] = {
    "version": '`"1"`; a new version would be a new field layout.',
    "status": "`firing` or `resolved`.",
    "event": "`firing`, `escalated`, `deescalated`, `repeat`, `resolved`, or `details`: "
    "the follow-up of a firing alert carrying `alert.call_details` (status `firing`).",
    "sent_at": "When this attempt was sent (retries change it; `webhook-id` stays).",
    "test": "`true` only for `telepath-monitor test-notify`.",
    "alert": "The alert.",
    "alert.id": "The alert instance: the same from firing to resolved, new for the next breach.",
    "alert.event": "As the top-level `event`.",
    "alert.rule": "The rule's name.",
    "alert.severity": "`warning` or `critical`, now.",
    "alert.summary": "The rule's `summary`, or null.",
    "alert.source": "`calls` or `overview`.",
    "alert.metric": "The rule's metric.",
    "alert.stat": "`avg`, `pNN`... for latency metrics, else null.",
    "alert.value": "The value now (ms, share 0..1 or calls); on `resolved` the value at "
    "resolution; null when there is no data (`reason` says why).",
    "alert.threshold": "The threshold breached; on `resolved` the one the value came back "
    "past (`recovery` when set).",
    "alert.op": "`>`, `>=`, `<` or `<=`.",
    "alert.peak_value": "The most severe value since the alert fired.",
    "alert.window_seconds": "The rule's window; null for overview rules.",
    "alert.group": "`{}` for account-wide alerts.",
    "alert.group.trunk_id": "The trunk, for per-trunk alerts.",
    "alert.group.trunk_name": "Its name from `GET /trunks`; absent when unknown.",
    "alert.started_at": "When it fired (ISO 8601, UTC).",
    "alert.resolved_at": "When it resolved, else null.",
    "alert.calls_in_window": "Calls in the window (for overview rules, the overview's count or 0).",
    "alert.offending_calls": "Up to five calls that explain the value: the worst by the "
    "metric, or the newest failed calls.",
    "alert.offending_calls[].id": "Call id.",
    "alert.offending_calls[].trunk_id": "Its trunk.",
    "alert.offending_calls[].trunk_name": "Its trunk's name; absent when unknown.",
    "alert.offending_calls[].direction": "`inbound` or `outbound`; absent when the API "
    "did not say.",
    "alert.offending_calls[].start_time": "When it started (ISO 8601, UTC).",
    "alert.offending_calls[].status": "Its final status.",
    "alert.offending_calls[].ai_latency_ms": "AI latency, or null.",
    "alert.offending_calls[].carrier_lag_ms": "Carrier lag, or null.",
    "alert.offending_calls[].gateway_processing_ms": "Gateway processing time, or null.",
    "alert.offending_calls[].url": "Drill-down link from `links.call`, or null.",
    "alert.links": "Links: `trunk` (from `links.trunk`) and `runbook`, when set.",
    "alert.links.trunk": "The trunk's page.",
    "alert.links.runbook": "The rule's `runbook_url`.",
    "alert.labels": "The rule's `labels`.",
    "alert.runbook_url": "The rule's `runbook_url`, or null.",
    "alert.reason": "Why `value` is null, else null.",
    "alert.attribution": "Latency alerts: what each component did, against the hour before "
    "the window (means over calls with all three components); else null.",
    "alert.attribution.calls": "Calls with all three components in the window.",
    "alert.attribution.baseline_seconds": "Length of the baseline period (0: none).",
    "alert.attribution.baseline_calls": "Calls in the baseline period.",
    "alert.attribution.total_ms": "Mean total latency in the window.",
    "alert.attribution.total_baseline_ms": "The same in the baseline, or null.",
    "alert.attribution.total_change_ms": "The difference, or null.",
    "alert.attribution.headline": "In words: `carrier lag +420 ms, 83% of the rise`.",
    "alert.attribution.components": "`ai_latency_ms`, `carrier_lag_ms`, "
    "`gateway_processing_ms`, in that order.",
    "alert.attribution.components[].metric": "The component.",
    "alert.attribution.components[].value_ms": "Its mean in the window.",
    "alert.attribution.components[].baseline_ms": "Its mean in the baseline, or null.",
    "alert.attribution.components[].change_ms": "The difference, or null.",
    "alert.attribution.components[].share": "Share of the total's change it explains "
    "(0.83 = 83%; negative when it moved the other way), or null.",
    "alert.call_details": "`details` events only: the worst calls' full records, summarised.",
    "alert.call_details[].id": "Call id.",
    "alert.call_details[].trunk_id": "Its trunk.",
    "alert.call_details[].status": "Its final status.",
    "alert.call_details[].direction": "`inbound`, `outbound` or null.",
    "alert.call_details[].slowest_segment": "The slowest latency segment, or null.",
    "alert.call_details[].slowest_segment.name": "Its name as the API gives it.",
    "alert.call_details[].slowest_segment.latency_ms": "Its latency.",
    "alert.call_details[].codec": "The codec used, or null.",
    "alert.call_details[].disconnect_reason": "Why it ended, or null.",
    "alert.call_details[].events": "Up to five notable timeline events (routine ones left out).",
    "alert.call_details[].events[].kind": "The event, as the API names it.",
    "alert.call_details[].events[].at": "When (ISO 8601, UTC), or null.",
    "alert.call_details[].events[].detail": "Its detail or message, or null.",
    "alert.call_details[].url": "Drill-down link from `links.call`, or null.",
    "alert.baseline": "For a `compare:` rule: `{value, of, warning, critical, min_value}`, "
    "the baseline `threshold` was set from, which baseline (`same time 1d`), the relative "
    "levels as written (`1.5x`, `+500`) and the floor; null for other rules.",
}


# ---------------------------------------------------------------------------------------
# Markdown helpers


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _code(text: str) -> str:
    return f"`{text}`"


def _value(value: Any) -> str:
    """A default as it would be written in YAML, in code format."""
    if isinstance(value, timedelta):
        return _code(format_duration(value))
    if isinstance(value, bool):
        return _code(str(value).lower())
    if isinstance(value, NotifyRoutes):
        if value.warning == value.critical:
            return _code(json.dumps(list(value.warning)))
        return _code(json.dumps(value.model_dump()))
    if isinstance(value, Path):
        return _code(str(value))
    if isinstance(value, float) and value.is_integer():
        return _code(str(int(value)))
    if isinstance(value, list | tuple | dict):
        return _code(json.dumps(_plain(value)))
    return _code(str(value))


def _plain(value: Any) -> Any:
    """JSON-ready: models as written in YAML (aliases, only what differs from defaults)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _check_documented(what: str, found: Sequence[str], meanings: Mapping[str, str]) -> None:
    """Raise unless ``meanings`` has exactly the keys ``found``."""
    missing = [key for key in found if key not in meanings]
    stale = [key for key in meanings if key not in set(found)]
    problems = [f"{what} {key!r} has no meaning in tools/reference.py" for key in missing]
    problems += [f"tools/reference.py documents {what} {key!r}, which no longer exists"
                 for key in stale]  # fmt: skip
    if problems:
        raise DocsError("\n".join(problems))


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(arg) for arg in get_args(annotation))


def _is_secret(info: FieldInfo) -> bool:
    """SecretStr fields, and fields kept out of repr (header values)."""
    return _mentions_secret(info.annotation) or info.repr is False


def _mark_secret(meaning: str, secret: bool) -> str:
    return f"**Secret.** {meaning}" if secret else meaning


# ---------------------------------------------------------------------------------------
# Settings


def settings_section(meanings: Mapping[str, str] = SETTINGS) -> str:
    """The ``TELEPATH_*`` table: variable, default, command-line flag, meaning."""
    fields = Settings.model_fields
    _check_documented("setting", list(fields), meanings)
    flags = _settings_flags()
    rows = []
    for name, info in fields.items():
        default = "—" if info.default is None else _value(info.default)
        flag = flags.get(name)
        where = f"`{flag[0]}` ({', '.join(flag[1])})" if flag else ""
        secret = _is_secret(info)
        rows.append(
            (_code(ENV_PREFIX + name.upper()), default, where, _mark_secret(meanings[name], secret))
        )
    return _table(("variable", "default", "flag", "meaning"), rows)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise DocsError("telepath-monitor's parser has no commands")


def _settings_flags() -> dict[str, tuple[str, list[str]]]:
    """Setting name -> (flag, commands taking it), from the parser."""
    out: dict[str, tuple[str, list[str]]] = {}
    for command, sub in _subparsers().items():
        if command == "simulate":  # its flags configure the simulator, not the daemon
            continue
        for action in sub._actions:
            if action.dest in Settings.model_fields and action.option_strings:
                flag = action.option_strings[0]
                out.setdefault(action.dest, (flag, []))[1].append(command)
    return out


# ---------------------------------------------------------------------------------------
# Commands


def command_names() -> list[str]:
    """Every command of ``telepath-monitor``."""
    return list(_subparsers())


def commands_section() -> str:
    """The commands, with their positional arguments and one-line help."""
    parser = build_parser()
    helps: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
    rows = []
    for name, sub in _subparsers().items():
        words = [f"telepath-monitor {name}"]
        for action in sub._actions:
            if action.option_strings:
                continue
            meta = str(action.metavar or action.dest)
            words.append(f"[{meta}]" if action.nargs == "?" else meta)
        rows.append((_code(" ".join(words)), helps.get(name, "")))
    return _table(("command", "does"), rows)


# ---------------------------------------------------------------------------------------
# Config


@dataclass(frozen=True)
class ConfigKey:
    """One documented config key."""

    #: How the key is written, e.g. ``notifiers.<name>.secret``.
    path: str
    #: The key of :data:`CONFIG`: the path, plus `` (type)`` for notifier keys.
    ref: str
    default: str
    secret: bool
    #: The table it belongs in.
    table: str


def _fields(model: type[BaseModel]) -> Iterator[tuple[str, FieldInfo]]:
    for name, info in model.model_fields.items():
        yield info.alias or name, info


def _default(ref: str, key: str, info: FieldInfo, fallback: type[BaseModel] | None) -> str:
    if ref in DEFAULT_NOTES:
        return DEFAULT_NOTES[ref]
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None or value is PydanticUndefined:
        if fallback is not None and key in dict(_fields(fallback)):
            return _code(f"defaults.{key}")
        return "—"
    return _value(value)


def _model_keys(
    prefix: str, model: type[BaseModel], table: str, *, fallback: type[BaseModel] | None = None
) -> Iterator[ConfigKey]:
    """The model's keys under ``prefix``, then the keys of any model nested in them."""
    for key, info in _fields(model):
        path = f"{prefix}.{key}" if prefix else key
        yield ConfigKey(path, path, _default(path, key, info, fallback), _is_secret(info), table)
        nested = _nested(info.annotation)
        if nested is not None:
            yield from _model_keys(path + nested[1], nested[0], table)


#: Models written in a shorthand of their own, documented as one key (``notify``).
_LEAF_MODELS: Final = (NotifyRoutes,)


def _nested(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """The model a field holds, with ``[]`` per list level; None for plain values."""
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return None if issubclass(annotation, _LEAF_MODELS) else (annotation, "")
    if origin is Annotated:
        return _nested(get_args(annotation)[0])
    if origin in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return _nested(members[0]) if len(members) == 1 else None
    if origin in (tuple, list):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        inner = _nested(args[0]) if len(args) == 1 else None
        return None if inner is None else (inner[0], "[]" + inner[1])
    return None


def _notifier_types(annotation: Any) -> list[type[BaseModel]]:
    """The members of the notifier union (``dict[str, Notifier]``'s value type)."""
    while get_origin(annotation) in (dict, Annotated):
        args = get_args(annotation)
        annotation = args[1] if get_origin(annotation) is dict else args[0]
    members = [m for m in get_args(annotation) if isinstance(m, type)]
    if get_origin(annotation) not in (Union, UnionType) or not all(
        issubclass(m, BaseModel) for m in members
    ):
        raise DocsError("cannot find the notifier types in the config schema")
    return members


def _notifier_type(model: type[BaseModel]) -> str:
    literal = model.model_fields["type"].annotation
    if get_origin(literal) is not Literal:
        raise DocsError(f"{model.__name__}.type is not a Literal")
    return str(get_args(literal)[0])


def config_keys() -> list[ConfigKey]:
    """Every key the loader accepts, section by section, in the loader's order."""
    sections = dict(_SECTIONS)
    keys: list[ConfigKey] = []
    covered = set()
    for top in _TOP_KEYS:
        covered.add(top)
        if top == "include":
            keys.append(ConfigKey("include", "include", "`[]`", False, "top"))
        elif top == "rules":
            keys += _model_keys("rules[]", _RuleSpec, "rules", fallback=Defaults)
        elif top == "overview_fields":
            for metric in OVERVIEW_METRICS:
                path = f"overview_fields.{metric}"
                keys.append(ConfigKey(path, path, "—", False, "overview_fields"))
        elif top == "notifiers":
            for model in _notifier_types(sections[top]):
                kind = _notifier_type(model)
                for key, info in _fields(model):
                    path = f"notifiers.<name>.{key}"
                    ref = f"{path} ({kind})"
                    default = "required" if key == "type" else _default(ref, key, info, None)
                    keys.append(
                        ConfigKey(path, ref, default, _is_secret(info), f"notifiers:{kind}")
                    )
        elif (nested := _nested(sections.get(top))) is not None:
            model, lists = nested
            if lists:  # a list section has a default of its own (an empty list, or more)
                info = Config.model_fields[top]
                keys.append(ConfigKey(top, top, _default(top, top, info, None), False, top))
            keys += _model_keys(top + lists, model, top)
        else:
            raise DocsError(f"tools/reference.py does not know how to document section {top!r}")
    unknown = set(Config.model_fields) - covered
    if unknown:
        raise DocsError(f"Config has sections the loader does not read: {sorted(unknown)}")
    return keys


_TABLE_TITLES: Final = {
    "top": "Top level",
    "rules": "`rules[]`: each rule (left out: the default shown)",
    "overview_fields": "`overview_fields`",
    "mute": "`mute[]`: maintenance windows",
    "inhibit": "`inhibit[]`: inhibition",
    "heartbeat": "`heartbeat`: a dead-man's switch",
    "history": "`history`: rollups kept for reports and trends",
    "reports": "`reports[]`: scheduled reports",
    "slos": "`slos[]`: service level objectives",
}


def config_section(meanings: Mapping[str, str] = CONFIG) -> str:
    """One table per section: key, default, meaning."""
    keys = config_keys()
    _check_documented("config key", [k.ref for k in keys], meanings)
    stale = sorted(set(DEFAULT_NOTES) - {k.ref for k in keys})
    if stale:
        raise DocsError(f"tools/reference.py has default notes for keys that are gone: {stale}")
    tables: dict[str, list[ConfigKey]] = {"top": []}
    for key in keys:
        tables.setdefault(key.table, []).append(key)
    parts = []
    for table, members in tables.items():
        if table.startswith("notifiers:"):
            title = f"`notifiers.<name>` with `type: {table.partition(':')[2]}`"
        else:
            title = _TABLE_TITLES.get(table, f"`{table}`")
        rows = [
            (_code(k.path), k.default, _mark_secret(meanings[k.ref], k.secret)) for k in members
        ]
        parts.append(f"### {title}\n\n" + _table(("key", "default", "meaning"), rows))
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------
# Metrics


def _call(n: int, trunk: str, status: str = "connected") -> Call:
    end = T0 - timedelta(seconds=n + 1)
    return Call(
        id=f"call_{trunk}_{n}",
        trunk_id=trunk,
        status=status,
        start_time=end - timedelta(seconds=60),
        end_time=end,
        ai_latency_ms=400.0 + n,
        carrier_lag_ms=90.0,
        gateway_processing_ms=15.0,
    )


def reference_registry() -> MonitorMetrics:
    """Metrics with a sample in every family the daemon can serve."""
    calls = [_call(0, "conn_a"), _call(1, "conn_a", "failed"), _call(2, "conn_b")]
    windows = CallWindows(timedelta(minutes=30))
    windows.add_many(calls)
    metrics = MonitorMetrics(
        windows,
        threading.RLock(),
        ManualClock(T0),
        max_trunks=1,  # conn_b goes over the cap: the capped series get samples too
        sync_watermark=lambda: T0 - timedelta(seconds=90),
    )
    metrics.on_new_calls(calls)
    metrics.on_client_event(RequestRecord("/calls", "ok", 200, 0.05, 1, 41, 100))
    metrics.on_client_event(RecordSkipped("/calls", "missing_id", None))
    metrics.on_client_event(PaginationStopped("/calls", "repeated_cursor"))
    metrics.on_sync("/calls", ok=True, at=T0)
    values = {"ai_latency_ms": 640.0, "carrier_lag_ms": 80.0, "gateway_processing_ms": 15.0}
    metrics.overview = lambda: Overview(
        fetched_at=T0, values={**values, "call_count": 10, "failed_ratio": 0.02}
    )
    metrics.duplicates.inc()
    metrics.sync_duration.observe(0.2)
    metrics.rule_evaluation.observe(0.01)
    metrics.config_reloads.labels("ok").inc()
    metrics.on_server_event("auth_wrong")
    metrics.on_server_event("over_capacity")
    for outcome in ("delivered", "failed", "dead"):
        metrics.on_delivery(DeliveryEvent("oncall", outcome, "expired"))
    metrics.alert_states = lambda: [
        AlertState("ai-latency-p95", "conn_a", "firing", "warning", alert_id="a1")
    ]
    metrics.outbox_stats = lambda: [("oncall", 2, 30.0)]
    slo = Slo.model_validate(
        {"name": "ai-answers", "good": {"metric": "ai_latency_ms", "threshold": 1500},
         "objective": "99%"}
    )  # fmt: skip
    slo_figures = figures(slo, [("conn_a", 0, 60, dict.fromkeys(counter_names(slo), 2))], T0)
    slo_metrics = SloCollector(
        lambda: [slo], lambda: slo_figures, metrics.cap.label, metrics.cap.admits
    )
    slo_metrics.on_new_calls(calls)
    metrics.add_collector(slo_metrics)
    metrics.trunk_info = lambda: [TrunkInfo("conn_a", "Support line EU", "openai", "active")]
    for metric in vars(metrics).values():  # what is left: one child each, to show its labels
        if isinstance(metric, MetricWrapperBase):
            names = getattr(metric, "_labelnames", ())
            if names and not any(family.samples for family in metric.collect()):
                metric.labels(*("example",) * len(names))
    return metrics


@dataclass(frozen=True)
class MetricRow:
    """One metric family as scraped."""

    name: str
    type: str
    labels: tuple[str, ...]
    help: str


def metric_rows() -> list[MetricRow]:
    """Every family of the reference registry, by name; raises if one has no sample."""
    rows = []
    families: list[Metric] = list(reference_registry().registry.collect())
    for family in families:
        if not family.samples:
            raise DocsError(
                f"metric {family.name} has no sample in the reference registry: give it one "
                "in tools/reference.py reference_registry()"
            )
        labels: dict[str, None] = {}
        for sample in family.samples:
            labels.update(dict.fromkeys(k for k in sample.labels if k != "le"))
        name = family.name + ("_total" if family.type == "counter" else "")
        rows.append(MetricRow(name, family.type, tuple(labels), family.documentation))
    return sorted(rows, key=lambda r: r.name)


def metrics_section(labels: Mapping[str, str] = LABELS) -> str:
    """Two tables (calls, the daemon's health) and the label values."""
    rows = metric_rows()
    used = list(dict.fromkeys(label for row in rows for label in row.labels))
    _check_documented("metric label", used, labels)

    def table(selected: Callable[[MetricRow], bool]) -> str:
        return _table(
            ("metric", "type", "labels", "help"),
            [
                (_code(r.name), r.type, ", ".join(_code(x) for x in r.labels), r.help)
                for r in rows
                if selected(r)
            ],
        )

    own = "telepath_monitor_"
    label_lines = [f"- `{name}`: {labels[name]}" for name in used]
    return "\n\n".join(
        [
            "### Calls (`telepath_`)",
            table(lambda r: not r.name.startswith(own)),
            f"### The daemon's own health (`{own}`)",
            table(lambda r: r.name.startswith(own)),
            "Label values:\n\n" + "\n".join(label_lines),
        ]
    )


# ---------------------------------------------------------------------------------------
# Webhook payload


EXAMPLE_LINKS: Final = Links(
    call="https://dashboard.telepathvoice.com/calls/{call_id}",
    trunk="https://dashboard.telepathvoice.com/trunks/{trunk_id}",
)


def example_notification() -> Notification:
    """A real firing notification: a rule, two evaluations two minutes apart, the outbox."""
    rule = Rule.model_validate(
        {
            "name": "ai-latency-p95",
            "summary": "AI agent answers slowly",
            "runbook_url": "https://wiki.example.com/runbooks/ai-latency",
            "labels": {"team": "voice"},
            "metric": "ai_latency_ms",
            "stat": "p95",
            "window": timedelta(minutes=5),
            "min_calls": 20,
            "warning": 800,
            "critical": 1500,
            "recovery": 700,
            "for": timedelta(minutes=2),
            "notify": {"warning": ["ops"], "critical": ["ops"]},
        }
    )
    worst = tuple(
        Call(
            id=f"call_01jp{n}x4k2m9",
            trunk_id="conn_sim02",
            status="connected",
            start_time=T0 - timedelta(seconds=95 + 40 * n),
            end_time=T0 - timedelta(seconds=20 + 40 * n),
            ai_latency_ms=ai,
            carrier_lag_ms=carrier,
            gateway_processing_ms=14.0,
            direction="inbound",
        )
        for n, (ai, carrier) in enumerate([(2140.0, 88.0), (1710.0, 95.0)])
    )
    engine = AlertEngine(EXAMPLE_LINKS)
    fired_at = T0 + timedelta(minutes=2)
    intents = []
    for now, value in ((T0, 1580.0), (fired_at, 1620.0)):
        observation = Observation(rule, "conn_sim02", value, 143, None, worst, EXAMPLE_ATTRIBUTION)
        intents = engine.step([observation], now)
    [notification] = notifications_for(intents, {"ops": False}, fired_at, EXAMPLE_NAMES)
    return notification


EXAMPLE_NAMES: Final = {"conn_sim02": "Support line EU"}
EXAMPLE_ATTRIBUTION: Final = Attribution(
    calls=143,
    baseline_seconds=3600,
    baseline_calls=1702,
    total=1610.0,
    total_baseline=562.0,
    components=(
        ComponentChange("ai_latency_ms", 1505.0, 462.0, 1043.0, 1043.0 / 1048.0),
        ComponentChange("carrier_lag_ms", 90.0, 86.0, 4.0, 4.0 / 1048.0),
        ComponentChange("gateway_processing_ms", 15.0, 14.0, 1.0, 1.0 / 1048.0),
    ),
)


def example_details() -> Notification:
    """The ``details`` follow-up of :func:`example_notification`, as the outbox holds it."""
    firing = example_notification()
    doc = dict(firing.alerts[0])
    doc["event"] = DETAILS_EVENT
    doc["call_details"] = [
        {
            "id": "call_01jp0x4k2m9",
            "trunk_id": "conn_sim02",
            "status": "connected",
            "direction": "inbound",
            "slowest_segment": {"name": "ai_agent", "latency_ms": 2140.0},
            "codec": "G.722",
            "disconnect_reason": "caller_hangup",
            "events": [{"kind": "agent.slow_response", "at": "2026-03-10T13:59:12Z",
                        "detail": "2,140 ms"}],
            "url": "https://dashboard.telepathvoice.com/calls/call_01jp0x4k2m9",
        }
    ]  # fmt: skip
    return replace(firing, event=DETAILS_EVENT, alerts=[doc])


def example_payload() -> dict[str, Any]:
    """The version 1 body the webhook notifier posts for :func:`example_notification`."""
    return payload(example_notification(), "2026-03-10T14:02:00.412Z")


#: Mappings whose keys are the user's (a rule's labels), not payload fields.
_OPEN_MAPPINGS: Final = frozenset({"alert.labels"})


def _paths(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict) and prefix not in _OPEN_MAPPINGS:
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from _paths(item, path)
    elif isinstance(value, list):
        for item in value:
            yield from _paths(item, f"{prefix}[]")


def payload_paths() -> list[str]:
    """Every field a version 1 body can hold: a real alert plus a test-notify message."""
    test = payload(sample_notification("ops", EXAMPLE_LINKS, T0), "2026-03-10T14:00:00Z")
    details = payload(example_details(), "2026-03-10T14:02:03Z")
    return list(dict.fromkeys([*_paths(example_payload()), *_paths(test), *_paths(details)]))


def webhook_payload_section() -> str:
    """The example body, as the webhook notifier sends it (indented for reading)."""
    return f"```json\n{json.dumps(example_payload(), indent=2)}\n```"


def webhook_fields_section(fields: Mapping[str, str] = PAYLOAD) -> str:
    """Every field a version 1 body can hold, with its meaning."""
    paths = payload_paths()
    _check_documented("webhook payload field", paths, fields)
    return _table(("field", "meaning"), [(_code(path), fields[path]) for path in paths])


# ---------------------------------------------------------------------------------------
# README


SECTIONS: Final[Mapping[str, Callable[[], str]]] = {
    "commands": commands_section,
    "settings": settings_section,
    "config": config_section,
    "metrics": metrics_section,
    "webhook-payload": webhook_payload_section,
    "webhook-fields": webhook_fields_section,
}


def generate() -> dict[str, str]:
    """Every section's Markdown, by marker name."""
    return {name: build() for name, build in SECTIONS.items()}


def _marker(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- reference:{re.escape(name)} -->\n)(.*?)(<!-- /reference:{re.escape(name)} -->)",
        re.DOTALL,
    )


def extract(text: str) -> dict[str, str]:
    """The generated sections as they stand in ``text`` (a README)."""
    out = {}
    for name in SECTIONS:
        match = _marker(name).search(text)
        if match is None:
            raise DocsError(f"README.md has no <!-- reference:{name} --> section")
        out[name] = match.group(2).removesuffix("\n")
    return out


def rewrite(text: str, sections: Mapping[str, str]) -> str:
    """``text`` with every section replaced by its generated Markdown."""
    for name, body in sections.items():
        match = _marker(name).search(text)
        if match is None:
            raise DocsError(f"README.md has no <!-- reference:{name} --> section")
        text = text[: match.start()] + _wrapped(name, body) + text[match.end() :]
    return text


def _wrapped(name: str, body: str) -> str:
    return f"<!-- reference:{name} -->\n{body}\n<!-- /reference:{name} -->"


def main(argv: Sequence[str] | None = None) -> int:
    """Print, write (``--write``) or check (``--check``) the README's reference sections."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the sections in README.md")
    mode.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    try:
        sections = generate()
        if not (args.write or args.check):
            for name, body in sections.items():
                sys.stdout.write(
                    f"<!-- reference:{name} -->\n{body}\n<!-- /reference:{name} -->\n\n"
                )
            return 0
        current = args.readme.read_text(encoding="utf-8")
        updated = rewrite(current, sections)
    except DocsError as exc:
        sys.stderr.write(f"tools/reference.py: {exc}\n")
        return 1
    if args.check:
        if updated != current:
            sys.stderr.write(f"{args.readme} is out of date: run make docs\n")
            return 1
        return 0
    if updated != current:
        args.readme.write_text(updated, encoding="utf-8")
        sys.stdout.write(f"rewrote the reference sections of {args.readme}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
