"""UPDATE packing (speaker.bgp.routes): whatever the change, the UPDATEs built for it decode to exactly the routes
announced (with their attributes) and withdrawn, each within the negotiated size, grouped by attributes."""

from __future__ import annotations

import ipaddress

import pytest
from bgp_strategies import v4_prefixes, v6_prefixes
from hypothesis import given
from hypothesis import strategies as st

from speaker.bgp.attributes import AsPath, Communities, LargeCommunities, LocalPref, MpReach, MpUnreach, NextHop
from speaker.bgp.message import decode_message
from speaker.bgp.routes import PathContext, RouteAttrs, build_updates, path_attributes, prefix_key
from speaker.bgp.update import Update

attrs = st.builds(
    RouteAttrs,
    st.frozensets(st.integers(0, 2**32 - 1), max_size=3),
    st.frozensets(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 5), st.integers(0, 5)), max_size=2),
    st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    st.integers(0, 3),
)
prefixes = st.one_of(v4_prefixes, v6_prefixes)
NH4 = ipaddress.IPv4Address("198.51.100.11")
NH6 = ipaddress.IPv6Address("2001:db8::11")


@given(
    st.dictionaries(prefixes, attrs, max_size=300),
    st.sets(prefixes, max_size=300),
    st.sampled_from([4096, 65535]),
    st.booleans(),
)
def test_updates_carry_exactly_the_change(
    announce: dict[object, RouteAttrs], withdraw: set[object], max_length: int, ibgp: bool
) -> None:
    withdraw -= set(announce)
    ctx = PathContext(64512, ibgp, True, NH4, NH6, max_length)
    by_key = {prefix_key(p): p for p in [*announce, *withdraw]}  # type: ignore[arg-type]
    frames, unsendable = build_updates(
        {prefix_key(p): a for p, a in announce.items()},  # type: ignore[arg-type]
        [prefix_key(p) for p in withdraw],  # type: ignore[arg-type]
        ctx,
    )
    assert unsendable == []
    seen_announced: dict[object, tuple[object, ...]] = {}
    seen_withdrawn: set[object] = set()
    for frame in frames:
        assert len(frame) <= max_length
        msg = decode_message(frame, max_length=65535)
        assert isinstance(msg, Update) and not msg.errors
        seen_withdrawn |= set(msg.withdrawn)
        unreach = msg.attribute(MpUnreach)
        if isinstance(unreach, MpUnreach):
            seen_withdrawn |= set(unreach.withdrawn)
        reach = msg.attribute(MpReach)
        nlri = list(msg.nlri) + (list(reach.nlri) if isinstance(reach, MpReach) else [])
        plain = tuple(a for a in msg.attributes if not isinstance(a, MpReach | NextHop))
        for p in nlri:
            assert p not in seen_announced, "each prefix announced once"
            seen_announced[p] = plain
        if msg.nlri:
            assert msg.attribute(NextHop) == NextHop(NH4)
        if isinstance(reach, MpReach) and reach.nlri:
            assert reach.next_hops == (NH6,)
    assert seen_withdrawn == withdraw
    assert set(seen_announced) == set(announce)
    for p, a in announce.items():
        assert seen_announced[p] == path_attributes(a, ctx)
    assert set(by_key.values()) == set(announce) | withdraw


def test_ebgp_and_ibgp_attributes() -> None:
    a = RouteAttrs(frozenset({3, 1}), frozenset({(64512, 1, 2)}), local_pref=200, as_path_prepend=2)
    ebgp = path_attributes(a, PathContext(64512, False, True, NH4, NH6))
    assert AsPath.sequence((64512, 64512, 64512)) in ebgp
    assert not any(isinstance(x, LocalPref) for x in ebgp), "no LOCAL_PREF to eBGP peers"
    assert Communities((1, 3)) in ebgp and LargeCommunities(((64512, 1, 2),)) in ebgp
    ibgp = path_attributes(a, PathContext(64512, True, True, NH4, NH6))
    assert AsPath.sequence((64512, 64512)) in ibgp and LocalPref(200) in ibgp
    assert LocalPref(100) in path_attributes(RouteAttrs(), PathContext(64512, True, True, NH4, NH6))
    assert AsPath() in path_attributes(RouteAttrs(), PathContext(64512, True, True, NH4, NH6))


def test_routes_without_a_next_hop_of_their_family_are_reported() -> None:
    net6 = ipaddress.IPv6Network("2001:db8:1::/64")
    frames, unsendable = build_updates({prefix_key(net6): RouteAttrs()}, [], PathContext(64512, False, True, NH4, None))
    assert frames == [] and unsendable == [prefix_key(net6)]


def test_route_attrs_validate() -> None:
    with pytest.raises(ValueError, match="as_path_prepend"):
        RouteAttrs(as_path_prepend=300)
    with pytest.raises(ValueError, match="local_pref"):
        RouteAttrs(local_pref=-1)
    assert RouteAttrs(frozenset({1, 2})) == RouteAttrs(frozenset({2, 1}))
