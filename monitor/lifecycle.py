"""Keeping ``run`` going from the main thread: stop signals, and config reloads.

Signal handlers only set flags (:func:`wait_for_stop_signal`); the main thread polls
them twice a second and hands reloads to :class:`ConfigWatcher`, which validates the new
file and passes it to the daemon. The daemon applies it under its lock, on the same
side of that lock as an evaluation step, so a reload never lands in the middle of one.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from monitor.config import Config, load_config
from monitor.errors import ConfigError
from monitor.logs import register_secret

if TYPE_CHECKING:
    from monitor.daemon import Daemon

__all__ = ["ConfigWatcher", "load_config_file", "wait_for_stop_signal"]


class ConfigWatcher:
    """Reloads the config on SIGHUP or when the file's mtime changes.

    An invalid new config is refused: its problems are logged, the old rules stay in
    force, and ``telepath_monitor_config_reloads_total{result="error"}`` counts it.
    """

    def __init__(self, path: Path, daemon: Daemon) -> None:
        self.path = path
        self.daemon = daemon
        self._mtime = self._stat()

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    def tick(self, hup: bool) -> None:
        mtime = self._stat()
        if hup or mtime != self._mtime:
            self._mtime = mtime
            self.reload("SIGHUP" if hup else "file change")

    def reload(self, why: str) -> bool:
        log = logging.getLogger("monitor.reload")
        try:
            config = load_config_file(self.path)
        except ConfigError as exc:
            log.error("config reload (%s) refused, the old config stays in force:", why)
            for problem in exc.problems:  # one line each: log lines never span lines
                log.error("  %s", problem)
            self.daemon.metrics.config_reloads.labels("error").inc()
            return False
        self.daemon.apply_config(config)
        self.daemon.metrics.config_reloads.labels("ok").inc()
        return True


def load_config_file(path: Path) -> Config:
    """Load a config and register its secrets for redaction before anything logs."""
    config = load_config(path)
    for secret in config.secrets():
        register_secret(secret)
    return config


def wait_for_stop_signal(on_tick: Callable[[bool], None] | None = None) -> None:
    """Block until SIGINT or SIGTERM; handlers only set flags.

    ``on_tick(hup)`` runs about twice a second on the main thread, ``hup`` telling
    whether SIGHUP arrived since the last tick.
    """
    stop = threading.Event()
    hup = threading.Event()

    def handle_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def handle_hup(signum: int, frame: FrameType | None) -> None:
        hup.set()

    handlers = {signal.SIGINT: handle_stop, signal.SIGTERM: handle_stop}
    if on_tick is not None:
        handlers[signal.SIGHUP] = handle_hup
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        while not stop.wait(0.5):
            if on_tick is not None:
                got_hup = hup.is_set()
                hup.clear()
                on_tick(got_hup)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
