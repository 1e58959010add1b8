"""The README's high-availability setup, for real: one daemon, two Alertmanagers
clustered by gossip on loopback, one ``alertmanager`` notifier per node.

Both nodes receive every alert from the daemon; the cluster's notification log lets
only one of them notify the receiver. With one node stopped, the daemon's deliveries to
it fail and are retried, and the other node still notifies.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.clock import ManualClock
from monitor.daemon import Daemon
from tests.integration.test_notify import spike_config
from tests.support.alertmanager import AlertmanagerProcess
from tests.support.daemon import make_daemon
from tests.support.receivers import Received, WebhookReceiver
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

#: Node n of the cluster waits n times this before notifying (Alertmanager's
#: --cluster.peer-timeout): the window in which a duplicate would arrive.
PEER_TIMEOUT = 2.0
ALERT = {"alertname": "ai-latency-p95", "trunk_id": "conn_sim02"}


def config(urls: list[str]) -> str:
    """One ``alertmanager`` notifier per node (am1, am2...), as the README advises."""
    nodes = {f"am{n}": f"    type: alertmanager\n    url: {url}\n" for n, url in enumerate(urls, 1)}
    return spike_config(**nodes)


@pytest.fixture
def cluster(tmp_path: Path, hook: WebhookReceiver) -> Iterator[list[AlertmanagerProcess]]:
    """Two Alertmanagers gossiping on loopback, both notifying ``hook``."""
    timeout = f"{PEER_TIMEOUT:g}s"
    first = AlertmanagerProcess(
        tmp_path / "am1", f"{hook.url}/am", cluster=True, peer_timeout=timeout
    )
    nodes = [first]
    try:
        first.start()
        second = AlertmanagerProcess(
            tmp_path / "am2",
            f"{hook.url}/am",
            cluster=True,
            peers=[first.cluster_address],
            peer_timeout=timeout,
        )
        nodes.append(second)
        second.start()
        for node in nodes:
            node.wait_for_peers(2)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def notifications(hook: WebhookReceiver, status: str) -> list[Received]:
    """Alertmanager's webhook deliveries of ALERT with this status."""
    found = []
    for request in hook.requests:
        body = request.json()
        for alert in body.get("alerts", []):
            if alert["status"] == status and all(
                alert["labels"].get(k) == v for k, v in ALERT.items()
            ):
                found.append(request)
    return found


def drive(daemon: Daemon, clock: ManualClock, minutes: float) -> None:
    """Poll every 30 s and deliver after each poll, as the daemon's threads would."""
    for _ in range(int(minutes * 2)):
        daemon.poll_calls()
        for name in daemon.senders:
            daemon.delivery.deliver_due(name)
        clock.advance(30)


def test_two_clustered_alertmanagers_notify_once_and_survive_one_node_down(
    tmp_path, simulator, clock, hook, cluster
):
    """Posting to both nodes gives one firing notification; with one node stopped, the
    resolution still reaches the receiver through the other."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=4))
    start, end = server.incident
    daemon = make_daemon(tmp_path, server.url, clock, config([node.url for node in cluster]))
    try:
        clock.advance((start - clock.now()).total_seconds())
        drive(daemon, clock, minutes=3)
        for node in cluster:  # the daemon posted the alert to each node itself
            node.wait_for_alert(ALERT)
        wait_for(lambda: notifications(hook, "firing"), "firing notification", timeout=15)
        # A second node notifies only after its peer timeout (and the group wait): had
        # the gossip not told it the first one did, its duplicate would arrive by then.
        with pytest.raises(TimeoutError):
            wait_for(
                lambda: len(notifications(hook, "firing")) > 1,
                "duplicate firing notification",
                timeout=2 * PEER_TIMEOUT + 2,
            )

        cluster[0].stop()
        clock.advance((end - clock.now()).total_seconds())
        drive(daemon, clock, minutes=4)
        wait_for(
            lambda: notifications(hook, "resolved"),
            "resolved notification with one node down",
            timeout=15 + PEER_TIMEOUT,
        )
        # The stopped node's copy of the resolution waits in the outbox for its retry.
        failed_to_stopped_node = daemon.store.outbox_entries("pending")
    finally:
        daemon.stop()
    assert len(notifications(hook, "firing")) == 1
    assert {e.notification.notifier for e in failed_to_stopped_node} == {"am1"}
