"""The SLO section of ``telepath-monitor report``: each SLO of the config over the
period ending at the report's end, from the counts in the state DB's history.

Left out (with a note) when the config cannot be read; absent when it has no SLO.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from monitor.slo.views import SloRow, render_slos, slo_text

__all__ = ["insert_html", "slo_report", "text_lines"]


def slo_report(
    config_path: Path, state_db: Path, end: datetime, trunks: Sequence[str] = ()
) -> tuple[list[SloRow], str | None]:
    """The rows, and a note when they cannot be had."""
    from monitor.config import load_config
    from monitor.errors import ConfigError
    from monitor.slo.source import read_figures
    from monitor.slo.views import slo_rows
    from monitor.store import StateStore

    if not Path(config_path).exists():
        return [], None
    try:
        config = load_config(Path(config_path))
    except ConfigError as exc:
        return [], f"SLOs left out: {config_path} is invalid ({len(exc.problems)} problems)"
    if not config.slos:
        return [], None
    if not Path(state_db).exists():
        return [], f"SLOs left out: no state DB at {state_db}"
    store = StateStore(Path(state_db))
    try:
        figures = read_figures(store, config.slos, end)
    finally:
        store.close()
    rows = slo_rows(figures)
    if trunks:
        rows = [r for r in rows if r.group is None or r.group in trunks]
    return rows, None


def text_lines(rows: Sequence[SloRow], note: str | None) -> list[str]:
    lines = ["", "SLOs (each over its period, up to the report's end)"] if rows else []
    lines += slo_text(rows)
    return [*lines, "", note] if note else lines


def insert_html(document: str, rows: Sequence[SloRow], note: str | None) -> str:
    """The report's HTML with the SLO section before its end."""
    if not rows and not note:
        return document
    section = "<h2>SLOs</h2>\n" + (render_slos(rows) if rows else "")
    if note:
        section += f'\n<p class="meta">{html.escape(note)}</p>'
    head, tail = document.rsplit("</body>", 1)
    return f"{head}{section}\n</body>{tail}"
