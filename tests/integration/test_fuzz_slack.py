"""Slack replies, fuzzed over real loopback HTTP (issue 19, point 4): whatever a Slack
endpoint answers, webhook and bot-token modes deliver or raise a DeliveryError; never
another exception, never a hang. slack-sdk reads the reply itself, so it is fuzzed too.
"""

# An error is allowed only if it is ours and says something: asserted in the except.
# ruff: noqa: PT017

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.clock import ManualClock
from monitor.config import SlackNotifier
from monitor.errors import DeliveryError
from monitor.loopback import TrackedHTTPServer
from monitor.notify.slack import slack_sender
from monitor.store import StateStore
from tests.unit.test_fuzz import FUZZ, NOW, bodies, headers, json_values, note

pytestmark = pytest.mark.integration

#: Each example is one HTTP exchange: fewer than the pure fuzz tests, same time.
SLACK_EXAMPLES = 60


class _Reply:
    """What the loopback Slack answers next; set by each example."""

    status = 200
    body = b"ok"
    headers: ClassVar[dict[str, str]] = {}


class _SlackHandler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(_Reply.status)
        for name, value in _Reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(_Reply.body)))
        self.end_headers()
        self.wfile.write(_Reply.body)

    do_POST = do_GET = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def slack_url() -> Iterator[str]:
    server = TrackedHTTPServer(("127.0.0.1", 0), _SlackHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.stop(thread, timeout=5)


slack_bodies = bodies | st.fixed_dictionaries(
    {"ok": st.booleans()},
    optional={"error": st.text(max_size=20), "channel": json_values, "ts": json_values},
).map(lambda v: json.dumps(v).encode())


@settings(FUZZ, max_examples=SLACK_EXAMPLES)
@given(status=st.integers(200, 599), body=slack_bodies, head=headers, bot=st.booleans())
def test_slack_random_replies(slack_url, tmp_path, status, body, head, bot):
    """Slack, webhook and bot-token modes over real HTTP: success or a DeliveryError."""
    _Reply.status, _Reply.body, _Reply.headers = status, body, head
    if bot:
        spec = SlackNotifier.model_validate(
            {"type": "slack", "token": "xoxb-fuzz", "channel": "C1", "api_url": slack_url + "/api/"}
        )
    else:
        spec = SlackNotifier.model_validate({"type": "slack", "webhook_url": slack_url + "/hook"})
    store = StateStore(tmp_path / "slack.db")
    sender = slack_sender("ops", spec, ManualClock(NOW), store)
    try:
        sender.send(note())
    except DeliveryError as exc:
        assert str(exc)
    finally:
        sender.close()
        store.close()
