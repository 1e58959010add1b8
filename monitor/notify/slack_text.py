"""Slack text pieces: escaping, links, Slack's length limits, Block Kit objects. Pure.

Split from :mod:`monitor.notify.slack_format` (which keeps the messages) to keep each
module readable in one sitting; the safety rules are described there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import quote, urlsplit

#: Longest text of a section, a context element, or the fallback ``text``.
MAX_TEXT: Final = 3000
#: Longest text of a header block.
MAX_HEADER: Final = 150
#: Slack refuses a context block with more elements than this.
MAX_CONTEXT_ELEMENTS: Final = 10
_URL_CAP: Final = 400
_ELLIPSIS: Final = "…"
# C0 and C1 controls and Unicode line breaks: outside text stays on its line.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# What may not appear raw in the URL of a link: it would end or split the link.
_URL_UNSAFE: Final = re.compile(r"[\s\x00-\x1f\x7f-\x9f|]")


def escape(text: str) -> str:
    """mrkdwn escaping: ``&``, ``<`` and ``>`` become entities, so text stays text.

    ``&`` goes first, or the ``&`` of the other two entities would be escaped again.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(value: Any) -> str:
    """Outside input as one line of text: control characters (newlines too) become spaces."""
    if value is None:
        return ""
    return _CONTROL.sub(" ", str(value)).strip()


def _md(value: Any, cap: int) -> str:
    """Outside input made safe for mrkdwn and cut to ``cap``."""
    return _clip(escape(_plain(value)), cap)


def _link(url: Any, label_md: str) -> str:
    """``<url|label>`` for an http(s) URL; just the (escaped) label for anything else."""
    if not isinstance(url, str) or not _linkable(url):
        return label_md
    target = _URL_UNSAFE.sub(lambda m: quote(m.group(), safe=""), escape(url))
    if _width(target) > _URL_CAP:
        return label_md
    return f"<{target}|{label_md}>"


def _linkable(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _width(text: str) -> int:
    """Length as Slack counts it: UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _clip(text: str, limit: int, *, markup: bool = True) -> str:
    """``text`` cut to ``limit`` with "…"; in markup never inside ``&amp;`` or ``<url|x>``."""
    if _width(text) <= limit:
        return text
    room, cut = limit - 1, 0
    for ch in text:
        room -= 2 if ord(ch) > 0xFFFF else 1
        if room < 0:
            break
        cut += 1
    head = text[:cut]
    if markup:
        # Every raw "&" opens an entity and every raw "<" one of our links (outside input
        # is escaped), so an opener without its closer was cut in half: drop it.
        changed = True
        while changed:
            changed = False
            for opener, closer in (("&", ";"), ("<", ">")):
                at = head.rfind(opener)
                if at != -1 and closer not in head[at:]:
                    head, changed = head[:at], True
    return head + _ELLIPSIS


def _fit(parts: Sequence[str], sep: str, limit: int) -> str:
    """Whole parts joined while they fit in ``limit``, then "…"; never a part cut in two.

    Only a first part too long on its own is clipped, so there is always some text.
    """
    if not parts:
        return ""
    out = _clip(parts[0], limit)
    used = _width(out)
    for index, part in enumerate(parts[1:], start=1):
        more = index < len(parts) - 1
        need = _width(sep) + _width(part) + (_width(sep) + 1 if more else 0)
        if used + need > limit:
            return out + (sep + _ELLIPSIS if used + _width(sep) + 1 <= limit else "")
        out += sep + part
        used += _width(sep) + _width(part)
    return out


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": _clip(text, MAX_HEADER, markup=False),
            "emoji": True,
        },
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _context(texts: Sequence[str]) -> dict[str, Any]:
    elements = [_mrkdwn(t) for t in texts if t][:MAX_CONTEXT_ELEMENTS]
    return {"type": "context", "elements": elements}


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: Slack adds no links or mentions of its own; ours are explicit.
    return {"type": "mrkdwn", "text": _clip(text or " ", MAX_TEXT), "verbatim": True}
