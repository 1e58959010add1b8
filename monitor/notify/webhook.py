"""Generic JSON webhooks: payload version 1, signed the Standard Webhooks way
(:mod:`monitor.notify.signing`) when a secret is set.

``webhook-id`` is the outbox entry's id: the same on every retry of one notification,
so receivers can drop duplicates; it is sent even without a secret, with
``webhook-timestamp``. Any 2xx is delivered; 408, 429 and 5xx are retried (after
``Retry-After`` when given); other answers, including redirects, are permanent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx

from monitor import __version__
from monitor.clock import Clock
from monitor.config import WebhookNotifier
from monitor.errors import DeliveryError
from monitor.notify.base import Notification
from monitor.notify.document import status_of
from monitor.notify.signing import secret_key, sign
from monitor.telepath.ratelimit import rate_limit_wait

__all__ = ["WebhookSender", "classify_response", "payload", "transport_error"]

USER_AGENT = f"telepath-monitor/{__version__}"


def payload(notification: Notification, sent_at: str) -> dict[str, Any]:
    """The version 1 JSON body for a one-alert notification."""
    if notification.event == "report":
        from monitor.reports.deliver import webhook_payload

        return webhook_payload(notification, sent_at)
    alert = dict(notification.alerts[0])
    body: dict[str, Any] = {
        "version": "1",
        "status": status_of(notification.event),
        "event": notification.event,
        "alert": alert,
        "sent_at": sent_at,
    }
    if notification.test:
        body["test"] = True
    return body


def classify_response(response: httpx.Response, now_epoch: float) -> None:
    """Return for 2xx; raise DeliveryError saying whether a retry may help."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if status in (408, 429) or status >= 500:
        wait = rate_limit_wait(response.headers, now_epoch=now_epoch)
        raise DeliveryError(f"HTTP {status}", transient=True, retry_after=wait)
    hint = " (redirects are not followed)" if 300 <= status < 400 else ""
    raise DeliveryError(f"HTTP {status}{hint}", transient=False)


def transport_error(exc: httpx.HTTPError) -> DeliveryError:
    """A network failure as a transient DeliveryError whose message holds no URL."""
    if isinstance(exc, httpx.TimeoutException):
        return DeliveryError("timed out", transient=True)
    return DeliveryError(f"connection failed ({type(exc).__name__})", transient=True)


class WebhookSender:
    """POSTs one alert per notification to the configured URL."""

    groups = False

    def __init__(
        self, spec: WebhookNotifier, clock: Clock, *, http: httpx.Client | None = None
    ) -> None:
        self._url = spec.url.get_secret_value()
        self._key = None if spec.secret is None else secret_key(spec.secret.get_secret_value())
        self._headers: Mapping[str, str] = dict(spec.headers)
        self._clock = clock
        self._http = http or httpx.Client(timeout=_seconds(spec.timeout))

    def send(self, notification: Notification) -> None:
        now = self._clock.now()
        body = json.dumps(
            payload(notification, now.isoformat().replace("+00:00", "Z")),
            separators=(",", ":"),
        ).encode()
        timestamp = int(now.timestamp())
        headers = {
            **self._headers,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": notification.id,
            "webhook-timestamp": str(timestamp),
        }
        if self._key is not None:
            headers["webhook-signature"] = sign(self._key, notification.id, timestamp, body)
        try:
            response = self._http.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise transport_error(exc) from None
        classify_response(response, now.timestamp())

    def close(self) -> None:
        self._http.close()


def _seconds(value: timedelta) -> float:
    return value.total_seconds()
