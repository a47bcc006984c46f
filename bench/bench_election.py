"""The speaker's pure decisions at scale: 10,000 Services, each with an EndpointSlice, over 3, 50 and 500 Nodes.

Measures one node's full layer 2 pass (``l2_announcements``: what a speaker recomputes when membership or
the config changes), one Service's decision with the election inputs already built (what an EndpointSlice or
Service event costs), and one node's full BGP pass to 3 peers (``bgp_announcements``).
"""

from __future__ import annotations

import os
import statistics
import time

from crds.addresses import parse_entry
from crds.config import BGPAdvertisementConfig, Config, L2AdvertisementConfig, Peer, Pool
from reconciler.core.bgp import BGPSelection, bgp_announcements
from reconciler.core.l2 import L2Election, l2_announcements
from reconciler.core.nodes import EndpointSliceView, EndpointView, NodeView
from reconciler.core.services import ServiceView, service_view

SERVICES = 10_000


def config() -> Config:
    pool = Pool(
        name="bench",
        entries=(parse_entry("10.0.0.0/16"),),
        l2_advertisements=(L2AdvertisementConfig(name="l2"),),
        bgp_advertisements=(BGPAdvertisementConfig(name="bgp", local_pref=100),),
    )
    peers = {f"tor-{i}": Peer(name=f"tor-{i}", my_asn=64512, asn=64512, address=f"192.0.2.{i + 1}") for i in range(3)}
    return Config(pools={"bench": pool}, peers=peers)


def services() -> list[ServiceView]:
    return [
        service_view(
            {
                "metadata": {"name": f"s{i}", "namespace": "bench"},
                "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local" if i % 2 else "Cluster"},
                "status": {"loadBalancer": {"ingress": [{"ip": f"10.0.{i // 256}.{i % 256}"}]}},
            }
        )
        for i in range(SERVICES)
    ]


def slices(views: list[ServiceView], nodes: list[str]) -> dict[str, tuple[EndpointSliceView, ...]]:
    out = {}
    for i, v in enumerate(views):
        eps = tuple(EndpointView((f"10.244.{j}.{i % 250}",), nodes[(i + j) % len(nodes)], True) for j in range(2))
        out[v.key] = (EndpointSliceView("bench", f"{v.name}-1", v.name, eps),)
    return out


def run(node_count: int) -> None:
    cfg = config()
    names = [f"node-{i:03d}" for i in range(node_count)]
    nodes = {n: NodeView(n, {"kubernetes.io/hostname": n}) for n in names}
    views = services()
    by_service = slices(views, names)
    members = frozenset(names)

    t0 = time.perf_counter()
    decisions = l2_announcements(names[0], cfg, views, nodes, by_service, members)
    full_l2 = time.perf_counter() - t0
    mine = sum(d.announce for d in decisions.values())

    election = L2Election(cfg, nodes, members)
    samples = []
    for v in views[:2000]:
        t = time.perf_counter()
        election.decide(names[0], v, by_service[v.key])
        samples.append(time.perf_counter() - t)
    samples.sort()

    t0 = time.perf_counter()
    bgp = bgp_announcements(names[0], cfg, views, nodes, by_service)
    full_bgp = time.perf_counter() - t0
    prefixes = len(bgp.routes["tor-0"])

    # One Service event: decide it again, then rebuild only its prefixes from every kept decision.
    selection = BGPSelection(cfg, nodes)
    kept = dict(bgp.services)
    one = []
    for v in views[:500]:
        t = time.perf_counter()
        d = selection.decide(names[0], v, by_service[v.key])
        touched = {a.prefix for a in (*kept[v.key].advertisements, *d.advertisements)}
        kept[v.key] = d
        selection.routes(names[0], kept.values(), only=touched)
        one.append(time.perf_counter() - t)
    one.sort()

    print(
        f"election: {SERVICES} Services, {node_count} nodes: L2 full pass {full_l2 * 1000:.0f} ms "
        f"({mine} announced here); one Service p50 {statistics.median(samples) * 1e6:.0f} us "
        f"p99 {samples[int(len(samples) * 0.99)] * 1e6:.0f} us; BGP full pass {full_bgp * 1000:.0f} ms "
        f"({prefixes} prefixes to each of 3 peers); BGP one Service p50 {statistics.median(one) * 1000:.1f} ms "
        f"p99 {one[int(len(one) * 0.99)] * 1000:.1f} ms; cores={os.cpu_count()}"
    )


def main() -> None:
    for count in (3, 50, 500):
        run(count)


if __name__ == "__main__":
    main()
