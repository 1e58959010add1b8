"""Cross-checks: what one field's model cannot see on its own (notifier names that
exist, thresholds in order, stats only on latency metrics, windows spanning a poll...).

:class:`CrossChecks` is part of the loader (:mod:`monitor.config.loader`); it reads the
values as written and their positions, and records each problem at its ``file:line:col``.
"""

from __future__ import annotations

from typing import Any

from monitor.config.compare import compare_problems
from monitor.config.durations import format_duration, parse_duration
from monitor.config.reporting import History
from monitor.config.schema import (
    OVERVIEW_METRICS,
    Defaults,
    Poll,
    _RuleSpec,
    _SyncFailingSpec,
)
from monitor.models import LATENCY_METRICS
from monitor.yamlpos import Loc, Mark, Positions, Problem


class CrossChecks:
    """The loader's cross-checks, over the merged values (``data``) and their positions."""

    data: dict[str, Any]
    pos: Positions
    problems: list[Problem]

    def _at(self, mark: Mark, message: str) -> None:
        self.problems.append(Problem(message, mark))

    def _shown(self, loc: Loc, value: Any) -> str:
        """The input quoted for a message, or "" when it may be secret or came from env."""
        if not isinstance(value, str) or loc in self.pos.from_env or len(value) > 60:
            return ""
        return repr(value)

    def _cross_check(
        self,
        specs: list[tuple[int, _RuleSpec]],
        poll: Poll | None,
        defaults: Defaults | None,
        notifiers: set[str] | None,
        sync_failing: _SyncFailingSpec | None,
    ) -> None:
        if notifiers is not None:
            if defaults is not None:
                self._check_notify(("defaults", "notify"), notifiers)
            if sync_failing is not None and sync_failing.notify is not None:
                self._check_notify(("sync_failing", "notify"), notifiers)
            for i, spec in specs:
                if spec.notify is not None:
                    self._check_notify(("rules", i, "notify"), notifiers)
            for i in range(len(self.data.get("reports") or [])):
                self._check_notify(("reports", i, "notify"), notifiers)
                self._check_report(i)
            self._check_slos(notifiers)
        first: dict[str, Mark] = {}
        for i, raw in enumerate(self.data["rules"]):
            name = raw.get("name") if isinstance(raw, dict) else None
            if not isinstance(name, str):
                continue
            mark = self.pos.values[("rules", i, "name")]
            if name in first:
                shown = self._shown(("rules", i, "name"), name)
                named = f" {shown}" if shown else ""
                self._at(mark, f"duplicate rule name{named} (first at {first[name]})")
            else:
                first[name] = mark
        for i, spec in specs:
            self._check_rule(("rules", i), spec)
            if spec.source == "calls" and poll is not None:
                self._check_window(("rules", i), spec, poll, defaults)
        if poll is not None and poll.overlap > poll.backfill:
            # Both were written (a default overlap yields to the backfill): polls never
            # read further back than the backfill, so calls longer would be missed.
            where = ("poll", "overlap") if ("poll", "overlap") in self.pos.values else ("poll",)
            self._at(
                self.pos.values.get(where, self.pos.values[()]),
                f"poll.overlap is longer than poll.backfill ({format_duration(poll.overlap)} > "
                f"{format_duration(poll.backfill)}); polls never read further back than the "
                "backfill, so make the backfill at least as long",
            )

    def _check_report(self, i: int) -> None:
        """A report goes to people (Slack, webhook, console), not to Alertmanager; and
        its name is its identity for "sent once", so it must be unique."""
        reports, notifiers = self.data.get("reports"), self.data.get("notifiers")
        if not isinstance(reports, list) or not isinstance(reports[i], dict):
            return
        names = [r.get("name") for r in reports[:i] if isinstance(r, dict)]
        if reports[i].get("name") in names and ("reports", i, "name") in self.pos.values:
            self._at(self.pos.values[("reports", i, "name")], "duplicate report name")
        for j, name in enumerate(reports[i].get("notify") or []):
            spec = notifiers.get(name) if isinstance(notifiers, dict) else None
            where = ("reports", i, "notify", j)
            if (
                isinstance(spec, dict)
                and spec.get("type") == "alertmanager"
                and where in self.pos.values
            ):
                self._at(
                    self.pos.values[where],
                    "a report cannot go to an alertmanager notifier (it takes alerts only)",
                )

    def _check_slos(self, notifiers: set[str]) -> None:
        """SLO alerts name known notifiers; SLO names are unique (they name the counts)."""
        slos = self.data.get("slos")
        if not isinstance(slos, list):
            return
        seen: set[str] = set()
        for i, slo in enumerate(slos):
            if not isinstance(slo, dict):
                continue
            name = slo.get("name")
            if isinstance(name, str) and name in seen and ("slos", i, "name") in self.pos.values:
                self._at(self.pos.values[("slos", i, "name")], f"duplicate SLO name {name!r}")
            seen.add(str(name))
            self._check_period(i, slo)
            alerts = slo.get("alerts")
            for j in range(len(alerts) if isinstance(alerts, list) else 0):
                self._check_notify(("slos", i, "alerts", j, "notify"), notifiers)

    def _check_period(self, i: int, slo: dict[str, Any]) -> None:
        """The counts come from the history: a period it does not keep would be cut."""
        history = self.data.get("history")
        raw_keep = history.get("keep") if isinstance(history, dict) else None
        try:
            keep = History().keep if raw_keep is None else parse_duration(str(raw_keep))
            period = parse_duration(str(slo.get("period", "28d")))
        except ValueError:
            return  # the schema reports it
        where = ("slos", i, "period") if ("slos", i, "period") in self.pos.values else ("slos", i)
        if period > keep and where in self.pos.values:
            self._at(
                self.pos.values[where],
                f"the SLO period {format_duration(period)} is longer than history.keep "
                f"{format_duration(keep)}; the counts before it are dropped, so keep longer",
            )

    def _check_notify(self, loc: Loc, notifiers: set[str]) -> None:
        raw: Any = self.data
        for el in loc:  # the written form tells where each name sits
            in_list = isinstance(raw, list) and isinstance(el, int) and el < len(raw)
            if not (in_list or (isinstance(raw, dict) and el in raw)):
                return
            raw = raw[el]
        entries: list[tuple[Loc, Any]] = []
        if isinstance(raw, list):
            entries = [((*loc, j), name) for j, name in enumerate(raw)]
        elif isinstance(raw, dict):
            for severity in ("warning", "critical"):
                items = raw.get(severity)
                if isinstance(items, list):
                    entries += [((*loc, severity, j), name) for j, name in enumerate(items)]
        valid = ", ".join(sorted(notifiers)) if notifiers else "none are defined"
        for where, name in entries:
            if isinstance(name, str) and name not in notifiers:
                shown = self._shown(where, name)
                self._at(
                    self.pos.values[where],
                    f"unknown notifier{' ' + shown if shown else ''} (notifiers: {valid})",
                )

    def _check_rule(self, loc: Loc, spec: _RuleSpec) -> None:
        def at(key: str | None) -> Mark:
            where = loc if key is None else (*loc, key)
            return self.pos.values.get(where, self.pos.values[loc])

        set_keys = spec.model_fields_set
        if spec.compare is not None:
            for problem in compare_problems(spec):
                self._at(at(problem[0]), problem[1])
        elif spec.warning is None and spec.critical is None:
            self._at(at(None), "a rule needs a warning or a critical threshold (or both)")
        rising = spec.op in (">", ">=")
        warning, critical = spec.warning, spec.critical
        if (
            warning is not None
            and critical is not None
            and (warning > critical if rising else warning < critical)
        ):
            side = "above" if rising else "below"
            self._at(at("warning"), f"warning must not be {side} critical when op is {spec.op!r}")
        levels = [t for t in (spec.warning, spec.critical) if t is not None]
        if spec.recovery is not None and levels:
            if rising and spec.recovery >= min(levels):
                self._at(
                    at("recovery"), f"recovery must be below the lowest threshold (op {spec.op!r})"
                )
            elif not rising and spec.recovery <= max(levels):
                self._at(
                    at("recovery"), f"recovery must be above the highest threshold (op {spec.op!r})"
                )
        if spec.metric == "failed_ratio":
            for key in ("warning", "critical", "recovery"):
                value = getattr(spec, key)
                if value is not None and not 0 <= value <= 1:
                    self._at(at(key), "failed_ratio is a share from 0 to 1 (0.05 means 5%)")
        if spec.stat is not None and spec.metric not in LATENCY_METRICS:
            self._at(at("stat"), f"{spec.metric} has no stat; leave stat out")
        for key in ("trunk_names", "status"):
            if getattr(spec, key) == ():
                self._at(at(key), f"{key} must not be empty (leave it out to take every one)")
        if spec.trunks is not None and spec.exclude_trunks is not None:
            self._at(at("exclude_trunks"), "set trunks or exclude_trunks, not both")
        if spec.source != "overview":
            return
        if spec.metric not in OVERVIEW_METRICS:
            self._at(
                at("metric"),
                f"the overview has no {spec.metric}; it gives {', '.join(OVERVIEW_METRICS)}",
            )
        if spec.stat not in (None, "avg") and spec.metric in LATENCY_METRICS:
            self._at(
                at("stat"), "overview rules can only use stat avg (the overview gives averages)"
            )
        if spec.per == "trunk":
            self._at(at("per"), "overview rules are account-wide; per: trunk needs source: calls")
        for key in (
            "window",
            "min_calls",
            "trunks",
            "exclude_trunks",
            "trunk_names",
            "direction",
            "status",
        ):
            if key in set_keys:
                self._at(
                    self.pos.keys.get((*loc, key), at(key)),
                    f"{key} does not apply to source: overview (the overview is account-wide)",
                )

    def _check_window(
        self, loc: Loc, spec: _RuleSpec, poll: Poll, defaults: Defaults | None
    ) -> None:
        if spec.window is not None:
            window, where = spec.window, (*loc, "window")
        elif defaults is not None:
            window = defaults.window
            where = ("defaults", "window")
            if where not in self.pos.values:
                where = ("poll", "calls_every")
        else:
            return
        if window < poll.calls_every:
            self._at(
                self.pos.values.get(where, self.pos.values[loc]),
                "window is shorter than poll.calls_every; a window must span at least one poll",
            )
