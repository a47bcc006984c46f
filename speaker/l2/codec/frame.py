"""The top-level decoder: one received Ethernet frame → its layers, as far as the responder cares.

``decode_frame`` never raises anything but :class:`FrameError` (a fuzz test holds it to that). It decodes
ARP, IPv4 carrying ICMP (unfragmented), and IPv6 carrying ICMPv6 (checksum verified over the pseudo-header);
anything else keeps its outer layers and ``l3``/``l4`` of ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass

from speaker.l2.codec.arp import Arp
from speaker.l2.codec.errors import FrameError
from speaker.l2.codec.ethernet import Ethernet, EtherType
from speaker.l2.codec.ipv4 import IcmpEcho, IcmpOther, IpProto, Ipv4, decode_icmp
from speaker.l2.codec.ipv6 import Icmp6Message, Ipv6, decode_icmp6, icmp6_checksum_ok

__all__ = ["Frame", "decode_frame"]


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame: ``l3`` is the ARP packet or IP header, ``l4`` the ICMP/ICMPv6 message if any."""

    eth: Ethernet
    l3: Arp | Ipv4 | Ipv6 | None = None
    l4: IcmpEcho | IcmpOther | Icmp6Message | None = None


def decode_frame(buf: bytes) -> Frame:
    eth = Ethernet.decode(buf)
    if eth.ethertype == EtherType.ARP:
        return Frame(eth, Arp.decode(eth.payload))
    if eth.ethertype == EtherType.IPV4:
        ip4 = Ipv4.decode(eth.payload)
        if ip4.proto != IpProto.ICMP or ip4.is_fragment:
            return Frame(eth, ip4)
        return Frame(eth, ip4, decode_icmp(ip4.payload))
    if eth.ethertype == EtherType.IPV6:
        ip6 = Ipv6.decode(eth.payload)
        if ip6.next_header != IpProto.ICMPV6:
            return Frame(eth, ip6)
        if len(ip6.payload) < 4:
            raise FrameError("icmpv6", f"{len(ip6.payload)} bytes is shorter than the 4-byte header")
        if not icmp6_checksum_ok(ip6.src, ip6.dst, ip6.payload):
            raise FrameError("icmpv6", "bad checksum")
        return Frame(eth, ip6, decode_icmp6(ip6.payload))
    return Frame(eth)
