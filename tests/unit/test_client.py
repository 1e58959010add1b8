"""The API client against fake APIs on httpx.MockTransport: no sockets, no sleeps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from monitor.clock import ManualClock
from monitor.errors import AuthError, MalformedResponse, RequestRejected, ServerError
from monitor.telepath.client import (
    USER_AGENT,
    ClientEvent,
    PaginationStopped,
    RecordSkipped,
    RequestRecord,
    RetryPolicy,
    TelepathClient,
)

KEY = "sk_live_unit_test_key_123456"
T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def call(n: int, *, start: datetime = T0, **extra: object) -> dict[str, object]:
    return {
        "id": f"call_{n}",
        "trunk_id": "conn_1",
        "status": "connected",
        "start_time": (start + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"),
        "ai_latency_ms": 100 + n,
        "carrier_lag_ms": 50,
        "gateway_processing_ms": 10,
        **extra,
    }


def make_client(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    clock: ManualClock | None = None,
    events: list[ClientEvent] | None = None,
    **kwargs: object,
) -> TelepathClient:
    http = httpx.Client(base_url="https://api.test/v1", transport=httpx.MockTransport(handler))
    return TelepathClient(
        http,
        api_key=SecretStr(KEY),
        clock=clock or ManualClock(T0),
        listener=events.append if events is not None else None,
        **kwargs,  # type: ignore[arg-type]
    )


def test_request_carries_auth_agent_limit_and_both_date_spellings():
    """Bearer key, user agent, the maximum page size and UTC dates in both spellings."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"calls": [], "pagination": {"total": 0}})

    client = make_client(handler)
    list(client.iter_calls(since=T0, until=T0 + timedelta(minutes=5, microseconds=1)))
    request = seen[0]
    assert request.url.path == "/v1/calls"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"] == USER_AGENT
    assert dict(request.url.params) == {
        "from": "2026-03-10T14:00:00Z",
        "start_date": "2026-03-10T14:00:00Z",
        "to": "2026-03-10T14:05:01Z",
        "end_date": "2026-03-10T14:05:01Z",
        "limit": "100",
    }


def test_date_spelling_can_be_chosen():
    """date_params picks one spelling when the server rejects the other."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [], "has_more": False})

    list(make_client(handler, date_params="start_end").iter_calls(since=T0))
    assert set(seen[0].url.params) == {"start_date", "limit"}


def test_cursor_pages_are_walked_in_order():
    """next_cursor is followed until null; every call comes out once."""
    pages = {
        None: {"data": [call(1), call(2)], "next_cursor": "p2", "has_more": True},
        "p2": {"data": [call(3)], "next_cursor": None, "has_more": False},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    ids = [c.id for c in make_client(handler, page_size=2).iter_calls()]
    assert ids == ["call_1", "call_2", "call_3"]


def test_offset_pages_are_walked_in_order():
    """offset advances by the items received until total."""
    calls = [call(n) for n in range(5)]

    def handler(request: httpx.Request) -> httpx.Response:
        at = int(request.url.params.get("offset", "0"))
        limit = int(request.url.params["limit"])
        return httpx.Response(
            200,
            json={
                "calls": calls[at : at + limit],
                "pagination": {"limit": limit, "offset": at, "total": 5},
            },
        )

    ids = [c.id for c in make_client(handler, page_size=2).iter_calls()]
    assert ids == [f"call_{n}" for n in range(5)]


def test_iteration_is_lazy():
    """Stopping the iteration stops the requests: an idle poll costs one request."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"data": [call(1)], "next_cursor": "more"})

    pages = make_client(handler).iter_call_pages()
    next(pages)
    pages.close()
    assert len(requests) == 1


def test_calls_outside_the_range_are_dropped_client_side():
    """A server that ignores the date filter cannot push old calls into the windows."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = [call(0, start=T0 - timedelta(hours=1)), call(0, start=T0 + timedelta(minutes=1))]
        return httpx.Response(200, json=body)

    calls = list(make_client(handler).iter_calls(since=T0))
    assert [c.start_time for c in calls] == [T0 + timedelta(minutes=1)]


def test_repeated_cursor_stops_with_a_warning(caplog):
    """A cursor loop ends the walk, logs a warning and reports an event."""
    events: list[ClientEvent] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [call(1)], "next_cursor": "same"})

    with caplog.at_level(logging.WARNING):
        calls = list(make_client(handler, events=events).iter_calls())
    assert len(calls) == 2
    assert PaginationStopped("/calls", "repeated_cursor") in events
    assert "repeated cursor" in caplog.text


def test_malformed_records_are_skipped_counted_and_logged_with_id(caplog):
    """A bad record costs only itself: logged at debug with its id and reported."""
    events: list[ClientEvent] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [call(1), call(2, ai_latency_ms="slow")]})

    with caplog.at_level(logging.DEBUG, logger="monitor.telepath.client"):
        calls = list(make_client(handler, events=events).iter_calls())
    assert [c.id for c in calls] == ["call_1"]
    assert RecordSkipped("/calls", "bad_ai_latency_ms", "call_2") in events
    assert "call_2" in caplog.text


def test_429_waits_until_reset_then_succeeds():
    """429 makes the client sleep until X-RateLimit-Reset and try again."""
    clock = ManualClock(T0)
    answers = [
        httpx.Response(
            429,
            headers={
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(T0.timestamp()) + 42),
            },
            json={"error": {"code": "RATE_LIMIT_EXCEEDED", "message": "slow down"}},
        ),
        httpx.Response(200, json={"data": []}),
    ]
    client = make_client(lambda request: answers.pop(0), clock=clock)
    assert list(client.iter_calls()) == []
    assert clock.sleeps == [42.0]


def test_5xx_is_retried_with_backoff_then_succeeds():
    """Two 503s, then success: two growing backoff sleeps."""
    clock = ManualClock(T0)
    answers = [
        httpx.Response(503),
        httpx.Response(502, text="<html>"),
        httpx.Response(200, json=[]),
    ]
    client = make_client(lambda request: answers.pop(0), clock=clock)
    assert list(client.iter_calls()) == []
    assert len(clock.sleeps) == 2
    assert 0.25 <= clock.sleeps[0] <= 0.5
    assert 0.5 <= clock.sleeps[1] <= 1.0


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("reset")],
)
def test_transport_failures_are_retried(failure):
    """Timeouts, refused and reset connections are retried like 5xx."""
    answers: list[Exception | httpx.Response] = [failure, httpx.Response(200, json=[])]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert list(make_client(handler).iter_calls()) == []


def test_persistent_5xx_gives_up_after_the_attempt_bound():
    """A server that keeps failing raises ServerError after max_attempts."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(500, json={"error": {"code": "internal", "message": "boom"}})

    client = make_client(handler, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ServerError, match=r"HTTP 500 internal: boom \(gave up after 3 attempts\)"):
        list(client.iter_calls())
    assert len(requests) == 3


def test_retries_stop_at_the_total_time_bound():
    """No retry starts past max_total, however many attempts remain."""
    clock = ManualClock(T0)
    client = make_client(
        lambda request: httpx.Response(503),
        clock=clock,
        retry=RetryPolicy(max_attempts=100, base_delay=10, max_delay=10, max_total=30),
    )
    with pytest.raises(ServerError):
        client.get_overview()
    assert sum(clock.sleeps) <= 30


def test_401_fails_fast_without_the_key_anywhere(caplog):
    """A refused key raises AuthError at once; the key is in neither message nor logs."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        body = {"error": {"code": "INVALID_API_KEY", "message": f"Key {KEY} is invalid"}}
        return httpx.Response(401, json=body)

    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as caught:
        list(make_client(handler).iter_calls())
    assert len(requests) == 1
    message = str(caught.value)
    assert "refused the key" in message
    assert "INVALID_API_KEY" in message
    assert KEY not in message
    assert KEY not in caplog.text


@pytest.mark.parametrize("status", [400, 404, 409])
def test_other_4xx_are_not_retried(status):
    """Client errors raise RequestRejected after one request."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status, json={"error": {"code": "CALL_NOT_FOUND"}})

    with pytest.raises(RequestRejected) as caught:
        make_client(handler).get_call("call_x")
    assert (caught.value.status, caught.value.code, len(requests)) == (
        status,
        "CALL_NOT_FOUND",
        1,
    )


def test_non_json_body_is_retried_then_a_typed_error():
    """A body that is not JSON is MalformedResponse once retries run out."""
    client = make_client(
        lambda request: httpx.Response(200, text="<html>oops"), retry=RetryPolicy(max_attempts=2)
    )
    with pytest.raises(MalformedResponse, match="not JSON"):
        client.get_overview()


def test_truncated_body_recovers_on_retry():
    """A truncated body followed by a good one is survived."""
    answers = [httpx.Response(200, text='{"data": [{"id": '), httpx.Response(200, json=[call(1)])]
    assert [c.id for c in make_client(lambda r: answers.pop(0)).iter_calls()] == ["call_1"]


def test_events_describe_each_attempt():
    """The listener hears each attempt with its outcome and the rate-limit figures."""
    events: list[ClientEvent] = []
    answers = [
        httpx.Response(503),
        httpx.Response(
            200,
            json={"data": {}},
            headers={"X-RateLimit-Remaining": "9", "X-RateLimit-Limit": "10"},
        ),
    ]
    client = make_client(lambda r: answers.pop(0), events=events)
    client.get_overview()
    records = [e for e in events if isinstance(e, RequestRecord)]
    assert [(r.endpoint, r.outcome, r.status, r.attempt) for r in records] == [
        ("/analytics/overview", "http_error", 503, 1),
        ("/analytics/overview", "ok", 200, 2),
    ]
    assert (records[1].rate_limit_remaining, records[1].rate_limit_limit) == (9, 10)
    assert client.rate_limit_remaining == 9


def test_a_broken_listener_does_not_break_polling():
    """An exception in the listener is logged, not raised."""

    def listener(event: ClientEvent) -> None:
        raise RuntimeError("metrics broke")

    http = httpx.Client(
        base_url="https://api.test/v1",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=[])),
    )
    client = TelepathClient(http, api_key=SecretStr(KEY), clock=ManualClock(T0), listener=listener)
    assert list(client.iter_calls()) == []


def test_call_detail_path_is_quoted():
    """An id with slashes cannot reach another endpoint."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={**call(1), "id": "a/../b"})

    detail = make_client(handler).get_call("a/../b")
    assert seen == ["/v1/calls/a%2F..%2Fb"]
    assert detail.call.id == "a/../b"


def test_overview_uses_configured_fields():
    """get_overview passes overview_fields through and stamps the fetch time."""
    client = make_client(lambda r: httpx.Response(200, json={"data": {"x": {"ai": 640}}}))
    overview = client.get_overview({"ai_latency_ms": "x.ai"})
    assert overview.get("ai_latency_ms") == 640
    assert overview.fetched_at == T0


def test_trunks_are_listed_across_pages():
    """list_trunks walks every page."""
    pages = {
        None: {"data": [{"id": "conn_1"}], "next_cursor": "n", "has_more": True},
        "n": {"data": [{"id": "conn_2"}], "next_cursor": None, "has_more": False},
    }
    client = make_client(lambda r: httpx.Response(200, json=pages[r.url.params.get("cursor")]))
    assert [t.id for t in client.list_trunks()] == ["conn_1", "conn_2"]


def test_page_size_is_bounded():
    """A page size outside the documented 1..100 is refused up front."""
    with pytest.raises(ValueError, match="between 1 and 100"):
        make_client(lambda r: httpx.Response(200), page_size=1000)
