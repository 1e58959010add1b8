"""Pure "next page or stop" for list endpoints, written as a generator.

The driver (``TelepathClient``) sends each request the generator yields and sends back
what the page said; the generator decides what to ask for next. It knows both
pagination styles Telepath documents and guards against servers that would make us
loop forever.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass

from monitor.telepath.parsing import Pagination


@dataclass(frozen=True, slots=True)
class PageEnd:
    """Why paging stopped. ``warning`` is True when the stop guards against a bad server."""

    reason: str
    warning: bool = False


DONE = PageEnd("done")

PageFlow = Generator[dict[str, str], tuple[Pagination, int], PageEnd]


def page_requests(params: Mapping[str, str], *, page_size: int, max_pages: int) -> PageFlow:
    """Yield the query of each page; receive ``(pagination, item_count)`` of its answer.

    Cursor style follows ``next_cursor`` until it is null or ``has_more`` is false;
    offset style advances by the number of items until ``total`` is reached or a
    short page arrives. A repeated cursor, an empty page that claims more, or
    ``max_pages`` pages end the walk with a warning.
    """
    base = {**params, "limit": str(page_size)}
    request = dict(base)
    seen_cursors: set[str] = set()
    offset = 0
    for number in range(1, max_pages + 1):
        pagination, item_count = yield request
        claims_more = pagination.has_more is True or (
            pagination.style == "cursor" and pagination.next_cursor is not None
        )
        if item_count == 0:
            return PageEnd("empty_page_claims_more", warning=True) if claims_more else DONE
        if pagination.style == "cursor":
            cursor = pagination.next_cursor
            if pagination.has_more is False or cursor is None:
                if pagination.has_more and cursor is None:
                    return PageEnd("has_more_without_cursor", warning=True)
                return DONE
            if cursor in seen_cursors:
                return PageEnd("repeated_cursor", warning=True)
            seen_cursors.add(cursor)
            request = {**base, "cursor": cursor}
        elif pagination.style == "offset":
            start = pagination.offset if pagination.offset is not None else offset
            offset = start + item_count
            if pagination.total is not None and offset >= pagination.total:
                return DONE
            if item_count < page_size:
                return DONE
            request = {**base, "offset": str(offset)}
        else:
            return DONE
        if number == max_pages:
            break
    return PageEnd("page_limit", warning=True)
