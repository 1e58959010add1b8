"""The API client against fake APIs on httpx.MockTransport: no sockets, no sleeps."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from monitor.clock import ManualClock
from monitor.errors import AuthError, MalformedResponse, RequestRejected, ServerError
from monitor.telepath.client import (
    MAX_BODY_BYTES,
    MAX_CLOCK_SKEW,
    USER_AGENT,
    ClientEvent,
    HeaderIgnored,
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
        "duration_seconds": 30,
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


# --- a hostile API: no response may blind the client -------------------------------------

ONCE = RetryPolicy(max_attempts=1)


def outcomes(events: list[ClientEvent]) -> list[str]:
    return [e.outcome for e in events if isinstance(e, RequestRecord)]


def test_a_body_that_lies_about_its_encoding_is_malformed_not_an_httpx_error():
    """Content-Encoding: gzip over plain bytes raises httpx.DecodingError inside httpx."""
    events: list[ClientEvent] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-encoding": "gzip"}, content=b"{not gzip}")

    client = make_client(handler, events=events, retry=ONCE)
    with pytest.raises(MalformedResponse, match="could not be decoded"):
        list(client.iter_calls())
    assert outcomes(events) == ["malformed"]


def test_a_redirect_loop_is_a_server_error_not_an_httpx_error():
    """A transport that follows redirects (ours does not) ends in TooManyRedirects."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "https://api.test/v1/calls"})

    http = httpx.Client(
        base_url="https://api.test/v1",
        transport=httpx.MockTransport(handler),
        follow_redirects=True,
        max_redirects=3,
    )
    client = TelepathClient(http, api_key=SecretStr(KEY), clock=ManualClock(T0), retry=ONCE)
    with pytest.raises(ServerError, match="TooManyRedirects"):
        list(client.iter_calls())


class Trickle(httpx.SyncByteStream):
    """A body sent one byte per (fake) second; optionally cancels the client midway."""

    def __init__(self, clock: ManualClock, body: bytes, on_byte: Callable[[int], None]) -> None:
        self.clock, self.body, self.on_byte = clock, body, on_byte
        self.sent = 0

    def __iter__(self):
        for byte in self.body:
            self.clock.advance(1.0)
            self.sent += 1
            self.on_byte(self.sent)
            yield bytes([byte])


def test_a_trickled_response_ends_at_the_request_deadline():
    """The read timeout bounds the gap between reads; the deadline bounds the whole."""
    clock = ManualClock(T0)
    events: list[ClientEvent] = []
    body = json.dumps({"calls": [call(n) for n in range(20)]}).encode()
    streams: list[Trickle] = []

    def handler(request: httpx.Request) -> httpx.Response:
        streams.append(Trickle(clock, body, lambda n: None))
        return httpx.Response(200, stream=streams[-1])

    client = make_client(handler, clock=clock, events=events, retry=ONCE)
    assert client.deadline == 15.0  # 3 x the read timeout of httpx's default, 5s
    with pytest.raises(ServerError, match="took over 15s"):
        list(client.iter_calls())
    assert 15 <= streams[0].sent <= 17 < len(body)
    assert outcomes(events) == ["timeout"]


def test_cancel_ends_a_request_midway_without_retrying():
    """Shutdown must not wait for a slow response, nor retry it."""
    clock = ManualClock(T0)
    body = json.dumps({"calls": [call(n) for n in range(20)]}).encode()
    requests: list[httpx.Request] = []
    client: TelepathClient

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        stream = Trickle(clock, body, lambda n: client.cancel() if n == 3 else None)
        return httpx.Response(200, stream=stream)

    client = make_client(handler, clock=clock, retry=RetryPolicy(max_attempts=5))
    with pytest.raises(ServerError, match="cancelled"):
        list(client.iter_calls())
    assert len(requests) == 1
    with pytest.raises(ServerError, match="cancelled"):
        list(client.iter_calls())
    assert len(requests) == 1


@pytest.mark.parametrize(
    ("headers", "ignored"),
    [
        ({"x-ratelimit-reset": "inf"}, ["x-ratelimit-reset"]),
        ({"x-ratelimit-limit": "1e400", "x-ratelimit-remaining": "nan"},
         ["x-ratelimit-limit", "x-ratelimit-remaining"]),
    ],
)  # fmt: skip
def test_unusable_rate_limit_headers_are_ignored_and_reported(headers, ignored):
    """inf or 1e400 raised OverflowError and threw the valid body away, at every poll."""
    events: list[ClientEvent] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, json={"calls": [call(1)]})

    client = make_client(handler, events=events, retry=ONCE)
    assert [c.id for c in client.iter_calls()] == ["call_1"]
    assert [c.id for c in client.iter_calls()] == ["call_1"]
    reported = [e.header for e in events if isinstance(e, HeaderIgnored)]
    assert reported == ignored * 2
    assert client.rate_limit_remaining is None


def test_an_oversized_body_is_refused_as_malformed():
    """A 50 MB page (the documented maximum is 100 records) is not read whole."""
    events: list[ClientEvent] = []
    record = json.dumps(call(1)).encode()
    body = b'{"calls": [' + b",".join([record] * (MAX_BODY_BYTES // len(record) + 10)) + b"]}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    client = make_client(handler, events=events, retry=ONCE)
    with pytest.raises(MalformedResponse, match="larger than"):
        list(client.iter_calls())
    assert outcomes(events) == ["malformed"]


def test_json_nested_too_deep_is_malformed_not_a_recursion_error():
    events: list[ClientEvent] = []
    body = b"[" * 100_000 + b"]" * 100_000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    client = make_client(handler, events=events, retry=ONCE)
    with pytest.raises(MalformedResponse, match="not JSON"):
        list(client.iter_calls())
    assert outcomes(events) == ["malformed"]


def test_calls_from_the_future_are_skipped_and_reported():
    """A start in year 9999 would move the sync position there for good."""
    events: list[ClientEvent] = []
    skew = T0 + MAX_CLOCK_SKEW
    records = [
        call(1),
        {**call(2), "start_time": "9999-12-31T23:59:59Z"},
        {**call(3), "start_time": (skew + timedelta(seconds=1)).isoformat()},
        {**call(4), "start_time": skew.isoformat()},
    ]
    client = make_client(lambda r: httpx.Response(200, json={"calls": records}), events=events)
    pages = list(client.iter_call_pages(since=T0 - timedelta(hours=1)))
    assert [c.id for c in pages[0].calls] == ["call_1", "call_4"]
    assert [(s.reason, s.record_id) for s in pages[0].skipped] == [
        ("future_start_time", "call_2"),
        ("future_start_time", "call_3"),
    ]
    assert [e.record_id for e in events if isinstance(e, RecordSkipped)] == ["call_2", "call_3"]


def test_a_skipped_record_is_reported_once_however_often_it_is_reread():
    """The overlap re-reads bad records at every poll: 6 were counted 18 times in 3 polls."""
    events: list[ClientEvent] = []
    records = [
        call(1),
        {**call(2), "ai_latency_ms": "fast"},
        {**call(3), "ai_latency_ms": 1e308},
        {"trunk_id": "conn_1", "start_time": "2026-03-10T14:00:00Z"},
        {"id": "call_\ud800", "trunk_id": "conn_1", "start_time": "2026-03-10T14:00:00Z"},
    ]
    body = json.dumps({"calls": records}).encode()  # the surrogate as a \ud800 escape
    client = make_client(lambda r: httpx.Response(200, content=body), events=events)
    for _ in range(3):
        assert [c.id for c in client.iter_calls()] == ["call_1"]
    skipped = [(e.reason, e.record_id) for e in events if isinstance(e, RecordSkipped)]
    assert skipped == [
        ("bad_ai_latency_ms", "call_2"),
        ("implausible_ai_latency_ms", "call_3"),
        ("missing_id", None),
        ("missing_id", None),
    ]


def test_a_cancelled_client_does_not_wait_to_retry():
    clock = ManualClock(T0)
    client: TelepathClient

    def handler(request: httpx.Request) -> httpx.Response:
        client.cancel()
        return httpx.Response(503)

    client = make_client(handler, clock=clock, retry=RetryPolicy(max_attempts=5))
    with pytest.raises(ServerError):
        list(client.iter_calls())
    assert clock.sleeps == []


def test_an_oversized_error_body_still_gives_the_error_of_its_status():
    body = b"x" * (MAX_BODY_BYTES + 10)
    client = make_client(lambda r: httpx.Response(404, content=body), retry=ONCE)
    with pytest.raises(RequestRejected, match="HTTP 404"):
        list(client.iter_calls())
