"""The simulated account's trunk catalogue. Pure.

What ``GET /trunks`` says about the call-carrying trunks ``conn_sim01``.. and more:

- Names people would give them ("Support line EU"...), AI providers in turn, status
  ``active``; a trunk named in ``disabled_trunks`` is listed ``inactive``.
- ``conn_sim01`` is renamed when the incident begins (``incident_at`` after the start):
  "Main line" becomes "Main line EU", so a client can show a rename mid-run.
- One more trunk after the others, ``Retired line``, is ``inactive`` and never carries a
  call: the catalogue always holds a disabled trunk.

Calls' directions and the detail's segments and timeline are in ``scenarios`` and
``bodies``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from monitor.simulator import bodies
from monitor.simulator.options import SimulatorOptions
from monitor.simulator.scenarios import SimCall, Timeline, trunk_id

__all__ = [
    "RENAMED_FROM",
    "RENAMED_TO",
    "RETIRED_NAME",
    "catalogue_items",
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


def catalogue_items(
    options: SimulatorOptions,
    calls: Timeline,
    today: dict[str, list[SimCall]],
    now: datetime,
) -> list[dict[str, Any]]:
    """Every item of ``GET /trunks`` at ``now``, in list order (the retired trunk last)."""
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
