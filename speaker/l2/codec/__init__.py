"""Our own small codec for the frames the layer-2 responder reads and writes (no scapy).

Every wire type is a frozen dataclass with ``decode(buf) -> Self`` (each length checked before slicing;
anything to discard raises :class:`FrameError`, never another exception) and ``encode() -> bytes`` (lengths
and checksums computed). Modules: ``ethernet`` (Ethernet II), ``arp`` (RFC 826), ``ipv4`` (RFC 791 + ICMP
echo, RFC 792), ``ipv6`` (RFC 8200 + ICMPv6 echo, RFC 4443, and NS/NA with link-layer options, RFC 4861),
``checksum`` (RFC 1071), ``frame`` (the top-level decoder).
"""

from speaker.l2.codec.arp import Arp, ArpOp
from speaker.l2.codec.errors import FrameError
from speaker.l2.codec.ethernet import BROADCAST, Ethernet, EtherType, format_mac, parse_mac
from speaker.l2.codec.frame import Frame, decode_frame
from speaker.l2.codec.ipv4 import IcmpEcho, IcmpOther, IcmpType, IpProto, Ipv4
from speaker.l2.codec.ipv6 import (
    ALL_NODES,
    Icmp6Echo,
    Icmp6Other,
    Icmp6Type,
    Ipv6,
    NdOption,
    NdOptionType,
    NeighborAdvertisement,
    NeighborSolicitation,
    multicast_mac,
    solicited_node,
)

__all__ = [
    "ALL_NODES",
    "BROADCAST",
    "Arp",
    "ArpOp",
    "EtherType",
    "Ethernet",
    "Frame",
    "FrameError",
    "Icmp6Echo",
    "Icmp6Other",
    "Icmp6Type",
    "IcmpEcho",
    "IcmpOther",
    "IcmpType",
    "IpProto",
    "Ipv4",
    "Ipv6",
    "NdOption",
    "NdOptionType",
    "NeighborAdvertisement",
    "NeighborSolicitation",
    "decode_frame",
    "format_mac",
    "multicast_mac",
    "parse_mac",
    "solicited_node",
]
