"""The interval index answers exactly what a linear scan over every key answers, in the same order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from crds.intervals import Interval, IntervalIndex

_interval = st.builds(
    lambda fam, first, size: (fam, first, first + size),
    st.sampled_from([4, 6]),
    st.integers(0, 200),
    st.integers(0, 30),
)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 12), st.lists(_interval, max_size=3)),
        st.tuples(st.just("discard"), st.integers(0, 12), st.just([])),
    ),
    max_size=40,
)


def _linear(items: dict[int, tuple[Interval, ...]], wanted: list[Interval]) -> list[int]:
    return [
        key
        for key, intervals in items.items()
        if any(f == g and a <= d and c <= b for f, a, b in wanted for g, c, d in intervals)
    ]


@given(ops=_ops, queries=st.lists(st.lists(_interval, max_size=3), min_size=1, max_size=4))
def test_overlapping_equals_a_linear_scan(
    ops: list[tuple[str, int, list[Interval]]], queries: list[list[Interval]]
) -> None:
    index: IntervalIndex[int] = IntervalIndex()
    model: dict[int, tuple[Interval, ...]] = {}
    for op, key, intervals in ops:
        if op == "set":
            index.set(key, intervals)
            model[key] = tuple(intervals)
        else:
            index.discard(key)
            model.pop(key, None)
        for wanted in queries:  # queries between changes too: a stale build would show here
            assert index.overlapping(wanted) == _linear(model, wanted)
    assert len(index) == len(model)


def test_disjoint_pools_touching_the_query_only() -> None:
    index: IntervalIndex[str] = IntervalIndex()
    for i in range(1000):
        index.set(f"pool-{i}", [(4, i * 256, i * 256 + 255)])
    index.set("v6", [(6, 0, 2**64 - 1)])
    assert index.overlapping([(4, 256 * 5 + 10, 256 * 6)]) == ["pool-5", "pool-6"]
    assert index.overlapping([(6, 5, 5), (4, 256 * 1000, 256 * 1001)]) == ["v6"]
    assert index.overlapping([]) == []
