"""How report figures read: component labels, shares, milliseconds, changes, spans.

Pure and import-light, so every renderer (text, HTML, Slack, console, the status page)
can use it without pulling in the others.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SHORT", "change", "ms", "share", "span_text"]

SHORT: Final = {
    "ai_latency_ms": "AI",
    "carrier_lag_ms": "carrier",
    "gateway_processing_ms": "gateway",
    "total_latency_ms": "total",
}


def share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def change(now: float | None, before: float | None, *, points: bool = False) -> str:
    """``+12.0%`` (relative), or ``+1.2 pts`` for shares; "" when not comparable."""
    if now is None or before is None:
        return ""
    if points:
        return f"{(now - before) * 100:+.1f} pts"
    if before == 0:
        return ""
    return f"{(now - before) / before * 100:+.1f}%"


def span_text(seconds: float) -> str:
    minutes = round(seconds / 60)
    hours, rest = divmod(minutes, 60)
    return f"{hours}h{rest:02d}m" if hours else f"{rest}m"
