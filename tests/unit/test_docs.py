"""README.md: its reference sections are what the code generates, its examples run, and
every config key it documents is in the annotated alerts.example.yaml."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from monitor.clock import ManualClock
from monitor.config import Links, WebhookNotifier
from monitor.notify.sample import sample_notification
from monitor.notify.webhook import WebhookSender
from monitor.store import StateStore
from tools import reference

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXAMPLE = ROOT / "alerts.example.yaml"
T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
#: A Standard Webhooks test secret (base64 of 24 bytes) and a plain shared password.
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PLAIN = "correct horse battery staple"


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _fenced(language: str) -> list[str]:
    """The README's fenced code blocks in ``language``."""
    return re.findall(rf"^```{language}\n(.*?)^```$", _readme(), re.DOTALL | re.MULTILINE)


# --- generated sections -------------------------------------------------------------------


def test_the_readme_reference_sections_are_what_the_code_generates():
    """Settings, config keys, metrics, commands and the payload in README.md match the code."""
    current = reference.extract(_readme())
    stale = [name for name, body in reference.generate().items() if current[name] != body]
    assert stale == [], f"README.md sections {stale} are out of date: run make docs"


def test_check_reports_a_stale_readme_and_write_fixes_it(tmp_path: Path) -> None:
    """`--check` fails on an edited section; `--write` restores it and leaves prose alone."""
    readme = tmp_path / "README.md"
    text = _readme().replace("| `poll.backfill` | `1h` |", "| `poll.backfill` | `2h` |")
    readme.write_text(text + "\nProse after the sections.\n", encoding="utf-8")
    assert reference.main(["--check", "--readme", str(readme)]) == 1
    assert reference.main(["--write", "--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == _readme() + "\nProse after the sections.\n"


Section = Callable[[Mapping[str, str]], str]

DOCUMENTED: list[tuple[Section, Mapping[str, str], str]] = [
    (reference.settings_section, reference.SETTINGS, "api_timeout"),
    (reference.config_section, reference.CONFIG, "poll.backfill"),
    (reference.config_section, reference.CONFIG, "notifiers.<name>.secret (webhook)"),
    (reference.config_section, reference.CONFIG, "rules[].min_calls"),
    (reference.metrics_section, reference.LABELS, "trunk_id"),
    (reference.webhook_fields_section, reference.PAYLOAD, "alert.offending_calls[].url"),
]


@pytest.mark.parametrize(("section", "meanings", "key"), DOCUMENTED)
def test_a_key_without_a_meaning_stops_the_generator(
    section: Section, meanings: Mapping[str, str], key: str
) -> None:
    """A setting, config key, label or payload field the code has but the docs lack fails."""
    without = {k: v for k, v in meanings.items() if k != key}
    with pytest.raises(reference.DocsError, match=re.escape(repr(key))):
        section(without)


@pytest.mark.parametrize(("section", "meanings", "key"), DOCUMENTED)
def test_a_meaning_for_a_key_that_is_gone_stops_the_generator(
    section: Section, meanings: Mapping[str, str], key: str
) -> None:
    """Documentation of something the code no longer has fails too."""
    gone = f"{key}_gone"
    with pytest.raises(reference.DocsError, match=re.escape(repr(gone))):
        section({**meanings, gone: "no longer exists"})


def test_every_metric_family_is_in_the_reference():
    """Each family the daemon serves appears in the metrics table, counters with _total."""
    names = {row.name for row in reference.metric_rows()}
    assert {"telepath_calls_total", "telepath_monitor_outbox_depth"} <= names
    assert "telepath_calls" not in names


# --- alerts.example.yaml covers every key -------------------------------------------------

_TOP = re.compile(r"^(?:# ?)?([a-z_]+):(?:\s|$)")


def _example_blocks() -> dict[str, list[str]]:
    """alerts.example.yaml's lines by top-level section; commented-out sections count."""
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        top = _TOP.match(line)
        if top is not None:
            current = blocks.setdefault(top.group(1), [])
        current.append(line)
    return blocks


def _written(lines: list[str], key: str) -> bool:
    """Whether ``key:`` is written as a YAML key in ``lines``, possibly commented out."""
    pattern = re.compile(rf"^\s*(?:#\s*)?(?:-\s+)?{re.escape(key)}:(?:\s|$)")
    return any(pattern.match(line) for line in lines)


_NOTIFIER = re.compile(r"^  (?:# )?[A-Za-z0-9][A-Za-z0-9_.-]*:\s*$")
_TYPE = re.compile(r"^\s*(?:#\s*)?type:\s*([a-z]+)")


def _notifier_blocks(lines: list[str]) -> dict[str, list[str]]:
    """The notifiers section's lines by notifier type (every example of one type together)."""
    chunks: list[list[str]] = []
    for line in lines[1:]:
        if _NOTIFIER.match(line) or not chunks:
            chunks.append([])
        chunks[-1].append(line)
    by_type: dict[str, list[str]] = {}
    for chunk in chunks:
        kinds = [m.group(1) for m in map(_TYPE.match, chunk) if m is not None]
        if kinds:
            by_type.setdefault(kinds[0], []).extend(chunk)
    return by_type


def test_alerts_example_shows_every_config_key():
    """Each documented key is written in its section of alerts.example.yaml, commented or
    not; a notifier's keys in an example notifier of that type."""
    blocks = _example_blocks()
    notifiers = _notifier_blocks(blocks.get("notifiers", []))
    missing = []
    for key in reference.config_keys():
        section = re.split(r"[.\[]", key.path, maxsplit=1)[0]
        lines = blocks.get(section, [])
        kind = key.table.partition(":")[2] if key.table.startswith("notifiers:") else ""
        if kind:
            lines = notifiers.get(kind, [])
        if not _written(lines, key.path.rsplit(".", 1)[-1]):
            missing.append(f"{key.path} ({kind})" if kind else key.path)
    assert missing == [], "alerts.example.yaml lacks: " + ", ".join(missing)


# --- examples in the README run -----------------------------------------------------------


def _receiver() -> dict[str, Any]:
    """The README's receiver example, executed as a module that is not __main__."""
    [code] = [block for block in _fenced("python") if "def verify(" in block]
    namespace: dict[str, Any] = {"__name__": "readme_receiver"}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace


def _signed_request(secret: str) -> httpx.Request:
    """The request the webhook notifier really sends, captured on a MockTransport."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    spec = WebhookNotifier(
        type="webhook", url=SecretStr("https://receiver.example/hook"), secret=SecretStr(secret)
    )
    sender = WebhookSender(
        spec, ManualClock(T0), http=httpx.Client(transport=httpx.MockTransport(handler))
    )
    try:
        sender.send(sample_notification("ops", Links(), T0))
    finally:
        sender.close()
    [request] = sent
    return request


@pytest.mark.parametrize("secret", [WHSEC, PLAIN], ids=["whsec", "plain"])
def test_the_readme_receiver_accepts_a_delivery_signed_by_the_daemon(secret: str) -> None:
    """The example verifies the daemon's signature with a whsec_ secret or a plain one."""
    verify = _receiver()["verify"]
    request = _signed_request(secret)
    assert verify(secret, request.headers, request.content, now=T0.timestamp() + 30) is True


@pytest.mark.parametrize(
    ("change", "now"),
    [
        ("body", T0.timestamp()),
        ("secret", T0.timestamp()),
        ("signature", T0.timestamp()),
        ("nothing", (T0 + timedelta(minutes=6)).timestamp()),
        ("nothing", (T0 - timedelta(minutes=6)).timestamp()),
    ],
    ids=["tampered-body", "wrong-secret", "no-signature", "too-late", "from-the-future"],
)
def test_the_readme_receiver_refuses_what_it_should(change: str, now: float) -> None:
    """A changed body, another secret, a missing signature or a stale timestamp fails."""
    verify = _receiver()["verify"]
    request = _signed_request(WHSEC)
    headers = dict(request.headers)
    body, secret = request.content, WHSEC
    if change == "body":
        body = body.replace(b'"warning"', b'"critical"')
    elif change == "secret":
        secret = PLAIN
    elif change == "signature":
        del headers["webhook-signature"]
    assert verify(secret, headers, body, now=now) is False


def test_the_readme_sql_runs_against_the_state_db(tmp_path: Path) -> None:
    """The outbox queries in the README name real tables and columns."""
    path = tmp_path / "state.db"
    StateStore(path).close()
    blocks = _fenced("sql")
    assert blocks
    db = sqlite3.connect(path)
    try:
        for sql in blocks:
            db.execute(sql).fetchall()
    finally:
        db.close()


def _code_spans() -> str:
    """Every fenced block and inline code span of the README, concatenated."""
    text = _readme()
    fenced = re.findall(r"^```[a-z]*\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)
    prose = re.sub(r"^```[a-z]*\n.*?^```$", "", text, flags=re.DOTALL | re.MULTILINE)
    return "\n".join(fenced + re.findall(r"`([^`\n]+)`", prose))


def test_every_command_the_readme_names_exists():
    """`telepath-monitor COMMAND` in the README's code names a command of the parser."""
    named = set(re.findall(r"\btelepath-monitor ([a-z][a-z-]*)", _code_spans()))
    assert named, "the README names no command"
    assert named - set(reference.command_names()) == set()
