"""The e2e scenarios' figures: recorded per process, printed once at the end of a session.

Each scenario appends one JSON object per line to :data:`FIGURES_FILE` in its process's
base temporary directory; under xdist every worker has its own, below the controller's.
The summary is a hook of the root ``tests/conftest.py``, since the controller of an xdist
run never loads ``tests/e2e/conftest.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIGURES_FILE = "e2e-figures.jsonl"


def print_figures(terminalreporter: Any) -> None:
    """Print the figures every scenario recorded, and keep them as one JSON file."""
    if hasattr(terminalreporter.config, "workerinput"):
        return  # an xdist worker: the controller prints every worker's figures
    base = Path(terminalreporter.config._tmp_path_factory.getbasetemp())
    rows = [
        json.loads(line)
        for found in sorted(base.glob(f"**/{FIGURES_FILE}"))
        for line in found.read_text(encoding="utf-8").splitlines()
    ]
    if not rows:
        return
    terminalreporter.section("telepath-monitor e2e figures")
    for row in rows:
        name = row["scenario"]
        rest = ", ".join(f"{k}={v}" for k, v in row.items() if k != "scenario")
        terminalreporter.write_line(f"{name}: {rest}")
    path = base / "e2e-figures.json"
    path.write_text(json.dumps(rows, indent=2, default=str))
    terminalreporter.write_line(f"(also written to {path})")
