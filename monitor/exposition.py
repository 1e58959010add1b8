"""The Prometheus text format, written by hand for the families with many lines.

:mod:`monitor.metrics` serves about 120,000 lines for 1,000 trunks, almost all of them
the latency histograms, the call counts and the per-trunk window figures.
``prometheus_client`` builds and formats a sample object per line, so these families are
written here from label strings escaped once per series; each collector still yields
its families to a registry, with the same samples, for anything that reads them.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

#: Voice latency spans tens of milliseconds (gateway) to seconds (a struggling AI agent).
#: Between 0.1 and 5 s no edge is more than 11% above the one before, so
#: ``histogram_quantile``'s interpolation inside a bucket stays within 10% of the exact
#: percentile; the config's own thresholds are added on top (:func:`latency_buckets`).
LATENCY_BUCKETS: Final = (
    0.01, 0.025, 0.05, 0.075,
    0.1, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.175, 0.19, 0.2, 0.22, 0.24, 0.26, 0.28,
    0.3, 0.33, 0.36, 0.4, 0.44, 0.48, 0.52, 0.56, 0.6, 0.65, 0.7, 0.75, 0.8, 0.875,
    0.95, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.75, 1.9, 2.0, 2.2, 2.4, 2.6, 2.8,
    3.0, 3.3, 3.6, 4.0, 4.4, 4.8, 5.0, 7.5, 10.0,
)  # fmt: skip


def latency_buckets(thresholds_ms: Iterable[float]) -> tuple[float, ...]:
    """:data:`LATENCY_BUCKETS` plus each threshold (ms) as an edge in seconds, so a
    count of calls at or under a threshold is exact in PromQL too."""
    extra = {round(t / 1000, 6) for t in thresholds_ms if 0 < t <= 3.6e7}
    return tuple(sorted(set(LATENCY_BUCKETS) | extra))


OTHER_TRUNKS: Final = "_other"
CALL_LATENCY: Final = "telepath_call_latency_seconds"

#: prometheus_client's sample value format (Go's), typed here: upstream is unannotated.
_go_float: Callable[[float], str] = floatToGoString


def escape_label_value(value: str) -> str:
    """A label value as the text format wants it between double quotes.

    Trunk ids come from the API and rule names from the config: a quote, backslash or
    newline in one must not end the value, the label set or the line early.
    """
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def sample_value(value: float) -> str:
    """The value as ``floatToGoString`` writes it, without its checks in the common case."""
    if -1e6 < value < 1e6:  # false for NaN and infinities; Go writes larger ones as 1e+06
        return repr(float(value))
    return _go_float(value)


def help_line(name: str, documentation: str, kind: str) -> str:
    doc = documentation.replace("\\", "\\\\").replace("\n", "\\n")
    return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n"


class _Series:
    """One (trunk label, component) histogram and its label strings, escaped once."""

    __slots__ = ("bucket_head", "bucket_tail", "counts", "labels", "sum")

    def __init__(self, trunk_label: str, component: str, buckets: int) -> None:
        self.counts = [0] * buckets  # per bucket, not cumulative; the last one is +Inf
        self.sum = 0.0
        # Label names in sorted order, as generate_latest writes them.
        self.bucket_head = f'{CALL_LATENCY}_bucket{{component="{component}",le="'
        self.bucket_tail = f'",trunk_id="{escape_label_value(trunk_label)}"}} '
        self.labels = f'{{component="{component}",trunk_id="{escape_label_value(trunk_label)}"}}'


class LatencyHistograms(Collector):
    """The cumulative ``telepath_call_latency_seconds`` histograms, one per (trunk, component).

    Counts and sums live in plain lists under one lock, so feeding a page of calls takes
    the lock once, and :meth:`render` writes the text without a sample object per line.
    As a collector it yields the same family for registry readers. There is no
    ``_created`` series: nothing reads it, and it made a quarter of the histogram lines.

    Args:
        buckets: upper bounds in seconds, ascending, without +Inf (always added).
    """

    documentation: Final = (
        "Latency of each ingested call, by component (ai, carrier, gateway, total)."
    )

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self._bounds = tuple(float(b) for b in buckets)
        if list(self._bounds) != sorted(set(self._bounds)):
            raise ValueError("histogram buckets must be ascending and distinct")
        self._les = (*(_go_float(b) for b in self._bounds), "+Inf")
        self._series: dict[tuple[str, str], _Series] = {}
        self._lock = threading.Lock()

    def observe(self, trunk_label: str, component: str, seconds: float) -> None:
        """Count one latency of one series."""
        self.observe_many([(trunk_label, component, seconds)])

    def observe_many(self, observations: Iterable[tuple[str, str, float]]) -> None:
        """Count (trunk label, component, seconds) latencies under one lock."""
        bounds, series, width = self._bounds, self._series, len(self._les)
        with self._lock:
            for trunk_label, component, seconds in observations:
                one = series.get((trunk_label, component))
                if one is None:
                    one = series[trunk_label, component] = _Series(trunk_label, component, width)
                # bisect_left: a value equal to a bound belongs to that bucket (le is <=).
                one.counts[bisect_left(bounds, seconds)] += 1
                one.sum += seconds

    def _snapshot(self) -> list[tuple[tuple[str, str], _Series, list[int], float]]:
        with self._lock:
            return [(key, s, s.counts.copy(), s.sum) for key, s in self._series.items()]

    def describe(self) -> Iterable[Metric]:
        yield self._family()

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for (trunk_label, component), _, counts, total in self._snapshot():
            cumulative = _cumulative(counts)
            family.add_metric(
                [trunk_label, component], list(zip(self._les, cumulative, strict=True)), total
            )
        yield family

    def render(self) -> str:
        """The family in the text format, as ``generate_latest`` would write it."""
        les = self._les
        out = [help_line(CALL_LATENCY, self.documentation, "histogram")]
        append = out.append
        for _, series, counts, total in self._snapshot():
            head, tail, running = series.bucket_head, series.bucket_tail, 0
            for le, count in zip(les, counts, strict=True):
                running += count
                append(f"{head}{le}{tail}{running}\n")
            append(f"{CALL_LATENCY}_count{series.labels} {running}\n")
            append(f"{CALL_LATENCY}_sum{series.labels} {sample_value(total)}\n")
        return "".join(out)

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(
            CALL_LATENCY, self.documentation, labels=["trunk_id", "component"]
        )


class CallCounts(Collector):
    """The ``telepath_calls_total`` counter by (trunk label, status), rendered like the histograms.

    Status comes from the API, so its label value is escaped like a trunk id. There is no
    ``_created`` series, as for :class:`LatencyHistograms`.
    """

    name: Final = "telepath_calls"
    documentation: Final = "Calls ingested, by trunk and final status."

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._labels: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def inc_many(self, keys: Iterable[tuple[str, str]]) -> None:
        """Count one call per (trunk label, status), under one lock."""
        counts = self._counts
        with self._lock:
            for key in keys:
                if key not in counts:
                    trunk_label, status = key
                    self._labels[key] = (
                        f'{{status="{escape_label_value(status)}",'
                        f'trunk_id="{escape_label_value(trunk_label)}"}}'
                    )
                counts[key] = counts.get(key, 0) + 1

    def _snapshot(self) -> list[tuple[tuple[str, str], str, int]]:
        with self._lock:
            return [(key, self._labels[key], count) for key, count in self._counts.items()]

    def describe(self) -> Iterable[Metric]:
        yield self._family()

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for key, _, count in self._snapshot():
            family.add_metric(list(key), count)
        yield family

    def render(self) -> str:
        """The family in the text format."""
        total = f"{self.name}_total"
        out = [help_line(total, self.documentation, "counter")]
        out.extend(f"{total}{labels} {count}\n" for _, labels, count in self._snapshot())
        return "".join(out)

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.documentation, labels=["trunk_id", "status"])


def _cumulative(counts: Iterable[int]) -> list[float]:
    running = 0
    out: list[float] = []
    for count in counts:
        running += count
        out.append(running)
    return out
