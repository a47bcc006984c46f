"""The layer 2 election, as a table ported from MetalLB's ``speaker/layer2_controller_test.go``.

Each row is one upstream case (its id names the rule; the upstream test is in the comment above each table)
and asserts the exact outcome on every node: ``None`` announces, else MetalLB's withdraw reason. Outcomes that
depend on the sha256 order are upstream's, so they also prove the hash key is byte-for-byte MetalLB's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from alloc_helpers import service
from speaker_helpers import cfg, ep, eps, l2ad, nodes, pool, prefer, sel

from crds.config import Config, L2AdvertisementConfig
from reconciler.core.announcing import Reason, first_ip_text
from reconciler.core.l2 import L2Decision, L2Election, election_order, l2_announcements, l2_owners
from reconciler.core.nodes import EndpointSliceView, EndpointView, NodeView
from reconciler.core.services import ServiceView

OWNER = None  # "this node announces"
NOT_OWNER = Reason.NOT_OWNER
NO_AD = Reason.NO_MATCHING_ADVERTISEMENT
IRIS = ("iris1", "iris2")
BOTH = (l2ad(nodes_=IRIS),)
IRIS1 = (l2ad(nodes_=("iris1",)),)
IRIS2 = (l2ad(nodes_=("iris2",)),)
SPLIT = (l2ad("a", nodes_=("iris1",)), l2ad("b", nodes_=("iris2",)))


def svc(ip: str = "10.20.30.1", *, etp: str = "Cluster", **kw: object) -> ServiceView:
    return service("svc", ingress=tuple(ip.split(",")), etp=etp, **kw)  # type: ignore[arg-type]


def decide(
    node: str,
    config: Config,
    view: ServiceView,
    slices: Sequence[EndpointSliceView],
    node_views: Mapping[str, NodeView],
    members: frozenset[str] | None,
    ignore_exclude_lb: bool = False,
) -> L2Decision:
    out = l2_announcements(
        node, config, [view], node_views, {view.key: slices}, members, ignore_exclude_lb=ignore_exclude_lb
    )
    return out[view.key]


def outcomes(
    config: Config,
    view: ServiceView,
    slices: Sequence[EndpointSliceView],
    node_views: Mapping[str, NodeView],
    members: frozenset[str] | None,
    ignore_exclude_lb: bool = False,
) -> tuple[Reason | None, ...]:
    """The decision of every node in ``node_views`` order; also checks l2_owners agrees with them."""
    got = tuple(decide(n, config, view, slices, node_views, members, ignore_exclude_lb).reason for n in node_views)
    owners = [n for n, r in zip(node_views, got, strict=True) if r is None]
    assert len(owners) <= 1, f"two announcers: {owners}"
    plan = l2_owners(config, [view], node_views, {view.key: slices}, members, ignore_exclude_lb=ignore_exclude_lb)
    assert plan[view.key].owner == (owners[0] if owners else None)
    assert plan[view.key].announce == bool(owners)
    return got


def two_nodes(ads: Sequence[L2AdvertisementConfig]) -> Config:
    return cfg(pool(l2=ads))


# --- TestShouldAnnounceEPSlices: ETP=Local, members iris1 and iris2, one ad for both -------------------------


@pytest.mark.parametrize(
    ("ip", "slices", "expected"),
    [
        pytest.param("10.20.30.1", [[ep("iris1"), ep("iris1")]], (OWNER, NOT_OWNER), id="local-endpoints-on-one-host"),
        pytest.param(
            "10.20.30.1",
            [[ep("iris1", False), ep("iris1", False)]],
            (NOT_OWNER, NOT_OWNER),
            id="no-ready-endpoint-nobody-announces",
        ),
        pytest.param(
            "10.20.30.1",
            [[ep("iris1"), ep("iris2", ready=False, serving=True)]],
            (NOT_OWNER, OWNER),
            id="serving-but-not-ready-endpoint-counts",
        ),
        pytest.param(
            "10.20.30.1",
            [[ep("iris1", False), ep("iris2", False)]],
            (NOT_OWNER, NOT_OWNER),
            id="two-hosts-none-ready-nobody-announces",
        ),
        pytest.param(
            "10.20.30.1",
            [[ep("iris1"), ep("iris2", False)]],
            (OWNER, NOT_OWNER),
            id="host-with-unready-endpoint-is-no-candidate",
        ),
        pytest.param("10.20.30.1", [[ep("iris1"), ep("iris2")]], (NOT_OWNER, OWNER), id="hash-picks-iris2-for-.1"),
        pytest.param("10.20.30.2", [[ep("iris1"), ep("iris2")]], (OWNER, NOT_OWNER), id="hash-picks-iris1-for-.2"),
        pytest.param(
            "10.20.30.2", [[ep("iris1"), ep("iris2", False)]], (OWNER, NOT_OWNER), id="two-services-one-unready-on-c2"
        ),
        pytest.param(
            "10.20.30.1", [[ep("iris2"), ep("iris1", False)]], (NOT_OWNER, OWNER), id="two-services-one-unready-on-c1"
        ),
        pytest.param(
            "10.20.30.1",
            [[ep("iris1"), ep("iris2")], [ep("iris2")]],
            (NOT_OWNER, OWNER),
            id="endpoints-across-slices",
        ),
        pytest.param(
            "10.20.30.1",
            [[ep("iris1"), ep("iris2"), ep("iris1")]],
            (NOT_OWNER, OWNER),
            id="endpoint-count-per-node-does-not-matter",
        ),
        pytest.param(
            "10.20.30.1",
            [[ep("iris1"), ep("iris2"), ep("iris2")]],
            (NOT_OWNER, OWNER),
            id="two-endpoints-on-the-winner",
        ),
        pytest.param(
            "10.20.30.1",
            [[ep("iris1"), ep("iris2"), ep("iris1", False)]],
            (NOT_OWNER, OWNER),
            id="one-unready-of-two-on-a-node-keeps-it",
        ),
        pytest.param(
            "10.20.30.1",
            [[ep("iris1"), ep("iris2", False), ep("iris2", False)]],
            (OWNER, NOT_OWNER),
            id="all-unready-on-a-node-drops-it",
        ),
    ],
)
def test_should_announce_endpoint_slices(
    ip: str, slices: list[list[EndpointView]], expected: tuple[Reason | None, ...]
) -> None:
    got = outcomes(two_nodes(BOTH), svc(ip, etp="Local"), eps(*slices), nodes(*IRIS), frozenset(IRIS))
    assert got == expected


# --- TestShouldAnnounceFromNodes: advertisements' nodes, exclusion label, ignore-exclude-lb ----------------


@pytest.mark.parametrize(
    ("ads", "on", "etp", "excluded", "ignore", "expected"),
    [
        pytest.param(IRIS1, ("iris1",), "Cluster", (), False, (OWNER, NO_AD), id="ad-on-iris1-only"),
        pytest.param(SPLIT, ("iris1",), "Local", (), False, (OWNER, NOT_OWNER), id="split-ads-local-follows-endpoint"),
        pytest.param(BOTH, ("iris1",), "Cluster", (), False, (NOT_OWNER, OWNER), id="cluster-ignores-endpoint-place"),
        pytest.param(IRIS1, IRIS, "Cluster", (), False, (OWNER, NO_AD), id="endpoints-everywhere-ad-on-iris1"),
        pytest.param(IRIS2, ("iris1",), "Local", (), False, (NO_AD, NOT_OWNER), id="local-endpoint-off-the-ad-nobody"),
        pytest.param(BOTH, ("iris1",), "Cluster", ("iris2",), False, (OWNER, NOT_OWNER), id="excluded-node-loses"),
        pytest.param(BOTH, ("iris1",), "Cluster", ("iris1",), False, (NOT_OWNER, OWNER), id="excluded-winner-moves"),
        pytest.param(BOTH, ("iris1",), "Cluster", IRIS, False, (NOT_OWNER, NOT_OWNER), id="all-excluded-nobody"),
        pytest.param(BOTH, ("iris1",), "Local", IRIS, True, (OWNER, NOT_OWNER), id="ignore-exclude-lb"),
    ],
)
def test_should_announce_from_nodes(
    ads: tuple[L2AdvertisementConfig, ...],
    on: tuple[str, ...],
    etp: str,
    excluded: tuple[str, ...],
    ignore: bool,
    expected: tuple[Reason | None, ...],
) -> None:
    slices = eps([ep(n) for n in on])
    got = outcomes(two_nodes(ads), svc(etp=etp), slices, nodes(*IRIS, excluded=excluded), frozenset(IRIS), ignore)
    assert got == expected


def test_network_unavailable_node_is_never_a_candidate() -> None:
    """The NetworkUnavailable rule (upstream exercises it in e2e only)."""
    got = outcomes(two_nodes(BOTH), svc(), eps([ep("iris1")]), nodes(*IRIS, unavailable=("iris2",)), frozenset(IRIS))
    assert got == (OWNER, NOT_OWNER)


def test_dead_member_is_never_a_candidate() -> None:
    """A Node the failure detector declares dead drops out; the VIP moves to the survivor."""
    got = outcomes(two_nodes(BOTH), svc(), eps([ep("iris1")]), nodes(*IRIS), frozenset({"iris1"}))
    assert got == (OWNER, NOT_OWNER)


def test_membership_disabled_means_every_api_node() -> None:
    """TestUsableNodesEPSlicesWithSpeakerlistDisabled."""
    got = outcomes(two_nodes(BOTH), svc(etp="Local"), eps([ep("iris1"), ep("iris1")]), nodes(*IRIS), None)
    assert got == (OWNER, NOT_OWNER)


def test_a_member_without_a_node_object_never_announces() -> None:
    """Advertisements select Nodes; a live member the API does not know is in no advertisement."""
    got = decide("ghost", two_nodes(BOTH), svc(), eps([ep("iris1")]), nodes(*IRIS), frozenset({"ghost"}))
    assert got.reason == NO_AD and got.owner is None


# --- TestUsableNodesEPSlices: who is a candidate under ETP=Local ---------------------------------------------


@pytest.mark.parametrize(
    ("slices", "expected"),
    [
        pytest.param([[ep("iris1")], [ep("iris2")]], {"iris1", "iris2"}, id="two-hosts-two-slices"),
        pytest.param([[ep("iris1"), ep("iris2")]], {"iris1", "iris2"}, id="two-hosts"),
        pytest.param([[ep("iris1"), ep("iris1")]], {"iris1"}, id="same-host"),
        pytest.param([[ep("iris1"), ep("iris1", False)]], {"iris1"}, id="same-host-one-unready"),
        pytest.param(
            [[ep("iris1", False, True), ep("iris2", False, True)]], {"iris1", "iris2"}, id="not-ready-but-serving"
        ),
        pytest.param(
            [[ep("iris1", True, False), ep("iris2", True, False)]], {"iris1", "iris2"}, id="ready-not-serving"
        ),
    ],
)
def test_local_candidates_are_nodes_with_a_serving_endpoint(
    slices: list[list[EndpointView]], expected: set[str]
) -> None:
    election = L2Election(two_nodes(BOTH), nodes(*IRIS), frozenset(IRIS))
    view = svc(etp="Local")
    assert set(election.candidates(list(BOTH), view, eps(*slices))) == expected


# --- TestClusterPolicy -----------------------------------------------------------------------------------------


def test_cluster_policy_spreads_and_agrees_on_shared_ips() -> None:
    """One announcer per IP; two Services on one IP land on the same node; both nodes get some IPs."""
    config = two_nodes(BOTH)
    winners = set()
    for i in range(1, 256):
        ip = f"10.20.30.{i}"
        a = outcomes(config, service("svc1", ingress=(ip,)), eps([ep("iris1")], service="svc1"), nodes(*IRIS), None)
        b = outcomes(config, service("svc2", ingress=(ip,)), eps([ep("iris2")], service="svc2"), nodes(*IRIS), None)
        assert a == b and a.count(None) == 1
        winners.add(a.index(None))
    assert winners == {0, 1}


# --- TestL2ServiceSelectors, TestL2SharedIPWithServiceSelectors -----------------------------------------------

NGINX = {"app": "nginx"}


@pytest.mark.parametrize(
    ("ads", "annotations", "expected"),
    [
        pytest.param((l2ad(nodes_=("iris1",)),), {}, OWNER, id="empty-service-selector-matches-all"),
        pytest.param((l2ad(nodes_=("iris1",), services=(sel(app="nginx"),)),), {}, OWNER, id="selector-matches"),
        pytest.param((l2ad(nodes_=("iris1",), services=(sel(app="apache"),)),), {}, NO_AD, id="selector-mismatch"),
        pytest.param(
            (l2ad(nodes_=("iris1",), services=(sel(app="apache"), sel(app="nginx"))),),
            {},
            OWNER,
            id="selectors-are-ored",
        ),
        pytest.param(
            (l2ad(nodes_=("iris1",), services=(sel(app="nginx"),)),),
            {"metallb.io/allow-shared-ip": "shared"},
            Reason.SHARED_IP_WITH_SERVICE_SELECTOR,
            id="shared-ip-with-service-selector-refused",
        ),
        pytest.param(
            (l2ad(nodes_=("iris1",)),),
            {"metallb.io/allow-shared-ip": "shared"},
            OWNER,
            id="shared-ip-without-service-selector-allowed",
        ),
        pytest.param(
            (l2ad(nodes_=("iris1",), services=(sel(app="nginx"),)),),
            {"metallb.universe.tf/allow-shared-ip": "shared"},
            Reason.SHARED_IP_WITH_SERVICE_SELECTOR,
            id="deprecated-shared-ip-annotation-refused-too",
        ),
        pytest.param(
            (l2ad("a", nodes_=("iris1",)), l2ad("b", nodes_=("iris1",), services=(sel(app="nginx"),))),
            {"metallb.io/allow-shared-ip": "shared"},
            Reason.SHARED_IP_WITH_SERVICE_SELECTOR,
            id="shared-ip-any-matching-ad-with-selector-refused",
        ),
        pytest.param(
            (l2ad(nodes_=("iris1",), services=(sel(app="apache"),)),),
            {"metallb.io/allow-shared-ip": ""},
            NO_AD,
            id="shared-ip-with-only-non-matching-selector-ads",
        ),
    ],
)
def test_service_selectors(
    ads: tuple[L2AdvertisementConfig, ...], annotations: dict[str, str], expected: Reason | None
) -> None:
    view = svc(labels=NGINX, annotations=annotations)
    got = decide("iris1", two_nodes(ads), view, eps([ep("iris1")]), nodes("iris1"), frozenset({"iris1"}))
    assert got.reason == expected


def test_election_is_global_but_interfaces_are_per_node() -> None:
    """TestL2ElectionConsistentButAdsPerNode: one winner, announcing on its own ad's interface only."""
    ads = (
        l2ad("a", nodes_=("iris1",), interfaces=("eth0",), services=(sel(app="web"),)),
        l2ad("b", nodes_=("iris2",), interfaces=("eth1",), services=(sel(app="web"),)),
    )
    view = svc(labels={"app": "web"})
    slices = eps([ep("iris1"), ep("iris2")])
    got = {n: decide(n, two_nodes(ads), view, slices, nodes(*IRIS), frozenset(IRIS)) for n in IRIS}
    winners = [n for n, d in got.items() if d.announce]
    assert len(winners) == 1
    assert got[winners[0]].interfaces == {"iris1": {"eth0"}, "iris2": {"eth1"}}[winners[0]]
    assert {n: d.owner for n, d in got.items()} == {n: (n if n == winners[0] else None) for n in IRIS}


def test_no_advertisement_for_service_and_node() -> None:
    """TestL2NoMatchingAdForServiceAndNode: the matching ad selects a Node that does not exist."""
    ads = (
        l2ad("other", nodes_=IRIS, services=(sel(app="other"),)),
        l2ad("web", nodes_=("ghost",), services=(sel(app="web"),)),
    )
    view = svc(labels={"app": "web"})
    got = outcomes(two_nodes(ads), view, eps([ep("iris1"), ep("iris2")]), nodes(*IRIS), frozenset(IRIS))
    assert got == (NO_AD, NO_AD)
    assert l2_owners(two_nodes(ads), [view], nodes(*IRIS), {view.key: ()}, None)[view.key].reason == Reason.NOT_OWNER
    plan = l2_owners(two_nodes(ads), [view], nodes(*IRIS), {view.key: eps([ep("iris1")])}, None)
    assert plan[view.key].reason == NO_AD


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        pytest.param("foo", (OWNER, NO_AD), id="svc-foo-only-iris1-ad-matches"),
        pytest.param("bar", (NO_AD, OWNER), id="svc-bar-only-iris2-ad-matches"),
    ],
)
def test_service_selector_filters_candidate_nodes(app: str, expected: tuple[Reason | None, ...]) -> None:
    """TestL2ServiceSelectorFiltersCandidateNodes: a node whose ad does not match the Service never wins."""
    ads = (
        l2ad("a", nodes_=("iris1",), services=(sel(app="foo"),)),
        l2ad("b", nodes_=("iris2",), services=(sel(app="bar"),)),
    )
    got = outcomes(two_nodes(ads), svc(labels={"app": app}), eps([ep("iris1"), ep("iris2")]), nodes(*IRIS), None)
    assert got == expected


# --- TestIPAdvertisementFor ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interfaces", "expected"),
    [
        pytest.param([()], None, id="no-interfaces-means-all"),
        pytest.param([("eth1", "eth2")], {"eth1", "eth2"}, id="listed-interfaces"),
        pytest.param([("eth0", "eth1"), ("eth0", "eth2")], {"eth0", "eth1", "eth2"}, id="interfaces-merged"),
        pytest.param([("eth0", "eth1"), ()], None, id="one-ad-with-all-interfaces-wins"),
    ],
)
def test_interfaces(interfaces: list[tuple[str, ...]], expected: set[str] | None) -> None:
    ads = [l2ad(f"ad{i}", interfaces=ifs) for i, ifs in enumerate(interfaces)]
    view = svc("2000::12") if expected == {"eth1", "eth2"} else svc("192.168.10.3")
    config = cfg(pool(addresses=("192.168.10.0/24", "2000::/64"), l2=ads))
    got = decide("n1", config, view, eps([ep("n1")]), nodes("n1"), None)
    assert got.announce and got.interfaces == expected


# --- TestSortL2Candidates, TestPreferredScoresFor --------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidates", "ip", "scores", "expected"),
    [
        pytest.param([], "10.0.0.1", {}, [], id="empty"),
        pytest.param(["node-a"], "10.0.0.1", {}, ["node-a"], id="single"),
        pytest.param(["node-a", "node-b", "node-c"], "10.0.0.1", {}, ["node-b", "node-a", "node-c"], id="hash-order"),
        pytest.param(
            ["node-a", "node-b", "node-c"], "10.0.0.2", {}, ["node-b", "node-c", "node-a"], id="hash-depends-on-ip"
        ),
        pytest.param(
            ["edge-a", "edge-b", "worker-a", "worker-b"],
            "10.20.30.1",
            {"edge-a": 100},
            ["edge-a", "edge-b", "worker-a", "worker-b"],
            id="highest-score-beats-hash",
        ),
        pytest.param(
            ["node-a", "node-b"], "10.20.30.1", {"node-a": 100, "node-b": 100}, ["node-b", "node-a"], id="equal-scores"
        ),
        pytest.param(
            ["edge-a", "edge-b", "worker-a"],
            "10.20.30.1",
            {"edge-a": 100, "edge-b": 100},
            ["edge-b", "edge-a", "worker-a"],
            id="preferred-group-first-by-hash",
        ),
    ],
)
def test_election_order(candidates: list[str], ip: str, scores: dict[str, int], expected: list[str]) -> None:
    assert election_order(candidates, ip, scores) == expected
    assert election_order(reversed(candidates), ip, scores) == expected


@pytest.mark.parametrize(
    ("ads", "expected"),
    [
        pytest.param([], {}, id="no-ads"),
        pytest.param([l2ad(nodes_=("a",))], {}, id="ads-without-preferences"),
        pytest.param(
            [
                l2ad("x", nodes_=("a", "b"), preferred=(prefer(70, "a"),)),
                l2ad("y", nodes_=("a", "b"), preferred=(prefer(30, "a"), prefer(50, "b"))),
            ],
            {"a": 100, "b": 50},
            id="preferences-sum-across-ads",
        ),
        pytest.param(
            [l2ad("x", nodes_=("a",), preferred=(prefer(70, "a", "b"),))],
            {"a": 70},
            id="preference-only-within-the-ads-nodes",
        ),
    ],
)
def test_preferred_scores(ads: list[L2AdvertisementConfig], expected: dict[str, int]) -> None:
    assert L2Election(two_nodes(ads), nodes("a", "b"), None).scores(ads) == expected


# --- TestShouldAnnouncePreferredNode, ...SplitBrainWithMixedAds, ...PreferredNodeFailover ----------------------


def winners(
    config: Config, view: ServiceView, slices: Sequence[EndpointSliceView], members: frozenset[str], all_: Sequence[str]
) -> list[str]:
    node_views = nodes(*all_)
    return [n for n in sorted(members) if decide(n, config, view, slices, node_views, members).announce]


EDGE = ("edge-a", "edge-b", "worker-a", "worker-b")


@pytest.mark.parametrize(
    ("ads", "members", "etp", "expected"),
    [
        pytest.param(
            [l2ad(nodes_=EDGE, preferred=(prefer(100, "edge-a"),))], EDGE, "Cluster", "edge-a", id="preferred-wins"
        ),
        pytest.param(
            [l2ad(nodes_=("preferred-a", "worker-a"), preferred=(prefer(100, "preferred-a"),))],
            ("preferred-a", "worker-a"),
            "Local",
            "worker-a",
            id="local-drops-preferred-node-without-endpoint",
        ),
        pytest.param(
            [
                l2ad("edge", nodes_=("edge-a",), preferred=(prefer(100, "edge-a"),)),
                l2ad("all", nodes_=("edge-a", "worker-a")),
                l2ad(
                    "poison",
                    nodes_=("edge-a", "worker-a"),
                    preferred=(prefer(100, "worker-a"), prefer(100, "worker-a")),
                    services=(sel(app="does-not-match"),),
                ),
            ],
            ("edge-a", "worker-a"),
            "Cluster",
            "edge-a",
            id="scores-from-every-matching-ad-not-per-node",
        ),
        pytest.param(
            [l2ad(nodes_=EDGE[:3], preferred=(prefer(100, "edge-a", "edge-b"),))],
            ("edge-b", "worker-a"),
            "Cluster",
            "edge-b",
            id="failover-to-remaining-preferred",
        ),
        pytest.param(
            [l2ad(nodes_=EDGE[:3], preferred=(prefer(100, "edge-a", "edge-b"),))],
            EDGE[:3],
            "Cluster",
            "edge-b",
            id="preferred-returns-hash-breaks-tie",
        ),
        pytest.param(
            [l2ad(nodes_=EDGE, preferred=(prefer(100, "edge-a", "edge-b"),))],
            ("worker-a", "worker-b"),
            "Cluster",
            "worker-a",
            id="no-preferred-alive-hash-among-the-rest",
        ),
    ],
)
def test_preferred_nodes(ads: list[L2AdvertisementConfig], members: tuple[str, ...], etp: str, expected: str) -> None:
    config = two_nodes(ads)
    assert winners(config, svc(etp=etp), eps([ep("worker-a")]), frozenset(members), (*EDGE, "preferred-a")) == [
        expected
    ]


# --- the common checks (speaker/main.go SetBalancer) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        pytest.param(service("svc", type_="ClusterIP"), Reason.NOT_LOAD_BALANCER, id="not-a-load-balancer"),
        pytest.param(service("svc"), Reason.NO_IP_ALLOCATED, id="no-ingress"),
        pytest.param(service("svc", ingress=("10.20.30.1", "not-an-ip")), Reason.INVALID_IP, id="invalid-ingress-ip"),
        pytest.param(service("svc", ingress=("10.99.0.1",)), Reason.IP_NOT_ALLOWED, id="ip-in-no-pool"),
        pytest.param(service("svc", ingress=("10.20.30.1", "10.21.0.1")), Reason.IP_NOT_ALLOWED, id="ips-in-two-pools"),
        pytest.param(
            service("svc", ingress=("10.20.30.1",), lb_class="other"),
            Reason.OTHER_LOAD_BALANCER_CLASS,
            id="other-load-balancer-class",
        ),
    ],
)
def test_common_checks(view: ServiceView, expected: Reason) -> None:
    config = cfg(pool(l2=BOTH), pool("other", ("10.21.0.0/24",), l2=BOTH))
    got = decide("iris1", config, view, eps([ep("iris1")]), nodes(*IRIS), None)
    assert got.reason == expected and got.owner is None


def test_dual_stack_lands_on_one_node_by_its_first_ip() -> None:
    config = cfg(pool(addresses=("10.20.30.0/24", "2001:db8::/64"), l2=BOTH))
    slices = eps([ep("iris1"), ep("iris2")])
    for first in ("10.20.30.1,2001:db8::1", "10.20.30.2,2001:db8::1", "2001:db8::1,10.20.30.1"):
        view = svc(first)
        v4_only = svc(first.split(",")[0])
        assert outcomes(config, view, slices, nodes(*IRIS), None) == outcomes(
            config, v4_only, slices, nodes(*IRIS), None
        )
        got = decide("iris1", config, view, slices, nodes(*IRIS), None)
        assert got.ips == view.current_ips and len(got.ips) == 2


@pytest.mark.parametrize(
    ("ready", "serving", "expected"),
    [
        pytest.param(True, None, True, id="ready"),
        pytest.param(None, True, True, id="serving"),
        pytest.param(True, False, True, id="ready-not-serving"),
        pytest.param(None, None, True, id="nothing-set"),
        pytest.param(None, False, True, id="ready-unset-not-serving"),
        pytest.param(False, None, False, id="not-ready"),
        pytest.param(False, False, False, id="not-ready-not-serving"),
    ],
)
def test_endpoint_can_serve(ready: bool | None, serving: bool | None, expected: bool) -> None:
    """internal/k8s/epslices TestIsConditionReadyOrServing."""
    assert EndpointView(ready=ready, serving=serving).can_serve is expected


@pytest.mark.parametrize(
    ("text", "go"),
    [
        pytest.param("2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1", id="first-longest-zero-run"),
        pytest.param("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", id="single-zero-group-not-compressed"),
        pytest.param("2001:DB8::A", "2001:db8::a", id="lowercase"),
        pytest.param("10.20.30.1", "10.20.30.1", id="ipv4"),
    ],
)
def test_election_key_is_gos_ip_text(text: str, go: str) -> None:
    """The hash input must be the bytes Go's net.IP.String() gives, or mixed Go/Python clusters disagree."""
    view = svc(text)
    assert first_ip_text(view.current_ips) == go
