"""Slack messages from alert documents: content, Block Kit limits, and escaping of outside text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.notify.slack_format import (
    MAX_BLOCKS,
    MAX_HEADER,
    MAX_TEXT,
    escape,
    render,
    render_resolved_original,
)

DASH = "https://dash.example"
RUNBOOK = "https://wiki.example/runbooks/ai-latency"
# Our own links: an http(s) URL free of raw < > | and whitespace, then an escaped label.
OUR_LINK = re.compile(r"<(https://(?:dash|wiki)\.example/[^<>|\s]*)\|([^<>]*)>")
TRUNK_LINK = re.compile(r"\*<[^|]*/trunks/[^|]*\|([^>]*)>\*")
ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def call(
    call_id: str = "c-1",
    ai: float | None = 2900.0,
    *,
    trunk: str = "t-1",
    status: str = "connected",
    carrier: float | None = 40.0,
    gateway: float | None = 5.0,
    url: str | None = "",
) -> dict[str, Any]:
    """An offending call as document.py writes it; by default linked to the dashboard."""
    return {
        "id": call_id,
        "trunk_id": trunk,
        "start_time": "2026-01-01T09:59:00Z",
        "status": status,
        "ai_latency_ms": ai,
        "carrier_lag_ms": carrier,
        "gateway_processing_ms": gateway,
        "url": f"{DASH}/calls/{quote(call_id, safe='')}" if url == "" else url,
    }


def alert(trunk: str | None = "t-1", **overrides: Any) -> dict[str, Any]:
    """An alert document as document.py produces it: p95 AI latency above 1,500 ms."""
    doc: dict[str, Any] = {
        "id": f"alert-{trunk}",
        "event": "firing",
        "rule": "ai-latency-p95",
        "severity": "critical",
        "summary": "AI agent answers slowly",
        "source": "calls",
        "metric": "ai_latency_ms",
        "stat": "p95",
        "value": 1620.4,
        "threshold": 1500.0,
        "op": ">",
        "peak_value": 2000.0,
        "window_seconds": 300,
        "group": {} if trunk is None else {"trunk_id": trunk},
        "started_at": "2026-01-01T10:00:00Z",
        "resolved_at": None,
        "calls_in_window": 240,
        "offending_calls": [
            call(f"c-{i}", 2900.0 - 100 * i, trunk=trunk or "t-1") for i in range(5)
        ],
        "links": {} if trunk is None else {"trunk": f"{DASH}/trunks/{quote(trunk, safe='')}"},
        "labels": {"team": "voice"},
        "runbook_url": None,
        "reason": None,
    }
    doc.update(overrides)
    return doc


def text_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every Block Kit text object anywhere in ``node``."""
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            yield node
        for value in node.values():
            yield from text_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from text_objects(item)


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """The fallback and every mrkdwn text: where Slack parses markup."""
    found = [o["text"] for o in text_objects(message["blocks"]) if o["type"] == "mrkdwn"]
    return [message["text"], *found]


def all_mrkdwn(message: dict[str, Any]) -> str:
    return "\n".join(mrkdwn_texts(message))


def header(message: dict[str, Any]) -> str:
    text: str = message["blocks"][0]["text"]["text"]
    return text


def sections(message: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]


def listed_trunks(message: dict[str, Any]) -> list[str]:
    """The trunks of a grouped message's sections, in the order shown."""
    return [TRUNK_LINK.findall(s)[0] for s in sections(message)[1:]]


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def assert_within_limits(message: dict[str, Any]) -> None:
    blocks = message["blocks"]
    assert len(blocks) <= MAX_BLOCKS
    assert utf16(message["text"]) <= MAX_TEXT
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < utf16(block["text"]["text"]) <= MAX_HEADER
        elif block["type"] == "section":
            assert 0 < utf16(block["text"]["text"]) <= MAX_TEXT
        else:
            assert block["type"] == "context"
            assert 0 < len(block["elements"]) <= 10
            assert all(0 < utf16(e["text"]) <= MAX_TEXT for e in block["elements"])


def assert_only_our_markup(message: dict[str, Any]) -> None:
    """No < or > but our own links, and no & that does not open a whole escape."""
    for text in mrkdwn_texts(message):
        assert ENTITY.search(text) is None, text
        rest = OUR_LINK.sub("", text)
        assert "<" not in rest, text
        assert ">" not in rest, text


# ---------------------------------------------------------------------------------------
# Escaping


def test_escape_replaces_ampersand_first() -> None:
    """&, < and > become entities, and an existing entity is escaped, not kept."""
    assert escape("a & <b> &amp;") == "a &amp; &lt;b&gt; &amp;amp;"


HOSTILE_IDS = ["<!channel>", "x|<https://evil.example|click>", "<@U024BE7LH>", "a>b&c"]


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_hostile_call_and_trunk_ids_stay_text(hostile: str) -> None:
    """Ids from the API can produce neither a mention nor a link of their own."""
    calls = [call(hostile), call(hostile, url=None)]
    for message in (
        render("firing", [alert(hostile, offending_calls=calls)]),
        render("firing", [alert(hostile, offending_calls=calls), alert("t-2")]),
    ):
        everything = all_mrkdwn(message)
        assert "<!" not in everything
        assert "<@" not in everything
        assert "<https://evil" not in everything
        assert escape(hostile) in everything
        assert_only_our_markup(message)


def test_hostile_summary_reason_labels_and_status_stay_text() -> None:
    """Config and API text (summary, rule name, reason, labels, status) is escaped everywhere."""
    doc = alert(
        summary="@channel <!here> see <https://evil.example|this>",
        rule="<!everyone>",
        value=None,
        reason="<!subteam^S123> & more",
        labels={"<!channel>": "<https://evil.example>"},
        metric="failed_ratio",
        stat=None,
        offending_calls=[call("c-1", status="<!channel>")],
    )
    message = render("repeat", [doc])
    everything = all_mrkdwn(message)
    assert "<!" not in everything
    assert "<https://evil" not in everything
    assert "&lt;!subteam^S123&gt; &amp; more" in everything
    assert_only_our_markup(message)


def test_mrkdwn_is_verbatim_so_bare_mentions_and_urls_are_not_parsed() -> None:
    """Every mrkdwn object is verbatim: a bare @channel or URL in a summary stays plain text."""
    message = render("firing", [alert(summary="@channel https://evil.example")])
    mrkdwn = [o for o in text_objects(message["blocks"]) if o["type"] == "mrkdwn"]
    assert mrkdwn
    assert all(o["verbatim"] is True for o in mrkdwn)


def test_url_of_our_link_is_escaped_and_pipe_encoded() -> None:
    """A URL's & < > are escaped and its | percent-encoded, so it cannot end the link early."""
    url = f"{DASH}/calls?id=1&x=<y>|z w"
    message = render("firing", [alert(offending_calls=[call("c-1", url=url)])])
    expected = f"<{DASH}/calls?id=1&amp;x=&lt;y&gt;%7Cz%20w|c-1>"
    assert expected in all_mrkdwn(message)


def test_only_http_urls_become_links() -> None:
    """A javascript: or other non-http URL is not linked; the label shows as text."""
    doc = alert(
        offending_calls=[call("c-1", url="javascript:alert(1)")],
        runbook_url="javascript:alert(2)",
    )
    everything = all_mrkdwn(render("firing", [doc]))
    assert "<javascript" not in everything
    assert "• c-1 2,900 ms" in everything


def test_call_without_url_is_shown_as_escaped_text() -> None:
    """With no drill-down URL, the call id is shown, escaped, without a link."""
    doc = alert(offending_calls=[call("<c&1>", url=None)])
    message = render("firing", [doc])
    assert "• &lt;c&amp;1&gt; 2,900 ms" in sections(message)[1]


# ---------------------------------------------------------------------------------------
# Shape and content of one alert


def test_single_alert_block_kit_shape() -> None:
    """One alert: a plain_text header, facts and worst-calls sections, then a context."""
    message = render("firing", [alert()])
    assert set(message) == {"text", "blocks"}
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section", "context"]
    assert message["blocks"][0]["text"]["type"] == "plain_text"
    assert all(b["text"]["type"] == "mrkdwn" for b in message["blocks"] if b["type"] == "section")
    assert_within_limits(message)


def test_single_alert_facts() -> None:
    """Severity, statistic, value against threshold, trunk link, window and calls are shown."""
    message = render("firing", [alert()])
    assert header(message) == "🔴 Critical: AI agent answers slowly"
    facts = sections(message)[0]
    assert "🔴 *p95 ai_latency_ms* is *1,620 ms* &gt; 1,500 ms (critical threshold)" in facts
    assert f"*Trunk:* <{DASH}/trunks/t-1|t-1>" in facts
    assert "*Window:* 5m" in facts
    assert "*Calls in window:* 240" in facts


def test_worst_calls_are_five_links_with_their_latency() -> None:
    """The five worst calls are listed as links with the rule metric's value."""
    doc = alert(offending_calls=[call(f"c-{i}", 3000.0 - i) for i in range(7)])
    worst = sections(render("firing", [doc]))[1].splitlines()
    assert worst[0] == "*Worst calls*"
    assert worst[1:] == [f"• <{DASH}/calls/c-{i}|c-{i}> {3000 - i:,} ms" for i in range(5)]


def test_total_latency_sums_the_three_components() -> None:
    """For total_latency_ms a call shows ai + carrier + gateway; a missing part shows no data."""
    calls = [call("c-1", 1000.0, carrier=200.0, gateway=34.5), call("c-2", 900.0, carrier=None)]
    doc = alert(metric="total_latency_ms", offending_calls=calls)
    worst = sections(render("firing", [doc]))[1]
    assert f"<{DASH}/calls/c-1|c-1> 1,234 ms" in worst
    assert f"<{DASH}/calls/c-2|c-2> no latency data" in worst


def test_failed_ratio_calls_show_their_status() -> None:
    """For failed_ratio the worst calls show their status instead of a latency."""
    doc = alert(metric="failed_ratio", stat=None, value=0.075, threshold=0.05)
    doc["offending_calls"] = [call("c-1", status="failed")]
    message = render("firing", [doc])
    assert "*failed_ratio* is *7.5%* &gt; 5%" in sections(message)[0]
    assert f"<{DASH}/calls/c-1|c-1> failed" in sections(message)[1]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"value": 1620.4, "threshold": 1500.0}, "*1,620 ms* &gt; 1,500 ms"),
        ({"value": 12.25, "threshold": 10.0}, "*12.25 ms* &gt; 10 ms"),
        ({"metric": "failed_ratio", "stat": None, "value": 0.075}, "*7.5%* &gt; 150,000%"),
        (
            {"metric": "call_count", "stat": None, "op": "<", "value": 0, "threshold": 1},
            "*0 calls* &lt; 1 call",
        ),
        ({"op": ">=", "value": 1500.0}, "*1,500 ms* ≥ 1,500 ms"),
        ({"value": None, "reason": "3 calls, fewer than min_calls 20"}, "*no data* (3 calls,"),
    ],
)
def test_units_and_ops(overrides: dict[str, Any], expected: str) -> None:
    """Latencies in ms with separators, ratios as percent, counts as calls, no data with why."""
    assert expected in sections(render("firing", [alert(**overrides)]))[0]


def test_window_and_scope() -> None:
    """Windows read like the config (1h); an overview rule says so; no trunk is all trunks."""
    assert "*Window:* 1h" in sections(render("firing", [alert(window_seconds=3600)]))[0]
    overview = render("firing", [alert(None, window_seconds=None, offending_calls=[])])
    facts = sections(overview)[0]
    assert "*Trunk:* all trunks   *Source:* account overview" in facts
    assert "Calls in window" not in facts
    assert "all trunks: p95 ai_latency_ms 1,620 ms" in overview["text"]
    assert "from the account overview" in overview["text"]


def test_account_wide_worst_calls_name_their_trunk() -> None:
    """In an account-wide alert each worst call says which trunk it came through."""
    doc = alert(None, offending_calls=[call("c-1", trunk="t-9")])
    assert f"• <{DASH}/calls/c-1|c-1> 2,900 ms · trunk t-9" in sections(render("firing", [doc]))[1]


def test_runbook_link_only_when_set() -> None:
    """A runbook URL becomes a link in the facts; without one there is none."""
    with_runbook = sections(render("firing", [alert(runbook_url=RUNBOOK)]))[0]
    assert f"📖 <{RUNBOOK}|Runbook>" in with_runbook
    assert "Runbook" not in sections(render("firing", [alert()]))[0]


def test_summary_falls_back_to_rule_name() -> None:
    """Without a summary the rule name heads the message."""
    message = render("firing", [alert(summary=None)])
    assert header(message) == "🔴 Critical: ai-latency-p95"


def test_fallback_text_is_meaningful_plain_text() -> None:
    """The fallback names severity, summary, trunk, statistic and value against threshold."""
    message = render("firing", [alert(severity="warning", threshold=800.0)])
    assert message["text"] == (
        "🟠 Warning: AI agent answers slowly — trunk t-1: p95 ai_latency_ms 1,620 ms, "
        "above the warning threshold of 800 ms, over 5m"
    )


@pytest.mark.parametrize(
    ("event", "severity", "title"),
    [
        ("firing", "warning", "🟠 Warning"),
        ("escalated", "critical", "⏫ Escalated to critical"),
        ("deescalated", "warning", "⏬ Down to warning"),
        ("repeat", "critical", "🔁 Still critical"),
        ("resolved", "critical", "✅ Resolved"),
    ],
)
def test_each_event_has_its_title(event: str, severity: str, title: str) -> None:
    """The header and fallback open with the event and the severity it is at."""
    message = render(event, [alert(severity=severity)])
    assert header(message) == f"{title}: AI agent answers slowly"
    assert message["text"].startswith(f"{title}: AI agent answers slowly — ")


def test_no_alerts_is_an_error() -> None:
    """A message needs at least one alert."""
    with pytest.raises(ValueError, match="at least one alert"):
        render("firing", [])


# ---------------------------------------------------------------------------------------
# Resolution


def test_resolved_shows_peak_value_at_resolution_and_threshold() -> None:
    """A resolution shows the peak, the value at resolution and the threshold it is back past."""
    doc = alert(
        event="resolved",
        severity="warning",
        value=640.0,
        threshold=800.0,
        peak_value=2000.0,
        resolved_at="2026-01-01T10:12:30Z",
    )
    message = render("resolved", [doc])
    facts = sections(message)[0]
    assert "*p95 ai_latency_ms* peaked at *2,000 ms*; at resolution *640 ms* ≤ 800 ms" in facts
    assert "Worst calls" not in all_mrkdwn(message)
    assert "Lasted 12m30s" in all_mrkdwn(message)
    assert message["text"] == (
        "✅ Resolved: AI agent answers slowly — trunk t-1: p95 ai_latency_ms 640 ms, "
        "no longer above 800 ms (peak 2,000 ms)"
    )


def test_resolved_for_lack_of_data_says_why() -> None:
    """Resolved with no value: no data and the reason, still with the peak."""
    doc = alert(value=None, reason="no call in the window has ai_latency_ms")
    message = render("resolved", [doc])
    assert (
        "at resolution *no data* (no call in the window has ai_latency_ms)" in sections(message)[0]
    )
    assert "no data (no call in the window has ai_latency_ms) (peak 2,000 ms)" in message["text"]


def test_grouped_resolution_lists_peak_and_value_per_trunk() -> None:
    """Each trunk of a grouped resolution shows its peak and its value at resolution."""
    docs = [
        alert("t-1", value=700.0, threshold=800.0, peak_value=1900.0),
        alert("t-2", value=650.0, threshold=800.0, peak_value=2500.0),
    ]
    message = render("resolved", docs)
    trunks = sections(message)[1:]
    assert trunks[0].startswith(f"✅ *<{DASH}/trunks/t-2|t-2>* peak *2,500 ms* → *650 ms* ≤ 800")
    assert trunks[1].startswith(f"✅ *<{DASH}/trunks/t-1|t-1>* peak *1,900 ms* → *700 ms*")
    assert header(message) == "✅ Resolved: AI agent answers slowly — 2 trunks"


# ---------------------------------------------------------------------------------------
# Grouping


def test_grouped_alerts_are_listed_worst_first() -> None:
    """Higher is worse for >: critical first, then by value, alerts without data last."""
    docs = [
        alert("warn-900", severity="warning", value=900.0, threshold=800.0),
        alert("none", value=None, reason="too few calls"),
        alert("crit-1600", value=1600.0),
        alert("warn-1400", severity="warning", value=1400.0, threshold=800.0),
        alert("crit-2000", value=2000.0),
    ]
    message = render("firing", docs)
    assert listed_trunks(message) == ["crit-2000", "crit-1600", "warn-1400", "warn-900", "none"]
    assert (
        "5 trunks, p95 ai_latency_ms over 5m (critical above 1,500 ms, warning above 800 ms)"
        in message["text"]
    )
    assert "crit-2000 2,000 ms; crit-1600 1,600 ms; warn-1400 1,400 ms" in message["text"]


def test_lower_is_worse_for_less_than() -> None:
    """For < the lowest value is the worst and comes first."""
    docs = [
        alert(f"t-{n}", metric="call_count", stat=None, op="<", value=n, threshold=5)
        for n in (3, 0, 4)
    ]
    message = render("firing", docs)
    assert listed_trunks(message) == ["t-0", "t-3", "t-4"]


def test_forty_trunks_make_one_message_within_fifty_blocks() -> None:
    """A 40-trunk outage is one message of at most 50 blocks ending with how many more."""
    docs = [alert(f"t-{i:02}", value=1600.0 + i) for i in range(40)]
    for test in (False, True):
        message = render("firing", docs, test=test)
        assert_within_limits(message)
        last = message["blocks"][-1]
        assert last["type"] == "context"
        assert last["elements"][0]["text"].startswith("…and 20 more trunks: t-19 1,619 ms, ")
        shown = all_mrkdwn(message)
        assert all(f"t-{i:02}" in shown for i in range(40))
        assert "*40 trunks* affected" in sections(message)[1 if test else 0]


def test_grouped_message_has_overview_and_a_section_per_trunk() -> None:
    """Few trunks: overview, rule context, one compact section each with its worst calls."""
    message = render("firing", [alert("t-1"), alert("t-2", value=1700.0)])
    types = [b["type"] for b in message["blocks"]]
    assert types == ["header", "section", "context", "section", "section"]
    overview, first, _ = sections(message)
    assert "*2 trunks* affected · *p95 ai_latency_ms* · window 5m" in overview
    assert "*Thresholds:* critical &gt; 1,500 ms" in overview
    assert first.splitlines()[0] == (
        f"🔴 *<{DASH}/trunks/t-2|t-2>* *1,700 ms* &gt; 1,500 ms · 240 calls"
    )
    assert first.splitlines()[1].startswith(f"<{DASH}/calls/c-0|c-0> 2,900 ms · ")


# ---------------------------------------------------------------------------------------
# Limits


def test_huge_summary_is_cut_within_every_limit() -> None:
    """A 10,000-character summary is cut with … everywhere it shows, never mid-escape."""
    summary = "R&D <latency> " * 800
    message = render("firing", [alert(summary=summary)])
    assert_within_limits(message)
    assert_only_our_markup(message)
    assert header(message).endswith("…")
    assert sections(message)[0].startswith("R&amp;D &lt;latency&gt; R&amp;D")
    assert "*p95 ai_latency_ms* is *1,620 ms*" in sections(message)[0]


def test_long_ids_and_urls_never_break_a_link() -> None:
    """Huge ids and URLs are cut or left unlinked; every section still ends on whole markup."""
    long_id = "&" * 3000
    calls = [call(long_id, url=f"{DASH}/calls/{'a' * 5000}"), call(long_id)]
    for docs in (
        [alert(long_id, offending_calls=calls)],
        [alert(long_id, offending_calls=calls)] * 3,
    ):
        message = render("firing", docs)
        assert_within_limits(message)
        assert_only_our_markup(message)


def test_emoji_count_twice_as_slack_counts_them() -> None:
    """Lengths are counted in UTF-16 units, so a summary of emoji still fits Slack's limit."""
    message = render("firing", [alert(summary="🔥" * 5000)])
    assert_within_limits(message)


# ---------------------------------------------------------------------------------------
# Test messages and updates


def test_test_message_is_clearly_marked() -> None:
    """A test-notify message says so in its header, a section and the fallback."""
    message = render("firing", [alert()], test=True)
    assert header(message).startswith("[TEST] ")
    note = sections(message)[0]
    assert "`telepath-monitor test-notify`" in note
    assert "no action is needed" in note
    assert message["text"].startswith("[TEST] ")
    untested = render("firing", [alert()])
    assert "TEST" not in header(untested)
    assert "test-notify" not in all_mrkdwn(untested)


def test_resolved_original_marks_only_resolved_alerts() -> None:
    """The updated firing message marks resolved trunks; the header waits until all are."""
    docs = [alert("t-1", value=1900.0), alert("t-2", value=1800.0), alert("t-3", value=1700.0)]
    message = render_resolved_original(docs, {"alert-t-2"})
    trunks = sections(message)[1:]
    assert ["✅ resolved" in s.splitlines()[0] for s in trunks] == [False, True, False]
    assert "✅ 1 of 3 trunks resolved" in sections(message)[0]
    assert header(message) == "🔴 Critical: AI agent answers slowly — 3 trunks"
    assert message["text"].startswith("🔴 Critical (1 of 3 resolved): ")
    assert "t-2 1,800 ms (resolved)" in message["text"]
    assert [s.splitlines()[0] for s in trunks] == [
        s.splitlines()[0] + (" · ✅ resolved" if i == 1 else "")
        for i, s in enumerate(sections(render("firing", docs))[1:])
    ]


def test_resolved_original_says_resolved_once_all_are() -> None:
    """With every alert resolved, the header and fallback of the update say resolved."""
    docs = [alert("t-1"), alert("t-2")]
    message = render_resolved_original(docs, {"alert-t-1", "alert-t-2"})
    assert header(message) == "✅ Resolved: AI agent answers slowly — 2 trunks"
    assert message["text"].startswith("✅ Resolved: ")
    single = render_resolved_original([alert()], ["alert-t-1"])
    assert header(single) == "✅ Resolved: AI agent answers slowly"
    assert sections(single)[0].endswith("\n✅ resolved")


def test_resolved_original_counts_resolved_among_the_hidden_trunks() -> None:
    """Trunks past the block budget are still marked on the closing line."""
    docs = [alert(f"t-{i:02}", value=2000.0 - i) for i in range(30)]
    message = render_resolved_original(docs, {"alert-t-29"})
    closing = message["blocks"][-1]["elements"][0]["text"]
    assert closing.startswith("…and 10 more trunks (1 resolved): ")
    assert "✅ t-29 1,971 ms" in closing


def test_one_hidden_trunk_is_singular() -> None:
    """The closing line counts in good English: one more trunk."""
    docs = [alert(f"t-{i:02}", value=2000.0 - i) for i in range(21)]
    closing = render("firing", docs)["blocks"][-1]["elements"][0]["text"]
    assert closing == "…and 1 more trunk: t-20 1,980 ms"


# ---------------------------------------------------------------------------------------
# Property


@settings(max_examples=200, deadline=None)
@given(
    call_ids=st.lists(st.text(), min_size=1, max_size=5),
    trunk=st.text(),
    summary=st.text(),
    reason=st.text(),
    raw_urls=st.booleans(),
    grouped=st.booleans(),
    event=st.sampled_from(["firing", "escalated", "deescalated", "repeat", "resolved"]),
)
def test_outside_text_never_makes_markup(
    call_ids: list[str],
    trunk: str,
    summary: str,
    reason: str,
    raw_urls: bool,
    grouped: bool,
    event: str,
) -> None:
    """Whatever the ids, summary and reason, the only < > are our links to our URLs."""
    calls = [call(c, url=f"{DASH}/calls/{c}" if raw_urls else "") for c in call_ids]
    doc = alert(trunk, summary=summary, reason=reason, runbook_url=RUNBOOK, offending_calls=calls)
    docs = [doc, alert(trunk + "x", value=None, reason=reason)] if grouped else [doc]
    message = render(event, docs)
    assert_within_limits(message)
    assert_only_our_markup(message)
    for text in mrkdwn_texts(message):
        for url, _label in OUR_LINK.findall(text):
            assert url.startswith((f"{DASH}/", RUNBOOK))
