"""Telepath response bodies → models. Pure: no I/O, no clock.

The public docs disagree with each other (see shared/telepath-api.md §10), so every
reader here accepts each documented variant:

- list items under ``data``, under the resource name (``calls``, ``trunks``), or a bare array;
- cursor pagination (``next_cursor``, ``has_more``) or offset (``pagination.total``...);
- latencies flat on the call or nested under ``metrics``;
- numbers as int, float or numeric string; timestamps in any ISO 8601 form.

A record we cannot use raises :class:`RecordError`; the page reader skips it and
reports it, so one bad record never costs the rest of its page. A body we cannot
read at all raises :class:`~monitor.errors.MalformedResponse`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from monitor.errors import MalformedResponse
from monitor.models import LATENCY_COMPONENTS, Call, CallDetail, Overview, Trunk

#: Statuses that mean a call has not ended. The documented final statuses are
#: connected, failed and disconnected; these are the usual words for the other side.
IN_PROGRESS_STATUSES: Final = frozenset(
    {"in_progress", "in-progress", "inprogress", "ongoing", "active", "ringing", "started",
     "initiated", "queued", "live"}
)  # fmt: skip
#: Larger per-call latencies are implausible (an average answer time of ten minutes) and
#: would poison sums and histograms: the record is skipped.
MAX_LATENCY_MS: Final = 600_000.0
#: A call lasting longer than a day is implausible; its duration would also stretch the
#: learned overlap to the configured ceiling.
MAX_DURATION_SECONDS: Final = 86_400.0
#: Ids longer than this are not ids: skipped rather than stored.
MAX_ID_LENGTH: Final = 256

#: Field names tried for each overview metric when the config names none, in order.
OVERVIEW_CANDIDATES: Final[Mapping[str, tuple[str, ...]]] = {
    "ai_latency_ms": ("avg_ai_latency_ms", "ai_latency_ms", "average_ai_latency_ms"),
    "carrier_lag_ms": ("avg_carrier_lag_ms", "carrier_lag_ms", "average_carrier_lag_ms"),
    "gateway_processing_ms": (
        "avg_gateway_processing_ms",
        "gateway_processing_ms",
        "average_gateway_processing_ms",
    ),
    "call_count": ("total_calls", "call_count", "calls"),
}


class RecordError(ValueError):
    """One record in a list could not be used.

    Args:
        reason: short, fixed vocabulary usable as a metric label (``missing_id``...).
        record_id: the record's id when it had a usable one, for the debug log.
    """

    def __init__(self, reason: str, record_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record_id = record_id


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A record left out of a page, and why.

    ``key`` tells the same record apart when a re-read brings it again: its id, or a
    digest of the record when it has no usable id.
    """

    reason: str
    record_id: str | None
    key: str = ""


@dataclass(frozen=True, slots=True)
class Pagination:
    """What a list response says about the pages after it.

    ``style`` is ``cursor`` when the body carries ``next_cursor``/``has_more``,
    ``offset`` when it carries ``pagination``, ``none`` when it carries neither (one page).
    """

    style: Literal["cursor", "offset", "none"]
    next_cursor: str | None = None
    has_more: bool | None = None
    offset: int | None = None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class CallsPage:
    """One page of ``GET /calls``: usable calls, skipped records, and where to go next.

    ``item_count`` counts every item the page held, skipped ones included: offset
    pagination advances by it. ``open`` holds calls still in progress (see
    :func:`is_in_progress`): listed, but not final. ``cut_short`` is set by the client on
    the last page of a walk stopped by its page limit.
    """

    calls: list[Call]
    pagination: Pagination
    item_count: int
    skipped: list[SkippedRecord] = field(default_factory=list)
    open: list[Call] = field(default_factory=list)
    cut_short: bool = False


@dataclass(frozen=True, slots=True)
class TrunksPage:
    """One page of ``GET /trunks``."""

    trunks: list[Trunk]
    pagination: Pagination
    item_count: int
    skipped: list[SkippedRecord] = field(default_factory=list)


# --- scalars ---------------------------------------------------------------------------


def parse_timestamp(value: object) -> datetime:
    """Read an ISO 8601 timestamp; a missing offset means UTC. Raises ValueError."""
    if not isinstance(value, str) or not value:
        raise ValueError("timestamp is not a string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_number(value: object) -> float | None:
    """Read a number given as int, float or numeric string; None for null.

    Raises ValueError for anything else, including booleans and NaN/infinity,
    which would poison averages silently.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("boolean is not a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return None
        number = float(stripped)
    else:
        raise ValueError("not a number")
    if not math.isfinite(number):
        raise ValueError("number is not finite")
    return number


def _opaque_id(value: object) -> str | None:
    """Ids are opaque strings; numbers are accepted and turned into strings.

    A string that is not valid Unicode text (a lone surrogate from a ``\\ud800`` escape)
    or absurdly long is no id: it could not be stored or shown.
    """
    if isinstance(value, str) and value.strip():
        text = value.strip()
        return text if len(text) <= MAX_ID_LENGTH and _encodable(text) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def record_key(record: object) -> str:
    """What tells a record apart across re-reads, even one without a usable id."""
    if isinstance(record, Mapping):
        call_id = _opaque_id(record.get("id"))
        if call_id is not None:
            return f"id:{call_id}"
    try:
        text = json.dumps(record, sort_keys=True, default=str)
    except (ValueError, TypeError, RecursionError):
        text = type(record).__name__
    return "sha1:" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


# --- envelopes -------------------------------------------------------------------------


def unwrap_object(body: object, *, endpoint: str) -> Mapping[str, object]:
    """The object of a single-object response, with a ``data`` envelope removed."""
    if not isinstance(body, Mapping):
        raise MalformedResponse(
            f"{endpoint}: expected a JSON object, got {type(body).__name__}", endpoint=endpoint
        )
    inner = body.get("data")
    if isinstance(inner, Mapping):
        return inner
    return body


def list_items(body: object, resource: str, *, endpoint: str) -> Sequence[object]:
    """The items of a list response: under ``data``, under ``resource``, or a bare array."""
    if isinstance(body, list):
        return body
    if isinstance(body, Mapping):
        for key in ("data", resource):
            items = body.get(key)
            if isinstance(items, list):
                return items
            if isinstance(items, Mapping) and isinstance(items.get(resource), list):
                nested: list[object] = items[resource]
                return nested
    raise MalformedResponse(
        f"{endpoint}: no list of {resource} in the response (looked for 'data' and '{resource}')",
        endpoint=endpoint,
    )


def parse_pagination(body: object) -> Pagination:
    """Detect the pagination style of a list body (cursor fields win over offset)."""
    if not isinstance(body, Mapping):
        return Pagination(style="none")
    if "next_cursor" in body or "has_more" in body:
        cursor = body.get("next_cursor")
        has_more = body.get("has_more")
        return Pagination(
            style="cursor",
            next_cursor=cursor if isinstance(cursor, str) and cursor else None,
            has_more=has_more if isinstance(has_more, bool) else None,
        )
    info = body.get("pagination")
    if isinstance(info, Mapping):
        return Pagination(
            style="offset",
            offset=_int_or_none(info.get("offset")),
            total=_int_or_none(info.get("total")),
        )
    return Pagination(style="none")


def _int_or_none(value: object) -> int | None:
    try:
        number = parse_number(value)
    except ValueError:
        return None
    return None if number is None else int(number)


def parse_error_body(body: object) -> tuple[str | None, str | None]:
    """``(error.code, error.message)`` from an error body of any documented shape."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            code, message = error.get("code"), error.get("message")
            return (
                code if isinstance(code, str) else None,
                message if isinstance(message, str) else None,
            )
        if isinstance(error, str):
            return None, error
    return None, None


# --- records ---------------------------------------------------------------------------


def _latency(record: Mapping[str, object], name: str) -> float | None:
    """A latency read flat first, then under ``metrics`` (detail and webhook shape)."""
    value = record.get(name)
    if value is None:
        metrics = record.get("metrics")
        if isinstance(metrics, Mapping):
            value = metrics.get(name)
    try:
        number = parse_number(value)
    except ValueError as exc:
        raise RecordError(f"bad_{name}") from exc
    if number is not None and number < 0:
        raise RecordError(f"negative_{name}")
    if number is not None and number > MAX_LATENCY_MS:
        raise RecordError(f"implausible_{name}")
    return number


def parse_call(record: object) -> Call:
    """One call object from a list or detail response. Raises :class:`RecordError`."""
    if not isinstance(record, Mapping):
        raise RecordError("not_an_object")
    call_id = _opaque_id(record.get("id"))
    if call_id is None:
        raise RecordError("missing_id")
    trunk_id = _opaque_id(record.get("trunk_id") or record.get("connection_id"))
    if trunk_id is None:
        raise RecordError("missing_trunk_id", call_id)
    try:
        start_time = parse_timestamp(record.get("start_time"))
    except ValueError as exc:
        raise RecordError("bad_start_time", call_id) from exc
    end_raw = record.get("end_time")
    try:
        end_time = parse_timestamp(end_raw) if end_raw is not None else None
        duration = parse_number(record.get("duration_seconds"))
    except ValueError as exc:
        raise RecordError("bad_end_time_or_duration", call_id) from exc
    if duration is not None and not 0 <= duration <= MAX_DURATION_SECONDS:
        raise RecordError("implausible_duration_seconds", call_id)
    if end_time is not None and end_time - start_time > timedelta(seconds=MAX_DURATION_SECONDS):
        raise RecordError("implausible_end_time", call_id)
    status = record.get("status")
    if isinstance(status, str) and not _encodable(status):
        raise RecordError("bad_status", call_id)
    try:
        latencies = {name: _latency(record, name) for name in LATENCY_COMPONENTS}
    except RecordError as exc:
        raise RecordError(exc.reason, call_id) from exc
    direction = record.get("direction")
    return Call(
        id=call_id,
        trunk_id=trunk_id,
        status=status.strip().lower() if isinstance(status, str) and status.strip() else "unknown",
        start_time=start_time,
        end_time=end_time,
        duration_seconds=duration,
        **latencies,
        direction=direction.strip().lower() or None if isinstance(direction, str) else None,
    )


def is_in_progress(call: Call) -> bool:
    """True for a call that has not ended: an in-progress status, or neither an end
    time nor a duration. Its latencies are partial, so it is not final yet."""
    if call.status in IN_PROGRESS_STATUSES:
        return True
    return call.end_time is None and call.duration_seconds is None


def parse_calls_page(body: object, *, endpoint: str = "/calls") -> CallsPage:
    """A page of calls; unusable records are skipped and listed, never fatal."""
    items = list_items(body, "calls", endpoint=endpoint)
    calls: list[Call] = []
    open_calls: list[Call] = []
    skipped: list[SkippedRecord] = []
    for item in items:
        try:
            call = parse_call(item)
        except RecordError as exc:
            skipped.append(SkippedRecord(exc.reason, exc.record_id, record_key(item)))
            continue
        (open_calls if is_in_progress(call) else calls).append(call)
    return CallsPage(calls, parse_pagination(body), len(items), skipped, open_calls)


def parse_call_detail(body: object, *, endpoint: str = "/calls/{id}") -> CallDetail:
    """``GET /calls/{id}``: the call plus detail-only fields."""
    record = unwrap_object(body, endpoint=endpoint)
    try:
        call = parse_call(record)
    except RecordError as exc:
        raise MalformedResponse(
            f"{endpoint}: call record is unusable ({exc.reason})", endpoint=endpoint
        ) from exc
    metrics = record.get("metrics")
    metrics = metrics if isinstance(metrics, Mapping) else {}
    reason = record.get("disconnect_reason") or record.get("reason")
    codec = metrics.get("codec_used")
    return CallDetail(
        call=call,
        disconnect_reason=reason if isinstance(reason, str) else None,
        packet_loss_percent=_lenient_number(metrics.get("packet_loss_percent")),
        jitter_ms=_lenient_number(metrics.get("jitter_ms")),
        codec=codec if isinstance(codec, str) else None,
    )


def _lenient_number(value: object) -> float | None:
    """For informational fields: a bad value is simply absent."""
    try:
        return parse_number(value)
    except ValueError:
        return None


def _dig(obj: Mapping[str, object], dotted: str) -> object:
    current: object = obj
    for part in dotted.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def parse_overview(
    body: object,
    *,
    fetched_at: datetime,
    fields: Mapping[str, str] | None = None,
    endpoint: str = "/analytics/overview",
) -> Overview:
    """``GET /analytics/overview``: every figure optional, its field name configurable.

    ``fields`` maps our metric names to a (dotted) field name in the body; a metric
    without one is looked up under :data:`OVERVIEW_CANDIDATES`, under ``data`` and at
    top level. ``failed_ratio`` is derived from failed and total counts, or from a
    0-100 ``success_rate``, when the body has them.
    """
    if not isinstance(body, Mapping):
        raise MalformedResponse(
            f"{endpoint}: expected a JSON object, got {type(body).__name__}", endpoint=endpoint
        )
    inner = unwrap_object(body, endpoint=endpoint)
    fields = fields or {}
    values: dict[str, float] = {}
    for metric in (*OVERVIEW_CANDIDATES, "failed_ratio"):
        if metric in fields:
            raw = _dig(body, fields[metric])
            if raw is None and inner is not body:
                raw = _dig(inner, fields[metric])
        else:
            raw = next(
                (inner[k] for k in OVERVIEW_CANDIDATES.get(metric, ()) if inner.get(k) is not None),
                None,
            )
        number = _lenient_number(raw)
        if number is not None:
            values[metric] = number
    if "failed_ratio" not in values:
        derived = _failed_ratio(inner)
        if derived is not None:
            values["failed_ratio"] = derived
    return Overview(fetched_at=fetched_at, values=values, raw=dict(inner))


def _failed_ratio(inner: Mapping[str, object]) -> float | None:
    failed = _lenient_number(inner.get("failed_calls"))
    total = _lenient_number(inner.get("total_calls"))
    if failed is not None and total:
        return failed / total
    success = _lenient_number(inner.get("success_rate"))
    if success is not None and 0 <= success <= 100:
        return 1 - success / 100  # documented as a 0-100 percentage
    return None


def parse_trunk(record: object) -> Trunk:
    """One trunk object. Raises :class:`RecordError`."""
    if not isinstance(record, Mapping):
        raise RecordError("not_an_object")
    trunk_id = _opaque_id(record.get("id"))
    if trunk_id is None:
        raise RecordError("missing_id")
    metrics = record.get("metrics")
    metrics = metrics if isinstance(metrics, Mapping) else {}
    name, status = record.get("name"), record.get("status")
    provider = record.get("ai_provider") or record.get("provider")
    success = _lenient_number(metrics.get("success_rate"))
    calls_today = _lenient_number(metrics.get("calls_today"))
    return Trunk(
        id=trunk_id,
        name=name if isinstance(name, str) else None,
        status=status.lower() if isinstance(status, str) else None,
        calls_today=None if calls_today is None else int(calls_today),
        success_ratio=None if success is None else success / 100,
        avg_latency_ms=_lenient_number(metrics.get("avg_latency_ms")),
        provider=provider if isinstance(provider, str) else None,
    )


def parse_trunks_page(body: object, *, endpoint: str = "/trunks") -> TrunksPage:
    """A page of trunks; unusable records are skipped and listed."""
    items = list_items(body, "trunks", endpoint=endpoint)
    trunks: list[Trunk] = []
    skipped: list[SkippedRecord] = []
    for item in items:
        try:
            trunks.append(parse_trunk(item))
        except RecordError as exc:
            skipped.append(SkippedRecord(exc.reason, exc.record_id, record_key(item)))
    return TrunksPage(trunks, parse_pagination(body), len(items), skipped)
