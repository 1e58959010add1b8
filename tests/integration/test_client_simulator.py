"""The API client against the simulator over loopback HTTP: pagination, limits, faults."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

import pytest

from monitor.errors import AuthError, MalformedResponse, ServerError
from monitor.simulator import FaultOptions
from monitor.telepath.client import ClientEvent, RecordSkipped, RequestRecord, RetryPolicy

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("pagination", ["cursor", "offset"])
@pytest.mark.parametrize("order", ["newest", "oldest"])
@pytest.mark.parametrize("layout", ["flat", "nested"])
def test_every_call_is_walked_exactly_once(simulator, api_client, pagination, order, layout):
    """Both pagination styles and orders deliver each visible call once, with its figures."""
    server = simulator(pagination=pagination, order=order, latency_layout=layout)
    client = api_client(server.url, page_size=37)
    since = server.started_at - server_history(server)
    walked = list(client.iter_calls(since=since))
    expected = server.visible_calls()
    assert Counter(c.id for c in walked) == Counter(c.id for c in expected)
    assert sorted(walked, key=lambda c: (c.start_time, c.id)) == expected


def server_history(server):
    """The fixture's simulators keep 30 minutes of history."""
    return timedelta(minutes=30)


def test_429_waits_until_the_reset_then_succeeds(simulator, api_client, clock):
    """When another user of the key spent the budget, the client waits for the reset."""
    server = simulator(rate_limit_per_minute=3)
    other = api_client(server.url)
    for _ in range(3):
        other.get_overview()
    events: list[ClientEvent] = []
    client = api_client(server.url, events=events)
    client.get_overview()
    outcomes = [e.outcome for e in events if isinstance(e, RequestRecord)]
    assert outcomes == ["rate_limited", "ok"]
    assert clock.now().timestamp() % 60 < 5, "it resumed right after the minute's reset"


def test_the_client_stays_under_a_limit_it_has_been_told(simulator, api_client, clock):
    """Once the headers say nothing remains, the client waits instead of earning a 429."""
    server = simulator(rate_limit_per_minute=3)
    events: list[ClientEvent] = []
    client = api_client(server.url, events=events)
    for _ in range(4):
        client.get_overview()
    outcomes = [e.outcome for e in events if isinstance(e, RequestRecord)]
    assert outcomes == ["ok"] * 4
    assert clock.sleeps


def test_5xx_is_retried_then_succeeds(simulator, api_client, clock):
    """Two injected 503s are retried with backoff; the third attempt succeeds."""
    server = simulator()
    client = api_client(server.url)
    server.set_faults(fail_next=2, fail_status=503)
    assert client.get_overview().get("call_count") is not None
    assert len(clock.sleeps) == 2


def test_persistent_5xx_fails_after_the_bound(simulator, api_client):
    """A server that keeps failing raises ServerError after the attempt bound."""
    server = simulator()
    client = api_client(server.url, retry=RetryPolicy(max_attempts=3))
    server.set_faults(fail_next=10, fail_status=500)
    with pytest.raises(ServerError, match="gave up after 3 attempts"):
        client.get_overview()
    assert server.request_counts["/analytics/overview"] == 3


def test_timeouts_and_resets_are_retried(simulator, api_client):
    """A response slower than the client's timeout, then a reset connection, are survived."""
    server = simulator()
    client = api_client(server.url, timeout=0.3)
    server.set_faults(slow_next=1, slow_seconds=2.0, reset_next=1)
    events: list[ClientEvent] = []
    client._listener = events.append
    client.get_overview()
    outcomes = [e.outcome for e in events if isinstance(e, RequestRecord)]
    assert outcomes[-1] == "ok"
    assert {"timeout", "connection_error"} <= set(outcomes)


def test_401_fails_fast_with_a_clean_message(simulator, api_client, caplog):
    """A refused key fails at once; the key is absent from the message and the logs."""
    server = simulator()
    wrong_key = "sk_live_wrong_key_that_must_not_leak_42"
    client = api_client(server.url, key=wrong_key)
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as caught:
        list(client.iter_calls())
    assert server.request_counts["/calls"] == 1
    assert "refused the key" in str(caught.value)
    assert wrong_key not in str(caught.value)
    assert wrong_key not in caplog.text


def test_malformed_bodies_are_retried_and_then_a_typed_error(simulator, api_client):
    """One malformed body is survived; a server that only sends garbage gives MalformedResponse."""
    server = simulator()
    client = api_client(server.url, retry=RetryPolicy(max_attempts=2))
    server.set_faults(malformed_next=1)
    client.get_overview()
    server.set_faults(malformed_rate=1.0)
    with pytest.raises(MalformedResponse):
        client.get_overview()


def test_odd_records_are_survived_and_counted(simulator, api_client):
    """Records with odd fields are parsed where possible; unusable ones are skipped and counted."""
    server = simulator(faults=FaultOptions(odd_record_rate=1.0))
    events: list[ClientEvent] = []
    client = api_client(server.url, events=events)
    walked = list(client.iter_calls(since=server.started_at - server_history(server)))
    skipped = [e for e in events if isinstance(e, RecordSkipped)]
    assert walked
    assert skipped
    assert len(walked) + len(skipped) >= len(server.visible_calls())
    assert {e.reason for e in skipped} <= {
        "missing_id",
        "missing_trunk_id",
        "bad_start_time",
        "not_an_object",
    }
