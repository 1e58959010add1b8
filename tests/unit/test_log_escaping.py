"""Text from outside cannot forge log lines or console lines (issue 19, point 5)."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import pytest

from monitor.config import Links
from monitor.logs import configure_logging, escape_text
from monitor.notify.base import Notification
from monitor.notify.console import ConsoleSender
from monitor.notify.sample import sample_notification

FORGED = "trunk-1\n2026-12-01T00:00:00Z INFO monitor.daemon: all clear"
HOSTILE = [
    "a\nb",
    "a\rb",
    "nul\x00",
    "rtl\u202eevil",
    "iso\u2066x\u2069",
    "del\x7f",
    "c1\x85",
    "ls\u2028",
]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("nul\x00", "nul\\x00"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("rtl\u202eevil", "rtl\\u202eevil"),
        ("iso\u2066x\u2069", "iso\\u2066x\\u2069"),
        ("mark\u200f", "mark\\u200f"),
        ("c1\x85", "c1\\x85"),
        ("tab\t", "tab\\t"),
        ("café ✓ ok", "café ✓ ok"),
    ],
)
def test_escape_text_writes_controls_and_bidi_marks_as_escapes(raw, shown):
    """Controls, C1 codes and bidi marks become visible escapes; other text is untouched."""
    assert escape_text(raw) == shown


def test_a_trunk_id_with_a_newline_cannot_forge_a_text_log_line(stream):
    """A logged API value with a newline stays on its record's one line."""
    configure_logging("INFO", "text", stream)
    logging.getLogger("monitor.sync").warning("trunk %s is slow (%d calls)", FORGED, 3)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(
        "trunk-1\\n2026-12-01T00:00:00Z INFO monitor.daemon: all clear is slow (3 calls)"
    )


@pytest.mark.parametrize("raw", HOSTILE)
def test_text_log_lines_hold_no_raw_control_or_bidi_character(stream, raw):
    """Arguments, messages without arguments and extras are all escaped."""
    configure_logging("INFO", "text", stream)
    log = logging.getLogger("monitor.test")
    log.info("value %s", raw)
    log.info(raw)
    log.info("extra", extra={"trunk": raw})
    text = stream.getvalue()
    assert text.count("\n") == 3
    assert escape_text(text.replace("\n", "")) == text.replace("\n", "")


def test_an_exception_message_from_outside_cannot_start_a_record(stream):
    """Traceback lines are indented: none starts at column 0 like a record does."""
    configure_logging("INFO", "text", stream)
    try:
        raise ValueError(FORGED)
    except ValueError:
        logging.getLogger("monitor.test").exception("boom")
    first, *rest = stream.getvalue().splitlines()
    assert "boom" in first
    assert rest
    assert all(line.startswith("  ") for line in rest)


@pytest.mark.parametrize("raw", HOSTILE)
def test_json_logs_stay_one_parseable_object_per_line(stream, raw):
    """JSON lines round-trip the value exactly and hold no raw control or bidi mark."""
    configure_logging("INFO", "json", stream)
    logging.getLogger("monitor.test").info("value %s", raw, extra={"trunk": raw})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert escape_text(lines[0]) == lines[0]
    record = json.loads(lines[0])
    assert record["message"] == f"value {raw}"
    assert record["trunk"] == raw


def test_numbers_keep_their_format_specs(stream):
    """Escaping arguments does not break %d or %.1f."""
    configure_logging("INFO", "text", stream)
    logging.getLogger("monitor.test").info("%d calls in %.1fs (%s)", 7, 1.25, "ok")
    assert stream.getvalue().rstrip().endswith("7 calls in 1.2s (ok)")


def test_console_notifier_escapes_ids_from_the_api():
    """The console notifier prints a hostile trunk or call id on its own line, escaped."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    base = sample_notification("ops", Links(call="https://dash.example/calls/{call_id}"), now)
    alert = dict(base.alerts[0])
    alert["group"] = {"trunk_id": FORGED}
    alert["offending_calls"] = [{**alert["offending_calls"][0], "id": "call\u202e1\nFAKE"}]
    out = io.StringIO()
    ConsoleSender(out).send(
        Notification(
            id="msg_1",
            notifier="ops",
            event="firing",
            rule=alert["rule"],
            alerts=[alert],
            created_at=now,
        )
    )
    text = out.getvalue()
    assert "trunk trunk-1\\n2026-12-01T00:00:00Z INFO monitor.daemon: all clear" in text
    assert "call\\u202e1\\nFAKE" in text
    assert not any(line.startswith("2026-12-01") for line in text.splitlines())
    assert "\u202e" not in text
