"""Component attribution: which part of the latency moved. Pure.

A latency alert says the total (or one component) is slow; the first question is then
whether the AI agent, the carrier or the gateway moved. For each of ``ai_latency_ms``,
``carrier_lag_ms`` and ``gateway_processing_ms`` this gives its value in the alert's
window, its value in a baseline period before it, the change, and the share of the
total's change it explains ("carrier lag +420 ms, 83% of the rise").

How
    Values are means over the calls that have all three components, so the components
    add up to the total and their changes add up to the total's change: the shares sum
    to 100% and none is hidden. (Percentiles do not add up; a p95 alert is still
    explained by the means of the same calls.)

    The baseline is the same group's calls, under the same filters, in the hour before
    the alert's window: ``(now - window - 1h, now - window]``. The windows keep that hour
    for this (see ``monitor.pipeline.window_retention``); when they hold less (a shorter
    retention by hand), the period is as long as what is held: the last stored period.
    With no call there, or no change at all, the values are given without shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from monitor.models import LATENCY_COMPONENTS
from monitor.windows import WindowView

__all__ = ["BASELINE", "Attribution", "ComponentChange", "attribute", "component_name"]

#: How far back before the alert's window the baseline reaches.
BASELINE: Final = timedelta(hours=1)
#: Below this total change (ms) shares are noise and are left out.
_MIN_CHANGE_MS: Final = 1.0
_NAMES: Final = {
    "ai_latency_ms": "AI latency",
    "carrier_lag_ms": "carrier lag",
    "gateway_processing_ms": "gateway processing",
}


def component_name(metric: str) -> str:
    """``carrier lag`` for ``carrier_lag_ms``: how people say it."""
    return _NAMES.get(metric, metric)


@dataclass(frozen=True, slots=True)
class ComponentChange:
    """One component: its mean now, in the baseline, and its part of the change."""

    metric: str
    value: float
    baseline: float | None = None
    change: float | None = None
    #: Share of the total's change this component explains (0.83 = 83%); None without
    #: a baseline or when the total did not move. Negative when it moved against it.
    share: float | None = None


@dataclass(frozen=True, slots=True)
class Attribution:
    """The components of one alert's latency against its baseline."""

    #: Calls with all three components in the alert's window.
    calls: int
    #: Length of the baseline period; zero when there was none.
    baseline_seconds: int
    #: Calls with all three components in the baseline period.
    baseline_calls: int
    total: float
    total_baseline: float | None
    components: tuple[ComponentChange, ...]

    @property
    def total_change(self) -> float | None:
        return None if self.total_baseline is None else self.total - self.total_baseline

    def headline(self) -> str:
        """The component that explains most of the change, in words.

        ``carrier lag +420 ms, 83% of the rise``; without a baseline, each value.
        """
        change = self.total_change
        shared = [
            (c.share, c.change, c.metric)
            for c in self.components
            if c.share is not None and c.change is not None
        ]
        if change is None or not shared:
            return ", ".join(
                f"{component_name(c.metric)} {c.value:,.0f} ms" for c in self.components
            )
        share, moved, metric = max(shared)
        word = "rise" if change > 0 else "fall"
        return f"{component_name(metric)} {moved:+,.0f} ms, {share:.0%} of the {word}"

    def lines(self) -> list[str]:
        """One line per component: ``carrier lag 500 ms (was 80 ms, +420 ms, 83%)``."""
        out = []
        for c in self.components:
            text = f"{component_name(c.metric)} {c.value:,.0f} ms"
            if c.baseline is not None and c.change is not None:
                text += f" (was {c.baseline:,.0f} ms, {c.change:+,.0f} ms"
                text += f", {c.share:.0%})" if c.share is not None else ")"
            out.append(text)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The webhook payload's ``attribution`` object."""
        return {
            "calls": self.calls,
            "baseline_seconds": self.baseline_seconds,
            "baseline_calls": self.baseline_calls,
            "total_ms": self.total,
            "total_baseline_ms": self.total_baseline,
            "total_change_ms": self.total_change,
            "headline": self.headline(),
            "components": [
                {
                    "metric": c.metric,
                    "value_ms": c.value,
                    "baseline_ms": c.baseline,
                    "change_ms": c.change,
                    "share": c.share,
                }
                for c in self.components
            ],
        }


def attribute(current: WindowView, baseline: WindowView | None) -> Attribution | None:
    """Attribute the current window's latency against a baseline view (or none).

    Returns None when no call in the current window has all three components.
    """
    calls, now = current.component_means()
    if not calls:
        return None
    before_calls, before = baseline.component_means() if baseline is not None else (0, {})
    total = sum(now[m] for m in LATENCY_COMPONENTS)
    total_before = sum(before[m] for m in LATENCY_COMPONENTS) if before_calls else None
    total_change = None if total_before is None else total - total_before
    moved = total_change is not None and abs(total_change) >= _MIN_CHANGE_MS
    components = []
    for metric in LATENCY_COMPONENTS:
        was = before.get(metric) if before_calls else None
        change = None if was is None else now[metric] - was
        share = change / total_change if moved and change is not None and total_change else None
        components.append(ComponentChange(metric, now[metric], was, change, share))
    seconds = int(baseline.window.total_seconds()) if baseline is not None else 0
    return Attribution(calls, seconds, before_calls, total, total_before, tuple(components))
