"""The simulated account's trunk catalogue and call timelines. Pure.

What ``GET /trunks`` lists besides the call-carrying trunks ``conn_sim01``.. and what
``GET /calls/{id}`` adds to a call:

- Names people would give them ("Support line EU"...), AI providers in turn, status
  ``active``; a trunk named in ``disabled_trunks`` is listed ``inactive``.
- ``conn_sim01`` is renamed when the incident begins (``incident_at`` after the start):
  "Main line" becomes "Main line EU", so a client can show a rename mid-run.
- One more trunk after the others, ``Retired line``, is ``inactive`` and never carries a
  call: the catalogue always holds a disabled trunk.
- A call's direction is drawn from its id (30% outbound), not from the scenario's RNG,
  so the calls of every scenario stay as they were.
- A call's detail gets ``segments`` (carrier, gateway, AI agent: its three latencies)
  and a ``timeline``: started, answered, the agent's slowest response when it took over
  a second, a jitter spike when jitter was high, a reconnect for failed calls, ended.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from monitor.simulator.options import SimulatorOptions
from monitor.simulator.scenarios import SimCall, Timeline, trunk_id

__all__ = [
    "RENAMED_FROM",
    "RENAMED_TO",
    "RETIRED_NAME",
    "catalogue_items",
    "direction_of",
    "timeline",
    "trunk_name",
]

_NAMES: Final = (
    "Main line",
    "Support line EU",
    "Sales US",
    "Billing",
    "Reservations",
    "After-hours",
)
RENAMED_FROM: Final = "Main line"
RENAMED_TO: Final = "Main line EU"
RETIRED_NAME: Final = "Retired line"
_OUTBOUND_PERCENT: Final = 30


def trunk_name(number: int, *, renamed: bool) -> str:
    """The name of trunk ``number``; ``renamed`` once the rename has happened."""
    if number == 1 and renamed:
        return RENAMED_TO
    base = _NAMES[(number - 1) % len(_NAMES)]
    return base if number <= len(_NAMES) else f"{base} {number:02d}"


def status_of(tid: str, disabled: Sequence[str]) -> str:
    return "inactive" if tid in disabled else "active"


def retired(number: int) -> dict[str, Any]:
    """The extra trunk that is switched off and carries no calls."""
    return {
        "id": trunk_id(number),
        "name": RETIRED_NAME,
        "status": "inactive",
        "ai_provider": "custom",
        "sip_username": f"sim-trunk-{number:02d}",
        "metrics": {"calls_today": 0, "success_rate": None, "avg_latency_ms": None},
    }


def direction_of(call_id: str) -> str:
    """``inbound`` or ``outbound``, stable for a call id."""
    roll = int.from_bytes(hashlib.blake2b(call_id.encode(), digest_size=2).digest(), "big")
    return "outbound" if roll % 100 < _OUTBOUND_PERCENT else "inbound"


def segments(call: SimCall) -> list[dict[str, Any]]:
    """The latency legs of a call, named as the dashboard names them."""
    legs = (
        ("carrier", call.carrier_lag_ms),
        ("gateway", call.gateway_processing_ms),
        ("ai_agent", call.ai_latency_ms),
    )
    return [{"name": name, "latency_ms": value} for name, value in legs if value is not None]


def timeline(call: SimCall, jitter_ms: int) -> list[dict[str, Any]]:
    """The call's events, routine and notable, oldest first."""
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


def catalogue_items(
    options: SimulatorOptions,
    calls: Timeline,
    today: dict[str, list[SimCall]],
    now: datetime,
) -> list[dict[str, Any]]:
    """Every item of ``GET /trunks`` at ``now``, in list order (the retired trunk last)."""
    from monitor.simulator import bodies  # imported here: bodies imports this module

    renamed = now >= calls.started_at + options.incident_at
    items = [
        bodies.trunk(
            n,
            tid,
            today.get(tid, []),
            name=trunk_name(n, renamed=renamed),
            status=status_of(tid, options.disabled_trunks),
        )
        for n, tid in enumerate(calls.trunk_ids, 1)
    ]
    items.append(retired(len(calls.trunk_ids) + 1))
    return items
