"""Service level objectives: exact good/total counts per minute, error budgets and
multi-window burn-rate alerts through the one alert engine, Prometheus rules over the
counters.

- :mod:`~monitor.slo.counts`: good and counted calls, the history counters, burn rates
  and the budget (pure);
- :mod:`~monitor.slo.alerting`: each burn alert as a rule and its observations (pure);
- :mod:`~monitor.slo.source`: the counts read back from the history (I/O);
- :mod:`~monitor.slo.promrules`: the Prometheus recording and alerting rules.
"""

from monitor.slo.alerting import describe, observations, rule_name, slo_rules
from monitor.slo.counts import Counts, SloFigures, classifiers, counter_names, figures

__all__ = [
    "Counts",
    "SloFigures",
    "classifiers",
    "counter_names",
    "describe",
    "figures",
    "observations",
    "rule_name",
    "slo_rules",
]
