"""The interface inventory (speaker/l2/interfaces.py ``scan``, a stdlib rtnetlink dump) in a namespace with every
kind of interface the eligibility rules look at, against what pyroute2 reports for the same namespace."""

from __future__ import annotations

import json
import sys

from netlab import Lab

# Run in the namespace: our scan and pyroute2's dump, each reduced to the fields Interface carries.
PROBE = r"""
import asyncio, json, socket
from ipaddress import IPv6Address, ip_network
from pyroute2 import IPRoute
from speaker.l2.interfaces import scan

ours = {
    name: [i.index, i.mac.hex() if i.mac else None, i.up, i.broadcast, i.noarp, i.has_master,
           str(i.link_local) if i.link_local else None, sorted(str(n) for n in i.networks)]
    for name, i in asyncio.run(scan()).items()
}
theirs = {}
with IPRoute() as ipr:
    addrs = ipr.get_addr()
    for link in ipr.get_links():
        index, flags = link["index"], link["flags"]
        mac = link.get("address")
        mac = None if not mac or len(mac) != 17 or mac == "00:00:00:00:00:00" else mac.replace(":", "")
        mine = [a for a in addrs if a["index"] == index and a.get("address")]
        lls = [a.get("address") for a in mine if a["family"] == socket.AF_INET6
               and IPv6Address(a.get("address")).is_link_local
               and not (a.get("IFA_FLAGS") or a["flags"]) & 0x48]
        theirs[link.get("ifname")] = [index, mac, bool(flags & 1), bool(flags & 2), bool(flags & 0x80),
                                     bool(link.get("master")), lls[0] if lls else None,
                                     sorted(str(ip_network(f"{a.get('address')}/{a['prefixlen']}", strict=False))
                                            for a in mine)]
print(json.dumps({"ours": ours, "theirs": theirs}))
"""


def test_scan_reports_what_pyroute2_reports_for_every_kind_of_interface(lab: Lab) -> None:
    host = lab.add_host("n1", v4="198.51.100.11/24", v6="2001:db8::11/64")
    for cmd in (
        "ip link add br9 type bridge",
        "ip link add a0 type veth peer name a1",
        "ip link set a0 master br9",  # has a master
        "ip link add b0 type veth peer name b1",
        "ip link set b0 arp off up",  # NOARP
        "ip link add c0 type veth peer name c1",  # stays down
        "ip link set br9 up",
        "ip addr add 192.0.2.1/28 dev br9",
        "ip addr add 2001:db8:9::1/64 dev br9",
        "ip tuntap add tun9 mode tun",  # no hardware address
        "ip link set tun9 up",
        "ip addr add 203.0.113.1/32 peer 203.0.113.2 dev tun9",
    ):
        host.run(*cmd.split())
    out = host.run(sys.executable, "-c", PROBE).stdout
    got = json.loads(out)
    ours, theirs = got["ours"], got["theirs"]
    assert ours == theirs
    assert {"lo", "eth0", "br9", "a0", "b0", "c0", "tun9"} <= set(ours)
    assert ours["a0"][5] is True and ours["b0"][4] is True and ours["c0"][2] is False
    assert ours["tun9"][1] is None
    assert "192.0.2.0/28" in ours["br9"][7] and "2001:db8:9::/64" in ours["br9"][7]
    assert ours["eth0"][6] is not None and ours["eth0"][6].startswith("fe80::")
