"""Our BGP speaker against real BIRD 2 in network namespaces: routes read back with ``birdc``.

Topology: ``node`` (198.51.100.11, 2001:db8::11, AS 64512) speaks to ``router`` (198.51.100.2, 2001:db8::2,
AS 64513 for eBGP, 64512 for iBGP) on one bridge.
"""

from __future__ import annotations

import pytest
from bgp_peers import Bird, Speaker, poll
from netlab import Lab, missing_requirements

NODE4, NODE6 = "198.51.100.11/24", "2001:db8::11/64"
ROUTER4, ROUTER6 = "198.51.100.2/24", "2001:db8::2/64"


@pytest.fixture
def net(lab: Lab) -> Lab:
    why = missing_requirements("bird", "birdc")
    if why:
        pytest.skip(why)
    lab.add_host("router", v4=ROUTER4, v6=ROUTER6)
    lab.add_host("node", v4=NODE4, v6=NODE6)
    return lab


def _speaker(lab: Lab, *extra: str, peer: str = "198.51.100.2", peer_asn: int = 64513) -> Speaker:
    return Speaker(
        lab.hosts["node"], "--peer", peer, "--my-asn", "64512", "--peer-asn", str(peer_asn), "--hold-time", "9", *extra
    )


def test_ebgp_routes_carry_next_hop_as_path_and_communities(net: Lab) -> None:
    bird = Bird(net.hosts["router"], asn=64513, neighbors=[("node", "198.51.100.11", 64512, "hold time 9;")])
    spk = _speaker(net)
    spk.wait_up()
    spk.set_routes(
        {
            "203.0.113.10/32": {"communities": ["64512:100", "65535:65281"], "large": ["64512:1:2"], "local_pref": 300},
            "203.0.113.20/32": {"prepend": 2},
        }
    )
    routes = poll(bird.routes, lambda r: len(r) == 2, what="two routes at BIRD")
    r10 = routes["203.0.113.10/32"]
    assert "via 198.51.100.11" in r10
    assert "BGP.as_path: 64512\n" in r10
    assert "BGP.next_hop: 198.51.100.11" in r10
    assert "(64512,100)" in r10 and "(65535,65281)" in r10
    assert "(64512, 1, 2)" in r10
    # BIRD gives eBGP routes its default 100; our 300 must not reach an eBGP peer.
    assert "BGP.local_pref: 100\n" in r10
    assert "BGP.as_path: 64512 64512 64512\n" in routes["203.0.113.20/32"], "prepend 2: our ASN three times"


def test_ibgp_carries_local_pref_and_an_empty_as_path(net: Lab) -> None:
    bird = Bird(net.hosts["router"], asn=64512, neighbors=[("node", "198.51.100.11", 64512, "hold time 9;")])
    spk = _speaker(net, peer_asn=64512)
    spk.wait_up()
    spk.set_routes({"203.0.113.30/32": {"local_pref": 250}})
    routes = poll(bird.routes, lambda r: "203.0.113.30/32" in r, what="the route at BIRD")
    r = routes["203.0.113.30/32"]
    assert "BGP.local_pref: 250\n" in r
    assert "BGP.as_path: \n" in r
    assert "BGP.next_hop: 198.51.100.11" in r


def test_ipv6_over_mp_bgp_and_withdrawal(net: Lab) -> None:
    bird = Bird(net.hosts["router"], asn=64513, neighbors=[("node", "2001:db8::11", 64512, "hold time 9;")])
    spk = _speaker(net, peer="2001:db8::2")
    spk.wait_up()
    spk.set_routes(
        {"2001:db8:100::/64": {"communities": ["64512:7"]}, "2001:db8:100:1::1/128": {}, "203.0.113.40/32": {}}
    )
    routes6 = poll(lambda: bird.routes("master6"), lambda r: len(r) == 2, what="two IPv6 routes at BIRD")
    assert "BGP.next_hop: 2001:db8::11" in routes6["2001:db8:100::/64"]
    assert "(64512,7)" in routes6["2001:db8:100::/64"]
    spk.set_routes({"2001:db8:100::/64": {}})
    routes6 = poll(lambda: bird.routes("master6"), lambda r: len(r) == 1, what="one IPv6 route withdrawn")
    assert "(64512,7)" not in routes6["2001:db8:100::/64"], "changed attributes replace the old ones"
    spk.set_routes({})
    poll(lambda: bird.routes("master6"), lambda r: not r, what="every IPv6 route withdrawn")


def test_withdrawal_and_peer_restart_readvertises(net: Lab) -> None:
    router = net.hosts["router"]
    bird = Bird(router, asn=64513, neighbors=[("node", "198.51.100.11", 64512, "hold time 9;")])
    spk = _speaker(net)
    spk.wait_up()
    spk.set_routes({f"203.0.113.{i}/32": {} for i in range(1, 101)})
    poll(bird.count, lambda n: n == 100, what="100 routes at BIRD")
    spk.set_routes({f"203.0.113.{i}/32": {} for i in range(1, 51)})
    poll(bird.count, lambda n: n == 50, what="50 routes withdrawn")
    bird.proc.kill()
    bird.proc.wait()
    spk.wait_event(lambda e: e["kind"] == "sessionDown", what="sessionDown after the router died")
    bird2 = Bird(router, asn=64513, neighbors=[("node", "198.51.100.11", 64512, "hold time 9;")])
    poll(bird2.count, lambda n: n == 50, timeout=60, what="the table re-advertised after the router restarted")


def test_hold_timer_expiry_when_the_peer_goes_silent(net: Lab) -> None:
    router = net.hosts["router"]
    Bird(router, asn=64513, neighbors=[("node", "198.51.100.11", 64512, "hold time 240;")])
    spk = _speaker(net, "--hold-time", "3")
    spk.wait_up()
    # The router stays up but says nothing: every BGP packet in and out of its namespace is dropped.
    router.nft(
        "table inet silent {\n"
        " chain rx { type filter hook input priority 0; tcp dport 179 drop; tcp sport 179 drop; }\n"
        " chain tx { type filter hook output priority 0; tcp dport 179 drop; tcp sport 179 drop; }\n"
        "}\n"
    )
    ev = spk.wait_event(lambda e: e["kind"] == "sessionDown", timeout=20, what="sessionDown by hold timer")
    assert ev["notification"] == [4, 0] and ev["sent"] is True
    assert "hold timer expired" in ev["reason"]


def test_wrong_peer_asn_is_reported_with_the_reason(net: Lab) -> None:
    Bird(net.hosts["router"], asn=64513, neighbors=[("node", "198.51.100.11", 64512, "hold time 9;")])
    spk = _speaker(net, peer_asn=64999)
    ev = spk.wait_event(lambda e: "unexpected peer ASN" in e["reason"], what="the ASN mismatch")
    assert "unexpected peer ASN 64513, want 64999" in ev["reason"]
    assert ev["notification"] == [2, 2] and ev["sent"] is True


def test_md5_password(net: Lab) -> None:
    bird = Bird(
        net.hosts["router"], asn=64513, neighbors=[("node", "198.51.100.11", 64512, 'hold time 9; password "s3cret";')]
    )
    spk = _speaker(net, "--password", "s3cret")
    spk.wait_up()
    spk.set_routes({"203.0.113.50/32": {}})
    poll(bird.routes, lambda r: "203.0.113.50/32" in r, what="route over an MD5 session")


def test_md5_wrong_password_never_establishes(net: Lab) -> None:
    bird = Bird(
        net.hosts["router"], asn=64513, neighbors=[("node", "198.51.100.11", 64512, 'hold time 9; password "s3cret";')]
    )
    spk = _speaker(net, "--password", "wrong", "--connect-time", "2")
    ev = spk.wait_event(lambda e: e["kind"] == "sessionError", what="a connection error")
    assert "198.51.100.2:179" in ev["reason"]
    assert "TCP MD5 is on" in ev["reason"]
    assert not bird.established("node")
    assert not any(e["kind"] == "sessionUp" for e in spk.events)


def test_passive_mode_accepts_the_router(net: Lab) -> None:
    bird = Bird(net.hosts["router"], asn=64513, neighbors=[("node", "198.51.100.11", 64512, "hold time 9;")])
    spk = _speaker(net, "--passive")
    spk.wait_up(timeout=60)
    spk.set_routes({"203.0.113.70/32": {}})
    poll(bird.routes, lambda r: "203.0.113.70/32" in r, what="the route over a session BIRD opened")


def test_extended_messages_carry_a_large_table(net: Lab) -> None:
    """With RFC 8654 negotiated, UPDATEs may exceed 4096 octets; BIRD must still get every route."""
    bird = Bird(
        net.hosts["router"],
        asn=64513,
        neighbors=[("node", "198.51.100.11", 64512, "hold time 9; enable extended messages on;")],
    )
    spk = _speaker(net)
    spk.wait_up()
    spk.set_routes({f"10.{i // 256}.{i % 256}.1/32": {} for i in range(3000)})
    synced = spk.wait_event(lambda e: e["kind"] == "synced" and e["announced"] == 3000, what="3000 routes sent")
    poll(bird.count, lambda n: n == 3000, what="3000 routes at BIRD")
    # 3000 /32s are 15,000 octets of NLRI: one extended UPDATE (plus two End-of-RIBs), not four.
    assert synced["updates"] <= 4


def test_passive_mode_with_md5(net: Lab) -> None:
    """The listening socket carries the key for the router's address, so BIRD's signed SYN is accepted."""
    bird = Bird(
        net.hosts["router"], asn=64513, neighbors=[("node", "198.51.100.11", 64512, 'hold time 9; password "pw1";')]
    )
    spk = _speaker(net, "--passive", "--password", "pw1")
    spk.wait_up(timeout=60)
    spk.set_routes({"203.0.113.71/32": {}})
    poll(bird.routes, lambda r: "203.0.113.71/32" in r, what="the route over a passive MD5 session")
