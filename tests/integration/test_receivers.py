"""The loopback test doubles themselves: the webhook and Slack receivers over real HTTP
(with the real slack_sdk clients), and a real Alertmanager process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from tests.support.alertmanager import AlertmanagerProcess
from tests.support.receivers import (
    SlackReceiver,
    SlackRejection,
    WebhookReceiver,
    block_kit_problems,
)

pytestmark = pytest.mark.integration

TOKEN = "xoxb-test-token"
SHORT = 0.05  # seconds a wait may take when it is expected to time out


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def header(text: str, kind: str = "plain_text") -> dict[str, Any]:
    return {"type": "header", "text": {"type": kind, "text": text}}


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        yield client


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk sends even loopback traffic through HTTP(S)_PROXY, ignoring NO_PROXY."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def web_client(slack: SlackReceiver, no_proxy_env: None) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.api_url, timeout=5)


# -- WebhookReceiver ---------------------------------------------------------------------------


def test_webhook_receiver_records_each_request(
    webhook: WebhookReceiver, http: httpx.Client
) -> None:
    """Method, path, lower-cased headers and body are recorded; the answer is 200 ok."""
    response = http.post(
        f"{webhook.url}/hooks/a?x=1", json={"status": "firing"}, headers={"Webhook-Id": "msg_1"}
    )

    (received,) = webhook.wait_for(1)
    assert (response.status_code, response.text) == (200, "ok")
    assert (received.method, received.path) == ("POST", "/hooks/a?x=1")
    assert received.headers["webhook-id"] == "msg_1"
    assert received.headers["content-type"] == "application/json"
    assert received.json() == {"status": "firing"}


def test_webhook_receiver_reads_chunked_bodies(
    webhook: WebhookReceiver, http: httpx.Client
) -> None:
    """A body sent with chunked transfer encoding is recorded whole."""
    http.post(webhook.url, content=iter([b'{"a":', b" 1}"]))

    (received,) = webhook.wait_for(1)
    assert received.headers["transfer-encoding"] == "chunked"
    assert received.json() == {"a": 1}


def test_webhook_receiver_answers_from_its_script_in_order(
    webhook: WebhookReceiver, http: httpx.Client
) -> None:
    """Scripted replies are used in order, each ``times`` times, then 200 ok again."""
    webhook.respond(503, b"down", times=2)
    webhook.respond(410, "gone", headers={"X-Reason": "test"})

    answers = [http.post(webhook.url, content=b"{}") for _ in range(4)]

    assert [(r.status_code, r.text) for r in answers] == [
        (503, "down"),
        (503, "down"),
        (410, "gone"),
        (200, "ok"),
    ]
    assert answers[2].headers["x-reason"] == "test"
    assert len(webhook.requests) == 4


def test_webhook_receiver_wait_for_times_out_clearly(webhook: WebhookReceiver) -> None:
    """Waiting for more requests than arrive raises TimeoutError saying what was seen."""
    with pytest.raises(TimeoutError, match=r"no 1 request\(s\) within 0.05s; 0 request"):
        webhook.wait_for(1, timeout=SHORT)


def test_webhook_receiver_goes_down_and_comes_back_on_the_same_port(
    webhook: WebhookReceiver, http: httpx.Client
) -> None:
    """After stop() the port refuses connections; start() serves the same URL again."""
    url = webhook.url
    http.post(url, content=b"before")
    webhook.stop()

    with pytest.raises(httpx.ConnectError):
        http.post(url, content=b"during")
    webhook.start()
    response = http.post(url, content=b"after")

    assert webhook.url == url
    assert response.status_code == 200
    assert [r.body for r in webhook.requests] == [b"before", b"after"]


def test_webhook_receiver_stops_when_its_context_ends(http: httpx.Client) -> None:
    """Leaving the ``with`` block closes the port."""
    with WebhookReceiver() as receiver:
        url = receiver.url
        http.get(url)

    assert not receiver.running
    with pytest.raises(httpx.ConnectError):
        http.get(url)


# -- SlackReceiver: incoming webhooks ---------------------------------------------------------


def test_slack_webhook_post_becomes_a_message(slack: SlackReceiver, http: httpx.Client) -> None:
    """A valid webhook post is answered 200 ok and shows as a top-level message."""
    blocks = [header("AI latency"), section("p95 *1800 ms*")]

    response = http.post(slack.webhook_url, json={"text": "AI latency", "blocks": blocks})

    (message,) = slack.wait_for_messages(1)
    assert (response.status_code, response.text) == (200, "ok")
    assert slack.webhook_url.endswith("/services/T000/B000/XXXX")
    assert (message.source, message.channel, message.text) == ("webhook", "C0VOICE01", "AI latency")
    assert message.blocks == blocks
    assert slack.message(message.ts) == message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"text=hello", "invalid_payload", id="not-json"),
        pytest.param(b'["text"]', "invalid_payload", id="not-an-object"),
        pytest.param(b"{}", "no_text", id="no-text-no-blocks"),
        pytest.param(b'{"text": "  "}', "no_text", id="blank-text"),
        pytest.param(
            {"text": "t", "blocks": [section("x")] * 51}, "invalid_blocks", id="51-blocks"
        ),
        pytest.param({"blocks": [section("x" * 3001)]}, "invalid_blocks", id="section-3001"),
        pytest.param({"blocks": [section("")]}, "invalid_blocks", id="section-empty"),
        pytest.param({"blocks": [header("h" * 151)]}, "invalid_blocks", id="header-151"),
        pytest.param({"blocks": [header("h", "mrkdwn")]}, "invalid_blocks", id="header-mrkdwn"),
        pytest.param({"blocks": [{"type": "banner"}]}, "invalid_blocks", id="unknown-type"),
        pytest.param({"blocks": "not a list"}, "invalid_blocks", id="blocks-not-list"),
    ],
)
def test_slack_webhook_refuses_what_slack_refuses(
    slack: SlackReceiver, http: httpx.Client, body: bytes | dict[str, Any], expected: str
) -> None:
    """Malformed payloads and Block Kit over Slack's limits get 400 with Slack's error."""
    if isinstance(body, bytes):
        response = http.post(slack.webhook_url, content=body)
    else:
        response = http.post(slack.webhook_url, json=body)

    assert (response.status_code, response.text) == (400, expected)
    assert slack.messages == []
    assert [r.error for r in slack.rejections] == [expected]


def test_slack_webhook_accepts_blocks_at_the_limits(
    slack: SlackReceiver, http: httpx.Client
) -> None:
    """50 blocks, 3000-character sections and a 150-character header are fine."""
    blocks = [header("h" * 150), section("s" * 3000), *[{"type": "divider"}] * 48]

    response = http.post(slack.webhook_url, json={"text": "t", "blocks": blocks})

    assert (response.status_code, response.text) == (200, "ok")
    assert block_kit_problems(blocks) == []


def test_block_kit_problems_point_at_the_offending_field() -> None:
    """Each problem names the block path and the limit it broke."""
    assert block_kit_problems([section("ok"), header("h" * 151)]) == [
        "blocks/1/text/text: 151 characters, more than 150"
    ]


def test_slack_webhook_client_is_served(slack: SlackReceiver, no_proxy_env: None) -> None:
    """slack_sdk's WebhookClient posts, and reads Slack's answers, errors included."""
    client = WebhookClient(slack.webhook_url, timeout=5)

    sent = client.send(text="fallback", blocks=[section("firing")])
    refused = client.send(text="fallback", blocks=[header("x" * 151)])

    assert (sent.status_code, sent.body) == (200, "ok")
    assert (refused.status_code, refused.body) == (400, "invalid_blocks")
    assert slack.requests[0].headers["content-type"] == "application/json;charset=utf-8"
    assert [m.text for m in slack.messages] == ["fallback"]


def test_slack_webhook_rate_limit_script(slack: SlackReceiver, no_proxy_env: None) -> None:
    """rate_limit() answers webhooks 429 ``rate_limited`` with Retry-After, then recovers."""
    slack.rate_limit(retry_after=3)
    client = WebhookClient(slack.webhook_url, timeout=5)

    limited = client.send(text="one")
    accepted = client.send(text="two")

    assert (limited.status_code, limited.body) == (429, "rate_limited")
    assert limited.headers["Retry-After"] == "3"
    assert accepted.status_code == 200
    assert [m.text for m in slack.messages] == ["two"]


# -- SlackReceiver: Web API ------------------------------------------------------------------


def test_slack_web_client_posts_threads_and_updates(
    slack: SlackReceiver, web_client: WebClient
) -> None:
    """postMessage by channel name, a broadcast reply in its thread, and an update all land."""
    first = web_client.chat_postMessage(
        channel="#voice-oncall", text="firing", blocks=[section("p95 1800 ms")]
    )
    reply = web_client.chat_postMessage(
        channel="C0VOICE01", text="resolved", thread_ts=first["ts"], reply_broadcast=True
    )
    updated = web_client.chat_update(channel=first["channel"], ts=first["ts"], text="resolved")

    top = slack.message(first["ts"])
    assert (first["ok"], first["channel"], first["message"]["text"]) == (
        True,
        "C0VOICE01",
        "firing",
    )
    assert [m.ts for m in slack.messages] == [first["ts"]]
    assert [(m.ts, m.reply_broadcast) for m in slack.replies(first["ts"])] == [(reply["ts"], True)]
    assert float(reply["ts"]) > float(first["ts"])
    assert updated["ts"] == first["ts"]
    assert (top.text, top.blocks) == ("resolved", [section("p95 1800 ms")])
    assert len(top.updates) == 1


def test_slack_web_client_sends_json_with_a_bearer_token(
    slack: SlackReceiver, web_client: WebClient
) -> None:
    """slack_sdk sends Web API calls as JSON with the token in the Authorization header."""
    web_client.chat_postMessage(channel="#voice-oncall", text="hi", blocks=[section("hi")])

    (received,) = slack.requests
    assert (received.method, received.path) == ("POST", "/api/chat.postMessage")
    assert received.headers["content-type"] == "application/json;charset=utf-8"
    assert received.headers["authorization"] == f"Bearer {TOKEN}"
    assert "token" not in received.json()
    assert received.json()["blocks"] == [section("hi")]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param({"channel": "#elsewhere", "text": "t"}, "channel_not_found", id="channel"),
        pytest.param({"channel": "#voice-oncall"}, "no_text", id="no-text"),
        pytest.param(
            {"channel": "#voice-oncall", "text": "t", "blocks": [section("x" * 3001)]},
            "invalid_blocks",
            id="blocks",
        ),
        pytest.param(
            {"channel": "#voice-oncall", "text": "t", "thread_ts": "1.5"},
            "thread_not_found",
            id="thread",
        ),
        pytest.param(
            {"channel": "#voice-oncall", "text": "t", "thread_ts": "yesterday"},
            "invalid_thread_ts",
            id="thread-ts",
        ),
    ],
)
def test_slack_post_message_errors(
    slack: SlackReceiver, web_client: WebClient, call: dict[str, Any], expected: str
) -> None:
    """Refused postMessage calls answer HTTP 200 ``ok: false`` with Slack's error name."""
    with pytest.raises(SlackApiError) as caught:
        web_client.api_call("chat.postMessage", json=call)

    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == expected
    assert slack.messages == []


def test_slack_wrong_or_missing_token_is_invalid_auth(
    slack: SlackReceiver, http: httpx.Client, no_proxy_env: None
) -> None:
    """A wrong bearer token and no token at all are both ``invalid_auth``; nothing posts."""
    wrong = WebClient(token="xoxb-wrong", base_url=slack.api_url, timeout=5)
    with pytest.raises(SlackApiError) as caught:
        wrong.chat_postMessage(channel="#voice-oncall", text="t")
    missing = http.post(f"{slack.api_url}chat.postMessage", json={"channel": "#voice-oncall"})

    assert caught.value.response["error"] == "invalid_auth"
    assert missing.json() == {"ok": False, "error": "invalid_auth"}
    assert slack.messages == []


def test_slack_update_of_an_unknown_message_is_message_not_found(
    slack: SlackReceiver, web_client: WebClient
) -> None:
    """chat.update needs the ts of a message posted in that channel."""
    with pytest.raises(SlackApiError) as caught:
        web_client.chat_update(channel="C0VOICE01", ts="1700000000.999900", text="t")

    assert caught.value.response["error"] == "message_not_found"


def test_slack_web_api_accepts_form_encoded_calls(slack: SlackReceiver, http: httpx.Client) -> None:
    """Form fields work too, with blocks as a JSON string and the token in the form."""
    response = http.post(
        f"{slack.api_url}chat.postMessage",
        data={
            "token": TOKEN,
            "channel": "#voice-oncall",
            "text": "t",
            "blocks": '[{"type": "divider"}]',
        },
    )

    assert response.json()["ok"] is True
    assert slack.message(response.json()["ts"]).blocks == [{"type": "divider"}]


def test_slack_web_api_rate_limit_script(slack: SlackReceiver, web_client: WebClient) -> None:
    """A scripted 429 reaches slack_sdk with Retry-After and the ``ratelimited`` error."""
    slack.respond(429, b'{"ok": false, "error": "ratelimited"}', {"Retry-After": "3"})

    with pytest.raises(SlackApiError) as caught:
        web_client.chat_postMessage(channel="#voice-oncall", text="t")
    retried = web_client.chat_postMessage(channel="#voice-oncall", text="t")

    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "3"
    assert caught.value.response["error"] == "ratelimited"
    assert retried["ok"] is True
    assert len(slack.messages) == 1


def test_slack_unknown_method_is_404(slack: SlackReceiver, http: httpx.Client) -> None:
    """Methods the receiver does not implement answer like an unknown Slack method."""
    response = http.post(f"{slack.api_url}chat.delete", json={})

    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "unknown_method"}


def test_slack_rejections_explain_the_refusal(slack: SlackReceiver, web_client: WebClient) -> None:
    """Every refusal is kept with the reasons Slack would list in response_metadata."""
    with pytest.raises(SlackApiError) as caught:
        web_client.chat_postMessage(channel="#voice-oncall", text="t", blocks=[header("h" * 151)])

    detail = "blocks/0/text/text: 151 characters, more than 150"
    assert caught.value.response["response_metadata"] == {"messages": [f"[ERROR] {detail}"]}
    assert slack.rejections == [
        SlackRejection("/api/chat.postMessage", "invalid_blocks", (detail,))
    ]


def test_slack_wait_for_replies_times_out_clearly(slack: SlackReceiver) -> None:
    """Waiting for a reply that never comes names what was awaited."""
    with pytest.raises(TimeoutError, match=r"no 1 reply\(ies\) in 1700000000.000100"):
        slack.wait_for_replies("1700000000.000100", timeout=SHORT)


# -- Alertmanager --------------------------------------------------------------------------


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: WebhookReceiver) -> Iterator[AlertmanagerProcess]:
    with AlertmanagerProcess(tmp_path, f"{webhook.url}/alertmanager") as process:
        yield process


def am_alert(ends_at: datetime | None = None) -> dict[str, Any]:
    """A monitor-style alert that started a minute ago (so Alertmanager sends at once)."""
    alert: dict[str, Any] = {
        "labels": {"alertname": "ai-latency-p95", "trunk_id": "trunk-1", "severity": "critical"},
        "annotations": {"summary": "AI agent answers slowly"},
        "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    return alert


def test_alertmanager_lists_a_posted_alert_as_active(
    alertmanager: AlertmanagerProcess, http: httpx.Client
) -> None:
    """An alert POSTed to /api/v2/alerts shows as active in GET /api/v2/alerts."""
    response = http.post(f"{alertmanager.url}/api/v2/alerts", json=[am_alert()])

    alert = alertmanager.wait_for_alert({"alertname": "ai-latency-p95"})
    assert response.status_code == 200
    assert alert["labels"]["trunk_id"] == "trunk-1"
    assert [a["labels"]["alertname"] for a in alertmanager.alerts()] == ["ai-latency-p95"]


def test_alertmanager_notifies_firing_then_resolved(
    alertmanager: AlertmanagerProcess, webhook: WebhookReceiver, http: httpx.Client
) -> None:
    """Alertmanager's webhook gets the firing group, then "resolved" after endsAt passes."""
    firing = am_alert()
    http.post(f"{alertmanager.url}/api/v2/alerts", json=[firing]).raise_for_status()
    (first,) = webhook.wait_for(1)

    resolved = {**firing, "endsAt": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()}
    http.post(f"{alertmanager.url}/api/v2/alerts", json=[resolved]).raise_for_status()
    last = webhook.wait_until(
        lambda: next((r for r in webhook.requests if r.json()["status"] == "resolved"), None),
        timeout=10.0,
        what="a resolved notification",
    )

    assert (first.path, first.json()["status"]) == ("/alertmanager", "firing")
    assert last.json()["alerts"][0]["labels"]["trunk_id"] == "trunk-1"
    assert alertmanager.alerts() == []
