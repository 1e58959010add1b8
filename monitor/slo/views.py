"""Each SLO as people see it on the status page and in ``report``: objective,
attainment and budget remaining over the period, and the current burn rate (over the
shortest alert window)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from monitor.config import format_duration
from monitor.slo.counts import SloFigures

__all__ = ["SloRow", "render_slos", "slo_rows", "slo_text"]


@dataclass(frozen=True, slots=True)
class SloRow:
    slo: str
    summary: str | None
    #: The trunk, or None for ``per: account``.
    group: str | None
    objective: float
    period: timedelta
    #: Good calls over counted ones over the period; None without calls.
    attainment: float | None
    good: int
    total: int
    budget_remaining: float
    #: The burn rate over ``burn_window`` (the shortest alert window), None without alerts.
    burn_rate: float | None
    burn_window: timedelta | None

    def to_dict(self) -> dict[str, object]:
        return {
            "slo": self.slo,
            "summary": self.summary,
            "trunk_id": self.group,
            "objective": self.objective,
            "period_seconds": int(self.period.total_seconds()),
            "attainment": self.attainment,
            "good": self.good,
            "total": self.total,
            "budget_remaining": self.budget_remaining,
            "burn_rate": self.burn_rate,
            "burn_window_seconds": None
            if self.burn_window is None
            else int(self.burn_window.total_seconds()),
        }


def slo_rows(figures: Sequence[SloFigures]) -> list[SloRow]:
    """One row per (SLO, group), in the order given; the most spent budget first
    within each SLO."""
    rows: list[SloRow] = []
    for fig in figures:
        windows = sorted({w for a in fig.slo.alerts for w in (a.long, a.short)})
        burn_window = windows[0] if windows else None
        period = fig.period
        rows.append(
            SloRow(
                slo=fig.slo.name,
                summary=fig.slo.summary,
                group=fig.group,
                objective=fig.slo.objective,
                period=fig.slo.period,
                attainment=period.attainment,
                good=period.good,
                total=period.total,
                budget_remaining=fig.budget_remaining,
                burn_rate=None if burn_window is None else fig.burn_rate(burn_window),
                burn_window=burn_window,
            )
        )
    order = {name: i for i, name in enumerate(dict.fromkeys(r.slo for r in rows))}
    return sorted(rows, key=lambda r: (order[r.slo], r.budget_remaining, r.group or ""))


def _pct(ratio: float | None, digits: int = 3) -> str:
    return "—" if ratio is None else f"{ratio * 100:.{digits}f}%"


def _burn(row: SloRow) -> str:
    if row.burn_rate is None or row.burn_window is None:
        return "—"
    return f"{row.burn_rate:.2f}x over {format_duration(row.burn_window)}"


def _cells(row: SloRow) -> list[tuple[str, str]]:
    return [
        ("SLO", row.slo),
        ("Trunk", row.group or "all trunks"),
        ("Objective", f"{_pct(row.objective, 2)} over {format_duration(row.period)}"),
        ("Attainment", f"{_pct(row.attainment)} of {row.total:,} calls"),
        ("Budget left", _pct(row.budget_remaining, 1)),
        ("Burn rate", _burn(row)),
    ]


def render_slos(rows: Sequence[SloRow]) -> str:
    """The status page's SLO section body (every string escaped)."""
    if not rows:
        return '<p class="muted">No SLO is configured.</p>'
    heads = [h for h, _ in _cells(rows[0])]
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in heads)
    body = []
    for row in rows:
        spent = ' class="slo spent"' if row.budget_remaining < 0 else ' class="slo"'
        cells = "".join(
            f'<td data-label="{html.escape(h)}">{html.escape(v)}</td>' for h, v in _cells(row)
        )
        body.append(f"<tr{spent}>{cells}</tr>")
    return (
        '<table class="stack slos">\n<thead><tr>'
        + head
        + "</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody>\n</table>"
    )


def slo_text(rows: Sequence[SloRow]) -> list[str]:
    """Plain lines, one per row, for the terminal report."""
    return ["  " + "  ".join(f"{h.lower()}: {v}" for h, v in _cells(row)) for row in rows]
