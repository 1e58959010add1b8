"""HTTP basic auth against bcrypt hashes, as the exporter-toolkit web config defines it.

A request passes when its ``Authorization: Basic`` user is listed and its password
matches the user's bcrypt hash. An unknown user is checked against a dummy hash of
the same cost, so the answer takes as long as for a known user with a wrong password
and timing does not tell which users exist. bcrypt's own compare is constant-time.

bcrypt is slow on purpose (tens of milliseconds at cost 10), and Prometheus sends the
same credentials every scrape, so a successful check is remembered for a few minutes
under an HMAC of user and password with a key made at start: the password itself is
kept nowhere, and a changed web config starts a new cache.

Nothing here logs; the server counts failures by :data:`Outcome`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Final, Literal

import bcrypt

#: ``ok``; ``missing``: no Authorization header; ``malformed``: not Basic or not
#: base64 of ``user:password``; ``wrong``: unknown user or wrong password.
Outcome = Literal["ok", "missing", "malformed", "wrong"]

CACHE_SIZE: Final = 64
CACHE_SECONDS: Final = 300.0
REALM: Final = 'Basic realm="telepath-monitor", charset="UTF-8"'


class BasicAuth:
    """Checks ``Authorization`` headers against ``users`` (name → bcrypt hash).

    Args:
        users: the web config's ``basic_auth_users``.
        monotonic: the clock for the cache of good credentials (tests pass their own).
    """

    def __init__(self, users: Mapping[str, bytes], monotonic: Callable[[], float]) -> None:
        self._users = dict(users)
        self._monotonic = monotonic
        # Same cost as the first real hash, so an unknown user costs what a known one does.
        cost = int(next(iter(self._users.values()))[4:6]) if self._users else 10
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))
        self._key = secrets.token_bytes(32)
        self._good: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, header: str | None) -> Outcome:
        """The outcome for one request's ``Authorization`` header."""
        if header is None:
            return "missing"
        credentials = _decode(header)
        if credentials is None:
            return "malformed"
        user, password = credentials
        digest = hmac.new(self._key, user + b"\0" + password, hashlib.sha256).digest()
        if self._remembered(digest):
            return "ok"
        hashed = self._users.get(user.decode("utf-8", "replace"))
        try:
            matches = bcrypt.checkpw(password, hashed if hashed is not None else self._dummy)
        except ValueError:  # a hash bcrypt cannot read: as wrong as a wrong password
            matches = False
        if not matches or hashed is None:
            return "wrong"
        with self._lock:
            self._good[digest] = self._monotonic() + CACHE_SECONDS
            while len(self._good) > CACHE_SIZE:
                self._good.popitem(last=False)
        return "ok"

    def _remembered(self, digest: bytes) -> bool:
        with self._lock:
            until = self._good.get(digest)
            if until is None:
                return False
            if until < self._monotonic():
                del self._good[digest]
                return False
            return True


def _decode(header: str) -> tuple[bytes, bytes] | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = raw.partition(b":")
    return (user, password) if sep else None
