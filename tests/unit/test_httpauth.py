"""Basic auth against bcrypt hashes (TELEPATH_WEB_CONFIG's basic_auth_users)."""

from __future__ import annotations

import base64

import bcrypt
import pytest

from monitor.httpauth import CACHE_SECONDS, BasicAuth

USERS = {"prometheus": bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4))}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def spy_on_checkpw(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The hashes bcrypt.checkpw is asked to compare against, in order."""
    seen: list[bytes] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        seen.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    return seen


@pytest.mark.parametrize(
    ("header", "outcome"),
    [
        (basic("prometheus", "s3cret"), "ok"),
        (basic("prometheus", "wrong"), "wrong"),
        (basic("nobody", "s3cret"), "wrong"),
        (basic("prometheus", ""), "wrong"),
        (basic("prometheus", "x" * 100), "wrong"),
        (None, "missing"),
        ("Bearer abc", "malformed"),
        ("Basic !!!notbase64", "malformed"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "malformed"),
        ("basic " + base64.b64encode(b"prometheus:s3cret").decode(), "ok"),
    ],
)
def test_outcomes(header, outcome):
    """Each header gets one outcome; only the right user with the right password passes."""
    assert BasicAuth(USERS, Ticks()).check(header) == outcome


def test_an_unknown_user_is_checked_against_a_hash_of_the_same_cost(monkeypatch):
    """Unknown users still pay one bcrypt compare, so timing does not reveal who exists."""
    auth = BasicAuth(USERS, Ticks())
    seen = spy_on_checkpw(monkeypatch)
    assert auth.check(basic("nobody", "s3cret")) == "wrong"
    assert len(seen) == 1
    assert seen[0][:7] == USERS["prometheus"][:7]  # same $2b$04$ algorithm and cost


def test_good_credentials_are_remembered_for_a_while(monkeypatch):
    """A repeated good login skips bcrypt until the cache entry expires."""
    ticks = Ticks()
    auth = BasicAuth(USERS, ticks)
    calls = spy_on_checkpw(monkeypatch)
    header = basic("prometheus", "s3cret")
    assert auth.check(header) == "ok"
    assert auth.check(header) == "ok"
    assert len(calls) == 1
    assert auth.check(basic("prometheus", "s3cret2")) == "wrong"  # not confused with the cached
    ticks.now += CACHE_SECONDS + 1
    assert auth.check(header) == "ok"
    assert len(calls) == 3
