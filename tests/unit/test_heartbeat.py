"""The dead-man's switch: when it pings, when it holds off, and what it sends."""

from __future__ import annotations

import httpx
import pytest

from monitor.config import Heartbeat
from monitor.heartbeat import HeartbeatPinger, heartbeat_health

URL = "https://hc-ping.example/8f0c-secret-uuid"


def pinger(status: int = 200, **spec: object) -> tuple[HeartbeatPinger, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    config = Heartbeat.model_validate({"url": URL, **spec})
    return HeartbeatPinger(config, httpx.Client(transport=httpx.MockTransport(handler))), seen


def test_healthy_means_ready_and_the_outbox_draining():
    """Not ready, or a notification waiting over ten minutes, pauses the heartbeat."""
    assert heartbeat_health((True, "ok"), []) is None
    assert heartbeat_health((True, "ok"), [("oncall", 3, 120.0)]) is None
    assert heartbeat_health((False, "no successful sync for 3m"), []) == "no successful sync for 3m"
    assert "waiting for 900s" in (heartbeat_health((True, "ok"), [("oncall", 2, 900.0)]) or "")


def test_a_healthy_beat_requests_the_url_with_the_method_and_headers():
    """The configured method and headers go to the URL; 2xx counts as sent."""
    beat, seen = pinger(method="POST", headers={"Authorization": "GenieKey k-123"})
    assert beat.beat(None) == "sent"
    assert (seen[0].method, str(seen[0].url)) == ("POST", URL)
    assert seen[0].headers["authorization"] == "GenieKey k-123"


def test_an_unhealthy_beat_sends_nothing_and_says_so_once(caplog):
    """Skipped beats send nothing; the pause is logged once, the resumption once."""
    caplog.set_level("INFO")
    beat, seen = pinger()
    assert [beat.beat("sync failing") for _ in range(3)] == ["skipped"] * 3
    assert seen == []
    assert caplog.text.count("heartbeat paused") == 1
    assert beat.beat(None) == "sent"
    assert "heartbeat resumed" in caplog.text


@pytest.mark.parametrize("status", [404, 500])
def test_a_refused_ping_is_failed_and_names_no_url(status, caplog):
    """A non-2xx answer is a failure; the log has the status, not the secret URL."""
    beat, _ = pinger(status)
    assert beat.beat(None) == "failed"
    assert f"HTTP {status}" in caplog.text
    assert URL not in caplog.text
