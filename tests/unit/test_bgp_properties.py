"""Properties of BGP selection over random configs: tables hold exactly what the decisions ask, merged right."""

from __future__ import annotations

from alloc_helpers import service
from hypothesis import given
from hypothesis import strategies as st
from speaker_helpers import bgpad, cfg, ep, eps, node, peer, pool, sel

from crds.community import Community
from crds.config import Config
from reconciler.core.bgp import bgp_announcements, bgp_plan, peer_is_ibgp
from reconciler.core.nodes import EndpointSliceView, NodeView
from reconciler.core.services import ServiceView

NAMES = ["n0", "n1", "n2"]
PEERS = ["p0", "p1", "p2"]
COMMUNITIES = ["0:1", "0:2", "65000:7", "large:1:2:3"]

Case = tuple[Config, dict[str, NodeView], list[ServiceView], dict[str, tuple[EndpointSliceView, ...]]]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    node_views = {n: node(n, labels={"rack": draw(st.sampled_from("ab"))}) for n in NAMES}
    peers = [
        peer(
            name,
            f"192.0.2.{i + 1}",
            asn=draw(st.sampled_from([64512, 64513])),
            node_selectors=(sel(rack=draw(st.sampled_from("ab"))),) if draw(st.booleans()) else (),
        )
        for i, name in enumerate(PEERS)
    ]
    ads = [
        bgpad(
            f"ad{i}",
            nodes_=tuple(draw(st.lists(st.sampled_from(NAMES), unique=True))) if draw(st.booleans()) else None,
            agg=draw(st.sampled_from([24, 28, 32])),
            local_pref=draw(st.sampled_from([0, 100])) if i == 0 else 0,
            communities=tuple(draw(st.lists(st.sampled_from(COMMUNITIES), unique=True, max_size=2))),
            peers=tuple(draw(st.lists(st.sampled_from(PEERS), unique=True, max_size=2))),
            prepend=draw(st.sampled_from([0, 2])),
        )
        for i in range(draw(st.integers(1, 3)))
    ]
    views = []
    slices = {}
    for i in range(draw(st.integers(1, 4))):
        v = service(
            f"s{i}",
            ingress=(f"198.51.100.{draw(st.integers(1, 254))}",),
            etp=draw(st.sampled_from(["Cluster", "Local"])),
        )
        views.append(v)
        slices[v.key] = eps(
            [ep(n) for n in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=2))], service=v.name
        )
    return cfg(pool(addresses=("198.51.100.0/24",), bgp=ads), peers=peers), node_views, views, slices


@given(cases())
def test_each_peer_holds_exactly_the_merged_advertisements_meant_for_it(case: Case) -> None:
    config, node_views, views, slices = case
    plan = bgp_plan(config, views, node_views, slices)
    for n in NAMES:
        out = bgp_announcements(n, config, views, node_views, slices)
        assert set(out.routes) == set(out.peers)
        for p, table in out.routes.items():
            wanted: dict[object, set[Community]] = {}
            prepends: dict[object, int] = {}
            for d in out.services.values():
                for a in d.advertisements:
                    if a.for_peer(p):
                        wanted.setdefault(a.prefix, set()).update(a.communities)
                        prepends[a.prefix] = max(prepends.get(a.prefix, 0), a.as_path_prepend)
            assert set(table) == set(wanted)
            for prefix, attrs in table.items():
                assert {*attrs.communities, *attrs.large_communities} == wanted[prefix]
                assert attrs.as_path_prepend == prepends[prefix]
                assert all(not c.large for c in attrs.communities) and all(c.large for c in attrs.large_communities)
                if not peer_is_ibgp(config.peers[p]):
                    assert attrs.local_pref is None
        for v in views:
            d = out.services[v.key]
            assert (n in plan[v.key].announcers) == d.announce
            if d.announce:
                assert plan[v.key].announcers[n] == d.peers
                assert set(d.peers) <= set(out.peers)
