"""A simulated week with a daily pattern: the fixed rule misfires every evening, the
baseline rule does not, and only the baseline rule catches a doubling at night.

The calls come from the simulator's own timeline (daily pattern and AI slowdown on),
straight into the state DB (so into the history's rollups) and into the windows as they
end, on a manual clock; every five minutes the pipeline step runs as ``run`` runs it,
with the baselines read from the history.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerts import AlertState, Intent
from monitor.baselines import HistoryBaselines
from monitor.config import load_config
from monitor.config.schema import Config
from monitor.history.store import HistoryStore
from monitor.pipeline import Sync, step, window_retention
from monitor.simulator.options import SimulatorOptions
from monitor.simulator.scenarios import Timeline
from monitor.store import StateStore
from monitor.windows import CallWindows

#: Monday 00:00 UTC; the week runs to the next Monday.
WEEK = datetime(2026, 3, 9, tzinfo=UTC)
#: The night the AI agent gets twice as slow: Saturday 02:00-03:00 UTC, a quiet hour.
SLOW_AT = timedelta(days=5, hours=2)
SLOW_FOR = timedelta(hours=1)
PEAK_HOUR = 19.0

#: What both rules share: p90 AI latency per trunk over 15 minutes, held for 10.
_COMMON = """\
    metric: ai_latency_ms
    stat: p90
    window: 15m
    per: trunk
    min_calls: 30
    for: 10m
"""
CONFIG = (
    "rules:\n  - name: fixed-ai-p90\n" + _COMMON + "    warning: 900\n"
    "  - name: usual-ai-p90\n"
    + _COMMON
    + """\
    compare:
      baseline: same time 1d
      warning: 1.5x
      min_value: 250
      min_baseline_calls: 30
"""
)


def week_options() -> SimulatorOptions:
    """Quiet p90 about 360 ms (the simulator's AI median is 200); x3.5 at the evening
    peak; x2 during the slowdown."""
    return SimulatorOptions(
        seed=18, trunks=1, calls_per_minute=6.0, daily_peak=3.5, daily_peak_hour=PEAK_HOUR,
        incident_at=SLOW_AT, incident_for=SLOW_FOR, ai_slowdown=2.0,
    )  # fmt: skip


def simulated_week(tmp_path: Path, config: Config) -> Iterator[Intent]:
    """Every notification intent of the week, rules evaluated every 5 minutes from day 2."""
    calls = [
        c.to_call()
        for c in Timeline(week_options(), WEEK).calls_starting(WEEK, WEEK + timedelta(days=7))
    ]
    calls.sort(key=lambda c: c.finished_at)
    ends = [c.finished_at for c in calls]
    store = StateStore(tmp_path / "state.db")
    try:
        # The history holds what the daemon would have stored; baselines only read the past.
        store.add_calls(calls)
        baselines = HistoryBaselines(HistoryStore(store))
        windows = CallWindows(window_retention(config))
        states: list[AlertState] = []
        fed = 0
        now = WEEK + timedelta(days=1)
        while now <= WEEK + timedelta(days=7):
            upto = bisect_right(ends, now)
            windows.add_many(calls[fed:upto])
            fed = upto
            windows.prune(now)
            result = step(
                config, windows, None, states, now, quiet=None, sync=Sync(),
                baselines=baselines,
            )  # fmt: skip
            states = result.states
            yield from result.intents
            now += timedelta(minutes=5)
    finally:
        store.close()


def busy(moment: datetime) -> bool:
    """Within the busy hours around the evening peak."""
    hour = moment.hour + moment.minute / 60
    return abs(hour - PEAK_HOUR) < 3


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> list[Intent]:
    path = tmp_path_factory.mktemp("week")
    (path / "alerts.yaml").write_text(CONFIG)
    config = load_config(path / "alerts.yaml", env={})
    return list(simulated_week(path, config))


def firings(intents: list[Intent], rule: str) -> list[datetime]:
    return [i.at for i in intents if i.rule.name == rule and i.kind == "firing"]


def test_the_fixed_rule_fires_every_busy_evening(week):
    """Each of the six evenings evaluated fires (some twice, as the p90 wavers at the
    threshold), always in the busy hours; never at night."""
    fired = firings(week, "fixed-ai-p90")
    assert sorted({t.date() for t in fired}) == [
        (WEEK + timedelta(days=d)).date() for d in range(1, 7)
    ]
    assert all(busy(t) for t in fired), fired


def test_the_baseline_rule_stays_quiet_in_busy_hours_and_fires_on_the_doubling(week):
    """Busy evenings are normal for their hour; the night the agent doubles is not."""
    fired = firings(week, "usual-ai-p90")
    assert len(fired) == 1, fired
    (at,) = fired
    assert WEEK + SLOW_AT < at < WEEK + SLOW_AT + SLOW_FOR
    (firing,) = [i for i in week if i.rule.name == "usual-ai-p90" and i.kind == "firing"]
    assert firing.baseline is not None
    assert firing.value is not None
    assert firing.value > 1.5 * firing.baseline
    assert firing.threshold == pytest.approx(1.5 * firing.baseline)


def test_the_fixed_rule_misses_the_doubling(week):
    fired = firings(week, "fixed-ai-p90")
    assert not [t for t in fired if WEEK + SLOW_AT <= t <= WEEK + SLOW_AT + SLOW_FOR]
