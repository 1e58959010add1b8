"""Mergeable latency distributions: exact counts in fixed logarithmic buckets.

Pure: no I/O. A :class:`Distribution` counts values in buckets whose edges grow by the
factor ``GAMMA = (1 + ALPHA) / (1 - ALPHA)`` with ``ALPHA = 0.01``: bucket ``i`` holds
the values in ``(GAMMA ** (i - 1), GAMMA ** i]`` and stands for ``2 * GAMMA ** i /
(GAMMA + 1)``, which is within ``ALPHA`` (1%) of every value in it. It also keeps the
exact sum, so averages are exact. Values below ``MIN_VALUE`` (0.01 ms) count in a
zero bucket that stands for 0.

Why fixed buckets and not the ``ddsketch`` library: the mapping is the one DDSketch
uses, but fixed edges make every count exact and every merge a plain sum of integers, so
a day merged from 1,440 minute rows, or from 24 hour rows, gives identical figures; the
encoding is ours and compact (about 2 bytes a bucket); and the code is 100 lines with
no protobuf dependency. ddsketch would bring nothing these 100 lines do not.

Percentiles use the definition of :mod:`monitor.windows` (linear interpolation between
the closest ranks) over the bucket values: each order statistic is estimated within 1%,
and so is any interpolation between two of them, since both are positive.

Encoding: the exact sum as a little-endian double, then per non-empty bucket, in index
order, the zig-zag varint of the index step from the previous one and the varint of the
count. Voice latencies (5 ms to 10 s) span about 380 buckets; a minute of one trunk
usually fills a few dozen.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

__all__ = ["ALPHA", "GAMMA", "MIN_VALUE", "Distribution", "bucket_index", "bucket_value"]

ALPHA: Final = 0.01
GAMMA: Final = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA: Final = math.log(GAMMA)
#: Smaller values count as 0 (the zero bucket, index ``ZERO``).
MIN_VALUE: Final = 0.01
ZERO: Final = -(10**6)
_SUM: Final = struct.Struct("<d")


def bucket_index(value: float) -> int:
    """The bucket a non-negative, finite value counts in."""
    if value < MIN_VALUE:
        return ZERO
    return math.ceil(math.log(value) / _LOG_GAMMA)


def bucket_value(index: int) -> float:
    """The value a bucket stands for (within ALPHA of all it holds)."""
    if index == ZERO:
        return 0.0
    return 2.0 * GAMMA**index / (GAMMA + 1.0)


@dataclass
class Distribution:
    """Counts per bucket index, and the exact sum of the values counted."""

    counts: dict[int, int] = field(default_factory=dict)
    total: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def add(self, value: float) -> None:
        """Count one value; NaN, infinities and negatives are the caller's to refuse."""
        index = bucket_index(value)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.total += value

    def merge(self, other: Distribution) -> None:
        for index, n in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + n
        self.total += other.total

    @classmethod
    def merged(cls, parts: Iterable[Distribution]) -> Distribution:
        out = cls()
        for part in parts:
            out.merge(part)
        return out

    def mean(self) -> float | None:
        n = self.count
        return None if n == 0 else self.total / n

    def quantiles(self, percents: Iterable[float]) -> dict[float, float | None]:
        """``pNN`` for each NN in ``percents``, as :func:`monitor.windows.percentile`."""
        return {p: self.quantile(p) for p in percents}

    def quantile(self, percent: float) -> float | None:
        n = self.count
        if n == 0:
            return None
        rank = (n - 1) * percent / 100.0
        lo = math.floor(rank)
        low = self._nth(lo)
        frac = rank - lo
        if frac == 0.0:
            return low
        return low + (self._nth(lo + 1) - low) * frac

    def _nth(self, k: int) -> float:
        """The k-th smallest value (0-based), as its bucket's value."""
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen > k:
                return bucket_value(index)
        raise IndexError(k)

    def encode(self) -> bytes:
        out = bytearray(_SUM.pack(self.total))
        previous = 0
        for index in sorted(self.counts):
            n = self.counts[index]
            if n <= 0:
                continue
            _varint(out, _zigzag(index - previous))
            _varint(out, n)
            previous = index
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Distribution:
        """The distribution :meth:`encode` wrote; raises ValueError for damaged bytes."""
        if len(data) < _SUM.size:
            raise ValueError("a distribution needs at least its 8-byte sum")
        (total,) = _SUM.unpack_from(data)
        counts: dict[int, int] = {}
        pos, index = _SUM.size, 0
        while pos < len(data):
            step, pos = _read_varint(data, pos)
            n, pos = _read_varint(data, pos)
            index += _unzigzag(step)
            counts[index] = counts.get(index, 0) + n
        return cls(counts, total)

    @classmethod
    def of(cls, values: Iterable[float]) -> Distribution:
        out = cls()
        for value in values:
            out.add(value)
        return out


def _zigzag(n: int) -> int:
    return n * 2 if n >= 0 else -n * 2 - 1


def _unzigzag(n: int) -> int:
    return n // 2 if n % 2 == 0 else -(n + 1) // 2


def _varint(out: bytearray, n: int) -> None:
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("a distribution's bytes end inside a number")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
