"""L2Responder over fake links: the desired-state diff, gratuitous bursts, multicast refcounts, following
interfaces, counters, and the lifecycle refusing misuse. No privileges needed (no real sockets)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address

import pytest

from speaker.l2.answers import Answered, DuplicateAnnouncer, Event
from speaker.l2.codec import BROADCAST, Arp, ArpOp, Ethernet, EtherType, NeighborAdvertisement, decode_frame, parse_mac
from speaker.l2.interfaces import Interface
from speaker.l2.responder import InterfacesChanged, L2Responder, ResponderState

VIP4 = IPv4Address("198.51.100.100")
VIP6 = IPv6Address("2001:db8::100")
VIP6_SAME_GROUP = IPv6Address("2001:db8:1::100")  # same low 24 bits: same solicited-node group
CLIENT_MAC = parse_mac("02:00:00:00:00:02")


def iface(name: str, index: int, mac: str) -> Interface:
    return Interface(name, index, parse_mac(mac), True, True, False, False, IPv6Address(f"fe80::{index}"))


ETH0 = iface("eth0", 2, "02:00:00:00:00:01")
ETH1 = iface("eth1", 3, "02:00:00:00:01:01")


class FakeLink:
    """A link whose 'wire' is a socketpair: tests inject frames and read what was sent."""

    def __init__(self, iface: Interface) -> None:
        self.iface = iface
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.ours.setblocking(False)
        self.sent: list[bytes] = []
        self.groups: list[IPv6Address] = []
        self.closed = False

    def fileno(self) -> int:
        return self.ours.fileno()

    def recv_batch(self, limit: int) -> list[bytes]:
        frames = []
        for _ in range(limit):
            try:
                frames.append(self.ours.recv(65535))
            except BlockingIOError:
                break
        return frames

    def send(self, frame: bytes) -> bool:
        self.sent.append(frame)
        return True

    def join(self, group: IPv6Address) -> None:
        self.groups.append(group)

    def leave(self, group: IPv6Address) -> None:
        self.groups.remove(group)

    def close(self) -> None:
        self.closed = True
        self.ours.close()
        self.theirs.close()


class Harness:
    def __init__(self, interfaces: dict[str, Interface]) -> None:
        self.interfaces = interfaces
        self.links: dict[str, FakeLink] = {}
        self.events: list[Event | InterfacesChanged] = []
        self.now = 100.0

    def link(self, i: Interface) -> FakeLink:
        self.links[i.name] = FakeLink(i)
        return self.links[i.name]

    async def scan(self) -> dict[str, Interface]:
        return dict(self.interfaces)

    def responder(self, **kwargs: object) -> L2Responder:
        return L2Responder(
            link_factory=self.link,
            scanner=self.scan,
            rescan_every=0.01,
            on_event=self.events.append,
            clock=lambda: self.now,
            **kwargs,  # type: ignore[arg-type]
        )


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


def arp_ops(frames: list[bytes]) -> list[tuple[int, IPv4Address]]:
    out = []
    for f in frames:
        l3 = decode_frame(f).l3
        if isinstance(l3, Arp):
            out.append((l3.op, l3.sender_ip))
    return out


def test_new_ips_get_a_gratuitous_burst_at_once_and_are_answered() -> None:
    async def main() -> None:
        h = Harness({"eth0": ETH0})
        async with h.responder() as responder:
            result = responder.set_desired({VIP4: None, VIP6: None})
            assert result.added == {VIP4, VIP6} and not result.missing_interfaces and not result.unserved
            sent = h.links["eth0"].sent
            assert arp_ops(sent) == [(ArpOp.REQUEST, VIP4), (ArpOp.REPLY, VIP4)]
            nas = [decode_frame(f).l4 for f in sent if isinstance(decode_frame(f).l4, NeighborAdvertisement)]
            assert [(na.target, na.override) for na in nas] == [(VIP6, True)]  # type: ignore[union-attr]
            assert responder.stats.gratuitous_sent == {VIP4: 2, VIP6: 1}
            assert responder.first_gratuitous_at(VIP4) == 100.0
            request = Arp(ArpOp.REQUEST, CLIENT_MAC, IPv4Address("198.51.100.2"), bytes(6), VIP4)
            h.links["eth0"].theirs.send(Ethernet(BROADCAST, CLIENT_MAC, EtherType.ARP, request.encode()).encode())
            await until(lambda: responder.stats.responses_sent[VIP4] == 1)
            assert responder.stats.requests_received[VIP4] == 1
            assert Answered.__name__ in {type(e).__name__ for e in h.events}

    run(main)


def test_withdrawn_ips_are_not_answered_and_get_no_more_bursts() -> None:
    async def main() -> None:
        h = Harness({"eth0": ETH0})
        async with h.responder() as responder:
            responder.set_desired({VIP4: None})
            result = responder.set_desired({})
            assert result.removed == {VIP4}
            assert responder.served_on(VIP4) == frozenset()
            assert responder.first_gratuitous_at(VIP4) is None
            h.links["eth0"].sent.clear()
            h.now += 1.2
            responder.retrigger(VIP4)  # not owned: ignored
            await asyncio.sleep(0.05)
            assert h.links["eth0"].sent == []

    run(main)


def test_interfaces_selector_and_missing_interfaces_are_reported() -> None:
    async def main() -> None:
        h = Harness({"eth0": ETH0, "eth1": ETH1})
        async with h.responder() as responder:
            result = responder.set_desired({VIP4: frozenset({"eth1"}), VIP6: frozenset({"eth9"})})
            assert responder.served_on(VIP4) == {"eth1"}
            assert result.missing_interfaces == {VIP6} and result.unserved == {VIP6}
            assert arp_ops(h.links["eth0"].sent) == []
            assert len(arp_ops(h.links["eth1"].sent)) == 2

    run(main)


def test_solicited_node_groups_are_refcounted_per_interface() -> None:
    async def main() -> None:
        h = Harness({"eth0": ETH0})
        async with h.responder() as responder:
            group = IPv6Address("ff02::1:ff00:100")
            responder.set_desired({VIP6: None, VIP6_SAME_GROUP: None})
            assert h.links["eth0"].groups == [group]
            responder.set_desired({VIP6_SAME_GROUP: None})
            assert h.links["eth0"].groups == [group]
            responder.set_desired({})
            assert h.links["eth0"].groups == []

    run(main)


def test_a_link_going_down_stops_its_port_and_a_new_interface_is_announced_on() -> None:
    async def main() -> None:
        h = Harness({"eth0": ETH0})
        async with h.responder() as responder:
            responder.set_desired({VIP4: None})
            h.interfaces["eth0"] = replace(ETH0, up=False)
            h.interfaces["eth1"] = ETH1
            await until(lambda: "eth1" in h.links and responder.interfaces == {"eth1"})
            assert h.links["eth0"].closed
            assert responder.served_on(VIP4) == {"eth1"}
            assert len(arp_ops(h.links["eth1"].sent)) == 2  # re-announced on the new interface at once
            assert InterfacesChanged(frozenset({"eth1"})) in h.events

    run(main)


def test_a_changed_mac_is_announced_at_once() -> None:
    async def main() -> None:
        h = Harness({"eth0": ETH0})
        async with h.responder() as responder:
            responder.set_desired({VIP4: None})
            new_mac = parse_mac("02:00:00:00:00:aa")
            h.interfaces["eth0"] = replace(ETH0, mac=new_mac)
            await until(lambda: any(decode_frame(f).eth.src == new_mac for f in h.links["eth0"].sent))
            garp = [decode_frame(f).l3 for f in h.links["eth0"].sent if decode_frame(f).eth.src == new_mac]
            assert [(a.op, a.sender_mac) for a in garp] == [(ArpOp.REQUEST, new_mac), (ArpOp.REPLY, new_mac)]  # type: ignore[union-attr]

    run(main)


def test_excluded_interfaces_are_never_opened() -> None:
    async def main() -> None:
        import re

        h = Harness({"eth0": ETH0, "eth1": ETH1})
        async with h.responder(exclude=re.compile("^eth1$")) as responder:
            assert responder.interfaces == {"eth0"}
            assert "eth1" not in h.links

    run(main)


def test_a_foreign_mac_claiming_our_ip_is_reported() -> None:
    async def main() -> None:
        h = Harness({"eth0": ETH0})
        async with h.responder() as responder:
            responder.set_desired({VIP4: None})
            intruder = parse_mac("02:00:00:00:00:66")
            garp = Arp(ArpOp.REPLY, intruder, VIP4, BROADCAST, VIP4)
            h.links["eth0"].theirs.send(Ethernet(BROADCAST, intruder, EtherType.ARP, garp.encode()).encode())
            await until(lambda: any(isinstance(e, DuplicateAnnouncer) for e in h.events))
            assert DuplicateAnnouncer(VIP4, "eth0", intruder) in h.events

    run(main)


def test_desired_state_given_before_opening_is_announced_on_open() -> None:
    async def main() -> None:
        h = Harness({"eth0": ETH0})
        responder = h.responder()
        responder.set_desired({VIP4: None})
        async with responder:
            assert len(arp_ops(h.links["eth0"].sent)) == 2

    run(main)


def test_the_lifecycle_refuses_misuse() -> None:
    async def main() -> None:
        h = Harness({"eth0": ETH0})
        responder = h.responder()
        async with responder:
            assert responder.state is ResponderState.OPENED
            with pytest.raises(RuntimeError, match="already open"):
                await responder.__aenter__()
        assert responder.state is ResponderState.CLOSED
        assert h.links["eth0"].closed
        with pytest.raises(RuntimeError, match="cannot be reopened"):
            await responder.__aenter__()
        with pytest.raises(RuntimeError, match="closed"):
            responder.set_desired({VIP4: None})

    run(main)


BPF_CASES = [
    pytest.param(Ethernet(BROADCAST, CLIENT_MAC, EtherType.ARP, bytes(28)), True, id="arp-accepted"),
    pytest.param(Ethernet(BROADCAST, CLIENT_MAC, EtherType.IPV4, bytes(9) + b"\x01" + bytes(10)), True, id="icmp"),
    pytest.param(Ethernet(BROADCAST, CLIENT_MAC, EtherType.IPV4, bytes(9) + b"\x06" + bytes(10)), False, id="tcp"),
    pytest.param(Ethernet(BROADCAST, CLIENT_MAC, EtherType.IPV6, bytes(6) + b"\x3a" + bytes(33)), True, id="icmp6"),
    pytest.param(Ethernet(BROADCAST, CLIENT_MAC, EtherType.IPV6, bytes(6) + b"\x11" + bytes(33)), False, id="udp6"),
    pytest.param(Ethernet(BROADCAST, CLIENT_MAC, 0x88CC, bytes(40)), False, id="lldp"),
]


@pytest.mark.parametrize(("frame", "passes"), BPF_CASES)
def test_the_socket_filter_passes_only_arp_icmp_and_icmpv6(frame: Ethernet, passes: bool) -> None:
    # Classic BPF runs on any socket; a unix datagram pair stands in for the packet socket (no privilege).
    from speaker.l2.responder import _attach_filter

    receiver, sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    marker = Ethernet(BROADCAST, parse_mac("02:00:00:00:00:99"), EtherType.ARP, bytes(28)).encode()
    with receiver, sender:
        _attach_filter(receiver)
        receiver.setblocking(False)
        sender.send(frame.encode())
        sender.send(marker)  # always passes: shows the filter ran and the first frame was (not) dropped
        got = []
        with contextlib.suppress(BlockingIOError):
            while True:
                got.append(receiver.recv(100))
    assert got == ([frame.encode(), marker] if passes else [marker])


def test_retrigger_sends_a_new_burst_at_once() -> None:
    async def main() -> None:
        h = Harness({"eth0": ETH0})
        async with h.responder() as responder:
            responder.set_desired({VIP4: None})
            h.links["eth0"].sent.clear()
            responder.retrigger(VIP4)
            assert arp_ops(h.links["eth0"].sent) == [(ArpOp.REQUEST, VIP4), (ArpOp.REPLY, VIP4)]
            assert responder.stats.gratuitous_sent[VIP4] == 4

    run(main)


def test_bursts_repeat_on_the_loop_and_stop_when_the_window_ends() -> None:
    async def main() -> None:
        import time

        from speaker.l2.gratuitous import GratuitousSchedule

        h = Harness({"eth0": ETH0})
        schedule: GratuitousSchedule[IPv4Address | IPv6Address] = GratuitousSchedule(interval=0.02, window=0.09)
        responder = L2Responder(
            link_factory=h.link, scanner=h.scan, clock=time.monotonic, gratuitous=schedule, rescan_every=60
        )
        async with responder:
            responder.set_desired({VIP4: None})
            await until(lambda: len(arp_ops(h.links["eth0"].sent)) >= 4)  # a second burst, from the timer
            assert responder.first_gratuitous_at(VIP4) is not None
            await until(lambda: schedule.next_deadline() is None)  # the window ended
            settled = len(h.links["eth0"].sent)
            await asyncio.sleep(0.1)
            assert len(h.links["eth0"].sent) == settled <= 10  # at most 5 bursts, none after the window
            assert responder.first_gratuitous_at(VIP4) is None  # read while the bursts lasted; not kept after
            assert responder.served_on(VIP4) == {"eth0"}  # still answered

    run(main)


def test_subnet_only_answers_only_where_an_address_prefix_holds_the_ip() -> None:
    async def main() -> None:
        from ipaddress import ip_network

        lan = replace(ETH0, networks=(ip_network("198.51.100.0/24"),))
        other = replace(ETH1, networks=(ip_network("203.0.113.0/24"),))
        h = Harness({"eth0": lan, "eth1": other})
        async with h.responder(subnet_only=True) as responder:
            result = responder.set_desired({VIP4: None})
            assert responder.served_on(VIP4) == {"eth0"}
            assert not result.unserved
        h2 = Harness({"eth0": lan, "eth1": other})
        async with h2.responder() as responder:
            responder.set_desired({VIP4: None})
            assert responder.served_on(VIP4) == {"eth0", "eth1"}  # upstream behaviour, the default

    run(main)


def _state(responder: L2Responder, h: Harness, ips: list[IPv4Address | IPv6Address]) -> object:
    """What a user of the responder sees: who answers each IP, and the multicast groups joined per link."""
    return (
        {ip: responder.served_on(ip) for ip in ips},
        {name: sorted(link.groups) for name, link in h.links.items()},
    )


def test_update_changes_only_the_given_ips_and_ends_where_set_desired_would() -> None:
    """Random sequences of ``update`` (IPs added, moved between interfaces, removed; IPv6 ones sharing
    solicited-node groups) leave the answers, the groups joined and the missing/unserved sets exactly where one
    ``set_desired`` of the resulting whole state leaves a fresh responder."""
    import random

    ips: list[IPv4Address | IPv6Address] = [IPv4Address(f"198.51.100.{i}") for i in range(1, 7)]
    ips += [IPv6Address(f"2001:db8:{i % 3}::{i % 2 + 1:x}00") for i in range(6)]  # several per group
    choices: list[frozenset[str] | None] = [None, frozenset({"eth0"}), frozenset({"eth1"}), frozenset({"eth9"})]

    async def main() -> None:
        rng = random.Random(7)
        h = Harness({"eth0": ETH0, "eth1": ETH1})
        async with h.responder() as responder:
            whole: dict[IPv4Address | IPv6Address, frozenset[str] | None] = {}
            for _ in range(60):
                changes = {ip: rng.choice(choices) for ip in rng.sample(ips, rng.randint(0, 4))}
                removed = rng.sample(ips, rng.randint(0, 4))
                result = responder.update(changes, removed)
                for ip in removed:
                    if ip not in changes:
                        whole.pop(ip, None)
                whole.update(changes)
                fresh = Harness({"eth0": ETH0, "eth1": ETH1})
                async with fresh.responder() as reference:
                    expected = reference.set_desired(whole)
                    assert _state(responder, h, ips) == _state(reference, fresh, ips)
                assert result.missing_interfaces == expected.missing_interfaces
                assert result.unserved == expected.unserved

    run(main)


def test_update_hands_only_new_and_moved_ips_a_burst() -> None:
    async def main() -> None:
        h = Harness({"eth0": ETH0, "eth1": ETH1})
        async with h.responder() as responder:
            responder.update({VIP4: None, VIP6: None})
            h.links["eth0"].sent.clear()
            h.links["eth1"].sent.clear()
            other = IPv4Address("198.51.100.101")
            result = responder.update({other: None, VIP4: frozenset({"eth1"})}, [VIP6])
            assert result.added == {other} and result.removed == {VIP6}
            assert sorted(arp_ops(h.links["eth0"].sent)) == [(1, other), (2, other)]  # VIP4 left eth0: no burst there
            assert sorted(arp_ops(h.links["eth1"].sent)) == [(1, VIP4), (1, other), (2, VIP4), (2, other)]
            assert responder.served_on(VIP6) == set() and responder.served_on(VIP4) == {"eth1"}

    run(main)


def test_a_group_whose_join_failed_is_joined_at_the_next_change() -> None:
    async def main() -> None:
        h = Harness({"eth0": ETH0})
        async with h.responder() as responder:
            link = h.links["eth0"]
            real_join = link.join

            def full(group: IPv6Address) -> None:
                raise OSError(105, "No buffer space available")

            link.join = full  # type: ignore[method-assign]
            responder.update({VIP6: None})
            assert link.groups == []
            link.join = real_join  # type: ignore[method-assign]
            responder.update({VIP4: None})
            assert link.groups == [IPv6Address("ff02::1:ff00:100")]
            responder.update({}, [VIP6])  # the group goes with its last VIP
            assert link.groups == []

    run(main)


def test_without_an_interface_every_ip_is_unserved_until_one_comes() -> None:
    async def main() -> None:
        h = Harness({})
        async with h.responder() as responder:
            assert responder.update({VIP4: None, VIP6: None}).unserved == {VIP4, VIP6}
            assert responder.update({}, [VIP6]).unserved == {VIP4}
            h.interfaces["eth0"] = ETH0
            await until(lambda: responder.interfaces == {"eth0"})
            assert responder.served_on(VIP4) == {"eth0"}
            assert responder.update({}).unserved == frozenset()

    run(main)
