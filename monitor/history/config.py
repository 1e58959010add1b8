"""The ``history:`` config section; its duration type is shared with ``reports:``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

__all__ = ["History", "HistoryDuration"]


def _duration(value: Any) -> timedelta:
    # Imported here: monitor.config imports this module to build the root model.
    from monitor.config import parse_duration

    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("duration", "expected a duration like 30s, 5m, 1h, 1d")
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None
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
