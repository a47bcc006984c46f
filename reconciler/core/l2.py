"""Layer 2 election: which one node answers ARP/NDP for a Service's IPs, and why every other node does not. Pure.

Every speaker runs the same function over the same inputs (config, Nodes, the Service's EndpointSlices, the
live members) and so agrees on the owner without talking to the others: no lease, no leader. The rules are
MetalLB's ``layer2Controller.ShouldAnnounce`` (``speaker/layer2_controller.go``), in its order:

1. the common checks of ``announcing.announceable`` (LoadBalancer, ingress IPs, one pool);
2. no endpoint that can serve, anywhere ⇒ ``notOwner`` (even with ``externalTrafficPolicy: Cluster``);
3. the pool's L2Advertisements whose ``serviceSelectors`` are empty or match the Service's labels are the
   *matching ads*; an ``allow-shared-ip`` Service with any matching ad carrying ``serviceSelectors`` ⇒
   ``sharedIPWithServiceSelector`` (MetalLB #3025);
4. this node in no matching ad's nodes ⇒ ``noMatchingAdvertisement``;
5. candidates = live members (all Nodes when membership is off) that are in some matching ad's nodes, minus
   Nodes with ``NetworkUnavailable`` and, unless ``ignore_exclude_lb``, Nodes labelled
   ``node.kubernetes.io/exclude-from-external-load-balancers``; with ``externalTrafficPolicy: Local`` only
   candidates hosting an endpoint that can serve;
6. candidates ordered by the summed ``preferredNodeSelectors`` weights of every matching ad (descending),
   then by ``sha256(node + "#" + first ingress IP)`` (ascending bytes); the first announces, the others get
   ``notOwner``.

Because the key is the *first* ingress IP, every IP of a dual-stack Service lands on one node, and Services
sharing an IP (same first IP, same candidates) land on one node. Removing a node that is not the owner
never moves a VIP; adding one moves it only if the newcomer sorts first.

Differences from MetalLB, all deliberate: an advertisement's nodes are evaluated from its ``nodeSelectors``
against the Nodes passed in (MetalLB precomputes them at parse time, so they can lag a label change until the
next config reload); a Service of another ``loadBalancerClass`` gets ``otherLoadBalancerClass``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from crds.config import Config, L2AdvertisementConfig
from crds.meta import LabelSelector, selector_matches
from reconciler.core.allocator import IP
from reconciler.core.announcing import PoolIndex, Reason, announceable, first_ip_text
from reconciler.core.nodes import EndpointSliceView, NodeView
from reconciler.core.services import ServiceView

__all__ = ["L2Decision", "L2Election", "election_order", "l2_announcements", "l2_owners"]


@dataclass(frozen=True, slots=True)
class L2Decision:
    """The layer 2 outcome for one Service.

    ``reason`` None means *announce*: from this node (``l2_announcements``) or from ``owner``
    (``l2_owners``); ``owner`` is set exactly then. ``interfaces`` are the interfaces to answer on (the union of the
    announcing node's matching ads' ``interfaces``), None meaning all of them (some matching ad lists none).
    """

    service: str
    ips: tuple[IP, ...] = ()
    owner: str | None = None
    interfaces: frozenset[str] | None = None
    reason: Reason | None = None

    @property
    def announce(self) -> bool:
        return self.reason is None


def election_order(candidates: Iterable[str], ip: str, scores: Mapping[str, int]) -> list[str]:
    """Candidates in election order: preferred weight descending, then ``sha256(node + "#" + ip)`` ascending.

    MetalLB's ``sortL2Candidates``. The hash makes the order independent of the input order and spreads
    Services over nodes; ties on the hash are impossible for distinct names.
    """
    key = "#" + ip
    return sorted(candidates, key=lambda n: (-scores.get(n, 0), hashlib.sha256((n + key).encode()).digest()))


def _matches_any(selectors: Sequence[LabelSelector], labels: Mapping[str, str]) -> bool:
    # selector_matches only reads; a Mapping is enough.
    return any(selector_matches(s, cast(dict[str, str], labels)) for s in selectors)


RIVAL_HASH_ALL = 16
"""Up to this many top candidates, ``decide_with_rival`` hashes them all to name the winner (see ``_rival``)."""


class L2Election:
    """The inputs every Service's election shares, with what can be computed once from them.

    ``members``: the node names the failure detector sees alive, or None when membership is off (then every
    Node known to the API counts as live, as in MetalLB). Build one per change of config, Nodes or members;
    then ``decide`` per Service. Reads only; never mutates its inputs.
    """

    def __init__(
        self,
        config: Config,
        nodes: Mapping[str, NodeView],
        members: frozenset[str] | None,
        *,
        ignore_exclude_lb: bool = False,
        lb_class: str | None = None,
    ) -> None:
        self.config = config
        self.nodes = nodes
        self.lb_class = lb_class
        self._index = PoolIndex(config.pools)
        live = nodes.keys() if members is None else members
        self.eligible: frozenset[str] = frozenset(
            n
            for n in live
            if n in nodes and not nodes[n].network_unavailable and (ignore_exclude_lb or not nodes[n].excluded_from_lb)
        )
        self._encoded = {n: n.encode() for n in nodes}
        # Per advertisement, keyed by identity; the ad is kept beside its value, so an id is never reused
        # while cached (advertisements are frozen, so an identical object gives identical answers anyway).
        self._ad_nodes: dict[int, tuple[L2AdvertisementConfig, frozenset[str]]] = {}
        self._ad_scores: dict[int, tuple[L2AdvertisementConfig, dict[str, int]]] = {}

    def ad_nodes(self, ad: L2AdvertisementConfig) -> frozenset[str]:
        """The Nodes an advertisement covers: all of them without ``nodeSelectors``, else those any selects."""
        cached = self._ad_nodes.get(id(ad))
        if cached is not None:
            return cached[1]
        if not ad.node_selectors:
            found = frozenset(self.nodes)
        else:
            found = frozenset(n for n, v in self.nodes.items() if _matches_any(ad.node_selectors, v.labels))
        self._ad_nodes[id(ad)] = (ad, found)
        return found

    def _scores(self, ad: L2AdvertisementConfig) -> dict[str, int]:
        """Preferred weights of one ad: per covered node, the sum of the weights whose preference matches."""
        cached = self._ad_scores.get(id(ad))
        if cached is not None:
            return cached[1]
        found: dict[str, int] = {}
        if ad.preferred_node_selectors:
            for n in self.ad_nodes(ad):
                labels = cast(dict[str, str], self.nodes[n].labels)
                total = sum(p.weight for p in ad.preferred_node_selectors if selector_matches(p.preference, labels))
                if total:
                    found[n] = total
        self._ad_scores[id(ad)] = (ad, found)
        return found

    def matching_ads(self, pool: str, view: ServiceView) -> list[L2AdvertisementConfig]:
        """The pool's L2Advertisements whose ``serviceSelectors`` are empty or match the Service."""
        return [
            ad
            for ad in self.config.pools[pool].l2_advertisements
            if not ad.service_selectors or _matches_any(ad.service_selectors, view.labels)
        ]

    def _candidate_set(
        self, ads: Sequence[L2AdvertisementConfig], view: ServiceView, slices: Sequence[EndpointSliceView]
    ) -> set[str]:
        """Step 5: live, covered by a matching ad, available, not excluded; under ETP=Local hosting an endpoint."""
        cands: set[str] = set()
        for ad in ads:
            cands |= self.ad_nodes(ad)
        cands &= self.eligible
        if view.etp_local and cands:
            cands &= {e.node_name for s in slices for e in s.endpoints if e.can_serve and e.node_name}
        return cands

    def candidates(
        self, ads: Sequence[L2AdvertisementConfig], view: ServiceView, slices: Sequence[EndpointSliceView]
    ) -> list[str]:
        """The candidates in election order (the winner first); see the module docstring, steps 5 and 6."""
        return election_order(self._candidate_set(ads, view, slices), first_ip_text(view.current_ips), self.scores(ads))

    def _top(self, cands: set[str], ads: Sequence[L2AdvertisementConfig]) -> set[str]:
        """The candidates with the highest summed preferred weight (all of them when no ad has preferences)."""
        scores = self.scores(ads)
        if not scores or len(cands) <= 1:
            return cands
        best = max(scores.get(n, 0) for n in cands)
        return {n for n in cands if scores.get(n, 0) == best}

    def _digest(self, node: str, key: bytes) -> bytes:
        return hashlib.sha256(self._encoded[node] + key).digest()

    def winner(
        self, ads: Sequence[L2AdvertisementConfig], view: ServiceView, slices: Sequence[EndpointSliceView]
    ) -> str | None:
        """``candidates(...)[0]`` without sorting: one hash per candidate."""
        top = self._top(self._candidate_set(ads, view, slices), ads)
        if len(top) <= 1:
            return next(iter(top), None)
        key = ("#" + first_ip_text(view.current_ips)).encode()
        return min(top, key=lambda n: self._digest(n, key))

    def _rival(
        self, node: str, ads: Sequence[L2AdvertisementConfig], view: ServiceView, slices: Sequence[EndpointSliceView]
    ) -> str | None:
        """None when ``node`` wins; else ``""`` when no member's death can make it win (it is no candidate at all),
        or a candidate that beats it: while that one stays a candidate, ``node`` loses.

        Among up to ``RIVAL_HASH_ALL`` candidates the one named is the winner (one hash each), so that a death
        sends a speaker back to exactly the Services the dead node held. Among more, hashing stops at the first
        candidate that beats ``node`` (about ln N + 1 hashes per Service instead of N: a full pass over 500 Nodes
        stays cheap), and that one is named. For a lighter ``node`` (preferred weights): the first by name of
        the heavier ones."""
        cands = self._candidate_set(ads, view, slices)
        if node not in cands:
            return ""
        top = self._top(cands, ads)
        if node not in top:
            return min(top)
        key = ("#" + first_ip_text(view.current_ips)).encode()
        if len(top) <= RIVAL_HASH_ALL:
            best = min(top, key=lambda n: self._digest(n, key))
            return None if best == node else best
        mine = self._digest(node, key)
        return next((other for other in top if other != node and self._digest(other, key) < mine), None)

    def scores(self, ads: Sequence[L2AdvertisementConfig]) -> dict[str, int]:
        """Preferred weights summed over ``ads`` (MetalLB's ``preferredScoresFor``); nodes without any are absent."""
        total: dict[str, int] = {}
        for ad in ads:
            for n, w in self._scores(ad).items():
                total[n] = total.get(n, 0) + w
        return total

    def _early(
        self, view: ServiceView, slices: Sequence[EndpointSliceView]
    ) -> L2Decision | tuple[tuple[IP, ...], list[L2AdvertisementConfig]]:
        """Steps 1-3: a decision that holds for every node, or the IPs and the matching ads."""
        common = announceable(view, self._index, lb_class=self.lb_class)
        if common.pool is None:
            return L2Decision(view.key, common.ips, reason=common.reason)
        if not any(e.can_serve for s in slices for e in s.endpoints):
            return L2Decision(view.key, common.ips, reason=Reason.NOT_OWNER)
        ads = self.matching_ads(common.pool, view)
        if view.shares_ip and any(ad.service_selectors for ad in ads):
            return L2Decision(view.key, common.ips, reason=Reason.SHARED_IP_WITH_SERVICE_SELECTOR)
        return common.ips, ads

    def decide(self, node: str, view: ServiceView, slices: Sequence[EndpointSliceView]) -> L2Decision:
        """Whether ``node`` announces the Service, on which interfaces, or why not.

        ``owner`` is set only when ``node`` wins: naming the winner from a loser would cost a hash per
        candidate (``owner()`` does that, for ``pymetallb plan``)."""
        return self.decide_with_rival(node, view, slices)[0]

    def decide_with_rival(
        self, node: str, view: ServiceView, slices: Sequence[EndpointSliceView]
    ) -> tuple[L2Decision, str | None]:
        """``decide``, and the member whose death could change it: None when none could (``node`` wins, and
        losing candidates cannot change that; or the decision does not depend on who is alive; or ``node`` is no
        candidate), else a candidate that beats ``node``. A speaker re-decides, when members die, only the
        Services whose rival died; when members join, only those it announces (a new candidate cannot make a
        loser win)."""
        early = self._early(view, slices)
        if isinstance(early, L2Decision):
            return early, None
        ips, ads = early
        mine = [ad for ad in ads if node in self.ad_nodes(ad)]
        if not mine:
            return L2Decision(view.key, ips, reason=Reason.NO_MATCHING_ADVERTISEMENT), None
        rival = self._rival(node, ads, view, slices)
        if rival is not None:
            return L2Decision(view.key, ips, reason=Reason.NOT_OWNER), rival or None
        interfaces = (
            None if any(ad.all_interfaces for ad in mine) else frozenset(i for ad in mine for i in ad.interfaces)
        )
        return L2Decision(view.key, ips, owner=node, interfaces=interfaces), None

    def owner(self, view: ServiceView, slices: Sequence[EndpointSliceView]) -> L2Decision:
        """The cluster-wide answer: the announcing node, or the reason no node announces.

        Equal to ``decide(owner, ...)`` when there is an owner. Without one, the reason is what every node in
        a matching ad says (``notOwner``), or ``noMatchingAdvertisement`` when the matching ads cover no Node.
        """
        early = self._early(view, slices)
        if isinstance(early, L2Decision):
            return early
        ips, ads = early
        owner = self.winner(ads, view, slices)
        if owner is not None:
            return self.decide(owner, view, slices)
        covered = any(self.ad_nodes(ad) for ad in ads)
        return L2Decision(view.key, ips, reason=Reason.NOT_OWNER if covered else Reason.NO_MATCHING_ADVERTISEMENT)


def l2_announcements(
    node: str,
    config: Config,
    services: Iterable[ServiceView],
    nodes: Mapping[str, NodeView],
    slices_by_service: Mapping[str, Sequence[EndpointSliceView]],
    members: frozenset[str] | None,
    *,
    ignore_exclude_lb: bool = False,
    lb_class: str | None = None,
) -> dict[str, L2Decision]:
    """What ``node`` announces over layer 2: per Service key, the IPs and interfaces, or the reason not."""
    election = L2Election(config, nodes, members, ignore_exclude_lb=ignore_exclude_lb, lb_class=lb_class)
    return {v.key: election.decide(node, v, slices_by_service.get(v.key, ())) for v in services}


def l2_owners(
    config: Config,
    services: Iterable[ServiceView],
    nodes: Mapping[str, NodeView],
    slices_by_service: Mapping[str, Sequence[EndpointSliceView]],
    members: frozenset[str] | None = None,
    *,
    ignore_exclude_lb: bool = False,
    lb_class: str | None = None,
) -> dict[str, L2Decision]:
    """The announcing node of every Service (``pymetallb plan``): ``owner`` set and ``reason`` None when one
    node announces; otherwise the reason none does."""
    election = L2Election(config, nodes, members, ignore_exclude_lb=ignore_exclude_lb, lb_class=lb_class)
    return {v.key: election.owner(v, slices_by_service.get(v.key, ())) for v in services}
