"""BGP advertisement selection, as tables ported from MetalLB's ``speaker/bgp_controller_test.go``.

MetalLB's tests drive a stateful controller step by step and read what each fake session holds; the
selection here is a function, so each step is the whole input (config, Services) and the assertion is the
whole table every peer must hold. Peers are keyed by BGPPeer name (upstream's fake keys them by address).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from alloc_helpers import service
from speaker_helpers import bgpad, cfg, ep, eps, node, nodes, peer, pool, sel

from crds.addresses import Cidr, parse_entry
from crds.community import parse_community
from crds.config import BGPAdvertisementConfig, Config
from crds.meta import LabelSelector
from reconciler.core.announcing import Reason
from reconciler.core.bgp import (
    BGPSelection,
    RouteAttributes,
    bgp_announcements,
    bgp_plan,
    local_pref_conflict,
    prefix_of,
)
from reconciler.core.nodes import EndpointSliceView, EndpointView
from reconciler.core.services import ServiceView

ME = "pandora"
NODES = nodes(ME, "iris")
PEER1 = peer("peer1", "192.0.2.1")
PEER2 = peer("peer2", "192.0.2.2")
Services = Mapping[str, tuple[ServiceView, Sequence[EndpointSliceView]]]


def cidr(text: str) -> Cidr:
    (c,) = parse_entry(text).cidrs
    return c


def attrs(local_pref: int | None = None, *communities: str) -> RouteAttributes:
    parsed = sorted(parse_community(c) for c in communities)
    return RouteAttributes(
        communities=tuple(c for c in parsed if not c.large),
        large_communities=tuple(c for c in parsed if c.large),
        local_pref=local_pref,
    )


def svc(name: str, ip: str | None = "10.20.30.1", **kw: object) -> ServiceView:
    return service(name, ingress=tuple(ip.split(",")) if ip else (), **kw)  # type: ignore[arg-type]


def table(config: Config, services: Services, node_name: str = ME) -> dict[str, dict[str, RouteAttributes]]:
    views = [v for v, _ in services.values()]
    out = bgp_announcements(node_name, config, views, NODES, {v.key: s for v, s in services.values()})
    return {p: {str(prefix): a for prefix, a in routes.items()} for p, routes in out.routes.items()}


# --- TestBGPSpeakerEPSlices, one step per row --------------------------------------------------------------

ONE_AD = cfg(pool(bgp=[bgpad(nodes_=(ME,))]), peers=[PEER1])
TWO_ADS = cfg(
    pool(
        bgp=[
            bgpad("a", nodes_=(ME,), local_pref=100, communities=("0:1234", "0:2345")),
            bgpad("b", nodes_=(ME,), agg=24, local_pref=1000),
        ]
    ),
    peers=[PEER1],
)
TWO_ADS_ONE_ELSEWHERE = cfg(
    pool(
        bgp=[
            bgpad("a", nodes_=(ME,), local_pref=100, communities=("0:1234", "0:2345")),
            bgpad("b", nodes_=("iris",), agg=24, local_pref=1000),
        ]
    ),
    peers=[PEER1],
)
TWO_ADS_PEER_SELECTOR = cfg(
    pool(
        bgp=[
            bgpad("a", nodes_=(ME,), local_pref=100, communities=("0:1234", "0:2345"), peers=("peer1",)),
            bgpad("b", nodes_=(ME,), agg=24, local_pref=1000),
        ]
    ),
    peers=[PEER1],
)
TWO_PEERS = cfg(pool(bgp=[bgpad(nodes_=(ME,))]), peers=[PEER1, PEER2])
ON_IRIS = eps([ep("iris")], service="test1")
SLASH32 = {"10.20.30.1/32": attrs()}


@pytest.mark.parametrize(
    ("config", "services", "expected"),
    [
        pytest.param(cfg(), {"test1": (svc("test1"), ON_IRIS)}, {}, id="no-peers-no-sessions"),
        pytest.param(ONE_AD, {}, {"peer1": {}}, id="one-peer-no-services"),
        pytest.param(ONE_AD, {"t": (svc("test1", None, type_="ClusterIP"), ON_IRIS)}, {"peer1": {}}, id="not-an-lb"),
        pytest.param(ONE_AD, {"t": (svc("test1"), ON_IRIS)}, {"peer1": SLASH32}, id="lb-with-ip-is-announced"),
        pytest.param(
            ONE_AD, {"t": (svc("test1", etp="Local"), ON_IRIS)}, {"peer1": {}}, id="local-endpoint-elsewhere-withdraws"
        ),
        pytest.param(
            ONE_AD,
            {"t": (svc("test1", etp="Local"), eps([ep("iris")], [ep(ME)], service="test1"))},
            {"peer1": SLASH32},
            id="local-endpoint-on-our-node",
        ),
        pytest.param(
            ONE_AD,
            {
                "t": (
                    svc("test1", etp="Local"),
                    eps([ep("iris")], [ep(ME, False)], [ep("iris")], [ep(ME)], service="test1"),
                )
            },
            {"peer1": SLASH32},
            id="one-ready-local-endpoint-is-enough",
        ),
        pytest.param(ONE_AD, {"t": (svc("test1"), ())}, {"peer1": {}}, id="no-endpoints-withdraws"),
        pytest.param(
            ONE_AD, {"t": (svc("test1"), eps([ep("iris", False)]))}, {"peer1": {}}, id="only-unready-endpoints"
        ),
        pytest.param(
            ONE_AD,
            {"t": (svc("test1"), eps([ep("iris"), ep(ME, False)]))},
            {"peer1": SLASH32},
            id="some-unready-endpoints",
        ),
        pytest.param(
            ONE_AD,
            {"t": (svc("test1"), eps([ep("iris", False, True)]))},
            {"peer1": SLASH32},
            id="serving-not-ready-counts",
        ),
        pytest.param(
            ONE_AD,
            {"t": (svc("test1"), eps([ep("iris", True, False)]))},
            {"peer1": SLASH32},
            id="ready-not-serving-counts",
        ),
        pytest.param(
            TWO_ADS,
            {"t": (svc("test1"), ON_IRIS)},
            {
                "peer1": {
                    "10.20.30.0/24": attrs(1000),
                    "10.20.30.1/32": attrs(100, "0:1234", "0:2345"),
                }
            },
            id="two-ads-two-prefixes-with-their-attributes",
        ),
        pytest.param(
            TWO_ADS_ONE_ELSEWHERE,
            {"t": (svc("test1"), ON_IRIS)},
            {"peer1": {"10.20.30.1/32": attrs(100, "0:1234", "0:2345")}},
            id="ad-for-another-node-is-not-ours",
        ),
        pytest.param(
            TWO_ADS_PEER_SELECTOR,
            {"t": (svc("test1"), ON_IRIS)},
            {"peer1": {"10.20.30.0/24": attrs(1000), "10.20.30.1/32": attrs(100, "0:1234", "0:2345")}},
            id="ad-with-peer-selector",
        ),
        pytest.param(
            TWO_PEERS, {"t": (svc("test1"), ON_IRIS)}, {"peer1": SLASH32, "peer2": SLASH32}, id="every-peer-gets-it"
        ),
        pytest.param(
            TWO_PEERS,
            {"t": (svc("test1"), ON_IRIS), "t2": (svc("test2", None), ON_IRIS)},
            {"peer1": SLASH32, "peer2": SLASH32},
            id="second-service-without-ip",
        ),
        pytest.param(
            TWO_PEERS,
            {"t": (svc("test1"), ON_IRIS), "t2": (svc("test2", "10.20.30.5"), ON_IRIS)},
            {"peer1": {**SLASH32, "10.20.30.5/32": attrs()}, "peer2": {**SLASH32, "10.20.30.5/32": attrs()}},
            id="second-service-gets-ip",
        ),
        pytest.param(
            TWO_PEERS,
            {"t": (svc("test1"), ON_IRIS), "t2": (svc("test2"), ON_IRIS)},
            {"peer1": SLASH32, "peer2": SLASH32},
            id="shared-ip-announced-once",
        ),
        pytest.param(
            TWO_PEERS, {"t2": (svc("test2"), ON_IRIS)}, {"peer1": SLASH32, "peer2": SLASH32}, id="first-deleted"
        ),
        pytest.param(
            cfg(pool(bgp=[bgpad(nodes_=(ME,))]), peers=[peer("peer1", "192.0.2.2")]),
            {"t2": (svc("test2"), ON_IRIS)},
            {"peer1": SLASH32},
            id="peer-deleted",
        ),
        pytest.param(
            cfg(pool(bgp=[bgpad(nodes_=(ME,))]), peers=[peer("peer1", "192.0.2.2")]),
            {},
            {"peer1": {}},
            id="last-service-deleted",
        ),
    ],
)
def test_speaker_tables(config: Config, services: Services, expected: dict[str, dict[str, RouteAttributes]]) -> None:
    assert table(config, services) == expected


# --- TestNodeSelectors: which peers hold a session on this node ---------------------------------------------


@pytest.mark.parametrize(
    ("peer2_selectors", "labels", "expected"),
    [
        pytest.param(None, {}, ("peer1",), id="empty-selector-matches-a-node-without-labels"),
        pytest.param((sel(foo="bar"),), {}, ("peer1",), id="non-matching-selector"),
        pytest.param((sel(foo="bar"),), {"foo": "bar"}, ("peer1", "peer2"), id="label-now-matches"),
        pytest.param((sel(foo="bar"),), {"foo": "baz"}, ("peer1",), id="label-no-longer-matches"),
        pytest.param(
            (
                LabelSelector.model_validate(
                    {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar", "baz"]}]}
                ),
            ),
            {"foo": "baz"},
            ("peer1", "peer2"),
            id="selector-changed-to-match",
        ),
        pytest.param(
            (
                sel(host="frontend"),
                LabelSelector.model_validate(
                    {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar", "baz"]}]}
                ),
            ),
            {"foo": "bar"},
            ("peer1", "peer2"),
            id="selectors-are-ored",
        ),
        pytest.param(
            (
                sel(host="frontend"),
                LabelSelector.model_validate(
                    {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar", "baz"]}]}
                ),
            ),
            {"host": "frontend"},
            ("peer1", "peer2"),
            id="the-other-selector-matches",
        ),
    ],
)
def test_node_selectors(
    peer2_selectors: tuple[LabelSelector, ...] | None, labels: dict[str, str], expected: tuple[str, ...]
) -> None:
    peers = [PEER1] if peer2_selectors is None else [PEER1, peer("peer2", "192.0.2.2", node_selectors=peer2_selectors)]
    config = cfg(pool(bgp=[bgpad(nodes_=(ME,))]), peers=peers)
    me = {ME: node(ME, labels=labels)}
    out = bgp_announcements(ME, config, [], me, {})
    assert out.peers == expected and tuple(out.routes) == expected


def test_no_peers_without_config() -> None:
    assert BGPSelection(cfg(), NODES).active_peers(ME) == ()


# --- TestShouldAnnounceExcludeLB, and NetworkUnavailable ------------------------------------------------------


@pytest.mark.parametrize(
    ("node_views", "ignore", "expected"),
    [
        pytest.param(
            nodes("iris1", "iris2", excluded=("iris1", "iris2")),
            False,
            Reason.NODE_LABELED_EXCLUDE_BALANCERS,
            id="excluded-nodes-withdraw",
        ),
        pytest.param(nodes("iris1", "iris2", excluded=("iris1", "iris2")), True, None, id="ignore-exclude-lb"),
        pytest.param(
            nodes("iris1", "iris2", unavailable=("iris1", "iris2")),
            True,
            Reason.NODE_NETWORK_UNAVAILABLE,
            id="network-unavailable-withdraws",
        ),
    ],
)
def test_node_conditions(node_views: dict[str, object], ignore: bool, expected: Reason | None) -> None:
    config = cfg(pool(bgp=[bgpad(nodes_=("iris1", "iris2"))]), peers=[PEER1])
    view = svc("test1")
    selection = BGPSelection(config, node_views, ignore_exclude_lb=ignore)  # type: ignore[arg-type]
    for n in ("iris1", "iris2"):
        assert selection.decide(n, view, eps([ep("iris1")], service="test1")).reason == expected


# --- TestPeersForService ---------------------------------------------------------------------------------------


def two_pools(pool1_peers: tuple[str, ...] = (), peers: Sequence[str] = ("peer1", "peer2")) -> Config:
    return cfg(
        pool("pool1", ("10.20.30.0/24",), bgp=[bgpad(nodes_=(ME,), peers=pool1_peers)]),
        pool("pool2", ("10.20.40.0/24",), bgp=[bgpad(nodes_=(ME,))]),
        peers=[p for p in (PEER1, PEER2) if p.name in peers],
    )


@pytest.mark.parametrize(
    ("config", "services", "expected"),
    [
        pytest.param(two_pools(), {}, {}, id="no-services"),
        pytest.param(two_pools(), {"test1": "10.20.30.1"}, {"test1": ("peer1", "peer2")}, id="first-service"),
        pytest.param(
            two_pools(),
            {"test1": "10.20.30.1", "test2": "10.20.40.1"},
            {"test1": ("peer1", "peer2"), "test2": ("peer1", "peer2")},
            id="second-service",
        ),
        pytest.param(
            two_pools(("peer1",)),
            {"test1": "10.20.30.1", "test2": "10.20.40.1"},
            {"test1": ("peer1",), "test2": ("peer1", "peer2")},
            id="service-1-to-peer1-only",
        ),
        pytest.param(
            two_pools(("peer1",)), {"test2": "10.20.40.1"}, {"test2": ("peer1", "peer2")}, id="first-service-deleted"
        ),
        pytest.param(
            two_pools(("peer1",), peers=("peer2",)), {"test2": "10.20.40.1"}, {"test2": ("peer2",)}, id="peer1-deleted"
        ),
        pytest.param(
            two_pools(("peer1",), peers=("peer2",)),
            {"test1": "10.20.30.1"},
            {"test1": ()},
            id="ad-only-for-a-deleted-peer-reaches-nobody",
        ),
    ],
)
def test_peers_for_service(config: Config, services: dict[str, str], expected: dict[str, tuple[str, ...]]) -> None:
    views = [svc(name, ip) for name, ip in services.items()]
    out = bgp_announcements(ME, config, views, NODES, {v.key: eps([ep("iris")], service=v.name) for v in views})
    assert {v.name: out.services[v.key].peers for v in views} == expected


# --- TestBGPAdsForService, TestShouldAnnounceBGPServiceSelectors ----------------------------------------------


def tagged(name: str, tag: str, **kw: object) -> BGPAdvertisementConfig:
    """An ad recognisable in the output by its community ``0:<tag>``."""
    return bgpad(name, communities=(f"0:{tag}",), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ads", "expected"),
    [
        pytest.param([tagged("ad1", "1", nodes_=("nodeA",))], {"1"}, id="empty-selectors-match-all"),
        pytest.param(
            [tagged("ad1", "1", nodes_=("nodeA",), services=(sel(app="nginx"),))], {"1"}, id="matching-selector"
        ),
        pytest.param(
            [tagged("ad1", "1", nodes_=("nodeA",), services=(sel(app="apache"),))],
            Reason.NO_MATCHING_ADVERTISEMENT,
            id="non-matching-selector",
        ),
        pytest.param([tagged("ad1", "1", nodes_=("nodeB",))], Reason.NOT_OWNER, id="ad-for-another-node"),
        pytest.param(
            [
                tagged("ad1", "1", nodes_=("nodeA",), services=(sel(app="apache"),)),
                tagged("ad2", "2", nodes_=("nodeA",), services=(sel(app="nginx"),)),
                tagged("ad3", "3", nodes_=("nodeA",)),
            ],
            {"2", "3"},
            id="only-matching-ads",
        ),
        pytest.param(
            [tagged("ad1", "1", nodes_=("nodeA",), services=(sel(app="apache"), sel(app="nginx")))],
            {"1"},
            id="selectors-in-one-ad-are-ored",
        ),
        pytest.param(
            [
                bgpad("ad1", nodes_=("nodeA",), local_pref=100),
                bgpad("ad2", nodes_=("nodeA",), local_pref=200, services=(sel(app="nginx"),)),
            ],
            "advertisements 'ad1' and 'ad2' have conflicting LOCAL_PREF (100 vs 200)",
            id="conflicting-local-pref-among-matching-ads",
        ),
    ],
)
def test_ads_for_service(ads: list[BGPAdvertisementConfig], expected: set[str] | Reason | str) -> None:
    config = cfg(pool(bgp=ads), peers=[PEER1])
    view = svc("test-svc", labels={"app": "nginx"})
    d = BGPSelection(config, nodes("nodeA", "nodeB")).decide("nodeA", view, eps([ep("nodeA")], service="test-svc"))
    if isinstance(expected, Reason):
        assert d.reason == expected and not d.advertisements
    elif isinstance(expected, str):
        assert d.reason == Reason.CONFLICTING_ADVERTISEMENTS and d.message == expected
    else:
        assert d.announce
        assert {str(c).split(":")[1] for a in d.advertisements for c in a.communities} == expected


# --- TestCheckBGPAdvConflicts ------------------------------------------------------------------------------------


def lp(name: str, pref: int, node_set: tuple[str, ...], peers: tuple[str, ...] = ()) -> BGPAdvertisementConfig:
    return bgpad(name, nodes_=node_set, local_pref=pref, peers=peers)


@pytest.mark.parametrize(
    ("ads", "conflict"),
    [
        pytest.param([lp("ad1", 100, ("A",)), lp("ad2", 100, ("A",))], False, id="same-local-pref"),
        pytest.param([lp("ad1", 100, ("A",)), lp("ad2", 200, ("B",))], False, id="different-nodes"),
        pytest.param([lp("ad1", 100, ("A",)), lp("ad2", 200, ("A", "B"))], True, id="nodes-subset"),
        pytest.param([lp("ad1", 100, ("A", "B")), lp("ad2", 200, ("A",))], True, id="nodes-superset"),
        pytest.param([lp("ad1", 100, ()), lp("ad2", 200, ("A",))], False, id="first-covers-no-node"),
        pytest.param([lp("ad1", 100, ("A",)), lp("ad2", 200, ())], False, id="second-covers-no-node"),
        pytest.param(
            [lp("ad1", 100, ("A",), ("peer1",)), lp("ad2", 200, ("A",), ("peer2",))], False, id="disjoint-peers"
        ),
        pytest.param([lp("ad1", 100, ("A",))], False, id="single-ad"),
        pytest.param([], False, id="no-ads"),
        pytest.param([lp("ad1", 100, ("A",)), lp("ad2", 200, ("A",))], True, id="same-node-different-pref"),
        pytest.param(
            [lp("ad1", 100, ("A",), ("peer1",)), lp("ad2", 200, ("A",), ("peer2", "peer1"))], True, id="peers-subset"
        ),
        pytest.param(
            [lp("ad1", 100, ("A",), ("peer2", "peer1")), lp("ad2", 200, ("A",), ("peer1",))], True, id="peers-superset"
        ),
        pytest.param(
            [lp("ad1", 100, ("A",), ("peer1", "peer3")), lp("ad2", 200, ("A",), ("peer2", "peer1"))],
            True,
            id="peers-overlap",
        ),
        pytest.param(
            [lp("ad1", 100, ("A",), ("peer2", "peer1")), lp("ad2", 200, ("A",), ("peer1", "peer3"))],
            True,
            id="peers-overlap-reversed",
        ),
        pytest.param([lp("ad1", 100, ("A",)), lp("ad2", 200, ("A",), ("peer1",))], True, id="first-to-all-peers"),
        pytest.param([lp("ad1", 100, ("A",), ("peer1",)), lp("ad2", 200, ("A",))], True, id="second-to-all-peers"),
        pytest.param(
            [bgpad("ad1", local_pref=100), bgpad("ad2", agg=24, local_pref=200)], False, id="different-aggregation"
        ),
    ],
)
def test_local_pref_conflicts(ads: list[BGPAdvertisementConfig], conflict: bool) -> None:
    selection = BGPSelection(cfg(), nodes("A", "B"))
    got = local_pref_conflict(ads, frozenset({4}), selection.ad_nodes)
    assert (got is not None) is conflict
    if conflict:
        assert got == "advertisements 'ad1' and 'ad2' have conflicting LOCAL_PREF (100 vs 200)"


# --- TestHasHealthyEndpoint ------------------------------------------------------------------------------------


def anywhere(ready: bool, address: str = "1.2.3.4") -> EndpointView:
    return EndpointView(addresses=(address,), ready=ready)


@pytest.mark.parametrize(
    ("endpoints", "announced"),
    [
        pytest.param([anywhere(True)], True, id="one-ready"),
        pytest.param([anywhere(False)], False, id="one-not-ready"),
        pytest.param([anywhere(False), anywhere(True)], True, id="same-ip-one-ready"),
        pytest.param([anywhere(True), anywhere(False)], True, id="same-ip-ready-first"),
        pytest.param([anywhere(False), anywhere(False)], False, id="same-ip-none-ready"),
        pytest.param([anywhere(False), anywhere(True, "5.6.7.8")], True, id="mixed-ips-one-ready"),
        pytest.param([EndpointView(addresses=(), ready=True)], False, id="ready-without-addresses-does-not-count"),
    ],
)
def test_healthy_endpoint(endpoints: list[EndpointView], announced: bool) -> None:
    d = BGPSelection(ONE_AD, NODES).decide(ME, svc("test1"), eps(endpoints, service="test1"))
    assert d.reason == (None if announced else Reason.NO_ENDPOINTS)


# --- beyond the upstream tables: merging, families, eBGP ------------------------------------------------------


def test_two_ads_on_one_prefix_unite_their_communities() -> None:
    config = cfg(
        pool(
            bgp=[
                bgpad("a", agg=24, communities=("0:1",)),
                bgpad("b", agg=24, communities=("0:2", "large:1:2:3")),
            ]
        ),
        peers=[PEER1],
    )
    services = {n: (svc(n, ip), eps([ep(ME)], service=n)) for n, ip in (("s1", "10.20.30.1"), ("s2", "10.20.30.7"))}
    assert table(config, services) == {"peer1": {"10.20.30.0/24": attrs(None, "0:1", "0:2", "large:1:2:3")}}


def test_local_pref_is_for_internal_peers_only() -> None:
    ebgp = peer("ext", "192.0.2.9", asn=64513)
    config = cfg(pool(bgp=[bgpad(local_pref=150)]), peers=[PEER1, ebgp])
    got = table(config, {"s": (svc("s"), eps([ep(ME)], service="s"))})
    assert got == {"ext": {"10.20.30.1/32": attrs()}, "peer1": {"10.20.30.1/32": attrs(150)}}


def test_as_path_prepend_reaches_internal_and_external_peers() -> None:
    ebgp = peer("ext", "192.0.2.9", asn=64513)
    config = cfg(pool(bgp=[bgpad(prepend=2)]), peers=[PEER1, ebgp])
    got = table(config, {"s": (svc("s"), eps([ep(ME)], service="s"))})
    want = RouteAttributes(as_path_prepend=2)
    assert got == {"ext": {"10.20.30.1/32": want}, "peer1": {"10.20.30.1/32": want}}


def test_merged_advertisements_keep_the_highest_as_path_prepend() -> None:
    # Only ads with serviceSelectors may overlap with different counts (the parser refuses the rest).
    config = cfg(
        pool(bgp=[bgpad("a", prepend=1, services=(sel(app="x"),)), bgpad("b", prepend=3, services=(sel(app="y"),))]),
        peers=[PEER1],
    )
    services = {
        "s1": (svc("s1", labels={"app": "x"}), eps([ep(ME)], service="s1")),
        "s2": (svc("s2", labels={"app": "y"}), eps([ep(ME)], service="s2")),
    }
    assert table(config, services) == {"peer1": {"10.20.30.1/32": RouteAttributes(as_path_prepend=3)}}


def test_dual_stack_uses_each_family_aggregation() -> None:
    config = cfg(pool(addresses=("10.20.30.0/24", "2001:db8::/64"), bgp=[bgpad(agg=26, agg6=64)]), peers=[PEER1])
    got = table(config, {"s": (svc("s", "10.20.30.77,2001:db8::5"), eps([ep(ME)], service="s"))})
    assert got == {"peer1": {"10.20.30.64/26": attrs(), "2001:db8::/64": attrs()}}


def test_prefix_of_masks_host_bits() -> None:
    assert prefix_of((4, 0x0A141EFF), bgpad(agg=24)) == cidr("10.20.30.0/24")
    assert prefix_of((6, 1), bgpad(agg6=128)) == Cidr(6, 1, 128)


def test_plan_shows_every_announcing_node_and_why_the_others_do_not() -> None:
    config = cfg(pool(bgp=[bgpad(nodes_=(ME, "iris"))]), peers=[PEER1, peer("peer2", node_selectors=(sel(rack="b"),))])
    node_views = {ME: node(ME), "iris": node("iris", labels={"rack": "b"}), "edge": node("edge")}
    local = svc("s", etp="Local")
    plan = bgp_plan(config, [local], node_views, {local.key: eps([ep("iris")], service="s")})[local.key]
    assert plan.announcers == {"iris": ("peer1", "peer2")}
    assert plan.reasons == {ME: Reason.NO_LOCAL_ENDPOINTS, "edge": Reason.NOT_OWNER}
    assert plan.prefixes == (cidr("10.20.30.1/32"),)


def test_routes_for_some_prefixes_equal_the_full_tables_restricted_to_them() -> None:
    config = cfg(pool(bgp=[bgpad("a", agg=24, communities=("0:1",)), bgpad("b", communities=("0:2",))]), peers=[PEER1])
    views = [svc(f"s{i}", f"10.20.30.{i}") for i in (1, 2, 3)]
    selection = BGPSelection(config, NODES)
    decisions = [selection.decide(ME, v, eps([ep(ME)], service=v.name)) for v in views]
    full = selection.routes(ME, decisions)
    only = {cidr("10.20.30.2/32"), cidr("10.20.30.0/24"), cidr("10.20.30.9/32")}
    assert selection.routes(ME, decisions, only=only) == {
        "peer1": {p: a for p, a in full["peer1"].items() if p in only}
    }
    assert set(full["peer1"]) == {cidr(f"10.20.30.{i}/32") for i in (1, 2, 3)} | {cidr("10.20.30.0/24")}
