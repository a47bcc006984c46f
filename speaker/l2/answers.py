"""What to send for one received frame, and the gratuitous packets — pure functions, no sockets, no clock.

``respond(view, frame)`` takes the per-interface view (our MAC, link-local address, the IPs we answer for on
this interface, all our MACs, whether to answer ping) and the raw bytes of one received frame, and returns the
frames to send plus exactly one event: ``Answered``, ``DuplicateAnnouncer``, or ``Dropped`` with a named
:class:`DropReason` (MetalLB's ``dropReason``, ``internal/layer2/arp.go``/``ndp.go``, plus ours). The raw-socket
code in ``speaker.l2.responder`` is a thin adapter around it.

Promises:
- ARP: only requests (RFC 826 ar$op 1) whose Ethernet destination is broadcast or our MAC, for an IP we
  answer for on this interface; the reply is unicast to the asker's hardware address, from the interface MAC.
- NDP: only Neighbor Solicitations with hop limit 255 (RFC 4861 §7.1.1) carrying a source link-layer option
  (so never a DAD probe, which has none), for an IP we answer for here. The advertisement has Solicited=1 and
  Override=0, as MetalLB sends and as RFC 4861 §7.2.4 asks of a node answering for an address it does not
  hold (a proxy); failover does not depend on Override in a solicited answer, because taking ownership sends
  unsolicited advertisements with Override=1. It carries a target link-layer option with our MAC, comes
  from the target address itself (as Linux answers for its own addresses; tools such as ``ndisc6`` ignore an
  answer for a global address that comes from a link-local one) and goes to the solicitation's source, at
  the MAC in its option.
- Echo: with ``answer_ping``, an ICMP/ICMPv6 echo request to an IP we answer for on this interface, sent to
  our MAC, gets an echo reply from that IP back to the sender's MAC (the kernel never sees the VIP).
- Duplicates: an ARP packet whose sender IP, a Neighbor Advertisement whose target, or a Neighbor
  Solicitation whose source is an IP we answer for on this interface, sent from a MAC that is none of ours,
  is a ``DuplicateAnnouncer`` (and is not answered).
- Frames sent by any of our own interfaces are ignored (``FROM_OURSELVES``), so two of our interfaces on one
  segment never report each other as duplicates.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from speaker.l2.codec import (
    ALL_NODES,
    BROADCAST,
    Arp,
    ArpOp,
    Ethernet,
    EtherType,
    FrameError,
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
)
from speaker.l2.codec.ipv6 import ND_HOP_LIMIT

__all__ = [
    "AnswerKind",
    "Answered",
    "DropReason",
    "Dropped",
    "DuplicateAnnouncer",
    "Event",
    "PortView",
    "Reply",
    "gratuitous_arp",
    "respond",
    "unsolicited_na",
]

IPAddress = IPv4Address | IPv6Address
REPLY_TTL = 64  # the TTL/hop limit Linux uses for its own echo replies (net.ipv4.ip_default_ttl)


class DropReason(enum.Enum):
    """Why a received frame was not answered. Values are the log/metric strings; the first seven are MetalLB's
    ``dropReason`` constants (``internal/layer2/arp.go``), the rest are ours."""

    ARP_REPLY = "arpReply"  # an ARP reply (or other op) that claims nothing of ours
    MESSAGE_TYPE = "messageType"  # an ICMP/ICMPv6 message we do not answer
    NO_SOURCE_LL = "noSourceLL"  # a solicitation without a source link-layer option (DAD, or a broken host)
    ETHERNET_DESTINATION = "ethernetDestination"  # addressed to another MAC
    ANNOUNCE_IP = "announceIP"  # for an IP we do not announce
    NOT_MATCH_INTERFACE = "notMatchInterface"  # for an IP we announce, but not on this interface
    ERROR = "error"  # sending the answer failed (set by the socket layer)
    MALFORMED = "malformed"  # the codec rejected the frame (FrameError)
    OTHER_PROTOCOL = "otherProtocol"  # neither ARP, ICMP nor ICMPv6
    HOP_LIMIT = "hopLimit"  # an ND message that crossed a router (hop limit below 255)
    PING_DISABLED = "pingDisabled"  # an echo request for a VIP without answer_ping
    FROM_OURSELVES = "fromOurselves"  # sent by one of our own interfaces


class AnswerKind(enum.Enum):
    """What was answered; ARP and NDP count in ``metallb_layer2_requests_received``/``responses_sent``."""

    ARP = "arp"
    NDP = "ndp"
    PING = "ping"
    PING6 = "ping6"


@dataclass(frozen=True, slots=True)
class Answered:
    kind: AnswerKind
    ip: IPAddress
    interface: str


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: DropReason
    interface: str
    ip: IPAddress | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DuplicateAnnouncer:
    """Another MAC claims ``ip`` on ``interface``: two nodes announce one IP (a partition, or a foreign host)."""

    ip: IPAddress
    interface: str
    mac: bytes


Event = Answered | Dropped | DuplicateAnnouncer


@dataclass(frozen=True, slots=True)
class Reply:
    """The frames to send on the interface the frame came from, and what happened."""

    frames: tuple[bytes, ...]
    event: Event


@dataclass(frozen=True, slots=True)
class PortView:
    """Everything ``respond`` knows about one interface. ``owned`` are the IPs answered for on it; ``owned_any``
    every IP this node announces on any interface (to tell NOT_MATCH_INTERFACE from ANNOUNCE_IP)."""

    name: str
    mac: bytes
    owned: frozenset[IPAddress]
    owned_any: frozenset[IPAddress]
    our_macs: frozenset[bytes]
    answer_ping: bool = False


def _not_owned(view: PortView, ip: IPAddress) -> Dropped:
    reason = DropReason.NOT_MATCH_INTERFACE if ip in view.owned_any else DropReason.ANNOUNCE_IP
    return Dropped(reason, view.name, ip)


def respond(view: PortView, buf: bytes) -> Reply:
    """The answer to one received frame (see the module docstring for the rules)."""
    try:
        frame = decode_frame(buf)
    except FrameError as exc:
        return Reply((), Dropped(DropReason.MALFORMED, view.name, detail=str(exc)))
    if frame.eth.src in view.our_macs:
        return Reply((), Dropped(DropReason.FROM_OURSELVES, view.name))
    l3, l4 = frame.l3, frame.l4
    if isinstance(l3, Arp):
        return _arp(view, frame.eth, l3)
    if isinstance(l3, Ipv6) and isinstance(l4, NeighborSolicitation):
        return _solicitation(view, frame.eth, l3, l4)
    if isinstance(l3, Ipv6) and isinstance(l4, NeighborAdvertisement):
        return _advertisement(view, frame.eth, l4)
    if isinstance(l3, Ipv4) and isinstance(l4, IcmpEcho) and l4.type == IcmpType.ECHO_REQUEST:
        refused = _refuse_ping(view, frame.eth, l3.dst)
        if refused is not None:
            return Reply((), refused)
        return Reply((_echo4_reply(view, frame.eth, l3, l4),), Answered(AnswerKind.PING, l3.dst, view.name))
    if isinstance(l3, Ipv6) and isinstance(l4, Icmp6Echo) and l4.type == Icmp6Type.ECHO_REQUEST:
        refused = _refuse_ping(view, frame.eth, l3.dst)
        if refused is not None:
            return Reply((), refused)
        return Reply((_echo6_reply(view, frame.eth, l3, l4),), Answered(AnswerKind.PING6, l3.dst, view.name))
    if l4 is not None:
        return Reply((), Dropped(DropReason.MESSAGE_TYPE, view.name, detail=f"type {l4.type}"))
    return Reply((), Dropped(DropReason.OTHER_PROTOCOL, view.name, detail=f"ethertype {frame.eth.ethertype:#06x}"))


def _arp(view: PortView, eth: Ethernet, arp: Arp) -> Reply:
    if arp.sender_ip in view.owned and arp.sender_mac not in view.our_macs:
        # Someone else says "this IP is at my MAC" (a reply, or a gratuitous request): never answer it.
        return Reply((), DuplicateAnnouncer(arp.sender_ip, view.name, arp.sender_mac))
    if arp.op != ArpOp.REQUEST:
        return Reply((), Dropped(DropReason.ARP_REPLY, view.name, arp.target_ip))
    if eth.dst != BROADCAST and eth.dst != view.mac:
        return Reply((), Dropped(DropReason.ETHERNET_DESTINATION, view.name, arp.target_ip))
    if arp.target_ip not in view.owned:
        return Reply((), _not_owned(view, arp.target_ip))
    answer = Arp(ArpOp.REPLY, view.mac, arp.target_ip, arp.sender_mac, arp.sender_ip)
    frame = Ethernet(arp.sender_mac, view.mac, EtherType.ARP, answer.encode()).encode()
    return Reply((frame,), Answered(AnswerKind.ARP, arp.target_ip, view.name))


def _solicitation(view: PortView, eth: Ethernet, ip6: Ipv6, ns: NeighborSolicitation) -> Reply:
    if ip6.src in view.owned:
        # A host that sends from our IP holds it: the IPv6 twin of an ARP request with our IP as sender.
        return Reply((), DuplicateAnnouncer(ip6.src, view.name, ns.source_ll or eth.src))
    if ip6.hop_limit != ND_HOP_LIMIT:
        return Reply((), Dropped(DropReason.HOP_LIMIT, view.name, ns.target))
    if not eth.dst[0] & 1 and eth.dst != view.mac:
        return Reply((), Dropped(DropReason.ETHERNET_DESTINATION, view.name, ns.target))
    asker = ns.source_ll
    if asker is None:
        return Reply((), Dropped(DropReason.NO_SOURCE_LL, view.name, ns.target))
    if ns.target not in view.owned:
        return Reply((), _not_owned(view, ns.target))
    na = NeighborAdvertisement(
        ns.target, solicited=True, override=False, options=(NdOption.link_layer(NdOptionType.TARGET_LL, view.mac),)
    )
    packet = Ipv6.icmp6(ns.target, ip6.src, na, hop_limit=ND_HOP_LIMIT)
    frame = Ethernet(asker, view.mac, EtherType.IPV6, packet.encode()).encode()
    return Reply((frame,), Answered(AnswerKind.NDP, ns.target, view.name))


def _advertisement(view: PortView, eth: Ethernet, na: NeighborAdvertisement) -> Reply:
    claimer = na.target_ll or eth.src
    if na.target in view.owned and claimer not in view.our_macs:
        return Reply((), DuplicateAnnouncer(na.target, view.name, claimer))
    return Reply((), Dropped(DropReason.MESSAGE_TYPE, view.name, na.target, "neighbor advertisement"))


def _refuse_ping(view: PortView, eth: Ethernet, dst: IPAddress) -> Dropped | None:
    if dst not in view.owned:
        return _not_owned(view, dst)
    if not view.answer_ping:
        return Dropped(DropReason.PING_DISABLED, view.name, dst)
    if eth.dst != view.mac:
        return Dropped(DropReason.ETHERNET_DESTINATION, view.name, dst)
    return None


def _echo4_reply(view: PortView, eth: Ethernet, ip4: Ipv4, echo: IcmpEcho) -> bytes:
    reply = IcmpEcho(IcmpType.ECHO_REPLY, echo.ident, echo.seq, echo.data)
    packet = Ipv4(IpProto.ICMP, ip4.dst, ip4.src, reply.encode(), ttl=REPLY_TTL)
    return Ethernet(eth.src, view.mac, EtherType.IPV4, packet.encode()).encode()


def _echo6_reply(view: PortView, eth: Ethernet, ip6: Ipv6, echo: Icmp6Echo) -> bytes:
    reply = Icmp6Echo(Icmp6Type.ECHO_REPLY, echo.ident, echo.seq, echo.data)
    packet = Ipv6.icmp6(ip6.dst, ip6.src, reply, hop_limit=REPLY_TTL)
    return Ethernet(eth.src, view.mac, EtherType.IPV6, packet.encode()).encode()


def gratuitous_arp(mac: bytes, ip: IPv4Address) -> tuple[bytes, bytes]:
    """A gratuitous ARP request and reply for ``ip`` (sender = target = ip, both broadcast), as MetalLB sends
    (``arpResponder.Gratuitous``: target hardware address ff:ff:ff:ff:ff:ff in both)."""
    request, reply = (
        Ethernet(BROADCAST, mac, EtherType.ARP, Arp(op, mac, ip, BROADCAST, ip).encode()).encode()
        for op in (ArpOp.REQUEST, ArpOp.REPLY)
    )
    return request, reply


def unsolicited_na(mac: bytes, ip: IPv6Address) -> bytes:
    """An unsolicited Neighbor Advertisement for ``ip`` to all nodes (ff02::1) with Override=1 and
    Solicited=0 (RFC 4861 §7.2.6), carrying our MAC as the target link-layer address, from ``ip`` itself."""
    na = NeighborAdvertisement(ip, override=True, options=(NdOption.link_layer(NdOptionType.TARGET_LL, mac),))
    packet = Ipv6.icmp6(ip, ALL_NODES, na, hop_limit=ND_HOP_LIMIT)
    return Ethernet(multicast_mac(ALL_NODES), mac, EtherType.IPV6, packet.encode()).encode()
