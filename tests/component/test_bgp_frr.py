"""Our BGP speaker against real FRR bgpd (no zebra) in network namespaces: routes read back with ``vtysh``.

Topology as in test_bgp_bird.py: speakers on ``node*`` (AS 64512), FRR on ``router`` (AS 64513).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from bgp_peers import FRR_BGPD, Frr, Speaker, poll
from netlab import Lab, missing_requirements

ROUTER4, ROUTER6 = "198.51.100.2/24", "2001:db8::2/64"


@pytest.fixture
def net(lab: Lab) -> Lab:
    why = missing_requirements(FRR_BGPD, "vtysh")
    if why:
        pytest.skip(why)
    lab.add_host("router", v4=ROUTER4, v6=ROUTER6)
    lab.add_host("node", v4="198.51.100.11/24", v6="2001:db8::11/64")
    return lab


def _neighbor(addr: str, *opts: str, family: str = "ipv4") -> str:
    lines = [
        f" neighbor {addr} remote-as 64512",
        f" neighbor {addr} timers 3 9",
        *(f" neighbor {addr} {o}" for o in opts),
    ]
    lines += [
        f" address-family {family} unicast",
        f"  neighbor {addr} activate",
        "  maximum-paths 8",
        " exit-address-family",
    ]
    return "\n".join(lines) + "\n"


def _speaker(host: Any, *extra: str, peer: str = "198.51.100.2") -> Speaker:
    return Speaker(host, "--peer", peer, "--my-asn", "64512", "--peer-asn", "64513", "--hold-time", "9", *extra)


def _paths(frr: Frr, prefix: str, family: str = "ipv4") -> list[dict[str, Any]]:
    data = frr.json(f"show bgp {family} unicast {prefix} json")
    return list(data.get("paths", [])) if isinstance(data, dict) else []


def test_established_with_routes_communities_and_large_communities(net: Lab) -> None:
    frr = Frr(net.hosts["router"], asn=64513, config=_neighbor("198.51.100.11"))
    spk = _speaker(net.hosts["node"])
    spk.wait_up()
    poll(lambda: frr.neighbor_state("198.51.100.11"), lambda s: s == "Established", what="FRR Established")
    spk.set_routes({"203.0.113.10/32": {"communities": ["64512:100"], "large": ["64512:1:2"]}})
    paths = poll(lambda: _paths(frr, "203.0.113.10/32"), bool, what="the route at FRR")
    p = paths[0]
    assert p["nexthops"][0]["ip"] == "198.51.100.11"
    assert p["aspath"]["string"] == "64512"
    assert p["community"]["string"] == "64512:100"
    assert p["largeCommunity"]["string"] == "64512:1:2"
    spk.set_routes({})
    poll(lambda: _paths(frr, "203.0.113.10/32"), lambda ps: not ps, what="the route withdrawn at FRR")


def test_ipv6_over_mp_bgp(net: Lab) -> None:
    frr = Frr(net.hosts["router"], asn=64513, config=_neighbor("2001:db8::11", family="ipv6"))
    spk = _speaker(net.hosts["node"], peer="2001:db8::2")
    spk.wait_up()
    spk.set_routes({"2001:db8:100::/64": {}})
    paths = poll(lambda: _paths(frr, "2001:db8:100::/64", "ipv6"), bool, what="the IPv6 route at FRR")
    assert paths[0]["nexthops"][0]["ip"] == "2001:db8::11"


def test_md5_password_and_wrong_password(net: Lab) -> None:
    frr = Frr(net.hosts["router"], asn=64513, config=_neighbor("198.51.100.11", "password s3cret"))
    bad = _speaker(net.hosts["node"], "--password", "nope", "--connect-time", "2")
    ev = bad.wait_event(lambda e: e["kind"] == "sessionError", what="a connection error with the wrong password")
    assert "198.51.100.2:179" in ev["reason"]
    assert "TCP MD5 is on" in ev["reason"]
    assert frr.neighbor_state("198.51.100.11") != "Established"
    bad.kill()
    good = _speaker(net.hosts["node"], "--password", "s3cret")
    good.wait_up(timeout=60)
    good.set_routes({"203.0.113.11/32": {}})
    poll(lambda: _paths(frr, "203.0.113.11/32"), bool, what="the route over the MD5 session")


def test_three_speakers_give_three_ecmp_next_hops(net: Lab) -> None:
    nodes = [net.add_host(f"n{i}", v4=f"198.51.100.{20 + i}/24") for i in range(3)]
    frr = Frr(net.hosts["router"], asn=64513, config="".join(_neighbor(n.ip4) for n in nodes))
    speakers = [_speaker(n) for n in nodes]
    for spk in speakers:
        spk.wait_up()
        spk.set_routes({"203.0.113.100/32": {}})

    def ecmp_hops(paths: list[dict[str, Any]]) -> list[str]:
        # FRR marks the best path and the others it would install beside it (after its bestpath run).
        return sorted(p["nexthops"][0]["ip"] for p in paths if p.get("multipath") or p.get("bestpath"))

    paths = poll(
        lambda: _paths(frr, "203.0.113.100/32"), lambda ps: len(ecmp_hops(ps)) == 3, what="three ECMP paths at FRR"
    )
    assert ecmp_hops(paths) == ["198.51.100.20", "198.51.100.21", "198.51.100.22"], paths


def test_graceful_restart_keeps_routes_while_the_speaker_restarts(net: Lab) -> None:
    frr = Frr(net.hosts["router"], asn=64513, config=_neighbor("198.51.100.11", "graceful-restart"))
    gr = ("--graceful-restart", "--restart-time", "60")
    spk = _speaker(net.hosts["node"], *gr)
    spk.wait_up()
    routes = {f"203.0.113.{i}/32": {} for i in range(1, 21)}
    spk.set_routes(routes)
    poll(lambda: frr.json("show bgp ipv4 unicast json").get("routes", {}), lambda r: len(r) == 20, what="20 routes")

    # Watch FRR's table continuously from now until the restarted speaker has re-advertised.
    missing: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            n = len(frr.json("show bgp ipv4 unicast json").get("routes", {}))
            if n != 20:
                missing.append(n)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        spk.kill()  # SIGKILL: no NOTIFICATION, the router keeps our routes as stale
        poll(
            lambda: _paths(frr, "203.0.113.1/32"),
            lambda ps: bool(ps) and bool(ps[0].get("stale")),
            what="routes kept as stale",
        )
        spk2 = _speaker(net.hosts["node"], *gr)
        spk2.set_routes(routes)
        spk2.wait_up(timeout=60)
        spk2.wait_event(lambda e: e["kind"] == "synced" and e["announced"] == 20, what="table and End-of-RIB sent")
        # After End-of-RIB the router clears the stale flag on what we re-advertised.
        poll(
            lambda: _paths(frr, "203.0.113.1/32"),
            lambda ps: bool(ps) and not ps[0].get("stale"),
            what="stale flag cleared by End-of-RIB",
        )
    finally:
        stop.set()
        watcher.join()
    assert missing == [], "the router's table shrank during the restart"
    assert len(frr.json("show bgp ipv4 unicast json").get("routes", {})) == 20


def test_without_graceful_restart_a_kill_withdraws(net: Lab) -> None:
    frr = Frr(net.hosts["router"], asn=64513, config=_neighbor("198.51.100.11"))
    spk = _speaker(net.hosts["node"])
    spk.wait_up()
    spk.set_routes({"203.0.113.60/32": {}})
    poll(lambda: _paths(frr, "203.0.113.60/32"), bool, what="the route")
    spk.close()
    poll(lambda: _paths(frr, "203.0.113.60/32"), lambda ps: not ps, what="withdrawn on Cease")
    info = frr.json("show bgp neighbors 198.51.100.11 json").get("198.51.100.11", {})
    assert info.get("lastErrorCodeSubcode") == "0602", "FRR received our Cease / Administrative Shutdown"
