"""Log output as text or one JSON object per line, with secrets redacted.

Secrets are registered once (API key, webhook URLs and secrets, Slack tokens) and
masked in every formatted record, including exception text, whatever code logged
it. This is the last line of defence; code should not log secrets in the first place.

Text that comes from outside (trunk and call ids from the API, reasons from receivers)
cannot forge log lines: in text logs every control character (newline included),
DEL, C1 code and bidirectional mark inside a logged value is written as an escape
such as ``\\n`` or ``\\u202e``, so one record is one line and reads as it is stored.
The message template is ours and keeps its own line breaks; a traceback's lines are
indented so none can pass for a record. JSON logs are safe by construction
(``json.dumps`` escapes control characters); bidirectional marks are escaped there too.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import IO, Final

REDACTED: Final = "[redacted]"
#: Attributes every LogRecord has; anything else was passed with ``extra=``.
_STANDARD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)

#: C0 controls, DEL, C1 controls, and the marks that reorder text on screen (Unicode
#: bidi embeddings, overrides, isolates, LRM/RLM/ALM) plus the line/paragraph separators.
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask this value in every log line from now on (values under 4 chars are ignored:
    masking them would garble ordinary text and they protect nothing)."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``[redacted]``."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def escape_text(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control and bidirectional characters written as escapes.

    Args:
        text: text that may come from outside (API ids, receivers' replies).
        keep_newlines: leave ``\\n`` alone (a traceback, our own multi-line text).
    """

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if keep_newlines and char == "\n":
            return char
        code = ord(char)
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(
            char, f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
        )

    return _UNSAFE.sub(escape, text)


def _safe_arg(value: object) -> object:
    # Numbers keep their type so %d and %.1f still work; everything else is text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return escape_text(str(value))


def safe_message(record: logging.LogRecord) -> str:
    """The record's message with every argument escaped (the template is ours)."""
    args = record.args
    if not args:  # the whole message may be text from outside
        return escape_text(str(record.msg))
    if isinstance(args, dict):
        args = {k: _safe_arg(v) for k, v in args.items()}
    else:
        args = tuple(_safe_arg(v) for v in args)
    try:
        return escape_text(str(record.msg), keep_newlines=True) % args
    except (TypeError, ValueError):  # a bad template: show what there is, escaped
        return escape_text(record.getMessage())


class TextFormatter(logging.Formatter):
    """``2026-11-23T09:00:00Z INFO monitor.sync: message key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = f"{stamp} {record.levelname} {record.name}: {safe_message(record)}"
        extras = _extras(record)
        if extras:
            line += " " + " ".join(
                f"{escape_text(k)}={escape_text(str(v))}" for k, v in extras.items()
            )
        if record.exc_info:
            trace = escape_text(self.formatException(record.exc_info), keep_newlines=True)
            # Indented, so an exception message from outside cannot start a fake record.
            line += "\n" + "\n".join("  " + part for part in trace.splitlines())
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(_extras(record))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        text = json.dumps(payload, default=str, ensure_ascii=False)
        # json.dumps escapes C0 controls; bidi marks and C1 codes are valid JSON but
        # reorder or garble a terminal that shows the raw line.
        return redact(escape_bidi(text))


def escape_bidi(text: str) -> str:
    """JSON-safe escaping of what json.dumps leaves raw: DEL, C1 and bidi marks."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


def configure_logging(
    level: int | str = "INFO", fmt: str = "text", stream: IO[str] | None = None
) -> None:
    """Send all logs to ``stream`` (stderr) in the chosen format; replaces earlier setup."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request and APScheduler every job run at INFO: our debug detail,
    # not the operator's (a poll every 30 s would be four lines a minute of noise).
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    # APScheduler also warns each time a poll is skipped because the previous one still
    # runs; that is coalescing working as meant, and the daemon reports slow polls once.
    logging.getLogger("apscheduler").setLevel(max(logging.ERROR, root.level))
