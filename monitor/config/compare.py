"""``compare:`` on a rule: judge a window against what is normal for it, not a fixed number.

Written as::

    compare:
      baseline: same time 1d        # previous 1h | same time 1d | same time 1w
                                    # | median of same hour over 4w
      warning: 1.5x                 # a ratio of the baseline...
      critical: +500ms              # ...or a difference from it (ms for latencies)
      min_value: 300                # below this absolute value, never breached
      min_baseline_calls: 50        # fewer calls behind the baseline: no data

The thresholds become absolute ones at each evaluation (:mod:`monitor.baselines`), so the
alert engine, hysteresis aside, works as for any rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitor.config.durations import format_duration, parse_duration

__all__ = [
    "Baseline",
    "Compare",
    "Relative",
    "compare_problems",
    "parse_baseline",
    "parse_relative",
]

BaselineKind = Literal["previous", "same_time", "median_same_hour"]

_PREVIOUS: Final = re.compile(r"previous\s+(\S+)")
_SAME_TIME: Final = re.compile(r"same\s+time\s+(\S+)")
_MEDIAN: Final = re.compile(r"median\s+of\s+same\s+hour\s+over\s+(\d+)\s*w")
_BASELINE_HINT: Final = (
    "expected a baseline like 'previous 1h', 'same time 1d', 'same time 1w' or "
    "'median of same hour over 4w'"
)
_RELATIVE: Final = re.compile(r"(?:(\d+(?:\.\d+)?)\s*x|([+-])\s*(\d+(?:\.\d+)?)\s*(ms)?)")
_RELATIVE_HINT: Final = "expected a ratio like 1.5x or a difference like +500ms"


@dataclass(frozen=True, slots=True)
class Baseline:
    """Where the normal value comes from.

    ``previous``: the ``offset`` just before the rule's window. ``same_time``: the rule's
    window ``offset`` ago. ``median_same_hour``: the median, over ``weeks * 7`` days, of
    the rule's window one, two... days ago.
    """

    kind: BaselineKind
    offset: timedelta
    weeks: int = 0

    @property
    def lookback(self) -> timedelta:
        """How far before the rule's window the baseline reaches."""
        if self.kind == "median_same_hour":
            return timedelta(days=7 * self.weeks)
        return self.offset

    def __str__(self) -> str:
        if self.kind == "previous":
            return f"previous {_offset_text(self.offset)}"
        if self.kind == "same_time":
            return f"same time {_offset_text(self.offset)}"
        return f"median of same hour over {self.weeks}w"


def _offset_text(offset: timedelta) -> str:
    if offset.days and offset.days % 7 == 0 and offset == timedelta(days=offset.days):
        return f"{offset.days // 7}w"
    return format_duration(offset)


def parse_baseline(text: str) -> Baseline:
    """A baseline as written; ValueError with the accepted spellings otherwise."""
    words = " ".join(text.lower().split())
    if (m := _MEDIAN.fullmatch(words)) is not None:
        weeks = int(m.group(1))
        if not 1 <= weeks <= 5:
            raise ValueError("median of same hour: between 1w and 5w (the history keeps 35d)")
        return Baseline("median_same_hour", timedelta(days=1), weeks)
    for kind, pattern in (("previous", _PREVIOUS), ("same_time", _SAME_TIME)):
        if (m := pattern.fullmatch(words)) is not None:
            offset = _offset(m.group(1))
            if offset <= timedelta(0) or offset > timedelta(days=35):
                raise ValueError("a baseline offset must be more than 0s and at most 35d")
            return Baseline(kind, offset)  # type: ignore[arg-type]
    raise ValueError(_BASELINE_HINT)


def _offset(text: str) -> timedelta:
    """A duration, weeks (``1w``) allowed: baselines are often a week back."""
    if (m := re.fullmatch(r"(\d+)w", text)) is not None:
        return timedelta(weeks=int(m.group(1)))
    return parse_duration(text)


@dataclass(frozen=True, slots=True)
class Relative:
    """A threshold relative to the baseline: ``ratio`` times it, or it plus ``delta``."""

    ratio: float | None = None
    delta: float | None = None

    def absolute(self, baseline: float) -> float:
        if self.ratio is not None:
            return baseline * self.ratio
        return baseline + (self.delta or 0.0)

    def __str__(self) -> str:
        if self.ratio is not None:
            return f"{self.ratio:g}x"
        return f"{self.delta or 0.0:+g}"


def parse_relative(value: Any) -> Relative:
    """``1.5x`` or ``+500ms`` / ``-0.02``; ValueError otherwise."""
    if isinstance(value, Relative):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # YAML reads +0.05 as a number; a bare number would read as an absolute threshold.
        raise ValueError(f'{_RELATIVE_HINT}; quote a difference: "+{value:g}"')
    if not isinstance(value, str):
        raise ValueError(_RELATIVE_HINT)
    m = _RELATIVE.fullmatch(value.strip().lower())
    if m is None:
        raise ValueError(_RELATIVE_HINT)
    if m.group(1) is not None:
        ratio = float(m.group(1))
        if ratio <= 0:
            raise ValueError("a ratio must be more than 0x")
        return Relative(ratio=ratio)
    sign = -1.0 if m.group(2) == "-" else 1.0
    return Relative(delta=sign * float(m.group(3)))


def _custom(parse: Any, kind: str) -> Any:
    def check(value: Any) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise PydanticCustomError(kind, str(exc)) from None

    return check


BaselineSpec = Annotated[
    Baseline,
    PlainValidator(
        _custom(lambda v: v if isinstance(v, Baseline) else parse_baseline(str(v)), "baseline")
    ),
    PlainSerializer(str),
]
RelativeSpec = Annotated[
    Relative, PlainValidator(_custom(parse_relative, "relative")), PlainSerializer(str)
]


class Compare(BaseModel):
    """A rule's ``compare:`` section; at least one of ``warning`` and ``critical``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    baseline: BaselineSpec
    warning: RelativeSpec | None = None
    critical: RelativeSpec | None = None
    min_value: float | None = None
    min_baseline_calls: Annotated[int, Field(ge=1)] = 20

    @model_validator(mode="after")
    def _has_threshold(self) -> Compare:
        if self.warning is None and self.critical is None:
            raise PydanticCustomError("compare", "compare needs warning or critical (or both)")
        return self


class _Written(Protocol):
    """What :func:`compare_problems` reads of a rule as written."""

    @property
    def source(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def warning(self) -> float | None: ...
    @property
    def critical(self) -> float | None: ...
    @property
    def recovery(self) -> float | None: ...
    @property
    def compare(self) -> Compare | None: ...
    @property
    def direction(self) -> str | None: ...
    @property
    def status(self) -> tuple[str, ...] | None: ...


def compare_problems(spec: _Written) -> list[tuple[str, str]]:
    """(key, message) for each way a rule's ``compare:`` cannot work."""
    out: list[tuple[str, str]] = []
    if spec.compare is None:
        return out
    for key in ("warning", "critical"):
        if getattr(spec, key) is not None:
            out.append((key, f"set {key} under compare or on the rule, not both"))
    if spec.recovery is not None:
        out.append(("recovery", "recovery does not apply to compare rules"))
    if spec.source == "overview":
        out.append(("compare", "compare needs source: calls (the history has no overview)"))
    elif spec.metric == "call_count":
        out.append(("compare", "compare does not apply to call_count"))
    if spec.op not in (">", ">="):
        out.append(("op", "compare rules alert on a rise: op must be > or >="))
    # The baseline would cover every call while the window covers the filtered ones.
    if spec.direction is not None:
        out.append(("direction", "compare rules take no direction: the history keeps none"))
    if spec.status is not None:
        out.append(
            ("status", "compare rules take no status: the history keeps every status together")
        )
    return out
