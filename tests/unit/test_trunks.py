"""The trunk catalogue: reading /trunks, remembering names, statuses, the info metric."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import httpx
from pydantic import SecretStr

from monitor.clock import ManualClock
from monitor.metrics import MonitorMetrics, TrunkCap, trunk_info_gauge
from monitor.models import Trunk
from monitor.store import StateStore
from monitor.telepath.client import TelepathClient
from monitor.telepath.parsing import parse_trunk
from monitor.trunks import TrunkCatalogue, TrunkInfo, trunk_label
from monitor.windows import CallWindows

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def client_on(handler: httpx.MockTransport) -> TelepathClient:
    http = httpx.Client(base_url="https://api.test/v1", transport=handler)
    return TelepathClient(http, api_key=SecretStr("sk_test_x"), clock=ManualClock(T0))


def test_offset_pages_of_trunks_are_walked_with_names_providers_and_statuses():
    """/trunks in the endpoint pages' style (trunks + pagination) is read to the end."""
    trunks = [
        {"id": "conn_1", "name": "Support line EU", "status": "ACTIVE", "ai_provider": "openai"},
        {"id": "conn_2", "name": "Old", "status": "inactive", "provider": "retell"},
        {"id": 7, "name": None},
        {"name": "no id"},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", "0"))
        page = trunks[offset : offset + 2]
        return httpx.Response(
            200, json={"trunks": page, "pagination": {"limit": 2, "offset": offset, "total": 4}}
        )

    client = client_on(httpx.MockTransport(handler))
    client.page_size = 2
    listed = client.list_trunks()
    assert [(t.id, t.name, t.status, t.provider) for t in listed] == [
        ("conn_1", "Support line EU", "active", "openai"),
        ("conn_2", "Old", "inactive", "retell"),
        ("7", None, None, None),
    ]


def test_a_trunk_record_of_odd_types_keeps_what_it_can():
    """Wrong types become unknown fields, never an error."""
    trunk = parse_trunk({"id": "conn_1", "name": 5, "status": ["x"], "ai_provider": {}})
    assert trunk == Trunk("conn_1")


def test_the_catalogue_keeps_the_last_known_name_of_a_vanished_trunk():
    """A trunk gone from the list keeps its name, marked unlisted; renames are reported."""
    catalogue = TrunkCatalogue()
    catalogue.update([Trunk("a", "Alpha", "active"), Trunk("b", "Beta", "active")])
    renames = catalogue.update([Trunk("a", "Alpha EU", "active")])
    assert renames == [("a", "Alpha", "Alpha EU")]
    assert catalogue.name("a") == "Alpha EU"
    beta = catalogue.get("b")
    assert beta == TrunkInfo("b", "Beta", None, "active", listed=False)


def test_an_empty_list_or_a_nameless_record_forgets_nothing():
    """An API hiccup listing nothing, or a record without its name, keeps the names."""
    catalogue = TrunkCatalogue([TrunkInfo("a", "Alpha")])
    assert catalogue.update([]) == []
    assert catalogue.name("a") == "Alpha"
    catalogue.update([Trunk("a", None, "active")])
    assert catalogue.name("a") == "Alpha"


def test_only_a_known_status_other_than_active_is_inactive():
    """Unknown trunks and trunks without a status count as active."""
    catalogue = TrunkCatalogue(
        [TrunkInfo("on", status="active"), TrunkInfo("off", status="inactive"), TrunkInfo("x")]
    )
    assert [catalogue.inactive(t) for t in ("on", "off", "x", "unknown")] == [
        False,
        True,
        False,
        False,
    ]


def test_name_globs_match_without_regard_to_case():
    """trunk_names globs pick trunks by name, case-insensitively; nameless ones never."""
    catalogue = TrunkCatalogue(
        [TrunkInfo("1", "Support line EU"), TrunkInfo("2", "support US"), TrunkInfo("3")]
    )
    assert catalogue.matching(["SUPPORT *"]) == {"1", "2"}
    assert catalogue.matching(["*EU"]) == {"1"}
    assert catalogue.matching(["*"]) == {"1", "2"}


def test_labels_put_the_name_beside_the_id():
    assert trunk_label("conn_2", "Support") == "Support (conn_2)"
    assert trunk_label("conn_2", None) == "conn_2"


def test_the_catalogue_survives_in_the_state_db(tmp_path):
    """Saved and loaded back as it was, unlisted flags included."""
    store = StateStore(tmp_path / "state.db")
    try:
        trunks = [TrunkInfo("a", "Alpha", "openai", "active"), TrunkInfo("b", listed=False)]
        store.save_trunks(trunks)
        assert store.load_trunks() == trunks
        store.save_trunks(trunks[:1])
        assert store.load_trunks() == trunks[:1]
    finally:
        store.close()


def test_trunk_info_is_capped_like_the_other_trunk_series():
    """Trunks beyond export.max_trunks get no info series; labels are escaped."""
    cap = TrunkCap(2)
    cap.label("seen")
    trunks = [TrunkInfo("seen", 'Quote "q"'), TrunkInfo("new", "N"), TrunkInfo("late", "L")]
    gauge = trunk_info_gauge(trunks, cap)
    assert [labels for labels, _ in gauge.samples] == [
        ("seen", 'Quote "q"', "", ""),
        ("new", "N", "", ""),
    ]
    metrics = MonitorMetrics(
        CallWindows(timedelta(minutes=5)), threading.RLock(), ManualClock(T0), max_trunks=5
    )
    metrics.trunk_info = lambda: trunks
    text = metrics.render().decode()
    assert (
        'telepath_trunk_info{name="Quote \\"q\\"",provider="",status="",trunk_id="seen"} 1.0'
        in text
    )


def test_once_shows_the_name_and_says_when_a_trunk_is_switched_off():
    """The table's trunk column names the trunk and its status when not active."""
    from monitor.config import Rule
    from monitor.once import _row as _once_row
    from monitor.rules import Observation

    rule = Rule.model_validate({"name": "r", "metric": "call_count", "op": "<", "warning": 1})
    off = _once_row(
        Observation(rule, "t1", None, 0, "trunk is inactive"),
        None,
        TrunkInfo("t1", "Old line", status="inactive"),
    )
    on = _once_row(Observation(rule, "t2", 3.0, 3), None, TrunkInfo("t2", "Sales", status="active"))
    unknown = _once_row(Observation(rule, "t3", 3.0, 3), None, None)
    assert [(r["trunk"], r["trunk_name"], r["trunk_status"]) for r in (off, on, unknown)] == [
        ("Old line (inactive)", "Old line", "inactive"),
        ("Sales", "Sales", "active"),
        (None, None, None),
    ]
