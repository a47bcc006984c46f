"""Builders for the speaker's decision tests: Nodes, EndpointSlices, advertisements pinned to named nodes.

MetalLB's tests give an advertisement its node set directly (``Nodes: {"iris1": true}``); here a node set is
a ``nodeSelectors`` entry on ``kubernetes.io/hostname``, which every test Node carries, so the same sets
come out of the real selector evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crds.addresses import parse_entry
from crds.community import parse_community
from crds.config import BGPAdvertisementConfig, Config, L2AdvertisementConfig, Peer, Pool
from crds.meta import LabelSelector
from crds.types import PreferredNodeSelector
from reconciler.core.nodes import EXCLUDE_LB_LABEL, EndpointSliceView, EndpointView, NodeView

HOSTNAME = "kubernetes.io/hostname"


def on(*names: str) -> tuple[LabelSelector, ...]:
    """nodeSelectors selecting exactly the named nodes."""
    return (LabelSelector.model_validate({"matchExpressions": [{"key": HOSTNAME, "operator": "In", "values": names}]}),)


def sel(**labels: str) -> LabelSelector:
    return LabelSelector.model_validate({"matchLabels": labels})


def prefer(weight: int, *names: str) -> PreferredNodeSelector:
    return PreferredNodeSelector.model_validate({"weight": weight, "preference": on(*names)[0].dump()})


def node(
    name: str, *, labels: dict[str, str] | None = None, unavailable: bool = False, excluded: bool = False
) -> NodeView:
    all_labels = {HOSTNAME: name, **(labels or {})}
    if excluded:
        all_labels[EXCLUDE_LB_LABEL] = ""
    return NodeView(name=name, labels=all_labels, network_unavailable=unavailable)


def nodes(*names: str, excluded: Sequence[str] = (), unavailable: Sequence[str] = ()) -> dict[str, NodeView]:
    return {n: node(n, excluded=n in excluded, unavailable=n in unavailable) for n in names}


def ep(
    node_name: str | None,
    ready: bool | None = True,
    serving: bool | None = None,
    addresses: tuple[str, ...] = ("2.3.4.5",),
) -> EndpointView:
    return EndpointView(addresses=addresses, node_name=node_name, ready=ready, serving=serving)


def eps(*slices: Sequence[EndpointView], service: str = "svc") -> tuple[EndpointSliceView, ...]:
    """EndpointSlices of Service ``default/<service>``, one per argument."""
    return tuple(
        EndpointSliceView(namespace="default", name=f"{service}-{i}", service_name=service, endpoints=tuple(s))
        for i, s in enumerate(slices)
    )


def l2ad(
    name: str = "l2",
    *,
    nodes_: tuple[str, ...] | None = None,
    interfaces: tuple[str, ...] = (),
    services: tuple[LabelSelector, ...] = (),
    preferred: tuple[PreferredNodeSelector, ...] = (),
) -> L2AdvertisementConfig:
    return L2AdvertisementConfig(
        name=name,
        node_selectors=on(*nodes_) if nodes_ is not None else (),
        interfaces=interfaces,
        service_selectors=services,
        preferred_node_selectors=preferred,
    )


def bgpad(
    name: str = "bgp",
    *,
    nodes_: tuple[str, ...] | None = None,
    agg: int = 32,
    agg6: int = 128,
    local_pref: int = 0,
    communities: tuple[str, ...] = (),
    peers: tuple[str, ...] = (),
    services: tuple[LabelSelector, ...] = (),
    prepend: int = 0,
) -> BGPAdvertisementConfig:
    return BGPAdvertisementConfig(
        name=name,
        aggregation_length=agg,
        aggregation_length_v6=agg6,
        local_pref=local_pref,
        communities=frozenset(parse_community(c) for c in communities),
        node_selectors=on(*nodes_) if nodes_ is not None else (),
        peers=peers,
        service_selectors=services,
        as_path_prepend=prepend,
    )


def peer(name: str, address: str = "192.0.2.1", *, asn: int = 64512, my_asn: int = 64512, **kw: Any) -> Peer:
    return Peer(name=name, my_asn=my_asn, asn=asn, address=address, **kw)


def pool(
    name: str = "default",
    addresses: tuple[str, ...] = ("10.20.30.0/24",),
    *,
    l2: Sequence[L2AdvertisementConfig] = (),
    bgp: Sequence[BGPAdvertisementConfig] = (),
) -> Pool:
    return Pool(
        name=name,
        entries=tuple(parse_entry(a) for a in addresses),
        l2_advertisements=tuple(l2),
        bgp_advertisements=tuple(bgp),
    )


def cfg(*pools: Pool, peers: Sequence[Peer] = ()) -> Config:
    return Config(pools={p.name: p for p in pools}, peers={p.name: p for p in peers})
