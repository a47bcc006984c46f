"""Hypothesis strategies for BGP wire types (shared by the codec tests)."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from speaker.bgp.attributes import (
    AsPath,
    AsPathSegment,
    AtomicAggregate,
    Communities,
    LargeCommunities,
    LocalPref,
    Med,
    MpReach,
    MpUnreach,
    NextHop,
    OriginAttr,
    UnknownAttr,
)
from speaker.bgp.constants import Afi, AsPathSegmentType, AttrFlag, Origin, Safi
from speaker.bgp.notification import Notification
from speaker.bgp.open import (
    ExtendedMessage,
    FourOctetAs,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    Open,
    RouteRefreshCapability,
    UnknownCapability,
)
from speaker.bgp.route_refresh import RouteRefresh
from speaker.bgp.update import Update

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)

v4_prefixes = st.builds(
    lambda a, n: ipaddress.IPv4Network((a, n), strict=False), st.integers(0, 2**32 - 1), st.integers(0, 32)
)
v6_prefixes = st.builds(
    lambda a, n: ipaddress.IPv6Network((a, n), strict=False), st.integers(0, 2**128 - 1), st.integers(0, 128)
)

capabilities = st.one_of(
    st.builds(Multiprotocol, u16, u8),
    st.just(RouteRefreshCapability()),
    st.just(ExtendedMessage()),
    st.builds(FourOctetAs, u32),
    st.builds(
        GracefulRestart,
        st.integers(0, 4095),
        st.booleans(),
        st.booleans(),
        st.lists(st.builds(GracefulRestartFamily, u16, u8, st.booleans()), max_size=4).map(tuple),
    ),
    st.builds(UnknownCapability, st.sampled_from([3, 5, 69, 71, 73, 128]), st.binary(max_size=12)),
)

opens = st.builds(
    Open,
    u16,
    u16,
    st.builds(ipaddress.IPv4Address, u32),
    st.lists(capabilities, max_size=8).map(tuple),
)

as_paths = st.lists(
    st.builds(
        AsPathSegment, st.sampled_from(list(AsPathSegmentType)), st.lists(u32, min_size=1, max_size=8).map(tuple)
    ),
    max_size=3,
).map(lambda segs: AsPath(tuple(segs)))

v6_next_hops = st.one_of(st.binary(min_size=16, max_size=16), st.binary(min_size=32, max_size=32))

attributes = st.one_of(
    st.builds(OriginAttr, st.sampled_from(list(Origin))),
    as_paths,
    st.builds(NextHop, st.builds(ipaddress.IPv4Address, u32)),
    st.builds(Med, u32),
    st.builds(LocalPref, u32),
    st.just(AtomicAggregate()),
    st.builds(Communities, st.lists(u32, min_size=1, max_size=10).map(tuple)),
    st.builds(LargeCommunities, st.lists(st.tuples(u32, u32, u32), min_size=1, max_size=5).map(tuple)),
    st.builds(
        MpReach, st.just(Afi.IPV6), st.just(Safi.UNICAST), v6_next_hops, st.lists(v6_prefixes, max_size=8).map(tuple)
    ),
    st.builds(MpUnreach, st.just(Afi.IPV6), st.just(Safi.UNICAST), st.lists(v6_prefixes, max_size=8).map(tuple)),
    st.builds(
        UnknownAttr,
        st.sampled_from([int(AttrFlag.OPTIONAL), int(AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)]),
        st.sampled_from([9, 10, 16, 22, 99, 255]),
        st.binary(max_size=300),
    ),
)


def _unique_types(attrs: list[object]) -> tuple[object, ...]:
    seen: set[int] = set()
    out = []
    for a in attrs:
        t = int(a.TYPE)  # type: ignore[attr-defined]
        if t not in seen:
            seen.add(t)
            out.append(a)
    return tuple(out)


updates = st.builds(
    Update,
    st.lists(v4_prefixes, max_size=10).map(tuple),
    st.lists(attributes, max_size=8).map(_unique_types),
    st.lists(v4_prefixes, max_size=10).map(tuple),
)

notifications = st.builds(Notification, st.integers(1, 7), u8, st.binary(max_size=40))
route_refreshes = st.builds(RouteRefresh, u16, u8, st.integers(0, 2))
