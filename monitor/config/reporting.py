"""The ``history:`` and ``reports:`` sections: how long the rollups are kept
(:mod:`monitor.history`), and the scheduled reports made from them (:mod:`monitor.reports`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from monitor.config.durations import Duration
from monitor.config.zones import TimeZone

__all__ = ["History", "ReportSpec"]


class History(BaseModel):
    """How long the rollups are kept, and how long at minute resolution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Minute rows are merged into hour rows once older than this.
    fine: Duration = timedelta(hours=48)
    #: Rows older than this are dropped; reports cannot reach further back.
    keep: Duration = timedelta(days=35)

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


_AT_RE = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _at(value: str) -> str:
    if _AT_RE.fullmatch(value) is None:
        raise PydanticCustomError("report_at", 'expected a time of day like "09:00" (24-hour)')
    return value


class ReportSpec(BaseModel):
    """One scheduled report: a daily or weekly summary sent through notifiers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
    #: daily: the previous day; weekly: the previous week, Monday to Monday.
    every: Literal["daily", "weekly"] = "daily"
    #: Local time of day it is sent, in ``timezone``.
    at: Annotated[str, AfterValidator(_at)] = "09:00"
    #: IANA zone the days (and ``at``) are counted in.
    timezone: TimeZone = "UTC"
    #: Only these trunks; all when left out.
    trunks: tuple[str, ...] | None = None
    notify: Annotated[tuple[str, ...], Field(min_length=1)]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def at_minutes(self) -> int:
        hours, minutes = self.at.split(":")
        return int(hours) * 60 + int(minutes)
