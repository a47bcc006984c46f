"""The frame codec: every type round-trips, short and hostile input raises FrameError and nothing else, and
the encodings match what real stacks put on the wire (checksums verified against known packets)."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from speaker.l2.codec import (
    BROADCAST,
    Arp,
    ArpOp,
    Ethernet,
    EtherType,
    FrameError,
    Icmp6Echo,
    Icmp6Other,
    Icmp6Type,
    IcmpEcho,
    IcmpOther,
    IcmpType,
    IpProto,
    Ipv4,
    Ipv6,
    NdOption,
    NdOptionType,
    NeighborAdvertisement,
    NeighborSolicitation,
    decode_frame,
    format_mac,
    multicast_mac,
    parse_mac,
    solicited_node,
)
from speaker.l2.codec.checksum import internet_checksum
from speaker.l2.codec.ipv4 import decode_icmp
from speaker.l2.codec.ipv6 import decode_icmp6, icmp6_checksum_ok, seal_icmp6

macs = st.binary(min_size=6, max_size=6)
ip4s = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
ip6s = st.builds(IPv6Address, st.integers(0, 2**128 - 1))
unicast6 = ip6s.filter(lambda a: not a.is_multicast)
u16 = st.integers(0, 0xFFFF)
u8 = st.integers(0, 0xFF)

ethernets = st.builds(Ethernet, macs, macs, st.integers(0x0600, 0xFFFF), st.binary(max_size=64))
arps = st.builds(Arp, st.sampled_from(ArpOp), macs, ip4s, macs, ip4s) | st.builds(Arp, u16, macs, ip4s, macs, ip4s)
ipv4s = st.builds(
    Ipv4,
    proto=u8,
    src=ip4s,
    dst=ip4s,
    payload=st.binary(max_size=64),
    ttl=u8,
    tos=u8,
    ident=u16,
    flags=st.integers(0, 7),
    frag_offset=st.integers(0, 0x1FFF),
    options=st.integers(0, 10).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
)
icmp_echoes = st.builds(
    IcmpEcho, st.sampled_from([IcmpType.ECHO_REQUEST, IcmpType.ECHO_REPLY]), u16, u16, st.binary(max_size=64), u8
)
icmp_others = st.builds(IcmpOther, u8.filter(lambda t: t not in (0, 8)), u8, st.binary(max_size=32))
ipv6s = st.builds(
    Ipv6,
    next_header=u8,
    src=ip6s,
    dst=ip6s,
    payload=st.binary(max_size=64),
    hop_limit=u8,
    traffic_class=u8,
    flow_label=st.integers(0, 0xFFFFF),
)
nd_options = st.builds(
    NdOption, u8, st.integers(0, 3).flatmap(lambda n: st.binary(min_size=8 * n + 6, max_size=8 * n + 6))
)
nss = st.builds(NeighborSolicitation, unicast6, st.lists(nd_options, max_size=3).map(tuple))
nas = st.builds(
    NeighborAdvertisement,
    unicast6,
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.lists(nd_options, max_size=3).map(tuple),
)
icmp6_echoes = st.builds(
    Icmp6Echo, st.sampled_from([Icmp6Type.ECHO_REQUEST, Icmp6Type.ECHO_REPLY]), u16, u16, st.binary(max_size=64), u8
)
icmp6_others = st.builds(Icmp6Other, u8.filter(lambda t: t not in (128, 129, 135, 136)), u8, st.binary(max_size=32))

ROUND_TRIPS: list[tuple[str, Any]] = [
    ("ethernet", ethernets),
    ("arp", arps),
    ("ipv4", ipv4s),
    ("icmp-echo", icmp_echoes),
    ("icmp-other", icmp_others),
    ("ipv6", ipv6s),
    ("nd-option", nd_options),
    ("neighbor-solicitation", nss),
    ("neighbor-advertisement", nas),
    ("icmp6-echo", icmp6_echoes),
    ("icmp6-other", icmp6_others),
]


@pytest.mark.parametrize(("name", "strategy"), ROUND_TRIPS, ids=[n for n, _ in ROUND_TRIPS])
def test_every_type_decodes_what_it_encodes(name: str, strategy: Any) -> None:
    @given(strategy)
    def check(value: Any) -> None:
        decoder: Callable[[bytes], Any] = type(value).decode
        assert decoder(value.encode()) == value

    check()


DECODERS: list[tuple[str, Callable[[bytes], Any]]] = [
    ("ethernet", Ethernet.decode),
    ("arp", Arp.decode),
    ("ipv4", Ipv4.decode),
    ("icmp", decode_icmp),
    ("icmp-echo", IcmpEcho.decode),
    ("ipv6", Ipv6.decode),
    ("icmp6", decode_icmp6),
    ("neighbor-solicitation", NeighborSolicitation.decode),
    ("neighbor-advertisement", NeighborAdvertisement.decode),
    ("icmp6-echo", Icmp6Echo.decode),
    ("nd-option", NdOption.decode),
    ("frame", decode_frame),
]


@pytest.mark.parametrize(("name", "decode"), DECODERS, ids=[n for n, _ in DECODERS])
@pytest.mark.parametrize("buf", [b"", b"\x00", b"\xff", b"\x45"], ids=["empty", "zero", "ff", "0x45"])
def test_one_byte_or_empty_input_is_a_frame_error(name: str, decode: Callable[[bytes], Any], buf: bytes) -> None:
    with pytest.raises(FrameError):
        decode(buf)


def _frames() -> list[tuple[str, bytes]]:
    ours, theirs = parse_mac("02:00:00:00:00:01"), parse_mac("02:00:00:00:00:02")
    arp = Arp(ArpOp.REQUEST, theirs, IPv4Address("198.51.100.2"), bytes(6), IPv4Address("198.51.100.100"))
    ping = Ipv4(
        IpProto.ICMP,
        IPv4Address("198.51.100.2"),
        IPv4Address("198.51.100.100"),
        IcmpEcho(IcmpType.ECHO_REQUEST, 7, 1, b"x" * 16).encode(),
    )
    src6, vip6 = IPv6Address("fe80::2"), IPv6Address("2001:db8::100")
    ns = NeighborSolicitation(vip6, (NdOption.link_layer(NdOptionType.SOURCE_LL, theirs),))
    ns_ip = Ipv6.icmp6(src6, solicited_node(vip6), ns, hop_limit=255)
    return [
        ("arp", Ethernet(BROADCAST, theirs, EtherType.ARP, arp.encode()).encode()),
        ("icmp", Ethernet(ours, theirs, EtherType.IPV4, ping.encode()).encode()),
        ("ndp", Ethernet(multicast_mac(solicited_node(vip6)), theirs, EtherType.IPV6, ns_ip.encode()).encode()),
    ]


@pytest.mark.parametrize(("name", "frame"), _frames(), ids=[n for n, _ in _frames()])
def test_every_truncation_of_a_valid_frame_is_a_frame_error(name: str, frame: bytes) -> None:
    assert decode_frame(frame).l3 is not None
    for cut in range(len(frame)):
        with pytest.raises(FrameError):
            decode_frame(frame[:cut])


@given(st.binary(max_size=200))
def test_the_top_level_decoder_raises_only_frame_error_on_random_bytes(buf: bytes) -> None:
    try:
        decoded = decode_frame(buf)
    except FrameError:
        return
    assert decoded.eth.encode() == buf


@given(st.sampled_from([f for _, f in _frames()]), st.data())
def test_the_top_level_decoder_raises_only_frame_error_on_mutated_frames(frame: bytes, data: st.DataObject) -> None:
    buf = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(u8)
    cut = data.draw(st.integers(0, len(buf)))
    try:
        decoded = decode_frame(bytes(buf[:cut]))
    except FrameError:
        return
    assert decoded.eth.encode() == bytes(buf[:cut])


def test_checksum_matches_rfc1071_example() -> None:
    # RFC 1071 §3 example words 0001 f203 f4f5 f6f7 sum to 0xddf2, so the checksum is its complement.
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == ~0xDDF2 & 0xFFFF
    assert internet_checksum(b"") == 0xFFFF
    assert internet_checksum(b"\xff\xff") == 0


def test_ipv4_header_checksum_matches_a_known_packet() -> None:
    # The worked example of the IPv4 header checksum article on Wikipedia: the checksum is 0xb861.
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    packet = Ipv4(
        IpProto.UDP, IPv4Address("192.168.0.1"), IPv4Address("192.168.0.199"), b"\x00" * 95, ttl=64, flags=0b010
    )
    assert packet.encode()[:20] == header[:10] + bytes.fromhex("b861") + header[12:]


def test_ipv4_with_a_bad_checksum_or_lying_lengths_is_rejected() -> None:
    good = Ipv4(IpProto.ICMP, IPv4Address("198.51.100.1"), IPv4Address("198.51.100.2"), b"abcd").encode()
    bad_sum = good[:10] + b"\x00\x00" + good[12:]
    with pytest.raises(FrameError, match="checksum"):
        Ipv4.decode(bad_sum)
    long_total = bytearray(good)
    long_total[2:4] = (len(good) + 1).to_bytes(2, "big")
    with pytest.raises(FrameError, match="exceeds"):
        Ipv4.decode(bytes(long_total))
    with pytest.raises(FrameError, match="version"):
        Ipv4.decode(b"\x65" + good[1:])


def test_ethernet_padding_after_an_arp_packet_or_ip_datagram_is_ignored() -> None:
    arp = Arp(ArpOp.REPLY, b"\x02" * 6, IPv4Address("198.51.100.1"), b"\x04" * 6, IPv4Address("198.51.100.2"))
    assert Arp.decode(arp.encode() + b"\x00" * 18) == arp
    ip = Ipv4(IpProto.UDP, IPv4Address("198.51.100.1"), IPv4Address("198.51.100.2"), b"hi")
    assert Ipv4.decode(ip.encode() + b"\x00" * 10) == ip


def test_arp_for_another_hardware_or_protocol_is_rejected() -> None:
    arp = Arp(ArpOp.REQUEST, b"\x02" * 6, IPv4Address("198.51.100.1"), bytes(6), IPv4Address("198.51.100.2"))
    buf = arp.encode()
    with pytest.raises(FrameError, match="hardware type"):
        Arp.decode(b"\x00\x06" + buf[2:])
    with pytest.raises(FrameError, match="protocol type"):
        Arp.decode(buf[:2] + b"\x86\xdd" + buf[4:])
    with pytest.raises(FrameError, match="address lengths"):
        Arp.decode(buf[:4] + b"\x06\x10" + buf[6:])


def test_icmp6_checksum_is_over_the_pseudo_header() -> None:
    src, dst = IPv6Address("fe80::1"), IPv6Address("ff02::1")
    message = NeighborAdvertisement(IPv6Address("2001:db8::100"), override=True).encode()
    sealed = seal_icmp6(src, dst, message)
    assert icmp6_checksum_ok(src, dst, sealed)
    assert not icmp6_checksum_ok(IPv6Address("fe80::2"), dst, sealed)
    frame = Ethernet(BROADCAST, b"\x02" * 6, EtherType.IPV6, Ipv6(IpProto.ICMPV6, src, dst, message).encode())
    with pytest.raises(FrameError, match="checksum"):
        decode_frame(frame.encode())


def _reference_checksum(data: bytes) -> int:
    """RFC 1071 §4.1 as written: add 16-bit words with end-around carry, then complement."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@given(st.binary(max_size=300))
def test_the_fast_checksum_equals_the_word_by_word_one(data: bytes) -> None:
    assert internet_checksum(data) == _reference_checksum(data)


def test_icmp6_echo_checksum_matches_the_word_by_word_one_over_the_pseudo_header() -> None:
    src, dst = IPv6Address("fe80::1"), IPv6Address("fe80::2")
    sealed = seal_icmp6(src, dst, Icmp6Echo(Icmp6Type.ECHO_REQUEST, 0x1234, 1).encode())
    pseudo = src.packed + dst.packed + (8).to_bytes(4, "big") + b"\x00\x00\x00\x3a"
    assert sealed[2:4] == _reference_checksum(pseudo + bytes.fromhex("8000000012340001")).to_bytes(2, "big")


def test_nd_option_with_length_zero_discards_the_message() -> None:
    ns = NeighborSolicitation(IPv6Address("2001:db8::1")).encode()
    with pytest.raises(FrameError, match="length 0"):
        NeighborSolicitation.decode(ns + b"\x01\x00" + b"\x00" * 6)
    with pytest.raises(FrameError, match="past the end"):
        NeighborSolicitation.decode(ns + b"\x01\x02" + b"\x00" * 6)


def test_nd_with_nonzero_code_or_multicast_target_is_rejected() -> None:
    ns = bytearray(NeighborSolicitation(IPv6Address("2001:db8::1")).encode())
    ns[1] = 1
    with pytest.raises(FrameError, match="code"):
        NeighborSolicitation.decode(bytes(ns))
    with pytest.raises(FrameError, match="multicast"):
        NeighborSolicitation.decode(NeighborSolicitation(IPv6Address("ff02::1")).encode())


def test_link_layer_options_are_found_by_direction() -> None:
    mac = parse_mac("02:00:5e:00:53:01")
    ns = NeighborSolicitation(IPv6Address("2001:db8::1"), (NdOption.link_layer(NdOptionType.SOURCE_LL, mac),))
    na = NeighborAdvertisement(IPv6Address("2001:db8::1"), options=(NdOption.link_layer(NdOptionType.TARGET_LL, mac),))
    assert NeighborSolicitation.decode(ns.encode()).source_ll == mac
    assert NeighborAdvertisement.decode(na.encode()).target_ll == mac
    assert NeighborSolicitation(IPv6Address("2001:db8::1"), na.options).source_ll is None


def test_solicited_node_group_and_its_mac() -> None:
    group = solicited_node(IPv6Address("2001:db8::1:2345:6789"))
    assert group == IPv6Address("ff02::1:ff45:6789")
    assert format_mac(multicast_mac(group)) == "33:33:ff:45:67:89"


def test_mac_text_round_trips_and_rejects_garbage() -> None:
    assert format_mac(parse_mac("02:AB:cd:00:53:01")) == "02:ab:cd:00:53:01"
    for bad in ("02:ab", "zz:00:00:00:00:00", "0200.0000.0000"):
        with pytest.raises(ValueError, match="invalid MAC"):
            parse_mac(bad)
