"""Pieces every command shares: settings flags, settings with logging, plain tables."""

from __future__ import annotations

import argparse

from monitor.logs import configure_logging, escape_text, register_secret
from monitor.settings import Settings, load_settings


def add_settings_flags(parser: argparse.ArgumentParser, *names: str) -> None:
    """Flags that override TELEPATH_* settings; the environment supplies the rest."""
    flags = {
        "api_url": ("--api-url", "Telepath API base URL (TELEPATH_API_URL)"),
        "config": ("--config", "rules and notifiers file (TELEPATH_CONFIG)"),
        "state_db": ("--state-db", "SQLite state file (TELEPATH_STATE_DB)"),
        "listen": ("--listen", "host:port of /metrics, /healthz, /readyz (TELEPATH_LISTEN)"),
        "log_level": ("--log-level", "DEBUG, INFO, WARNING or ERROR (TELEPATH_LOG_LEVEL)"),
        "log_format": ("--log-format", "text or json (TELEPATH_LOG_FORMAT)"),
    }
    for name in names:
        flag, help_text = flags[name]
        parser.add_argument(flag, dest=name, default=None, help=help_text)


def settings_from(args: argparse.Namespace, *names: str) -> Settings:
    """Settings from the environment with this command's flags on top; logging set up."""
    settings = load_settings({name: getattr(args, name, None) for name in names})
    if settings.api_key is not None:
        register_secret(settings.api_key.get_secret_value())
    configure_logging(settings.logging_level, settings.log_format)
    return settings


def print_table(
    rows: list[dict[str, object]], headers: list[str], empty: str = "(no rules)"
) -> None:
    cells = [[cell(row[h]) for h in headers] for row in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    print("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    if not rows:
        print(empty)


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape_text(str(value))  # trunk ids come from the API
