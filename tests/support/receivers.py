"""Loopback HTTP receivers that the notifiers deliver to in integration tests.

:class:`WebhookReceiver` records every request and answers from a script (200 ``ok``
once the script is used up). :class:`SlackReceiver` also speaks Slack: incoming
webhooks under ``/services/`` and the Web API methods ``chat.postMessage`` and
``chat.update`` under ``/api/``, with Slack's error names and Block Kit limits, so the
Slack notifier and the real ``slack_sdk`` clients run end to end without Slack.

Both serve on 127.0.0.1 (port 0 unless told) from daemon threads. ``start()`` and
``stop()`` are bounded, and a stopped receiver starts again on the same port, so a
test can play an outage. Waiting helpers block on a condition variable with a
timeout and raise :class:`TimeoutError` saying what they saw; nothing polls.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal, Self, TypeVar
from urllib.parse import parse_qsl, urlsplit

from monitor.loopback import TrackedHTTPServer

logger = logging.getLogger("tests.support.receivers")

_T = TypeVar("_T")

#: Longest ``stop()`` waits for connection threads before giving up on them.
STOP_TIMEOUT: Final = 2.0
#: Bodies larger than this are refused with 413; no notification comes near it.
MAX_BODY: Final = 1024 * 1024


@dataclass(frozen=True)
class Received:
    """One request as a receiver saw it (header names lower-cased, repeats joined)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")


@dataclass(frozen=True)
class Reply:
    """An HTTP answer; without a Content-Type header one is chosen from the body."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of_json(
        cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """A JSON answer."""
        extra = tuple((headers or {}).items())
        return cls(status, json.dumps(data).encode(), extra)

    def content_type(self) -> str:
        """The Content-Type this reply is sent with."""
        for name, value in self.headers:
            if name.lower() == "content-type":
                return value
        if self.body.lstrip()[:1] in (b"{", b"["):
            return "application/json; charset=utf-8"
        return "text/plain; charset=utf-8"


#: A scripted answer: fixed, or computed from the request it answers.
Script = Reply | Callable[[Received], Reply]


class _HTTPServer(TrackedHTTPServer):
    """The tracked server, carrying the receiver its handler answers for."""

    allow_reuse_address = True  # restart on the same port while old sockets sit in TIME_WAIT

    def __init__(self, address: tuple[str, int], receiver: LoopbackReceiver) -> None:
        self.receiver = receiver
        self.name = receiver.name
        super().__init__(address, _Handler)


class _BodyTooLarge(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real Slack and webhook endpoints offer
    server_version = "telepath-test-receiver"
    sys_version = ""
    timeout = 30  # idle keep-alive connections are closed after a while
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except _BodyTooLarge:
            self.send_error(413)
            return
        except ValueError:
            self.send_error(400, "malformed chunked body")
            return
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        received = Received(self.command, self.path, headers, body)
        reply = self.server.receiver.handle(received)
        self.send_response(reply.status)
        if not any(name.lower() == "content-type" for name, _ in reply.headers):
            self.send_header("Content-Type", reply.content_type())
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise _BodyTooLarge
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1026).split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1026) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: nothing we record
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise _BodyTooLarge
            chunks.append(self.rfile.read(size))
            self.rfile.readline(3)  # the CRLF closing the chunk

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s - %s", self.server.receiver.name, self.address_string(), format % args)


class LoopbackReceiver:
    """A recording HTTP server on loopback; subclasses decide the default answer.

    Every request is recorded, then answered by the next scripted reply if any
    (:meth:`respond`), else by :meth:`answer`. State (requests, script) survives
    ``stop()``/``start()``, which rebinds the same port.
    """

    name = "receiver"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._changed = threading.Condition(threading.RLock())
        self._requests: list[Received] = []
        self._exchanges: list[str] = []
        self._script: deque[tuple[Script, int]] = deque()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Bind (the same port as before, after a stop) and serve in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError(f"{self.name} already started")
        httpd = _HTTPServer((self._host, self._port), self)
        self._port = httpd.server_port
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.01},  # stop() waits up to one interval
            name=self.name,
            daemon=True,
        )
        thread.start()
        self._httpd, self._thread = httpd, thread
        logger.debug("%s serving %s", self.name, self.url)

    def stop(self) -> None:
        """Stop serving and free the port within about ``STOP_TIMEOUT``; idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._httpd = self._thread = None
        httpd.stop(thread, STOP_TIMEOUT)
        logger.debug("%s stopped", self.name)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the receiver is serving right now."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The bound port; stays the same across stop/start."""
        if self._port == 0:
            raise RuntimeError(f"{self.name} never started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``; valid while stopped, for outages."""
        return f"http://{self._host}:{self.port}"

    # -- script and record -------------------------------------------------------------

    def respond(
        self,
        status: int,
        body: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests (after those already scripted) like this."""
        raw = body.encode() if isinstance(body, str) else body
        self.respond_with(Reply(status, raw, tuple((headers or {}).items())), times)

    def respond_with(self, script: Script, times: int = 1) -> None:
        """Like :meth:`respond`, with a fixed reply or a function of the request."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._changed:
            self._script.append((script, times))

    @property
    def requests(self) -> list[Received]:
        """Every request received so far, oldest first (a copy)."""
        with self._changed:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until at least ``count`` requests have arrived; returns them all."""

        def arrived() -> list[Received] | None:
            return list(self._requests) if len(self._requests) >= count else None

        return self.wait_until(arrived, timeout=timeout, what=f"{count} request(s)")

    def wait_until(
        self, predicate: Callable[[], _T | None], *, timeout: float = 10.0, what: str
    ) -> _T:
        """Block until ``predicate()`` (checked under the lock after each request) is
        truthy and return its value; raise ``TimeoutError`` after ``timeout`` seconds."""
        with self._changed:
            found = self._changed.wait_for(predicate, timeout=timeout)
            if found:
                return found
            seen = "; ".join(self._exchanges[-8:]) or "none"
            raise TimeoutError(
                f"{self.name}: no {what} within {timeout}s; "
                f"{len(self._requests)} request(s) so far, latest: {seen}"
            )

    def handle(self, received: Received) -> Reply:
        """Record a request and choose its answer; called from connection threads."""
        with self._changed:
            self._requests.append(received)
            try:
                reply = self._next_scripted(received) or self.answer(received)
            except Exception:
                logger.exception("%s failed to answer %s", self.name, received.path)
                reply = Reply(500, b"receiver error")
            path = urlsplit(received.path).path
            self._exchanges.append(f"{received.method} {path} -> {reply.status}")
            self._changed.notify_all()
            return reply

    def answer(self, received: Received) -> Reply:
        """The unscripted answer; called with the receiver's lock held."""
        raise NotImplementedError

    def _next_scripted(self, received: Received) -> Reply | None:
        if not self._script:
            return None
        script, times = self._script[0]
        if times > 1:
            self._script[0] = (script, times - 1)
        else:
            self._script.popleft()
        return script(received) if callable(script) else script


class WebhookReceiver(LoopbackReceiver):
    """A generic webhook endpoint: records everything, answers 200 ``ok`` unless scripted."""

    name = "webhook-receiver"

    def answer(self, received: Received) -> Reply:
        return Reply(200, b"ok")


# -- Slack ---------------------------------------------------------------------------------

DEFAULT_TOKEN: Final = "xoxb-test-token"
DEFAULT_CHANNELS: Final[Mapping[str, str]] = MappingProxyType({"#voice-oncall": "C0VOICE01"})
WEBHOOK_PATH: Final = "/services/T000/B000/XXXX"

# Slack's documented Block Kit limits for messages.
MAX_BLOCKS: Final = 50
MAX_SECTION_TEXT: Final = 3000
MAX_SECTION_FIELDS: Final = 10
MAX_FIELD_TEXT: Final = 2000
MAX_HEADER_TEXT: Final = 150
MAX_CONTEXT_ELEMENTS: Final = 10
MAX_ACTIONS_ELEMENTS: Final = 25
MAX_BLOCK_ID: Final = 255
MAX_MARKDOWN_TEXT: Final = 12000
_TEXT_TYPES: Final = frozenset({"plain_text", "mrkdwn"})
_TS: Final = re.compile(r"\d+\.\d+")
_TS_EPOCH: Final = 1_700_000_000


@dataclass(frozen=True)
class SlackUpdate:
    """The content a ``chat.update`` left a message with."""

    text: str | None
    blocks: list[dict[str, Any]] | None


@dataclass(frozen=True)
class SlackMessage:
    """A message Slack would show: a top-level post (API or webhook) or a thread reply."""

    ts: str
    channel: str
    text: str | None
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None = None
    reply_broadcast: bool = False
    source: Literal["api", "webhook"] = "api"
    #: The arguments as posted (token removed), for asserting on anything else sent.
    payload: dict[str, Any] = field(default_factory=dict)
    updates: tuple[SlackUpdate, ...] = ()

    def as_api(self) -> dict[str, Any]:
        """The message object the Web API returns for it."""
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "B0TESTBOT",
            "ts": self.ts,
            "text": self.text or "",
        }
        if self.blocks is not None:
            message["blocks"] = self.blocks
        if self.thread_ts is not None:
            message["thread_ts"] = self.thread_ts
        if self.updates:
            message["edited"] = {"user": "U0TESTBOT", "ts": self.ts}
        return message


@dataclass(frozen=True)
class SlackRejection:
    """A request the receiver refused, with Slack's error and the reasons behind it."""

    path: str
    error: str
    details: tuple[str, ...] = ()


def block_kit_problems(blocks: Any) -> list[str]:
    """Why Slack would reject these message blocks (empty when it would accept them).

    Checks the limits that alert messages can plausibly hit: block count, section and
    field text length, header length and type, context and actions element counts.
    """
    if not isinstance(blocks, list):
        return ["blocks: must be a list"]
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"blocks: {len(blocks)} blocks, no more than {MAX_BLOCKS} allowed")
    for index, block in enumerate(blocks):
        problems.extend(_block_problems(f"blocks/{index}", block))
    return problems


def _block_problems(where: str, block: Any) -> list[str]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return [f"{where}: must be an object with a string type"]
    problems: list[str] = []
    block_id = block.get("block_id")
    if block_id is not None and (not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID):
        problems.append(f"{where}/block_id: must be a string of at most {MAX_BLOCK_ID}")
    kind = block["type"]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"{where}: a section needs text or fields")
        if "text" in block:
            problems += _text_problems(f"{where}/text", block["text"], MAX_SECTION_TEXT)
        if "fields" in block:
            problems += _list_problems(f"{where}/fields", block["fields"], MAX_SECTION_FIELDS)
            for i, item in enumerate(block["fields"] if isinstance(block["fields"], list) else []):
                problems += _text_problems(f"{where}/fields/{i}", item, MAX_FIELD_TEXT)
    elif kind == "header":
        text = block.get("text")
        problems += _text_problems(f"{where}/text", text, MAX_HEADER_TEXT)
        if isinstance(text, dict) and text.get("type") != "plain_text":
            problems.append(f"{where}/text/type: a header takes plain_text only")
    elif kind == "context":
        problems += _list_problems(f"{where}/elements", block.get("elements"), MAX_CONTEXT_ELEMENTS)
    elif kind == "actions":
        problems += _list_problems(f"{where}/elements", block.get("elements"), MAX_ACTIONS_ELEMENTS)
    elif kind == "image":
        if not all(isinstance(block.get(key), str) for key in ("image_url", "alt_text")):
            problems.append(f"{where}: an image needs image_url and alt_text strings")
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_MARKDOWN_TEXT:
            problems.append(f"{where}/text: 1 to {MAX_MARKDOWN_TEXT} characters of text")
    elif kind == "rich_text":
        problems += _list_problems(f"{where}/elements", block.get("elements"), None)
    elif kind != "divider":
        problems.append(f"{where}/type: unknown block type {kind!r}")
    return problems


def _text_problems(where: str, text: Any, limit: int) -> list[str]:
    if not isinstance(text, dict) or text.get("type") not in _TEXT_TYPES:
        return [f"{where}: must be a plain_text or mrkdwn text object"]
    value = text.get("text")
    if not isinstance(value, str) or not value:
        return [f"{where}/text: must be a non-empty string"]
    if len(value) > limit:
        return [f"{where}/text: {len(value)} characters, more than {limit}"]
    return []


def _list_problems(where: str, items: Any, limit: int | None) -> list[str]:
    if not isinstance(items, list) or not items:
        return [f"{where}: must be a non-empty list"]
    if limit is not None and len(items) > limit:
        return [f"{where}: {len(items)} items, no more than {limit}"]
    return []


class _Refused(Exception):
    """A request Slack would refuse: its error name and the reasons behind it."""

    def __init__(self, error: str, details: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.details = tuple(details or ())


class SlackReceiver(LoopbackReceiver):
    """Slack's incoming webhooks and Web API (``chat.postMessage``, ``chat.update``).

    Web API calls authenticate with ``Authorization: Bearer <token>`` (or a form
    ``token``) and carry JSON or form-encoded arguments, as ``slack_sdk.WebClient``
    sends when given ``base_url=receiver.api_url``. Errors follow Slack: HTTP 200 with
    ``{"ok": false, "error": ...}`` for the Web API, HTTP 400 with the error as the
    body for webhooks. Webhook posts land in ``webhook_channel``.
    """

    name = "slack-receiver"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        channels: Mapping[str, str] | None = None,
        webhook_channel: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self._token = token
        known = DEFAULT_CHANNELS if channels is None else channels
        self._channels = {(n if n.startswith("#") else f"#{n}"): cid for n, cid in known.items()}
        self._channel_ids = set(self._channels.values())
        self._webhook_channel = webhook_channel or next(iter(self._channel_ids), "C0WEBHOOK")
        self._messages: dict[str, SlackMessage] = {}
        self._rejections: list[SlackRejection] = []
        self._sequence = itertools.count(1)

    # -- addresses, scripts, accessors -------------------------------------------------

    @property
    def webhook_url(self) -> str:
        """An incoming-webhook URL served here."""
        return f"{self.url}{WEBHOOK_PATH}"

    @property
    def api_url(self) -> str:
        """The ``base_url`` for ``slack_sdk.WebClient``, ending in ``/api/``."""
        return f"{self.url}/api/"

    def rate_limit(self, retry_after: int = 3, times: int = 1) -> None:
        """Answer the next ``times`` requests with 429 and ``Retry-After``, in the body
        Slack uses for the mode asked (``ratelimited`` JSON or ``rate_limited`` text)."""

        def limited(received: Received) -> Reply:
            headers = {"Retry-After": str(retry_after)}
            if urlsplit(received.path).path.startswith("/api/"):
                return Reply.of_json({"ok": False, "error": "ratelimited"}, 429, headers)
            return Reply(429, b"rate_limited", tuple(headers.items()))

        self.respond_with(limited, times)

    @property
    def messages(self) -> list[SlackMessage]:
        """Top-level messages (Web API and webhook posts), oldest first."""
        with self._changed:
            return [m for m in self._messages.values() if m.thread_ts is None]

    def replies(self, thread_ts: str) -> list[SlackMessage]:
        """Replies in the thread under ``thread_ts``, oldest first."""
        with self._changed:
            return [m for m in self._messages.values() if m.thread_ts == thread_ts]

    def message(self, ts: str) -> SlackMessage:
        """The message (top-level or reply) with this ``ts``, as last updated."""
        with self._changed:
            try:
                return self._messages[ts]
            except KeyError:
                raise KeyError(f"no message with ts {ts!r}") from None

    @property
    def rejections(self) -> list[SlackRejection]:
        """Requests refused so far (bad auth, channel, blocks ...), oldest first."""
        with self._changed:
            return list(self._rejections)

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[SlackMessage]:
        """Block until at least ``count`` top-level messages exist; returns them."""

        def posted() -> list[SlackMessage] | None:
            found = [m for m in self._messages.values() if m.thread_ts is None]
            return found if len(found) >= count else None

        return self.wait_until(posted, timeout=timeout, what=f"{count} Slack message(s)")

    def wait_for_replies(
        self, thread_ts: str, count: int = 1, timeout: float = 10.0
    ) -> list[SlackMessage]:
        """Block until the thread under ``thread_ts`` has at least ``count`` replies."""

        def replied() -> list[SlackMessage] | None:
            found = [m for m in self._messages.values() if m.thread_ts == thread_ts]
            return found if len(found) >= count else None

        return self.wait_until(replied, timeout=timeout, what=f"{count} reply(ies) in {thread_ts}")

    # -- serving -----------------------------------------------------------------------

    def answer(self, received: Received) -> Reply:
        path = urlsplit(received.path).path
        if path.startswith("/services/"):
            return self._webhook(received)
        if path.startswith("/api/"):
            return self._web_api(path.removeprefix("/api/"), received)
        return Reply(404, b"no_service")

    def _refuse(self, received: Received, refused: _Refused) -> None:
        path = urlsplit(received.path).path
        self._rejections.append(SlackRejection(path, refused.error, refused.details))

    def _webhook(self, received: Received) -> Reply:
        if received.method != "POST":
            return Reply(405, b"invalid_method")
        try:
            payload = received.json()
            if not isinstance(payload, dict):
                raise _Refused("invalid_payload", ["body: must be a JSON object"])
            text, blocks = _content(payload, payload.get("blocks"), "invalid_payload")
        except ValueError:
            self._refuse(received, _Refused("invalid_payload", ["body: not JSON"]))
            return Reply(400, b"invalid_payload")
        except _Refused as refused:
            self._refuse(received, refused)
            return Reply(400, refused.error.encode())
        ts = self._next_ts()
        self._messages[ts] = SlackMessage(
            ts, self._webhook_channel, text, blocks, source="webhook", payload=payload
        )
        return Reply(200, b"ok")

    def _web_api(self, method: str, received: Received) -> Reply:
        methods = {"chat.postMessage": self._post_message, "chat.update": self._update}
        run = methods.get(method)
        if run is None:
            return Reply.of_json({"ok": False, "error": "unknown_method"}, status=404)
        try:
            args = _api_args(received)
            token = args.pop("token", None)
            authorization = received.headers.get("authorization", "")
            if authorization.startswith("Bearer "):
                token = authorization.removeprefix("Bearer ")
            if token != self._token:
                raise _Refused("invalid_auth")
            return Reply.of_json({"ok": True, **run(args)})
        except _Refused as refused:
            self._refuse(received, refused)
            answer: dict[str, Any] = {"ok": False, "error": refused.error}
            if refused.details:
                answer["response_metadata"] = {
                    "messages": [f"[ERROR] {detail}" for detail in refused.details]
                }
            return Reply.of_json(answer)

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(args.get("channel"))
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None:
            if not isinstance(thread_ts, str) or not _TS.fullmatch(thread_ts):
                raise _Refused("invalid_thread_ts", [f"{thread_ts!r} is not a valid thread_ts"])
            parent = self._messages.get(thread_ts)
            if parent is None or parent.channel != channel:
                raise _Refused("thread_not_found")
            thread_ts = parent.thread_ts or parent.ts  # a reply's ts threads under its parent
        text, blocks = _content(args, _blocks_arg(args), "invalid_arguments")
        ts = self._next_ts()
        message = SlackMessage(
            ts,
            channel,
            text,
            blocks,
            thread_ts=thread_ts,
            reply_broadcast=_flag(args.get("reply_broadcast")),
            payload=args,
        )
        self._messages[ts] = message
        return {"channel": channel, "ts": ts, "message": message.as_api()}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(args.get("channel"))
        ts = args.get("ts")
        message = self._messages.get(ts) if isinstance(ts, str) else None
        if message is None or message.channel != channel:
            raise _Refused("message_not_found")
        text, blocks = _content(args, _blocks_arg(args), "invalid_arguments")
        # Slack keeps what an update leaves out.
        text = text if "text" in args else message.text
        blocks = blocks if "blocks" in args else message.blocks
        updated = replace(
            message,
            text=text,
            blocks=blocks,
            payload=args,
            updates=(*message.updates, SlackUpdate(text, blocks)),
        )
        self._messages[message.ts] = updated
        return {
            "channel": channel,
            "ts": message.ts,
            "text": text or "",
            "message": updated.as_api(),
        }

    def _channel_id(self, value: Any) -> str:
        if isinstance(value, str) and value:
            if value in self._channel_ids:
                return value
            found = self._channels.get(value if value.startswith("#") else f"#{value}")
            if found is not None:
                return found
        raise _Refused("channel_not_found")

    def _next_ts(self) -> str:
        # Unique and increasing, as strings and as numbers: 1700000000.000100, .000200, ...
        micros = next(self._sequence) * 100
        return f"{_TS_EPOCH + micros // 1_000_000}.{micros % 1_000_000:06d}"


def _api_args(received: Received) -> dict[str, Any]:
    """The Web API arguments of a request: JSON body, or query plus form body."""
    content_type = received.headers.get("content-type", "").split(";")[0].strip().lower()
    query = dict(parse_qsl(urlsplit(received.path).query, keep_blank_values=True))
    if content_type == "application/json":
        try:
            body = received.json()
        except ValueError:
            raise _Refused("invalid_json") from None
        if not isinstance(body, dict):
            raise _Refused("invalid_json")
        return {**query, **body}
    if content_type in ("", "application/x-www-form-urlencoded"):
        try:
            form = dict(parse_qsl(received.body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise _Refused("invalid_form_data") from None
        return {**query, **form}
    raise _Refused("invalid_form_data", [f"content type {content_type!r} is not supported here"])


def _blocks_arg(args: Mapping[str, Any]) -> Any:
    """``blocks`` as posted: form fields (and some clients) send them as a JSON string."""
    blocks = args.get("blocks")
    if isinstance(blocks, str):
        if not blocks.strip():
            return None
        try:
            return json.loads(blocks)
        except ValueError:
            raise _Refused("invalid_blocks", ["blocks: not valid JSON"]) from None
    return blocks


def _content(
    args: Mapping[str, Any], blocks: Any, bad_text: str
) -> tuple[str | None, list[dict[str, Any]] | None]:
    """The text and blocks of a message, or the refusal Slack would answer."""
    text = args.get("text")
    if text is not None and not isinstance(text, str):
        raise _Refused(bad_text, ["text: must be a string"])
    if blocks is not None:
        problems = block_kit_problems(blocks)
        if problems:
            raise _Refused("invalid_blocks", problems)
    has_attachments = bool(args.get("attachments"))
    if not (text and text.strip()) and not blocks and not has_attachments:
        raise _Refused("no_text", ["a message needs text, blocks or attachments"])
    return text, blocks or None


def _flag(value: Any) -> bool:
    """A boolean argument, JSON or form-encoded."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)
