"""The outbox: intents become stored notifications, a worker delivers them.

Nothing is sent that was not stored first. :func:`notifications_for` turns one
evaluation's intents into :class:`~monitor.notify.base.Notification` records, which the
daemon commits together with the alert states. :class:`DeliveryWorker` then delivers
each notifier's pending entries in order (a resolution never overtakes its firing):

- delivered: marked so, counted;
- a transient failure (timeout, 5xx, 408, 429): retried with exponential backoff and
  jitter, or after the receiver's ``Retry-After`` when it gave one;
- a permanent failure (other 4xx, Slack's ``channel_not_found``...): dead-lettered,
  logged once with the reason, counted, kept for inspection;
- older than ``delivery.max_age``: dead-lettered as expired.

A kill between sending and marking delivered sends that one entry again on restart,
with the same id (the ``webhook-id`` receivers de-duplicate by): at most one duplicate.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from monitor.alerts import Intent
from monitor.clock import Clock
from monitor.config import Delivery, format_duration
from monitor.errors import DeliveryError
from monitor.notify.base import Notification, Sender
from monitor.notify.document import alert_document
from monitor.store import OutboxEntry, StateStore
from monitor.telepath.ratelimit import backoff_delay

__all__ = [
    "DeliveryEvent",
    "DeliveryThreads",
    "DeliveryWorker",
    "group_flags",
    "notifications_for",
]

log = logging.getLogger(__name__)

#: Retry-After beyond this is treated as this: a receiver cannot park an alert for days.
MAX_RETRY_AFTER = 3600.0


def notifications_for(
    intents: Sequence[Intent],
    grouping: Mapping[str, bool],
    now: datetime,
    names: Mapping[str, str] | None = None,
) -> list[Notification]:
    """The notifications one evaluation's intents cause, in intent order.

    ``grouping`` maps each configured notifier to whether it groups (Slack, console):
    those get one notification per (rule, event) listing every group that changed;
    the rest get one per intent. ``names`` (trunk id -> name) goes into the documents.
    Intents naming a notifier that is not configured are
    skipped (config checks make that impossible, but a reload race must not crash).
    """
    slots: list[Notification | tuple[str, str, str]] = []
    grouped: dict[tuple[str, str, str], list[Intent]] = {}
    for intent in intents:
        for name in intent.notify:
            if name not in grouping:
                log.warning("alert %s names unknown notifier %s", intent.alert_id, name)
            elif grouping[name]:
                key = (name, intent.rule.name, intent.kind)
                if key not in grouped:
                    grouped[key] = []
                    slots.append(key)
                grouped[key].append(intent)
            else:
                slots.append(_notification(name, [intent], now, names))
    return [
        slot
        if isinstance(slot, Notification)
        else _notification(slot[0], grouped[slot], now, names)
        for slot in slots
    ]


def _notification(
    notifier: str,
    intents: Sequence[Intent],
    now: datetime,
    names: Mapping[str, str] | None = None,
) -> Notification:
    first = intents[0]
    # The id must come out the same if the same transition is queued again (a retried
    # evaluation), and differ for every other notification.
    parts = [notifier, first.kind, first.at.isoformat(), *sorted(i.alert_id for i in intents)]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return Notification(
        id=f"msg_{digest}",
        notifier=notifier,
        event=first.kind,
        rule=first.rule.name,
        alerts=[alert_document(i, names) for i in intents],
        created_at=now,
    )


Outcome = Literal["delivered", "failed", "dead"]


@dataclass(frozen=True)
class DeliveryEvent:
    """What happened to one attempt, for metrics."""

    notifier: str
    outcome: Outcome
    #: For dead letters: rejected (permanent failure) or expired (max_age).
    reason: str | None = None


class DeliveryWorker:
    """Delivers pending outbox entries through the configured senders.

    Args:
        store: the state DB holding the outbox.
        senders: notifier name -> sender.
        clock: for backoff, ages and ``next_attempt_at``.
        policy: the ``delivery:`` config (backoff, max age, retention).
        listener: called with a :class:`DeliveryEvent` for every attempt.
        rng: jitter source (tests pass a seeded one).
    """

    def __init__(
        self,
        store: StateStore,
        senders: Mapping[str, Sender],
        clock: Clock,
        policy: Delivery,
        *,
        listener: Callable[[DeliveryEvent], None] = lambda event: None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.senders = dict(senders)
        self.clock = clock
        self.policy = policy
        self.listener = listener
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def deliver_due(self, notifier: str, *, limit: int = 100) -> int:
        """Send the notifier's due entries in order until one must wait; returns how many
        were delivered. Never raises for a delivery problem."""
        delivered = 0
        for _ in range(limit):
            entry = self.store.next_pending(notifier)
            if entry is None or entry.next_attempt_at > self.clock.now():
                break
            outcome = self._attempt(entry)
            if outcome == "failed":
                break  # the head waits for its retry; later entries wait behind it
            delivered += outcome == "delivered"
        return delivered

    def next_due(self, notifier: str) -> datetime | None:
        """When the notifier's head entry may be tried next, or None when nothing waits."""
        entry = self.store.next_pending(notifier)
        return None if entry is None else entry.next_attempt_at

    def _attempt(self, entry: OutboxEntry) -> Outcome:
        n = entry.notification
        now = self.clock.now()
        sender = self.senders.get(n.notifier)
        if sender is None:
            return self._dead(entry, "rejected", "notifier is no longer configured")
        if now - n.created_at > self.policy.max_age:
            age = format_duration(now - n.created_at)
            return self._dead(entry, "expired", f"undelivered for {age} (delivery.max_age)")
        try:
            sender.send(n)
        except DeliveryError as exc:
            if not exc.transient:
                return self._dead(entry, "rejected", str(exc))
            return self._retry(entry, exc)
        except Exception as exc:
            # A sender bug must not stop the queue; it is retried like a transient failure.
            log.exception("sending %s through %s failed unexpectedly", n.id, n.notifier)
            return self._retry(entry, DeliveryError(type(exc).__name__, transient=True))
        self.store.mark_delivered(entry.seq, self.clock.now())
        self.listener(DeliveryEvent(n.notifier, "delivered"))
        log.info("delivered %s %s of %s to %s", n.event, n.id, n.rule, n.notifier)
        return "delivered"

    def _retry(self, entry: OutboxEntry, exc: DeliveryError) -> Outcome:
        n = entry.notification
        attempts = entry.attempts + 1
        if exc.retry_after is not None:
            wait = min(max(exc.retry_after, 0.0), MAX_RETRY_AFTER)
        else:
            wait = backoff_delay(
                attempts,
                base=self.policy.retry_initial.total_seconds(),
                cap=self.policy.retry_max.total_seconds(),
                rng=self._rng,
            )
        self.store.mark_retry(
            entry.seq,
            attempts=attempts,
            next_attempt_at=self.clock.now() + timedelta(seconds=wait),
            error=str(exc),
        )
        self.listener(DeliveryEvent(n.notifier, "failed"))
        log.log(
            logging.WARNING if attempts == 1 else logging.INFO,
            "delivering %s to %s failed (attempt %d), retrying in %.0fs: %s",
            n.id, n.notifier, attempts, wait, exc,
        )  # fmt: skip
        return "failed"

    def _dead(self, entry: OutboxEntry, reason: str, message: str) -> Outcome:
        n = entry.notification
        self.store.mark_dead(entry.seq, self.clock.now(), message)
        self.listener(DeliveryEvent(n.notifier, "dead", reason))
        log.error(
            "gave up delivering %s %s of %s to %s (%s): %s",
            n.event, n.id, n.rule, n.notifier, reason, message,
        )  # fmt: skip
        return "dead"


class DeliveryThreads:
    """One thread per notifier running :meth:`DeliveryWorker.deliver_due`, so a slow or
    failing receiver delays only its own notifications.

    Threads wake when :meth:`wake` is called (new entries), when the head entry's retry
    is due, and at least every ``idle_wait`` seconds.
    """

    def __init__(self, worker: DeliveryWorker, *, idle_wait: float = 5.0) -> None:
        self.worker = worker
        self.idle_wait = idle_wait
        self._stop = threading.Event()
        self._wakes: dict[str, threading.Event] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for name in self.worker.senders:
            wake = self._wakes[name] = threading.Event()
            thread = threading.Thread(
                target=self._run, args=(name, wake), name=f"deliver-{name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def wake(self) -> None:
        for event in self._wakes.values():
            event.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the sends in flight (each bounded by its notifier's timeout)."""
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _run(self, name: str, wake: threading.Event) -> None:
        while not self._stop.is_set():
            try:
                self.worker.deliver_due(name)
                due = self.worker.next_due(name)
            except Exception:
                log.exception("delivery to %s failed unexpectedly", name)
                due = None
            wait = self.idle_wait
            if due is not None:
                wait = min(wait, max(0.05, (due - self.worker.clock.now()).total_seconds()))
            wake.wait(wait)
            wake.clear()


def group_flags(senders: Mapping[str, Sender]) -> dict[str, bool]:
    """Notifier name -> whether it groups, for :func:`notifications_for`."""
    return {name: sender.groups for name, sender in senders.items()}
