"""The Telepath API client: the only module that sees httpx exceptions.

It takes an ``httpx.Client`` (tests pass one on ``httpx.MockTransport``), sends
requests within the rate budget, retries what is worth retrying, and translates
every failure into :mod:`monitor.errors` at this boundary. What happened is reported
as :data:`ClientEvent` records to an optional listener (the metrics adapter).
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from monitor import __version__
from monitor.clock import Clock, SystemClock
from monitor.errors import (
    ApiError,
    AuthError,
    MalformedResponse,
    RateLimited,
    RequestRejected,
    ServerError,
)
from monitor.models import Call, CallDetail, Overview, Trunk
from monitor.telepath import details, parsing
from monitor.telepath.pagination import PageEnd, PageFlow, page_requests
from monitor.telepath.ratelimit import RateLimiter, backoff_delay, rate_limit_wait

log = logging.getLogger(__name__)

T = TypeVar("T")
T_Page = TypeVar("T_Page", parsing.CallsPage, parsing.TrunksPage)

MAX_PAGE_SIZE: Final = 100  # the documented maximum of `limit`
#: A body larger than this is refused as malformed. A full page of 100 calls is about
#: 40 kB; the bound leaves 50 times that, and stops a hostile server from making us hold
#: and re-parse megabytes at every poll.
MAX_BODY_BYTES: Final = 2 * 1024 * 1024
#: One request, first byte sent to last byte read, may take at most this many times the
#: read timeout. The read timeout only bounds the gap between two reads, so a server
#: trickling one byte a second would otherwise hold a poll for ever.
DEADLINE_PER_READ_TIMEOUT: Final = 3
#: Records starting this far past our clock are still accepted (clock skew); later ones
#: are skipped, so a record from the future can never move the sync position.
MAX_CLOCK_SKEW: Final = timedelta(minutes=5)
#: Skipped records remembered so a re-read does not count them again: far more than one
#: overlap holds at the documented maximum rate, and a few MB at most.
MAX_REMEMBERED_SKIPS: Final = 50_000
USER_AGENT: Final = f"telepath-monitor/{__version__}"

DateParams = Literal["both", "from_to", "start_end"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try before giving up on one request.

    Attributes:
        max_attempts: attempts in all, the first included.
        base_delay: first backoff in seconds; doubles each retry (with jitter).
        max_delay: cap on one backoff.
        max_total: no retry starts once this many seconds have passed since the first
            attempt, so one poll can never hang the daemon.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total: float = 120.0


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP attempt. ``outcome``: ok, http_error, rate_limited, timeout,
    connection_error, malformed."""

    endpoint: str
    outcome: str
    status: int | None
    duration_seconds: float
    attempt: int
    rate_limit_remaining: int | None = None
    rate_limit_limit: int | None = None


@dataclass(frozen=True, slots=True)
class RecordSkipped:
    """A record left out of a page because it was unusable."""

    endpoint: str
    reason: str
    record_id: str | None


@dataclass(frozen=True, slots=True)
class HeaderIgnored:
    """A rate-limit header whose value could not be used (not a finite number)."""

    endpoint: str
    header: str


@dataclass(frozen=True, slots=True)
class PaginationStopped:
    """Paging ended early to protect us from a misbehaving server."""

    endpoint: str
    reason: str


ClientEvent = RequestRecord | RecordSkipped | PaginationStopped | HeaderIgnored
Listener = Callable[[ClientEvent], None]


def build_http_client(base_url: str, *, timeout: float = 10.0) -> httpx.Client:
    """An ``httpx.Client`` for the API: base URL, timeouts, no redirects.

    Redirects are not followed: a redirect to another host would carry our bearer key.
    """
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
        headers={"Accept": "application/json"},
        follow_redirects=False,
    )


class TelepathClient:
    """Reads calls, the account overview and trunks from the Telepath REST API.

    Args:
        http: the transport; its ``base_url`` is the API root (``.../v1``).
        api_key: the bearer key. Sent only in the Authorization header.
        clock: time for backoff, rate limiting and timestamps.
        requests_per_minute: our own budget, at most the key's allowance.
        page_size: items per list page, 1..100.
        max_pages: pages one walk may read before it stops with a warning.
        date_params: which spelling of the date filter to send; the docs show both
            ``from``/``to`` and ``start_date``/``end_date``, so by default we send both.
        listener: receives a :data:`ClientEvent` for each attempt and skipped record.
        deadline: seconds one request may take in all; by default
            :data:`DEADLINE_PER_READ_TIMEOUT` times the transport's read timeout.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        api_key: SecretStr,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        requests_per_minute: int = 6000,
        page_size: int = MAX_PAGE_SIZE,
        max_pages: int = 50,
        date_params: DateParams = "both",
        listener: Listener | None = None,
        rng: random.Random | None = None,
        deadline: float | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self._http = http
        self._api_key = api_key
        self._clock = clock or SystemClock()
        self._retry = retry or RetryPolicy()
        self._limiter = RateLimiter(requests_per_minute, now=self._clock.monotonic())
        self.page_size = page_size
        self.max_pages = max_pages
        self._date_params = date_params
        self._listener = listener
        self._rng = rng or random.Random()  # noqa: S311  (jitter, not cryptography)
        read_timeout = http.timeout.read or 10.0
        self.deadline = deadline or DEADLINE_PER_READ_TIMEOUT * read_timeout
        self._cancelled = threading.Event()
        # Keys of the records already reported as skipped: the overlap re-reads them at
        # every poll, and each must be counted once. Bounded, oldest forgotten first.
        self._skipped_keys: OrderedDict[str, None] = OrderedDict()

    @property
    def rate_limit_remaining(self) -> int | None:
        """What the last response said remains of the key's budget this minute."""
        return self._limiter.server_remaining

    @property
    def rate_limit(self) -> int | None:
        """The key's budget per minute as the API last advertised it, or None."""
        return self._limiter.server_limit

    def close(self) -> None:
        self._http.close()

    def cancel(self) -> None:
        """End the request being read and refuse new ones (shutdown): they raise
        :class:`ServerError` at the next chunk instead of running to their deadline."""
        self._cancelled.set()

    def __enter__(self) -> TelepathClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- endpoints ---------------------------------------------------------------------

    def iter_call_pages(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        trunk_id: str | None = None,
        status: str | None = None,
    ) -> Generator[parsing.CallsPage, None, None]:
        """Walk ``GET /calls`` page by page, lazily: stop iterating to stop requesting.

        Calls whose ``start_time`` falls outside [since, until] are dropped, since the
        server may ignore the filter spelling we sent. Calls starting later than now plus
        :data:`MAX_CLOCK_SKEW` are skipped and reported (``future_start_time``). The last
        page of a walk stopped by ``max_pages`` has ``cut_short`` set.
        """
        params: dict[str, str] = self._date_filter(since, until)
        if trunk_id:
            params["trunk_id"] = trunk_id
        if status:
            params["status"] = status
        for page, end in self._walk("/calls", params, parsing.parse_calls_page):
            latest = self._clock.now() + MAX_CLOCK_SKEW
            future = [c for c in (*page.calls, *page.open) if c.start_time > latest]
            future_skips = [
                parsing.SkippedRecord("future_start_time", c.id, f"id:{c.id}") for c in future
            ]
            self._report_skipped("/calls", future_skips)

            yield replace(
                page,
                calls=[c for c in page.calls if _within(c.start_time, since, until, latest)],
                open=[c for c in page.open if _within(c.start_time, since, until, latest)],
                skipped=page.skipped + future_skips,
                cut_short=end is not None and end.reason == "page_limit",
            )

    def iter_calls(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        trunk_id: str | None = None,
        status: str | None = None,
    ) -> Iterator[Call]:
        """Every usable call of :meth:`iter_call_pages`, in the server's order."""
        for page in self.iter_call_pages(since, until, trunk_id=trunk_id, status=status):
            yield from page.calls

    def get_call(self, call_id: str) -> CallDetail:
        """``GET /calls/{id}``; a missing call raises :class:`RequestRejected` (404)."""
        path = "/calls/" + quote(call_id, safe="")
        return self._request("/calls/{id}", path, {}, parsing.parse_call_detail)

    def get_overview(self, fields: Mapping[str, str] | None = None) -> Overview:
        """``GET /analytics/overview``; ``fields`` names the JSON field of each metric."""

        def parse(body: object, *, endpoint: str) -> Overview:
            return parsing.parse_overview(
                body, fetched_at=self._clock.now(), fields=fields, endpoint=endpoint
            )

        return self._request("/analytics/overview", "/analytics/overview", {}, parse)

    def list_trunks(self) -> list[Trunk]:
        """Every trunk of the account (``GET /trunks``, all pages)."""
        trunks: list[Trunk] = []
        for page, _ in self._walk("/trunks", {}, parsing.parse_trunks_page):
            trunks.extend(page.trunks)
        return trunks

    # --- paging ------------------------------------------------------------------------

    def _walk(
        self,
        endpoint: str,
        params: Mapping[str, str],
        parse: Callable[..., T_Page],
    ) -> Iterator[tuple[T_Page, PageEnd | None]]:
        """Each page with how the walk ends after it (None: more pages follow)."""
        flow: PageFlow = page_requests(params, page_size=self.page_size, max_pages=self.max_pages)
        query: dict[str, str] | None = next(flow)
        while query is not None:
            page = self._request(endpoint, endpoint, query, parse)
            self._report_skipped(endpoint, page.skipped)
            end: PageEnd | None = None
            try:
                query = flow.send((page.pagination, page.item_count))
            except StopIteration as stop:
                end, query = stop.value, None
                if end.warning:
                    log.warning(
                        "stopped paging %s early: %s", endpoint, end.reason.replace("_", " ")
                    )
                    self._emit(PaginationStopped(endpoint, end.reason))
            yield page, end

    def _report_skipped(self, endpoint: str, skipped: list[parsing.SkippedRecord]) -> None:
        """Report each skipped record once, however often a re-read brings it back."""
        for record in skipped:
            key = f"{endpoint} {record.reason} {record.key}"
            if key in self._skipped_keys:
                self._skipped_keys.move_to_end(key)
                continue
            self._skipped_keys[key] = None
            if len(self._skipped_keys) > MAX_REMEMBERED_SKIPS:
                self._skipped_keys.popitem(last=False)
            log.debug(
                "skipped a malformed %s record: %s (id %s)",
                endpoint,
                record.reason,
                record.record_id or "unknown",
            )
            self._emit(RecordSkipped(endpoint, record.reason, record.record_id))

    def _date_filter(self, since: datetime | None, until: datetime | None) -> dict[str, str]:
        params: dict[str, str] = {}
        # Whole seconds, rounded outwards so the inclusive range never loses a call.
        if since is not None:
            text = _utc_text(since.replace(microsecond=0))
            if self._date_params in ("both", "from_to"):
                params["from"] = text
            if self._date_params in ("both", "start_end"):
                params["start_date"] = text
        if until is not None:
            rounded = until.replace(microsecond=0)
            if rounded < until:
                rounded += timedelta(seconds=1)
            text = _utc_text(rounded)
            if self._date_params in ("both", "from_to"):
                params["to"] = text
            if self._date_params in ("both", "start_end"):
                params["end_date"] = text
        return params

    # --- one request, with retries -----------------------------------------------------

    def _request(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str],
        parse: Callable[..., T],
    ) -> T:
        """GET ``path`` and parse its JSON, retrying transient failures within the policy."""
        started = self._clock.monotonic()
        attempt = 0
        while True:
            attempt += 1
            wait = self._limiter.reserve(
                now=self._clock.monotonic(), now_epoch=self._clock.now().timestamp()
            )
            if wait > 0:
                self._clock.sleep(wait)
            failure, delay = self._attempt(endpoint, path, params, parse, attempt)
            if not isinstance(failure, ApiError):
                return failure
            if delay is None:
                delay = backoff_delay(
                    attempt,
                    base=self._retry.base_delay,
                    cap=self._retry.max_delay,
                    rng=self._rng,
                )
            elapsed = self._clock.monotonic() - started
            if self._cancelled.is_set():
                raise failure  # shutting down: no retry
            if attempt >= self._retry.max_attempts or elapsed + delay > self._retry.max_total:
                failure.message = f"{failure.message} (gave up after {attempt} attempts)"
                raise failure
            log.warning(
                "GET %s failed: %s; retrying in %.1fs (attempt %d of %d)",
                endpoint,
                failure.message,
                delay,
                attempt + 1,
                self._retry.max_attempts,
            )
            self._clock.sleep(delay)

    def _attempt(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str],
        parse: Callable[..., T],
        attempt: int,
    ) -> tuple[T | ApiError, float | None]:
        """One attempt: the parsed result, or a retryable error and the wait it asks for.

        Errors that retrying cannot fix (401, 403, other 4xx) are raised at once.
        """
        sent = self._clock.monotonic()

        def record(outcome: str, status: int | None) -> None:
            self._emit(
                RequestRecord(
                    endpoint,
                    outcome,
                    status,
                    max(0.0, self._clock.monotonic() - sent),
                    attempt,
                    self._limiter.server_remaining,
                    self._limiter.server_limit,
                )
            )

        if self._cancelled.is_set():
            raise ServerError(f"{endpoint}: request cancelled (shutting down)", endpoint=endpoint)
        try:
            with self._http.stream(
                "GET", path, params=dict(params), headers=self._headers()
            ) as response:
                content = self._read_body(response, endpoint, sent)
        except _BodyRefused as refused:
            record(refused.outcome, refused.status)
            if refused.outcome == "timeout" and self._cancelled.is_set():
                raise refused.error from None
            return refused.error, None
        except httpx.TimeoutException:
            record("timeout", None)
            return ServerError(f"{endpoint}: request timed out", endpoint=endpoint), None
        except httpx.DecodingError:
            # The body does not match its Content-Encoding: the server's fault, maybe passing.
            record("malformed", None)
            return MalformedResponse(
                f"{endpoint}: response body could not be decoded", endpoint=endpoint
            ), None
        except (httpx.TransportError, httpx.TooManyRedirects) as exc:
            record("connection_error", None)
            reason = type(exc).__name__
            return ServerError(f"{endpoint}: connection failed ({reason})", endpoint=endpoint), None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            # Whatever else httpx may raise stays inside this boundary.
            record("connection_error", None)
            reason = type(exc).__name__
            return ServerError(f"{endpoint}: request failed ({reason})", endpoint=endpoint), None

        now_epoch = self._clock.now().timestamp()
        for header in self._limiter.observe(response.headers, now_epoch=now_epoch):
            log.warning("ignored an unusable %s header from %s", header, endpoint)
            self._emit(HeaderIgnored(endpoint, header))
        status = response.status_code
        if 200 <= status < 300:
            try:
                result = parse(_json_body(content, endpoint), endpoint=endpoint)
            except MalformedResponse as exc:
                record("malformed", status)
                return exc, None
            record("ok", status)
            return result, None

        error = self._http_error(endpoint, status, content)
        if status == 429:
            record("rate_limited", status)
            return error, rate_limit_wait(response.headers, now_epoch=now_epoch)
        record("http_error", status)
        if isinstance(error, ServerError):
            return error, None
        raise error

    def _read_body(self, response: httpx.Response, endpoint: str, sent: float) -> bytes:
        """The decoded body, within :data:`MAX_BODY_BYTES` and the request's deadline.

        An error response's body only adds words to the error: past the bound it is cut,
        and the status still decides what the error is.
        """
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            chunks.append(chunk)
            if size > MAX_BODY_BYTES and not response.is_success:
                break
            if size > MAX_BODY_BYTES:
                raise _BodyRefused(
                    "malformed",
                    response.status_code,
                    MalformedResponse(
                        f"{endpoint}: response body is larger than {MAX_BODY_BYTES} bytes",
                        endpoint=endpoint,
                    ),
                )
            if self._cancelled.is_set() or self._clock.monotonic() - sent > self.deadline:
                why = "cancelled" if self._cancelled.is_set() else f"took over {self.deadline:g}s"
                raise _BodyRefused(
                    "timeout",
                    response.status_code,
                    ServerError(f"{endpoint}: response {why}", endpoint=endpoint),
                )
        return b"".join(chunks)

    def _http_error(self, endpoint: str, status: int, content: bytes) -> ApiError:
        """Translate an error response; the status decides the type, the body only adds words."""
        try:
            code, message = parsing.parse_error_body(json.loads(content))
        except (ValueError, RecursionError):
            code, message = None, None
        detail = f"HTTP {status}" + (f" {code}" if code else "")
        if message:
            detail += f": {self._scrub(message)}"
        if status in (401, 403):
            kind: type[ApiError] = AuthError
            text = f"the Telepath API refused the key ({detail}); check TELEPATH_API_KEY"
        elif status == 429:
            kind, text = RateLimited, f"{endpoint}: rate limited ({detail})"
        elif status >= 500 or status == 408:
            kind, text = ServerError, f"{endpoint}: {detail}"
        else:
            kind, text = RequestRejected, f"{endpoint}: request rejected ({detail})"
        return kind(text, endpoint=endpoint, status=status, code=code)

    def _scrub(self, text: str) -> str:
        """Server text, shortened, with our key removed should a server echo it."""
        key = self._api_key.get_secret_value()
        if key:
            text = text.replace(key, "[redacted]")
        return text[:200]

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._api_key.get_secret_value()}",
            "User-Agent": USER_AGENT,
        }

    def _emit(self, event: ClientEvent) -> None:
        if self._listener is not None:
            try:
                self._listener(event)
            except Exception:  # a broken metrics adapter must not break polling
                log.exception("client event listener failed")

    # --- call details (issue 15) -------------------------------------------------------

    def get_call_details(self, call_id: str) -> details.CallDetails:
        """``GET /calls/{id}`` summarised: slowest segment, codec, notable events.

        Within the same rate budget as every other request. A missing call raises
        :class:`RequestRejected` (404).
        """
        path = "/calls/" + quote(call_id, safe="")
        return self._request("/calls/{id}", path, {}, details.parse_call_details)


class _BodyRefused(Exception):
    """Reading a body stopped: too large, too slow, or cancelled."""

    def __init__(self, outcome: str, status: int, error: ApiError) -> None:
        super().__init__(error.message)
        self.outcome, self.status, self.error = outcome, status, error


def _json_body(content: bytes, endpoint: str) -> object:
    try:
        body: object = json.loads(content)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and UnicodeDecodeError; RecursionError is
        # JSON nested deeper than the interpreter's stack, which bounds the depth we take.
        raise MalformedResponse(
            f"{endpoint}: response is not JSON ({exc.__class__.__name__})", endpoint=endpoint
        ) from None
    return body


def _within(
    moment: datetime, since: datetime | None, until: datetime | None, latest: datetime
) -> bool:
    return (since is None or moment >= since) and moment <= min(until or latest, latest)


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass timezone-aware UTC times")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
