"""Prometheus Alertmanager: alerts posted to ``/api/v2/alerts``.

An alert's identity in Alertmanager is its label set: ``alertname`` (the rule),
``severity``, ``trunk_id`` for per-trunk alerts, and the rule's own labels (which cannot
override those three). Because severity is a label, an escalation ends the alert at
the old severity and starts one at the new. A trunk's name (from ``GET /trunks``) is
the ``trunk_name`` annotation, and is in the summary, not a label: renaming a trunk must
not end its alerts and start new ones. Attribution and call details are annotations too,
and every re-post carries them, since Alertmanager keeps only the latest annotations.
Alertmanager expires an alert that is not
re-posted within its ``resolve_timeout`` (5 minutes by default), so firing alerts are
re-posted every ``resend_every`` (:meth:`AlertmanagerSender.refresh`); a resolution
posts the alert with ``endsAt`` set.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from monitor.attribution import Attribution
from monitor.clock import Clock
from monitor.config import AlertmanagerNotifier, Rule
from monitor.notify.base import Notification
from monitor.notify.document import detail_line, iso
from monitor.notify.webhook import USER_AGENT, classify_response, transport_error
from monitor.trunks import trunk_label

__all__ = ["AlertmanagerSender", "FiringAlert", "am_alert"]

log = logging.getLogger(__name__)

RESERVED_LABELS = ("alertname", "severity", "trunk_id")


def am_alert(
    document: Mapping[str, Any], *, severity: str, ends_at: str | None = None
) -> dict[str, Any]:
    """One Alertmanager alert from an alert document."""
    labels = {
        k: str(v) for k, v in (document.get("labels") or {}).items() if k not in RESERVED_LABELS
    }
    labels.update(alertname=str(document["rule"]), severity=severity)
    group = document.get("group") or {}
    trunk = group.get("trunk_id")
    if trunk is not None:
        labels["trunk_id"] = str(trunk)
    summary = str(document.get("summary") or document["rule"])
    if group.get("trunk_name"):
        summary += f" ({trunk_label(str(trunk), str(group['trunk_name']))})"
    annotations = {
        "summary": summary,
        "trunk_name": str(group.get("trunk_name") or ""),
        "value": _number(document.get("value")),
        "threshold": _number(document.get("threshold")),
        "alert_id": str(document["id"]),
    }
    calls = document.get("offending_calls") or []
    if calls:
        annotations["worst_calls"] = "\n".join(
            f"{c['id']} {c.get('url') or ''}".strip() for c in calls
        )
    if document.get("peak_value") is not None:
        annotations["peak_value"] = _number(document["peak_value"])
    if document.get("runbook_url"):
        annotations["runbook_url"] = str(document["runbook_url"])
    attribution = document.get("attribution")
    if isinstance(attribution, Mapping) and attribution.get("headline"):
        annotations["attribution"] = str(attribution["headline"])
    details = document.get("call_details") or []
    if details:
        annotations["call_details"] = "\n".join(detail_line(d) for d in details)
    out: dict[str, Any] = {
        "labels": labels,
        "annotations": {k: v for k, v in annotations.items() if v},
        "startsAt": document["started_at"],
    }
    links = document.get("links") or {}
    generator = links.get("trunk") or next((c.get("url") for c in calls if c.get("url")), None)
    if generator:
        out["generatorURL"] = generator
    if ends_at is not None:
        out["endsAt"] = ends_at
    return out


def _group(trunk_id: str | None, name: str | None) -> dict[str, str]:
    if trunk_id is None:
        return {}
    return {"trunk_id": trunk_id, "trunk_name": name} if name else {"trunk_id": trunk_id}


def _number(value: object) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class FiringAlert:
    """What a refresh re-posts for an alert that is still firing (from its state)."""

    rule: Rule
    group: str | None
    severity: str
    alert_id: str
    started_at: datetime
    value: float | None
    trunk_name: str | None = None
    attribution: Attribution | None = None
    call_details: tuple[Mapping[str, Any], ...] = ()


class AlertmanagerSender:
    """Posts alerts to one Alertmanager (or a load balancer in front of a cluster)."""

    groups = False

    def __init__(
        self, spec: AlertmanagerNotifier, clock: Clock, *, http: httpx.Client | None = None
    ) -> None:
        self._url = spec.url.rstrip("/") + "/api/v2/alerts"
        self._headers = {**spec.headers, "user-agent": USER_AGENT}
        self._clock = clock
        self._http = http or httpx.Client(timeout=spec.timeout.total_seconds())
        self.resend_every = spec.resend_every

    def send(self, notification: Notification) -> None:
        self._post(list(self._alerts(notification)))

    def _alerts(self, notification: Notification) -> Iterable[dict[str, Any]]:
        for doc in notification.alerts:
            severity = str(doc["severity"])
            if notification.event == "resolved":
                ends = doc.get("resolved_at") or iso(self._clock.now())
                yield am_alert(doc, severity=severity, ends_at=ends)
                continue
            if notification.event in ("escalated", "deescalated"):
                old = "warning" if severity == "critical" else "critical"
                yield am_alert(doc, severity=old, ends_at=iso(self._clock.now()))
            yield am_alert(doc, severity=severity)

    def refresh(self, firing: Iterable[FiringAlert]) -> int:
        """Re-post alerts still firing so Alertmanager keeps them; returns how many.

        Raises:
            DeliveryError: Alertmanager could not be reached or refused them.
        """
        alerts = [
            am_alert(
                {
                    "id": f.alert_id,
                    "rule": f.rule.name,
                    "summary": f.rule.summary,
                    "labels": f.rule.labels,
                    "group": _group(f.group, f.trunk_name),
                    "value": f.value,
                    "threshold": f.rule.critical if f.severity == "critical" else f.rule.warning,
                    "runbook_url": f.rule.runbook_url,
                    "started_at": iso(f.started_at),
                    "attribution": None if f.attribution is None else f.attribution.to_dict(),
                    "call_details": list(f.call_details),
                },
                severity=f.severity,
            )
            for f in firing
        ]
        if alerts:
            self._post(alerts)
        return len(alerts)

    def _post(self, alerts: list[dict[str, Any]]) -> None:
        body = json.dumps(alerts).encode()
        headers = {**self._headers, "content-type": "application/json"}
        try:
            response = self._http.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise transport_error(exc) from None
        classify_response(response, self._clock.now().timestamp())

    def close(self) -> None:
        self._http.close()
