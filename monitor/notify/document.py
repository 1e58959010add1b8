"""The alert document: one alert as every notifier sees it, JSON-safe.

An :class:`~monitor.alerts.Intent` holds Python objects (a Rule, Calls, datetimes). The
outbox stores notifications as JSON, so intents are turned into documents when they
are queued, and every notifier renders from the same document: the webhook sends it
as the ``alert`` of its version 1 payload, Slack and the console format it for people,
Alertmanager maps it to labels and annotations.

Shape (the webhook contract; keys beyond the brief's are additive)::

    {"id", "rule", "severity", "summary", "metric", "stat", "value", "threshold", "op",
     "window_seconds", "group": {"trunk_id"?}, "started_at", "resolved_at",
     "calls_in_window", "offending_calls": [{"id", "trunk_id", "start_time", "status",
     "ai_latency_ms", "carrier_lag_ms", "gateway_processing_ms", "url"}], "links",
     "event", "peak_value", "labels", "source", "runbook_url", "reason",
     "attribution", "baseline": null | {"value", "of", "warning", "critical", "min_value"}}

Extensions of version 1 (issue 15), all optional, so a receiver of the brief's payload
reads them or not: ``group.trunk_name`` (from ``GET /trunks``; absent when unknown),
``offending_calls[].trunk_name``, ``attribution`` (latency alerts past a threshold, else
null; see :mod:`monitor.attribution`) and, in ``details`` follow-ups only,
``call_details`` (see :mod:`monitor.details`).

``baseline`` (issue 18, also additive) is set for ``compare:`` rules: ``threshold`` was
worked out from its ``value`` (``of`` says which baseline, e.g. ``same time 1d``;
``warning``/``critical`` are the relative levels as written, e.g. ``1.5x``, ``+500ms``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from monitor.alerts import Intent, IntentKind
from monitor.config import format_duration
from monitor.models import Call

__all__ = [
    "EVENTS",
    "alert_document",
    "describe_value",
    "detail_line",
    "format_value",
    "iso",
    "status_of",
    "unit_of",
]

#: Every ``event`` an alert document can carry, in the order an alert's life goes.
EVENTS: Final[tuple[IntentKind, ...]] = (
    "firing",
    "escalated",
    "deescalated",
    "repeat",
    "resolved",
)


def alert_document(intent: Intent, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The document for one intent; ``names`` maps trunk ids to their names."""
    names = names or {}
    rule = intent.rule
    links: dict[str, str] = {}
    if intent.trunk_url is not None:
        links["trunk"] = intent.trunk_url
    if rule.runbook_url is not None:
        links["runbook"] = rule.runbook_url
    return {
        "id": intent.alert_id,
        "event": intent.kind,
        "rule": rule.name,
        "severity": intent.severity,
        "summary": rule.summary,
        "source": rule.source,
        "metric": rule.metric,
        "stat": rule.stat,
        "value": intent.value,
        "threshold": intent.threshold,
        "op": rule.op,
        "peak_value": intent.peak_value,
        "window_seconds": None if rule.source == "overview" else int(rule.window.total_seconds()),
        "group": _group(intent.group, names),
        "started_at": iso(intent.started_at),
        "resolved_at": None if intent.resolved_at is None else iso(intent.resolved_at),
        "calls_in_window": intent.calls_in_window,
        "offending_calls": [
            _call(c, intent.links.get(c.id), names.get(c.trunk_id)) for c in intent.offending_calls
        ],
        "links": links,
        "labels": dict(rule.labels),
        "runbook_url": rule.runbook_url,
        "reason": intent.reason,
        "attribution": None if intent.attribution is None else intent.attribution.to_dict(),
        "baseline": _baseline(intent),
    }


def _baseline(intent: Intent) -> dict[str, Any] | None:
    """For a ``compare:`` rule: the baseline value, where it came from, the relative levels."""
    compare = intent.rule.compare
    if compare is None:
        return None
    return {
        "value": intent.baseline,
        "of": str(compare.baseline),
        "warning": None if compare.warning is None else str(compare.warning),
        "critical": None if compare.critical is None else str(compare.critical),
        "min_value": compare.min_value,
    }


def _group(trunk_id: str | None, names: Mapping[str, str]) -> dict[str, str]:
    if trunk_id is None:
        return {}
    name = names.get(trunk_id)
    return {"trunk_id": trunk_id} if not name else {"trunk_id": trunk_id, "trunk_name": name}


def status_of(event: str) -> str:
    """The payload ``status``: ``resolved`` for a resolution, ``firing`` for the rest."""
    return "resolved" if event == "resolved" else "firing"


def unit_of(metric: str) -> str:
    """How a metric's values read: ``ms`` for latencies, ``ratio``, ``calls``, or
    ``burn`` (an SLO's burn rate, times the sustainable pace)."""
    if metric == "failed_ratio":
        return "ratio"
    if metric == "call_count":
        return "calls"
    if metric == "burn_rate":
        return "burn"
    return "ms"


def format_value(value: float | None, metric: str) -> str:
    """A value for people: ``1,620 ms``, ``7.5%``, ``3 calls``, ``14.40x``, or ``no data``."""
    if value is None:
        return "no data"
    unit = unit_of(metric)
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    if unit == "calls":
        return f"{value:,.0f} calls"
    if unit == "burn":
        return f"{value:,.2f}x"
    return f"{value:,.0f} ms"


def describe_value(alert: Mapping[str, Any], *, with_threshold: bool = True) -> str:
    """E.g. ``p95 ai_latency_ms 1,620 ms (critical > 1,500 ms) over 5m, 143 calls``."""
    metric = str(alert["metric"])
    stat = f"{alert['stat']} " if alert.get("stat") else ""
    text = f"{stat}{metric} {format_value(alert.get('value'), metric)}"
    if alert.get("value") is None and alert.get("reason"):
        text += f" ({alert['reason']})"
    if with_threshold and alert.get("threshold") is not None:
        text += f" ({alert['severity']} {alert['op']} {format_value(alert['threshold'], metric)})"
    base = alert.get("baseline")
    if isinstance(base, Mapping) and base.get("value") is not None:
        text += f", baseline {format_value(base['value'], metric)} ({base.get('of')})"
    window = alert.get("window_seconds")
    if window is None:
        return f"{text} from the account overview"
    span = format_duration(timedelta(seconds=int(window)))
    return f"{text} over {span}, {alert.get('calls_in_window', 0)} calls"


def _call(call: Call, url: str | None, trunk_name: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": call.id,
        "trunk_id": call.trunk_id,
        "start_time": iso(call.start_time),
        "status": call.status,
        "ai_latency_ms": call.ai_latency_ms,
        "carrier_lag_ms": call.carrier_lag_ms,
        "gateway_processing_ms": call.gateway_processing_ms,
        "url": url,
    }
    if call.direction is not None:
        out["direction"] = call.direction
    if trunk_name:
        out["trunk_name"] = trunk_name
    return out


def iso(time: datetime) -> str:
    """ISO 8601 in UTC with a Z, as every payload writes times."""
    return time.isoformat().replace("+00:00", "Z")


def detail_line(detail: Mapping[str, Any]) -> str:
    """One call's details in plain words (unescaped: each notifier escapes its own way).

    ``call_x: slowest carrier 420 ms · codec G.722 · jitter_spike (42 ms), reconnect``
    """
    parts = []
    segment = detail.get("slowest_segment")
    if isinstance(segment, Mapping) and isinstance(segment.get("latency_ms"), int | float):
        parts.append(f"slowest {segment.get('name')} {segment['latency_ms']:,.0f} ms")
    if detail.get("codec"):
        parts.append(f"codec {detail['codec']}")
    if detail.get("disconnect_reason"):
        parts.append(f"ended {detail['disconnect_reason']}")
    events = [e for e in detail.get("events") or [] if isinstance(e, Mapping)]
    if events:
        parts.append(
            ", ".join(
                str(e.get("kind")) + (f" ({e['detail']})" if e.get("detail") else "")
                for e in events
            )
        )
    return f"{detail.get('id')}: " + (" · ".join(parts) or "no details")
