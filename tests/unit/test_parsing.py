"""Parsing of every response variant the public Telepath docs show."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import MalformedResponse
from monitor.telepath import parsing

DATA = Path(__file__).parent.parent / "data" / "api"
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def load(name: str) -> object:
    return json.loads((DATA / name).read_text())


def test_offset_page_from_the_docs():
    """The list example of the endpoint pages parses with flat latencies and offset paging."""
    page = parsing.parse_calls_page(load("calls_offset_docs.json"))
    assert [c.id for c in page.calls] == ["call_abc123xyz", "call_def456abc"]
    first = page.calls[0]
    assert (first.ai_latency_ms, first.carrier_lag_ms, first.gateway_processing_ms) == (215, 85, 22)
    assert first.total_latency_ms == 322
    assert first.start_time == datetime(2024, 3, 5, 10, 30, tzinfo=UTC)
    assert first.finished_at == datetime(2024, 3, 5, 10, 36, 42, tzinfo=UTC)
    assert page.pagination == parsing.Pagination(style="offset", offset=0, total=1523)
    assert page.skipped == []


def test_cursor_page_with_nested_metrics_and_strings():
    """Cursor envelope, latencies under metrics, numbers as strings, fractional seconds."""
    page = parsing.parse_calls_page(load("calls_cursor_data.json"))
    call = page.calls[0]
    assert (call.ai_latency_ms, call.carrier_lag_ms, call.gateway_processing_ms) == (420.5, 80, 12)
    assert call.status == "completed"
    assert call.duration_seconds == 60
    assert call.start_time == datetime(2026, 3, 10, 14, 22, 31, 842000, tzinfo=UTC)
    assert page.pagination == parsing.Pagination(
        style="cursor", next_cursor="call_01xyz789", has_more=True
    )


def test_bare_array_offset_timestamp_and_null_latencies():
    """A bare array is a single page; offsets convert to UTC; null latencies stay None."""
    page = parsing.parse_calls_page(load("calls_bare_array.json"))
    call = page.calls[0]
    assert call.failed
    assert call.start_time == datetime(2026, 3, 10, 12, 22, 31, tzinfo=UTC)
    assert call.total_latency_ms is None
    assert call.finished_at == datetime(2026, 3, 10, 12, 22, 36, tzinfo=UTC)
    assert page.pagination.style == "none"


def test_malformed_records_are_skipped_not_fatal():
    """Each unusable record is listed with its reason; the usable ones survive."""
    page = parsing.parse_calls_page(load("calls_some_malformed.json"))
    assert [c.id for c in page.calls] == ["call_good", "call_extra"]
    assert page.calls[1].status == "dropped"
    assert [(s.reason, s.record_id) for s in page.skipped] == [
        ("missing_id", None),
        ("missing_trunk_id", "call_no_trunk"),
        ("bad_start_time", "call_bad_time"),
        ("bad_ai_latency_ms", "call_bad_latency"),
        ("bad_ai_latency_ms", "call_bool_latency"),
        ("negative_carrier_lag_ms", "call_negative"),
        ("not_an_object", None),
    ]
    assert page.item_count == 9


@pytest.mark.parametrize(
    "body",
    [
        {"calls": "not a list"},
        {"data": {"unexpected": 1}},
        "a string",
        42,
        None,
        {"items": []},
    ],
)
def test_wrong_shape_is_a_typed_error(body):
    """A body without a list of calls raises MalformedResponse naming the endpoint."""
    with pytest.raises(MalformedResponse, match="/calls"):
        parsing.parse_calls_page(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"next_cursor": None, "has_more": False, "data": []}, ("cursor", None, False)),
        ({"next_cursor": "", "data": []}, ("cursor", None, None)),
        ({"has_more": "yes", "data": []}, ("cursor", None, None)),
        ({"pagination": {"offset": "20", "total": 45}, "calls": []}, ("offset", None, None)),
        ({"calls": []}, ("none", None, None)),
    ],
)
def test_pagination_detection(body, expected):
    """Cursor fields win; odd values are read as absent rather than trusted."""
    p = parsing.parse_pagination(body)
    assert (p.style, p.next_cursor, p.has_more) == expected


@pytest.mark.parametrize("case", load("errors.json"), ids=lambda c: f"{c['status']}")  # type: ignore[arg-type]
def test_error_bodies(case):
    """error.code and error.message are read from every documented error shape."""
    assert parsing.parse_error_body(case["body"]) == (case["code"], case["message"])


@pytest.mark.parametrize("case", load("overview_variants.json"), ids=lambda c: c["name"])  # type: ignore[arg-type]
def test_overview_variants(case):
    """Overview figures are found under every candidate name, or the configured field."""
    overview = parsing.parse_overview(case["body"], fetched_at=NOW, fields=case["fields"])
    assert overview.values == pytest.approx(case["expect"])
    assert overview.fetched_at == NOW


def test_overview_that_is_not_an_object():
    """A list where the overview object should be is malformed, not a crash."""
    with pytest.raises(MalformedResponse):
        parsing.parse_overview([1, 2], fetched_at=NOW)


def test_call_detail_reads_nested_metrics():
    """GET /calls/{id} nests latencies under metrics and adds detail-only fields."""
    body = {
        "id": "call_abc123xyz",
        "trunk_id": "conn_abc123xyz",
        "status": "connected",
        "start_time": "2024-03-05T10:30:00Z",
        "end_time": "2024-03-05T10:36:42Z",
        "disconnect_reason": "normal_clearing",
        "metrics": {
            "carrier_lag_ms": 85,
            "ai_latency_ms": 215,
            "gateway_processing_ms": 22,
            "packet_loss_percent": 0.2,
            "jitter_ms": 12,
            "codec_used": "G.722",
        },
    }
    detail = parsing.parse_call_detail({"data": body})
    assert detail.call.ai_latency_ms == 215
    assert (detail.disconnect_reason, detail.codec, detail.jitter_ms) == (
        "normal_clearing",
        "G.722",
        12,
    )


def test_trunks_success_rate_becomes_a_ratio():
    """success_rate is documented as 0-100; the model holds 0..1."""
    body = {
        "trunks": [
            {"id": "conn_1", "name": "Main", "status": "ACTIVE", "metrics": {"success_rate": 98.5}},
            {"name": "no id"},
        ],
        "pagination": {"limit": 20, "offset": 0, "total": 2},
    }
    page = parsing.parse_trunks_page(body)
    assert page.trunks[0].success_ratio == pytest.approx(0.985)
    assert page.trunks[0].status == "active"
    assert [s.reason for s in page.skipped] == ["missing_id"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(215, 215.0), ("215", 215.0), (" 1.5 ", 1.5), (None, None), ("", None)],
)
def test_numbers(value, expected):
    """Numbers arrive as int, float, numeric string or null."""
    assert parsing.parse_number(value) == expected


@pytest.mark.parametrize("value", [True, "fast", float("nan"), "inf", [1], {}])
def test_not_numbers(value):
    """Booleans, words, NaN and infinity are refused rather than averaged."""
    with pytest.raises(ValueError, match=r"."):
        parsing.parse_number(value)


@pytest.mark.parametrize(
    ("extra", "open_"),
    [
        ({}, True),  # neither end_time nor duration_seconds: not ended yet
        ({"duration_seconds": 12}, False),
        ({"end_time": "2026-03-10T14:01:00Z"}, False),
        ({"end_time": "2026-03-10T14:01:00Z", "status": "In_Progress"}, True),
        ({"duration_seconds": 0, "status": "ringing"}, True),
    ],
)
def test_calls_in_progress_are_listed_apart(extra, open_):
    record = {"id": "c1", "trunk_id": "t1", "status": "connected",
              "start_time": "2026-03-10T14:00:00Z", **extra}  # fmt: skip
    page = parsing.parse_calls_page({"calls": [record]})
    assert (len(page.open), len(page.calls)) == ((1, 0) if open_ else (0, 1))


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"ai_latency_ms": 1e308}, "implausible_ai_latency_ms"),
        ({"carrier_lag_ms": 600_001}, "implausible_carrier_lag_ms"),
        ({"duration_seconds": 1e9}, "implausible_duration_seconds"),
        ({"end_time": "2026-03-12T14:00:00Z"}, "implausible_end_time"),
        ({"id": "c" * 300}, "missing_id"),
        ({"status": "ok\ud800"}, "bad_status"),
    ],
)
def test_implausible_values_skip_their_record(extra, reason):
    record = {"id": "c1", "trunk_id": "t1", "start_time": "2026-03-10T14:00:00Z",
              "duration_seconds": 30, **extra}  # fmt: skip
    page = parsing.parse_calls_page({"calls": [record]})
    assert page.calls == []
    assert [s.reason for s in page.skipped] == [reason]
