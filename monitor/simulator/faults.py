"""Fault injection: which request gets which fault, and how a body is spoiled.

One RNG, seeded from the run's seed, gives each API request its own seed in arrival
order, so a given sequence of requests meets the same faults on every run. Order of
precedence for a request: ``reset_next``, ``fail_next``, ``error_rate``; independently
``slow_next`` / ``slow_rate`` delay whatever answer follows, and ``malformed_next`` /
``malformed_rate`` spoil a 200 body.

Duplicates (``duplicate_rate``): a cursor page after the first starts 1 to 3 records
before the cursor; an offset page starts that much earlier per page boundary crossed
(growing along the walk, with ``total`` grown to match, as when calls arrive meanwhile).
Either way a client that de-duplicates by id misses nothing.

Odd records (``odd_record_rate``), one variant per odd record, see
:data:`ODD_RECORD_VARIANTS`. A client must skip ``missing_id`` and ``bad_start_time``
records (they are the malformed ones) and accept every other variant.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Final

from monitor.simulator.options import MAX_SLOW_SECONDS, FaultOptions

#: How an odd list record differs from a clean one.
ODD_RECORD_VARIANTS: Final = (
    "missing_id",  # no "id": malformed, skip it
    "missing_trunk_id",  # no "trunk_id"
    "latency_string",  # "ai_latency_ms": "215"
    "latency_null",  # "ai_latency_ms": null
    "latency_nested",  # latencies under "metrics" instead of flat
    "unknown_status",  # "Completed" or "dropped"
    "bad_start_time",  # unparseable start_time: malformed, skip it
    "extra_fields",  # unknown keys ("recording", "x_sim_tags")
    "float_latency",  # "ai_latency_ms": 215.7
)
#: Variants a client must drop; it must accept the others.
MALFORMED_VARIANTS: Final = frozenset({"missing_id", "bad_start_time"})

#: How a malformed 200 body is spoiled.
MALFORMED_KINDS: Final = (
    "not_json",  # an HTML page served as application/json
    "truncated",  # valid JSON cut in half
    "top_level_list",  # the expected object wrapped in a list
    "wrong_type",  # "data"/"calls"/"trunks"/"metrics" given as a string
)

_LATENCIES: Final = ("ai_latency_ms", "carrier_lag_ms", "gateway_processing_ms")
_ERROR_STATUSES: Final = (500, 502, 503)
BAD_GATEWAY_HTML: Final = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center></body></html>\n"
)


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The faults one request meets; ``rng`` drives its per-record choices."""

    rng: random.Random
    reset: bool = False
    fail_status: int | None = None
    delay: float = 0.0
    malformed: str | None = None
    duplicate_rate: float = 0.0
    odd_record_rate: float = 0.0


def plan(faults: FaultOptions, draw: random.Random) -> FaultPlan:
    """Decide a request's faults, consuming ``*_next`` counters.

    Call with the server's lock held: it reads and decrements ``faults``.
    """
    rng = random.Random(draw.getrandbits(64))  # noqa: S311 - simulation, not security
    fail_roll, status_roll, slow_roll, malformed_roll, kind_roll = (rng.random() for _ in range(5))
    kind = MALFORMED_KINDS[int(kind_roll * len(MALFORMED_KINDS))]

    if faults.reset_next > 0:
        faults.reset_next -= 1
        return FaultPlan(rng, reset=True)
    fail_status: int | None = None
    if faults.fail_next > 0:
        faults.fail_next -= 1
        fail_status = faults.fail_status
    elif fail_roll < faults.error_rate:
        fail_status = _ERROR_STATUSES[int(status_roll * len(_ERROR_STATUSES))]
    delay = 0.0
    if faults.slow_next > 0:
        faults.slow_next -= 1
        delay = faults.slow_seconds
    elif slow_roll < faults.slow_rate:
        delay = faults.slow_seconds
    malformed: str | None = None
    if fail_status is None:
        if faults.malformed_next > 0:
            faults.malformed_next -= 1
            malformed = kind
        elif malformed_roll < faults.malformed_rate:
            malformed = kind
    return FaultPlan(
        rng,
        fail_status=fail_status,
        delay=min(max(delay, 0.0), MAX_SLOW_SECONDS),
        malformed=malformed,
        duplicate_rate=faults.duplicate_rate,
        odd_record_rate=faults.odd_record_rate,
    )


def error_body(status: int) -> tuple[str, bytes]:
    """Content type and body of an injected error; 502 looks like a proxy's HTML page."""
    if status == 502:
        return "text/html", BAD_GATEWAY_HTML
    codes = {500: "INTERNAL_ERROR", 503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}
    code = codes.get(status, "SIMULATED_ERROR")
    body = {"error": {"code": code, "message": f"Simulated failure (HTTP {status})"}}
    return "application/json", json.dumps(body).encode()


def malform(payload: Any, kind: str) -> bytes:
    """Spoil a JSON payload in the given way (one of :data:`MALFORMED_KINDS`)."""
    if kind == "not_json":
        return b"<html><body>Service temporarily degraded</body></html>"
    if kind == "truncated":
        text = json.dumps(payload).encode()
        return text[: max(1, len(text) // 2)]
    if kind == "top_level_list":
        return json.dumps([payload]).encode()
    spoiled = dict(payload) if isinstance(payload, dict) else {"data": payload}
    for key in ("data", "calls", "trunks", "metrics"):
        if key in spoiled:
            spoiled[key] = "unavailable"
            break
    else:
        spoiled = {"data": "unavailable"}
    return json.dumps(spoiled).encode()


def oddify(record: dict[str, Any], variant: str, rng: random.Random) -> dict[str, Any]:
    """A copy of a list record changed in the way ``variant`` names."""
    odd = dict(record)
    metrics = odd.get("metrics")
    holder: dict[str, Any] = dict(metrics) if isinstance(metrics, dict) else odd
    if holder is not odd:
        odd["metrics"] = holder
    if variant == "missing_id":
        odd.pop("id", None)
    elif variant == "missing_trunk_id":
        odd.pop("trunk_id", None)
    elif variant == "latency_string":
        holder["ai_latency_ms"] = str(holder.get("ai_latency_ms") or 215)
    elif variant == "latency_null":
        holder["ai_latency_ms"] = None
    elif variant == "latency_nested":
        odd["metrics"] = {k: holder.get(k) for k in _LATENCIES}
        for key in _LATENCIES:
            odd.pop(key, None)
    elif variant == "unknown_status":
        odd["status"] = rng.choice(("Completed", "dropped"))
    elif variant == "bad_start_time":
        odd["start_time"] = rng.choice(("not-a-date", "2026-13-45T25:61:00Z", ""))
    elif variant == "extra_fields":
        odd["recording"] = None  # list items carry direction now: another field is extra
        odd["x_sim_tags"] = {"region": "sim-east", "recorded": False}
    elif variant == "float_latency":
        value = holder.get("ai_latency_ms")
        holder["ai_latency_ms"] = (value if isinstance(value, int) else 215) + 0.7
    else:
        raise ValueError(f"unknown odd record variant {variant!r}")
    return odd


def oddify_page(records: list[dict[str, Any]], fault: FaultPlan) -> list[dict[str, Any]]:
    """Make each record odd with probability ``odd_record_rate``, one random variant each."""
    if fault.odd_record_rate <= 0:
        return records
    result = []
    for record in records:
        if fault.rng.random() < fault.odd_record_rate:
            record = oddify(record, fault.rng.choice(ODD_RECORD_VARIANTS), fault.rng)
        result.append(record)
    return result
