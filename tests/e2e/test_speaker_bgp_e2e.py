"""The speaker in BGP mode, whole: three node namespaces running ``pymetallb speaker`` against the real test
apiserver, peering with a real BIRD 2 in a router namespace; routes are read back from BIRD's own CLI.
"""

from __future__ import annotations

import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bgp_peers import Bird
from netlab import Lab
from speakerlab import LAB_LABEL, SpeakerCluster, eventually
from testenv_server import TestAPIServer

pytestmark = pytest.mark.e2e

ROUTER = "198.51.100.1"
VIP = "198.51.100.200"
MY_ASN, ROUTER_ASN = 64512, 64513


@pytest.fixture
def sc(
    netns_apiserver: TestAPIServer, lab: Lab, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[SpeakerCluster]:
    ns = f"bgp-{request.node.name[5:25].replace('_', '-').strip('-')}-{uuid.uuid4().hex[:6]}"
    netns_apiserver.kubectl("create", "namespace", ns)
    cluster = SpeakerCluster(netns_apiserver, lab, ns, tmp_path)
    try:
        yield cluster
    finally:
        for node in cluster.nodes.values():
            if node.speaker is not None and node.speaker.poll() is None:
                node.speaker.kill()
        for node in cluster.nodes.values():
            netns_apiserver.kubectl("delete", "node", node.name, "--wait=false", "--ignore-not-found", check=False)
        netns_apiserver.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


def _cluster_with_router(sc: SpeakerCluster) -> Bird:
    for i in (1, 2, 3):
        sc.add_node(i)
    router = sc.lab.add_host("router", v4=f"{ROUTER}/24")
    neighbors = [
        (f"n{i}", node.ip4, MY_ASN, "hold time 9; graceful restart on;") for i, node in enumerate(sc.nodes.values(), 1)
    ]
    bird = Bird(router, asn=ROUTER_ASN, neighbors=neighbors, extra="")
    sc.pool("bgp", "198.51.100.200-198.51.100.210")
    sc.apply(
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "tor", "namespace": sc.ns},
            "spec": {
                "myASN": MY_ASN,
                "peerASN": ROUTER_ASN,
                "peerAddress": ROUTER,
                "holdTime": "9s",
                "nodeSelectors": [{"matchLabels": {LAB_LABEL: sc.ns}}],
            },
        }
    )
    sc.apply(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": "tagged", "namespace": sc.ns},
            "spec": {
                "ipAddressPools": ["bgp"],
                "communities": ["64512:100", "large:64512:1:2"],
                "asPathPrepend": 2,
                "nodeSelectors": [{"matchLabels": {LAB_LABEL: sc.ns}}],
            },
        }
    )
    for node in sc.nodes.values():
        sc.start_speaker(node, bgp=True)
    return bird


def _next_hops(bird: Bird, prefix: str) -> set[str]:
    """The next hops of every path BIRD holds for ``prefix`` (``show route all``: one ``via`` line per path)."""
    return set(re.findall(r"\bvia (\S+)", bird.routes().get(prefix, "")))


def _bgp_peers_of(sc: SpeakerCluster, service: str) -> dict[str, list[str]]:
    items: list[dict[str, Any]] = sc.items("servicebgpstatuses", "-l", f"metallb.io/service-name={service}")
    return {i["status"]["node"]: i["status"].get("peers", []) for i in items if i.get("status")}


def test_every_node_announces_with_communities_and_prepended_as_path_and_the_status_says_so(sc: SpeakerCluster) -> None:
    bird = _cluster_with_router(sc)
    sc.service("web", VIP, endpoints_on=list(sc.nodes))
    nodes = {n.ip4 for n in sc.nodes.values()}
    try:
        eventually(lambda: _next_hops(bird, f"{VIP}/32") == nodes, timeout=60, what="three paths at BIRD")
    except AssertionError:
        raise AssertionError(bird.cli("show", "protocols") + bird.log()[-3000:] + sc.logs()[-4000:]) from None
    block = bird.routes()[f"{VIP}/32"]
    assert "(64512,100)" in block and "(64512, 1, 2)" in block, block
    assert f"BGP.as_path: {MY_ASN} {MY_ASN} {MY_ASN}\n" in block, "asPathPrepend 2: our ASN three times"
    statuses = eventually(lambda: len(_bgp_peers_of(sc, "web")) == 3 and _bgp_peers_of(sc, "web"), what="statuses")
    assert set(statuses) == set(sc.nodes) and all(p == ["tor"] for p in statuses.values())


def test_etp_local_announces_only_from_the_endpoint_node_and_a_delete_withdraws(sc: SpeakerCluster) -> None:
    bird = _cluster_with_router(sc)
    first = next(iter(sc.nodes.values()))
    sc.service("local", VIP, endpoints_on=[first.name], etp="Local")
    eventually(lambda: _next_hops(bird, f"{VIP}/32") == {first.ip4}, timeout=60, what="one path, from the endpoint")
    sc.kubectl("delete", "service", "local", "-n", sc.ns)
    eventually(lambda: f"{VIP}/32" not in bird.routes(), timeout=30, what="the route withdrawn")


def test_a_stopped_speaker_leaves_the_ecmp_set(sc: SpeakerCluster) -> None:
    bird = _cluster_with_router(sc)
    sc.service("web", VIP, endpoints_on=list(sc.nodes))
    nodes = list(sc.nodes.values())
    eventually(lambda: len(_next_hops(bird, f"{VIP}/32")) == 3, timeout=60, what="three paths")
    victim = nodes[0]
    assert sc.stop_speaker(victim, signal.SIGKILL) == -signal.SIGKILL
    # No graceful restart configured on our side: the router drops the dead node's path at the hold time (9 s).
    eventually(lambda: _next_hops(bird, f"{VIP}/32") == {n.ip4 for n in nodes[1:]}, timeout=40, what="the path to go")
