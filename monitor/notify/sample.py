"""The test alert ``telepath-monitor test-notify`` sends: realistic, and marked as a test
in every field a person or a machine would read."""

from __future__ import annotations

from datetime import datetime

from monitor.config import Links
from monitor.notify.base import Notification
from monitor.notify.document import iso

__all__ = ["TEST_RULE", "sample_notification"]

TEST_RULE = "telepath-monitor-test"


def sample_notification(notifier: str, links: Links, now: datetime) -> Notification:
    """A firing warning for a made-up trunk, with one made-up call."""
    call_id = "test-call-0001"
    url = links.call_url(call_id, "test-trunk")
    alert = {
        "id": f"{TEST_RULE}:test-trunk:{int(now.timestamp())}",
        "event": "firing",
        "rule": TEST_RULE,
        "severity": "warning",
        "summary": "Test notification from telepath-monitor: no action needed",
        "source": "calls",
        "metric": "ai_latency_ms",
        "stat": "p95",
        "value": 1234.0,
        "threshold": 800.0,
        "op": ">",
        "peak_value": 1234.0,
        "window_seconds": 300,
        "group": {"trunk_id": "test-trunk"},
        "started_at": iso(now),
        "resolved_at": None,
        "calls_in_window": 42,
        "offending_calls": [
            {
                "id": call_id,
                "trunk_id": "test-trunk",
                "start_time": iso(now),
                "status": "completed",
                "ai_latency_ms": 1234.0,
                "carrier_lag_ms": 80.0,
                "gateway_processing_ms": 25.0,
                "url": url,
            }
        ],
        "links": {},
        "labels": {"test": "true"},
        "runbook_url": None,
        "reason": None,
    }
    return Notification(
        id=f"msg_test_{notifier}_{int(now.timestamp() * 1000)}",
        notifier=notifier,
        event="firing",
        rule=TEST_RULE,
        alerts=[alert],
        created_at=now,
        test=True,
    )
