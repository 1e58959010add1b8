"""SLO burn-rate alerts as rules and observations for the one alert engine.

Pure. Each (SLO, burn alert) pair is a :class:`~monitor.config.Rule` named
``slo-<slo>-burn-<long>-<short>`` with ``metric: burn_rate``, ``op: >=`` and the burn
factor as its threshold at the alert's severity, ``for: 0`` (the short window already
demands that the burn goes on now). Its observation's value is the lower of the two
windows' burn rates, so it breaches exactly when both windows burn at the factor or
faster. The engine, quiet policy, outbox and notifiers then treat it like any rule.

The summary of each observation's rule states the objective, the budget remaining and
both burn rates; the offending calls are the worst calls by the SLO's metric in the
short window (as far as the call windows reach).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.config import BurnAlert, Config, NotifyRoutes, Rule, Slo, format_duration
from monitor.models import Call
from monitor.rules import OFFENDING_CALLS, Observation
from monitor.slo.counts import SloFigures, is_counted, is_good
from monitor.windows import CallWindows, ViewCache, WindowView

__all__ = ["describe", "observations", "rule_name", "slo_rules"]


def rule_name(slo: Slo, alert: BurnAlert) -> str:
    return f"slo-{slo.name}-burn-{format_duration(alert.long)}-{format_duration(alert.short)}"


def slo_rules(config: Config) -> list[Rule]:
    """The rule of every SLO burn alert, with a static summary (for the engine and the
    quiet policy; observations carry one with the current figures)."""
    return [_rule(config, slo, alert, None) for slo in config.slos for alert in slo.alerts]


def _rule(config: Config, slo: Slo, alert: BurnAlert, summary: str | None) -> Rule:
    routes = (
        config.defaults.notify
        if alert.notify is None
        else NotifyRoutes(**{alert.severity: alert.notify})
    )
    return Rule.model_validate(
        {
            "name": rule_name(slo, alert),
            "summary": summary or _title(slo, alert),
            "labels": {
                "slo": slo.name,
                "long_window": format_duration(alert.long),
                "short_window": format_duration(alert.short),
            },
            "metric": "burn_rate",
            "window": alert.long,
            "per": slo.per,
            "trunks": slo.trunks,
            "exclude_trunks": slo.exclude_trunks,
            "min_calls": 0,
            "op": ">=",
            alert.severity: alert.burn_rate,
            "for": timedelta(0),
            "repeat": config.defaults.repeat,
            "notify": routes,
        }
    )


def _title(slo: Slo, alert: BurnAlert) -> str:
    what = slo.summary or f"SLO {slo.name}"
    return f"{what}: error budget burning at {alert.burn_rate:g}x or faster"


def describe(figures: SloFigures, alert: BurnAlert | None = None) -> str:
    """Objective, budget remaining and burn rates, for people."""
    slo = figures.slo
    good = slo.good
    text = (
        f"objective {_percent(slo.objective)} of calls with {good.metric} {good.op} "
        f"{good.threshold:g} ms over {format_duration(slo.period)}; "
        f"budget remaining {_percent(figures.budget_remaining)}"
    )
    if alert is not None:
        text += (
            f"; burn rate {figures.burn_rate(alert.long):.2f}x over "
            f"{format_duration(alert.long)}, {figures.burn_rate(alert.short):.2f}x over "
            f"{format_duration(alert.short)} (alert at {alert.burn_rate:g}x)"
        )
    return text


def _worst(slo: Slo, view: WindowView) -> tuple[Call, ...]:
    """The slowest bad calls the SLO counts (calls of other statuses do not count)."""
    n = OFFENDING_CALLS * 4
    while True:
        top = view.worst_calls(slo.good.metric, n, highest=True)
        bad = [c for c in top if is_counted(slo, c) and not is_good(slo, c)]
        if len(bad) >= OFFENDING_CALLS or len(top) < n:
            return tuple(bad[:OFFENDING_CALLS])
        n *= 4


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.4g}%"


def observations(
    config: Config,
    figures: Sequence[SloFigures],
    windows: CallWindows,
    now: datetime,
) -> list[Observation]:
    """One observation per (SLO burn alert, group), in config order then by group."""
    views = ViewCache(windows, now)
    by_slo: dict[str, list[SloFigures]] = {}
    for fig in figures:
        by_slo.setdefault(fig.slo.name, []).append(fig)
    out: list[Observation] = []
    for slo in config.slos:
        for alert in slo.alerts:
            for fig in by_slo.get(slo.name, []):
                value = min(fig.burn_rate(alert.long), fig.burn_rate(alert.short))
                summary = f"{_title(slo, alert)}; {describe(fig, alert)}"
                rule = _rule(config, slo, alert, summary)
                worst: tuple[Call, ...] = ()
                if value >= alert.burn_rate:
                    span = min(alert.short, windows.retention)
                    worst = _worst(slo, views.get(fig.group, span))
                calls = fig.counts.get(alert.short)
                out.append(
                    Observation(rule, fig.group, value, calls.total if calls else 0, None, worst)
                )
    return out
