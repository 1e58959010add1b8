"""The trunk catalogue: what ``GET /trunks`` says about each trunk, remembered. Pure.

Alerts, the status page and ``once`` name trunks by id (``conn_sim02``); people know them
by name ("Support line EU"). The catalogue keeps, per trunk id, the latest name, AI
provider and status read from the list, and is kept in the state DB so a restart knows
the names before its first read.

Choices:

- A trunk that drops out of the list keeps its last known name, provider and status,
  marked ``listed=False``: an alert about it still reads by name.
- A read that fails, or lists nothing at all, changes nothing: an empty list from an
  API hiccup must not make every trunk nameless.
- ``active`` is the only status that means "should carry calls". A trunk whose status is
  known and is anything else (``inactive``, ``disabled``, ``error``) is not watched by
  count rules: a trunk switched off on purpose going quiet is no flatline. A trunk the
  catalogue does not know, or knows without a status, counts as active.
- Rules pick trunks by name with shell-style globs (``Support *``), matched without
  regard to case, as on-call people type names the way they remember them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Final

from monitor.models import Trunk

__all__ = ["ACTIVE", "TrunkCatalogue", "TrunkInfo", "trunk_label"]

#: The status of a trunk that is meant to carry calls.
ACTIVE: Final = "active"


@dataclass(frozen=True, slots=True)
class TrunkInfo:
    """One trunk as last listed."""

    id: str
    name: str | None = None
    provider: str | None = None
    status: str | None = None
    #: Whether the latest read of the list still had it.
    listed: bool = True

    @property
    def active(self) -> bool:
        """Whether the trunk is meant to carry calls (unknown status counts as active)."""
        return self.status is None or self.status == ACTIVE


def trunk_label(trunk_id: str, name: str | None) -> str:
    """``Support line EU (conn_sim02)``, or the bare id when the name is unknown."""
    return f"{name} ({trunk_id})" if name else trunk_id


class TrunkCatalogue:
    """Trunk id -> :class:`TrunkInfo`, updated from each read of ``GET /trunks``."""

    def __init__(self, trunks: Iterable[TrunkInfo] = ()) -> None:
        self._trunks: dict[str, TrunkInfo] = {t.id: t for t in trunks}

    def __len__(self) -> int:
        return len(self._trunks)

    def __iter__(self) -> Iterator[TrunkInfo]:
        return iter(sorted(self._trunks.values(), key=lambda t: t.id))

    def get(self, trunk_id: str) -> TrunkInfo | None:
        return self._trunks.get(trunk_id)

    def name(self, trunk_id: str | None) -> str | None:
        """The trunk's name, or None (account-wide, unknown trunk, nameless trunk)."""
        if trunk_id is None:
            return None
        info = self._trunks.get(trunk_id)
        return None if info is None else info.name

    def names(self) -> dict[str, str]:
        """Trunk id -> name, for the trunks with a name."""
        return {t.id: t.name for t in self._trunks.values() if t.name}

    def inactive(self, trunk_id: str) -> bool:
        """Whether the trunk is known to be switched off (see the module's choices)."""
        info = self._trunks.get(trunk_id)
        return info is not None and not info.active

    def matching(self, globs: Sequence[str]) -> set[str]:
        """Ids of the trunks whose name matches any of ``globs`` (case-insensitive)."""
        patterns = [g.casefold() for g in globs]
        return {
            t.id
            for t in self._trunks.values()
            if t.name and any(fnmatchcase(t.name.casefold(), p) for p in patterns)
        }

    def update(self, listed: Sequence[Trunk]) -> list[tuple[str, str | None, str | None]]:
        """Take in a complete read of the list; return the renames as (id, old, new).

        Trunks not in ``listed`` are kept with their last known details and marked
        unlisted. An empty ``listed`` changes nothing (see the module's choices).
        """
        if not listed:
            return []
        renames: list[tuple[str, str | None, str | None]] = []
        seen: dict[str, TrunkInfo] = {}
        for trunk in listed:
            old = self._trunks.get(trunk.id)
            name = trunk.name if trunk.name else (old.name if old else None)
            if old is not None and old.name and name != old.name:
                renames.append((trunk.id, old.name, name))
            seen[trunk.id] = TrunkInfo(trunk.id, name, trunk.provider, trunk.status, True)
        for trunk_id, old in self._trunks.items():
            if trunk_id not in seen:
                seen[trunk_id] = replace(old, listed=False)
        self._trunks = seen
        return renames
