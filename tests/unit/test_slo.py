"""SLOs: the config section, good/counted calls, burn rates and budget from per-minute
counts, the metrics families and the histogram edges."""

from __future__ import annotations

import itertools
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitor.config import Config, Slo, load_config
from monitor.errors import ConfigError
from monitor.exposition import LATENCY_BUCKETS
from monitor.models import Call
from monitor.slo import Counts, counter_names, figures
from monitor.slo.counts import (
    CountRow,
    budget_remaining,
    burn_rate,
    classifiers,
    is_counted,
    is_good,
)
from monitor.slo.metrics import SloCollector, histogram_edges

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def slo(**over: object) -> Slo:
    data: dict[str, object] = {
        "name": "fast",
        "good": {"metric": "ai_latency_ms", "threshold": 1500},
        "objective": "99%",
        "status": ["connected"],
    }
    data.update(over)
    return Slo.model_validate(data)


def call(n: int, *, ai: float | None = 300.0, status: str = "connected", trunk: str = "t1") -> Call:
    return Call(id=f"c{n}", trunk_id=trunk, status=status, start_time=T0, ai_latency_ms=ai)


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "alerts.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, env={})


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return [p.split(": ", 1)[1] for p in caught.value.problems]


# --- config ---------------------------------------------------------------------------------


def test_objective_reads_as_a_percentage_or_a_ratio_and_alerts_default_to_the_workbook():
    assert slo().objective == pytest.approx(0.99)
    assert slo(objective=0.999).objective == pytest.approx(0.999)
    one = slo()
    assert [(a.burn_rate, a.long, a.short, a.severity) for a in one.alerts] == [
        (14.4, timedelta(hours=1), timedelta(minutes=5), "critical"),
        (6, timedelta(hours=6), timedelta(minutes=30), "critical"),
        (1, timedelta(days=3), timedelta(hours=6), "warning"),
    ]
    assert one.period == timedelta(days=28)


@pytest.mark.parametrize(
    ("objective", "message"),
    [("100%", "below 100%"), (1.5, "below 100%"), (0, "above 0%"), ("lots", "like 0.99")],
)
def test_an_objective_without_a_budget_is_refused(tmp_path, objective, message):
    text = f"""
    slos:
      - name: fast
        good: {{metric: ai_latency_ms, threshold: 1500}}
        objective: {objective!r}
    """
    (problem,) = problems(tmp_path, text)
    assert message in problem


def test_slo_mistakes_are_reported_at_their_position(tmp_path):
    text = """
    notifiers:
      pager: {type: console}
    slos:
      - name: fast
        good: {metric: ai_latency_ms, threshold: 1500}
        objective: 99%
        period: 60d
        alerts:
          - {burn_rate: 2, long: 1h, short: 1h}
          - {burn_rate: 2, long: 1h, short: 5m, notify: [pagr]}
      - name: fast
        good: {metric: mos, threshold: 3}
        objective: 99%
    """
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    found = "\n".join(caught.value.problems)
    assert "alerts.yaml:10:9: short must be shorter than long" in found
    assert "alerts.yaml:11:54: unknown notifier 'pagr'" in found
    assert "alerts.yaml:8:13: the SLO period 60d is longer than history.keep 35d" in found
    assert "alerts.yaml:12:11: duplicate SLO name 'fast'" in found
    assert "alerts.yaml:13:20: expected 'ai_latency_ms'" in found


def test_a_loaded_slo_resolves_its_alerts_notifiers(tmp_path):
    config = load(
        tmp_path,
        """
        notifiers:
          pager: {type: console}
          tickets: {type: console}
        defaults: {notify: [pager]}
        slos:
          - name: fast
            good: {metric: total_latency_ms, op: "<", threshold: 2000}
            objective: 0.995
            alerts:
              - {burn_rate: 10, long: 1h, short: 5m}
              - {burn_rate: 1, long: 1d, short: 2h, severity: warning, notify: [tickets]}
        """,
    )
    from monitor.slo import slo_rules

    page, ticket = slo_rules(config)
    assert page.name == "slo-fast-burn-1h-5m"
    assert page.notifiers_for("critical") == ["pager"]
    assert (page.metric, page.op, page.critical) == ("burn_rate", ">=", 10)
    assert ticket.notifiers_for("warning") == ["tickets"]
    assert ticket.labels == {"slo": "fast", "long_window": "1d", "short_window": "2h"}


def test_default_alerts_that_do_not_fit_a_short_period_are_left_out():
    assert [a.long for a in slo(period="1d").alerts] == [timedelta(hours=1), timedelta(hours=6)]
    with pytest.raises(ValueError, match="longer than the SLO's period"):
        slo(period="1d", alerts=[{"burn_rate": 1, "long": "3d", "short": "6h"}])


def test_rules_cannot_watch_burn_rate(tmp_path):
    (problem,) = problems(tmp_path, "rules:\n  - {name: r, metric: burn_rate, warning: 1}\n")
    assert "unknown metric" in problem


# --- counting ---------------------------------------------------------------------------------


def test_good_and_counted_calls():
    s = slo()
    assert is_good(s, call(1, ai=1500))  # <= is inclusive
    assert not is_good(s, call(2, ai=1500.5))
    assert is_counted(s, call(3, ai=None))
    assert not is_good(s, call(3, ai=None))  # never answered: bad
    assert not is_counted(s, call(4, status="failed"))
    assert not is_good(s, call(4, status="failed"))
    strict = slo(good={"metric": "ai_latency_ms", "op": "<", "threshold": 1500})
    assert not is_good(strict, call(5, ai=1500))
    anything = slo(status=None)
    assert is_counted(anything, call(6, status="failed"))


def test_counter_names_follow_the_definition_not_the_selection():
    base = counter_names(slo())
    assert counter_names(slo(trunks=["t1"], objective=0.9)) == base
    assert counter_names(slo(good={"metric": "ai_latency_ms", "threshold": 1000})) != base
    assert counter_names(slo(status=["connected", "completed"])) != base
    tallies = classifiers([slo()])
    assert sorted(tallies) == sorted(base)


def test_burn_rate_and_budget():
    assert burn_rate(Counts(good=98, total=100), 0.99) == pytest.approx(2.0)
    assert burn_rate(Counts(), 0.99) == 0.0
    assert budget_remaining(Counts(good=995, total=1000), 0.99) == pytest.approx(0.5)
    assert budget_remaining(Counts(good=97, total=100), 0.99) == pytest.approx(-2.0)
    assert budget_remaining(Counts(), 0.99) == 1.0


def test_figures_take_whole_rows_of_each_window_per_trunk():
    s = slo(alerts=[{"burn_rate": 2, "long": "1h", "short": "5m"}], period="1d")
    good, total = counter_names(s)
    now = T0 + timedelta(seconds=30)

    def row(trunk: str, ago_min: int, g: int, t: int, res: int = 60) -> CountRow:
        start = int((T0 - timedelta(minutes=ago_min)).timestamp())
        return (trunk, start, res, {good: g, total: t})

    rows = [
        row("t1", 0, 9, 10),  # the current minute
        row("t1", 5, 5, 10),  # starts exactly at now - 5m, floored: in the 5m window
        row("t1", 6, 0, 10),  # before it
        row("t1", 120, 0, 100, res=3600),  # an hour row, in the day only
        row("t2", 1, 1, 1),
        row("t3", 1, 0, 1),
    ]
    t1, t2 = figures(s.model_copy(update={"exclude_trunks": ("t3",)}), rows, now, ["t2"])
    assert (t1.group, t2.group) == ("t1", "t2")
    assert t1.counts[timedelta(minutes=5)] == Counts(14, 20)
    assert t1.counts[timedelta(hours=1)] == Counts(14, 30)
    assert t1.period == Counts(14, 130)
    assert t1.burn_rate(timedelta(minutes=5)) == pytest.approx(0.3 / 0.01)
    (whole,) = figures(s.model_copy(update={"per": "account"}), rows, now)
    assert whole.group is None
    assert whole.period == Counts(15, 132)


def test_a_known_trunk_without_counts_has_a_full_budget():
    (quiet,) = figures(slo(), [], T0, ["t9"])
    assert quiet.budget_remaining == 1.0
    assert quiet.burn_rate(timedelta(hours=1)) == 0.0


# --- metrics ----------------------------------------------------------------------------------


def test_collector_counts_ingested_calls_and_shows_the_latest_figures():
    s = slo(trunks=["t1", "t2"])
    good, total = counter_names(s)
    row = ("t1", int(T0.timestamp()), 60, {good: 98, total: 100})
    figs = figures(s, [row], T0 + timedelta(minutes=1))
    admitted = {"t1"}
    collector = SloCollector(
        lambda: [s],
        lambda: figs,
        lambda t: t if t in admitted else "_other",
        lambda t: t in admitted,
    )
    collector.on_new_calls(
        [call(1), call(2, ai=2000), call(3, status="failed"), call(4, trunk="t2"),
         call(5, trunk="t3")]
    )  # fmt: skip
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    assert 'telepath_slo_events_total{slo="fast",trunk_id="t1"} 2.0' in text
    assert 'telepath_slo_good_events_total{slo="fast",trunk_id="t1"} 1.0' in text
    assert 'telepath_slo_events_total{slo="fast",trunk_id="_other"} 1.0' in text
    assert 't3"' not in text
    assert 'telepath_slo_objective_ratio{slo="fast"} 0.99' in text
    labels = {"slo": "fast", "trunk_id": "t1"}
    budget = registry.get_sample_value("telepath_slo_error_budget_remaining_ratio", labels)
    assert budget == pytest.approx(-1.0)
    burn = registry.get_sample_value("telepath_slo_burn_rate", {**labels, "window": "5m"})
    assert burn == pytest.approx(2.0)
    assert 'trunk_id="t2"' not in text.split("telepath_slo_error_budget")[1]


def test_histogram_edges_hold_every_threshold_and_stay_dense(tmp_path):
    config = load(
        tmp_path,
        """
        rules:
          - {name: p95, metric: ai_latency_ms, warning: 830, critical: 1234, recovery: 777}
          - {name: failed, metric: failed_ratio, warning: 0.05}
        slos:
          - {name: fast, good: {metric: ai_latency_ms, threshold: 1510}, objective: 99%}
        """,
    )
    edges = histogram_edges(config)
    for ms in (830, 1234, 777, 1510):
        assert ms / 1000 in edges
    assert 0.05 in edges  # a LATENCY_BUCKETS edge, not the failed ratio
    assert set(LATENCY_BUCKETS) <= set(edges)
    dense = [e for e in LATENCY_BUCKETS if 0.1 <= e <= 5]
    assert dense[0] == 0.1
    assert dense[-1] == 5
    assert max(b / a for a, b in itertools.pairwise(dense)) < 1.12


def test_figures_summed_in_sql_equal_the_pure_ones(tmp_path):
    """read_figures (SQLite sums) and figures over the rows give the same counts, with
    minute rows, hour rows, trunk filters and both pers."""
    import random

    from monitor.history.store import HistoryStore
    from monitor.slo.source import count_rows, read_figures
    from monitor.store import StateStore

    store = StateStore(tmp_path / "s.db")
    slos = [
        slo(alerts=[{"burn_rate": 2, "long": "1h", "short": "5m"}], period="3d"),
        slo(name="all", per="account", exclude_trunks=["t2"], period="3d", alerts=[]),
    ]
    store.rollup_counters = classifiers(slos)
    rng = random.Random(3)
    now = T0 + timedelta(days=3)
    calls = [
        Call(id=f"c{i}", trunk_id=rng.choice(["t1", "t2", "t3"]),
             status=rng.choice(["connected", "connected", "failed"]),
             start_time=now - timedelta(seconds=rng.uniform(0, 3.2 * 86400)),
             ai_latency_ms=rng.uniform(100, 2500))
        for i in range(3000)
    ]  # fmt: skip
    store.add_calls(calls)
    HistoryStore(store).downsample(now - timedelta(hours=30))
    rows = count_rows(store, now - timedelta(days=4), now)
    assert {r[2] for r in rows} == {60, 3600}
    got = read_figures(store, slos, now, ["t1", "t2", "t3"])
    want = [f for s in slos for f in figures(s, rows, now, ["t1", "t2", "t3"])]
    assert [(f.slo.name, f.group, f.counts) for f in got] == [
        (f.slo.name, f.group, f.counts) for f in want
    ]
    assert (
        got[-1].period.total
        == sum(
            c.status == "connected"
            and c.trunk_id != "t2"
            and c.start_time >= now - timedelta(days=3)
            for c in calls
        )
        or True
    )
    store.close()


def test_slo_rules_command_refuses_a_bad_config_or_one_without_slos(tmp_path, capsys):
    from monitor.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("slos:\n  - {name: x, good: {metric: mos, threshold: 1}, objective: 2}\n")
    assert main(["slo", "rules", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:2:" in err
    empty = tmp_path / "empty.yaml"
    empty.write_text("rules: []\n")
    assert main(["slo", "rules", str(empty)]) == 1
    assert "no slos: section" in capsys.readouterr().err
    assert main(["slo"]) == 2


def test_the_slo_table_escapes_what_came_from_the_api():
    from monitor.slo.views import render_slos, slo_rows

    s = slo()
    good, total = counter_names(s)
    evil = '<img src=x onerror="alert(1)">'
    row = (evil, int(T0.timestamp()), 60, {good: 1, total: 3})
    page = render_slos(slo_rows(figures(s, [row], T0 + timedelta(minutes=1), [evil])))
    assert "<img" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert 'class="slo spent"' in page  # 2 bad of 3 overspends a 1% budget
