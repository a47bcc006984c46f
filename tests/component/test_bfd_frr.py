"""Our BFD sessions against FRR's bfdd in network namespaces: both sides Up with the negotiated intervals;
failure detected both ways; a path cut and healed; passive mode; IPv6; AdminDown both ways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bfdlab import BFDD, Frr, Ours, wait_for
from netlab import Host, Lab, missing_requirements

NODE4, ROUTER4 = "198.51.100.1", "198.51.100.2"
NODE6, ROUTER6 = "2001:db8::1", "2001:db8::2"
# Drop every BFD Control packet arriving at the node (the path dies one way; the router then hears our Down).
CUT = """table inet bfdcut {
  chain cut {
    type filter hook input priority 0; policy accept;
    udp dport 3784 drop
  }
}
"""


@pytest.fixture
def hosts(lab: Lab) -> Iterator[tuple[Lab, Host, Host]]:
    why = missing_requirements(BFDD, "vtysh", "nft")
    if why:
        pytest.skip(why)
    node = lab.add_host("node", v4=f"{NODE4}/24", v6=f"{NODE6}/64")
    router = lab.add_host("router", v4=f"{ROUTER4}/24", v6=f"{ROUTER6}/64")
    yield lab, node, router


def frr_config(*peers: tuple[str, str], rx: int = 300, tx: int = 300, mult: int = 3, passive: bool = False) -> str:
    lines = ["bfd"]
    for peer, local in peers:
        lines += [
            f" peer {peer} local-address {local}",
            f"  receive-interval {rx}",
            f"  transmit-interval {tx}",
            f"  detect-multiplier {mult}",
        ]
        if passive:
            lines.append("  passive-mode")
        lines.append(" !")
    return "\n".join([*lines, "!", ""])


@pytest.fixture
def frr(hosts: tuple[Lab, Host, Host]) -> Iterator[Frr]:
    _, _, router = hosts
    f = Frr(router, frr_config((NODE4, ROUTER4), (NODE6, ROUTER6), rx=200, tx=100, mult=4))
    yield f
    f.close()


def both_up(ours: Ours, frr: Frr, peer: str, frr_peer: str) -> None:
    wait_for("our session Up", lambda: ours.state(peer) == "UP")
    wait_for("FRR's session up", lambda: frr.peer(frr_peer)["status"] == "up")


def test_session_comes_up_on_both_sides_with_the_negotiated_intervals(hosts: tuple[Lab, Host, Host], frr: Frr) -> None:
    _, node, _ = hosts
    frr.start()
    ours = Ours(node, "--peer", ROUTER4, "--local", NODE4, "--rx", "150", "--tx", "250", "--mult", "5")
    both_up(ours, frr, ROUTER4, NODE4)
    # FRR sees our advertised timers once our Poll Sequence has ended...
    p = wait_for("FRR to see our fast timers", lambda: (q := frr.peer(NODE4))["remote-transmit-interval"] == 250 and q)
    assert (p["remote-receive-interval"], p["remote-detect-multiplier"]) == (150, 5)
    assert (p["receive-interval"], p["transmit-interval"], p["detect-multiplier"]) == (200, 100, 4)
    # ...and we agree: we send no faster than FRR receives (max(250, 200)), and detect FRR's death after
    # FRR's multiplier x max(our RX 150, FRR's TX 100) = 4 x 150 ms.
    s = wait_for("our stats", lambda: (st := ours.stats()["sessions"][ROUTER4])["detection_time_ms"] == 600 and st)
    assert s["tx_interval_ms"] == 250
    assert s["session_up"] and s["session_up_events"] == 1
    assert s["control_packet_input"] > 0 and s["control_packet_output"] > 0
    ours.quit()


def test_killing_our_side_makes_frr_declare_the_session_down_by_detection(
    hosts: tuple[Lab, Host, Host], frr: Frr
) -> None:
    _, node, _ = hosts
    frr.start()
    ours = Ours(node, "--peer", ROUTER4, "--local", NODE4, "--rx", "100", "--tx", "100", "--mult", "3")
    both_up(ours, frr, ROUTER4, NODE4)
    ours.kill()  # SIGKILL: no AdminDown, FRR must notice the silence
    p = wait_for("FRR to declare Down", lambda: (q := frr.peer(NODE4))["status"] != "up" and q)
    assert p["diagnostic"] == "control detection time expired"


def test_killing_frr_makes_ours_declare_the_session_down_by_detection(hosts: tuple[Lab, Host, Host], frr: Frr) -> None:
    _, node, _ = hosts
    frr.start()
    ours = Ours(node, "--peer", ROUTER4, "--local", NODE4, "--rx", "100", "--tx", "100", "--mult", "3")
    both_up(ours, frr, ROUTER4, NODE4)
    frr.kill()
    wait_for("our session Down", lambda: ours.state(ROUTER4) == "DOWN")
    assert ours.last_change(ROUTER4)["diag"] == "control_detection_time_expired"
    assert ours.last_change(ROUTER4)["path_failed"]
    assert ours.stats()["sessions"][ROUTER4]["session_down_events"] == 1
    ours.quit()


def test_a_dropped_path_brings_the_session_down_and_healing_brings_it_back(
    hosts: tuple[Lab, Host, Host], frr: Frr
) -> None:
    _, node, _ = hosts
    frr.start()
    ours = Ours(node, "--peer", ROUTER4, "--local", NODE4, "--rx", "100", "--tx", "100", "--mult", "3")
    both_up(ours, frr, ROUTER4, NODE4)
    node.nft(CUT)
    wait_for("our session Down", lambda: ours.state(ROUTER4) == "DOWN")
    assert ours.last_change(ROUTER4)["diag"] == "control_detection_time_expired"
    node.nft("delete table inet bfdcut")
    both_up(ours, frr, ROUTER4, NODE4)
    stats = ours.stats()["sessions"][ROUTER4]
    assert (stats["session_up_events"], stats["session_down_events"]) == (2, 1)
    ours.quit()


def test_our_clean_stop_sends_admin_down(hosts: tuple[Lab, Host, Host], frr: Frr) -> None:
    _, node, _ = hosts
    frr.start()
    ours = Ours(node, "--peer", ROUTER4, "--local", NODE4)
    both_up(ours, frr, ROUTER4, NODE4)
    ours.quit()
    p = wait_for("FRR to declare Down", lambda: (q := frr.peer(NODE4))["status"] != "up" and q)
    assert p["remote-diagnostic"] == "administratively down"


def test_frr_shutting_the_peer_down_is_neighbor_signaled(hosts: tuple[Lab, Host, Host], frr: Frr) -> None:
    _, node, _ = hosts
    frr.start()
    ours = Ours(node, "--peer", ROUTER4, "--local", NODE4)
    both_up(ours, frr, ROUTER4, NODE4)
    frr.vtysh("configure terminal", "bfd", f"peer {NODE4} local-address {ROUTER4}", "shutdown")
    wait_for("our session Down", lambda: ours.state(ROUTER4) == "DOWN")
    assert ours.last_change(ROUTER4)["diag"] == "neighbor_signaled_session_down"
    assert ours.last_change(ROUTER4)["remote_state"] == "ADMIN_DOWN"
    assert not ours.last_change(ROUTER4)["path_failed"]  # RFC 5882 §3.2: BGP stays
    frr.vtysh("configure terminal", "bfd", f"peer {NODE4} local-address {ROUTER4}", "no shutdown")
    both_up(ours, frr, ROUTER4, NODE4)
    ours.quit()


def test_passive_mode_waits_for_the_router_to_speak_first(hosts: tuple[Lab, Host, Host]) -> None:
    _, node, router = hosts
    frr = Frr(router, frr_config((NODE4, ROUTER4), passive=True))
    try:
        frr.start()
        ours = Ours(node, "--peer", ROUTER4, "--local", NODE4, "--passive")
        # Both sides passive: nobody speaks. Let bfdd run for over two of its slow (1 s) intervals...
        wait_for("bfdd to be up for 3 s", lambda: frr.peer(NODE4)["downtime"] >= 3)
        assert ours.stats()["sessions"][ROUTER4]["control_packet_output"] == 0
        assert frr.peer(NODE4)["remote-id"] == 0
        # ...then the router turns active, and we answer.
        frr.vtysh("configure terminal", "bfd", f"peer {NODE4} local-address {ROUTER4}", "no passive-mode")
        both_up(ours, frr, ROUTER4, NODE4)
        ours.quit()
    finally:
        frr.close()


def test_ipv6_session(hosts: tuple[Lab, Host, Host], frr: Frr) -> None:
    _, node, _ = hosts
    frr.start()
    ours = Ours(node, "--peer", ROUTER6, "--local", NODE6, "--rx", "100", "--tx", "100")
    both_up(ours, frr, ROUTER6, NODE6)
    frr.kill()
    wait_for("our IPv6 session Down", lambda: ours.state(ROUTER6) == "DOWN")
    ours.quit()
