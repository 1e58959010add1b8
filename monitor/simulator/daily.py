"""A daily pattern and an injected slowdown, applied over the scenarios' calls. Pure.

Busy hours are slower: with ``daily_peak`` above 1, every call's ``ai_latency_ms`` is
multiplied by a factor that is 1 outside the busy period and rises smoothly (a raised
cosine, :data:`BUSY_HOURS` wide) to ``daily_peak`` at ``daily_peak_hour`` UTC, so a
fixed threshold trips every evening while a comparison with yesterday does not. The
rise is smooth on purpose: the history places a call at its start and windows at its
end, a couple of minutes apart, and a step would look like an anomaly at its edges.

``ai_slowdown`` multiplies ``ai_latency_ms`` of every trunk's calls that end within the
incident (``incident_at``, ``incident_for``), whatever the scenario: the injected
"doubling in a quiet hour" that a baseline rule must catch.

Both apply after the scenario's draws, so the calls are otherwise those of the scenario
(same ids, times, statuses); the factors leave latency clamps behind, as a real slow
hour would.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Final

from monitor.simulator.options import SimulatorOptions

__all__ = ["BUSY_HOURS", "ai_factor", "daily_factor"]

#: How long the busy period lasts, from the first slow minute to the last.
BUSY_HOURS: Final = 6.0


def daily_factor(moment: datetime, peak: float, peak_hour: float) -> float:
    """The AI latency multiplier at ``moment``: 1 outside the busy hours, ``peak`` at the top."""
    if peak == 1.0:
        return 1.0
    hour = moment.hour + moment.minute / 60 + moment.second / 3600
    # Distance from the peak on the 24-hour clock, so a peak at 23:00 spans midnight.
    away = (hour - peak_hour + 12) % 24 - 12
    if abs(away) >= BUSY_HOURS / 2:
        return 1.0
    rise = math.cos(math.pi * away / BUSY_HOURS) ** 2
    return 1.0 + (peak - 1.0) * rise


def ai_factor(
    end: datetime, options: SimulatorOptions, incident: tuple[datetime, datetime]
) -> float:
    """What a call ending at ``end`` has its ``ai_latency_ms`` multiplied by."""
    factor = daily_factor(end, options.daily_peak, options.daily_peak_hour)
    if incident[0] <= end < incident[1]:
        factor *= options.ai_slowdown
    return factor
