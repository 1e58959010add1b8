"""JSON shapes of the simulated API, built from generated calls. Pure.

Shapes follow the documented Telepath endpoints (see ``telepath-api.md``): list items
carry latencies flat (or under ``metrics`` when asked), the detail nests them under
``metrics``; the overview and its field names are this simulator's choice, since the
real endpoint's schema is undocumented.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from monitor.simulator.scenarios import SimCall

#: Window of ``/analytics/overview``: calls that ended within the last 15 minutes.
OVERVIEW_WINDOW: Final = timedelta(minutes=15)
_LATENCIES: Final = ("ai_latency_ms", "carrier_lag_ms", "gateway_processing_ms")
_PROVIDERS: Final = ("openai", "elevenlabs", "custom")
_TRUNKS_CREATED: Final = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as the API writes timestamps."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def list_item(call: SimCall, *, nested: bool, now: datetime | None = None) -> dict[str, Any]:
    """One item of ``GET /calls``. A call that has not ended at ``now`` (listed only with
    ``list_in_progress``) has status ``in_progress``, no end, and half its latencies."""
    ended = now is None or call.end_time <= now
    item: dict[str, Any] = {
        "id": call.id,
        "trunk_id": call.trunk_id,
        "from": call.from_number,
        "to": call.to_number,
        "status": call.status if ended else "in_progress",
        "duration_seconds": call.duration_seconds if ended else None,
        "start_time": iso(call.start_time),
        "end_time": iso(call.end_time) if ended else None,
        "direction": call.direction,
    }
    latencies = {name: getattr(call, name) for name in _LATENCIES}
    if not ended:  # partial figures, so a client taking them as final would be caught
        latencies = {k: None if v is None else v // 2 for k, v in latencies.items()}
    if nested:
        item["metrics"] = latencies
    else:
        item.update(latencies)
    return item


def detail(call: SimCall, seed: int) -> dict[str, Any]:
    """``GET /calls/{id}``: top-level call, latencies and media figures under ``metrics``."""
    rng = random.Random(f"detail/{seed}/{call.id}")  # noqa: S311 - simulation, not security
    body = list_item(call, nested=True)
    body["disconnect_reason"] = call.disconnect_reason
    body["metrics"].update(
        packet_loss_percent=round(rng.uniform(0.0, 1.5), 2),
        jitter_ms=rng.randint(2, 40),
        codec_used=rng.choice(("G.722", "PCMU", "opus")),
    )
    turns = []
    count = 1 if call.ai_latency_ms is None else rng.randint(2, 6)
    for number in range(1, count + 1):
        agent = number % 2 == 0
        processing = 0
        if agent and call.ai_latency_ms is not None:
            processing = max(1, round(call.ai_latency_ms * rng.uniform(0.8, 1.2)))
        turns.append(
            {
                "turn_number": number,
                "speaker": "agent" if agent else "caller",
                "duration_ms": rng.randint(800, 9000),
                "processing_time_ms": processing,
            }
        )
    body["turns"] = turns
    body["segments"] = segments(call)
    body["timeline"] = timeline(call, body["metrics"]["jitter_ms"])
    return body


def segments(call: SimCall) -> list[dict[str, Any]]:
    """The detail's ``segments``: carrier, gateway, AI agent (its three latencies)."""
    legs = (
        ("carrier", call.carrier_lag_ms),
        ("gateway", call.gateway_processing_ms),
        ("ai_agent", call.ai_latency_ms),
    )
    return [{"name": name, "latency_ms": value} for name, value in legs if value is not None]


def timeline(call: SimCall, jitter_ms: int) -> list[dict[str, Any]]:
    """The detail's ``timeline``: started, answered, a reconnect for a failed call, the
    agent's slow response when it took over a second, a jitter spike when jitter was high,
    ended; oldest first."""
    events: list[tuple[datetime, str, str | None]] = [(call.start_time, "call.started", None)]
    answered = call.start_time + timedelta(seconds=1)
    events.append((answered, "call.answered", None))
    if call.status == "failed":
        events.append((answered + timedelta(seconds=2), "media.reconnect", call.disconnect_reason))
    if call.ai_latency_ms is not None and call.ai_latency_ms > 1000:
        detail = f"{call.ai_latency_ms:,} ms"
        events.append((answered + timedelta(seconds=5), "agent.slow_response", detail))
    if jitter_ms > 30:
        events.append((answered + timedelta(seconds=8), "media.jitter_spike", f"{jitter_ms} ms"))
    events.append((call.end_time, "call.ended", call.disconnect_reason))
    return [
        {"at": at.isoformat().replace("+00:00", "Z"), "event": kind, "detail": detail}
        for at, kind, detail in sorted(events, key=lambda e: e[0])
    ]


def overview(visible: Sequence[SimCall], now: datetime) -> dict[str, Any]:
    """``GET /analytics/overview`` over calls that ended in the last 15 minutes."""
    recent = [c for c in visible if now - OVERVIEW_WINDOW < c.end_time <= now]
    failed = sum(1 for c in recent if c.status == "failed")
    figures: dict[str, Any] = {
        f"avg_{name}": _mean(getattr(c, name) for c in recent) for name in _LATENCIES
    }
    figures.update(
        total_calls=len(recent),
        failed_calls=failed,
        success_rate=round(100 * (len(recent) - failed) / len(recent), 1) if recent else None,
        window_minutes=int(OVERVIEW_WINDOW.total_seconds() // 60),
    )
    return {"data": figures}


def trunk(
    number: int,
    trunk_id: str,
    today: Sequence[SimCall],
    *,
    name: str | None = None,
    status: str = "active",
) -> dict[str, Any]:
    """One item of ``GET /trunks``; ``today`` holds this trunk's calls started today (UTC).

    ``avg_latency_ms`` averages the total (AI + carrier + gateway) latency of today's calls.
    """
    created = _TRUNKS_CREATED + timedelta(days=number)
    failed = sum(1 for c in today if c.status == "failed")
    totals = [
        c.ai_latency_ms + c.carrier_lag_ms + c.gateway_processing_ms
        for c in today
        if c.ai_latency_ms is not None
        and c.carrier_lag_ms is not None
        and c.gateway_processing_ms is not None
    ]
    return {
        "id": trunk_id,
        "name": name or f"Simulated trunk {number:02d}",
        "status": status,
        "ai_provider": _PROVIDERS[(number - 1) % len(_PROVIDERS)],
        "sip_username": f"sim-trunk-{number:02d}",
        "created_at": iso(created),
        "updated_at": iso(created + timedelta(days=30)),
        "metrics": {
            "calls_today": len(today),
            "success_rate": round(100 * (len(today) - failed) / len(today), 1) if today else None,
            "avg_latency_ms": round(sum(totals) / len(totals)) if totals else None,
        },
    }


def error(code: str, message: str, status: int | None = None) -> dict[str, Any]:
    """An error body; ``status`` is included only in the lower-case style (``not_found``)."""
    inner: dict[str, Any] = {"code": code, "message": message}
    if status is not None:
        inner["status"] = status
    return {"error": inner}


def _mean(values: Iterable[int | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 1) if present else None
