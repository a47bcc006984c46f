"""The speaker in layer 2 mode, whole: three node namespaces each running ``pymetallb speaker`` against the real
test apiserver, a client namespace asking with ``arping``/``ndisc6`` who answers for each VIP.

What a user sees is asserted: exactly one MAC answers, it is the node the ServiceL2Status names, and it moves
when (and only when) the announcer dies, leaves, loses its link, or stops being eligible.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from netlab import Lab
from speakerlab import SpeakerCluster, eventually
from testenv_server import TestAPIServer

pytestmark = pytest.mark.e2e

VIP = "198.51.100.100"
VIP6 = "2001:db8::100"


@pytest.fixture
def sc(
    netns_apiserver: TestAPIServer, lab: Lab, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[SpeakerCluster]:
    ns = f"spk-{request.node.name[5:25].replace('_', '-').strip('-')}-{uuid.uuid4().hex[:6]}"
    netns_apiserver.kubectl("create", "namespace", ns)
    cluster = SpeakerCluster(netns_apiserver, lab, ns, tmp_path)
    try:
        yield cluster
    finally:
        cluster.close(netns_apiserver)


def _nft_input(table: str, rules: list[str]) -> str:
    body = "".join(f"  {r}\n" for r in rules)
    return f"table inet {table} {{\n chain in {{\n  type filter hook input priority 0;\n{body} }}\n}}\n"


def _three(sc: SpeakerCluster) -> None:
    for i in (1, 2, 3):
        sc.add_node(i)
    sc.pool("vips", "198.51.100.100-198.51.100.120", "2001:db8::100-2001:db8::120")
    sc.l2_advertisement("all")


def _start_all(sc: SpeakerCluster) -> None:
    for node in sc.nodes.values():
        sc.start_speaker(node)


def _owner_answers(sc: SpeakerCluster, service: str, ip: str, *, timeout: float = 40.0) -> str:
    """Wait until one node owns ``service`` by its ServiceL2Status and is the only MAC answering for ``ip``."""

    seen: list[object] = []

    def settled() -> str | None:
        owner = sc.l2_owner(service)
        macs = sc.answering_macs(ip)
        seen[:] = [owner, sorted(sc.who(m) or m for m in macs)]
        if owner is None:
            return None
        return owner if macs == {sc.mac_of(owner)} else None

    try:
        found = eventually(settled, timeout=timeout, what=f"one announcer of {ip}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last (status owner, answering): {seen}\n{sc.logs()[-6000:]}") from None
    return found


def test_exactly_one_node_answers_arp_and_ndp_and_it_is_the_one_the_status_names(sc: SpeakerCluster) -> None:
    _three(sc)
    all_nodes = list(sc.nodes)
    sc.service("web", VIP, endpoints_on=all_nodes)
    sc.service("web6", VIP6, endpoints_on=all_nodes)
    _start_all(sc)
    owner = _owner_answers(sc, "web", VIP)
    owner6 = _owner_answers(sc, "web6", VIP6)
    assert sc.answering_macs(VIP, count=5) == {sc.mac_of(owner)}
    assert sc.answering_macs(VIP6) == {sc.mac_of(owner6)}
    events = json.loads(sc.kubectl("get", "events", "-n", sc.ns, "-o", "json").stdout)["items"]
    assigned = [e for e in events if e["reason"] == "nodeAssigned" and e["involvedObject"]["name"] == "web"]
    # While the speakers start one after the other the VIP may move as members join; each node says it once
    # (MetalLB repeats it on every reconcile, #1682), and the owner's is among them.
    assert f'announcing from node "{owner}" with protocol "layer2"' in [e["message"] for e in assigned]
    assert all(e["count"] == 1 for e in assigned), "nodeAssigned only when the announcing node changes"


def test_sigkill_of_the_announcer_moves_the_vip_and_sigterm_hands_over(sc: SpeakerCluster) -> None:
    _three(sc)
    sc.service("web", VIP, endpoints_on=list(sc.nodes))
    _start_all(sc)
    first = _owner_answers(sc, "web", VIP)
    sc.stop_speaker(sc.nodes[first], signal.SIGKILL)
    second = _owner_answers(sc, "web", VIP)
    assert second != first
    events = sc.events_of(sc.nodes[second])
    assert any(e.get("event") == "membersChanged" and first in e.get("departed", []) for e in events)
    # A clean stop: exit 0, the leave is announced, the next node answers.
    assert sc.stop_speaker(sc.nodes[second], signal.SIGTERM) == 0
    third = _owner_answers(sc, "web", VIP)
    assert third not in (first, second)
    # SIGINT stops cleanly too, and a clean stop deletes the node's own status object.
    assert sc.stop_speaker(sc.nodes[third], signal.SIGINT) == 0
    eventually(lambda: sc.l2_owner("web") is None, what="the last announcer's status to go")
    for name in (second, third):
        log = (sc.nodes[name].log or Path("/dev/null")).read_text()
        assert "Traceback" not in log
        events = [e.get("event") for e in sc.events_of(sc.nodes[name])]
        assert events.index("stopping") < events.index("stopped"), events


def test_a_link_taken_down_on_the_announcer_moves_the_vip(sc: SpeakerCluster) -> None:
    _three(sc)
    sc.service("web", VIP, endpoints_on=list(sc.nodes))
    _start_all(sc)
    first = _owner_answers(sc, "web", VIP)
    sc.nodes[first].host.set_link(False)
    second = _owner_answers(sc, "web", VIP)
    assert second != first


def test_etp_local_follows_the_endpoint(sc: SpeakerCluster) -> None:
    _three(sc)
    names = list(sc.nodes)
    sc.service("local", VIP, endpoints_on=[names[0]], etp="Local")
    _start_all(sc)
    assert _owner_answers(sc, "local", VIP) == names[0]
    sc.endpoints("local", [names[2]])
    assert _owner_answers(sc, "local", VIP) == names[2]


def test_network_unavailable_and_the_exclusion_label_move_it(sc: SpeakerCluster) -> None:
    _three(sc)
    sc.service("web", VIP, endpoints_on=list(sc.nodes))
    _start_all(sc)
    first = _owner_answers(sc, "web", VIP)
    sc.set_condition(sc.nodes[first], "NetworkUnavailable", "True")
    second = _owner_answers(sc, "web", VIP)
    assert second != first
    sc.label_node(sc.nodes[second], "node.kubernetes.io/exclude-from-external-load-balancers", "")
    third = _owner_answers(sc, "web", VIP)
    assert third not in (first, second)


def test_a_shared_ip_and_a_dual_stack_service_stay_on_one_node(sc: SpeakerCluster) -> None:
    _three(sc)
    everywhere = list(sc.nodes)
    shared = {"metallb.io/allow-shared-ip": "k"}
    sc.service("a", VIP, endpoints_on=everywhere, annotations=shared, port=80)
    sc.service("b", VIP, endpoints_on=everywhere, annotations=shared, port=443)
    # The test apiserver has IPv4 Service CIDRs only, so the Service is single-stack in spec; its status holds
    # both families, as a dual-stack Service's does (the speaker reads only the status).
    sc.service("dual", "198.51.100.101", "2001:db8::101", endpoints_on=everywhere)
    _start_all(sc)
    owner = _owner_answers(sc, "a", VIP)
    assert eventually(lambda: sc.l2_owner("b"), what="b's status") == owner
    dual = _owner_answers(sc, "dual", "198.51.100.101")
    assert sc.answering_macs("2001:db8::101") == {sc.mac_of(dual)}


def _membership_changes(sc: SpeakerCluster) -> dict[str, list[dict[str, object]]]:
    return {
        name: [e for e in sc.events_of(node) if e.get("event") == "membersChanged"] for name, node in sc.nodes.items()
    }


def _membership_settled(sc: SpeakerCluster) -> dict[str, int]:
    """Wait until every speaker sees all three alive and nothing changed for a second (speakers started a moment
    apart may see one another come, go and come back while they start); then how many changes each has logged."""
    everyone = sorted(sc.nodes)

    def settled() -> dict[str, int] | None:
        before = _membership_changes(sc)
        if any(not changes or sorted(changes[-1].get("alive") or []) != everyone for changes in before.values()):
            return None
        time.sleep(1.0)
        after = _membership_changes(sc)
        return {name: len(changes) for name, changes in after.items()} if after == before else None

    return eventually(settled, timeout=60, what="every speaker to see all three alive, and stay so")


def test_loss_on_membership_traffic_and_a_resync_move_nothing(sc: SpeakerCluster) -> None:
    _three(sc)
    for i in range(10):
        sc.service(f"s{i}", f"198.51.100.{100 + i}", endpoints_on=list(sc.nodes))
    _start_all(sc)
    baseline = _membership_settled(sc)
    owners = {f"s{i}": _owner_answers(sc, f"s{i}", f"198.51.100.{100 + i}") for i in range(10)}
    drop = _nft_input("lossy", ["udp dport 7946 numgen random mod 100 < 5 drop"])
    for node in sc.nodes.values():
        node.host.nft(drop)
    # A full resync on every speaker at once (a config change queues every Service) while packets are lost.
    sc.l2_advertisement("all", interfaces=[])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(2)
        for name, owner in owners.items():
            assert sc.l2_owner(name) == owner, f"{name} moved from {owner} under 5% loss"
    later = {name: changes[baseline[name] :] for name, changes in _membership_changes(sc).items()}
    assert not any(e.get("departed") for changes in later.values() for e in changes), f"spurious deaths: {later}"


def test_a_membership_partition_that_makes_two_announcers_is_detected_and_resolved(sc: SpeakerCluster) -> None:
    _three(sc)
    sc.service("web", VIP, endpoints_on=list(sc.nodes))
    _start_all(sc)
    first = _owner_answers(sc, "web", VIP)
    # Cut the owner off from the others' membership traffic only: ARP still flows, so both announce...
    owner = sc.nodes[first]
    others = [n for n in sc.nodes.values() if n is not owner]
    owner.host.nft(_nft_input("part", [f"ip saddr {n.ip4} udp dport 7946 drop" for n in others]))
    for n in others:
        n.host.nft(_nft_input("part", [f"ip saddr {owner.ip4} udp dport 7946 drop"]))
    # The others declare it dead and one of them takes over: two announcers for a moment...
    eventually(
        lambda: any(
            first in e.get("departed", [])
            for n in others
            for e in sc.events_of(n)
            if e.get("event") == "membersChanged"
        ),
        what="the partition to be noticed",
    )

    # ...until a duplicate announcer is heard on the wire and the election order settles it: one MAC again.
    def one_answer() -> bool:
        macs = sc.answering_macs(VIP)
        return len(macs) == 1

    eventually(one_answer, timeout=60, what="a single announcer after the partition")
    dup = [e for n in sc.nodes.values() for e in sc.events_of(n) if e.get("event") == "duplicateAnnouncer"]
    assert dup, "the duplicate must be detected and logged"


def test_wrong_key_and_garbage_membership_packets_change_nothing(sc: SpeakerCluster) -> None:
    _three(sc)
    sc.service("web", VIP, endpoints_on=list(sc.nodes))
    _start_all(sc)
    first = _owner_answers(sc, "web", VIP)
    assert sc.client is not None
    for node in sc.nodes.values():
        script = (
            "import os, socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for i in range(2000): s.sendto(os.urandom(i % 300 + 1), ('{node.ip4}', 7946))\n"
        )
        sc.client.run("python3", "-c", script)
    time.sleep(3)
    assert sc.l2_owner("web") == first
    assert sc.answering_macs(VIP) == {sc.mac_of(first)}
