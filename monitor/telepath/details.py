"""``GET /calls/{id}`` read for what helps on call: the slowest segment, the codec, the
notable timeline events. Pure: no I/O.

The API reference promises "per-segment latency metrics, codec details and timeline
events" without field names (shared/telepath-api.md §6), so every part is looked for
under the names a reasonable API would use, and a part we cannot read is simply absent:

- segments: a list under ``segments``, ``latency_segments`` or ``metrics.segments``, each
  with a name (``name``, ``segment``, ``type``) and a latency (``latency_ms``,
  ``duration_ms``, ``value_ms``); failing that, the agent turns (``turns[]``, the slowest
  ``processing_time_ms``); failing that, the three latency components of ``metrics``;
- codec: ``metrics.codec_used``, ``codec`` or ``codec.name`` (an object of codec details);
- timeline: a list under ``timeline``, ``events`` or ``timeline_events``, each with a
  time (``at``, ``timestamp``, ``time``), a kind (``event``, ``type``, ``name``) and maybe
  a ``detail``/``message``/``reason``. Routine events (started, ringing, answered,
  connected, ended) are not notable; at most :data:`MAX_EVENTS` others are kept.

The whole record must still be a call (:func:`monitor.telepath.parsing.parse_call_detail`);
anything else is :class:`~monitor.errors.MalformedResponse`, like any other body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from monitor.models import LATENCY_COMPONENTS, Call
from monitor.telepath.parsing import (
    parse_call_detail,
    parse_number,
    parse_timestamp,
    unwrap_object,
)

__all__ = ["MAX_EVENTS", "CallDetails", "Segment", "TimelineEvent", "parse_call_details"]

#: Notable timeline events kept per call.
MAX_EVENTS: Final = 5
#: Longest text kept from the API for one field (names, event kinds, details).
_TEXT_CAP: Final = 120
_ROUTINE: Final = frozenset(
    {"started", "ringing", "answered", "connected", "ended", "completed", "created"}
)


@dataclass(frozen=True, slots=True)
class Segment:
    """One leg of the call's latency, e.g. ``carrier`` 85 ms."""

    name: str
    latency_ms: float


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One notable event of the call's timeline."""

    kind: str
    at: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class CallDetails:
    """What the detail record adds, summarised."""

    call: Call
    slowest_segment: Segment | None = None
    codec: str | None = None
    disconnect_reason: str | None = None
    events: tuple[TimelineEvent, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the webhook's ``call_details[]`` item and the cache row."""
        segment = self.slowest_segment
        return {
            "id": self.call.id,
            "trunk_id": self.call.trunk_id,
            "status": self.call.status,
            "direction": self.call.direction,
            "slowest_segment": (
                None
                if segment is None
                else {"name": segment.name, "latency_ms": segment.latency_ms}
            ),
            "codec": self.codec,
            "disconnect_reason": self.disconnect_reason,
            "events": [{"kind": e.kind, "at": e.at, "detail": e.detail} for e in self.events],
        }


def parse_call_details(body: object, *, endpoint: str = "/calls/{id}") -> CallDetails:
    """Summarise a ``GET /calls/{id}`` body."""
    detail = parse_call_detail(body, endpoint=endpoint)  # MalformedResponse when not a call
    record = unwrap_object(body, endpoint=endpoint)
    metrics = _mapping(record.get("metrics"))
    reason = detail.disconnect_reason
    return CallDetails(
        call=detail.call,
        slowest_segment=_slowest(record, metrics, detail.call),
        codec=_codec(record, metrics),
        disconnect_reason=None if reason is None else _text(reason),
        events=_events(record),
    )


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:_TEXT_CAP]
    return None


def _number(value: object) -> float | None:
    try:
        number = parse_number(value)
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None


def _first(record: Mapping[str, object], *names: str) -> object:
    for name in names:
        value = record.get(name)
        if value is not None:
            return value
    return None


def _list(value: object) -> Sequence[object]:
    return value if isinstance(value, list) else []


def _slowest(
    record: Mapping[str, object], metrics: Mapping[str, object], call: Call
) -> Segment | None:
    segments: list[Segment] = []
    raw = _first(record, "segments", "latency_segments") or metrics.get("segments")
    for item in _list(raw):
        entry = _mapping(item)
        name = _text(_first(entry, "name", "segment", "type"))
        latency = _number(_first(entry, "latency_ms", "duration_ms", "value_ms"))
        if name is not None and latency is not None:
            segments.append(Segment(name, latency))
    if not segments:
        for item in _list(record.get("turns")):
            entry = _mapping(item)
            latency = _number(entry.get("processing_time_ms"))
            number = entry.get("turn_number")
            if latency:
                label = f"agent turn {number}" if isinstance(number, int) else "agent turn"
                segments.append(Segment(label, latency))
    if not segments:
        for metric in LATENCY_COMPONENTS:
            value = call.latency(metric)
            if value is not None:
                segments.append(Segment(metric.removesuffix("_ms"), value))
    return max(segments, key=lambda s: s.latency_ms, default=None)


def _codec(record: Mapping[str, object], metrics: Mapping[str, object]) -> str | None:
    value = _first(metrics, "codec_used", "codec") or _first(record, "codec_used", "codec")
    if isinstance(value, Mapping):
        return _text(_first(value, "name", "codec", "type"))
    return _text(value)


def _events(record: Mapping[str, object]) -> tuple[TimelineEvent, ...]:
    raw = _first(record, "timeline", "events", "timeline_events")
    out: list[TimelineEvent] = []
    for item in _list(raw):
        entry = _mapping(item)
        kind = _text(_first(entry, "event", "type", "name"))
        if kind is None or kind.lower().rsplit(".", 1)[-1] in _ROUTINE:
            continue
        when = _first(entry, "at", "timestamp", "time")
        try:
            at = parse_timestamp(when).isoformat().replace("+00:00", "Z")
        except ValueError:
            at = None
        detail = _text(_first(entry, "detail", "message", "reason"))
        out.append(TimelineEvent(kind, at, detail))
        if len(out) >= MAX_EVENTS:
            break
    return tuple(out)
