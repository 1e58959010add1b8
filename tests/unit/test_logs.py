"""Log output formats and secret redaction."""

from __future__ import annotations

import io
import json
import logging

import pytest

from monitor.logs import configure_logging, redact, register_secret

SECRET = "sk_live_log_secret_abcdef"


def test_text_lines_carry_level_logger_and_extras(stream):
    """Text format: timestamp, level, logger, message, then key=value extras."""
    configure_logging("INFO", "text", stream)
    logging.getLogger("monitor.test").info("synced %d calls", 5, extra={"endpoint": "/calls"})
    line = stream.getvalue().strip()
    assert line.endswith("INFO monitor.test: synced 5 calls endpoint=/calls")


def test_json_is_one_object_per_line(stream):
    """JSON format: one parseable object per line with the extras as fields."""
    configure_logging("INFO", "json", stream)
    log = logging.getLogger("monitor.test")
    log.info("first", extra={"calls": 3})
    log.warning("second")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["level"], r["message"]) for r in records] == [
        ("INFO", "first"),
        ("WARNING", "second"),
    ]
    assert records[0]["calls"] == 3


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_registered_secrets_are_masked_everywhere(stream, fmt):
    """A registered secret is masked in messages, extras and tracebacks."""
    register_secret(SECRET)
    configure_logging("DEBUG", fmt, stream)
    log = logging.getLogger("monitor.test")
    log.info("key is %s", SECRET, extra={"url": f"https://hooks.example/{SECRET}"})
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        log.exception("boom")
    output = stream.getvalue()
    assert SECRET not in output
    assert output.count("[redacted]") >= 3


def test_short_values_are_not_treated_as_secrets():
    """Masking a 2-character value would garble every line; it is ignored."""
    register_secret("ab")
    assert redact("abc") == "abc"


def test_httpx_request_lines_are_quiet_at_info(stream):
    """httpx's per-request INFO lines are kept out of an INFO log."""
    configure_logging("INFO", "text", stream)
    logging.getLogger("httpx").info("HTTP Request: GET ...")
    assert stream.getvalue() == ""


def test_library_chatter_is_kept_below_info():
    """httpx requests and APScheduler job runs and skipped runs do not reach the log."""
    configure_logging("INFO", "text", io.StringIO())
    for name in ("httpx", "httpcore"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("apscheduler").getEffectiveLevel() >= logging.ERROR
