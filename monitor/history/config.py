"""The ``history:`` config section; its duration type is shared with ``reports:``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

__all__ = ["History", "HistoryDuration"]


_DURATION_RE: Final = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_HINT: Final = "expected a duration like 30s, 5m, 1h, 1d"


def _duration(value: Any) -> timedelta:
    """The config's duration spelling (``48h``, ``35d``, ``1h30m``), longer than 0s.

    Parsed here rather than with ``monitor.config``'s helper, which imports this module.
    """
    if isinstance(value, timedelta):
        parsed = value
    else:
        match = _DURATION_RE.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None or not any(match.groups()):
            raise PydanticCustomError("duration", _HINT)
        d, h, m, s = (int(g or 0) for g in match.groups())
        parsed = timedelta(days=d, hours=h, minutes=m, seconds=s)
    if parsed <= timedelta(0):
        raise PydanticCustomError("duration", "must be longer than 0s")
    return parsed


HistoryDuration = Annotated[timedelta, BeforeValidator(_duration)]


class History(BaseModel):
    """How long the rollups are kept, and how long at minute resolution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Minute rows are merged into hour rows once older than this.
    fine: HistoryDuration = timedelta(hours=48)
    #: Rows older than this are dropped; reports cannot reach further back.
    keep: HistoryDuration = timedelta(days=35)

    @model_validator(mode="after")
    def _fine_within_keep(self) -> History:
        if self.fine > self.keep:
            raise PydanticCustomError(
                "history", "history.fine is longer than history.keep; make keep the longer"
            )
        if self.fine < timedelta(hours=1):
            raise PydanticCustomError(
                "history", "history.fine must be at least 1h (hour rows are built from it)"
            )
        return self
