"""The layer-2 responder on real packets: a runner (`python -m speaker.l2`) in a node namespace, and a client
namespace asking with `arping`, `ndisc6`, `ping` and `ip neigh` across the lab bridge."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from netlab import Host, Lab, missing_requirements

VIP4 = "198.51.100.100"
VIP6 = "2001:db8::100"
OTHER_VIP4 = "198.51.100.101"
MAC = re.compile(r"from ([0-9a-f]{2}(?::[0-9a-f]{2}){5})", re.IGNORECASE)


@pytest.fixture(autouse=True)
def _tools() -> None:
    why = missing_requirements("arping", "ndisc6", "ping")
    if why:
        pytest.skip(why)


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until ``condition`` holds; the bound only keeps a broken run from hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def start(host: Host, tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """Run the responder in ``host`` and wait for its ``ready`` log line."""
    out = tmp_path / f"{host.name}.log"
    proc = host.popen([sys.executable, "-m", "speaker.l2", *args], stdout=out.open("wb"), stderr=subprocess.STDOUT)
    wait_for(f"{host.name} responder ready", lambda: '"event": "ready"' in out.read_text() or proc.poll() is not None)
    assert proc.poll() is None, out.read_text()
    return proc


def arping_macs(client: Host, ip: str, count: int = 3) -> set[str]:
    """The MACs answering ``ip``; arping stops after ``count`` replies or ``count + 2`` seconds."""
    out = client.run("arping", "-c", str(count), "-w", str(count + 2), "-I", "eth0", ip, check=False).stdout
    return {m.lower() for m in MAC.findall(out)}


def answers(client: Host, ip: str) -> bool:
    return client.run("arping", "-c", "1", "-w", "1", "-I", "eth0", ip, check=False).returncode == 0


def add_interface(lab: Lab, host: Host, ifname: str) -> str:
    """A second veth from ``host`` to the lab bridge; returns its MAC."""
    port = f"x{ifname}"
    subprocess.run(
        ["ip", "-n", lab.bridge_ns, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", host.netns],
        check=True,
    )
    subprocess.run(["ip", "-n", lab.bridge_ns, "link", "set", port, "master", "br0", "up"], check=True)
    host.run("ip", "link", "set", ifname, "up")
    return host.mac(ifname)


def two_nodes_and_a_client(lab: Lab) -> tuple[Host, Host, Host]:
    node1 = lab.add_host("node1", v4="198.51.100.11/24", v6="2001:db8::11/64")
    node2 = lab.add_host("node2", v4="198.51.100.12/24", v6="2001:db8::12/64")
    client = lab.add_host("client", v4="198.51.100.2/24", v6="2001:db8::2/64")
    return node1, node2, client


def test_only_the_announcing_node_answers_arp_and_ndp(lab: Lab, tmp_path: Path) -> None:
    node1, node2, client = two_nodes_and_a_client(lab)
    start(node1, tmp_path, "--ip", VIP4, "--ip", VIP6)
    start(node2, tmp_path, "--ip", OTHER_VIP4)  # a live responder that does not own the VIP
    assert arping_macs(client, VIP4, count=5) == {node1.mac()}
    assert arping_macs(client, OTHER_VIP4) == {node2.mac()}
    ndisc = client.run("ndisc6", "-r", "3", VIP6, "eth0", check=False)
    assert ndisc.returncode == 0, ndisc.stdout
    assert f"Target link-layer address: {node1.mac().upper()}" in ndisc.stdout


def test_gratuitous_packets_teach_the_client_without_it_asking(lab: Lab, tmp_path: Path) -> None:
    node1, _, client = two_nodes_and_a_client(lab)
    client.run("sysctl", "-qw", "net.ipv4.conf.eth0.arp_accept=1")
    # Linux creates an entry from an unsolicited NA only on a router that accepts untracked NAs (RFC 9131).
    client.run("sysctl", "-qw", "net.ipv6.conf.eth0.forwarding=1", "net.ipv6.conf.eth0.accept_untracked_na=1")
    start(node1, tmp_path, "--ip", VIP4, "--ip", VIP6)

    def learned(ip: str) -> bool:
        return node1.mac() in client.run("ip", "neigh", "show", ip, check=False).stdout.lower()

    wait_for("the client's ARP entry from gratuitous ARP", lambda: learned(VIP4))
    wait_for("the client's neighbor entry from the unsolicited NA", lambda: learned(VIP6))


def test_a_withdrawn_ip_is_no_longer_answered_and_its_group_is_left(lab: Lab, tmp_path: Path) -> None:
    node1, _, client = two_nodes_and_a_client(lab)
    state = tmp_path / "vips"
    state.write_text(f"{VIP4}\n{OTHER_VIP4}\n{VIP6}\n")
    proc = start(node1, tmp_path, "--state-file", str(state))

    def groups() -> str:
        return node1.run("ip", "-6", "maddr", "show", "dev", "eth0").stdout

    assert answers(client, VIP4)
    assert "ff02::1:ff00:100" in groups()  # joined at the IP level too, so MLD-snooping switches forward NS
    state.write_text(f"{OTHER_VIP4}\n")
    proc.send_signal(signal.SIGHUP)
    wait_for("the withdrawal", lambda: not answers(client, VIP4))
    assert arping_macs(client, VIP4) == set()
    assert arping_macs(client, OTHER_VIP4) == {node1.mac()}
    assert client.run("ndisc6", "-r", "2", VIP6, "eth0", check=False).returncode != 0
    assert "ff02::1:ff00:100" not in groups()


def test_the_interfaces_selector_is_obeyed(lab: Lab, tmp_path: Path) -> None:
    node1, _, client = two_nodes_and_a_client(lab)
    eth1 = add_interface(lab, node1, "eth1")
    start(node1, tmp_path, "--ip", VIP4, "--ip", f"{OTHER_VIP4}@eth1")
    # The client's broadcast reaches both of node1's interfaces: the free VIP is answered from both, the
    # restricted one only from eth1.
    assert arping_macs(client, VIP4, count=4) == {node1.mac(), eth1}
    assert arping_macs(client, OTHER_VIP4, count=3) == {eth1}


def test_the_exclusion_list_is_obeyed(lab: Lab, tmp_path: Path) -> None:
    node1, _, client = two_nodes_and_a_client(lab)
    eth1 = add_interface(lab, node1, "eth1")
    exclude = tmp_path / "excludel2.yaml"
    exclude.write_text("announcedInterfacesToExclude: ['^eth1$']\n")
    start(node1, tmp_path, "--ip", VIP4, "--exclude-file", str(exclude))
    macs = arping_macs(client, VIP4, count=3)
    assert macs == {node1.mac()} and eth1 not in macs


def test_a_link_taken_down_stops_answering_there_and_resumes_when_up(lab: Lab, tmp_path: Path) -> None:
    node1, _, client = two_nodes_and_a_client(lab)
    eth1 = add_interface(lab, node1, "eth1")
    start(node1, tmp_path, "--ip", VIP4)
    assert arping_macs(client, VIP4, count=2) == {node1.mac(), eth1}
    node1.set_link(False, "eth1")
    # arping also sees no reply from a down interface whatever we do; what proves the responder let go is the
    # log line, and that eth1 answers again once it is back up.
    wait_for("eth1 dropped", lambda: arping_macs(client, VIP4, count=1) == {node1.mac()})
    node1.set_link(True, "eth1")
    wait_for("eth1 answering again", lambda: arping_macs(client, VIP4, count=2) == {node1.mac(), eth1})
    log = (tmp_path / "node1.log").read_text()
    assert "stop answering on eth1" in log


def test_ping_to_the_vip_works_only_with_answer_ping(lab: Lab, tmp_path: Path) -> None:
    node1, node2, client = two_nodes_and_a_client(lab)
    start(node1, tmp_path, "--ip", VIP4, "--ip", VIP6, "--answer-ping")
    start(node2, tmp_path, "--ip", OTHER_VIP4)
    assert client.run("ping", "-c", "2", "-W", "2", VIP4, check=False).returncode == 0
    assert client.run("ping", "-6", "-c", "2", "-W", "2", VIP6, check=False).returncode == 0
    assert answers(client, OTHER_VIP4)  # resolved, but node2 does not answer ping
    assert client.run("ping", "-c", "2", "-W", "1", OTHER_VIP4, check=False).returncode != 0


BARRAGE = r"""
import os, random, socket, sys
random.seed(int(sys.argv[2]))
node = bytes.fromhex(sys.argv[1].replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
me = s.getsockname()[4]
arp = bytes.fromhex("0001080006040001") + me + bytes([198, 51, 100, 2]) + bytes(6) + bytes([198, 51, 100, 100])
icmp6_ns = bytes.fromhex("6000000000203aff") + bytes(16) + bytes(16) + bytes.fromhex("87000000") + bytes(20) + bytes(8)
templates = [(0x0806, arp), (0x0800, bytes.fromhex("4500001c000040000101") + bytes(16)), (0x86DD, icmp6_ns)]
for i in range(3000):
    etype, body = random.choice(templates)
    body = bytearray(body)
    for _ in range(random.randint(0, 8)):
        if body:
            body[random.randrange(len(body))] = random.randrange(256)
    body = bytes(body[: random.randint(0, len(body))])
    if i % 5 == 0:
        body = os.urandom(random.randint(0, 200))
    dst = random.choice([b"\xff" * 6, node, bytes.fromhex("3333ff000100")])
    s.send(dst + me + etype.to_bytes(2, "big") + body)
"""


def test_a_barrage_of_random_and_truncated_frames_never_stops_the_responder(lab: Lab, tmp_path: Path) -> None:
    node1, _, client = two_nodes_and_a_client(lab)
    proc = start(node1, tmp_path, "--ip", VIP4, "--ip", VIP6, "--answer-ping")
    for seed in ("1", "2"):
        client.run(sys.executable, "-c", BARRAGE, node1.mac(), seed, timeout=60)
    assert proc.poll() is None
    assert arping_macs(client, VIP4) == {node1.mac()}
    assert client.run("ndisc6", "-r", "3", VIP6, "eth0", check=False).returncode == 0
    assert client.run("ping", "-c", "1", "-W", "2", VIP4, check=False).returncode == 0
    assert "Traceback" not in (tmp_path / "node1.log").read_text()
