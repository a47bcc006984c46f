"""The sans-IO responder core: which frames get an answer, what the answer says, and the named reason when
nothing is sent."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from hypothesis import given
from hypothesis import strategies as st

from speaker.l2.answers import (
    Answered,
    AnswerKind,
    Dropped,
    DropReason,
    DuplicateAnnouncer,
    PortView,
    Reply,
    gratuitous_arp,
    respond,
    unsolicited_na,
)
from speaker.l2.codec import (
    ALL_NODES,
    BROADCAST,
    Arp,
    ArpOp,
    Ethernet,
    EtherType,
    Icmp6Echo,
    Icmp6Type,
    IcmpEcho,
    IcmpType,
    IpProto,
    Ipv4,
    Ipv6,
    NdOption,
    NdOptionType,
    NeighborAdvertisement,
    NeighborSolicitation,
    decode_frame,
    multicast_mac,
    parse_mac,
    solicited_node,
)

OUR_MAC = parse_mac("02:00:00:00:00:01")
OTHER_OF_OURS = parse_mac("02:00:00:00:00:09")
CLIENT_MAC = parse_mac("02:00:00:00:00:02")
INTRUDER_MAC = parse_mac("02:00:00:00:00:66")
VIP4 = IPv4Address("198.51.100.100")
VIP6 = IPv6Address("2001:db8::100")
ELSEWHERE4 = IPv4Address("198.51.100.101")
CLIENT4 = IPv4Address("198.51.100.2")
CLIENT6 = IPv6Address("fe80::2")


def view(*, answer_ping: bool = False) -> PortView:
    return PortView(
        name="eth0",
        mac=OUR_MAC,
        owned=frozenset({VIP4, VIP6}),
        owned_any=frozenset({VIP4, VIP6, ELSEWHERE4}),
        our_macs=frozenset({OUR_MAC, OTHER_OF_OURS}),
        answer_ping=answer_ping,
    )


def arp_frame(
    op: int = ArpOp.REQUEST,
    *,
    target: IPv4Address = VIP4,
    sender_ip: IPv4Address = CLIENT4,
    sender_mac: bytes = CLIENT_MAC,
    eth_dst: bytes = BROADCAST,
) -> bytes:
    arp = Arp(op, sender_mac, sender_ip, bytes(6), target)
    return Ethernet(eth_dst, sender_mac, EtherType.ARP, arp.encode()).encode() + bytes(18)  # with wire padding


def ns_frame(
    *, target: IPv6Address = VIP6, source_ll: bool = True, hop_limit: int = 255, src: IPv6Address = CLIENT6
) -> bytes:
    options = (NdOption.link_layer(NdOptionType.SOURCE_LL, CLIENT_MAC),) if source_ll else ()
    group = solicited_node(target)
    packet = Ipv6.icmp6(src, group, NeighborSolicitation(target, options), hop_limit=hop_limit)
    return Ethernet(multicast_mac(group), CLIENT_MAC, EtherType.IPV6, packet.encode()).encode()


def dropped(reply: Reply, reason: DropReason) -> bool:
    return reply.frames == () and isinstance(reply.event, Dropped) and reply.event.reason == reason


def test_arp_request_for_an_owned_ip_gets_a_unicast_reply_from_the_interface_mac() -> None:
    reply = respond(view(), arp_frame())
    assert reply.event == Answered(AnswerKind.ARP, VIP4, "eth0")
    (frame,) = reply.frames
    decoded = decode_frame(frame)
    assert (decoded.eth.dst, decoded.eth.src) == (CLIENT_MAC, OUR_MAC)
    assert decoded.l3 == Arp(ArpOp.REPLY, OUR_MAC, VIP4, CLIENT_MAC, CLIENT4)


def test_arp_request_sent_to_our_mac_is_answered_and_to_another_mac_is_not() -> None:
    assert respond(view(), arp_frame(eth_dst=OUR_MAC)).event == Answered(AnswerKind.ARP, VIP4, "eth0")
    assert dropped(respond(view(), arp_frame(eth_dst=INTRUDER_MAC)), DropReason.ETHERNET_DESTINATION)


def test_arp_request_for_an_ip_we_do_not_announce_here_names_why() -> None:
    assert dropped(respond(view(), arp_frame(target=IPv4Address("198.51.100.7"))), DropReason.ANNOUNCE_IP)
    assert dropped(respond(view(), arp_frame(target=ELSEWHERE4)), DropReason.NOT_MATCH_INTERFACE)


def test_an_arp_probe_for_our_ip_is_defended() -> None:
    # RFC 5227 probe: sender IP 0.0.0.0. Answering tells the prober the address is taken.
    reply = respond(view(), arp_frame(sender_ip=IPv4Address("0.0.0.0")))
    assert reply.event == Answered(AnswerKind.ARP, VIP4, "eth0")


def test_arp_replies_are_not_answered() -> None:
    assert dropped(respond(view(), arp_frame(ArpOp.REPLY, target=CLIENT4, sender_ip=ELSEWHERE4)), DropReason.ARP_REPLY)


def test_another_mac_claiming_our_ip_by_arp_is_a_duplicate_announcer_and_gets_no_answer() -> None:
    for op in (ArpOp.REPLY, ArpOp.REQUEST):
        reply = respond(view(), arp_frame(op, sender_ip=VIP4, sender_mac=INTRUDER_MAC))
        assert reply == Reply((), DuplicateAnnouncer(VIP4, "eth0", INTRUDER_MAC))


def test_our_own_gratuitous_arp_seen_on_another_of_our_interfaces_is_ignored() -> None:
    request, _ = gratuitous_arp(OTHER_OF_OURS, VIP4)
    assert dropped(respond(view(), request), DropReason.FROM_OURSELVES)


def test_neighbor_solicitation_gets_a_solicited_non_override_advertisement_with_our_mac() -> None:
    reply = respond(view(), ns_frame())
    assert reply.event == Answered(AnswerKind.NDP, VIP6, "eth0")
    (frame,) = reply.frames
    decoded = decode_frame(frame)  # also verifies the ICMPv6 checksum
    assert (decoded.eth.dst, decoded.eth.src) == (CLIENT_MAC, OUR_MAC)
    assert isinstance(decoded.l3, Ipv6)
    assert (decoded.l3.src, decoded.l3.dst, decoded.l3.hop_limit) == (VIP6, CLIENT6, 255)
    na = decoded.l4
    assert isinstance(na, NeighborAdvertisement)
    assert (na.target, na.solicited, na.override, na.router, na.target_ll) == (VIP6, True, False, False, OUR_MAC)


def test_solicitations_without_source_ll_or_off_link_or_for_others_are_not_answered() -> None:
    assert dropped(respond(view(), ns_frame(source_ll=False, src=IPv6Address("::"))), DropReason.NO_SOURCE_LL)
    assert dropped(respond(view(), ns_frame(hop_limit=254)), DropReason.HOP_LIMIT)
    assert dropped(respond(view(), ns_frame(target=IPv6Address("2001:db8::7"))), DropReason.ANNOUNCE_IP)


def test_another_mac_advertising_our_ipv6_is_a_duplicate_announcer() -> None:
    na = NeighborAdvertisement(
        VIP6, override=True, options=(NdOption.link_layer(NdOptionType.TARGET_LL, INTRUDER_MAC),)
    )
    packet = Ipv6.icmp6(IPv6Address("fe80::66"), ALL_NODES, na, hop_limit=255)
    frame = Ethernet(multicast_mac(ALL_NODES), INTRUDER_MAC, EtherType.IPV6, packet.encode()).encode()
    assert respond(view(), frame) == Reply((), DuplicateAnnouncer(VIP6, "eth0", INTRUDER_MAC))


def test_a_host_soliciting_from_our_ipv6_is_a_duplicate_announcer() -> None:
    reply = respond(view(), ns_frame(target=IPv6Address("2001:db8::2"), src=VIP6))
    assert reply == Reply((), DuplicateAnnouncer(VIP6, "eth0", CLIENT_MAC))


def ping4(dst: IPv4Address = VIP4, eth_dst: bytes = OUR_MAC) -> bytes:
    echo = IcmpEcho(IcmpType.ECHO_REQUEST, 77, 3, b"payload-bytes")
    return Ethernet(
        eth_dst, CLIENT_MAC, EtherType.IPV4, Ipv4(IpProto.ICMP, CLIENT4, dst, echo.encode()).encode()
    ).encode()


def ping6(dst: IPv6Address = VIP6) -> bytes:
    echo = Icmp6Echo(Icmp6Type.ECHO_REQUEST, 78, 4, b"payload-six")
    return Ethernet(OUR_MAC, CLIENT_MAC, EtherType.IPV6, Ipv6.icmp6(CLIENT6, dst, echo, hop_limit=64).encode()).encode()


def test_ping_to_an_owned_vip_is_answered_only_with_answer_ping() -> None:
    assert dropped(respond(view(), ping4()), DropReason.PING_DISABLED)
    assert dropped(respond(view(), ping6()), DropReason.PING_DISABLED)
    reply = respond(view(answer_ping=True), ping4())
    assert reply.event == Answered(AnswerKind.PING, VIP4, "eth0")
    decoded = decode_frame(reply.frames[0])
    assert isinstance(decoded.l3, Ipv4)
    assert (decoded.eth.dst, decoded.l3.src, decoded.l3.dst) == (CLIENT_MAC, VIP4, CLIENT4)
    assert decoded.l4 == IcmpEcho(IcmpType.ECHO_REPLY, 77, 3, b"payload-bytes")
    reply6 = respond(view(answer_ping=True), ping6())
    decoded6 = decode_frame(reply6.frames[0])
    assert isinstance(decoded6.l3, Ipv6)
    assert (decoded6.l3.src, decoded6.l3.dst) == (VIP6, CLIENT6)
    assert decoded6.l4 == Icmp6Echo(Icmp6Type.ECHO_REPLY, 78, 4, b"payload-six")


def test_ping_to_other_addresses_or_macs_is_not_answered() -> None:
    assert dropped(respond(view(answer_ping=True), ping4(dst=CLIENT4)), DropReason.ANNOUNCE_IP)
    assert dropped(respond(view(answer_ping=True), ping4(eth_dst=BROADCAST)), DropReason.ETHERNET_DESTINATION)


def test_garbage_is_dropped_as_malformed_with_the_codec_message() -> None:
    reply = respond(view(), b"\x00" * 13)
    assert dropped(reply, DropReason.MALFORMED)
    assert isinstance(reply.event, Dropped) and "ethernet" in reply.event.detail


def test_gratuitous_arp_is_a_broadcast_request_and_reply_claiming_the_ip() -> None:
    frames = [decode_frame(f) for f in gratuitous_arp(OUR_MAC, VIP4)]
    assert [f.eth.dst for f in frames] == [BROADCAST, BROADCAST]
    assert [f.l3 for f in frames] == [Arp(op, OUR_MAC, VIP4, BROADCAST, VIP4) for op in (ArpOp.REQUEST, ArpOp.REPLY)]


def test_unsolicited_na_overrides_and_goes_to_all_nodes() -> None:
    decoded = decode_frame(unsolicited_na(OUR_MAC, VIP6))
    assert decoded.eth.dst == bytes.fromhex("333300000001")
    assert isinstance(decoded.l3, Ipv6)
    assert (decoded.l3.src, decoded.l3.dst, decoded.l3.hop_limit) == (VIP6, ALL_NODES, 255)
    assert decoded.l4 == NeighborAdvertisement(
        VIP6, solicited=False, override=True, options=(NdOption.link_layer(NdOptionType.TARGET_LL, OUR_MAC),)
    )


@given(st.binary(max_size=120))
def test_respond_never_raises_and_only_sends_frames_from_our_mac(buf: bytes) -> None:
    reply = respond(view(answer_ping=True), buf)
    for frame in reply.frames:
        assert decode_frame(frame).eth.src == OUR_MAC
