"""Skipping the fallback pools known to be full changes no decision: the allocator with its skip index and one
that scans every pool from the first (the index reset before each step) give the same answer at every step,
under random allocations and releases of IPv4, IPv6, dual-stack and sharing Services over small pools."""

from __future__ import annotations

from alloc_helpers import config, service, shared
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.allocator import AllocationError, Allocator
from reconciler.core.services import ServiceView

CONFIG = config(
    a=["10.0.0.0/31"],
    b={"addresses": ["10.0.1.0/31", "fc00::/127"]},
    c=["fc00:1::/127"],
    d=["10.0.2.0/30"],
    e={"addresses": ["10.0.3.0/30"], "autoAssign": False},
)

KINDS = {
    "v4": {"cluster_ips": ("10.96.0.10",)},
    "v6": {"cluster_ips": ("fd00::10",)},
    "dual": {"cluster_ips": ("10.96.0.10", "fd00::10"), "policy": "RequireDualStack"},
    "prefer": {"cluster_ips": ("10.96.0.10", "fd00::10"), "policy": "PreferDualStack"},
}


def view(i: int, kind: str, key: str | None) -> ServiceView:
    return service(f"s{i}", annotations=shared(key) if key else None, **KINDS[kind])  # type: ignore[arg-type]


steps = st.lists(
    st.tuples(
        st.sampled_from(["allocate", "release"]),
        st.integers(0, 9),
        st.sampled_from(sorted(KINDS)),
        st.sampled_from([None, None, "k1", "k2"]),
    ),
    max_size=40,
)


def outcome(alloc: Allocator, op: str, v: ServiceView) -> object:
    if op == "release":
        return alloc.release(v.key)
    try:
        return alloc.allocate(v.request())
    except AllocationError as exc:
        return str(exc)


@settings(max_examples=300)
@given(steps)
def test_skipping_full_pools_gives_the_same_allocations_as_scanning_all(ops: list[tuple[str, int, str, str]]) -> None:
    fast, scan = Allocator(CONFIG), Allocator(CONFIG)
    for op, i, kind, key in ops:
        v = view(i, kind, key)
        scan._first_open = {4: 0, 6: 0}  # the reference: every pool from the first, as before the index
        assert outcome(fast, op, v) == outcome(scan, op, v)
        assert fast.allocations() == scan.allocations()


def test_an_address_released_in_a_full_pool_is_offered_again() -> None:
    alloc = Allocator(CONFIG)
    for i in range(3):
        alloc.allocate(view(i, "v4", None).request())
    assert [alloc.allocation(f"default/s{i}").pool for i in range(3)] == ["a", "a", "b"]  # type: ignore[union-attr]
    alloc.release("default/s0")
    assert alloc.allocate(view(9, "v4", None).request()).pool == "a"
