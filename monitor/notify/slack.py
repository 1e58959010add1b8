"""Slack through slack-sdk: incoming-webhook mode and bot-token mode.

Webhook mode (``webhook_url``) posts each notification as one message. Bot-token mode
(``token`` + ``channel``) posts firing messages with ``chat.postMessage`` and remembers
where each alert's message went (in the state DB, so it survives restarts); what
follows for that alert is posted in the message's thread (an escalation or a repeat
also to the channel), and a resolution updates the original message so the channel
shows at a glance what is still open.

slack-sdk's own retries are switched off: the outbox retries, with backoff and
``Retry-After``, and decides what is permanent. Its logger is quietened too, because
at debug level it prints request URLs and headers, which carry the webhook URL and
the token.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http.client import HTTPException
from typing import Any, Final

from slack_sdk.errors import SlackApiError
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from monitor.clock import Clock
from monitor.config import SlackNotifier
from monitor.errors import DeliveryError
from monitor.notify.base import Notification
from monitor.notify.slack_format import render, render_resolved_original
from monitor.store import SlackThread, StateStore
from monitor.telepath.ratelimit import rate_limit_wait

__all__ = ["SlackBotSender", "SlackWebhookSender", "slack_sender"]

log = logging.getLogger(__name__)

_SDK_LOG = logging.getLogger("monitor.notify.slack.sdk")
_SDK_LOG.setLevel(logging.CRITICAL)

#: Web API errors worth retrying; every other error is permanent (invalid_auth,
#: channel_not_found, not_in_channel, invalid_blocks, msg_too_long...).
TRANSIENT_ERRORS: Final = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
#: Events that also show in the channel when posted in a thread.
BROADCAST: Final = frozenset({"escalated", "repeat"})


def slack_sender(
    name: str, spec: SlackNotifier, clock: Clock, store: StateStore | None
) -> SlackWebhookSender | SlackBotSender:
    """The sender for a Slack notifier's mode.

    Args:
        name: the notifier's name (threads are remembered per notifier).
        spec: its config.
        clock: for Retry-After dates.
        store: where bot-token mode remembers threads; None: no threading (test-notify).
    """
    timeout = max(1, round(spec.timeout.total_seconds()))
    if spec.webhook_url is not None:
        client = WebhookClient(
            spec.webhook_url.get_secret_value(), timeout=timeout, logger=_SDK_LOG, retry_handlers=[]
        )
        return SlackWebhookSender(client, spec.username, clock)
    if spec.token is None or spec.channel is None:
        raise ValueError("slack needs webhook_url, or both token and channel")
    web = WebClient(
        token=spec.token.get_secret_value(),
        base_url=spec.api_url,
        timeout=timeout,
        logger=_SDK_LOG,
        retry_handlers=[],
    )
    return SlackBotSender(name, web, spec.channel, spec.username, clock, store)


def _message(
    event: str, alerts: Sequence[Mapping[str, Any]], test: bool, username: str | None
) -> dict[str, Any]:
    if event == "report":
        from monitor.reports.deliver import slack_message

        message = slack_message(alerts)
    else:
        message = render(event, alerts, test=test)
    message.update(unfurl_links=False, unfurl_media=False)
    if username:
        message["username"] = username
    return message


class SlackWebhookSender:
    """Incoming-webhook mode: one message per notification."""

    groups = True

    def __init__(self, client: WebhookClient, username: str | None, clock: Clock) -> None:
        self._client = client
        self._username = username
        self._clock = clock

    def send(self, notification: Notification) -> None:
        message = _message(
            notification.event, notification.alerts, notification.test, self._username
        )
        try:
            response = self._client.send_dict(message)
        except _NETWORK_ERRORS as exc:
            raise _network_error(exc) from None
        status, body = response.status_code, (response.body or "").strip()
        if status == 200:
            return
        reason = f"HTTP {status}" + (f" {body[:100]}" if body else "")
        if status in (408, 429) or status >= 500:
            wait = _retry_after(response.headers, self._clock)
            raise DeliveryError(reason, transient=True, retry_after=wait)
        raise DeliveryError(reason, transient=False)

    def close(self) -> None:
        """slack-sdk opens a connection per request; nothing is held."""


class SlackBotSender:
    """Bot-token mode: firing messages remembered, what follows threaded under them."""

    groups = True

    def __init__(
        self,
        name: str,
        web: WebClient,
        channel: str,
        username: str | None,
        clock: Clock,
        store: StateStore | None,
    ) -> None:
        self._name = name
        self._web = web
        self._channel = channel
        self._username = username
        self._clock = clock
        self._store = store

    def send(self, notification: Notification) -> None:
        event, alerts = notification.event, notification.alerts
        store = self._store
        if event in ("firing", "report") or store is None or notification.test:
            self._post_top(notification, alerts)
            return
        groups: dict[SlackThread | None, list[Mapping[str, Any]]] = {}
        for alert in alerts:
            groups.setdefault(store.slack_thread(self._name, str(alert["id"])), []).append(alert)
        for thread, members in groups.items():
            if thread is None:  # its firing message is unknown (sent before threading)
                self._post_top(notification, members)
                continue
            self._call(
                "chat_postMessage",
                channel=thread.channel,
                thread_ts=thread.ts,
                reply_broadcast=event in BROADCAST,
                **_message(event, members, False, self._username),
            )
            if event == "resolved":
                self._mark_resolved(store, thread, members)

    def _post_top(self, notification: Notification, alerts: Sequence[Mapping[str, Any]]) -> None:
        message = _message(notification.event, alerts, notification.test, self._username)
        response = self._call("chat_postMessage", channel=self._channel, **message)
        if self._store is not None and not notification.test and notification.event == "firing":
            channel, ts = response.get("channel"), response.get("ts")
            if not isinstance(channel, str) or not isinstance(ts, str):
                # Posted, but nothing to thread under: what follows goes to the channel.
                log.warning("Slack accepted the message but named no channel and ts")
                return
            self._store.save_slack_message(self._name, SlackThread(channel, ts), alerts)

    def _mark_resolved(
        self, store: StateStore, thread: SlackThread, alerts: Sequence[Mapping[str, Any]]
    ) -> None:
        found = store.resolve_in_slack_message(self._name, thread, [str(a["id"]) for a in alerts])
        if found is None:
            return
        original, resolved = found
        try:
            self._call(
                "chat_update",
                channel=thread.channel,
                ts=thread.ts,
                **render_resolved_original(original, resolved),
            )
        except DeliveryError as exc:
            # The resolution itself is in the thread; a stale original is cosmetic, and
            # retrying the whole notification would post the reply twice.
            log.warning("could not mark the original Slack message resolved: %s", exc)

    def _call(self, method: str, **kwargs: Any) -> Mapping[str, Any]:
        try:
            response = getattr(self._web, method)(**kwargs)
        except SlackApiError as exc:
            raise _api_error(exc, self._clock) from None
        except _NETWORK_ERRORS as exc:
            raise _network_error(exc) from None
        except (AttributeError, TypeError):
            # slack-sdk reads any JSON body as an object (``data.get``); a bare number or
            # list fails inside it (found by fuzzing). Not an answer Slack gives.
            raise DeliveryError("unreadable reply (not a JSON object)", transient=True) from None
        data = response.data
        return data if isinstance(data, dict) else {}

    def close(self) -> None:
        """slack-sdk opens a connection per request; nothing is held."""


def _api_error(exc: SlackApiError, clock: Clock) -> DeliveryError:
    response = exc.response
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or "unknown_error")
    status = response.status_code
    if status == 429 or status >= 500 or error in TRANSIENT_ERRORS:
        wait = _retry_after(response.headers, clock)
        return DeliveryError(f"Slack API {error}", transient=True, retry_after=wait)
    return DeliveryError(f"Slack API {error}", transient=False)


def _retry_after(headers: Mapping[str, Any] | None, clock: Clock) -> float | None:
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    return rate_limit_wait(lowered, now_epoch=clock.now().timestamp())


#: What slack-sdk's urllib transport raises when the network fails (URLError and
#: timeouts are OSErrors; a truncated response is an HTTPException), or when the
#: reply is not UTF-8 (it decodes every body before looking at it; found by fuzzing).
_NETWORK_ERRORS: Final = (OSError, HTTPException, UnicodeDecodeError)


def _network_error(exc: Exception) -> DeliveryError:
    # urllib's messages can name the host; the type is enough to act on.
    if isinstance(exc, UnicodeDecodeError):
        return DeliveryError("unreadable reply (not UTF-8)", transient=True)
    kind = "timed out" if "timed out" in str(exc).lower() else "connection failed"
    return DeliveryError(f"{kind} ({type(exc).__name__})", transient=True)
