"""Webhook, Alertmanager and console senders over httpx.MockTransport."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from monitor.clock import ManualClock
from monitor.config import AlertmanagerNotifier, Links, Rule, WebhookNotifier
from monitor.errors import DeliveryError
from monitor.notify.alertmanager import AlertmanagerSender, FiringAlert
from monitor.notify.base import Notification
from monitor.notify.console import ConsoleSender
from monitor.notify.sample import sample_notification
from monitor.notify.signing import secret_key
from monitor.notify.webhook import WebhookSender

NOW = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
HOOK_URL = "https://hooks.example/secret-path-1234"
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def note(event: str = "firing", **alert: Any) -> Notification:
    base = sample_notification("ops", Links(call="https://dash.example/calls/{call_id}"), NOW)
    doc = {**base.alerts[0], "event": event, **alert}
    return Notification(
        id="msg_abc", notifier="ops", event=event, rule=doc["rule"], alerts=[doc], created_at=NOW
    )


Handler = Callable[[httpx.Request], httpx.Response]


def webhook(handler: Handler, *, at: datetime = NOW, **spec: Any) -> WebhookSender:
    config = WebhookNotifier.model_validate({"type": "webhook", "url": HOOK_URL, **spec})
    return WebhookSender(
        config, ManualClock(at), http=httpx.Client(transport=httpx.MockTransport(handler))
    )


def recording(
    status: int = 200, headers: dict[str, str] | None = None
) -> tuple[list[httpx.Request], Handler]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, headers=headers)

    return seen, handler


def test_webhook_posts_the_version_1_payload():
    """The body is the version 1 payload: status, the alert document, sent_at."""
    seen, handler = recording()
    webhook(handler).send(note())
    body = json.loads(seen[0].content)
    assert body["version"] == "1"
    assert body["status"] == "firing"
    assert body["alert"]["rule"] == "telepath-monitor-test"
    assert body["alert"]["offending_calls"][0]["url"].startswith("https://dash.example/calls/")
    assert body["sent_at"] == NOW.isoformat().replace("+00:00", "Z")
    assert seen[0].headers["content-type"] == "application/json"


def test_resolution_has_status_resolved():
    """A resolved event is status resolved; repeats and escalations stay firing."""
    seen, handler = recording()
    sender = webhook(handler)
    for event in ("resolved", "repeat", "escalated"):
        sender.send(note(event))
    assert [json.loads(r.content)["status"] for r in seen] == ["resolved", "firing", "firing"]


@pytest.mark.parametrize("secret", [WHSEC, WHSEC.rstrip("="), "a plain shared password"])
def test_signature_verifies_with_the_reference_implementation(secret):
    """standardwebhooks (an independent implementation) accepts our signature."""
    seen, handler = recording()
    # Signed now: the reference implementation also checks the timestamp against its clock.
    webhook(handler, at=datetime.now(UTC), secret=secret).send(note())
    request = seen[0]
    key = secret if secret.startswith("whsec_") else secret.encode()
    verified = Webhook(key).verify(request.content, dict(request.headers))
    assert verified["alert"]["rule"] == "telepath-monitor-test"


def test_a_tampered_body_fails_verification():
    """The signature covers the body: changing one byte is detected."""
    seen, handler = recording()
    webhook(handler, at=datetime.now(UTC), secret=WHSEC).send(note())
    request = seen[0]
    Webhook(WHSEC).verify(request.content, dict(request.headers))
    with pytest.raises(WebhookVerificationError, match="signature"):
        Webhook(WHSEC).verify(request.content.replace(b"1234", b"1235"), dict(request.headers))


def test_webhook_id_is_the_notification_id_on_every_attempt():
    """Two attempts of one notification carry the same webhook-id, signed or not."""
    seen, handler = recording()
    sender = webhook(handler)
    sender.send(note())
    sender.send(note())
    assert [r.headers["webhook-id"] for r in seen] == ["msg_abc", "msg_abc"]
    assert "webhook-signature" not in seen[0].headers


def test_custom_headers_are_sent():
    """headers: from the config go with every delivery."""
    seen, handler = recording()
    webhook(handler, headers={"Authorization": "Bearer t0ken-value"}).send(note())
    assert seen[0].headers["authorization"] == "Bearer t0ken-value"


@pytest.mark.parametrize(
    ("status", "headers", "transient", "retry_after"),
    [
        (408, {}, True, None),
        (429, {"Retry-After": "17"}, True, 17.0),
        (500, {}, True, None),
        (503, {"Retry-After": "5"}, True, 5.0),
        (400, {}, False, None),
        (404, {}, False, None),
        (410, {}, False, None),
        (301, {"Location": "https://elsewhere.example/"}, False, None),
    ],
)
def test_answers_are_classified(status, headers, transient, retry_after):
    """408, 429 and 5xx are retried (after Retry-After), other answers are permanent."""
    _, handler = recording(status, headers)
    with pytest.raises(DeliveryError) as caught:
        webhook(handler).send(note())
    assert caught.value.transient is transient
    assert caught.value.retry_after == retry_after
    assert HOOK_URL not in str(caught.value)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_delivered(status):
    """A 2xx of any kind counts as delivered: one POST reached the URL and nothing raised."""
    seen, handler = recording(status)
    webhook(handler).send(note())
    assert [(r.method, str(r.url)) for r in seen] == [("POST", HOOK_URL)]
    assert json.loads(seen[0].content)["alert"]["rule"] == "telepath-monitor-test"


@pytest.mark.parametrize(
    ("error", "text"),
    [(httpx.ConnectTimeout("x"), "timed out"), (httpx.ConnectError("x"), "connection failed")],
)
def test_network_failures_are_transient_and_name_no_url(error, text):
    """Timeouts and refused connections are retried; the message holds no URL."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(DeliveryError) as caught:
        webhook(handler).send(note())
    assert caught.value.transient
    assert text in str(caught.value)
    assert "hooks.example" not in str(caught.value)


def test_a_malformed_whsec_secret_is_refused():
    """A whsec_ secret that is not base64 is a config error, not a bad signature later."""
    with pytest.raises(ValueError, match="base64"):
        secret_key("whsec_not*base64!")
    with pytest.raises(ValueError, match="base64"):
        WebhookNotifier.model_validate({"type": "webhook", "url": HOOK_URL, "secret": "whsec_%%"})


# --- Alertmanager ------------------------------------------------------------------------


def alertmanager(handler: Handler) -> AlertmanagerSender:
    spec = AlertmanagerNotifier.model_validate({"type": "alertmanager", "url": "http://am:9093/"})
    clock = ManualClock(NOW)
    return AlertmanagerSender(
        spec, clock, http=httpx.Client(transport=httpx.MockTransport(handler))
    )


def posted(seen: list[httpx.Request]) -> list[dict[str, Any]]:
    assert [r.url.path for r in seen] == ["/api/v2/alerts"] * len(seen)
    return [alert for r in seen for alert in json.loads(r.content)]


def test_alertmanager_gets_labels_annotations_and_starts_at():
    """A firing alert: alertname, severity, trunk_id and rule labels; summary and value."""
    seen, handler = recording()
    alertmanager(handler).send(note(labels={"team": "voice", "alertname": "spoofed"}))
    (alert,) = posted(seen)
    assert alert["labels"] == {
        "alertname": "telepath-monitor-test",
        "severity": "warning",
        "trunk_id": "test-trunk",
        "team": "voice",
    }
    assert alert["annotations"]["summary"].startswith("Test notification")
    assert alert["annotations"]["value"] == "1234"
    assert alert["annotations"]["threshold"] == "800"
    assert "test-call-0001" in alert["annotations"]["worst_calls"]
    assert alert["startsAt"] == NOW.isoformat().replace("+00:00", "Z")
    assert "endsAt" not in alert
    assert alert["generatorURL"].startswith("https://dash.example/calls/")


def test_alertmanager_resolution_sets_ends_at():
    """A resolution posts the same labels with endsAt = resolved_at."""
    seen, handler = recording()
    resolved_at = (NOW + timedelta(minutes=5)).isoformat()
    alertmanager(handler).send(note("resolved", resolved_at=resolved_at))
    (alert,) = posted(seen)
    assert alert["endsAt"] == resolved_at


def test_alertmanager_escalation_ends_the_old_severity():
    """Severity is a label: escalating ends the warning alert and starts the critical one."""
    seen, handler = recording()
    alertmanager(handler).send(note("escalated", severity="critical"))
    old, new = posted(seen)
    assert (old["labels"]["severity"], "endsAt" in old) == ("warning", True)
    assert (new["labels"]["severity"], "endsAt" in new) == ("critical", False)


def test_alertmanager_refresh_reposts_firing_alerts():
    """refresh() re-posts every still-firing alert without endsAt; nothing to post, no request."""
    seen, handler = recording()
    sender = alertmanager(handler)
    rule = Rule.model_validate(
        {"name": "lat", "metric": "ai_latency_ms", "warning": 500, "labels": {"team": "voice"}}
    )
    assert sender.refresh([]) == 0
    assert seen == []
    firing = FiringAlert(rule, "t1", "warning", "lat:t1:1", NOW, 900.0)
    assert sender.refresh([firing]) == 1
    (alert,) = posted(seen)
    assert alert["labels"] == {
        "alertname": "lat",
        "severity": "warning",
        "trunk_id": "t1",
        "team": "voice",
    }
    assert alert["annotations"]["threshold"] == "500"
    assert "endsAt" not in alert


def test_alertmanager_errors_are_classified_like_webhooks():
    """A 400 from Alertmanager is permanent, a 503 transient."""
    for status, transient in ((400, False), (503, True)):
        _, handler = recording(status)
        with pytest.raises(DeliveryError) as caught:
            alertmanager(handler).send(note())
        assert caught.value.transient is transient


# --- console ---------------------------------------------------------------------------


def test_console_prints_one_block_per_alert():
    """The console notifier prints each alert with its value, threshold and worst calls."""
    out = io.StringIO()
    notification = note()
    second = {**notification.alerts[0], "group": {"trunk_id": "other-trunk"}}
    ConsoleSender(out).send(
        Notification(**{**notification.__dict__, "alerts": [notification.alerts[0], second]})
    )
    text = out.getvalue()
    assert text.count("FIRING warning") == 2
    assert "trunk test-trunk" in text
    assert "trunk other-trunk" in text
    assert "p95 ai_latency_ms 1,234 ms (warning > 800 ms) over 5m, 42 calls" in text
    assert "test-call-0001" in text
    assert "\033[" not in text  # not a terminal: no colour codes


def test_console_resolution_shows_peak():
    """A resolution block shows the value at resolution and the peak."""
    out = io.StringIO()
    ConsoleSender(out).send(note("resolved", value=400.0, peak_value=2100.0))
    text = out.getvalue()
    assert "RESOLVED" in text
    assert "now p95 ai_latency_ms 400 ms over 5m" in text
    assert "peak while firing: 2,100 ms" in text
    assert "test-call-0001" not in text
