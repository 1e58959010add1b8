"""The console notifier: alerts printed for people watching a terminal (the demo).

One block per alert, coloured when the stream is a terminal. It never fails, so it
needs no retries, but it still goes through the outbox like every notifier: what the
demo shows is what a real receiver would have been sent.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

from monitor.logs import escape_text
from monitor.notify.base import Notification
from monitor.notify.document import describe_value, detail_line, format_value
from monitor.trunks import trunk_label

__all__ = ["ConsoleSender"]

_COLOURS = {"critical": "\033[1;31m", "warning": "\033[1;33m", "resolved": "\033[1;32m"}
_RESET = "\033[0m"


class ConsoleSender:
    """Writes each notification to ``stream`` (standard output by default)."""

    groups = True

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, notification: Notification) -> None:
        stream = self._stream or sys.stdout
        colour = stream.isatty()
        if notification.event == "report":
            from monitor.reports.deliver import console_text

            text = console_text(notification.alerts)
        else:
            text = "".join(
                format_block(notification.event, alert, test=notification.test, colour=colour)
                for alert in notification.alerts
            )
        with self._lock:
            stream.write(text)
            stream.flush()

    def close(self) -> None:
        """Nothing to release."""


def format_block(
    event: str, alert: Mapping[str, Any], *, test: bool = False, colour: bool = False
) -> str:
    """One alert as a few indented lines; text from the API or the config is escaped, so
    an id with a newline or a right-to-left mark cannot forge or reorder a line."""
    severity = str(alert.get("severity") or "")
    tone = "resolved" if event == "resolved" else severity
    title = f"{'[TEST] ' if test else ''}{event.upper()} {severity}"
    if colour:
        title = f"{_COLOURS.get(tone, '')}{title}{_RESET}"
    group = alert.get("group") or {}
    trunk = group.get("trunk_id")
    where = f"trunk {trunk_label(str(trunk), group.get('trunk_name'))}" if trunk else "all trunks"
    rule = escape_text(str(alert["rule"]))
    summary = escape_text(str(alert.get("summary") or alert["rule"]))
    lines = [f"{title}  {rule} · {escape_text(where)}", f"  {summary}"]
    if event == "resolved":
        # The worst calls of a healthy window explain nothing; the peak does.
        lines.append(f"  now {describe_value(alert, with_threshold=False)}")
        if alert.get("peak_value") is not None:
            peak = format_value(alert["peak_value"], str(alert["metric"]))
            lines.append(f"  peak while firing: {peak}")
    elif event == "details":
        lines.append(f"  {describe_value(alert)}")
        lines += [escape_text(f"  · {detail_line(d)}") for d in alert.get("call_details") or []]
    else:
        lines.append(f"  {describe_value(alert)}")
        attribution = alert.get("attribution")
        if attribution and attribution.get("headline"):
            lines.append(escape_text(f"  why: {attribution['headline']}"))
        for call in alert.get("offending_calls") or []:
            line = f"  · {call['id']}  {call.get('url') or ''}".rstrip()
            lines.append(escape_text(line))
    if alert.get("runbook_url"):
        lines.append(escape_text(f"  runbook: {alert['runbook_url']}"))
    return "\n".join(lines) + "\n\n"
