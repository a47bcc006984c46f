"""Our BGP speaker against GoBGP (gobgpd built from github.com/osrg/gobgp/v3 by ``make gobgp``): routes read
back with the ``gobgp`` CLI. In CI a missing gobgpd fails these tests (tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest
from bgp_peers import GOBGP_BIN, Gobgp, Speaker, poll
from netlab import Lab, missing_requirements


@pytest.fixture
def net(lab: Lab) -> Lab:
    why = missing_requirements()
    if why:
        pytest.skip(why)
    if not (GOBGP_BIN / "gobgpd").exists() or not (GOBGP_BIN / "gobgp").exists():
        pytest.skip(f"missing {GOBGP_BIN}/gobgpd and gobgp: run `make gobgp` (tests/gobgp/gobgp.mk)")
    lab.add_host("router", v4="198.51.100.2/24", v6="2001:db8::2/64")
    lab.add_host("node", v4="198.51.100.11/24", v6="2001:db8::11/64")
    return lab


def _rib(gobgp: Gobgp, family: str) -> dict[str, Any]:
    data = gobgp.json("global", "rib", "-a", family)
    return data if isinstance(data, dict) else {}


def _attr(path: dict[str, Any], type_code: int) -> dict[str, Any]:
    return next((a for a in path["attrs"] if a.get("type") == type_code), {})


def test_established_with_ipv4_and_ipv6_routes(net: Lab) -> None:
    gobgp = Gobgp(
        net.hosts["router"],
        asn=64513,
        neighbors=[("198.51.100.11", 64512)],
        families=("ipv4-unicast", "ipv6-unicast"),
    )
    spk = Speaker(
        net.hosts["node"],
        "--peer",
        "198.51.100.2",
        "--my-asn",
        "64512",
        "--peer-asn",
        "64513",
        "--hold-time",
        "9",
        "--connect-time",
        "2",
    )
    spk.wait_up(timeout=60)
    assert "established" in gobgp.cli("neighbor", "198.51.100.11").lower()
    spk.set_routes({"203.0.113.10/32": {"communities": ["64512:100"], "large": ["64512:1:2"]}, "2001:db8:100::/64": {}})
    rib = poll(lambda: _rib(gobgp, "ipv4"), lambda r: "203.0.113.10/32" in r, what="the IPv4 route at GoBGP")
    path = rib["203.0.113.10/32"][0]
    assert _attr(path, 3)["nexthop"] == "198.51.100.11"
    assert _attr(path, 2)["as_paths"][0]["asns"] == [64512]
    assert _attr(path, 8)["communities"] == [64512 << 16 | 100]
    assert _attr(path, 32)["value"][0] == {"ASN": 64512, "LocalData1": 1, "LocalData2": 2}
    # IPv6 over an IPv4 session: the next hop is our IPv4-mapped address.
    rib6 = poll(lambda: _rib(gobgp, "ipv6"), lambda r: "2001:db8:100::/64" in r, what="the IPv6 route at GoBGP")
    # GoBGP prints our IPv4-mapped IPv6 next hop (::ffff:198.51.100.11) in its IPv4 form.
    assert _attr(rib6["2001:db8:100::/64"][0], 14)["nexthop"] == "198.51.100.11"
    spk.set_routes({})
    poll(lambda: _rib(gobgp, "ipv4"), lambda r: not r, what="the IPv4 route withdrawn")
