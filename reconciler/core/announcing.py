"""What both speaker protocols decide before their own rules: may this Service be announced at all? Pure.

``Reason`` names every withdraw reason with MetalLB's spelling (``speaker/main.go``, ``layer2_controller.go``,
``bgp_controller.go``; the log field ``reason``). ``announceable(view, pools)`` applies MetalLB's
``SetBalancer`` checks in its order: a LoadBalancer, with ingress IPs, all parseable, all in one pool.
Deleted Services (``serviceDeleted``) and changed IPs (``loadBalancerIPChanged``) are transitions, so the
speaker, which remembers what it announced, reports them; the reasons are here so that every log uses one
spelling.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from crds.addresses import format_ip
from crds.config import Pool
from reconciler.core.allocator import IP
from reconciler.core.services import ServiceView

__all__ = ["Announceable", "PoolIndex", "Reason", "announceable", "first_ip_text"]


class Reason(StrEnum):
    """Why a node does not announce a Service; the value is MetalLB's text (pymetallb's own are marked)."""

    SERVICE_DELETED = "serviceDeleted"
    NOT_LOAD_BALANCER = "notLoadBalancer"
    NO_IP_ALLOCATED = "noIPAllocated"
    INVALID_IP = "invalidIP"
    IP_NOT_ALLOWED = "ipNotAllowed"
    INTERNAL_ERROR = "internalError"
    LOAD_BALANCER_IP_CHANGED = "loadBalancerIPChanged"
    NOT_OWNER = "notOwner"
    NO_MATCHING_ADVERTISEMENT = "noMatchingAdvertisement"
    SHARED_IP_WITH_SERVICE_SELECTOR = "sharedIPWithServiceSelector"
    CONFLICTING_ADVERTISEMENTS = "conflictingAdvertisements"
    NODE_NETWORK_UNAVAILABLE = "nodeNetworkUnavailable"
    NODE_LABELED_EXCLUDE_BALANCERS = "nodeLabeledExcludeBalancers"
    NO_LOCAL_ENDPOINTS = "noLocalEndpoints"
    NO_ENDPOINTS = "noEndpoints"
    OTHER_LOAD_BALANCER_CLASS = "otherLoadBalancerClass"
    """pymetallb's: the Service's ``loadBalancerClass`` is not ours. MetalLB skips such a Service without
    withdrawing, so an announced Service that changes class stays announced there."""


class PoolIndex:
    """Which pool holds an address: the pools' intervals sorted per family, searched by bisection.

    Pools of one Config never overlap (the parser's invariant), so an address is in at most one pool.
    """

    def __init__(self, pools: Mapping[str, Pool]) -> None:
        spans = sorted((e.family, e.first, e.last, p.name) for p in pools.values() for e in p.entries)
        self._starts = [(f, first) for f, first, _, _ in spans]
        self._spans = spans

    def pool_of(self, ip: IP) -> str | None:
        i = bisect.bisect_right(self._starts, ip) - 1
        if i < 0:
            return None
        family, _, last, name = self._spans[i]
        return name if family == ip[0] and ip[1] <= last else None

    def pool_of_all(self, ips: Sequence[IP]) -> str | None:
        """The one pool holding every address, or None (MetalLB's ``poolFor``)."""
        names = {self.pool_of(ip) for ip in ips}
        if len(names) != 1:
            return None
        return names.pop()


@dataclass(frozen=True, slots=True)
class Announceable:
    """The outcome of the common checks: ``pool`` and ``ips`` when announceable, else ``reason``."""

    ips: tuple[IP, ...] = ()
    pool: str | None = None
    reason: Reason | None = None


def announceable(view: ServiceView, index: PoolIndex, *, lb_class: str | None = None) -> Announceable:
    """MetalLB's ``SetBalancer`` checks, in its order (``notLoadBalancer``, ``noIPAllocated``, ``invalidIP``,
    ``ipNotAllowed``), after the class filter."""
    if not view.is_ours(lb_class):
        return Announceable(reason=Reason.OTHER_LOAD_BALANCER_CLASS)
    if not view.is_load_balancer:
        return Announceable(reason=Reason.NOT_LOAD_BALANCER)
    if not view.current_ips and not view.invalid_ingress:
        return Announceable(reason=Reason.NO_IP_ALLOCATED)
    if view.invalid_ingress:
        return Announceable(reason=Reason.INVALID_IP)
    pool = index.pool_of_all(view.current_ips)
    if pool is None:
        return Announceable(ips=view.current_ips, reason=Reason.IP_NOT_ALLOWED)
    return Announceable(ips=view.current_ips, pool=pool)


def first_ip_text(ips: Sequence[IP]) -> str:
    """The election key: the first ingress IP as Go's ``net.IP.String`` prints it (RFC 5952 for IPv6, which
    Python's ``ipaddress`` also follows), so Python and Go speakers hash the same bytes."""
    family, value = ips[0]
    return format_ip(family, value)
