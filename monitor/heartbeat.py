"""The dead-man's switch: ping an external URL while the daemon is healthy.

Services such as healthchecks.io, Dead Man's Snitch, Cronitor or Better Stack page when
the pings stop, which covers the one failure the daemon cannot report itself: being
dead. Healthy means the last sync of ``/calls`` is recent (the ``/readyz`` condition)
and the outbox is draining (no notification has waited longer than
:data:`MAX_OUTBOX_WAIT`); while that is not so, pings are skipped on purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Final, Literal

import httpx

from monitor.config import Heartbeat
from monitor.notify.webhook import USER_AGENT

__all__ = ["MAX_OUTBOX_WAIT", "HeartbeatPinger", "heartbeat_health"]

log = logging.getLogger(__name__)

#: A notification pending longer than this means the outbox is not draining.
MAX_OUTBOX_WAIT: Final = timedelta(minutes=10)

Result = Literal["sent", "failed", "skipped"]


def heartbeat_health(
    ready: tuple[bool, str], outbox: Sequence[tuple[str, int, float | None]]
) -> str | None:
    """Why the daemon is not healthy enough to ping, or None when it is."""
    ok, reason = ready
    if not ok:
        return reason
    for notifier, pending, age in outbox:
        if age is not None and age > MAX_OUTBOX_WAIT.total_seconds():
            return f"{pending} notification(s) to {notifier} waiting for {age:.0f}s"
    return None


class HeartbeatPinger:
    """Pings the configured URL; remembers whether the last attempt was skipped, to log
    a change of health once rather than every interval."""

    def __init__(self, spec: Heartbeat, http: httpx.Client | None = None) -> None:
        self.spec = spec
        self._http = http or httpx.Client(timeout=spec.timeout.total_seconds())
        self._unhealthy: str | None = None

    def beat(self, unhealthy: str | None) -> Result:
        """Ping unless ``unhealthy`` says why not; never raises."""
        if unhealthy is not None:
            if self._unhealthy is None:
                log.warning("heartbeat paused while unhealthy: %s", unhealthy)
            self._unhealthy = unhealthy
            return "skipped"
        if self._unhealthy is not None:
            log.info("heartbeat resumed")
            self._unhealthy = None
        headers = {**self.spec.headers, "user-agent": USER_AGENT}
        try:
            response = self._http.request(
                self.spec.method, self.spec.url.get_secret_value(), headers=headers
            )
        except httpx.HTTPError as exc:
            log.warning("heartbeat ping failed: %s", type(exc).__name__)
            return "failed"
        if not response.is_success:
            log.warning("heartbeat ping answered HTTP %d", response.status_code)
            return "failed"
        return "sent"

    def close(self) -> None:
        self._http.close()
