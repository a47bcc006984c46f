"""Which named address sets intersect given intervals, without scanning every set: a sorted index with bisect.

``IntervalIndex`` holds, per key (a pool name), the ``(family, first, last)`` intervals of its entries. A query
returns the keys with an interval intersecting any of the queried ones, in the order the keys were first set,
so it can replace a linear scan over a dict without changing any result. It answers in O(log n + k) when the
indexed intervals are disjoint (a valid configuration: pools may not overlap), and stays correct when they are
not (a stored object that was accepted before its neighbour): the walk back from the bisection point stops as
soon as no earlier interval can reach the query (a running maximum of interval ends).

Changes are cheap (a dict write); the sorted arrays are rebuilt on the first query after a change, which is what
an admission webhook wants: many reviews between config changes.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

__all__ = ["Interval", "IntervalIndex"]

Interval = tuple[int, int, int]
"""``(family, first, last)``: an inclusive range of addresses as integers."""

K = TypeVar("K", bound=Hashable)


class _Family:
    """The intervals of one family sorted by start, with the running maximum of their ends."""

    __slots__ = ("ends", "keys", "reach", "starts")

    def __init__(self, items: list[tuple[int, int, int]]) -> None:
        items.sort()
        self.starts = [first for first, _, _ in items]
        self.ends = [last for _, last, _ in items]
        self.keys = [order for _, _, order in items]
        reach: list[int] = []
        top = -1
        for last in self.ends:
            top = max(top, last)
            reach.append(top)
        self.reach = reach  # reach[i] = max(ends[:i + 1]): nothing at or before i ends later

    def hits(self, first: int, last: int, found: set[int]) -> None:
        i = bisect.bisect_right(self.starts, last) - 1
        while i >= 0 and self.reach[i] >= first:
            if self.ends[i] >= first:
                found.add(self.keys[i])
            i -= 1


class IntervalIndex(Generic[K]):
    """Keys with intervals; ``overlapping(intervals)`` names the keys intersecting them, in first-set order."""

    def __init__(self) -> None:
        self._intervals: dict[K, tuple[Interval, ...]] = {}
        self._built: tuple[list[K], dict[int, _Family]] | None = None

    def __len__(self) -> int:
        return len(self._intervals)

    def set(self, key: K, intervals: Iterable[Interval]) -> None:
        """Replace the intervals of ``key`` (a new key goes last in the result order)."""
        self._intervals[key] = tuple(intervals)
        self._built = None

    def discard(self, key: K) -> None:
        if self._intervals.pop(key, None) is not None:
            self._built = None

    def clear(self) -> None:
        self._intervals.clear()
        self._built = None

    def _index(self) -> tuple[list[K], dict[int, _Family]]:
        if self._built is None:
            keys = list(self._intervals)
            per_family: dict[int, list[tuple[int, int, int]]] = {}
            for order, key in enumerate(keys):
                for family, first, last in self._intervals[key]:
                    per_family.setdefault(family, []).append((first, last, order))
            self._built = (keys, {family: _Family(items) for family, items in per_family.items()})
        return self._built

    def overlapping(self, intervals: Iterable[Interval]) -> list[K]:
        """Keys with an interval intersecting one of ``intervals``, in the order the keys were first set."""
        wanted = tuple(intervals)
        if not wanted:
            return []
        keys, families = self._index()
        found: set[int] = set()
        for family, first, last in wanted:
            index = families.get(family)
            if index is not None:
                index.hits(first, last, found)
        return [keys[order] for order in sorted(found)]
