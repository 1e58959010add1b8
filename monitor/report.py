"""The backtest's HTML report: one self-contained page, inline SVG, no script, no assets.

Pure: :func:`render_html` takes a :class:`~monitor.backtest.BacktestResult` and returns
text. Per (rule, group) that was ever pending or firing, one chart: the value at each
poll, dashed warning and critical thresholds (``threshold-warning``,
``threshold-critical``), firing spans shaded (``firing-span``, each with a ``<title>``
tooltip) and pending spans lighter (``pending-span``). Charts scale to the page width
(``viewBox``, ``width="100%"``) so the report reads on a phone. Every text that came
from the config or the API (rule names, trunk ids) is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from monitor.backtest import BacktestResult, Series, Span
from monitor.config import format_duration
from monitor.notify.document import format_value, unit_of

__all__ = ["chart_svg", "render_html", "time_ticks", "value_ticks"]

_Scale = Callable[[datetime], float]
_VScale = Callable[[float], float]

WIDTH: Final = 960
HEIGHT: Final = 260
LEFT: Final = 72
RIGHT: Final = 16
TOP: Final = 34
BOTTOM: Final = 30
PLOT_W: Final = WIDTH - LEFT - RIGHT
PLOT_H: Final = HEIGHT - TOP - BOTTOM

COLOURS: Final = {
    "value": "#1f5fbf",
    "warning": "#c77700",
    "critical": "#c62828",
    "firing": "#c62828",
    "pending": "#e0a100",
    "axis": "#666666",
    "grid": "#e4e4e4",
    "baseline": "#2e7d32",
}
#: Tick steps for the time axis, shortest first.
_TIME_STEPS: Final = tuple(
    timedelta(seconds=s)
    for s in (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
)

_STYLE: Final = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;
  max-width:1100px;padding:12px;color:#222;background:#fff}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .4em}
h3{font-size:1em;margin:1.2em 0 .2em}
.meta,.note{color:#555}.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.9em}
th,td{text-align:left;padding:3px 10px 3px 0;border-bottom:1px solid #eee;white-space:nowrap}
td.num{text-align:right}
svg.chart{width:100%;height:auto;display:block}
svg text{font:12px system-ui,sans-serif;fill:#444}
.quiet{color:#555;font-size:.9em}
"""


def render_html(result: BacktestResult) -> str:
    """The whole report as one HTML document."""
    active = [s for s in result.series if s.active]
    quiet = [s for s in result.series if not s.active]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Backtest {_e(_when(result.start))} to {_e(_when(result.end))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>telepath-monitor backtest</h1>",
        f'<p class="meta">{_e(_when(result.start))} to {_e(_when(result.end))} (UTC) · '
        f"{result.calls:,} calls · {result.polls:,} polls every "
        f"{_e(format_duration(result.poll_every))} · {len(result.rules)} "
        f"rule{'s' * (len(result.rules) != 1)}</p>",
    ]
    parts += [f'<p class="note">{_e(note)}</p>' for note in result.notes]
    parts += ["<h2>Alerts that would have fired</h2>", _timeline_table(result)]
    parts += ["<h2>Per rule</h2>", _summary_table(result)]
    parts.append("<h2>Charts</h2>")
    if not active:
        parts.append("<p>No rule was pending or firing in this range.</p>")
    for series in active:
        parts.append(_chart_section(series, result.start, result.end))
    if quiet:
        names = ", ".join(_e(_title(s)) for s in quiet)
        parts.append(f'<p class="quiet">Never pending or firing: {names}.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _timeline_table(result: BacktestResult) -> str:
    if not result.timeline:
        return "<p>None.</p>"
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Rule", "Group", "Severity", "Start", "End", "Duration", "Peak", "Notifications")
    )
    rows = []
    for a in result.timeline:
        end = _when(a.end) if a.end else "still firing"
        duration = format_duration(timedelta(seconds=int(a.duration(result.end).total_seconds())))
        cells = [
            _e(a.rule),
            _e(a.group or "account"),
            _e(a.severity),
            _e(_when(a.start)),
            _e(end),
            _e(duration),
            _e(format_value(a.peak, a.metric)),
            f"{a.notifications} ({a.pages} page{'s' * (a.pages != 1)})",
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(rows)}</table></div>'


def _summary_table(result: BacktestResult) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Rule", "Alerts", "Notifications", "Pages/day", "Time firing", "Share")
    )
    rows = []
    for s in result.summary:
        firing = format_duration(timedelta(seconds=int(s.firing.total_seconds())))
        cells = [
            f"<td>{_e(s.rule)}</td>",
            f'<td class="num">{s.alerts}</td>',
            f'<td class="num">{s.notifications}</td>',
            f'<td class="num">{s.pages_per_day:.2f}</td>',
            f'<td class="num">{_e(firing)}</td>',
            f'<td class="num">{s.share:.1%}</td>',
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(rows)}</table></div>'


def _chart_section(series: Series, start: datetime, end: datetime) -> str:
    rule = series.rule
    stat = f"{rule.stat} " if rule.stat else ""
    window = format_duration(rule.window)
    describe = f"{stat}{rule.metric} over {window}, op {rule.op}"
    return (
        f"<section><h3>{_e(_title(series))}</h3>"
        f'<p class="meta">{_e(describe)}</p>{chart_svg(series, start, end)}</section>'
    )


def _title(series: Series) -> str:
    return f"{series.rule.name} · {series.group or 'account'}"


# --- the chart -----------------------------------------------------------------------------


def chart_svg(series: Series, start: datetime, end: datetime) -> str:
    """One chart: value line, thresholds, shaded spans, axes with units, and a legend."""
    rule = series.rule
    metric = rule.metric
    span = max((end - start).total_seconds(), 1.0)
    thresholds: list[tuple[str, float | None]] = [
        ("warning", rule.warning),
        ("critical", rule.critical),
    ]
    values = [v for _, v in series.points if v is not None]
    levels = values + [v for _, v in thresholds if v is not None]
    levels += [v for _, b, level in series.band for v in (b, level) if v is not None]
    top = max(levels, default=1.0)
    low = min(0.0, min(levels, default=0.0))
    ticks = value_ticks(low, top)
    low, high = ticks[0], ticks[-1]

    def x(t: datetime) -> float:
        return LEFT + (t - start).total_seconds() / span * PLOT_W

    def y(v: float) -> float:
        return TOP + PLOT_H - (v - low) / (high - low) * PLOT_H

    label = f"{_title(series)}: {rule.metric}"
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-label="{_e(label)}">'
    ]
    for tick in ticks:
        ty = _n(y(tick))
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{ty}" y2="{ty}" '
            f'stroke="{COLOURS["grid"]}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{_n(y(tick) + 4)}" text-anchor="end">'
            f"{_e(_axis_value(tick, metric))}</text>"
        )
    for tick_time in time_ticks(start, end):
        tx = _n(x(tick_time))
        out.append(
            f'<line class="grid" x1="{tx}" x2="{tx}" y1="{TOP}" y2="{TOP + PLOT_H}" '
            f'stroke="{COLOURS["grid"]}" stroke-width="1"/>'
            f'<text x="{tx}" y="{TOP + PLOT_H + 18}" text-anchor="middle">'
            f"{_e(_tick_label(tick_time, end - start))}</text>"
        )
    for p in series.pending:
        out.append(_span_rect(p, "pending-span", COLOURS["pending"], 0.16, x, end, metric))
    for f in series.firing:
        out.append(_span_rect(f, "firing-span", COLOURS["firing"], 0.2, x, end, metric))
    if series.band:
        out.append(_band(series.band, x, y, metric))
    for name, value in thresholds:
        if value is None:
            continue
        ty = _n(y(value))
        out.append(
            f'<line class="threshold-{name}" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{ty}" '
            f'y2="{ty}" stroke="{COLOURS[name]}" stroke-width="1.5" stroke-dasharray="6 4">'
            f"<title>{name} {_e(rule.op)} {_e(format_value(value, metric))}</title></line>"
        )
    path = _value_path(series.points, x, y)
    if path:
        out.append(
            f'<path class="value-line" d="{path}" fill="none" stroke="{COLOURS["value"]}" '
            'stroke-width="1.6" stroke-linejoin="round"/>'
        )
    out.append(
        f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" '
        f'fill="none" stroke="{COLOURS["axis"]}" stroke-width="1"/>'
    )
    out.append(_legend(rule.warning, rule.critical, metric, band=bool(series.band)))
    out.append("</svg>")
    return "".join(out)


def _span_rect(
    span: Span,
    css: str,
    colour: str,
    opacity: float,
    x: _Scale,
    end: datetime,
    metric: str,
) -> str:
    x0, x1 = x(span.start), x(span.end or end)
    width = max(x1 - x0, 1.0)
    what = "firing" if css == "firing-span" else "pending"
    until = _when(span.end) if span.end else "the end of the range (still firing)"
    tip = f"{what} {span.severity or ''} {_when(span.start)} to {until}".replace("  ", " ")
    if span.peak is not None:
        tip += f", peak {format_value(span.peak, metric)}"
    severity = f" severity-{span.severity}" if span.severity else ""
    return (
        f'<rect class="{css}{severity}" x="{_n(x0)}" y="{TOP}" width="{_n(width)}" '
        f'height="{PLOT_H}" fill="{colour}" fill-opacity="{opacity}">'
        f"<title>{_e(tip)}</title></rect>"
    )


def _band(
    band: Sequence[tuple[datetime, float, float | None]], x: _Scale, y: _VScale, metric: str
) -> str:
    """A ``compare:`` rule's normal band: shaded from the baseline up to the threshold set
    from it at each poll, with the baseline itself dashed."""
    top = [(t, level if level is not None else b) for t, b, level in band]
    outline = [f"{_n(x(t))} {_n(y(v))}" for t, v in top]
    outline += [f"{_n(x(t))} {_n(y(b))}" for t, b, _ in reversed(band)]
    last = band[-1]
    tip = f"baseline {format_value(last[1], metric)} at the end"
    if last[2] is not None:
        tip += f", threshold {format_value(last[2], metric)}"
    line = _value_path([(t, b) for t, b, _ in band], x, y)
    return (
        f'<polygon class="baseline-band" points="{" ".join(outline)}" '
        f'fill="{COLOURS["baseline"]}" fill-opacity="0.14"><title>{_e(tip)}</title></polygon>'
        f'<path class="baseline-line" d="{line}" fill="none" stroke="{COLOURS["baseline"]}" '
        'stroke-width="1.2" stroke-dasharray="3 3"/>'
    )


def _legend(
    warning: float | None, critical: float | None, metric: str, *, band: bool = False
) -> str:
    items = [("value", "line", f"value ({_unit_name(metric)})")]
    if band:
        items.append(("baseline", "dash", "baseline, band to its threshold"))
    if warning is not None:
        items.append(("warning", "dash", f"warning {format_value(warning, metric)}"))
    if critical is not None:
        items.append(("critical", "dash", f"critical {format_value(critical, metric)}"))
    items += [("firing", "box", "firing"), ("pending", "box", "pending")]
    out = ['<g class="legend">']
    cx = float(LEFT)
    for colour, kind, text in items:
        if kind == "box":
            opacity = 0.2 if colour == "firing" else 0.16
            out.append(
                f'<rect x="{_n(cx)}" y="10" width="18" height="12" fill="{COLOURS[colour]}" '
                f'fill-opacity="{opacity}"/>'
            )
        else:
            dash = ' stroke-dasharray="6 4"' if kind == "dash" else ""
            out.append(
                f'<line x1="{_n(cx)}" x2="{_n(cx + 18)}" y1="16" y2="16" '
                f'stroke="{COLOURS[colour]}" stroke-width="2"{dash}/>'
            )
        out.append(f'<text x="{_n(cx + 24)}" y="20">{_e(text)}</text>')
        cx += 24 + 7.2 * len(text) + 18
    out.append("</g>")
    return "".join(out)


def _value_path(points: Sequence[tuple[datetime, float | None]], x: _Scale, y: _VScale) -> str:
    """``M``/``L`` commands; a gap (no data) starts a new sub-path."""
    commands: list[str] = []
    drawing = False
    for t, v in points:
        if v is None:
            drawing = False
            continue
        commands.append(f"{'L' if drawing else 'M'}{_n(x(t))} {_n(y(v))}")
        drawing = True
    return " ".join(commands)


def time_ticks(start: datetime, end: datetime, most: int = 8) -> list[datetime]:
    """Round times inside [start, end], at most ``most`` of them, evenly stepped."""
    span = end - start
    step = next((s for s in _TIME_STEPS if span / s <= most), _TIME_STEPS[-1])
    seconds = int(step.total_seconds())
    first = math.ceil(start.timestamp() / seconds) * seconds
    ticks = []
    moment = datetime.fromtimestamp(first, UTC)
    while moment <= end:
        ticks.append(moment)
        moment += step
    return ticks


def value_ticks(low: float, high: float, most: int = 5) -> list[float]:
    """Round values from at or below ``low`` to at or above ``high`` (a 1-2-5 step)."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / most
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = [first]
    while ticks[-1] < high - 1e-9 * step:
        ticks.append(round(ticks[-1] + step, 10))
    if len(ticks) < 2:
        ticks.append(ticks[0] + step)
    return ticks


def _axis_value(value: float, metric: str) -> str:
    unit = unit_of(metric)
    if unit == "ratio":
        return f"{value * 100:g}%"
    if unit == "calls":
        return f"{value:g}"
    return f"{value:,.0f} ms"


def _unit_name(metric: str) -> str:
    return {"ratio": "%", "calls": "calls"}.get(unit_of(metric), "ms")


def _tick_label(moment: datetime, span: timedelta) -> str:
    if span > timedelta(days=1):
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%H:%M")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _n(value: float) -> str:
    """A coordinate, short: two decimals at most."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _e(text: str) -> str:
    return html.escape(text, quote=True)
