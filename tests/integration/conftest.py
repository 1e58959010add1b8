"""Shared pieces for tests that talk to real loopback servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from monitor.clock import ManualClock
from monitor.simulator import DEFAULT_API_KEY, SimulatorOptions, SimulatorServer
from monitor.telepath.client import ClientEvent, RetryPolicy, TelepathClient
from tests.support.receivers import SlackReceiver, WebhookReceiver

START = datetime(2026, 3, 10, 14, 0, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def simulator(clock: ManualClock) -> Iterator[Callable[..., SimulatorServer]]:
    """Start simulators on 127.0.0.1:0 sharing the test's clock; all stopped at the end."""
    servers: list[SimulatorServer] = []

    def start(**changes: Any) -> SimulatorServer:
        options = SimulatorOptions(**{"history": timedelta(minutes=30), **changes})
        server = SimulatorServer(options, clock)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def api_client(clock: ManualClock) -> Iterator[Callable[..., TelepathClient]]:
    """Build clients for a simulator URL; all closed at the end."""
    clients: list[TelepathClient] = []

    def build(
        url: str,
        *,
        key: str = DEFAULT_API_KEY,
        events: list[ClientEvent] | None = None,
        timeout: float = 5.0,
        **kwargs: Any,
    ) -> TelepathClient:
        http = httpx.Client(base_url=url, timeout=timeout)
        client = TelepathClient(
            http,
            api_key=SecretStr(key),
            clock=clock,
            listener=events.append if events is not None else None,
            retry=kwargs.pop("retry", RetryPolicy(max_attempts=4)),
            **kwargs,
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    """A Slack-compatible receiver (Web API and incoming webhooks) on loopback."""
    with SlackReceiver() as receiver:
        yield receiver


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    """A webhook receiver on loopback that records every request."""
    with WebhookReceiver() as receiver:
        yield receiver
