"""The status page: what is firing and pending, silences in force, and how the API sync goes.

Two steps, so the page can be tested without a daemon and the daemon read only briefly:

- :func:`snapshot` turns what the daemon copied out under its lock (alert states, the
  last observations, silences, sync health, the client's rate-limit state) into frozen
  records (:class:`StatusSnapshot`). The daemon calls it; this module never sees the daemon.
- :func:`render` is pure: a snapshot in, one self-contained HTML5 document out. Inline CSS,
  no scripts, no external assets, a meta refresh every 30 seconds, laid out for phones first.

Everything that reaches the page from the API or the config (call and trunk ids, summaries,
error messages, silence comments) goes through :func:`html.escape`; links are made only of
``http``/``https`` URLs, anything else is shown as text. The page only reads: nothing on it
changes state, so it needs no forms and no authentication beyond the listen address.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, Literal
from urllib.parse import urlsplit

from monitor import __version__
from monitor.alerts import AlertState
from monitor.config import Links, Rule
from monitor.models import Call
from monitor.notify.document import format_value
from monitor.pipeline import SYNC_FAILING
from monitor.quiet import Silence
from monitor.reports.trends import TrendRow, render_trends
from monitor.rules import Observation
from monitor.slo.views import SloRow, render_slos
from monitor.sync import SyncHealth
from monitor.trunks import TrunkInfo, trunk_label

__all__ = [
    "REFRESH_SECONDS",
    "AlertView",
    "EndpointHealth",
    "SilenceView",
    "StatusSnapshot",
    "SyncStatus",
    "WorstCall",
    "render",
    "snapshot",
]

#: How often the page reloads itself.
REFRESH_SECONDS: Final = 30

#: How a value reads: the units of :func:`monitor.notify.document.format_value`, plus
#: seconds for the daemon's own sync-failing alert (its value is how long sync has failed).
Unit = Literal["ms", "ratio", "calls", "seconds"]


@dataclass(frozen=True, slots=True)
class WorstCall:
    """One of the calls that explain an alert's value, with its drill-down link."""

    id: str
    trunk_id: str
    status: str
    start_time: datetime
    #: The call's value of the rule's metric (None for failed-call and count rules).
    latency_ms: float | None
    #: ``links.call`` filled in, or None when no call link is configured.
    url: str | None


@dataclass(frozen=True, slots=True)
class AlertView:
    """One pending or firing alert as the page shows it."""

    rule: str
    summary: str | None
    #: The trunk, or None for an account-wide alert.
    group: str | None
    state: Literal["pending", "firing"]
    severity: str | None
    metric: str
    stat: str | None
    unit: Unit
    value: float | None
    threshold: float | None
    op: str
    #: When it started firing, or when it became pending.
    since: datetime | None
    #: Why its notifications are held (silence, maintenance window, inhibition), or None.
    held: str | None
    calls_in_window: int | None
    worst_calls: tuple[WorstCall, ...] = ()
    trunk_url: str | None = None
    runbook_url: str | None = None
    #: The trunk's name from the catalogue, and whether it is switched off.
    trunk_name: str | None = None
    trunk_inactive: bool = False
    #: For a ``compare:`` rule: the baseline the threshold came from, and which one.
    baseline: float | None = None
    baseline_of: str | None = None


@dataclass(frozen=True, slots=True)
class SilenceView:
    """A silence in force."""

    id: str
    rule: str
    trunk: str
    starts_at: datetime
    until: datetime
    comment: str
    by: str


@dataclass(frozen=True, slots=True)
class EndpointHealth:
    """How polling of one API endpoint goes (a copy of :class:`~monitor.sync.SyncHealth`)."""

    endpoint: str
    last_success: datetime | None
    last_attempt: datetime | None
    failing_since: datetime | None
    consecutive_failures: int
    last_error: str | None
    key_refused: bool


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """The daemon's view of the API: both endpoints, the sync position and readiness."""

    calls: EndpointHealth
    overview: EndpointHealth
    #: Calls are synced up to here.
    watermark: datetime | None
    ready: bool
    ready_reason: str
    #: Requests left this minute and the limit, once the API has said.
    rate_limit_remaining: int | None = None
    rate_limit: int | None = None


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """Everything the status page shows, as of ``generated_at``."""

    generated_at: datetime
    version: str
    #: Firing first (critical before warning), then pending; oldest first within each.
    alerts: tuple[AlertView, ...]
    silences: tuple[SilenceView, ...]
    sync: SyncStatus
    rules: int = 0
    #: Per trunk: last hour and a 24-hour sparkline, worst first (monitor.reports.trends).
    trends: tuple[TrendRow, ...] = ()
    #: Each SLO per group (monitor.slo.views); the section shows only when configured.
    slos: tuple[SloRow, ...] = ()

    @property
    def firing(self) -> tuple[AlertView, ...]:
        return tuple(a for a in self.alerts if a.state == "firing")

    @property
    def pending(self) -> tuple[AlertView, ...]:
        return tuple(a for a in self.alerts if a.state == "pending")


# --- from what the daemon copied ----------------------------------------------------------


def snapshot(
    now: datetime,
    *,
    states: Iterable[AlertState],
    rules: Mapping[str, Rule],
    latest: Mapping[tuple[str, str | None], Observation],
    links: Links,
    silences: Iterable[Silence],
    calls: SyncHealth,
    overview: SyncHealth,
    watermark: datetime | None,
    readiness: tuple[bool, str],
    rate_limit: int | None,
    rate_limit_remaining: int | None,
    trends: Iterable[TrendRow] = (),
    slos: Iterable[SloRow] = (),
    trunks: Mapping[str, TrunkInfo] | None = None,
) -> StatusSnapshot:
    """The page's records from the daemon's state as of ``now``.

    Args:
        rules: every rule by name, the daemon's own sync-failing rule included.
        latest: the last evaluation's observations by (rule, group).
        rate_limit: the key's budget per minute as the API advertised it, None until
            it sent rate-limit headers (then ``rate_limit_remaining`` is not shown).
        trends: per trunk, the last hour and a 24-hour sparkline, worst first.
        trunks: the trunk catalogue by id, for the trunks' names.
    """
    trunks = trunks or {}
    alerts = sorted(
        (
            _named(
                _alert(st, rules.get(st.rule), latest.get(st.key), links, SYNC_FAILING),
                trunks.get(st.group) if st.group else None,
            )
            for st in states
            if st.state != "inactive"
        ),
        key=_alert_order,
    )
    ready, reason = readiness
    return StatusSnapshot(
        generated_at=now,
        version=__version__,
        alerts=tuple(alerts),
        silences=tuple(_silence(s) for s in silences),
        sync=SyncStatus(
            calls=_endpoint("/calls", calls),
            overview=_endpoint("/analytics/overview", overview),
            watermark=watermark,
            ready=ready,
            ready_reason=reason,
            rate_limit_remaining=rate_limit_remaining if rate_limit else None,
            rate_limit=rate_limit or None,
        ),
        rules=len([name for name in rules if name != SYNC_FAILING]),
        trends=tuple(trends),
        slos=tuple(slos),
    )


def _alert(
    st: AlertState, rule: Rule | None, obs: Observation | None, links: Links, own: str
) -> AlertView:
    metric = rule.metric if rule is not None else ""
    # The daemon's own sync-failing alert counts seconds of failure, not calls.
    seconds = st.rule == own
    threshold = None
    if obs is not None and obs.rule.compare is not None:
        rule = obs.rule  # this evaluation's thresholds, set from the baseline
    if rule is not None and st.severity is not None:
        threshold = rule.critical if st.severity == "critical" else rule.warning
    compare = None if rule is None else rule.compare
    worst = () if obs is None else tuple(_worst(c, metric, links) for c in obs.offending)
    trunk_url = None if st.group is None else links.trunk_url(st.group)
    return AlertView(
        rule=st.rule,
        summary=rule.summary if rule is not None else None,
        group=st.group,
        state="firing" if st.state == "firing" else "pending",
        severity=st.severity,
        metric=metric,
        stat=rule.stat if rule is not None else None,
        unit="seconds" if seconds else _unit(metric),
        value=st.last_value,
        threshold=threshold,
        op=rule.op if rule is not None else "",
        since=st.started_at if st.state == "firing" else st.pending_since,
        held=st.held,
        calls_in_window=obs.calls if obs is not None and _counts_calls(rule) else None,
        worst_calls=worst,
        trunk_url=trunk_url,
        runbook_url=rule.runbook_url if rule is not None else None,
        baseline=None if obs is None else obs.baseline,
        baseline_of=None if compare is None else str(compare.baseline),
    )


def _named(alert: AlertView, info: TrunkInfo | None) -> AlertView:
    if info is None:
        return alert
    return replace(alert, trunk_name=info.name, trunk_inactive=not info.active)


def _counts_calls(rule: Rule | None) -> bool:
    return rule is not None and rule.source == "calls"


def _worst(call: Call, metric: str, links: Links) -> WorstCall:
    latency = None
    if metric.endswith("_ms"):
        latency = call.latency(metric)
    url = links.call_url(call.id, call.trunk_id)
    return WorstCall(call.id, call.trunk_id, call.status, call.start_time, latency, url)


def _unit(metric: str) -> Unit:
    if metric == "failed_ratio":
        return "ratio"
    if metric == "call_count":
        return "calls"
    return "ms"


def _alert_order(alert: AlertView) -> tuple[int, int, float, str, str]:
    since = alert.since.timestamp() if alert.since is not None else 0.0
    return (
        alert.state != "firing",
        alert.severity != "critical",
        since,
        alert.rule,
        alert.group or "",
    )


def _endpoint(name: str, health: SyncHealth) -> EndpointHealth:
    return EndpointHealth(
        endpoint=name,
        last_success=health.last_success,
        last_attempt=health.last_attempt,
        failing_since=health.failing_since,
        consecutive_failures=health.consecutive_failures,
        last_error=health.last_error,
        key_refused=health.key_refused,
    )


def _silence(silence: Silence) -> SilenceView:
    until = silence.ends_at
    if silence.expired_at is not None:
        until = min(until, silence.expired_at)
    return SilenceView(
        id=silence.id,
        rule=silence.rule,
        trunk=silence.trunk,
        starts_at=silence.starts_at,
        until=until,
        comment=silence.comment,
        by=silence.created_by,
    )


# --- to HTML ------------------------------------------------------------------------------


def render(snap: StatusSnapshot) -> str:
    """The page as one HTML5 document; every dynamic string is escaped."""
    now = snap.generated_at
    firing, pending = snap.firing, snap.pending
    parts = [
        _HEAD.format(refresh=REFRESH_SECONDS, css=_CSS),
        _banner(snap),
        '<main>\n<section aria-labelledby="firing"><h2 id="firing">Firing</h2>',
        _alerts(firing, now, empty="Nothing is firing."),
        '</section>\n<section aria-labelledby="pending"><h2 id="pending">Pending</h2>',
        _alerts(
            pending,
            now,
            empty="Nothing pending: no rule is over a threshold and waiting out its "
            "<code>for</code> time.",
        ),
        '</section>\n<section aria-labelledby="silences"><h2 id="silences">Silences</h2>',
        _silences(snap.silences, now),
        *(
            [
                '</section>\n<section aria-labelledby="slos"><h2 id="slos">SLOs</h2>',
                render_slos(snap.slos),
            ]
            if snap.slos
            else []
        ),
        '</section>\n<section aria-labelledby="trends"><h2 id="trends">Trends</h2>',
        render_trends(snap.trends),
        '</section>\n<section aria-labelledby="sync"><h2 id="sync">Telepath API</h2>',
        _sync(snap.sync, now),
        "</section>\n</main>",
        _footer(snap),
        "</body>\n</html>\n",
    ]
    return "\n".join(parts)


def _banner(snap: StatusSnapshot) -> str:
    firing = snap.firing
    critical = sum(1 for a in firing if a.severity == "critical")
    if critical:
        level, text = "critical", _count(len(firing), "alert") + " firing"
    elif firing:
        level, text = "warning", _count(len(firing), "alert") + " firing"
    elif not snap.sync.ready:
        level, text = "degraded", "Nothing firing, but the data is not fresh"
    else:
        level, text = "ok", "All clear: nothing firing"
    detail = []
    if snap.pending:
        detail.append(_count(len(snap.pending), "alert") + " pending")
    if snap.silences:
        detail.append(_count(len(snap.silences), "silence") + " in force")
    detail.append(_count(snap.rules, "rule") + " configured")
    return (
        f'<header class="banner {level}">\n<h1>{_e(text)}</h1>\n'
        f"<p>{_e(', '.join(detail))}</p>\n</header>"
    )


def _alerts(alerts: Sequence[AlertView], now: datetime, *, empty: str) -> str:
    if not alerts:
        return f'<p class="empty">{empty}</p>'
    return '<div class="cards">\n' + "\n".join(_card(a, now) for a in alerts) + "\n</div>"


def _card(alert: AlertView, now: datetime) -> str:
    severity = alert.severity or "unknown"
    where = "account-wide"
    if alert.group is not None:
        where = f"trunk {trunk_label(alert.group, alert.trunk_name)}"
        if alert.trunk_inactive:
            where += " (inactive)"
    trunk = _link(alert.trunk_url, where) if alert.group is not None else _e(where)
    title = _e(alert.summary or alert.rule)
    value = f"<strong>{_value(alert.value, alert)}</strong>"
    if alert.threshold is not None:
        limit = f"{_e(alert.op)} {_value(alert.threshold, alert)}"
        value += f' <span class="muted">(threshold {limit})</span>'
    rows = [
        ("Rule", f"<code>{_e(alert.rule)}</code>"),
        ("Where", trunk),
        ("Value", value),
        ("Firing since" if alert.state == "firing" else "Pending since", _when(alert.since, now)),
    ]
    if alert.baseline_of is not None:
        normal = "no data" if alert.baseline is None else _value(alert.baseline, alert)
        rows.insert(
            3, ("Baseline", f'{normal} <span class="muted">({_e(alert.baseline_of)})</span>')
        )
    if alert.unit != "seconds" and alert.metric:
        stat = f"{alert.stat} of " if alert.stat else ""
        rows.insert(3, ("Metric", f"{_e(stat)}<code>{_e(alert.metric)}</code>"))
    if alert.calls_in_window is not None:
        rows.append(("Calls", _e(f"{alert.calls_in_window:,} in the window")))
    if alert.held:
        rows.append(("Held", _e(alert.held)))
    if alert.runbook_url:
        rows.append(("Runbook", _link(alert.runbook_url, alert.runbook_url)))
    body = "\n".join(f"<dt>{name}</dt><dd>{html_}</dd>" for name, html_ in rows)
    calls = _worst_calls(alert)
    label = severity if alert.state == "firing" else f"pending · {severity}"
    return (
        f'<article class="card {_e(severity)} {alert.state}">\n'
        f'<p class="badge">{_e(label)}</p>\n<h3>{title}</h3>\n'
        f"<dl>\n{body}\n</dl>\n{calls}</article>"
    )


def _worst_calls(alert: AlertView) -> str:
    if not alert.worst_calls:
        return ""
    items = []
    for call in alert.worst_calls:
        detail = call.status if call.latency_ms is None else f"{call.latency_ms:,.0f} ms"
        items.append(
            f"<li>{_link(call.url, call.id, cls='call')} "
            f'<span class="muted">{_e(detail)}</span></li>'
        )
    return '<h4>Worst calls</h4>\n<ol class="calls">\n' + "\n".join(items) + "\n</ol>\n"


def _silences(silences: Iterable[SilenceView], now: datetime) -> str:
    rows = [
        "<tr>"
        f'<td data-label="Rule"><code>{_e(s.rule)}</code></td>'
        f'<td data-label="Trunk"><code>{_e(s.trunk)}</code></td>'
        f'<td data-label="Until">{_when(s.until, now)}</td>'
        f'<td data-label="Comment">{_e(s.comment) or "—"}</td>'
        f'<td data-label="By">{_e(s.by) or "—"}</td>'
        f'<td data-label="Id"><code>{_e(s.id)}</code></td>'
        "</tr>"
        for s in silences
    ]
    if not rows:
        return (
            '<p class="empty">No silences in force. Notifications flow as configured '
            "(<code>telepath-monitor silence add</code> holds them).</p>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("Rule", "Trunk", "Until", "Comment", "By", "Id"))
    return (
        f'<table class="stack">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def _sync(sync: SyncStatus, now: datetime) -> str:
    ready = (
        '<span class="ok-text">ready</span>'
        if sync.ready
        else f'<span class="bad-text">not ready</span>: {_e(sync.ready_reason)}'
    )
    rows = [("Readiness", ready)]
    rows += _endpoint_rows(sync.calls, now)
    rows += _endpoint_rows(sync.overview, now)
    rows.append(("Calls synced up to", _when(sync.watermark, now)))
    if sync.rate_limit_remaining is not None and sync.rate_limit is not None:
        rows.append(
            ("Rate limit", _e(f"{sync.rate_limit_remaining} of {sync.rate_limit} left this minute"))
        )
    body = "\n".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return f'<dl class="facts">\n{body}\n</dl>'


def _endpoint_rows(health: EndpointHealth, now: datetime) -> list[tuple[str, str]]:
    name = f"<code>{_e(health.endpoint)}</code>"
    last = _when(health.last_success, now, never="never yet")
    if health.failing_since is None:
        state = '<span class="ok-text">healthy</span>' if health.last_success else "not polled yet"
        return [(f"{name}", f"{state}; last success {last}")]
    failures = _count(health.consecutive_failures, "failure")
    text = (
        f'<span class="bad-text">failing</span> since {_when(health.failing_since, now)} '
        f"({_e(failures)} in a row); last success {last}"
    )
    if health.key_refused:
        text += '<br><span class="bad-text">the API refused the key</span>'
    if health.last_error:
        text += f'<br><span class="error">{_e(health.last_error)}</span>'
    return [(name, text)]


def _footer(snap: StatusSnapshot) -> str:
    stamp = _e(snap.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC"))
    return (
        '<footer>\n<nav><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · '
        '<a href="/readyz">/readyz</a></nav>\n'
        f"<p>telepath-monitor {_e(snap.version)} · generated {stamp} · "
        f"refreshes every {REFRESH_SECONDS} s</p>\n</footer>"
    )


# --- small pieces ---------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _link(url: str | None, text: str, *, cls: str | None = None) -> str:
    """A link for http(s) URLs; any other scheme (``javascript:``, ``data:``) stays text."""
    label = _e(text)
    if url is None or not _web_url(url):
        return f'<span class="{cls}">{label}</span>' if cls else label
    attrs = f' class="{cls}"' if cls else ""
    return f'<a{attrs} href="{_e(url)}" rel="noreferrer noopener">{label}</a>'


def _web_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _value(value: float | None, alert: AlertView) -> str:
    if alert.unit == "seconds":
        return _e("no data" if value is None else _span(value))
    return _e(format_value(value, alert.metric))


def _when(moment: datetime | None, now: datetime, *, never: str = "—") -> str:
    """``14:02 UTC (3 min ago)``, with the date when it is not today's."""
    if moment is None:
        return _e(never)
    utc = moment.astimezone(now.tzinfo)
    shown = utc.strftime("%H:%M UTC" if utc.date() == now.date() else "%Y-%m-%d %H:%M UTC")
    iso = utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f'<time datetime="{iso}" title="{iso}">{shown}</time> ({_e(_ago(moment, now))})'


def _ago(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    if abs(seconds) < 60:
        return "just now" if seconds >= 0 else "in under a minute"
    text = _span(abs(seconds))
    return f"{text} ago" if seconds > 0 else f"in {text}"


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_HEAD: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{refresh}">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>telepath-monitor status</title>
<style>
{css}
</style>
</head>
<body>"""

_CSS: Final = """:root { --bg: #f6f7f9; --fg: #1c1e21; --card: #fff; --muted: #5f6670;
  --line: #d9dde3; --crit: #b3261e; --warn: #a15c00; --pend: #4a5b73; --ok: #1b7f3b;
  --link: #0b57d0; color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #111418; --fg: #e6e8eb; --card: #1b1f24; --muted: #9aa3ad; --line: #2d333b;
    --crit: #ff6b61; --warn: #f0a43a; --pend: #8ea4c2; --ok: #4cc777; --link: #8ab4f8; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  background: var(--bg); color: var(--fg); overflow-wrap: anywhere; }
main, footer { max-width: 72rem; margin: 0 auto; padding: 0 1rem; }
a { color: var(--link); }
code { font: 0.9em ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 0.5rem; }
h3 { font-size: 1.05rem; margin: 0.1rem 0 0.5rem; }
h4 { font-size: 0.9rem; margin: 0.75rem 0 0.25rem; color: var(--muted); }
.banner { padding: 1rem; color: #fff; }
.banner h1 { font-size: 1.3rem; margin: 0; }
.banner p { margin: 0.25rem 0 0; opacity: 0.9; }
.banner.critical { background: var(--crit); }
.banner.warning { background: var(--warn); }
.banner.degraded { background: var(--pend); }
.banner.ok { background: var(--ok); }
.cards { display: grid; gap: 0.75rem;
  grid-template-columns: repeat(auto-fill, minmax(19rem, 1fr)); }
.card { background: var(--card); border: 1px solid var(--line);
  border-left: 0.4rem solid var(--pend); border-radius: 0.4rem; padding: 0.75rem 1rem; }
.card.critical.firing { border-left-color: var(--crit); }
.card.warning.firing { border-left-color: var(--warn); }
.badge { display: inline-block; margin: 0; padding: 0.05rem 0.5rem; border-radius: 1rem;
  font-size: 0.8rem; font-weight: 600; text-transform: uppercase; color: #fff;
  background: var(--pend); }
.critical.firing .badge { background: var(--crit); }
.warning.firing .badge { background: var(--warn); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 0.75rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
.muted { color: var(--muted); }
.calls { margin: 0; padding-left: 1.5rem; }
.calls li { margin: 0.15rem 0; }
.empty { color: var(--muted); background: var(--card); border: 1px dashed var(--line);
  border-radius: 0.4rem; padding: 0.75rem 1rem; margin: 0; }
.facts { background: var(--card); border: 1px solid var(--line); border-radius: 0.4rem;
  padding: 0.75rem 1rem; }
.ok-text { color: var(--ok); font-weight: 600; }
.bad-text { color: var(--crit); font-weight: 600; }
.error { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85em; }
table { width: 100%; border-collapse: collapse; background: var(--card);
  border: 1px solid var(--line); }
th, td { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
footer { color: var(--muted); font-size: 0.9rem; padding-top: 1rem; padding-bottom: 2rem; }
footer p { margin: 0.25rem 0; }
@media (max-width: 40rem) {
  dl { gap: 0.15rem 0.6rem; }
  .facts { grid-template-columns: 1fr; }
  .facts dt { margin-top: 0.4rem; font-size: 0.9rem; }
  table.stack thead { display: none; }
  table.stack tr { display: block; border-bottom: 1px solid var(--line); padding: 0.4rem 0; }
  table.stack td { display: block; border: 0; padding: 0.1rem 0.6rem; }
  table.stack td::before { content: attr(data-label) ": "; color: var(--muted); }
}"""
