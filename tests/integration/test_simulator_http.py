"""The simulator over real loopback HTTP: the Telepath dialect, the rate limit, every
fault it injects, its control endpoint and a prompt shutdown."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from monitor.clock import ManualClock
from monitor.models import Call
from monitor.simulator import (
    DEFAULT_API_KEY,
    MALFORMED_KINDS,
    ODD_RECORD_VARIANTS,
    FaultOptions,
    SimulatorOptions,
    SimulatorServer,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 10, 14, 0, 30, tzinfo=UTC)
AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
Sim = tuple[SimulatorServer, httpx.Client]


@contextmanager
def serve(
    clock: ManualClock | None = None, **changes: Any
) -> Iterator[tuple[SimulatorServer, httpx.Client]]:
    """A started simulator with 20 minutes of history and a client authorised for it."""
    options = SimulatorOptions(**{"history": timedelta(minutes=20), **changes})
    server = SimulatorServer(options, clock or ManualClock(START))
    with server, httpx.Client(base_url=server.url, headers=AUTH, timeout=5.0) as client:
        yield server, client


@pytest.fixture
def sim() -> Iterator[Sim]:
    with serve() as pair:
        yield pair


def parse(item: dict[str, Any]) -> Call:
    """What a perfect client makes of a clean list item (flat or nested latencies)."""
    figures = item.get("metrics", item)
    return Call(
        id=item["id"],
        trunk_id=item["trunk_id"],
        status=item["status"],
        start_time=datetime.fromisoformat(item["start_time"]),
        end_time=datetime.fromisoformat(item["end_time"]),
        duration_seconds=item["duration_seconds"],
        ai_latency_ms=figures["ai_latency_ms"],
        carrier_lag_ms=figures["carrier_lag_ms"],
        gateway_processing_ms=figures["gateway_processing_ms"],
        direction=item["direction"],
    )


def walk_cursor(client: httpx.Client, path: str = "/calls", **params: Any) -> list[list[Any]]:
    """Every page of a cursor-style list, following next_cursor until null."""
    pages, cursor = [], None
    while True:
        query = {"limit": 100, **params, **({"cursor": cursor} if cursor else {})}
        body = client.get(path, params=query).raise_for_status().json()
        pages.append(body["data"])
        assert body["has_more"] == (body["next_cursor"] is not None)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def walk_offset(client: httpx.Client, key: str = "calls", **params: Any) -> list[list[Any]]:
    """Every page of an offset-style list, advancing by the items received until total."""
    pages, offset = [], 0
    while True:
        query = {"limit": 100, **params, "offset": offset}
        body = client.get(f"/{key}", params=query).raise_for_status().json()
        pages.append(body[key])
        assert body["pagination"]["offset"] == offset
        offset += len(body[key])
        if not body[key] or offset >= body["pagination"]["total"]:
            return pages


def flat(pages: list[list[Any]]) -> list[Any]:
    return [item for page in pages for item in page]


# -- dialect --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sk_live_wrong"}, {"Authorization": DEFAULT_API_KEY}],
)
def test_requests_without_the_key_get_401(sim: Sim, headers: dict[str, str]) -> None:
    """A missing, wrong or scheme-less key is refused with INVALID_API_KEY."""
    server, _ = sim
    response = httpx.get(f"{server.url}/calls", headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "INVALID_API_KEY", "message": "The API key provided is invalid"}
    }


@pytest.mark.parametrize("limit", ["0", "101", "ten", "", "-5", "²"])
def test_limit_outside_1_to_100_is_rejected(sim: Sim, limit: str) -> None:
    """limit must be an integer 1..100, as the real API documents."""
    _, client = sim
    response = client.get("/calls", params={"limit": limit})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "INVALID_PARAMS",
            "message": "Invalid limit parameter. Must be between 1 and 100",
        }
    }


def test_a_forged_or_foreign_cursor_is_rejected(sim: Sim) -> None:
    """A cursor that is not base64 JSON, or one from /trunks, is a 400 INVALID_PARAMS."""
    _, client = sim
    trunk_cursor = client.get("/trunks", params={"limit": 1}).json()["next_cursor"]
    for cursor in ("garbage!", "e30", trunk_cursor):
        response = client.get("/calls", params={"cursor": cursor})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "INVALID_PARAMS"


def test_limit_defaults_to_20(sim: Sim) -> None:
    """Without limit a page holds 20 calls."""
    _, client = sim
    assert len(client.get("/calls").json()["data"]) == 20


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_cursor_pagination_walks_every_visible_call_once(order: str) -> None:
    """Following next_cursor yields visible_calls() exactly, in the configured order."""
    with serve(order=order) as (server, client):
        calls = [parse(item) for item in flat(walk_cursor(client))]
        expected = server.visible_calls()
        assert calls == (expected[::-1] if order == "newest" else expected)


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_offset_pagination_walks_every_visible_call_once(order: str) -> None:
    """Paging by offset yields visible_calls() exactly, with total as the count."""
    with serve(order=order, pagination="offset") as (server, client):
        calls = [parse(item) for item in flat(walk_offset(client))]
        expected = server.visible_calls()
        assert calls == (expected[::-1] if order == "newest" else expected)


def test_cursor_stays_correct_while_new_calls_arrive() -> None:
    """A cursor walk that spans new arrivals still returns every call visible when it began."""
    clock = ManualClock(START)
    with serve(clock) as (server, client):
        before = {c.id for c in server.visible_calls()}
        first = client.get("/calls", params={"limit": 100}).json()
        clock.advance(300)
        ids = [item["id"] for item in first["data"]]
        cursor = first["next_cursor"]
        while cursor:
            page = client.get("/calls", params={"limit": 100, "cursor": cursor}).json()
            ids += [item["id"] for item in page["data"]]
            cursor = page["next_cursor"]
        assert len(ids) == len(set(ids))
        assert before <= set(ids)


def test_offset_pages_shift_when_new_calls_arrive() -> None:
    """Newest-first offsets move with new arrivals, so the next page repeats records."""
    clock = ManualClock(START)
    with serve(clock, pagination="offset") as (_, client):
        first = client.get("/calls", params={"limit": 100}).json()["calls"]
        clock.advance(120)
        second = client.get("/calls", params={"limit": 100, "offset": 100}).json()["calls"]
        assert {c["id"] for c in first} & {c["id"] for c in second}


def test_nested_layout_puts_list_latencies_under_metrics() -> None:
    """latency_layout=nested moves the three latencies into metrics."""
    with serve(latency_layout="nested") as (server, client):
        item = client.get("/calls", params={"limit": 1}).json()["data"][0]
        assert "ai_latency_ms" not in item
        assert set(item["metrics"]) == {"ai_latency_ms", "carrier_lag_ms", "gateway_processing_ms"}
        assert parse(item) == server.visible_calls()[-1]


@pytest.mark.parametrize(
    ("low", "high"), [("from", "to"), ("start_date", "end_date"), ("from", "end_date")]
)
def test_date_filters_apply_inclusively_to_start_time(sim: Sim, low: str, high: str) -> None:
    """Either spelling selects the calls whose start_time lies within both bounds."""
    server, client = sim
    calls = server.visible_calls()
    lower, upper = calls[100].start_time, calls[300].start_time
    expected = [c.id for c in calls if lower <= c.start_time <= upper]
    params = {low: lower.isoformat().replace("+00:00", "Z"), high: upper.isoformat()}
    got = [item["id"] for item in flat(walk_cursor(client, **params))]
    assert got == expected[::-1]


def test_date_filters_accept_any_offset(sim: Sim) -> None:
    """A bound written in another zone means the same instant."""
    server, client = sim
    calls = server.visible_calls()
    lower = calls[-50].start_time.astimezone(timezone(timedelta(hours=5, minutes=30)))
    got = client.get("/calls", params={"limit": 100, "from": lower.isoformat()}).json()
    assert [item["id"] for item in got["data"]] == [c.id for c in calls[-50:]][::-1]


def test_bad_date_is_rejected(sim: Sim) -> None:
    """An unparseable date is a 400 INVALID_PARAMS."""
    _, client = sim
    response = client.get("/calls", params={"start_date": "yesterday"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_PARAMS"


def test_trunk_and_status_filters(sim: Sim) -> None:
    """trunk_id matches exactly and status case-insensitively."""
    server, client = sim
    calls = server.visible_calls()
    trunk = [i["id"] for i in flat(walk_cursor(client, trunk_id="conn_sim02"))]
    assert trunk == [c.id for c in calls if c.trunk_id == "conn_sim02"][::-1]
    failed = [i["id"] for i in flat(walk_cursor(client, status="FAILED"))]
    assert failed == [c.id for c in calls if c.status == "failed"][::-1]
    assert failed


def test_call_detail_nests_metrics_and_adds_turns(sim: Sim) -> None:
    """GET /calls/{id} gives the call at top level, metrics nested, a reason and turns."""
    server, client = sim
    call = server.visible_calls()[-1]
    body = client.get(f"/calls/{call.id}").json()
    assert parse(body) == call
    assert set(body["metrics"]) == {
        "ai_latency_ms",
        "carrier_lag_ms",
        "gateway_processing_ms",
        "packet_loss_percent",
        "jitter_ms",
        "codec_used",
    }
    assert isinstance(body["disconnect_reason"], str)
    assert body["turns"][0] == {**body["turns"][0], "turn_number": 1, "speaker": "caller"}


def test_unknown_call_is_404_with_a_truncated_id(sim: Sim) -> None:
    """An unknown id gives CALL_NOT_FOUND, echoing at most 100 characters of it."""
    _, client = sim
    response = client.get(f"/calls/call_{'x' * 500}")
    assert response.status_code == 404
    expected = f"Call 'call_{'x' * 95}' not found"
    assert response.json() == {"error": {"code": "CALL_NOT_FOUND", "message": expected}}


def test_overview_matches_the_last_15_minutes_of_calls(sim: Sim) -> None:
    """The overview's figures are those of visible calls that ended in the last 15 minutes."""
    server, client = sim
    recent = [c for c in server.visible_calls() if c.finished_at > START - timedelta(minutes=15)]

    def avg(name: str) -> float:
        values: list[float] = [v for c in recent if (v := c.latency(name)) is not None]
        return round(sum(values) / len(values), 1)

    failed = sum(c.failed for c in recent)
    assert client.get("/analytics/overview").json() == {
        "data": {
            "avg_ai_latency_ms": avg("ai_latency_ms"),
            "avg_carrier_lag_ms": avg("carrier_lag_ms"),
            "avg_gateway_processing_ms": avg("gateway_processing_ms"),
            "total_calls": len(recent),
            "failed_calls": failed,
            "success_rate": round(100 * (len(recent) - failed) / len(recent), 1),
            "window_minutes": 15,
        }
    }


def test_overview_of_an_empty_account_has_nulls() -> None:
    """With no calls, the averages and success rate are null, the counts zero."""
    with serve(calls_per_minute=0) as (_, client):
        data = client.get("/analytics/overview").json()["data"]
        assert data["avg_ai_latency_ms"] is None
        assert data["success_rate"] is None
        assert data["total_calls"] == 0


@pytest.mark.parametrize("pagination", ["cursor", "offset"])
def test_trunks_list_every_trunk_with_todays_metrics(pagination: str) -> None:
    """/trunks pages through conn_sim01..06 with calls_today counted from today's calls."""
    clock = ManualClock(START)
    with serve(clock, pagination=pagination, trunks=6) as (server, client):
        clock.advance(600)
        if pagination == "cursor":
            trunks = flat(walk_cursor(client, "/trunks", limit=4))
        else:
            trunks = flat(walk_offset(client, "trunks", limit=4))
        # Six call-carrying trunks, then the retired one that is always inactive.
        assert [t["id"] for t in trunks] == [f"conn_sim{n:02d}" for n in range(1, 8)]
        assert [t["status"] for t in trunks] == ["active"] * 6 + ["inactive"]
        midnight = START.replace(hour=0, minute=0, second=0)
        today = [c for c in server.visible_calls() if c.start_time >= midnight]
        first = trunks[0]
        assert first["metrics"]["calls_today"] == sum(c.trunk_id == "conn_sim01" for c in today)
        assert 0 <= first["metrics"]["success_rate"] <= 100
        assert {"name", "status", "ai_provider", "sip_username", "created_at"} <= set(first)


def test_unknown_path_and_wrong_method(sim: Sim) -> None:
    """Unknown paths get the lower-case not_found body; POST to a list gets 405."""
    _, client = sim
    missing = client.get("/recordings")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        **missing.json()["error"],
        "code": "not_found",
        "status": 404,
    }
    assert client.post("/calls").status_code == 405


# -- rate limit -----------------------------------------------------------------------


def test_rate_limit_headers_429_and_recovery_after_reset() -> None:
    """The limit counts per clock minute; past it 429, and after the reset time 200 again."""
    clock = ManualClock(START)
    reset = str(int(START.timestamp()) // 60 * 60 + 60)
    with serve(clock, rate_limit_per_minute=3, retry_after_header=True) as (_, client):
        remaining = []
        for _ in range(3):
            response = client.get("/trunks")
            assert response.status_code == 200
            assert response.headers["X-RateLimit-Limit"] == "3"
            assert response.headers["X-RateLimit-Reset"] == reset
            remaining.append(response.headers["X-RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"]
        limited = client.get("/calls")
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        assert limited.headers["Retry-After"] == "30"
        unauthorised = client.get("/calls", headers={"Authorization": "Bearer nope"})
        assert unauthorised.status_code == 401
        assert unauthorised.headers["X-RateLimit-Reset"] == reset
        clock.advance(float(reset) - START.timestamp())
        again = client.get("/calls")
        assert again.status_code == 200
        assert again.headers["X-RateLimit-Remaining"] == "2"


def test_no_rate_limit_means_no_headers() -> None:
    """rate_limit_per_minute=None serves without limit headers."""
    with serve(rate_limit_per_minute=None) as (_, client):
        assert "X-RateLimit-Limit" not in client.get("/calls").headers


# -- faults ---------------------------------------------------------------------------


def test_fail_next_fails_exactly_that_many_requests(sim: Sim) -> None:
    """fail_next=2 gives two 503s with an error body, then normal service."""
    server, client = sim
    server.faults.fail_next = 2
    statuses = [client.get("/calls").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert server.faults.fail_next == 0


def test_a_502_is_an_html_page(sim: Sim) -> None:
    """fail_status=502 answers like a proxy: HTML, not JSON."""
    server, client = sim
    server.set_faults(fail_next=1, fail_status=502)
    response = client.get("/calls")
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert response.text.startswith("<html>")


def test_error_rate_one_fails_every_request_with_a_5xx(sim: Sim) -> None:
    """error_rate=1.0 answers 500, 502 or 503 to every API request."""
    server, client = sim
    server.faults.error_rate = 1.0
    statuses = {client.get("/calls").status_code for _ in range(30)}
    assert statuses == {500, 502, 503}


def test_reset_next_drops_the_connection_without_a_response(sim: Sim) -> None:
    """reset_next=1 closes the connection with no response; the next request succeeds."""
    server, client = sim
    server.faults.reset_next = 1
    with pytest.raises(httpx.TransportError):
        client.get("/calls")
    assert client.get("/calls").status_code == 200


def test_malformed_next_spoils_bodies_in_every_documented_way(sim: Sim) -> None:
    """malformed_next gives 200s that are not JSON, truncated, or the wrong shape."""
    server, client = sim
    server.faults.malformed_next = 40
    kinds = {_malformed_kind(client.get("/calls")) for _ in range(40)}
    assert kinds == set(MALFORMED_KINDS)
    assert _malformed_kind(client.get("/calls")) == "clean"


def test_slow_response_trips_a_short_client_timeout(sim: Sim) -> None:
    """slow_next delays the answer in real time, so a short read timeout fires."""
    server, client = sim
    server.set_faults(slow_next=1, slow_seconds=3.0)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/calls", timeout=httpx.Timeout(5.0, read=0.2))
    assert client.get("/calls").status_code == 200


def test_duplicate_rate_repeats_records_of_the_previous_page(sim: Sim) -> None:
    """duplicate_rate=1.0 starts each later page with records already seen, none lost."""
    server, client = sim
    server.faults.duplicate_rate = 1.0
    pages = [[item["id"] for item in page] for page in walk_cursor(client, limit=50)]
    for previous, page in itertools.pairwise(pages):
        assert page[0] in previous
    assert set(flat(pages)) == {c.id for c in server.visible_calls()}
    assert len(flat(pages)) > len(set(flat(pages)))


def test_duplicate_rate_also_overlaps_offset_pages() -> None:
    """In offset mode the overlap repeats records and still loses none."""
    with serve(pagination="offset") as (server, client):
        server.faults.duplicate_rate = 1.0
        ids = [item["id"] for item in flat(walk_offset(client, limit=50))]
        assert set(ids) == {c.id for c in server.visible_calls()}
        assert len(ids) > len(set(ids))


def test_odd_records_cover_every_documented_variant(sim: Sim) -> None:
    """odd_record_rate=1.0 makes every record odd, in each documented way; the rest is intact."""
    server, client = sim
    server.faults.odd_record_rate = 1.0
    oracle = {c.id: c for c in server.visible_calls()}
    variants = [_odd_variant(item, oracle) for item in flat(walk_cursor(client))]
    # "clean" is a latency_null on a call whose AI latency was null anyway.
    assert set(variants) - {"clean"} == set(ODD_RECORD_VARIANTS)


def test_faults_do_not_touch_the_control_endpoints(sim: Sim) -> None:
    """/_sim/health answers even while every API request fails."""
    server, _ = sim
    server.faults.error_rate = 1.0
    assert httpx.get(server.url.replace("/v1", "/_sim/health")).json()["status"] == "ok"


# -- control, counters, lifecycle -----------------------------------------------------


def test_control_endpoint_reads_and_changes_faults(sim: Sim) -> None:
    """PUT /_sim/faults changes the named fields; GET shows them; the next request fails."""
    server, client = sim
    faults_url = server.url.replace("/v1", "/_sim/faults")
    changed = client.put(faults_url, json={"fail_next": 1, "slow_seconds": 1})
    assert changed.status_code == 200
    assert changed.json() == {**FaultOptions().as_dict(), "fail_next": 1, "slow_seconds": 1.0}
    assert client.get(faults_url).json()["fail_next"] == 1
    assert client.get("/calls").status_code == 503
    assert client.get(faults_url).json()["fail_next"] == 0


@pytest.mark.parametrize(
    "body",
    [{"explode": 1}, {"error_rate": 2}, {"fail_next": 1.5}, {"slow_rate": "high"}, [1, 2]],
)
def test_control_endpoint_refuses_bad_bodies(sim: Sim, body: Any) -> None:
    """Unknown fields, bad values and non-objects are a 400 and change nothing."""
    server, client = sim
    response = client.put(server.url.replace("/v1", "/_sim/faults"), json=body)
    assert response.status_code == 400
    assert server.faults == FaultOptions()


def test_control_endpoint_needs_the_key(sim: Sim) -> None:
    """Without the bearer key the control endpoint answers 401."""
    server, _ = sim
    assert httpx.put(server.url.replace("/v1", "/_sim/faults"), json={}).status_code == 401


def test_request_counts_by_endpoint_including_failures(sim: Sim) -> None:
    """Requests are counted per endpoint template, failed ones too, and can be reset."""
    server, client = sim
    server.faults.fail_next = 1
    client.get("/calls")
    client.get("/calls/call_0123456789abcdef")
    client.get("/analytics/overview")
    client.get("/trunks")
    client.get("/calls", headers={"Authorization": "Bearer nope"})
    assert server.request_counts == {
        "/calls": 2,
        "/calls/{id}": 1,
        "/analytics/overview": 1,
        "/trunks": 1,
    }
    server.reset_request_counts()
    assert server.request_counts == {}


def test_stop_interrupts_slow_responses_and_idle_connections() -> None:
    """stop() returns with a 30 s slow response in flight; that request ends without a 200."""
    server = SimulatorServer(SimulatorOptions(history=timedelta(minutes=1)), ManualClock(START))
    server.start()
    outcome: list[object] = []

    def slow_request() -> None:
        with httpx.Client(headers=AUTH, timeout=60) as client:
            try:
                outcome.append(client.get(f"{server.url}/calls").status_code)
            except httpx.TransportError as exc:
                outcome.append(exc)

    with httpx.Client(headers=AUTH) as idle:
        assert idle.get(f"{server.url}/trunks").status_code == 200  # keeps a pooled connection
        server.set_faults(slow_next=1, slow_seconds=30)
        caller = threading.Thread(target=slow_request)
        caller.start()
        wait_for(
            lambda: server.request_counts["/calls"] > 0, "slow /calls request", 5, interval=0.01
        )
        server.stop()
        caller.join(timeout=10)
    assert not caller.is_alive()
    assert outcome
    assert isinstance(outcome[0], httpx.TransportError)
    server.stop()  # idempotent


def test_start_twice_is_refused() -> None:
    """A server starts once."""
    server = SimulatorServer(SimulatorOptions(history=timedelta(0)), ManualClock(START))
    with server, pytest.raises(RuntimeError):
        server.start()


def _malformed_kind(response: httpx.Response) -> str:
    assert response.status_code == 200
    try:
        body = json.loads(response.content)
    except ValueError:
        return "truncated" if response.content.startswith(b"{") else "not_json"
    if isinstance(body, list):
        return "top_level_list"
    if isinstance(body.get("data"), str):
        return "wrong_type"
    return "clean"


def _odd_variant(item: dict[str, Any], oracle: dict[str, Call]) -> str:
    """Which documented variant an odd item is; a clean item must match the oracle."""
    if "id" not in item:
        return "missing_id"
    try:
        datetime.fromisoformat(item["start_time"])
    except ValueError:
        return "bad_start_time"
    if "trunk_id" not in item:
        return "missing_trunk_id"
    if "metrics" in item:
        return "latency_nested"
    if item["status"] not in ("connected", "disconnected", "failed"):
        return "unknown_status"
    if "x_sim_tags" in item:
        return "extra_fields"
    ai = item["ai_latency_ms"]
    if isinstance(ai, str):
        return "latency_string"
    if isinstance(ai, float):
        return "float_latency"
    if ai is None and oracle[item["id"]].ai_latency_ms is not None:
        return "latency_null"
    assert parse(item) == oracle[item["id"]]
    return "clean"


def test_a_rate_window_phase_shifts_the_minute() -> None:
    """rate_window_phase puts a window's end where a test needs it (here 20 s past it)."""
    clock = ManualClock(START)
    minute = int(START.timestamp()) // 60 * 60
    phase = (int(START.timestamp()) - minute + 20) % 60
    with serve(clock, rate_limit_per_minute=2, rate_window_phase=phase) as (_, client):
        first = client.get("/trunks")
        assert int(first.headers["X-RateLimit-Reset"]) == int(START.timestamp()) + 20
        client.get("/trunks")
        assert client.get("/trunks").status_code == 429
        clock.advance(20)
        assert client.get("/trunks").status_code == 200


def test_calls_are_listed_from_their_start_with_list_in_progress() -> None:
    """Calls still going are listed in progress: no end, no duration, partial latencies."""
    clock = ManualClock(START)
    with serve(clock, list_in_progress=True, calls_per_minute=120) as (server, client):
        items = client.get("/calls", params={"limit": "100"}).json()["data"]
        going = [i for i in items if i["status"] == "in_progress"]
        assert going
        assert all(i["end_time"] is None and i["duration_seconds"] is None for i in going)
        final = {c.id: c for c in server.visible_calls()}
        assert not any(i["id"] in final for i in going)
        call = next(i for i in going if i["ai_latency_ms"] is not None)
        clock.advance(400)
        final_ai = {c.id: c.ai_latency_ms for c in server.visible_calls()}[call["id"]]
        assert final_ai is not None
        assert call["ai_latency_ms"] == final_ai // 2
