"""Call details (GET /calls/{id}) and trunk names in what notifiers show."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from monitor.clock import ManualClock
from monitor.config import Links
from monitor.details import BUDGET_RESERVE, DETAILS_EVENT, DetailFetcher
from monitor.errors import MalformedResponse, RequestRejected, ServerError
from monitor.models import Call
from monitor.notify.alertmanager import am_alert
from monitor.notify.console import format_block
from monitor.notify.slack_format import escape, render
from monitor.store import StateStore
from monitor.telepath.client import TelepathClient
from monitor.telepath.details import CallDetails, parse_call_details
from tests.unit.test_outbox import intent
from tests.unit.test_slack_format import (
    alert,
    all_mrkdwn,
    assert_only_our_markup,
    assert_within_limits,
)

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
VARIANTS = json.loads(
    (Path(__file__).parent.parent / "data" / "api" / "call_details_variants.json").read_text()
)
HOSTILE = ["<!channel>", "x|<https://evil.example|click>", "<@U024BE7LH>", "a>b&c"]


# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_detail_shapes_are_tolerated(name: str) -> None:
    """Each shape the docs allow gives its slowest segment, codec and notable events."""
    case = VARIANTS[name]
    details = parse_call_details(case["body"])
    slowest = details.slowest_segment
    assert (None if slowest is None else [slowest.name, slowest.latency_ms]) == case["slowest"]
    assert details.codec == case["codec"]
    assert [[e.kind, e.at, e.detail] for e in details.events] == case["events"]


@pytest.mark.parametrize("body", [[], {"data": {"id": "call_1"}}, {"id": 1, "trunk_id": "t"}])
def test_a_body_that_is_not_a_call_is_malformed(body: object) -> None:
    with pytest.raises(MalformedResponse):
        parse_call_details(body)


def test_the_direction_of_a_detail_is_read_lower_cased() -> None:
    body = VARIANTS["segments_and_timeline_in_data_envelope"]["body"]
    assert parse_call_details(body).call.direction == "outbound"


def test_client_reads_details_and_maps_a_missing_call_to_request_rejected() -> None:
    """GET /calls/{id} goes through the client: a 404 is RequestRejected, the id quoted."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        if "missing" in request.url.path:
            return httpx.Response(404, json={"error": {"code": "CALL_NOT_FOUND"}})
        return httpx.Response(200, json=VARIANTS["documented_detail"]["body"])

    http = httpx.Client(base_url="https://api.test/v1", transport=httpx.MockTransport(handler))
    client = TelepathClient(http, api_key=SecretStr("sk_test_x"), clock=ManualClock(T0))
    assert client.get_call_details("call/1").codec == "G.722"
    with pytest.raises(RequestRejected):
        client.get_call_details("missing")
    assert seen == ["/v1/calls/call%2F1", "/v1/calls/missing"]


# --- fetching -------------------------------------------------------------------------


class FakeSource:
    """The client as the fetcher sees it: scripted answers, every request counted."""

    def __init__(self, remaining: int | None = None) -> None:
        self.rate_limit_remaining = remaining
        self.asked: list[str] = []
        self.fail: dict[str, Exception] = {}

    def get_call_details(self, call_id: str) -> CallDetails:
        self.asked.append(call_id)
        if call_id in self.fail:
            raise self.fail[call_id]
        body = {**VARIANTS["documented_detail"]["body"], "id": call_id}
        return parse_call_details(body)


def calls(*ids: str) -> tuple[Call, ...]:
    return tuple(Call(id=i, trunk_id="t1", status="connected", start_time=T0) for i in ids)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    store = StateStore(tmp_path / "state.db")
    yield store
    store.close()


def fetcher(store: StateStore, source: FakeSource, detail_calls: int = 2) -> DetailFetcher:
    links = Links(call="https://dash.example/calls/{call_id}", detail_calls=detail_calls)
    return DetailFetcher(source, store, ManualClock(T0), links)


GROUPING = {"slack": True, "hook": False}


def test_a_firing_alert_gets_a_follow_up_per_notifier_with_its_worst_calls(
    store: StateStore,
) -> None:
    """At most detail_calls calls, once per alert, each as a `details` follow-up."""
    source = FakeSource()
    firing = intent(offending_calls=calls("c1", "c2", "c3"))
    follow_ups = fetcher(store, source).follow_ups([firing], GROUPING, {"t1": "Support"})
    assert source.asked == ["c1", "c2"]
    assert [(n.notifier, n.event) for n in follow_ups] == [
        ("slack", DETAILS_EVENT),
        ("hook", DETAILS_EVENT),
    ]
    doc = follow_ups[1].alerts[0]
    assert doc["id"] == firing.alert_id
    assert doc["group"] == {"trunk_id": "t1", "trunk_name": "Support"}
    assert [d["id"] for d in doc["call_details"]] == ["c1", "c2"]
    assert doc["call_details"][0]["url"] == "https://dash.example/calls/c1"
    assert store.alert_details(firing.alert_id) == doc["call_details"]
    # The same transition again (a retried evaluation) fetches and sends nothing.
    assert fetcher(store, source).follow_ups([firing], GROUPING) == []
    assert source.asked == ["c1", "c2"]


def test_slack_gets_one_follow_up_per_rule_webhooks_one_per_alert(store: StateStore) -> None:
    """Grouping as for the firing: one Slack follow-up listing both trunks."""
    first = intent(offending_calls=calls("a"))
    second = intent(group="t2", alert_id="lat:t2:1", offending_calls=calls("b"))
    follow_ups = fetcher(store, FakeSource()).follow_ups([first, second], GROUPING)
    shape = [(n.notifier, [a["id"] for a in n.alerts]) for n in follow_ups]
    assert shape == [
        ("slack", ["lat:t1:1", "lat:t2:1"]),
        ("hook", ["lat:t1:1"]),
        ("hook", ["lat:t2:1"]),
    ]
    assert len({n.id for n in follow_ups}) == 3


def test_cached_calls_are_not_fetched_again_for_another_alert(store: StateStore) -> None:
    source = FakeSource()
    fetcher(store, source).follow_ups([intent(offending_calls=calls("c1"))], GROUPING)
    other = intent(group="t2", alert_id="other:1", offending_calls=calls("c1", "c9"))
    fetcher(store, source).follow_ups([other], GROUPING)
    assert source.asked == ["c1", "c9"]


def test_only_firing_intents_with_calls_get_details(store: StateStore) -> None:
    """Repeats, escalations, resolutions and alerts without calls ask for nothing."""
    source = FakeSource()
    intents = [
        intent(kind="repeat", offending_calls=calls("a")),
        intent(kind="resolved", alert_id="r:1", offending_calls=calls("b")),
        intent(alert_id="empty:1", offending_calls=()),
    ]
    assert fetcher(store, source).follow_ups(intents, GROUPING) == []
    assert fetcher(store, source, detail_calls=0).follow_ups([intent()], GROUPING) == []
    assert source.asked == []


def test_an_unknown_call_is_skipped_and_an_api_failure_stops_fetching(store: StateStore) -> None:
    """A 404 skips that call; a failing API stops, the alert keeps what it got."""
    source = FakeSource()
    source.fail["gone"] = RequestRejected("404", endpoint="/calls/{id}", status=404)
    source.fail["down"] = ServerError("503", endpoint="/calls/{id}", status=503)
    first = intent(offending_calls=calls("gone", "ok"))
    second = intent(group="t2", alert_id="b:1", offending_calls=calls("down", "never"))
    third = intent(group="t3", alert_id="c:1", offending_calls=calls("later"))
    follow_ups = fetcher(store, source).follow_ups([first, second, third], {"hook": False})
    assert source.asked == ["gone", "ok", "down"]
    assert [n.alerts[0]["id"] for n in follow_ups] == [first.alert_id]


def test_no_details_while_the_rate_budget_is_nearly_spent(store: StateStore) -> None:
    """Polling comes first: below the reserve, nothing is requested."""
    source = FakeSource(remaining=BUDGET_RESERVE - 1)
    assert fetcher(store, source).follow_ups([intent()], GROUPING) == []
    assert source.asked == []


# --- what notifiers show ----------------------------------------------------------------

DETAIL = {
    "id": "c-0",
    "trunk_id": "t-1",
    "status": "connected",
    "direction": "inbound",
    "slowest_segment": {"name": "carrier", "latency_ms": 420.0},
    "codec": "G.722",
    "disconnect_reason": "caller_hangup",
    "events": [{"kind": "media.jitter_spike", "at": None, "detail": "48 ms"}],
    "url": "https://dash.example/calls/c-0",
}
ATTRIBUTION = {
    "headline": "carrier lag +420 ms, 83% of the rise",
    "components": [
        {"metric": "carrier_lag_ms", "value_ms": 500.0, "baseline_ms": 80.0, "share": 0.83},
        {"metric": "ai_latency_ms", "value_ms": 500.0, "baseline_ms": None, "share": None},
    ],
}


def named(trunk: str, name: str, **overrides: Any) -> dict[str, Any]:
    return alert(trunk, group={"trunk_id": trunk, "trunk_name": name}, **overrides)


def test_slack_shows_the_name_beside_the_id_and_why() -> None:
    message = render("firing", [named("conn_2", "Support line EU", attribution=ATTRIBUTION)])
    text = all_mrkdwn(message)
    assert "Support line EU (conn_2)" in text
    assert "*Why:* carrier lag +420 ms, 83% of the rise" in text
    assert "carrier lag 500 ms (was 80 ms, 83% of the change)" in text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_trunk_name_can_neither_mention_nor_link(hostile: str) -> None:
    """Names come from the API: escaped in single, grouped and details messages."""
    detail = {**DETAIL, "codec": hostile, "events": [{"kind": hostile, "detail": hostile}]}
    messages = [
        render("firing", [named("t-1", hostile)]),
        render("firing", [named("t-1", hostile), named("t-2", hostile)]),
        render(DETAILS_EVENT, [named("t-1", hostile, call_details=[detail])]),
    ]
    for message in messages:
        everything = all_mrkdwn(message)
        assert "<!" not in everything
        assert "<@" not in everything
        assert "<https://evil" not in everything
        assert escape(hostile) in everything
        assert_only_our_markup(message)
        assert_within_limits(message)


def test_slack_details_follow_up_lists_each_call_linked() -> None:
    message = render(DETAILS_EVENT, [named("t-1", "Support", call_details=[DETAIL])])
    text = all_mrkdwn(message)
    assert message["blocks"][0]["text"]["text"].startswith("🔎 Details")
    assert (
        "<https://dash.example/calls/c-0|c-0>: slowest carrier 420 ms · codec G.722 · "
        "ended caller_hangup · media.jitter_spike (48 ms)" in text
    )
    assert "*Worst calls*" not in text


def test_alertmanager_keeps_identity_and_shows_name_why_and_details() -> None:
    doc = named("t-1", "Support", attribution=ATTRIBUTION, call_details=[DETAIL])
    posted = am_alert(doc, severity="critical")
    assert posted["labels"] == {
        "alertname": "ai-latency-p95",
        "severity": "critical",
        "trunk_id": "t-1",
        "team": "voice",
    }
    notes = posted["annotations"]
    assert notes["summary"] == "AI agent answers slowly (Support (t-1))"
    assert notes["trunk_name"] == "Support"
    assert notes["attribution"] == ATTRIBUTION["headline"]
    assert notes["call_details"].startswith("c-0: slowest carrier 420 ms")


def test_console_names_the_trunk_and_prints_details() -> None:
    out = io.StringIO()
    block = format_block("firing", named("t-1", "Support", attribution=ATTRIBUTION))
    out.write(format_block(DETAILS_EVENT, named("t-1", "Support", call_details=[DETAIL])))
    assert "trunk Support (t-1)" in block
    assert "why: carrier lag +420 ms, 83% of the rise" in block
    assert "· c-0: slowest carrier 420 ms" in out.getvalue()
