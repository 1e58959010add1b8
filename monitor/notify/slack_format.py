"""Slack messages from alert documents: Block Kit blocks plus a plain-text fallback. Pure.

One message per notification. All its alerts belong to one rule and share one event; a
carrier outage across 40 trunks is one message listing them worst first, not 40.

Safety, because every id, summary, label and reason here comes from the API or a config
file and is shown to people who click:

- Every such string goes through :func:`escape` (and loses its control characters)
  before it enters mrkdwn or the fallback ``text``, so ``<!channel>`` or
  ``<https://evil|click>`` is shown as typed and never becomes a mention or a link.
- The only raw ``<`` and ``>`` in the output are our own links ``<url|label>``; the URL
  part is escaped too, with ``|`` and whitespace percent-encoded, and only ``http(s)``
  URLs become links at all.
- mrkdwn text objects are ``verbatim``, so Slack does not turn a bare ``@channel``,
  ``#channel`` or URL in the text into a mention or a link either.
- Headers are ``plain_text``: Slack parses nothing there, so they are not escaped.

Slack's limits are kept by construction, not hoped for: at most :data:`MAX_BLOCKS`
blocks, section and context text at most :data:`MAX_TEXT` characters, headers at most
:data:`MAX_HEADER`, and lengths are counted in UTF-16 units as Slack counts them. Text is
shortened with "…" and never cut inside an escape (``&amp;``) or inside one of our links.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from monitor.attribution import component_name
from monitor.config import format_duration
from monitor.notify.document import detail_line, unit_of
from monitor.notify.slack_text import (
    _URL_CAP,
    MAX_HEADER,
    MAX_TEXT,
    _clip,
    _context,
    _fit,
    _header,
    _link,
    _md,
    _plain,
    _section,
    _width,
    escape,
)

__all__ = [
    "MAX_BLOCKS",
    "MAX_HEADER",
    "MAX_TEXT",
    "MAX_TRUNK_SECTIONS",
    "escape",
    "render",
    "render_resolved_original",
]

#: Slack refuses a message with more blocks than this.
MAX_BLOCKS: Final = 50
#: Trunks that get a section of their own in a grouped message. Past this a message is a
#: wall nobody reads at 3 a.m.; the rest are listed on one closing line.
MAX_TRUNK_SECTIONS: Final = 20
#: Offending calls shown per alert (the document carries at most this many anyway).
WORST_CALLS: Final = 5

# Per-field caps, so one huge value cannot push the rest of a section out.
_SUMMARY_CAP: Final = 1000
_REASON_CAP: Final = 300
_ID_CAP: Final = 120
_LABELS_CAP: Final = 600

_TEST_NOTE: Final = (
    "🧪 *This is a test.* It was sent by `telepath-monitor test-notify` to check this "
    "notifier; no action is needed."
)
_SEVERITY: Final = {"critical": "🔴", "warning": "🟠"}
_RANK: Final = {"critical": 0, "warning": 1}
# How each op reads, in mrkdwn (already escaped) and in words for the fallback text.
_SYMBOL: Final = {">": "&gt;", ">=": "≥", "<": "&lt;", "<=": "≤"}
_BACK: Final = {">": "≤", ">=": "&lt;", "<": "≥", "<=": "&gt;"}
_WORDS: Final = {">": "above", ">=": "at or above", "<": "below", "<=": "at or below"}


def render(
    event: str, alerts: Sequence[Mapping[str, Any]], *, test: bool = False
) -> dict[str, Any]:
    """The message announcing ``event`` for these alerts of one rule, ready to post.

    Returns ``{"text": fallback, "blocks": [...]}`` for ``chat.postMessage`` or an
    incoming webhook. One alert gets a detailed message; several get one section per
    trunk, worst first. ``test`` marks the message as a test everywhere it shows.
    """
    return _render(event, alerts, test=test, resolved=None)


def render_resolved_original(
    alerts: Sequence[Mapping[str, Any]], resolved_ids: Collection[str]
) -> dict[str, Any]:
    """The original firing message again, for ``chat.update``, marking what has resolved.

    ``alerts`` are the documents the original message was rendered from (so it keeps its
    order and content); each alert whose ``id`` is in ``resolved_ids`` is marked
    "✅ resolved", and the header says resolved once all of them are.
    """
    event = str(alerts[0].get("event") or "firing") if alerts else "firing"
    if event == "resolved":
        event = "firing"
    return _render(event, alerts, test=False, resolved=frozenset(resolved_ids))


# ---------------------------------------------------------------------------------------
# Messages


def _render(
    event: str,
    alerts: Sequence[Mapping[str, Any]],
    *,
    test: bool,
    resolved: frozenset[str] | None,
) -> dict[str, Any]:
    if not alerts:
        raise ValueError("a Slack message needs at least one alert")
    ordered = _worst_first(alerts, event)
    first = ordered[0]
    marks = [resolved is not None and str(a.get("id")) in resolved for a in ordered]
    title = _title(event, _worst_severity(ordered))
    if resolved is not None and all(marks):
        title = "✅ Resolved"
    prefix = "[TEST] " if test else ""
    summary = _plain(first.get("summary")) or _plain(first.get("rule")) or "alert"
    count = f" — {len(ordered)} trunks" if len(ordered) > 1 else ""
    header_text = f"{prefix}{title}: {summary}{count}"

    blocks: list[dict[str, Any]] = [_header(header_text)]
    if test:
        blocks.append(_section(_TEST_NOTE))
    # The header keeps only the start of a long summary: the full one goes below.
    lead = _clip(escape(summary), _SUMMARY_CAP) if _width(header_text) > MAX_HEADER else ""
    if len(ordered) == 1:
        blocks += _single_blocks(event, first, lead=lead, resolved=marks[0])
    else:
        blocks += _grouped_blocks(event, ordered, marks, lead=lead, used=len(blocks))

    if len(ordered) == 1:
        fallback = _single_fallback(event, first, marks[0])
    else:
        fallback = _grouped_fallback(event, ordered, marks)
    if resolved is not None and not all(marks) and any(marks):
        title += f" ({sum(marks)} of {len(marks)} resolved)"
    note = "[TEST] (test-notify, no action needed) " if test else ""
    text = f"{note}{escape(title)}: {_md(summary, _SUMMARY_CAP)} — {fallback}"
    return {"text": _clip(text, MAX_TEXT), "blocks": blocks}


def _single_blocks(
    event: str, doc: Mapping[str, Any], *, lead: str, resolved: bool
) -> list[dict[str, Any]]:
    """The header's companions for one alert: the facts, the worst calls, the context."""
    lines = [lead] if lead else []
    lines.append(_headline(event, doc))
    where = f"*Trunk:* {_where_md(doc)}"
    if doc.get("window_seconds") is None:
        lines.append(f"{where}   *Source:* account overview")
    else:
        number = _float(doc.get("calls_in_window"))
        count = "?" if number is None else _decimal(number)
        lines.append(f"{where}   *Window:* {_window(doc)}   *Calls in window:* {count}")
    why = _attribution_md(doc)
    if why and event != "resolved":
        lines.append(why)
    runbook = _runbook(doc)
    if runbook:
        lines.append(runbook)
    if resolved:
        lines.append("✅ resolved")
    blocks = [_section(_fit(lines, "\n", MAX_TEXT))]

    details = _details_md(doc)
    if details:
        blocks.append(_section(_fit(["*Worst calls in detail*", *details], "\n", MAX_TEXT)))
    calls = _calls(doc)
    if calls and event not in ("resolved", "details"):
        account = not _trunk(doc)
        items = [f"• {_call_md(doc, c, with_trunk=account)}" for c in calls]
        blocks.append(_section(_fit(["*Worst calls*", *items], "\n", MAX_TEXT)))

    context = [f"Rule: {_md(doc.get('rule'), _ID_CAP)}", f"Alert: {_md(doc.get('id'), _ID_CAP)}"]
    context.append(_timing(event, doc))
    labels = _labels(doc)
    if labels:
        context.append(labels)
    blocks.append(_context(context))
    return blocks


def _grouped_blocks(
    event: str,
    ordered: Sequence[Mapping[str, Any]],
    marks: Sequence[bool],
    *,
    lead: str,
    used: int,
) -> list[dict[str, Any]]:
    """One overview, then a compact section per trunk while the block budget lasts.

    ``used`` is how many blocks come before these (header, test note).
    """
    first = ordered[0]
    lines = [lead] if lead else []
    what = f"*{_md(_what(first), _ID_CAP)}*"
    scope = (
        "account overview" if first.get("window_seconds") is None else f"window {_window(first)}"
    )
    verb = "back to normal" if event == "resolved" else "affected"
    lines.append(f"*{len(ordered)} trunks* {verb} · {what} · {scope}")
    thresholds = _thresholds_md(ordered)
    if thresholds:
        lines.append(f"*Thresholds:* {thresholds}")
    if any(marks):
        lines.append(f"✅ {sum(marks)} of {len(marks)} trunks resolved")
    runbook = _runbook(first)
    if runbook:
        lines.append(runbook)
    blocks = [_section(_fit(lines, "\n", MAX_TEXT))]
    context = [f"Rule: {_md(first.get('rule'), _ID_CAP)}"]
    labels = _labels(first)
    if labels:
        context.append(labels)
    blocks.append(_context(context))

    # When not all fit, one block stays free for the closing "…and N more trunks".
    room = MAX_BLOCKS - used - len(blocks)
    shown = len(ordered)
    if shown > min(room, MAX_TRUNK_SECTIONS):
        shown = min(room - 1, MAX_TRUNK_SECTIONS)
    for doc, mark in zip(ordered[:shown], marks[:shown], strict=True):
        blocks.append(_section(_trunk_md(event, doc, mark)))
    if shown < len(ordered):
        blocks.append(_context([_more_md(event, ordered[shown:], marks[shown:])]))
    return blocks


def _trunk_md(event: str, doc: Mapping[str, Any], resolved: bool) -> str:
    """One trunk of a grouped message: its value, then its worst calls on one line."""
    where = _where_md(doc)
    if event == "resolved":
        line = f"✅ *{where}* peak *{_peak(doc)}* → {_value_md(doc)}{_compare(doc, back=True)}"
    else:
        line = f"{_severity_emoji(doc)} *{where}* {_value_md(doc)}{_compare(doc, back=False)}"
        if doc.get("window_seconds") is not None:
            line += f" · {_count(doc.get('calls_in_window'))}"
        why = _headline_of(doc)
        if why:
            line += f" · {why}"
    if resolved:
        line += " · ✅ resolved"
    details = _details_md(doc)
    if details and event == "details":
        return _fit([line, *details], "\n", MAX_TEXT)
    calls = _calls(doc)
    if not calls or event == "resolved":
        return _clip(line, MAX_TEXT)
    items = [_call_md(doc, c, with_trunk=False) for c in calls]
    budget = MAX_TEXT - _width(line) - 1
    return line + "\n" + _fit(items, " · ", budget) if budget > 10 else _clip(line, MAX_TEXT)


def _more_md(event: str, rest: Sequence[Mapping[str, Any]], marks: Sequence[bool]) -> str:
    """The closing line: how many trunks did not fit, then as many of them as fit."""
    done = sum(marks)
    noun = "trunk" if len(rest) == 1 else "trunks"
    head = f"…and {len(rest)} more {noun}" + (f" ({done} resolved)" if done else "")
    items = []
    for doc, mark in zip(rest, marks, strict=True):
        value = _peak(doc) if event == "resolved" else _amount(doc, doc.get("value"))
        items.append(f"{'✅ ' if mark else ''}{_trunk_shown(doc)} {value}")
    return head + ": " + _fit(items, ", ", MAX_TEXT - _width(head) - 2)


def _single_fallback(event: str, doc: Mapping[str, Any], resolved: bool) -> str:
    """Plain words for one alert: where, what, value against threshold."""
    where = _where_plain(doc)
    what = escape(_what(doc))
    value = _amount(doc, doc.get("value"), reason=True)
    threshold = _float(doc.get("threshold"))
    op = str(doc.get("op") or ">")
    words = _WORDS.get(op, escape(op))
    text = f"{where}: {what} {value}"
    if event == "resolved":
        if threshold is not None and _float(doc.get("value")) is not None:
            text += f", no longer {words} {_amount(doc, threshold)}"
        text += f" (peak {_peak(doc)})"
    else:
        if threshold is not None and _float(doc.get("value")) is not None:
            severity = escape(_plain(doc.get("severity")))
            text += f", {words} the {severity} threshold of {_amount(doc, threshold)}"
        text += ", " + _window_words(doc)
    if resolved:
        text += " (resolved)"
    return text


def _grouped_fallback(
    event: str, ordered: Sequence[Mapping[str, Any]], marks: Sequence[bool]
) -> str:
    """Plain words for many alerts: what and thresholds first, then each trunk's value."""
    first = ordered[0]
    head = f"{len(ordered)} trunks, {escape(_what(first))} {_window_words(first)}"
    thresholds = _thresholds_words(ordered)
    if thresholds and event != "resolved":
        head += f" ({thresholds})"
    items = []
    for doc, mark in zip(ordered, marks, strict=True):
        where = _trunk_shown(doc) or "all trunks"
        item = f"{where} {_amount(doc, doc.get('value'))}"
        if event == "resolved":
            item += f" (peak {_peak(doc)})"
        items.append(item + (" (resolved)" if mark else ""))
    return f"{head}: " + "; ".join(items)


# ---------------------------------------------------------------------------------------
# Pieces of text


def _title(event: str, severity: str) -> str:
    """The header's opening words; plain text with no outside input but the severity."""
    word = _plain(severity) or "firing"
    if event == "resolved":
        return "✅ Resolved"
    if event == "escalated":
        return f"⏫ Escalated to {word}"
    if event == "deescalated":
        return f"⏬ Down to {word}"
    if event == "repeat":
        return f"🔁 Still {word}"
    if event == "details":
        return "🔎 Details"
    return f"{_SEVERITY.get(word, '⚪')} {word.capitalize()}"


def _headline(event: str, doc: Mapping[str, Any]) -> str:
    """The main line of a single alert: the statistic, its value and the threshold."""
    what = f"*{_md(_what(doc), _ID_CAP)}*"
    if event == "resolved":
        return (
            f"{what} peaked at *{_peak(doc)}*; at resolution {_value_md(doc)}"
            f"{_compare(doc, back=True)}"
        )
    line = f"{_severity_emoji(doc)} {what} is {_value_md(doc)}{_compare(doc, back=False)}"
    if _float(doc.get("value")) is not None and _float(doc.get("threshold")) is not None:
        line += f" ({_md(doc.get('severity'), _ID_CAP)} threshold)"
    return line


def _value_md(doc: Mapping[str, Any]) -> str:
    """``*1,620 ms*``, or ``*no data* (why)``."""
    if _float(doc.get("value")) is not None:
        return f"*{_amount(doc, doc.get('value'))}*"
    reason = _md(doc.get("reason"), _REASON_CAP)
    return "*no data*" + (f" ({reason})" if reason else "")


def _compare(doc: Mapping[str, Any], *, back: bool) -> str:
    """`` > 1,500 ms`` (or, once resolved, the side it came back to); empty without data."""
    threshold = _float(doc.get("threshold"))
    if threshold is None or _float(doc.get("value")) is None:
        return ""
    op = str(doc.get("op") or ">")
    symbol = (_BACK if back else _SYMBOL).get(op, escape(op))
    return f" {symbol} {_amount(doc, threshold)}"


def _thresholds(ordered: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]:
    """Each (severity, threshold) the alerts use, most severe first."""
    seen: dict[tuple[str, float], None] = {}
    for doc in ordered:
        threshold = _float(doc.get("threshold"))
        if threshold is not None:
            seen[(_plain(doc.get("severity")), threshold)] = None
    return sorted(seen, key=lambda pair: (_RANK.get(pair[0], 2), pair[0], pair[1]))


def _thresholds_md(ordered: Sequence[Mapping[str, Any]]) -> str:
    op = str(ordered[0].get("op") or ">")
    symbol = _SYMBOL.get(op, escape(op))
    parts = [
        f"{escape(sev)} {symbol} {_amount(ordered[0], thr)}" for sev, thr in _thresholds(ordered)
    ]
    return _fit(parts, " · ", _SUMMARY_CAP)


def _thresholds_words(ordered: Sequence[Mapping[str, Any]]) -> str:
    op = str(ordered[0].get("op") or ">")
    words = _WORDS.get(op, escape(op))
    parts = [
        f"{escape(sev)} {words} {_amount(ordered[0], thr)}" for sev, thr in _thresholds(ordered)
    ]
    return _fit(parts, ", ", _SUMMARY_CAP)


def _what(doc: Mapping[str, Any]) -> str:
    """``p95 ai_latency_ms``, or just the metric when it has no statistic (plain)."""
    stat, metric = _plain(doc.get("stat")), _plain(doc.get("metric"))
    return f"{stat} {metric}" if stat else metric or "value"


def _window(doc: Mapping[str, Any]) -> str:
    seconds = _float(doc.get("window_seconds"))
    if seconds is None or seconds < 0:
        return "?"
    return format_duration(timedelta(seconds=seconds))


def _window_words(doc: Mapping[str, Any]) -> str:
    if doc.get("window_seconds") is None:
        return "from the account overview"
    return f"over {_window(doc)}"


def _trunk(doc: Mapping[str, Any]) -> str:
    """The alert's trunk id (plain), empty for an account-wide alert."""
    group = doc.get("group")
    return _plain(group.get("trunk_id")) if isinstance(group, Mapping) else ""


def _trunk_shown(doc: Mapping[str, Any]) -> str:
    """``Support line EU (conn_sim02)`` (escaped), the id alone without a name, or ""."""
    trunk = _trunk(doc)
    group = doc.get("group")
    name = _plain(group.get("trunk_name")) if isinstance(group, Mapping) else ""
    if not trunk or not name:
        return _md(trunk, _ID_CAP)
    return f"{_md(name, _ID_CAP)} ({_md(trunk, _ID_CAP)})"


def _where_md(doc: Mapping[str, Any]) -> str:
    """The trunk, linked to its dashboard page when there is one; or ``all trunks``."""
    if not _trunk(doc):
        return "all trunks"
    links = doc.get("links")
    url = links.get("trunk") if isinstance(links, Mapping) else None
    return _link(url, _trunk_shown(doc))


def _where_plain(doc: Mapping[str, Any]) -> str:
    return f"trunk {_trunk_shown(doc)}" if _trunk(doc) else "all trunks"


def _calls(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    calls = doc.get("offending_calls")
    if not isinstance(calls, Sequence) or isinstance(calls, str):
        return []
    return [c for c in calls if isinstance(c, Mapping)][:WORST_CALLS]


def _call_md(doc: Mapping[str, Any], call: Mapping[str, Any], *, with_trunk: bool) -> str:
    """``<url|call-id> 2,900 ms``: the call linked to its drill-down, and why it is here."""
    label = _md(call.get("id"), _ID_CAP) or "(no id)"
    metric = str(doc.get("metric"))
    if unit_of(metric) == "ms":
        value = _call_latency(call, metric)
        detail = "no latency data" if value is None else _amount(doc, value)
    else:
        detail = _md(call.get("status"), _ID_CAP) or "unknown status"
    text = f"{_link(call.get('url'), label)} {detail}"
    trunk = _md(call.get("trunk_id"), _ID_CAP)
    return f"{text} · trunk {trunk}" if with_trunk and trunk else text


def _call_latency(call: Mapping[str, Any], metric: str) -> float | None:
    """The call's value of a latency metric; a total needs all three components."""
    if metric != "total_latency_ms":
        return _float(call.get(metric))
    parts = [
        _float(call.get(k)) for k in ("ai_latency_ms", "carrier_lag_ms", "gateway_processing_ms")
    ]
    return None if None in parts else math.fsum(p for p in parts if p is not None)


def _headline_of(doc: Mapping[str, Any]) -> str:
    """The attribution's headline, escaped, or ""."""
    attribution = doc.get("attribution")
    if not isinstance(attribution, Mapping):
        return ""
    return _md(attribution.get("headline"), _REASON_CAP)


def _attribution_md(doc: Mapping[str, Any]) -> str:
    """``*Why:* carrier lag +420 ms, 83% of the rise`` and each component's figures."""
    attribution = doc.get("attribution")
    headline = _headline_of(doc)
    if not isinstance(attribution, Mapping) or not headline:
        return ""
    parts = []
    for item in attribution.get("components") or []:
        if not isinstance(item, Mapping):
            continue
        value = _float(item.get("value_ms"))
        if value is None:
            continue
        text = f"{escape(component_name(_plain(item.get('metric'))))} {_decimal(value)} ms"
        was, share = _float(item.get("baseline_ms")), _float(item.get("share"))
        if was is not None:
            text += f" (was {_decimal(was)} ms"
            text += f", {share:.0%} of the change)" if share is not None else ")"
        parts.append(text)
    line = f"*Why:* {headline}"
    return line + ("\n" + " · ".join(parts) if parts else "")


def _details_md(doc: Mapping[str, Any]) -> list[str]:
    """One line per call of ``call_details``, linked, outside text escaped."""
    details = doc.get("call_details")
    if not isinstance(details, Sequence) or isinstance(details, str):
        return []
    out = []
    for detail in details:
        if not isinstance(detail, Mapping):
            continue
        line = _md(detail_line(detail), _SUMMARY_CAP)
        label = _md(detail.get("id"), _ID_CAP)
        if label and line.startswith(label):
            line = _link(detail.get("url"), label) + line[len(label) :]
        out.append(f"• {line}")
    return out


def _runbook(doc: Mapping[str, Any]) -> str:
    url = doc.get("runbook_url")
    if not isinstance(url, str) or not url:
        return ""
    linked = _link(url, "Runbook")
    return f"📖 {linked}" if linked != "Runbook" else f"📖 Runbook: {_md(url, _URL_CAP)}"


def _labels(doc: Mapping[str, Any]) -> str:
    labels = doc.get("labels")
    if not isinstance(labels, Mapping) or not labels:
        return ""
    parts = [f"{_md(k, _ID_CAP)}={_md(v, _ID_CAP)}" for k, v in sorted(labels.items(), key=str)]
    return _fit(parts, " · ", _LABELS_CAP)


def _timing(event: str, doc: Mapping[str, Any]) -> str:
    """When it started; once resolved, how long it lasted."""
    started, ended = _time(doc.get("started_at")), _time(doc.get("resolved_at"))
    if event == "resolved" and started is not None and ended is not None and ended >= started:
        lasted = format_duration(timedelta(seconds=int((ended - started).total_seconds())))
        return f"Lasted {lasted} (since {started:%Y-%m-%d %H:%M} UTC)"
    if started is not None:
        return f"Since {started:%Y-%m-%d %H:%M} UTC"
    return f"Since {_md(doc.get('started_at'), _ID_CAP) or 'unknown'}"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# ---------------------------------------------------------------------------------------
# Numbers


def _amount(doc: Mapping[str, Any], value: Any, *, reason: bool = False) -> str:
    """A value in the metric's unit: ``1,620 ms``, ``7.5%``, ``0 calls``; or ``no data``."""
    number = _float(value)
    if number is None:
        why = _md(doc.get("reason"), _REASON_CAP) if reason else ""
        return f"no data ({why})" if why else "no data"
    unit = unit_of(str(doc.get("metric")))
    if unit == "ratio":
        return f"{_decimal(number * 100)}%"
    if unit == "calls":
        return _count(number)
    return f"{_decimal(number)} ms"


def _peak(doc: Mapping[str, Any]) -> str:
    return _amount(doc, doc.get("peak_value"))


def _count(value: Any) -> str:
    number = _float(value)
    if number is None:
        return "? calls"
    return f"{_decimal(number)} call" + ("" if number == 1 else "s")


def _decimal(value: float) -> str:
    """Thousands separators; whole numbers from 100 up, two decimals at most below."""
    if abs(value) >= 100 or value == int(value):
        return f"{round(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _float(value: Any) -> float | None:
    """A finite number, or None (documents are JSON: anything may be there)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# ---------------------------------------------------------------------------------------
# Ordering


def _worst_first(alerts: Sequence[Mapping[str, Any]], event: str) -> list[Mapping[str, Any]]:
    """Worst first: with data before without, critical before warning, then by value.

    "Worst" follows the op: highest first for ``>``/``>=``, lowest first for ``<``/``<=``.
    A resolved message ranks by the peak, since every value at resolution is fine.
    """

    def key(doc: Mapping[str, Any]) -> tuple[bool, int, float, str]:
        value = _float(doc.get("value"))
        if event == "resolved":
            value = _float(doc.get("peak_value")) if doc.get("peak_value") is not None else value
        lower_is_worse = str(doc.get("op")) in ("<", "<=")
        directed = 0.0 if value is None else (value if lower_is_worse else -value)
        rank = _RANK.get(str(doc.get("severity")), 2)
        return (value is None, rank, directed, _trunk(doc))

    return sorted(alerts, key=key)


def _worst_severity(alerts: Iterable[Mapping[str, Any]]) -> str:
    severities = [_plain(a.get("severity")) for a in alerts]
    return min(severities, key=lambda s: _RANK.get(s, 2))


def _severity_emoji(doc: Mapping[str, Any]) -> str:
    return _SEVERITY.get(str(doc.get("severity")), "⚪")
