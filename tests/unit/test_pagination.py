"""The pure "next page or stop" decision for both pagination styles."""

from __future__ import annotations

from monitor.telepath.pagination import PageEnd, page_requests
from monitor.telepath.parsing import Pagination


def walk(pages, *, page_size=2, max_pages=10):
    """Drive the flow with canned answers; return the queries sent and how it ended."""
    flow = page_requests({"from": "x"}, page_size=page_size, max_pages=max_pages)
    queries = [next(flow)]
    try:
        for answer in pages:
            queries.append(flow.send(answer))
    except StopIteration as stop:
        return queries, stop.value
    raise AssertionError("flow did not stop")


def cursor(next_cursor, has_more=None):
    return Pagination(style="cursor", next_cursor=next_cursor, has_more=has_more)


def offset(at, total):
    return Pagination(style="offset", offset=at, total=total)


def test_cursor_until_null():
    """Cursor style follows next_cursor until it is null."""
    queries, end = walk([(cursor("a", True), 2), (cursor("b", True), 2), (cursor(None, False), 1)])
    assert [q.get("cursor") for q in queries] == [None, "a", "b"]
    assert queries[0] == {"from": "x", "limit": "2"}
    assert end == PageEnd("done")


def test_has_more_false_wins_over_a_cursor():
    """has_more false ends the walk even if a cursor is present."""
    _, end = walk([(cursor("a", False), 2)])
    assert end == PageEnd("done")


def test_repeated_cursor_stops_with_warning():
    """A server handing back a cursor it already gave would loop us forever."""
    queries, end = walk([(cursor("a", True), 2), (cursor("a", True), 2)])
    assert len(queries) == 2
    assert end == PageEnd("repeated_cursor", warning=True)


def test_empty_page_that_claims_more():
    """An empty page that says there is more ends the walk with a warning."""
    _, end = walk([(cursor("a", True), 0)])
    assert end == PageEnd("empty_page_claims_more", warning=True)


def test_has_more_without_cursor():
    """has_more true but no cursor: nothing to follow."""
    _, end = walk([(cursor(None, True), 2)])
    assert end == PageEnd("has_more_without_cursor", warning=True)


def test_offset_until_total():
    """Offset style advances by the items received until total is reached."""
    queries, end = walk([(offset(0, 5), 2), (offset(2, 5), 2), (offset(4, 5), 1)])
    assert [q.get("offset") for q in queries] == [None, "2", "4"]
    assert end == PageEnd("done")


def test_offset_short_page_ends_without_total():
    """Without a total, a short page is the last one."""
    _, end = walk([(Pagination(style="offset"), 2), (Pagination(style="offset"), 1)])
    assert end == PageEnd("done")


def test_page_limit():
    """max_pages bounds the walk however much the server claims."""
    answers = [(cursor(f"c{i}", True), 2) for i in range(10)]
    queries, end = walk(answers, max_pages=3)
    assert len(queries) == 3
    assert end == PageEnd("page_limit", warning=True)


def test_unpaginated_body_is_one_page():
    """A body with neither style is the whole list."""
    _, end = walk([(Pagination(style="none"), 2)])
    assert end == PageEnd("done")
