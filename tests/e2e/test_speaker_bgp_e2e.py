"""The speaker in BGP mode, whole: three node namespaces running ``pymetallb speaker`` against the real test
apiserver, peering with a real BIRD 2 in a router namespace; routes are read back from BIRD's own CLI.
"""

from __future__ import annotations

import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bgp_peers import Bird
from netlab import Lab
from speakerlab import LAB_LABEL, Node, SpeakerCluster, eventually
from test_chart_e2e import SPEAKER_METRICS
from testenv_server import TestAPIServer

pytestmark = pytest.mark.e2e

ROUTER = "198.51.100.1"
ROUTER6 = "2001:db8::1"
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
        cluster.close(netns_apiserver)


def _cluster_with_router(
    sc: SpeakerCluster,
    *,
    nodes: tuple[int, ...] = (1, 2, 3),
    peer: dict[str, Any] | None = None,
    neighbor: str = "hold time 9; graceful restart on;",
    bird_extra: str = "",
    start: bool = True,
    v6: bool = False,
    with_peer: bool = True,
) -> Bird:
    """Nodes, a BIRD router at ``ROUTER`` (and ``ROUTER6``) peering with each, the pool, one BGPPeer ``tor``
    (``peer`` adds to or overrides its spec) and the BGPAdvertisement ``tagged``; speakers started."""
    for i in nodes:
        sc.add_node(i)
    router = sc.lab.add_host("router", v4=f"{ROUTER}/24", v6=f"{ROUTER6}/64")
    neighbors = [
        (f"n{i}", node.ip6 if v6 else node.ip4, MY_ASN, neighbor)
        for i, node in zip(nodes, sc.nodes.values(), strict=True)
    ]
    bird = Bird(router, asn=ROUTER_ASN, neighbors=neighbors, extra=bird_extra)
    sc.pool("bgp", "198.51.100.200-198.51.100.210", "2001:db8::200-2001:db8::210")
    if with_peer:
        _peer(sc, "tor", **(peer or {}))
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
    if start:
        for node in sc.nodes.values():
            sc.start_speaker(node, bgp=True)
    return bird


def _peer(sc: SpeakerCluster, name: str, **spec: Any) -> None:
    sc.apply(
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": name, "namespace": sc.ns},
            "spec": {
                "myASN": MY_ASN,
                "peerASN": ROUTER_ASN,
                "peerAddress": ROUTER,
                "holdTime": "9s",
                "nodeSelectors": [{"matchLabels": {LAB_LABEL: sc.ns}}],
                **spec,
            },
        }
    )


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
    # The live /metrics of a running speaker carries every speaker metric the chart's dashboard and alerts read
    # (tests/e2e/test_chart_e2e.py checks that list against the dashboard and the alert rules).
    node = next(iter(sc.nodes.values()))
    text = node.host.run("curl", "-s", "localhost:7472/metrics").stdout
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    names |= {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert SPEAKER_METRICS - names == set(), sorted(SPEAKER_METRICS - names)
    assert f'metallb_bgp_session_up{{peer="{ROUTER}:179"}} 1.0' in text
    assert (
        f'metallb_speaker_announced{{ip="{VIP}",node="{node.name}",protocol="bgp",service="{sc.ns}/web"}} 1.0' in text
    )


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
    # The kernel closes a killed process's TCP connection, and without graceful restart on our side the router
    # drops the node's path as soon as it sees that; a silent failure (hold time or BFD) is the BFD test's case.
    eventually(lambda: _next_hops(bird, f"{VIP}/32") == {n.ip4 for n in nodes[1:]}, timeout=40, what="the path to go")


# --- BFD, graceful restart, MD5, peer ASN, node conditions, IPv6, metrics ------------------------------------

BFD_ROUTER = 'protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }'


def _warnings(sc: SpeakerCluster, peer: str) -> list[str]:
    """``reason: message`` of every Warning Event about the BGPPeer ``peer``."""
    events = sc.items("events", "--field-selector", f"involvedObject.name={peer},involvedObject.kind=BGPPeer")
    return [f"{e['reason']}: {e['message']}" for e in events if e.get("type") == "Warning"]


def _metrics(node: Node) -> dict[str, float]:
    """The speaker's /metrics read from its own namespace: ``name{labels}`` → value."""
    text = node.host.run("curl", "-sf", "--max-time", "5", f"http://{node.ip4}:7472/metrics").stdout
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def test_bfd_drops_a_frozen_speaker_long_before_the_hold_time_and_metrics_show_both_sessions(
    sc: SpeakerCluster,
) -> None:
    sc.apply(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BFDProfile",
            "metadata": {"name": "fast", "namespace": sc.ns},
            "spec": {"receiveInterval": 100, "transmitInterval": 100, "detectMultiplier": 3},
        }
    )
    bird = _cluster_with_router(sc, peer={"bfdProfile": "fast"}, neighbor="hold time 9; bfd on;", bird_extra=BFD_ROUTER)
    sc.service("web", VIP, endpoints_on=list(sc.nodes))
    nodes = list(sc.nodes.values())
    eventually(lambda: _next_hops(bird, f"{VIP}/32") == {n.ip4 for n in nodes}, timeout=60, what="three paths")
    eventually(lambda: bird.cli("show", "bfd", "sessions").count(" Up ") == 3, timeout=30, what="three BFD sessions Up")

    victim = nodes[0]
    bgp_label, bfd_label = f'{{peer="{ROUTER}:179"}}', f'{{peer="{ROUTER}"}}'
    m = eventually(
        lambda: (got := _metrics(victim)).get(f"metallb_bfd_session_up{bfd_label}") == 1 and got, what="bfd up"
    )
    assert m[f"metallb_bgp_session_up{bgp_label}"] == 1
    assert m[f"metallb_bgp_announced_prefixes_total{bgp_label}"] == 1
    assert m[f"metallb_bgp_pending_prefixes_total{bgp_label}"] == 1, "MetalLB: the prefixes that should be advertised"
    assert m[f"metallb_bgp_updates_total{bgp_label}"] >= 1
    assert m[f"metallb_bfd_control_packet_input{bfd_label}"] > 0
    assert m[f"metallb_bfd_control_packet_output{bfd_label}"] > 0
    assert m[f"metallb_bfd_session_up_events{bfd_label}"] >= 1
    assert m[f"metallb_bfd_echo_packet_input{bfd_label}"] == 0, "echo mode is not supported: the counter stays 0"

    # A killed process has its TCP connection closed by the kernel, and BIRD drops the path at once without
    # BFD's help; a node that dies or hangs sends nothing at all. Freezing the speaker (every thread, sockets
    # left open) is that silent failure. The hold time is 9 s and the last keepalive at most 3 s old, so the
    # hold timer cannot fire before 6 s: BFD (3 x 100 ms) must take the path away well before, and say so.
    sc.stop_speaker(victim, signal.SIGSTOP, wait=False)
    try:
        eventually(
            lambda: _next_hops(bird, f"{VIP}/32") == {n.ip4 for n in nodes[1:]}, timeout=4, what="BFD to drop the path"
        )
        info = bird.cli("show", "protocols", "all", "n1")
        assert "BFD session down" in info, info
    finally:
        sc.stop_speaker(victim, signal.SIGCONT, wait=False)


def test_a_speaker_started_without_peers_starts_bgp_and_bfd_when_the_first_peer_selects_it(sc: SpeakerCluster) -> None:
    sc.apply(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BFDProfile",
            "metadata": {"name": "fast", "namespace": sc.ns},
            "spec": {"receiveInterval": 100, "transmitInterval": 100, "detectMultiplier": 3},
        }
    )
    bird = _cluster_with_router(sc, nodes=(1,), with_peer=False, neighbor="hold time 9; bfd on;", bird_extra=BFD_ROUTER)
    (node,) = sc.nodes.values()

    def bfd_port_open() -> str:
        return node.host.run("ss", "-Huan", "sport = :3784").stdout.strip()

    sc.service("web", VIP, endpoints_on=[node.name])
    eventually(lambda: _metrics(node).get("metallb_k8s_client_config_loaded_bool") == 1, what="the config loaded")
    time.sleep(1)
    started = [e for e in sc.events_of(node) if e.get("event") == "bgpStarted"]
    assert started == [], "no BGPPeer: no BGP machinery"
    assert not any(k.startswith(("metallb_bgp_", "metallb_bfd_")) for k in _metrics(node))
    assert bfd_port_open() == "", "no BFD thread: UDP 3784 is not bound"

    _peer(sc, "tor", bfdProfile="fast")
    eventually(lambda: _next_hops(bird, f"{VIP}/32") == {node.ip4}, timeout=60, what="the route at the router")
    eventually(lambda: bird.cli("show", "bfd", "sessions").count(" Up ") == 1, timeout=30, what="the BFD session Up")
    assert _metrics(node)[f'metallb_bfd_session_up{{peer="{ROUTER}"}}'] == 1
    assert bfd_port_open() != ""
    assert len([e for e in sc.events_of(node) if e.get("event") == "bgpStarted"]) == 1
    assert node.log is not None
    assert sc.stop_speaker(node, signal.SIGTERM) == 0, node.log.read_text()[-3000:]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_graceful_restart_keeps_the_route_at_the_router_while_the_speaker_restarts(
    sc: SpeakerCluster, sig: signal.Signals
) -> None:
    bird = _cluster_with_router(sc, nodes=(1,), peer={"enableGracefulRestart": True})
    (node,) = sc.nodes.values()
    sc.service("web", VIP, endpoints_on=[node.name])
    eventually(lambda: _next_hops(bird, f"{VIP}/32") == {node.ip4}, timeout=60, what="the path")
    info = bird.cli("show", "protocols", "all", "n1")
    assert "Graceful restart" in info.split("Neighbor capabilities")[-1], f"BIRD saw our GR capability: {info}"

    missing: list[str] = []
    polls = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if _next_hops(bird, f"{VIP}/32") != {node.ip4}:
                missing.append(bird.cli("show", "protocols", "n1"))
            polls[0] += 1
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        sc.stop_speaker(node, sig)
        eventually(lambda: not bird.established("n1"), timeout=20, what="BIRD to see the session go")
        # Changed while the speaker is away: only a path sent again after the restart can carry it.
        sc.kubectl(
            "patch", "bgpadvertisement", "tagged", "-n", sc.ns, "--type=json",
            "-p", '[{"op": "add", "path": "/spec/communities/-", "value": "64512:200"}]',
        )  # fmt: skip
        sc.start_speaker(node, bgp=True)
        eventually(lambda: bird.established("n1"), timeout=60, what="the session back")
        # End-of-RIB ends BIRD's restart: stale routes we did not send again would be flushed now.
        eventually(
            lambda: "graceful restart active" not in bird.cli("show", "protocols", "all", "n1"),
            timeout=30,
            what="BIRD to finish the graceful restart",
        )
        eventually(lambda: "(64512,200)" in bird.routes().get(f"{VIP}/32", ""), timeout=30, what="the path sent again")
        time.sleep(1)  # a flush of stale routes would show within this
    finally:
        stop.set()
        watcher.join()
    assert polls[0] > 20, "the watcher polled throughout"
    assert not missing, f"the route went missing {len(missing)} times: {missing[:3]}"
    assert _next_hops(bird, f"{VIP}/32") == {node.ip4}


def test_md5_sessions_with_a_password_and_a_secret_and_a_wrong_password_is_a_warning(sc: SpeakerCluster) -> None:
    bird = _cluster_with_router(sc, neighbor='hold time 9; password "s3cret-md5";', start=False)
    sc.kubectl("delete", "bgppeer", "tor", "-n", sc.ns)
    n1, n2, n3 = sc.nodes.values()
    sc.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tor-md5", "namespace": sc.ns},
            "type": "kubernetes.io/basic-auth",
            "stringData": {"password": "s3cret-md5"},
        }
    )

    def on(node: Node) -> list[dict[str, Any]]:
        return [{"matchLabels": {"kubernetes.io/hostname": node.name}}]

    _peer(sc, "plain", password="s3cret-md5", nodeSelectors=on(n1))
    _peer(sc, "secret", passwordSecret={"name": "tor-md5", "namespace": sc.ns}, nodeSelectors=on(n2))
    _peer(sc, "wrong", password="not-the-password", nodeSelectors=on(n3), connectTime="2s")
    for node in (n1, n2, n3):
        sc.start_speaker(node, bgp=True)
    eventually(lambda: bird.established("n1") and bird.established("n2"), timeout=60, what="both MD5 sessions")
    found = eventually(lambda: _warnings(sc, "wrong"), timeout=60, what="a Warning Event on BGPPeer wrong")
    assert any(w.startswith("sessionFailed: ") and "TCP MD5" in w and "passwordSecret" in w for w in found), found
    assert not bird.established("n3")
    assert not _warnings(sc, "plain") and not _warnings(sc, "secret")


def test_a_wrong_peer_asn_is_a_warning_with_metallbs_text(sc: SpeakerCluster) -> None:
    bird = _cluster_with_router(sc, nodes=(1,), peer={"peerASN": 64599})
    found = eventually(lambda: _warnings(sc, "tor"), timeout=60, what="a Warning Event on the BGPPeer")
    assert any(f"unexpected peer ASN {ROUTER_ASN}, want 64599" in w for w in found), found
    assert not bird.established("n1")


def test_network_unavailable_and_the_exclusion_label_withdraw_the_nodes_path(sc: SpeakerCluster) -> None:
    bird = _cluster_with_router(sc)
    sc.service("web", VIP, endpoints_on=list(sc.nodes))
    n1, n2, n3 = sc.nodes.values()
    every = {n1.ip4, n2.ip4, n3.ip4}
    eventually(lambda: _next_hops(bird, f"{VIP}/32") == every, timeout=60, what="three paths")
    sc.set_condition(n1, "NetworkUnavailable", "True")
    eventually(lambda: _next_hops(bird, f"{VIP}/32") == {n2.ip4, n3.ip4}, timeout=30, what="n1's path withdrawn")
    sc.label_node(n2, "node.kubernetes.io/exclude-from-external-load-balancers", "")
    eventually(lambda: _next_hops(bird, f"{VIP}/32") == {n3.ip4}, timeout=30, what="n2's path withdrawn")
    sc.set_condition(n1, "NetworkUnavailable", "False")
    sc.label_node(n2, "node.kubernetes.io/exclude-from-external-load-balancers", None)
    eventually(lambda: _next_hops(bird, f"{VIP}/32") == every, timeout=30, what="both paths back")


def test_an_ipv6_vip_reaches_the_router_over_an_ipv6_session(sc: SpeakerCluster) -> None:
    bird = _cluster_with_router(sc, nodes=(1, 2), start=False, v6=True)
    sc.kubectl("delete", "bgppeer", "tor", "-n", sc.ns)
    _peer(sc, "tor6", peerAddress=ROUTER6)
    for node in sc.nodes.values():
        sc.start_speaker(node, bgp=True)
    vip6 = "2001:db8::200"
    sc.service("web6", vip6, endpoints_on=list(sc.nodes))
    want = {n.ip6 for n in sc.nodes.values()}

    def hops() -> set[str]:
        return set(re.findall(r"\bvia (\S+)", bird.routes("master6").get(f"{vip6}/128", "")))

    try:
        eventually(lambda: hops() == want, timeout=60, what="two IPv6 paths at BIRD")
    except AssertionError:
        raise AssertionError(bird.cli("show", "protocols", "all") + sc.logs()[-4000:]) from None
    block = bird.routes("master6")[f"{vip6}/128"]
    assert f"BGP.as_path: {MY_ASN} {MY_ASN} {MY_ASN}\n" in block and "(64512,100)" in block, block
