"""The ``slos:`` section: objectives over good/total call counts, and their burn-rate alerts
(:mod:`monitor.slo`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from monitor.config.durations import Duration
from monitor.models import LatencyMetric

__all__ = ["DEFAULT_BURN_ALERTS", "BurnAlert", "GoodCall", "Slo"]

_PERCENT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GoodCall(_Frozen):
    """What a good call is: one latency (a component or the total) at or under a bound."""

    metric: LatencyMetric
    op: Literal["<=", "<"] = "<="
    #: Milliseconds, like the rules' latency thresholds.
    threshold: Annotated[float, Field(gt=0)]

    def holds(self, value: float) -> bool:
        return value <= self.threshold if self.op == "<=" else value < self.threshold


class BurnAlert(_Frozen):
    """Alert while the budget burns at ``burn_rate`` times the sustainable pace or faster,
    over both the ``long`` and the ``short`` window (the short one makes it clear fast)."""

    burn_rate: Annotated[float, Field(gt=0)]
    long: Duration
    short: Duration
    severity: Literal["warning", "critical"] = "critical"
    #: Notifier names; left out: ``defaults.notify`` for the severity.
    notify: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _short_within_long(self) -> BurnAlert:
        if self.short >= self.long:
            raise PydanticCustomError("slo", "short must be shorter than long")
        return self


#: The Google SRE workbook's multi-window, multi-burn-rate defaults: two pages, one ticket.
DEFAULT_BURN_ALERTS: Final = (
    BurnAlert(burn_rate=14.4, long=timedelta(hours=1), short=timedelta(minutes=5)),
    BurnAlert(burn_rate=6, long=timedelta(hours=6), short=timedelta(minutes=30)),
    BurnAlert(burn_rate=1, long=timedelta(days=3), short=timedelta(hours=6), severity="warning"),
)


class Slo(_Frozen):
    """One objective: the share of counted calls that must be good over ``period``."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=60)]
    summary: str | None = None
    per: Literal["trunk", "account"] = "trunk"
    trunks: Annotated[tuple[str, ...], Field(min_length=1)] | None = None
    exclude_trunks: tuple[str, ...] = ()
    good: GoodCall
    #: Only calls of these statuses count (good or bad); all calls when left out.
    status: Annotated[tuple[str, ...], Field(min_length=1)] | None = None
    #: The target share of good calls, 0..1 exclusive; ``99%`` and ``0.99`` both work.
    objective: float
    period: Duration = timedelta(days=28)
    alerts: tuple[BurnAlert, ...] = DEFAULT_BURN_ALERTS

    @field_validator("objective", mode="before")
    @classmethod
    def _ratio(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _PERCENT.fullmatch(value)
            if match is None:
                raise PydanticCustomError(
                    "slo", 'expected a ratio like 0.99 or a percentage like "99%"'
                )
            return float(match.group(1)) / 100
        return value

    @field_validator("objective")
    @classmethod
    def _in_range(cls, value: float) -> float:
        if not 0 < value < 1:
            raise PydanticCustomError(
                "slo", "objective must be above 0% and below 100% (no budget at 100%)"
            )
        return value

    @model_validator(mode="after")
    def _windows_within_period(self) -> Slo:
        if "alerts" not in self.model_fields_set:
            # A default yields to what was written: the default alerts that do not fit
            # a short period are left out rather than refused.
            fitting = tuple(a for a in self.alerts if a.long <= self.period)
            object.__setattr__(self, "alerts", fitting)
            return self
        for alert in self.alerts:
            if alert.long > self.period:
                raise PydanticCustomError(
                    "slo", "an alert's long window is longer than the SLO's period"
                )
        return self

    def counts(self, trunk: str) -> bool:
        """Whether this SLO's trunk selection takes ``trunk`` in."""
        if trunk in self.exclude_trunks:
            return False
        return self.trunks is None or trunk in self.trunks
