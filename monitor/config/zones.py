"""IANA time zones as written in the config (``mute:`` windows, ``reports:``)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = ["TimeZone"]


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", "unknown time zone (use an IANA name such as Europe/Berlin or UTC)"
        ) from None
    return value


TimeZone = Annotated[str, BeforeValidator(_zone)]
