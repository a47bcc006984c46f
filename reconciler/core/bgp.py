"""BGP advertisement selection: which prefixes a node announces to which peers, with which attributes. Pure.

In BGP mode there is no election: every eligible node announces, and the routers spread traffic over them
(ECMP). The rules are MetalLB's ``bgpController`` (``speaker/bgp_controller.go``), per node:

* a BGPPeer has a session on a node when its ``nodeSelectors`` are empty or any matches the node's labels;
* per Service, after the common checks of ``announcing.announceable``: the pool's BGPAdvertisements covering
  this node (their ``nodeSelectors``); none ⇒ ``notOwner``; of those, the ones whose ``serviceSelectors`` are
  empty or match ⇒ none: ``noMatchingAdvertisement``; two of them with incompatible LOCAL_PREF ⇒
  ``conflictingAdvertisements`` (MetalLB's text in ``message``); the node ``NetworkUnavailable`` ⇒
  ``nodeNetworkUnavailable``; labelled ``exclude-from-external-load-balancers`` (unless ``ignore_exclude_lb``)
  ⇒ ``nodeLabeledExcludeBalancers``; ``externalTrafficPolicy: Local`` without an endpoint on this node that can
  serve and has addresses ⇒ ``noLocalEndpoints``; no such endpoint anywhere ⇒ ``noEndpoints``;
* each (ingress IP, matching ad) pair is an advertisement: the IP masked to ``aggregationLength`` (IPv4) or
  ``aggregationLengthV6``, the ad's LOCAL_PREF, communities (aliases already resolved by the parser) and
  ``asPathPrepend`` count, sent to the ad's ``peers`` (all peers when empty);
* a peer receives each prefix once: advertisements of one prefix merge, their communities united.

Differences from MetalLB, all deliberate: when merged advertisements carry different LOCAL_PREFs (possible
only across Services that share an IP under different ``serviceSelectors`` ads) the highest wins, where
MetalLB keeps whichever came first in a Go map walk; a Service's peers (``ServiceBGPStatus.status.peers``) are
the peers that receive one of *its* advertisements, and merged advertisements with different ``asPathPrepend``
counts (the parser refuses overlapping ones; this can only happen across ``serviceSelectors`` ads) keep the
highest, where MetalLB also counts peers reached by another
Service's advertisement of the same aggregated prefix; advertisement nodes are evaluated from the Nodes
passed in (see ``l2``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from crds.addresses import Cidr
from crds.community import Community
from crds.config import BGPAdvertisementConfig, Config, Peer
from crds.meta import LabelSelector, selector_matches
from reconciler.core.allocator import IP
from reconciler.core.announcing import PoolIndex, Reason, announceable
from reconciler.core.nodes import EndpointSliceView, NodeView
from reconciler.core.services import ServiceView

__all__ = [
    "Advertisement",
    "BGPAnnouncements",
    "BGPDecision",
    "BGPSelection",
    "BGPServicePlan",
    "RouteAttributes",
    "bgp_announcements",
    "bgp_plan",
    "local_pref_conflict",
    "peer_is_ibgp",
    "prefix_of",
]

_BITS = {4: 32, 6: 128}


def _matches_any(selectors: Sequence[LabelSelector], labels: Mapping[str, str]) -> bool:
    return any(selector_matches(s, cast(dict[str, str], labels)) for s in selectors)


def prefix_of(ip: IP, ad: BGPAdvertisementConfig) -> Cidr:
    """The prefix an advertisement announces for an address: the address masked to its aggregation length."""
    family, value = ip
    length = ad.aggregation_length if family == 4 else ad.aggregation_length_v6
    host_bits = _BITS[family] - length
    return Cidr(family, (value >> host_bits) << host_bits, length)


def peer_is_ibgp(peer: Peer) -> bool:
    """An internal session: same AS, or ``dynamicASN: internal`` (RFC 4271 §5.1.5: LOCAL_PREF goes only there)."""
    if peer.dynamic_asn:
        return peer.dynamic_asn == "internal"
    return peer.my_asn == peer.asn


def local_pref_conflict(
    ads: Sequence[BGPAdvertisementConfig],
    families: frozenset[int],
    nodes_of: Callable[[BGPAdvertisementConfig], frozenset[str]],
) -> str | None:
    """MetalLB's ``checkBGPAdvConflicts``: the first pair of ``ads`` whose LOCAL_PREFs differ although they
    would announce the same kind of route (same aggregation, overlapping peers and nodes), as its error text."""
    for i, a in enumerate(ads):
        for b in ads[i + 1 :]:
            if not _compatible_local_pref(a, b, families, nodes_of):
                return (
                    f"advertisements '{a.name}' and '{b.name}' have conflicting LOCAL_PREF "
                    f"({a.local_pref} vs {b.local_pref})"
                )
    return None


def _compatible_local_pref(
    a: BGPAdvertisementConfig,
    b: BGPAdvertisementConfig,
    families: frozenset[int],
    nodes_of: Callable[[BGPAdvertisementConfig], frozenset[str]],
) -> bool:
    """MetalLB's ``BGPAdvertisementsHaveCompatibleLocalPref`` over the node sets of this evaluation."""
    if a.local_pref == b.local_pref:
        return True
    has4, has6 = 4 in families, 6 in families
    v4_differs = a.aggregation_length != b.aggregation_length
    v6_differs = a.aggregation_length_v6 != b.aggregation_length_v6
    if (not has4 and not has6) or (v4_differs and not has6) or (v6_differs and not has4) or (v4_differs and v6_differs):
        return True
    if a.peers and b.peers and not set(a.peers) & set(b.peers):
        return True
    return not (nodes_of(a) & nodes_of(b))


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One route a Service asks for: ``peers`` empty means every peer with a session on the node."""

    prefix: Cidr
    local_pref: int = 0
    communities: frozenset[Community] = frozenset()
    peers: tuple[str, ...] = ()
    as_path_prepend: int = 0

    def for_peer(self, name: str) -> bool:
        return not self.peers or name in self.peers


@dataclass(frozen=True, slots=True)
class RouteAttributes:
    """What one peer receives for one prefix. Communities are sorted; ``local_pref`` is None for external
    peers (never sent there) and when no advertisement sets one (the session then uses its default; an
    internal session must still send the attribute, RFC 4271 §5.1.5). ``as_path_prepend``: how many extra
    copies of the speaker's ASN go in front of the AS_PATH."""

    communities: tuple[Community, ...] = ()
    large_communities: tuple[Community, ...] = ()
    local_pref: int | None = None
    as_path_prepend: int = 0


@dataclass(frozen=True, slots=True)
class BGPDecision:
    """The BGP outcome for one Service on one node: ``reason`` None means announced, with ``advertisements``
    and the ``peers`` that receive at least one of them (sorted; ``ServiceBGPStatus.status.peers``).
    ``message`` carries the error text of ``conflictingAdvertisements``."""

    service: str
    ips: tuple[IP, ...] = ()
    advertisements: tuple[Advertisement, ...] = ()
    peers: tuple[str, ...] = ()
    reason: Reason | None = None
    message: str | None = None

    @property
    def announce(self) -> bool:
        return self.reason is None

    @property
    def prefixes(self) -> tuple[Cidr, ...]:
        return tuple(sorted({a.prefix for a in self.advertisements}))


@dataclass(frozen=True)
class BGPAnnouncements:
    """Everything one node does in BGP: the peers it holds sessions with (name order), per such peer the
    whole desired table (prefix → attributes; an empty table means *withdraw everything*), and per Service
    the decision."""

    node: str
    peers: tuple[str, ...]
    routes: Mapping[str, Mapping[Cidr, RouteAttributes]]
    services: Mapping[str, BGPDecision]


class BGPSelection:
    """The inputs every Service's selection shares, with what is computed once from them.

    Build one per change of config or Nodes, then ``decide`` per (node, Service) and ``routes`` per node.
    Reads only; never mutates its inputs.
    """

    def __init__(
        self,
        config: Config,
        nodes: Mapping[str, NodeView],
        *,
        ignore_exclude_lb: bool = False,
        lb_class: str | None = None,
    ) -> None:
        self.config = config
        self.nodes = nodes
        self.ignore_exclude_lb = ignore_exclude_lb
        self.lb_class = lb_class
        self._index = PoolIndex(config.pools)
        # Keyed by identity, the ad kept beside its value so that an id is never reused while cached.
        self._ad_nodes: dict[int, tuple[BGPAdvertisementConfig, frozenset[str]]] = {}
        self._active: dict[str, tuple[str, ...]] = {}

    def ad_nodes(self, ad: BGPAdvertisementConfig) -> frozenset[str]:
        """The Nodes an advertisement covers: all without ``nodeSelectors``, else those any selects."""
        cached = self._ad_nodes.get(id(ad))
        if cached is not None:
            return cached[1]
        if not ad.node_selectors:
            found = frozenset(self.nodes)
        else:
            found = frozenset(n for n, v in self.nodes.items() if _matches_any(ad.node_selectors, v.labels))
        self._ad_nodes[id(ad)] = (ad, found)
        return found

    def active_peers(self, node: str) -> tuple[str, ...]:
        """The BGPPeers with a session on ``node``: empty ``nodeSelectors`` or any matching its labels (a node
        the API does not know has no labels)."""
        found = self._active.get(node)
        if found is None:
            view = self.nodes.get(node)
            labels = view.labels if view is not None else {}
            found = tuple(
                name
                for name, p in sorted(self.config.peers.items())
                if not p.node_selectors or _matches_any(p.node_selectors, labels)
            )
            self._active[node] = found
        return found

    def decide(self, node: str, view: ServiceView, slices: Sequence[EndpointSliceView]) -> BGPDecision:
        """Whether ``node`` announces the Service over BGP, what, and to whom; or why not."""
        common = announceable(view, self._index, lb_class=self.lb_class)
        if common.pool is None:
            return BGPDecision(view.key, common.ips, reason=common.reason)
        ips = common.ips
        pool = self.config.pools[common.pool]
        on_node = [ad for ad in pool.bgp_advertisements if node in self.ad_nodes(ad)]
        if not on_node:
            return BGPDecision(view.key, ips, reason=Reason.NOT_OWNER)
        ads = [ad for ad in on_node if not ad.service_selectors or _matches_any(ad.service_selectors, view.labels)]
        if not ads:
            return BGPDecision(view.key, ips, reason=Reason.NO_MATCHING_ADVERTISEMENT)
        conflict = local_pref_conflict(ads, pool.families(), self.ad_nodes)
        if conflict:
            return BGPDecision(view.key, ips, reason=Reason.CONFLICTING_ADVERTISEMENTS, message=conflict)
        node_view = self.nodes[node]  # present: it is in an advertisement's nodes
        if node_view.network_unavailable:
            return BGPDecision(view.key, ips, reason=Reason.NODE_NETWORK_UNAVAILABLE)
        if not self.ignore_exclude_lb and node_view.excluded_from_lb:
            return BGPDecision(view.key, ips, reason=Reason.NODE_LABELED_EXCLUDE_BALANCERS)
        healthy = [e for s in slices for e in s.endpoints if e.addresses and e.can_serve]
        if view.etp_local and not any(e.node_name == node for e in healthy):
            return BGPDecision(view.key, ips, reason=Reason.NO_LOCAL_ENDPOINTS)
        if not healthy:
            return BGPDecision(view.key, ips, reason=Reason.NO_ENDPOINTS)
        advs = tuple(
            Advertisement(prefix_of(ip, ad), ad.local_pref, ad.communities, ad.peers, ad.as_path_prepend)
            for ip in ips
            for ad in ads
        )
        peers = tuple(p for p in self.active_peers(node) if any(a.for_peer(p) for a in advs))
        return BGPDecision(view.key, ips, advertisements=advs, peers=peers)

    def routes(
        self, node: str, decisions: Iterable[BGPDecision], *, only: Collection[Cidr] | None = None
    ) -> dict[str, dict[Cidr, RouteAttributes]]:
        """Per peer with a session on ``node``, the whole table it must hold (every such peer has an entry),
        prefixes in address order.

        ``only``: compute just these prefixes (a prefix absent from a peer's result is to be withdrawn from
        it). After one Service changes, the speaker passes the prefixes of its old and new decisions, and the
        cost is one set lookup per advertisement instead of rebuilding every table."""
        merged: dict[str, dict[Cidr, tuple[frozenset[Community], int, int]]] = {p: {} for p in self.active_peers(node)}
        for d in decisions:
            for adv in d.advertisements:
                if only is not None and adv.prefix not in only:
                    continue
                for peer, table in merged.items():
                    if adv.peers and peer not in adv.peers:
                        continue
                    found = table.get(adv.prefix)
                    mine = (adv.communities, adv.local_pref, adv.as_path_prepend)
                    if found is None:
                        table[adv.prefix] = mine
                    elif found != mine:
                        table[adv.prefix] = (
                            found[0] | adv.communities,
                            max(found[1], adv.local_pref),
                            max(found[2], adv.as_path_prepend),
                        )
        # Most routes carry the same few attribute sets: build each RouteAttributes once.
        built: dict[tuple[frozenset[Community], int, int, bool], RouteAttributes] = {}
        out: dict[str, dict[Cidr, RouteAttributes]] = {}
        for peer, table in merged.items():
            ibgp = peer_is_ibgp(self.config.peers[peer])
            routes: dict[Cidr, RouteAttributes] = {}
            for prefix in sorted(table, key=lambda c: (c.family, c.network, c.prefixlen)):
                comms, pref, prepend = table[prefix]
                key = (comms, pref, prepend, ibgp)
                attrs = built.get(key)
                if attrs is None:
                    attrs = RouteAttributes(
                        communities=tuple(sorted(c for c in comms if not c.large)),
                        large_communities=tuple(sorted(c for c in comms if c.large)),
                        local_pref=pref if ibgp and pref else None,
                        as_path_prepend=prepend,
                    )
                    built[key] = attrs
                routes[prefix] = attrs
            out[peer] = routes
        return out


def bgp_announcements(
    node: str,
    config: Config,
    services: Iterable[ServiceView],
    nodes: Mapping[str, NodeView],
    slices_by_service: Mapping[str, Sequence[EndpointSliceView]],
    *,
    ignore_exclude_lb: bool = False,
    lb_class: str | None = None,
) -> BGPAnnouncements:
    """What ``node`` announces over BGP: its sessions, each peer's table, each Service's decision."""
    selection = BGPSelection(config, nodes, ignore_exclude_lb=ignore_exclude_lb, lb_class=lb_class)
    decisions = {v.key: selection.decide(node, v, slices_by_service.get(v.key, ())) for v in services}
    return BGPAnnouncements(node, selection.active_peers(node), selection.routes(node, decisions.values()), decisions)


@dataclass(frozen=True)
class BGPServicePlan:
    """The cluster-wide BGP view of one Service (``pymetallb plan``): per announcing node, the peers it sends
    to; the prefixes; per other Node, why it does not announce."""

    service: str
    prefixes: tuple[Cidr, ...] = ()
    announcers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    reasons: Mapping[str, Reason] = field(default_factory=dict)


def bgp_plan(
    config: Config,
    services: Iterable[ServiceView],
    nodes: Mapping[str, NodeView],
    slices_by_service: Mapping[str, Sequence[EndpointSliceView]],
    *,
    ignore_exclude_lb: bool = False,
    lb_class: str | None = None,
) -> dict[str, BGPServicePlan]:
    """Which Nodes announce each Service to which peers (every Node evaluated as its speaker would)."""
    selection = BGPSelection(config, nodes, ignore_exclude_lb=ignore_exclude_lb, lb_class=lb_class)
    out: dict[str, BGPServicePlan] = {}
    for view in services:
        slices = slices_by_service.get(view.key, ())
        announcers: dict[str, tuple[str, ...]] = {}
        reasons: dict[str, Reason] = {}
        prefixes: set[Cidr] = set()
        for n in sorted(nodes):
            d = selection.decide(n, view, slices)
            if d.reason is None:
                announcers[n] = d.peers
                prefixes.update(d.prefixes)
            else:
                reasons[n] = d.reason
        out[view.key] = BGPServicePlan(view.key, tuple(sorted(prefixes)), announcers, reasons)
    return out
