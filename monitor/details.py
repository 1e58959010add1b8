"""Call details for a firing alert's worst calls, sent as a follow-up.

When an alert fires, the full record (``GET /calls/{id}``) of its worst calls says what
the list cannot: the slowest segment, the codec, the notable timeline events. Fetching
them must never delay the alert, so:

- The firing notification is queued and handed to the delivery threads first; only
  then are the details fetched (on the poll's thread, after the evaluation).
- They go out as a **follow-up** notification of their own, event ``details``, to the
  notifiers of the firing one: a reply in the firing message's thread in Slack bot
  mode (a second message in incoming-webhook mode), a second webhook delivery with the
  same alert ``id``, ``status: "firing"`` and ``alert.call_details``, a re-post of the
  alert to Alertmanager with a ``call_details`` annotation (kept on every later
  re-post), and a block on the console. A follow-up is sent only when some detail was
  read.

Limits: at most ``links.detail_calls`` calls per alert, once per alert (claimed in the
state DB before fetching, so neither a retry nor a restart fetches again), each call's
summary cached in the state DB, every request through the client's rate limiter, and
nothing at all while the API's remaining budget is below :data:`BUDGET_RESERVE`
(polling comes first). A call the API does not know (404) is skipped; any other API
failure stops the fetching for this evaluation, logged and counted in the client's
request metrics, and the alert stays without details.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from monitor.alerts import Intent
from monitor.clock import Clock
from monitor.config import Links
from monitor.errors import ApiError, RequestRejected
from monitor.notify.base import Notification
from monitor.notify.document import alert_document
from monitor.store import StateStore
from monitor.telepath.details import CallDetails

__all__ = ["BUDGET_RESERVE", "DETAILS_EVENT", "KEEP", "DetailFetcher"]

log = logging.getLogger(__name__)

#: The ``event`` of a follow-up carrying call details.
DETAILS_EVENT: Final = "details"
#: No details are fetched while the key has fewer requests than this left this minute.
BUDGET_RESERVE: Final = 20
#: Cached details and "already fetched" marks are forgotten after this long.
KEEP: Final = timedelta(days=2)


class DetailSource(Protocol):
    """What the fetcher needs of the API client."""

    @property
    def rate_limit_remaining(self) -> int | None: ...

    def get_call_details(self, call_id: str) -> CallDetails: ...


class DetailFetcher:
    """Fetches details for newly firing alerts and builds their follow-ups.

    Args:
        client: the API client (its rate limiter paces every request).
        store: the state DB (cache and once-per-alert marks).
        clock: time for the marks.
        links: ``links.detail_calls`` and the call URL template.
    """

    def __init__(self, client: DetailSource, store: StateStore, clock: Clock, links: Links) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.links = links

    def follow_ups(
        self,
        intents: Sequence[Intent],
        grouping: Mapping[str, bool],
        names: Mapping[str, str] | None = None,
    ) -> list[Notification]:
        """Fetch what the firing intents need and return their follow-ups (not queued).

        Never raises for an API problem.
        """
        now = self.clock.now()
        documents: list[tuple[Intent, dict[str, Any]]] = []
        for intent in intents:
            if intent.kind != "firing" or not intent.offending_calls:
                continue
            if self.links.detail_calls < 1 or not self._budget_left():
                break
            if not self.store.claim_detailed_alert(intent.alert_id, now):
                continue
            details, stopped = self._fetch(intent)
            if details:
                self.store.save_alert_details(intent.alert_id, details)
                doc = alert_document(intent, names)
                doc.update(event=DETAILS_EVENT, call_details=details)
                documents.append((intent, doc))
            if stopped:
                break
        return _notifications(documents, grouping, now)

    def _budget_left(self) -> bool:
        remaining = self.client.rate_limit_remaining
        if remaining is not None and remaining < BUDGET_RESERVE:
            log.info("call details skipped: %d API requests left this minute", remaining)
            return False
        return True

    def _fetch(self, intent: Intent) -> tuple[list[dict[str, Any]], bool]:
        """The summaries of the alert's worst calls; True when the API failed."""
        out: list[dict[str, Any]] = []
        for call in intent.offending_calls[: self.links.detail_calls]:
            cached = self.store.call_detail(call.id)
            if cached is None:
                try:
                    found = self.client.get_call_details(call.id)
                except RequestRejected as exc:
                    log.info("no details for call %s of %s: %s", call.id, intent.alert_id, exc)
                    continue
                except ApiError as exc:
                    log.warning("fetching call details for %s failed: %s", intent.alert_id, exc)
                    return out, True
                cached = found.to_dict()
                cached["url"] = self.links.call_url(call.id, call.trunk_id)
                self.store.save_call_detail(call.id, cached, self.clock.now())
            out.append(cached)
        return out, False

    def prune(self, now: datetime) -> None:
        """Forget details and marks older than :data:`KEEP`."""
        self.store.prune_call_details(now - KEEP)


def _notifications(
    documents: Sequence[tuple[Intent, dict[str, Any]]],
    grouping: Mapping[str, bool],
    now: datetime,
) -> list[Notification]:
    """One follow-up per alert, or per rule for notifiers that group (Slack, console)."""
    # Keyed by the rule's name or by the alert's position: a rule may be named "0".
    slots: dict[tuple[str, str | int], list[dict[str, Any]]] = {}
    for index, (intent, doc) in enumerate(documents):
        for name in intent.notify:
            if name not in grouping:
                continue
            key: tuple[str, str | int] = (name, intent.rule.name if grouping[name] else index)
            slots.setdefault(key, []).append(doc)
    out = []
    for (notifier, _), docs in slots.items():
        parts = [notifier, DETAILS_EVENT, *sorted(str(d["id"]) for d in docs)]
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
        out.append(
            Notification(
                id=f"msg_{digest}",
                notifier=notifier,
                event=DETAILS_EVENT,
                rule=str(docs[0]["rule"]),
                alerts=docs,
                created_at=now,
            )
        )
    return out
