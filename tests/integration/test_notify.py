"""Notifications end to end: the daemon, the simulator, and real loopback receivers.

The daemon runs on the test's manual clock and its delivery worker is driven directly
(``deliver_due``), so retries and backoff are exercised without sleeping; the
receivers are real HTTP servers speaking Slack's and a webhook's shapes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.exposition import generate_latest
from standardwebhooks.webhooks import Webhook

from monitor.cli import main
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.notify.base import Notification
from monitor.simulator.scenarios import affected_trunks
from tests.support.alertmanager import AlertmanagerProcess
from tests.support.daemon import make_daemon
from tests.support.receivers import DEFAULT_TOKEN, Received, SlackReceiver, WebhookReceiver

pytestmark = pytest.mark.integration

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def drive(daemon: Daemon, clock: ManualClock, until: datetime) -> None:
    """Poll every 30 s and deliver after each poll, as the daemon's threads would."""
    while clock.now() < until:
        daemon.poll_calls()
        flush(daemon)
        clock.advance(30)


def flush(daemon: Daemon) -> None:
    for name in daemon.senders:
        daemon.delivery.deliver_due(name)


def verify(request: Received, secret: str = SECRET) -> dict[str, Any]:
    """Check the signature with the reference implementation (its own clock check aside:
    the daemon runs on simulated time, so the expected signature is computed directly)."""
    headers = request.headers
    timestamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(headers["webhook-id"], timestamp, request.text)
    assert headers["webhook-signature"] == expected
    body: dict[str, Any] = request.json()
    return body


def carrier_config(slack: SlackReceiver, hook: WebhookReceiver) -> str:
    # No call-details follow-ups here: this test counts the firing messages alone
    # (the follow-ups are covered in test_trunk_details).
    return f"""
links:
  call: https://dash.example/calls/{{call_id}}
  detail_calls: 0
notifiers:
  oncall:
    type: slack
    webhook_url: {slack.webhook_url}
  ops:
    type: webhook
    url: {hook.url}/alerts
    secret: {SECRET}
defaults:
  for: 1m
  repeat: never
  notify: [oncall, ops]
rules:
  - name: carrier-lag-p95
    summary: Carrier adds lag
    metric: carrier_lag_ms
    stat: p95
    window: 2m
    min_calls: 3
    warning: 300
"""


def test_a_carrier_outage_is_one_slack_message_and_one_webhook_per_trunk(
    tmp_path, simulator, clock, slack, hook
):
    """Ten trunks degrading together: one grouped Slack message, ten signed webhook deliveries."""
    server = simulator(
        scenario="carrier-degradation",
        trunks=30,
        calls_per_minute=900,
        incident_for=timedelta(minutes=5),
    )
    start, end = server.incident
    daemon = make_daemon(tmp_path, server.url, clock, carrier_config(slack, hook))
    try:
        drive(daemon, clock, start + timedelta(minutes=3))
        metrics = generate_latest(daemon.metrics.registry).decode()
    finally:
        daemon.stop()
    affected = sorted(affected_trunks("carrier-degradation", 30))
    assert len(affected) == 10
    (message,) = slack.messages
    text = json.dumps(message.blocks)
    assert all(trunk in text for trunk in affected)
    deliveries = [verify(r) for r in hook.requests]
    assert sorted(d["alert"]["group"]["trunk_id"] for d in deliveries) == affected
    assert {d["status"] for d in deliveries} == {"firing"}
    assert len({r.headers["webhook-id"] for r in hook.requests}) == 10
    assert 'telepath_monitor_notifications_sent_total{notifier="ops"} 10.0' in metrics
    assert 'telepath_monitor_notifications_sent_total{notifier="oncall"} 1.0' in metrics
    assert 'telepath_monitor_outbox_depth{notifier="ops"}' not in metrics
    assert end > clock.now()


def spike_config(**notifiers: str) -> str:
    blocks = "".join(f"  {name}:\n{spec}" for name, spec in notifiers.items())
    names = ", ".join(notifiers)
    # Without call-details follow-ups: these tests count notifications (see test_trunk_details).
    return f"""
links:
  call: https://dash.example/calls/{{call_id}}
  detail_calls: 0
notifiers:
{blocks}
defaults:
  for: 1m
  repeat: never
  notify: [{names}]
rules:
  - name: ai-latency-p95
    summary: AI agent answers slowly
    runbook_url: https://wiki.example/runbooks/ai
    metric: ai_latency_ms
    stat: p95
    window: 2m
    min_calls: 5
    warning: 1500
"""


def test_bot_token_mode_threads_the_resolution_and_updates_the_original(
    tmp_path, simulator, clock, slack
):
    """Firing is a channel message; its resolution is a reply in its thread and the original
    is updated to show it resolved."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=4))
    _, end = server.incident
    spec = (
        f"    type: slack\n    token: {DEFAULT_TOKEN}\n    channel: '#voice-oncall'\n"
        f"    api_url: {slack.api_url}\n"
    )
    daemon = make_daemon(tmp_path, server.url, clock, spike_config(oncall=spec))
    try:
        drive(daemon, clock, end + timedelta(minutes=5))
    finally:
        daemon.stop()
    (firing,) = slack.messages
    assert firing.channel == "C0VOICE01"
    assert "conn_sim02" in (firing.text or "")
    (reply,) = slack.replies(firing.ts)
    assert "resolved" in (reply.text or "").lower()
    assert reply.reply_broadcast is False
    original = slack.message(firing.ts)
    assert original.updates
    assert "resolved" in json.dumps(original.updates[-1].blocks).lower()
    assert slack.rejections == []


def test_the_kill_safe_outbox_survives_a_restart_between_queue_and_delivery(
    tmp_path, simulator, clock, hook
):
    """Queued while the receiver is down, then the daemon is gone: the next one delivers it."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=4))
    start, _ = server.incident
    spec = f"    type: webhook\n    url: {hook.url}/x\n    secret: {SECRET}\n"
    config = spike_config(ops=spec)
    hook.stop()
    first = make_daemon(tmp_path, server.url, clock, config)
    try:
        drive(first, clock, start + timedelta(minutes=3))
        assert first.store.outbox_stats(clock.now())[0][:2] == ("ops", 1)
    finally:
        first.stop()
    hook.start()
    clock.advance(120)
    second = make_daemon(tmp_path, server.url, clock, config)
    try:
        second.drop_unrouted()
        flush(second)
        second.poll_calls()
        flush(second)
    finally:
        second.stop()
    (delivered,) = hook.requests
    assert verify(delivered)["alert"]["group"] == {"trunk_id": "conn_sim02"}


def test_a_webhook_retry_keeps_its_id_and_signature(tmp_path, clock, hook):
    """A 503 then a 200: two requests with one webhook-id, both correctly signed."""
    hook.respond(503, headers={"Retry-After": "7"})
    daemon = offline_daemon(tmp_path, clock, f"  ops:\n    type: webhook\n    url: {hook.url}\n"
                            f"    secret: {SECRET}\n")  # fmt: skip
    try:
        queue_test_alert(daemon, "ops")
        assert daemon.delivery.deliver_due("ops") == 0
        assert daemon.delivery.next_due("ops") == clock.now() + timedelta(seconds=7)
        clock.advance(7)
        waiting = generate_latest(daemon.metrics.registry).decode()
        assert daemon.delivery.deliver_due("ops") == 1
        drained = generate_latest(daemon.metrics.registry).decode()
    finally:
        daemon.stop()
    assert 'telepath_monitor_outbox_depth{notifier="ops"} 1.0' in waiting
    assert 'telepath_monitor_outbox_oldest_pending_age_seconds{notifier="ops"} 7.0' in waiting
    assert 'telepath_monitor_notifications_failed_total{notifier="ops"} 1.0' in waiting
    assert 'telepath_monitor_outbox_depth{notifier="ops"}' not in drained
    first, second = hook.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    verify(first)
    verify(second)


def offline_daemon(tmp_path: Path, clock: ManualClock, notifiers: str) -> Daemon:
    """A daemon whose API is never called: only its notifiers are exercised."""
    return make_daemon(tmp_path, "http://127.0.0.1:9", clock, f"notifiers:\n{notifiers}")


def queue_test_alert(daemon: Daemon, name: str, **alert: Any) -> Notification:
    from monitor.notify.sample import sample_notification

    base = sample_notification(name, daemon.config.links, daemon.clock.now())
    note = Notification(**{**base.__dict__, "alerts": [{**base.alerts[0], **alert}], "test": False})
    daemon.store.enqueue([note])
    return note


def test_slack_429_waits_for_retry_after_then_delivers(tmp_path, clock, slack):
    """Slack answering 429 with Retry-After: 3 is retried after exactly 3 s, once."""
    slack.rate_limit(retry_after=3)
    daemon = offline_daemon(tmp_path, clock, f"  oncall:\n    type: slack\n"
                            f"    webhook_url: {slack.webhook_url}\n")  # fmt: skip
    try:
        queue_test_alert(daemon, "oncall")
        assert daemon.delivery.deliver_due("oncall") == 0
        assert daemon.delivery.next_due("oncall") == clock.now() + timedelta(seconds=3)
        clock.advance(3)
        assert daemon.delivery.deliver_due("oncall") == 1
    finally:
        daemon.stop()
    assert len(slack.requests) == 2
    assert len(slack.messages) == 1


@pytest.mark.parametrize("mode", ["webhook", "bot"])
def test_a_permanent_slack_error_is_dead_lettered(tmp_path, clock, slack, mode, caplog):
    """channel_not_found is not retried: the entry is dead, with the reason, and counted."""
    if mode == "webhook":
        slack.respond(404, "channel_not_found")
        spec = f"    type: slack\n    webhook_url: {slack.webhook_url}\n"
    else:
        spec = (
            f"    type: slack\n    token: {DEFAULT_TOKEN}\n    channel: '#nowhere'\n"
            f"    api_url: {slack.api_url}\n"
        )
    daemon = offline_daemon(tmp_path, clock, f"  oncall:\n{spec}")
    try:
        queue_test_alert(daemon, "oncall")
        daemon.delivery.deliver_due("oncall")
        clock.advance(3600)
        daemon.delivery.deliver_due("oncall")
        metrics = generate_latest(daemon.metrics.registry).decode()
        (dead,) = daemon.store.outbox_entries("dead")
    finally:
        daemon.stop()
    assert "channel_not_found" in (dead.last_error or "")
    assert len(slack.requests) == 1
    dead_letters = 'dead_lettered_total{notifier="oncall",reason="rejected"} 1.0'
    assert f"telepath_monitor_notifications_{dead_letters}" in metrics
    assert slack.webhook_url not in caplog.text
    assert DEFAULT_TOKEN not in caplog.text


def test_a_hostile_call_id_reaches_slack_as_text(tmp_path, clock, slack):
    """A call id crafted to mention @channel or smuggle a link arrives escaped."""
    hostile = "<!channel> <https://evil.example|click here>"
    daemon = offline_daemon(tmp_path, clock, f"  oncall:\n    type: slack\n"
                            f"    webhook_url: {slack.webhook_url}\n")  # fmt: skip
    try:
        note = queue_test_alert(daemon, "oncall", summary="<!here> look")
        calls = [{**note.alerts[0]["offending_calls"][0], "id": hostile, "url": None}]
        alerts = [{**note.alerts[0], "offending_calls": calls}]
        daemon.store.enqueue([Notification(**{**note.__dict__, "id": "msg_x", "alerts": alerts})])
        flush(daemon)
    finally:
        daemon.stop()
    assert slack.rejections == []
    message = slack.messages[-1]
    parsed = [message.text or "", *mrkdwn_texts(message.blocks)]
    for text in parsed:
        assert "<!channel>" not in text
        assert "<!here>" not in text
        assert "<https://evil.example" not in text
    assert any("&lt;!channel&gt;" in text for text in parsed)


def mrkdwn_texts(node: Any) -> list[str]:
    """Every text Slack parses for mentions and links (plain_text is shown as it is)."""
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn_texts(item)]
    if not isinstance(node, dict):
        return []
    own = [node["text"]] if node.get("type") == "mrkdwn" else []
    return own + [t for value in node.values() for t in mrkdwn_texts(value)]


def test_sixty_trunks_fit_in_one_slack_message(tmp_path, clock, slack):
    """A grouped message larger than Block Kit allows is cut to fit, and says so."""
    daemon = offline_daemon(tmp_path, clock, f"  oncall:\n    type: slack\n"
                            f"    webhook_url: {slack.webhook_url}\n")  # fmt: skip
    try:
        note = queue_test_alert(daemon, "oncall")
        alerts = [
            {**note.alerts[0], "id": f"a{i}", "group": {"trunk_id": f"trunk-{i:02d}"}}
            for i in range(60)
        ]
        daemon.store.enqueue([Notification(**{**note.__dict__, "id": "msg_60", "alerts": alerts})])
        flush(daemon)
    finally:
        daemon.stop()
    assert slack.rejections == []
    big = slack.messages[-1]
    assert big.blocks is not None
    assert len(big.blocks) <= 50
    assert "more" in json.dumps(big.blocks)


def test_test_notify_reports_delivery_and_failure(tmp_path, slack, hook, capsys):
    """test-notify sends a marked test alert and exits 0; a refused one exits 1 with why."""
    path = tmp_path / "alerts.yaml"
    path.write_text(
        f"notifiers:\n  oncall:\n    type: slack\n    webhook_url: {slack.webhook_url}\n"
        f"  ops:\n    type: webhook\n    url: {hook.url}\n"
    )
    assert main(["test-notify", "oncall", "--config", str(path)]) == 0
    assert "[TEST]" in (slack.messages[0].text or "")
    hook.respond(410)
    assert main(["test-notify", "ops", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert "delivered to oncall" in out
    assert "HTTP 410" in out
    assert hook.requests[0].json()["test"] is True
    assert main(["test-notify", "nope", "--config", str(path)]) == 2
    assert slack.webhook_url not in capsys.readouterr().err


def test_alertmanager_sees_the_alert_active_then_resolved(tmp_path, simulator, clock, hook):
    """A real Alertmanager lists the firing alert, then routes its resolution."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=4))
    start, end = server.incident
    with AlertmanagerProcess(tmp_path / "am", f"{hook.url}/am") as am:
        spec = f"    type: alertmanager\n    url: {am.url}\n"
        daemon = make_daemon(tmp_path, server.url, clock, spike_config(am=spec))
        try:
            drive(daemon, clock, start + timedelta(minutes=3))
            active = am.wait_for_alert({"alertname": "ai-latency-p95", "trunk_id": "conn_sim02"})
            daemon.refresh_alertmanager("am")
            drive(daemon, clock, end + timedelta(minutes=5))
            hook.wait_until(
                lambda: any(r.json()["status"] == "resolved" for r in hook.requests) or None,
                timeout=15,
                what="a resolved notification from Alertmanager",
            )
        finally:
            daemon.stop()
        assert am.alerts(active=True) == []
    assert active["labels"]["severity"] == "warning"
    assert active["annotations"]["summary"] == "AI agent answers slowly"


def test_the_delivery_threads_send_without_being_driven(tmp_path, simulator, clock, hook):
    """With the daemon's delivery threads running, a firing alert goes out by itself."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=4))
    start, _ = server.incident
    spec = f"    type: webhook\n    url: {hook.url}/x\n"
    daemon = make_daemon(tmp_path, server.url, clock, spike_config(ops=spec))
    daemon.delivery_threads.start()
    try:
        while clock.now() < start + timedelta(minutes=3):
            daemon.poll_calls()
            clock.advance(30)
        (request,) = hook.wait_for(1)
    finally:
        daemon.stop()
    assert request.json()["alert"]["group"] == {"trunk_id": "conn_sim02"}


def spiking_daemon(tmp_path: Path, simulator: Any, clock: ManualClock, hook: Any) -> Daemon:
    """A daemon two minutes into an ai-spike on conn_sim02, its rule firing at once,
    notifying the webhook receiver."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=4))
    start, _ = server.incident
    clock.advance((start + timedelta(minutes=2) - clock.now()).total_seconds())
    spec = f"    type: webhook\n    url: {hook.url}/x\n"
    config = spike_config(ops=spec).replace("for: 1m", "for: 0s")
    return make_daemon(tmp_path, server.url, clock, config)


def test_once_notify_sends_what_the_step_would_send(tmp_path, simulator, clock, hook):
    """`once --notify` delivers the step's notifications at once; alert states stay unsaved."""
    from monitor.once import once_report

    daemon = spiking_daemon(tmp_path, simulator, clock, hook)
    try:
        _, rows = once_report(daemon, notify=True)
        saved = daemon.store.load_alert_states()
    finally:
        daemon.stop()
    (request,) = hook.requests
    # once reads the trunk catalogue first, so the trunk comes with its name.
    group = {"trunk_id": "conn_sim02", "trunk_name": "Support line EU"}
    assert request.json()["alert"]["group"] == group
    assert [r["state"] for r in rows if r["group"] == "conn_sim02"] == ["firing"]
    assert [r["trunk_name"] for r in rows if r["group"] == "conn_sim02"] == ["Support line EU"]
    assert saved == []


def test_a_reload_with_new_notifiers_takes_effect_and_drops_removed_ones(tmp_path, clock, hook):
    """After a reload, deliveries use the new notifier settings; entries of a removed
    notifier are dead-lettered instead of waiting forever."""
    hook.respond(503, times=5)
    notifiers = f"  ops:\n    type: webhook\n    url: {hook.url}/old\n"
    daemon = offline_daemon(tmp_path, clock, notifiers + "  gone:\n    type: console\n")
    try:
        queue_test_alert(daemon, "gone")
        path = tmp_path / "alerts.yaml"
        path.write_text(f"notifiers:\n  ops:\n    type: webhook\n    url: {hook.url}/new\n")
        daemon.apply_config(load_config(path))
        assert set(daemon.senders) == {"ops"}
        (dead,) = daemon.store.outbox_entries("dead")
        assert dead.notification.notifier == "gone"
        hook.respond(200)
        queue_test_alert(daemon, "ops")
        for _ in range(10):
            if daemon.delivery.deliver_due("ops"):
                break
            clock.advance(600)
    finally:
        daemon.stop()
    assert {r.path for r in hook.requests} == {"/new"}


def test_once_notify_leaves_nothing_pending_when_a_receiver_fails(tmp_path, simulator, clock, hook):
    """A failed `once --notify` delivery is dead-lettered, not sent by a later `run`."""
    from monitor.once import once_report

    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=4))
    start, _ = server.incident
    clock.advance((start + timedelta(minutes=2) - clock.now()).total_seconds())
    hook.respond(503)
    config = spike_config(ops=f"    type: webhook\n    url: {hook.url}/x\n").replace(
        "for: 1m", "for: 0s"
    )
    daemon = make_daemon(tmp_path, server.url, clock, config)
    try:
        once_report(daemon, notify=True)
        pending = daemon.store.outbox_entries("pending")
        (dead,) = daemon.store.outbox_entries("dead")
    finally:
        daemon.stop()
    assert pending == []
    assert dead.last_error == "not delivered by once --notify"


def test_a_resolution_resent_after_a_kill_stays_in_the_thread(tmp_path, clock, slack):
    """Sent, then killed before it was marked: the resolution goes out again in the same
    thread (Slack has no idempotency key), never as a new channel message."""
    spec = (
        f"    type: slack\n    token: {DEFAULT_TOKEN}\n    channel: '#voice-oncall'\n"
        f"    api_url: {slack.api_url}\n"
    )
    daemon = offline_daemon(tmp_path, clock, f"  oncall:\n{spec}")
    try:
        firing = queue_test_alert(daemon, "oncall")
        daemon.delivery.deliver_due("oncall")
        resolved = Notification(**{**firing.__dict__, "id": "msg_resolved", "event": "resolved"})
        sender = daemon.senders["oncall"]
        sender.send(resolved)  # delivered, then the kill: never marked
        sender.send(resolved)  # the restart sends it again
    finally:
        daemon.stop()
    (top,) = slack.messages
    assert len(slack.replies(top.ts)) == 2


def test_once_notify_holds_what_a_silence_holds(tmp_path, simulator, clock, hook):
    """`once --notify` runs the quiet policy: a silenced alert is not sent."""
    from monitor.once import once_report
    from monitor.quiet import Silence

    daemon = spiking_daemon(tmp_path, simulator, clock, hook)
    now = clock.now()
    silence = Silence("s1", "ai-latency-*", "conn_sim02", now - timedelta(hours=1),
                      now + timedelta(hours=1), "maintenance", "ops", now)  # fmt: skip
    daemon.store.add_silence(silence)
    try:
        _, rows = once_report(daemon, notify=True)
    finally:
        daemon.stop()
    assert [r["state"] for r in rows if r["group"] == "conn_sim02"] == ["firing"]
    assert hook.requests == []
