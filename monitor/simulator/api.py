"""The simulated API as a function: request in, :class:`Reply` out. No sockets.

Per ``/v1`` request, in order: count it by endpoint template, check the bearer key
(401, which does not use up the rate limit), take one unit of the rate limit (429 when
spent), draw its faults, then route. Rate-limit headers go on every ``/v1`` response
when the limit is enabled; the window is the clock's epoch minute.

Choices where the real API is silent: date filters (``from``/``to`` or
``start_date``/``end_date``, both inclusive, naive times read as UTC) apply to
``start_time``; only ended calls are listed; ``status`` matches case-insensitively; a
cursor is the urlsafe-base64 JSON of the last item's (start_time, id), so it stays
correct while new calls arrive; ``offset`` in cursor mode and ``cursor`` in offset mode
are ignored.
"""

from __future__ import annotations

import bisect
import dataclasses
import hmac
import json
import logging
import math
import random
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from monitor.clock import Clock
from monitor.simulator import bodies, params
from monitor.simulator.faults import FaultPlan, error_body, malform, oddify_page, plan
from monitor.simulator.options import FaultOptions, SimulatorOptions
from monitor.simulator.scenarios import SimCall, Timeline
from monitor.simulator.trunks import catalogue_items

logger = logging.getLogger("monitor.simulator")

#: Endpoint templates counted in ``request_counts``; anything else under /v1 is "other".
ENDPOINTS: Final = ("/calls", "/calls/{id}", "/analytics/overview", "/trunks")
_MAX_ID_ECHO: Final = 100


@dataclass(frozen=True, slots=True)
class Reply:
    """What to send back; ``reset`` means drop the connection without a response."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    reset: bool = False


class SimulatorApp:
    """State shared by all requests: the timeline, faults, rate window and counters."""

    def __init__(self, options: SimulatorOptions, clock: Clock, started_at: datetime) -> None:
        self.options = options
        self.clock = clock
        self.timeline = Timeline(options, started_at)
        #: A copy: two servers built from one options object do not share fault counters.
        self.faults = dataclasses.replace(options.faults)
        #: Guards ``faults``, the rate window, the fault RNG and ``request_counts``.
        self.lock = threading.Lock()
        self.request_counts: Counter[str] = Counter()
        self._fault_rng = random.Random(f"faults/{options.seed}")  # noqa: S311 - simulation
        self._window = -1
        self._used = 0

    def handle(self, method: str, target: str, authorization: str | None, body: bytes) -> Reply:
        """Answer one HTTP request; a bug in the simulator is a logged 500, never a hang."""
        try:
            return self._handle(method, target, authorization, body)
        except Exception:
            logger.exception("simulator failed on %s %s", method[:20], target[:200])
            return _json(500, bodies.error("INTERNAL_ERROR", "Simulator error"))

    def _handle(self, method: str, target: str, authorization: str | None, body: bytes) -> Reply:
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        if path == "/v1" or path.startswith("/v1/"):
            return self._api(method, path[3:], query, authorization)
        if path.startswith("/_sim/"):
            return self._control(method, path, authorization, body)
        return _json(404, bodies.error("not_found", f"No route for {path[:_MAX_ID_ECHO]}", 404))

    # -- /v1 -----------------------------------------------------------------------------

    def _api(self, method: str, path: str, query: params.Query, authorization: str | None) -> Reply:
        template = _template(path)
        now = self.clock.now()
        authorized = self._authorized(authorization)
        with self.lock:
            self.request_counts[template or "other"] += 1
            allowed, headers = self._rate(now, consume=authorized)
            fault = plan(self.faults, self._fault_rng) if authorized and allowed else None
        if not authorized:
            message = "The API key provided is invalid"
            return _json(401, bodies.error("INVALID_API_KEY", message), headers)
        if fault is None:
            message = "Rate limit exceeded. Retry after the time in X-RateLimit-Reset"
            return _json(429, bodies.error("RATE_LIMIT_EXCEEDED", message), headers)
        if fault.reset:
            return Reply(0, reset=True)
        if fault.fail_status is not None:
            content_type, raw = error_body(fault.fail_status)
            return Reply(fault.fail_status, raw, content_type, headers, delay=fault.delay)
        if template is None:
            message = f"No route for /v1{path[:_MAX_ID_ECHO]}"
            return _json(404, bodies.error("not_found", message, 404), headers, fault.delay)
        if method != "GET":
            return _not_allowed(method, "GET", headers)
        try:
            status, payload = self._route(template, path, query, now, fault)
        except params.BadRequest as exc:
            status, payload = 400, bodies.error("INVALID_PARAMS", str(exc))
        if status == 200 and fault.malformed is not None:
            return Reply(200, malform(payload, fault.malformed), headers=headers, delay=fault.delay)
        return _json(status, payload, headers, fault.delay)

    def _route(
        self,
        template: str,
        path: str,
        query: params.Query,
        now: datetime,
        fault: FaultPlan,
    ) -> tuple[int, Any]:
        if template == "/calls":
            return 200, self._list_calls(query, now, fault)
        if template == "/calls/{id}":
            call_id = unquote(path.removeprefix("/calls/"))
            call = self.timeline.find(call_id, now)
            if call is None:
                message = f"Call '{call_id[:_MAX_ID_ECHO]}' not found"
                return 404, bodies.error("CALL_NOT_FOUND", message)
            return 200, bodies.detail(call, self.options.seed)
        if template == "/analytics/overview":
            return 200, bodies.overview(self._since(now - bodies.OVERVIEW_WINDOW, now), now)
        return 200, self._list_trunks(query, now)

    def _authorized(self, authorization: str | None) -> bool:
        scheme, _, key = (authorization or "").strip().partition(" ")
        expected = self.options.api_key.encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(key.strip().encode(), expected)

    def _rate(self, now: datetime, *, consume: bool) -> tuple[bool, tuple[tuple[str, str], ...]]:
        """Take one request from the current window; call with the lock held."""
        limit = self.options.rate_limit_per_minute
        if limit is None:
            return True, ()
        seconds = now.timestamp()
        phase = self.options.rate_window_phase
        window = math.floor((seconds - phase) / 60)
        if window != self._window:
            self._window, self._used = window, 0
        allowed = self._used < limit
        if consume and allowed:
            self._used += 1
        reset = (window + 1) * 60 + phase
        headers = [
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", str(limit - self._used)),
            ("X-RateLimit-Reset", str(reset)),
        ]
        if consume and not allowed and self.options.retry_after_header:
            headers.append(("Retry-After", str(max(1, math.ceil(reset - seconds)))))
        return allowed or not consume, tuple(headers)

    def _since(self, earliest_end: datetime, now: datetime) -> list[SimCall]:
        """Visible calls that may have ended after ``earliest_end``."""
        calls = self.timeline.visible(now)
        lo = bisect.bisect_left(calls, earliest_end - timedelta(seconds=400), key=_start)
        return calls[lo:]

    # -- lists ---------------------------------------------------------------------------

    def _list_calls(self, query: params.Query, now: datetime, fault: FaultPlan) -> Any:
        limit = params.limit(query)
        lower, upper = params.date_range(query)
        listed_from_start = self.options.list_in_progress
        calls = self.timeline.listed(lower, upper, now, started=listed_from_start)
        trunk = params.param(query, "trunk_id")
        status = params.param(query, "status")
        if trunk is not None or status is not None:
            wanted = None if status is None else status.lower()
            calls = [
                c
                for c in calls
                if (trunk is None or c.trunk_id == trunk) and (wanted is None or c.status == wanted)
            ]
        newest = self.options.order == "newest"
        nested = self.options.latency_layout == "nested"

        if self.options.pagination == "offset":
            ordered = calls[::-1] if newest else calls
            offset = params.offset(query)
            shift = self._offset_shift(offset, limit, fault.duplicate_rate)
            page = ordered[offset - shift : offset - shift + limit]
            items = oddify_page([bodies.list_item(c, nested=nested, now=now) for c in page], fault)
            # The calls that "arrived" count in the total, as they would on the real API.
            pagination = {"limit": limit, "offset": offset, "total": len(ordered) + shift}
            return {"calls": items, "pagination": pagination}

        cursor = params.param(query, "cursor")
        position = None if cursor is None else params.decode_call_cursor(cursor)
        overlap = 0
        if fault.duplicate_rate > 0 and fault.rng.random() < fault.duplicate_rate:
            overlap = min(fault.rng.randint(1, 3), limit - 1)
        if newest:
            end = len(calls) if position is None else bisect.bisect_left(calls, position, key=_key)
            if position is not None:
                end = min(len(calls), end + overlap)
            first = max(0, end - limit)
            page, has_more = calls[first:end][::-1], first > 0
        else:
            begin = 0 if position is None else bisect.bisect_right(calls, position, key=_key)
            if position is not None:
                begin = max(0, begin - overlap)
            page, has_more = calls[begin : begin + limit], begin + limit < len(calls)
        items = oddify_page([bodies.list_item(c, nested=nested, now=now) for c in page], fault)
        next_cursor = None
        if has_more:
            last = page[-1]
            position_served = {"k": "calls", "t": bodies.iso(last.start_time), "id": last.id}
            next_cursor = params.encode_cursor(position_served)
        return {"data": items, "next_cursor": next_cursor, "has_more": has_more}

    def _offset_shift(self, offset: int, limit: int, rate: float) -> int:
        """How far back an offset page starts, as if calls had arrived during the walk.

        New calls push every later page back; the push only grows as the walk goes on, so
        a client advancing by the items it got sees repeats but never misses a call. Each
        page boundary crossed adds 1 to 3 calls (fewer than ``limit``) with probability
        ``rate``, drawn per page number rather than per request so the shift never shrinks.
        """
        if rate <= 0 or offset <= 0 or limit < 2:
            return 0
        seed = self.options.seed
        shift = 0
        for page in range(1, -(-offset // limit) + 1):
            roll = random.Random(f"duplicates/{seed}/{page}")  # noqa: S311 - simulation
            if roll.random() < rate:
                shift += min(roll.randint(1, 3), limit - 1)
        return min(offset, shift)

    def _list_trunks(self, query: params.Query, now: datetime) -> Any:
        limit = params.limit(query)
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        today: dict[str, list[SimCall]] = {t: [] for t in self.timeline.trunk_ids}
        for call in self._since(midnight, now):
            if call.start_time >= midnight:
                today[call.trunk_id].append(call)
        items_all = catalogue_items(self.options, self.timeline, today, now)
        numbered = [(n, str(item["id"])) for n, item in enumerate(items_all, 1)]
        status = params.param(query, "status")
        if status is not None:
            numbered = [(n, t) for n, t in numbered if items_all[n - 1]["status"] == status.lower()]
        if self.options.pagination == "offset":
            offset = params.offset(query)
            page = numbered[offset : offset + limit]
            items = [items_all[n - 1] for n, _ in page]
            pagination = {"limit": limit, "offset": offset, "total": len(numbered)}
            return {"trunks": items, "pagination": pagination}
        cursor = params.param(query, "cursor")
        begin = 0
        if cursor is not None:
            after = params.decode_cursor(cursor, "trunks").get("id")
            if after not in {t for _, t in numbered}:
                raise params.BadRequest("Invalid cursor parameter")
            begin = next((i for i, (_, t) in enumerate(numbered) if t == after), -1) + 1
        page = numbered[begin : begin + limit]
        has_more = begin + limit < len(numbered)
        items = [items_all[n - 1] for n, _ in page]
        next_cursor = None
        if has_more:
            next_cursor = params.encode_cursor({"k": "trunks", "id": page[-1][1]})
        return {"data": items, "next_cursor": next_cursor, "has_more": has_more}

    # -- /_sim ---------------------------------------------------------------------------

    def _control(self, method: str, path: str, authorization: str | None, body: bytes) -> Reply:
        """``/_sim/health`` (no key) and ``/_sim/faults`` (key; PUT changes only named fields)."""
        if path == "/_sim/health":
            if method != "GET":
                return _not_allowed(method, "GET")
            health = {
                "status": "ok",
                "scenario": self.options.scenario,
                "started_at": bodies.iso(self.timeline.started_at),
                "now": bodies.iso(self.clock.now()),
            }
            return _json(200, health)
        if path != "/_sim/faults":
            return _json(404, bodies.error("not_found", f"No route for {path[:_MAX_ID_ECHO]}", 404))
        if method not in ("GET", "PUT"):
            return _not_allowed(method, "GET, PUT")
        if not self._authorized(authorization):
            return _json(401, bodies.error("INVALID_API_KEY", "The API key provided is invalid"))
        if method == "PUT":
            try:
                self.update_faults(params.fault_changes(body))
            except ValueError as exc:
                return _json(400, bodies.error("INVALID_PARAMS", str(exc)))
        with self.lock:
            return _json(200, self.faults.as_dict())

    def update_faults(self, changes: dict[str, Any]) -> None:
        """Apply validated changes to the live fault options (raises ``ValueError``)."""
        with self.lock:
            merged = {**self.faults.as_dict(), **changes}
            FaultOptions(**merged)  # validates the combination
            for name, value in changes.items():
                setattr(self.faults, name, value)


def _template(path: str) -> str | None:
    if path in ("/calls", "/analytics/overview", "/trunks"):
        return path
    if path.startswith("/calls/") and "/" not in path.removeprefix("/calls/"):
        return "/calls/{id}"
    return None


def _start(call: SimCall) -> datetime:
    return call.start_time


def _key(call: SimCall) -> tuple[datetime, str]:
    return call.sort_key()


def _json(
    status: int,
    payload: Any,
    headers: tuple[tuple[str, str], ...] = (),
    delay: float = 0.0,
) -> Reply:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, body, headers=headers, delay=delay)


def _not_allowed(method: str, allow: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    message = f"Method {method[:20]} not allowed"
    reply = _json(405, bodies.error("method_not_allowed", message, 405), headers)
    return Reply(405, reply.body, headers=(*headers, ("Allow", allow)))
