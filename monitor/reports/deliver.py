"""Scheduled reports as outbox notifications, and how each notifier shows one.

A report travels as a :class:`~monitor.notify.base.Notification` with ``event="report"``
and one document (JSON-safe, as the outbox stores it)::

    {"type": "report", "id", "name", "every", "timezone", "start", "end",
     "covered": true|false, "missing": [{"start", "end"}], "report": {figures}|null}

``covered`` false means the daemon did not read every call of the period: no figures
are sent, only what is missing. The notification id is derived from (notifier, report
name, period start), so queueing the same period again is a no-op, like the alerts'.

Renderers: :func:`webhook_payload` (``type: report``, signed by the webhook sender like
alerts), :func:`slack_message` (Block Kit: a header, the headline figures as a
two-column table of fields, busiest and worst trunks as a monospaced table, with a
plain-text fallback), :func:`console_text`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from monitor.config.reporting import ReportSpec
from monitor.notify.base import Notification
from monitor.notify.slack_format import escape
from monitor.reports.figures import ReportFigures, to_json
from monitor.reports.words import SHORT, change, ms, share, span_text

__all__ = [
    "EVENT",
    "console_text",
    "report_document",
    "report_notifications",
    "slack_message",
    "webhook_payload",
]

EVENT: Final = "report"


def report_document(
    spec: ReportSpec,
    start: datetime,
    end: datetime,
    figures: ReportFigures | None,
    missing: Sequence[tuple[datetime, datetime]] = (),
) -> dict[str, Any]:
    return {
        "type": "report",
        "id": f"report:{spec.name}:{_iso(start)}",
        "name": spec.name,
        "every": spec.every,
        "timezone": spec.timezone,
        "start": _iso(start),
        "end": _iso(end),
        "covered": figures is not None,
        "missing": [{"start": _iso(a), "end": _iso(b)} for a, b in missing],
        "report": None if figures is None else _compact(to_json(figures)),
    }


def _compact(report: dict[str, Any]) -> dict[str, Any]:
    # The series is for charts; a message does not need hundreds of points.
    return {k: v for k, v in report.items() if k != "series"}


def report_notifications(
    spec: ReportSpec, start: datetime, document: Mapping[str, Any], now: datetime
) -> list[Notification]:
    out = []
    for notifier in spec.notify:
        key = "\x1f".join(("report", notifier, spec.name, _iso(start)))
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        out.append(
            Notification(
                id=f"rpt_{digest}",
                notifier=notifier,
                event=EVENT,
                rule=spec.name,
                alerts=[dict(document)],
                created_at=now,
            )
        )
    return out


def webhook_payload(notification: Notification, sent_at: str) -> dict[str, Any]:
    return {
        "version": "1",
        "type": "report",
        "report": dict(notification.alerts[0]),
        "sent_at": sent_at,
    }


def _title(doc: Mapping[str, Any]) -> str:
    return f"Telepath {doc['every']} report {doc['name']}: {_period(doc)}"


def _period(doc: Mapping[str, Any]) -> str:
    return f"{doc['start']} to {doc['end']}"


def _missing_text(doc: Mapping[str, Any]) -> str:
    gaps = ", ".join(f"{g['start']} to {g['end']}" for g in doc.get("missing") or [])
    return (
        "No report: the monitor did not read every call of this period "
        f"(missing: {gaps or 'unknown'}), so its figures would be wrong."
    )


def _rows(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(figure, value with change) for the headline figures."""
    r = doc["report"]
    t, p = r["totals"], r.get("previous")

    def was(key: str) -> Any:
        return None if p is None else p.get(key)

    def with_change(text: str, now: Any, before: Any, points: bool = False) -> str:
        delta = change(now, before, points=points)
        return f"{text} ({delta})" if delta else text

    connected, failed, ai = t["connected_share"], t["failed_share"], t["avg_ai_latency_ms"]
    rows = [
        ("Calls", with_change(f"{t['calls']:,}", t["calls"], was("calls"))),
        ("Connected", with_change(share(connected), connected, was("connected_share"), True)),
        ("Failed", with_change(share(failed), failed, was("failed_share"), True)),
        ("Duration", f"{t['duration_hours']:,.1f} h"),
        ("Avg AI latency", with_change(ms(ai), ai, was("avg_ai_latency_ms"))),
    ]
    for metric, stats in t["latency"].items():
        before = None if p is None else p["latency"][metric]["p95"]
        rows.append((f"p95 {SHORT[metric]}", with_change(ms(stats["p95"]), stats["p95"], before)))
    return rows


def _trunk_table(doc: Mapping[str, Any]) -> str:
    r = doc["report"]
    lines = [f"{'trunk':<24} {'calls':>8} {'failed':>7} {'p95 AI':>9} {'p95 total':>10}"]
    shown: list[str] = []
    for group in ("busiest", "worst"):
        for trunk in r[group]:
            if trunk in shown:
                continue
            shown.append(trunk)
            t = r["trunks"][trunk]
            ai, total = (
                t["latency"]["ai_latency_ms"]["p95"],
                t["latency"]["total_latency_ms"]["p95"],
            )
            failed = "—" if t["failed_share"] is None else f"{t['failed_share'] * 100:.1f}%"
            lines.append(
                f"{trunk[:24]:<24} {t['calls']:>8,} {failed:>7} "
                f"{'—' if ai is None else f'{ai:,.0f}':>9} "
                f"{'—' if total is None else f'{total:,.0f}':>10}"
            )
    return "\n".join(lines)


def _alerts_text(doc: Mapping[str, Any]) -> str:
    alerts = doc["report"].get("alerts")
    if alerts is None:
        return "Alerts: not known"
    return f"Alerts: {alerts['fired']} fired, {span_text(alerts['firing_seconds'])} spent firing"


def slack_message(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The Block Kit message of a report notification (its one document)."""
    doc = documents[0]
    title = _title(doc)
    if not doc.get("covered"):
        text = _missing_text(doc)
        return {
            "text": f"{title}. {text}",
            "blocks": [_header(title), _section(escape(text))],
        }
    rows = _rows(doc)
    fields = [
        {"type": "mrkdwn", "text": f"*{escape(k)}*\n{escape(v)}", "verbatim": True}
        for k, v in rows[:10]
    ]
    blocks = [
        _header(title),
        {"type": "section", "fields": fields},
        _section("*Busiest and worst trunks*\n```" + escape(_trunk_table(doc)) + "```"),
        _section(escape(_alerts_text(doc))),
    ]
    fallback = f"{title}. " + "; ".join(f"{k} {v}" for k, v in rows[:5])
    return {"text": fallback, "blocks": blocks}


def console_text(documents: Sequence[Mapping[str, Any]]) -> str:
    doc = documents[0]
    lines = [f"REPORT  {_title(doc)}"]
    if not doc.get("covered"):
        lines.append(f"  {_missing_text(doc)}")
        return "\n".join(lines) + "\n\n"
    lines += [f"  {k:<16} {v}" for k, v in _rows(doc)]
    lines += ["  " + line for line in _trunk_table(doc).splitlines()]
    lines.append(f"  {_alerts_text(doc)}")
    return "\n".join(lines) + "\n\n"


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000], "verbatim": True}}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
