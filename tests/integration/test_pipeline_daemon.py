"""The daemon around the pipeline step: reload under the step's lock, once on a DB of
its own, housekeeping of silences."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import monitor.rules
from monitor.cli import main
from monitor.config import load_config
from monitor.quiet import Silence
from monitor.simulator import DEFAULT_API_KEY, SimulatorOptions, SimulatorServer
from monitor.store import StateStore
from tests.support.daemon import SPIKE_RULE, make_daemon

pytestmark = pytest.mark.integration

CONFIG = "poll:\n  calls_every: 30s\ndefaults:\n  for: 0s\n  repeat: never\nrules:\n" + SPIKE_RULE
KEY = ("ai-latency-p95", "conn_sim02")


def test_a_reload_waits_for_the_step_in_progress_and_loses_nothing(
    tmp_path, simulator, clock, monkeypatch
):
    """A reload arriving while a step runs is applied after that step commits: the
    transition it made is kept (not fired again by the next step), and the next step runs
    on the new config."""
    server = simulator(scenario="ai-spike", calls_per_minute=300, incident_for=timedelta(minutes=8))
    start, _ = server.incident
    clock.advance((start + timedelta(minutes=3) - clock.now()).total_seconds())
    daemon = make_daemon(tmp_path, server.url, clock, CONFIG)
    entered, release = threading.Event(), threading.Event()
    evaluate = monitor.rules.evaluate

    def slow(*args: Any, **kwargs: Any) -> list[Any]:
        entered.set()
        assert release.wait(30)
        return evaluate(*args, **kwargs)

    monkeypatch.setattr("monitor.pipeline.evaluate", slow)
    sent: list[str] = []
    poll = threading.Thread(target=lambda: sent.extend(i.kind for i in _poll(daemon)))
    (tmp_path / "new.yaml").write_text(CONFIG.replace("repeat: never", "repeat: 1h"))
    new = load_config(tmp_path / "new.yaml")
    reload = threading.Thread(target=daemon.apply_config, args=(new,))
    try:
        poll.start()
        assert entered.wait(30)
        reload.start()
        reload.join(0.5)
        assert reload.is_alive(), "the reload did not wait for the step in progress"
        assert daemon.config is not new
        release.set()
        poll.join(30)
        reload.join(30)
        assert daemon.config is new
        assert sent == ["firing"]
        state = daemon.state(*KEY)
        assert state is not None
        assert state.state == "firing"
        saved = {(s["rule"], s["group"]): s["state"] for s in daemon.store.load_alert_states()}
        assert saved[KEY] == "firing"
        monkeypatch.setattr("monitor.pipeline.evaluate", evaluate)
        clock.advance(30)
        assert [i.kind for i in _poll(daemon)] == []
    finally:
        release.set()
        daemon.stop()


def _poll(daemon: Any) -> Sequence[Any]:
    daemon.poll_calls()
    result = daemon.last_step
    return [] if result is None else result.intents


def test_once_never_writes_into_the_state_db(tmp_path, monkeypatch, capsys):
    """`once` works on a copy: the state DB's calls, watermark and alert states are the
    same afterwards, though once saw them (its table starts from the stored states)."""
    config = tmp_path / "alerts.yaml"
    config.write_text(CONFIG.replace("window: 2m", "window: 30m"))
    db = tmp_path / "state.db"
    store = StateStore(db)
    watermark = datetime.now(UTC) - timedelta(minutes=20)
    store.save_watermark(watermark)
    store.close()
    before = db.read_bytes()
    with SimulatorServer(SimulatorOptions(history=timedelta(minutes=40))) as server:
        monkeypatch.setenv("TELEPATH_API_KEY", DEFAULT_API_KEY)
        monkeypatch.setenv("TELEPATH_API_URL", server.url)
        monkeypatch.setenv("TELEPATH_STATE_DB", str(db))
        assert main(["once", "--json", "--config", str(config)]) == 0
    assert capsys.readouterr().out.count('"group"') == 6
    assert db.read_bytes() == before
    store = StateStore(db)
    try:
        assert (store.load_watermark(), store.count_calls()) == (watermark, 0)
    finally:
        store.close()


def test_once_without_a_state_db_creates_none(tmp_path, monkeypatch, capsys):
    """A first `once` before any daemon ran leaves no state DB behind."""
    config = tmp_path / "alerts.yaml"
    config.write_text(CONFIG)
    with SimulatorServer(SimulatorOptions(history=timedelta(minutes=10))) as server:
        monkeypatch.setenv("TELEPATH_API_KEY", DEFAULT_API_KEY)
        monkeypatch.setenv("TELEPATH_API_URL", server.url)
        monkeypatch.setenv("TELEPATH_STATE_DB", str(tmp_path / "state.db"))
        assert main(["once", "--config", str(config)]) == 0
    assert "conn_sim01" in capsys.readouterr().out
    assert not (tmp_path / "state.db").exists()


def test_housekeeping_prunes_silences_that_ended_long_ago(tmp_path, clock):
    """Silences ended more than delivery.keep ago are forgotten by the hourly job."""
    daemon = make_daemon(tmp_path, "http://127.0.0.1:9", clock, "delivery:\n  keep: 1d\n")
    now = clock.now()

    def silence(sid: str, ended: timedelta) -> Silence:
        start = now - timedelta(days=5)
        return Silence(sid, "*", "*", start, now - ended, "", "me", start)

    for s in (silence("old", timedelta(days=2)), silence("recent", timedelta(hours=2))):
        daemon.store.add_silence(s)
    try:
        daemon.start()
        assert daemon.scheduler.get_job("prune") is not None
        daemon.prune()
        assert [s.id for s in daemon.store.silences()] == ["recent"]
    finally:
        daemon.stop()
