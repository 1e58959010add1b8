"""Untrusted input, fuzzed (issue 19, point 4): random bytes and random JSON thrown at the
config loader, the API client's response handling, and the Alertmanager, webhook and
Slack reply handling (Slack over loopback HTTP: tests/integration/test_fuzz_slack.py).
The only outcomes allowed are a clear error of ours or a counted
skip: never another exception, never a hang (hypothesis' deadline bounds each example).

Example counts are modest so the module runs in seconds; ``FUZZ_EXAMPLES`` says how many.
"""

# An error is allowed only if it is ours and says something: asserted in the except.
# ruff: noqa: PT017

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from monitor.clock import ManualClock
from monitor.config import (
    AlertmanagerNotifier,
    Config,
    Links,
    WebhookNotifier,
    load_config,
)
from monitor.errors import ApiError, ConfigError, DeliveryError, WebConfigError
from monitor.notify.alertmanager import AlertmanagerSender
from monitor.notify.base import Notification
from monitor.notify.sample import sample_notification
from monitor.notify.webhook import WebhookSender
from monitor.telepath.client import ClientEvent, RetryPolicy, TelepathClient
from monitor.webconfig import parse_web_config

FUZZ_EXAMPLES = 100
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples every run: a failure reproduces, CI stays stable
)

#: Any JSON value.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
#: JSON shaped like our inputs: the keys we read, with any values.
CONFIG_KEYS = ["poll", "rules", "notifiers", "defaults", "links", "export", "include", "mute",
               "inhibit", "heartbeat", "delivery", "sync_failing", "overview_fields"]  # fmt: skip
RULE_KEYS = ["name", "metric", "stat", "window", "per", "warning", "critical", "op", "for",
             "min_calls", "notify", "source", "recovery", "repeat"]  # fmt: skip
CALL_KEYS = ["id", "trunk_id", "start_time", "end_time", "status", "ai_latency_ms",
             "carrier_lag_ms", "gateway_processing_ms", "metrics", "duration"]  # fmt: skip


def shaped(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), json_values, max_size=len(keys))


configs = st.fixed_dictionaries(
    {}, optional={"rules": st.lists(shaped(RULE_KEYS), max_size=3), "poll": json_values}
) | shaped(CONFIG_KEYS)


# --- the config loader -------------------------------------------------------------------


def _load(tmp_path: Path, text: bytes) -> Config | None:
    path = tmp_path / "alerts.yaml"
    path.write_bytes(text)
    try:
        return load_config(path, env={"HOOK": "https://hooks.example/x"})
    except ConfigError as exc:
        assert exc.problems  # a clear error says what is wrong
        return None


@FUZZ
@given(text=st.binary(max_size=400))
def test_config_loader_random_bytes(tmp_path, text):
    """Random bytes: a Config or a ConfigError with problems, nothing else."""
    _load(tmp_path, text)


@FUZZ
@given(data=configs)
def test_config_loader_random_structures(tmp_path, data):
    """Random values under the keys the loader reads, as YAML."""
    _load(tmp_path, yaml.safe_dump(data).encode())


@FUZZ
@given(text=st.text(max_size=300))
def test_web_config_random_text(text):
    """TELEPATH_WEB_CONFIG: random text is parsed or refused with a WebConfigError."""
    try:
        parse_web_config(text, Path("/etc/web.yml"))
    except WebConfigError as exc:
        assert str(exc)


# --- the API client ----------------------------------------------------------------------


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(shaped(CALL_KEYS), max_size=4).map(lambda items: json.dumps({"data": items}).encode()),
    st.lists(shaped(CALL_KEYS), max_size=4).map(lambda items: json.dumps(items).encode()),
)
statuses = st.sampled_from([200, 200, 200, 204, 301, 400, 401, 404, 429, 500, 502, 503])


@FUZZ
@given(
    status=statuses,
    body=bodies,
    content_type=st.sampled_from(["application/json", "text/html", ""]),
)
def test_client_random_responses(status, body, content_type):
    """Any reply to /calls or /analytics/overview: results, counted skips, or an ApiError."""
    events: list[ClientEvent] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="https://api.test/v1")
    client = TelepathClient(
        http, api_key=SecretStr("sk_fuzz"), clock=ManualClock(NOW),
        retry=RetryPolicy(max_attempts=2), max_pages=3, listener=events.append,
    )  # fmt: skip
    with client:
        try:
            calls = list(client.iter_calls(NOW - timedelta(hours=1)))
            assert all(call.id for call in calls)
        except ApiError as exc:
            assert str(exc)
        try:
            client.get_overview({})
        except ApiError as exc:
            assert str(exc)


# --- notifier replies --------------------------------------------------------------------


def note() -> Notification:
    base = sample_notification("ops", Links(call="https://dash.example/calls/{call_id}"), NOW)
    return Notification(
        id="msg_fuzz", notifier="ops", event="firing", rule=base.rule, alerts=base.alerts,
        created_at=NOW,
    )  # fmt: skip


headers = st.dictionaries(
    st.sampled_from(["retry-after", "x-ratelimit-reset", "content-type"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
    max_size=3,
)


@FUZZ
@given(status=st.integers(100, 599), body=bodies, head=headers)
def test_alertmanager_and_webhook_random_replies(status, body, head):
    """Alertmanager and webhook receivers: any reply is success or a DeliveryError."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=head)

    am = AlertmanagerNotifier.model_validate({"type": "alertmanager", "url": "http://am:9093"})
    hook = WebhookNotifier.model_validate({"type": "webhook", "url": "https://hook.example/x"})
    for sender in (
        AlertmanagerSender(
            am, ManualClock(NOW), http=httpx.Client(transport=httpx.MockTransport(handler))
        ),
        WebhookSender(
            hook, ManualClock(NOW), http=httpx.Client(transport=httpx.MockTransport(handler))
        ),
    ):
        try:
            sender.send(note())
        except DeliveryError as exc:
            assert str(exc)
            assert exc.retry_after is None or exc.retry_after >= 0
        finally:
            sender.close()
