"""What machine the figures came from: printed by every bench."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """Platform, Python, cores and CPU model, for the figures' context."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.platform()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, {model}"
    )
