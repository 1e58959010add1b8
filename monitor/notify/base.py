"""What a sender is given and what it promises.

A :class:`Notification` is one outbox entry: the alert documents to announce (one for
webhooks and Alertmanager; one or more of a single rule for Slack, which groups), the
notifier to send them through, and the id that stays the same on every attempt so
receivers can drop duplicates. Senders are the only I/O here: :meth:`Sender.send`
returns on success and raises :class:`~monitor.errors.DeliveryError` otherwise, with a
message free of URLs and tokens and ``transient`` saying whether a retry may help.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["Notification", "Sender"]


@dataclass(frozen=True)
class Notification:
    """One outbox entry, as stored and as sent."""

    #: Stable across retries: the webhook-id, the dedupe key.
    id: str
    notifier: str
    #: firing | escalated | deescalated | repeat | resolved (all alerts share it).
    event: str
    rule: str
    alerts: Sequence[Mapping[str, Any]]
    created_at: datetime
    #: A test-notify message: marked as a test everywhere it shows.
    test: bool = False


class Sender(Protocol):
    """Delivers notifications for one configured notifier."""

    #: Whether this notifier takes several alerts of one rule in one notification.
    groups: bool

    def send(self, notification: Notification) -> None:
        """Deliver, or raise DeliveryError (transient or not)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
