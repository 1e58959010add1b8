"""Query parameters, cursors and control bodies of the simulated API, parsed strictly. Pure.

Anything invalid raises :class:`BadRequest` (or ``ValueError`` for a control body), which
the API answers with 400 ``INVALID_PARAMS``. Cursors are opaque to clients: urlsafe base64
of a small JSON object naming the list and the last position served.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, Final

from monitor.simulator.options import FaultOptions

Query = dict[str, list[str]]
_LIMIT_MESSAGE: Final = "Invalid limit parameter. Must be between 1 and 100"


class BadRequest(Exception):
    """A query parameter is invalid: 400 ``INVALID_PARAMS``."""


def param(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def limit(query: Query) -> int:
    raw = param(query, "limit")
    if raw is None:
        return 20
    if not _is_count(raw) or not 1 <= int(raw) <= 100:
        raise BadRequest(_LIMIT_MESSAGE)
    return int(raw)


def offset(query: Query) -> int:
    raw = param(query, "offset")
    if raw is None:
        return 0
    if not _is_count(raw):
        raise BadRequest("Invalid offset parameter. Must be a non-negative integer")
    return int(raw)


def date_range(query: Query) -> tuple[datetime | None, datetime | None]:
    """The inclusive start_time range asked for; both spellings combine (narrowest wins)."""
    lowers = [_date(query, name) for name in ("from", "start_date")]
    uppers = [_date(query, name) for name in ("to", "end_date")]
    lower = max((d for d in lowers if d is not None), default=None)
    upper = min((d for d in uppers if d is not None), default=None)
    return lower, upper


def _date(query: Query, name: str) -> datetime | None:
    raw = param(query, name)
    if raw is None:
        return None
    # An unencoded "+01:00" arrives as " 01:00": read the space back as a plus.
    for text in (raw.strip(), raw.strip().replace(" ", "+")):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            continue
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    raise BadRequest(f"Invalid {name} parameter. Must be an ISO 8601 date-time")


def encode_cursor(position: dict[str, str]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("Invalid cursor parameter") from exc
    if not isinstance(position, dict) or position.get("k") != kind:
        raise BadRequest("Invalid cursor parameter")
    return position


def decode_call_cursor(cursor: str) -> tuple[datetime, str]:
    position = decode_cursor(cursor, "calls")
    try:
        moment = datetime.fromisoformat(str(position["t"]))
        call_id = str(position["id"])
    except (KeyError, ValueError) as exc:
        raise BadRequest("Invalid cursor parameter") from exc
    if moment.tzinfo is None:
        raise BadRequest("Invalid cursor parameter")
    return moment, call_id


def fault_changes(body: bytes) -> dict[str, Any]:
    """The fault fields a ``PUT /_sim/faults`` body sets, type-checked."""
    try:
        changes = json.loads(body or b"{}")
    except ValueError as exc:
        raise ValueError("Body must be a JSON object of fault options") from exc
    if not isinstance(changes, dict):
        raise ValueError("Body must be a JSON object of fault options")
    known = {f.name: f.default for f in fields(FaultOptions)}
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise ValueError(f"Unknown fault option(s): {', '.join(unknown)[:200]}")
    for name, value in changes.items():
        wanted = float if isinstance(known[name], float) else int
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number")
        if wanted is int and not isinstance(value, int):
            raise ValueError(f"{name} must be an integer")
        changes[name] = wanted(value)
    return changes


def _is_count(raw: str) -> bool:
    # isdigit() alone accepts "²", which int() refuses.
    text = raw.strip()
    return text.isascii() and text.isdigit()
