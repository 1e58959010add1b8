"""One sender per configured notifier, built from the config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from monitor.clock import Clock
from monitor.config import (
    AlertmanagerNotifier,
    ConsoleNotifier,
    Notifier,
    SlackNotifier,
    WebhookNotifier,
)
from monitor.notify.alertmanager import AlertmanagerSender
from monitor.notify.base import Sender
from monitor.notify.console import ConsoleSender
from monitor.notify.slack import slack_sender
from monitor.notify.webhook import WebhookSender
from monitor.store import StateStore

__all__ = ["build_sender", "build_senders", "close_senders"]


def build_sender(
    name: str,
    spec: Notifier,
    clock: Clock,
    store: StateStore | None,
    *,
    console: TextIO | None = None,
) -> Sender:
    """The sender for one notifier; ``store`` None disables Slack threading."""
    if isinstance(spec, SlackNotifier):
        return slack_sender(name, spec, clock, store)
    if isinstance(spec, WebhookNotifier):
        return WebhookSender(spec, clock)
    if isinstance(spec, AlertmanagerNotifier):
        return AlertmanagerSender(spec, clock)
    if isinstance(spec, ConsoleNotifier):
        return ConsoleSender(console)
    raise TypeError(f"unknown notifier type {type(spec).__name__}")


def build_senders(
    notifiers: Mapping[str, Notifier],
    clock: Clock,
    store: StateStore | None,
    *,
    console: TextIO | None = None,
) -> dict[str, Sender]:
    """Every configured notifier's sender, by name."""
    return {
        name: build_sender(name, spec, clock, store, console=console)
        for name, spec in notifiers.items()
    }


def close_senders(senders: Mapping[str, Sender]) -> None:
    for sender in senders.values():
        sender.close()
