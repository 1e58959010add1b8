"""Durations as written in the config: ``30s``, ``5m``, ``1h30m``, ``never`` for repeats.

A bare number is refused on purpose: seconds or minutes would be a guess. Each type
serialises back to the shortest spelling (:func:`format_duration`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Final

from pydantic import PlainSerializer, PlainValidator
from pydantic_core import PydanticCustomError

__all__ = [
    "Duration",
    "NonNegativeDuration",
    "Repeat",
    "WrittenRepeat",
    "format_duration",
    "parse_duration",
]

_DURATION_RE: Final = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_HINT: Final = "expected a duration like 30s, 5m, 1h, 1d"


def parse_duration(text: str) -> timedelta:
    """``30s``, ``5m``, ``1h``, ``1d`` and compounds like ``1h30m``; ValueError otherwise.

    A bare number is refused on purpose: seconds or minutes would be a guess.
    """
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        raise ValueError(_DURATION_HINT)
    d, h, m, s = (int(g or 0) for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


def format_duration(value: timedelta) -> str:
    """The shortest config spelling of a duration (``1h30m``, ``0s``), for messages and UIs."""
    total = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts) or "0s"


def _duration(minimum: timedelta, inclusive: bool) -> Callable[[Any], timedelta]:
    def validate(value: Any) -> timedelta:
        if isinstance(value, timedelta):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = parse_duration(value)
            except ValueError:
                raise PydanticCustomError("duration", _DURATION_HINT) from None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            raise PydanticCustomError("duration", "a bare number is ambiguous; " + _DURATION_HINT)
        else:
            raise PydanticCustomError("duration", _DURATION_HINT)
        if parsed < minimum or (parsed == minimum and not inclusive):
            raise PydanticCustomError("duration", "must be longer than 0s")
        return parsed

    return validate


def _repeat(value: Any) -> timedelta | None:
    if value == "never" or value is None:
        return None
    try:
        return _duration(timedelta(0), inclusive=False)(value)
    except PydanticCustomError:
        raise PydanticCustomError("duration", _DURATION_HINT + ", or never") from None


_serialize_duration = PlainSerializer(format_duration)
#: A duration that must be longer than zero.
Duration = Annotated[
    timedelta, PlainValidator(_duration(timedelta(0), inclusive=False)), _serialize_duration
]
#: A duration that may be zero (``for: 0s`` fires at once).
NonNegativeDuration = Annotated[
    timedelta, PlainValidator(_duration(timedelta(0), inclusive=True)), _serialize_duration
]


def _repeat_written(value: Any) -> timedelta | None:
    if value is None:  # `repeat:` left empty is a slip, not a way to say never
        raise PydanticCustomError("duration", _DURATION_HINT + ", or never")
    return _repeat(value)


_serialize_repeat = PlainSerializer(lambda v: "never" if v is None else format_duration(v))
#: How often to repeat a firing notification; None means ``never``.
Repeat = Annotated[timedelta | None, PlainValidator(_repeat), _serialize_repeat]
#: ``repeat`` as written in a rule: an empty value is a slip, not "never".
WrittenRepeat = Annotated[timedelta | None, PlainValidator(_repeat_written), _serialize_repeat]
