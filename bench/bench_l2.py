"""Layer-2 responder: ARP and NDP reply latency seen by a client, and the responder's memory (issue 9 target:
p99 <= 1 ms with 1,000 VIPs announced).

A lab (tests/netlab.py): the responder runner (`python -m speaker.l2`) in a node namespace answering for 750
IPv4 VIPs (all that fit the three IPv4 documentation /24s) and 1,000 IPv6 VIPs, and a prober in a client
namespace on the same bridge. The prober sends one ARP request (broadcast) or Neighbor Solicitation (to the
solicited-node group) for a random VIP, waits for the matching answer on a raw socket, and records the time
from send to receipt; requests go one at a time, after the gratuitous bursts are over. Figures: p50/p99/max
per protocol over REQUESTS requests, lost answers, and the responder's RSS idle (no VIP) and with the VIPs.
As a baseline under the same machine load, the same prober asks for the node's own addresses, which the
node's kernel answers: the difference is what the responder adds; the kernel's own tail is the scheduling
noise of the shared cores.

Needs root (network namespaces, raw sockets); prints why it skipped otherwise. Run: ``python -m bench.bench_l2``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

REQUESTS = 2000
V6_VIPS = 1000

PROBER = r"""
import json, random, select, socket, sys, time
from ipaddress import IPv4Address, IPv6Address
from speaker.l2.codec import (BROADCAST, Arp, ArpOp, Ethernet, EtherType, Ipv6, NdOption, NdOptionType,
                              NeighborSolicitation, multicast_mac, solicited_node)
mode, count = sys.argv[1], int(sys.argv[2])
ips = sys.argv[3:]
random.seed(7)
proto = 0x0806 if mode == "arp" else 0x86DD
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
s.bind(("eth0", proto))
me = s.getsockname()[4]
lat, lost = [], 0
for _ in range(count):
    ip = random.choice(ips)
    if mode == "arp":
        target = IPv4Address(ip)
        body = Arp(ArpOp.REQUEST, me, IPv4Address("198.51.100.2"), bytes(6), target).encode()
        frame = Ethernet(BROADCAST, me, EtherType.ARP, body).encode()
        want = target.packed
        def match(d): return len(d) >= 42 and d[12:14] == b"\x08\x06" and d[20:22] == b"\x00\x02" and d[28:32] == want
    else:
        target = IPv6Address(ip)
        ns = NeighborSolicitation(target, (NdOption.link_layer(NdOptionType.SOURCE_LL, me),))
        group = solicited_node(target)
        packet = Ipv6.icmp6(IPv6Address("2001:db8::2"), group, ns, hop_limit=255)
        frame = Ethernet(multicast_mac(group), me, EtherType.IPV6, packet.encode()).encode()
        want = target.packed
        def match(d): return len(d) >= 78 and d[20] == 58 and d[54] == 136 and d[62:78] == want
    while select.select([s], [], [], 0)[0]:
        s.recv(65535)  # stale frames (late answers, gratuitous ones) must not match the next request
    t0 = time.perf_counter_ns()
    s.send(frame)
    while True:
        left = 0.5 - (time.perf_counter_ns() - t0) / 1e9
        if left <= 0 or not select.select([s], [], [], left)[0]:
            lost += 1
            break
        if match(s.recv(65535)):
            lat.append(time.perf_counter_ns() - t0)
            break
print(json.dumps({"lat": lat, "lost": lost}))
"""


def _vips() -> tuple[list[str], list[str]]:
    v4 = [str(IPv4Address(f"198.51.100.{i}")) for i in range(10, 255)]
    v4 += [str(IPv4Address(f"{net}.{i}")) for net in ("192.0.2", "203.0.113") for i in range(1, 255)]
    v6 = [str(IPv6Address(0x20010DB8_0001_0000_0000_0000_0000_0000 + i)) for i in range(1, V6_VIPS + 1)]
    return v4[:750], v6


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _start(host: object, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    proc = host.popen([sys.executable, "-m", "speaker.l2", *args], stdout=log.open("wb"), stderr=subprocess.STDOUT)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while '"event": "ready"' not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"responder did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    return proc


def main() -> None:
    print(f"== bench_l2: ARP/NDP reply latency and responder RSS ({os.cpu_count()} cores)")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("   skipped: needs root and iproute2 (network namespaces)")
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from netlab import Lab

    v4, v6 = _vips()
    with tempfile.TemporaryDirectory() as tmp, Lab("bench") as lab:
        node = lab.add_host("node", v4="198.51.100.1/24", v6="2001:db8::1/64")
        client = lab.add_host("client", v4="198.51.100.2/24", v6="2001:db8::2/64")
        idle = _start(node, [], Path(tmp) / "idle.log")
        time.sleep(1)
        idle_rss = _rss_mib(idle.pid)
        idle.terminate()
        idle.wait(10)
        state = Path(tmp) / "vips"
        state.write_text("\n".join(v4 + v6) + "\n")
        proc = _start(node, ["--state-file", str(state)], Path(tmp) / "busy.log")
        time.sleep(6)  # past the gratuitous window (5 s after the trigger)
        busy_rss = _rss_mib(proc.pid)
        print(f"   VIPs announced: {len(v4)} IPv4 + {len(v6)} IPv6 = {len(v4) + len(v6)}")
        probes = (
            ("arp", v4, "ARP"),
            ("ndp", v6, "NDP"),
            ("arp", [node.ip4], "kernel ARP"),
            ("ndp", [node.ip6], "kernel NDP"),
        )
        for mode, ips, label in probes:
            out = client.run(sys.executable, "-c", PROBER, mode, str(REQUESTS), *ips, timeout=600).stdout
            result = json.loads(out)
            lat_ms = [ns / 1e6 for ns in result["lat"]]
            print(
                f"   {label}: {len(lat_ms)} answers, {result['lost']} lost; "
                f"p50 {_pct(lat_ms, 50):.3f} ms, p99 {_pct(lat_ms, 99):.3f} ms, max {max(lat_ms):.3f} ms, "
                f"mean {statistics.fmean(lat_ms):.3f} ms"
                + ("" if label.startswith("kernel") else " (target p99 <= 1 ms)")
            )
        rss_after = _rss_mib(proc.pid)
        load = os.getloadavg()[0]
        print(f"   machine load average during the run: {load:.1f} (other processes share the cores)")
        print(
            f"   responder RSS: idle {idle_rss:.1f} MiB; with the VIPs {busy_rss:.1f} MiB, "
            f"after probing {rss_after:.1f} MiB"
        )


if __name__ == "__main__":
    main()
