"""A report for people: text lines for the terminal, one HTML page with SVG charts.

Pure: figures in, text out. The HTML is self-contained (inline CSS and SVG, no script,
no assets), scales to a phone, and escapes every text that came from the API (trunk ids)
or the config (rule names).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from monitor.models import LATENCY_METRICS
from monitor.reports.figures import Point, ReportFigures, Totals
from monitor.reports.words import SHORT, change, ms, share, span_text

__all__ = ["period_title", "render_html", "render_text"]


def period_title(figures: ReportFigures) -> str:
    start, end = figures.start.astimezone(UTC), figures.end.astimezone(UTC)
    if end - start == timedelta(days=1) and start.hour == start.minute == 0:
        text = start.strftime("%Y-%m-%d")
    else:
        text = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    if figures.trunk_filter:
        text += " · trunks " + ", ".join(figures.trunk_filter)
    return text


def headline_rows(figures: ReportFigures) -> list[tuple[str, str, str]]:
    """(figure, value, change against the previous period): the daily report's own."""
    t, p = figures.totals, figures.previous
    rows = [
        ("Calls", f"{t.calls:,}", change(t.calls, p.calls if p else None)),
        (
            "Connected",
            share(t.connected_share),
            change(t.connected_share, p.connected_share if p else None, points=True),
        ),
        (
            "Failed",
            share(t.failed_share),
            change(t.failed_share, p.failed_share if p else None, points=True),
        ),
        (
            "Duration",
            f"{t.duration_hours:,.1f} h",
            change(t.duration_hours, p.duration_hours if p else None),
        ),
        (
            "Avg AI latency",
            ms(t.avg_ai_latency_ms),
            change(t.avg_ai_latency_ms, p.avg_ai_latency_ms if p else None),
        ),
    ]
    for metric in LATENCY_METRICS:
        now, before = t.components[metric].p95, p.components[metric].p95 if p else None
        rows.append((f"p95 {SHORT[metric]}", ms(now), change(now, before)))
    return rows


def _latency_rows(t: Totals) -> list[list[str]]:
    return [
        [SHORT[m], ms(c.p50), ms(c.p95), ms(c.p99), ms(c.avg), f"{c.count:,}"]
        for m, c in t.components.items()
    ]


def _trunk_row(figures: ReportFigures, trunk_id: str) -> list[str]:
    found = figures.trunk(trunk_id)
    if found is None:
        return [trunk_id]
    t = found.totals
    return [
        trunk_id,
        f"{t.calls:,}",
        share(t.failed_share),
        *(ms(t.components[m].p95) for m in LATENCY_METRICS),
    ]


TRUNK_HEADERS: Final = ["trunk", "calls", "failed", *(f"p95 {SHORT[m]}" for m in LATENCY_METRICS)]


def render_text(figures: ReportFigures) -> list[str]:
    source = "the daemon's history" if figures.source == "history" else "calls fetched from the API"
    lines = [f"Telepath report {period_title(figures)} (from {source})", ""]
    lines += _table(["figure", "value", "vs previous"], [list(r) for r in headline_rows(figures)])
    if figures.previous is None and figures.previous_note:
        lines.append(f"no comparison: {figures.previous_note}")
    lines += ["", "Latency per component"]
    lines += _table(["metric", "p50", "p95", "p99", "avg", "calls"], _latency_rows(figures.totals))
    lines += ["", "Busiest trunks"]
    lines += _table(TRUNK_HEADERS, [_trunk_row(figures, t) for t in figures.busiest])
    lines += ["", "Worst trunks (highest p95 total latency)"]
    lines += _table(TRUNK_HEADERS, [_trunk_row(figures, t) for t in figures.worst])
    lines += ["", *alert_lines(figures)]
    lines += ["", "Per trunk"]
    lines += _table(TRUNK_HEADERS, [_trunk_row(figures, t.trunk_id) for t in figures.trunks])
    lines += [f"note: {n}" for n in figures.notes]
    return lines


def alert_lines(figures: ReportFigures) -> list[str]:
    alerts = figures.alerts
    if alerts is None:
        return ["Alerts: not known for this range (the daemon did not watch it)"]
    lines = [f"Alerts: {alerts.fired} fired, {span_text(alerts.firing_seconds)} spent firing"]
    for rule, group, fired, seconds in alerts.rows[:20]:
        where = f"trunk {group}" if group else "account"
        lines.append(f"  {rule} · {where}: fired {fired}, firing {span_text(seconds)}")
    return lines


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["  (none)"]
    widths = [
        max(len(str(r[i])) for r in [headers, *rows] if i < len(r)) for i in range(len(headers))
    ]
    return [
        "  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in [headers, *rows]
    ]


# --- HTML --------------------------------------------------------------------------------

_STYLE: Final = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;
  max-width:1100px;padding:12px;color:#222;background:#fff}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .4em}
.meta{color:#555}.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.9em}
th,td{text-align:left;padding:3px 10px 3px 0;border-bottom:1px solid #eee;white-space:nowrap}
svg.chart{width:100%;height:auto;display:block}
svg text{font:12px system-ui,sans-serif;fill:#444}
"""
W: Final = 960
H: Final = 220
L: Final = 72
R: Final = 16
T: Final = 28
B: Final = 30
COLOURS: Final = {
    "calls": "#1f5fbf",
    "failed": "#c62828",
    "ai_latency_ms": "#1f5fbf",
    "carrier_lag_ms": "#2e7d32",
    "gateway_processing_ms": "#8e24aa",
    "total_latency_ms": "#c77700",
}


def render_html(figures: ReportFigures) -> str:
    """The report as one HTML document with two SVG charts."""
    title = f"Telepath report {period_title(figures)}"
    source = "the daemon's history" if figures.source == "history" else "calls fetched from the API"
    parts = [
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">From {_e(source)}; percentiles within 1% (log buckets).</p>',
        "<h2>Summary</h2>",
        _html_table(["figure", "value", "vs previous"], [list(r) for r in headline_rows(figures)]),
    ]
    if figures.previous is None and figures.previous_note:
        parts.append(f'<p class="meta">No comparison: {_e(figures.previous_note)}</p>')
    parts += [
        "<h2>Calls</h2>",
        _chart(figures, "calls"),
        "<h2>p95 latency per component</h2>",
        _chart(figures, "p95"),
        "<h2>Latency per component</h2>",
        _html_table(["metric", "p50", "p95", "p99", "avg", "calls"], _latency_rows(figures.totals)),
        "<h2>Busiest trunks</h2>",
        _html_table(TRUNK_HEADERS, [_trunk_row(figures, t) for t in figures.busiest]),
        "<h2>Worst trunks</h2>",
        '<p class="meta">Highest p95 total latency.</p>',
        _html_table(TRUNK_HEADERS, [_trunk_row(figures, t) for t in figures.worst]),
        "<h2>Alerts</h2>",
        "".join(f"<p>{_e(line.strip())}</p>" for line in alert_lines(figures)),
        "<h2>Per trunk</h2>",
        _html_table(TRUNK_HEADERS, [_trunk_row(figures, t.trunk_id) for t in figures.trunks]),
        *(f'<p class="meta">Note: {_e(n)}</p>' for n in figures.notes),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return '<p class="meta">None.</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def _chart(figures: ReportFigures, kind: str) -> str:
    """Calls per step (bars, failed in red) or p95 per component (lines)."""
    # Imported here: monitor.report pulls in the backtest, which imports the daemon.
    from monitor.report import _value_path, time_ticks, value_ticks

    points = figures.series
    start, end = figures.start, figures.end
    span = max((end - start).total_seconds(), 1.0)
    lines: dict[str, list[tuple[datetime, float | None]]] = {}
    top: float = 0.0
    if kind == "calls":
        top = max((p.calls for p in points), default=0)
    else:
        for metric in LATENCY_METRICS:
            lines[metric] = [(p.at, p.p95[metric]) for p in points]
        top = max((v for s in lines.values() for _, v in s if v is not None), default=0.0)
    ticks = value_ticks(0.0, float(top) or 1.0)
    low, high = ticks[0], ticks[-1]
    plot_w, plot_h = W - L - R, H - T - B

    def x(moment: datetime) -> float:
        return L + (moment - start).total_seconds() / span * plot_w

    def y(value: float) -> float:
        return T + plot_h - (value - low) / (high - low) * plot_h

    label = "calls per step" if kind == "calls" else "p95 latency per component"
    out = [
        f'<svg class="chart {kind}-chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{label}">'
    ]
    for tick in ticks:
        unit = "" if kind == "calls" else " ms"
        out.append(
            f'<line x1="{L}" x2="{W - R}" y1="{_n(y(tick))}" y2="{_n(y(tick))}" stroke="#e4e4e4"/>'
            f'<text x="{L - 6}" y="{_n(y(tick) + 4)}" text-anchor="end">{tick:,.0f}{unit}</text>'
        )
    for moment in time_ticks(start, end):
        tx = _n(x(moment))
        text = moment.strftime("%m-%d %H:%M" if end - start > timedelta(days=1) else "%H:%M")
        out.append(
            f'<line x1="{tx}" x2="{tx}" y1="{T}" y2="{T + plot_h}" stroke="#e4e4e4"/>'
            f'<text x="{tx}" y="{T + plot_h + 18}" text-anchor="middle">{text}</text>'
        )
    if kind == "calls":
        out += _bars(points, x, y, plot_w / max(len(points), 1))
    else:
        for metric, series in lines.items():
            path = _value_path(series, x, y)
            if path:
                out.append(
                    f'<path class="line-{metric}" d="{path}" fill="none" '
                    f'stroke="{COLOURS[metric]}" stroke-width="1.6"/>'
                )
        out.append(_legend())
    out.append(
        f'<rect x="{L}" y="{T}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#666"/>'
    )
    out.append("</svg>")
    return "".join(out)


def _bars(
    points: Sequence[Point],
    x: Callable[[datetime], float],
    y: Callable[[float], float],
    width: float,
) -> list[str]:
    out = []
    for p in points:
        left, base = x(p.at), y(0.0)
        for value, css, colour in (
            (p.calls, "bar-calls", COLOURS["calls"]),
            (p.failed, "bar-failed", COLOURS["failed"]),
        ):
            if value <= 0:
                continue
            top = y(float(value))
            out.append(
                f'<rect class="{css}" x="{_n(left)}" y="{_n(top)}" '
                f'width="{_n(max(width - 1, 0.5))}" height="{_n(base - top)}" fill="{colour}">'
                f"<title>{p.at:%Y-%m-%d %H:%M}: "
                f"{value:,} {'calls' if css == 'bar-calls' else 'failed'}</title></rect>"
            )
    return out


def _legend() -> str:
    out, at = [], L
    for metric in LATENCY_METRICS:
        out.append(
            f'<rect x="{at}" y="8" width="12" height="4" fill="{COLOURS[metric]}"/>'
            f'<text x="{at + 16}" y="14">{SHORT[metric]}</text>'
        )
        at += 90
    return "".join(out)


def _n(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
