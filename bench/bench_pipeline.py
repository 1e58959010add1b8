"""Cost of one pipeline step (monitor.pipeline.step): rules, engine, outbox rows.

Prints figures, asserts nothing. The step rebuilds the engines from the states it is
given and returns new ones, so its cost grows with the number of open alerts; this
measures it with 1,000 trunks, four per-trunk rules and every alert open.

    .venv/bin/python bench/bench_pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import timedelta

from bench_windows import NOW, RETENTION, generate

from monitor.config import Config
from monitor.pipeline import Sync, quiet_policy, step
from monitor.windows import CallWindows

RULES = [
    {"name": f"{metric}-{stat}", "metric": metric, "stat": stat, "warning": 100.0,
     "for": "5m", "notify": {"warning": ["ops"], "critical": ["ops"]}}
    for metric in ("ai_latency_ms", "carrier_lag_ms")
    for stat in ("avg", "p95")
]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    trunks, calls = 1000 // scale, 200_000 // scale
    print(f"{platform.platform()}, Python {platform.python_version()}")
    config = Config.model_validate({"notifiers": {"ops": {"type": "console"}}, "rules": RULES})
    windows = CallWindows(RETENTION)
    windows.add_many(generate(calls, trunks, RETENTION))
    policy = quiet_policy(config, [])
    states = step(config, windows, None, [], NOW, quiet=policy, sync=Sync()).states
    open_alerts = sum(s.state != "inactive" for s in states)
    best = float("inf")
    for k in range(5):
        started = time.perf_counter()
        result = step(
            config, windows, None, states, NOW + timedelta(seconds=30 * (k + 1)),
            quiet=policy, sync=Sync(),
        )  # fmt: skip
        best = min(best, time.perf_counter() - started)
        states = result.states
    print(
        f"step over {trunks:,} trunks, {len(RULES)} rules, {calls:,} calls held, "
        f"{open_alerts:,} alerts open: {best * 1e3:.0f} ms (best of 5)"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
