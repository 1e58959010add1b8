"""The HTML report: thresholds, firing spans at the right places, escaping, no assets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from monitor.backtest import BacktestResult, Series, Span, build_result
from monitor.config import Rule
from monitor.report import (
    LEFT,
    PLOT_W,
    chart_svg,
    render_html,
    time_ticks,
    value_ticks,
)

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
END = T0 + timedelta(hours=1)
RULE = Rule(name="slow", metric="ai_latency_ms", stat="p95", warning=800, critical=1500)
SVG = "{http://www.w3.org/2000/svg}"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def series(group: str | None = "conn_a", rule: Rule = RULE) -> Series:
    values = [500.0, 900.0, None, 1600.0, 1200.0, 700.0, 600.0]
    return Series(
        rule=rule,
        group=group,
        points=[(at(10 * i), v) for i, v in enumerate(values)],
        pending=[Span(at(10), at(15), "warning")],
        firing=[Span(at(15), at(45), "critical", "slow:conn_a:1", 1600.0)],
    )


def result_with(*all_series: Series) -> BacktestResult:
    result = build_result([RULE], [], T0, END, timedelta(seconds=30))
    result.series = list(all_series)
    return result


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # noqa: S314  (our own output, not untrusted input)


def x_of(moment: datetime) -> float:
    return LEFT + (moment - T0) / (END - T0) * PLOT_W


def test_chart_draws_both_thresholds_as_dashed_lines_at_their_values():
    """threshold-warning sits below threshold-critical, both dashed, across the plot."""
    root = parse(chart_svg(series(), T0, END))
    warning = root.find(f"{SVG}line[@class='threshold-warning']")
    critical = root.find(f"{SVG}line[@class='threshold-critical']")
    assert warning is not None
    assert critical is not None
    assert warning.get("stroke-dasharray")
    assert critical.get("stroke-dasharray")
    assert float(warning.get("y1", 0)) > float(critical.get("y1", 0))  # SVG y grows downwards
    assert (float(warning.get("x1", 0)), float(warning.get("x2", 0))) == (LEFT, LEFT + PLOT_W)


def test_chart_shades_firing_spans_at_their_times_with_a_tooltip():
    """The firing rect spans x(14:15)..x(14:45) and its title names severity and peak."""
    root = parse(chart_svg(series(), T0, END))
    [rect] = [r for r in root.iter(f"{SVG}rect") if "firing-span" in (r.get("class") or "")]
    x = float(rect.get("x", 0))
    width = float(rect.get("width", 0))
    assert x == pytest.approx(x_of(at(15)), abs=0.01)
    assert x + width == pytest.approx(x_of(at(45)), abs=0.02)
    title = rect.find(f"{SVG}title")
    assert title is not None
    assert title.text == "firing critical 2026-03-10 14:15:00 to 2026-03-10 14:45:00, peak 1,600 ms"


def test_a_span_still_open_runs_to_the_end_of_the_range():
    """An alert still firing at the end is shaded up to the right edge."""
    s = series()
    s.firing = [Span(at(50), None, "warning")]
    root = parse(chart_svg(s, T0, END))
    [rect] = [r for r in root.iter(f"{SVG}rect") if "firing-span" in (r.get("class") or "")]
    assert float(rect.get("x", 0)) + float(rect.get("width", 0)) == pytest.approx(LEFT + PLOT_W)
    assert "still firing" in (rect.findtext(f"{SVG}title") or "")


def test_the_value_line_breaks_where_there_was_no_data():
    """A None value starts a new sub-path instead of joining across the gap."""
    root = parse(chart_svg(series(), T0, END))
    path = root.find(f"{SVG}path[@class='value-line']")
    assert path is not None
    assert re.findall(r"[ML]", path.get("d", "")) == ["M", "L", "M", "L", "L", "L"]


def test_chart_scales_to_the_page_and_names_units():
    """viewBox plus width 100% (phones), pending shaded, axis labels in ms."""
    svg = chart_svg(series(), T0, END)
    root = parse(svg)
    assert root.get("viewBox") == "0 0 960 260"
    assert root.get("width") == "100%"
    assert any("pending-span" in (r.get("class") or "") for r in root.iter(f"{SVG}rect"))
    assert "1,500 ms" in svg


def test_ratio_rules_read_in_percent():
    """failed_ratio thresholds and axis are shown as percentages."""
    rule = Rule(name="failing", metric="failed_ratio", warning=0.05, critical=0.2)
    svg = chart_svg(series(rule=rule), T0, END)
    assert "warning 5%" in svg
    assert "critical 20%" in svg


def test_hostile_trunk_ids_and_rule_names_are_escaped():
    """A trunk id `<script>` from the API shows as text, never as markup."""
    hostile = '<script>alert("x")</script>'
    page = render_html(result_with(series(group=hostile)))
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        parse(svg)  # still well-formed XML


def test_report_is_self_contained():
    """No script, no external stylesheet, image, font or link: one file is everything."""
    page = render_html(result_with(series()))
    assert not re.search(r"<script|<link|<img|src=|href=|url\(|@import", page)
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"]


def test_only_groups_that_alerted_get_a_chart_the_rest_are_listed():
    """A quiet (rule, group) is named in one line, not drawn."""
    quiet = Series(rule=RULE, group="conn_quiet", points=[(at(0), 100.0)])
    page = render_html(result_with(series(), quiet))
    assert page.count("<svg") == 1
    assert "Never pending or firing: slow · conn_quiet." in page


def test_time_ticks_are_round_and_inside_the_range():
    """An hour gets ticks every 10 minutes on the minute."""
    ticks = time_ticks(T0 + timedelta(seconds=30), END)
    assert ticks == [at(m) for m in (10, 20, 30, 40, 50, 60)]


def test_value_ticks_cover_the_values_with_round_steps():
    """0..1600 ms is covered by 0, 500, ..., 2000 (a 1-2-5 step); a flat 0 still gets a scale."""
    assert value_ticks(0, 1600) == [0, 500, 1000, 1500, 2000]
    assert value_ticks(0, 0.07) == [0, 0.02, 0.04, 0.06, 0.08]
    assert value_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
