"""Uplinks: a lab host reaches the root namespace's apiserver address, each host with its own address, and
close() takes the root-side links away."""

from __future__ import annotations

import ipaddress
import subprocess

import pytest
from netlab import APISERVER_V4, UPLINK_IFNAME, UPLINK_POOL, Lab, ensure_apiserver_address


def _root_routes() -> str:
    return subprocess.run(["ip", "-4", "-o", "route", "show"], capture_output=True, text=True, check=True).stdout


def test_uplinked_hosts_reach_the_apiserver_address_with_their_own_addresses(lab: Lab) -> None:
    ensure_apiserver_address()
    ensure_apiserver_address()  # idempotent
    a = lab.add_host("a", v4="198.51.100.1/24")
    b = lab.add_host("b", v4="198.51.100.2/24")
    lonely = lab.add_host("c", v4="198.51.100.3/24")
    addr_a, addr_b = lab.uplink(a), lab.uplink("b")
    assert addr_a != addr_b
    assert {ipaddress.ip_address(addr_a), ipaddress.ip_address(addr_b)} <= set(UPLINK_POOL.hosts())
    assert lab.uplink(a) == addr_a  # again: same uplink
    for host in (a, b):
        ping = host.run("ping", "-c", "1", "-W", "2", APISERVER_V4, check=False)
        assert ping.returncode == 0, ping.stdout + ping.stderr
    # The host side carries the address, under a name MetalLB's default exclusion list (^veth.*) covers.
    assert f"{addr_a}/32" in a.run("ip", "-4", "-o", "addr", "show", "dev", UPLINK_IFNAME).stdout
    assert UPLINK_IFNAME.startswith("veth")
    # A host without an uplink has no way out of the lab.
    assert lonely.run("ping", "-c", "1", "-W", "1", APISERVER_V4, check=False).returncode != 0

    roots = [root for root, _ in lab.uplinks.values()]
    assert all(f"dev {root} " in _root_routes() for root in roots)
    lab.close()
    for root in roots:
        gone = subprocess.run(["ip", "link", "show", root], capture_output=True, text=True, check=False)
        assert gone.returncode != 0, gone.stdout
        assert f"dev {root} " not in _root_routes()


def test_an_address_the_machine_already_uses_is_refused(lab: Lab) -> None:
    # 127.0.0.0/8 is on the root namespace's lo: taking 127.0.0.5 for the apiserver would shadow nothing here, but
    # the same check stops 192.0.2.1 on a machine whose network is 192.0.2.0/24.
    with pytest.raises(RuntimeError, match=r"127\.0\.0\.5/32 overlaps 127\.0\.0\.0/8 on lo in the root namespace"):
        ensure_apiserver_address("127.0.0.5")
    lo = subprocess.run(["ip", "-4", "addr", "show", "lo"], capture_output=True, text=True, check=True).stdout
    assert "127.0.0.5/32" not in lo
