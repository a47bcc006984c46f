"""IPv6 packets (RFC 8200) and the ICMPv6 messages the responder speaks: echo (RFC 4443 §4) and Neighbor
Solicitation / Advertisement with link-layer address options (RFC 4861 §4.3, §4.4, §4.6.1).

The ICMPv6 checksum covers a pseudo-header of the IPv6 addresses (RFC 8200 §8.1), so it belongs to the layer
that knows them: message ``encode()`` leaves the checksum field zero and :func:`seal_icmp6` fills it;
message ``decode()`` ignores the field and :func:`icmp6_checksum_ok` checks it (``decode_frame`` does both).
Extension headers are not walked: a packet whose next header is not ICMPv6 carries an opaque payload.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv6Address

from speaker.l2.codec.checksum import internet_checksum
from speaker.l2.codec.errors import FrameError
from speaker.l2.codec.ipv4 import IpProto

__all__ = [
    "ALL_NODES",
    "Icmp6Echo",
    "Icmp6Message",
    "Icmp6Other",
    "Icmp6Type",
    "Ipv6",
    "NdOption",
    "NdOptionType",
    "NeighborAdvertisement",
    "NeighborSolicitation",
    "decode_icmp6",
    "icmp6_checksum_ok",
    "multicast_mac",
    "seal_icmp6",
    "solicited_node",
]

HEADER_LEN = 40
ALL_NODES = IPv6Address("ff02::1")  # RFC 4291 §2.7.1
ND_HOP_LIMIT = 255  # RFC 4861 §7.1: ND messages are sent, and must arrive, with hop limit 255


class Icmp6Type(enum.IntEnum):
    """ICMPv6 types (RFC 4443 §2.1, RFC 4861 §4)."""

    DEST_UNREACHABLE = 1
    ECHO_REQUEST = 128  # RFC 4443 §4.1
    ECHO_REPLY = 129  # RFC 4443 §4.2
    ROUTER_SOLICITATION = 133
    ROUTER_ADVERTISEMENT = 134
    NEIGHBOR_SOLICITATION = 135  # RFC 4861 §4.3
    NEIGHBOR_ADVERTISEMENT = 136  # RFC 4861 §4.4


class NdOptionType(enum.IntEnum):
    """Neighbor Discovery option types (RFC 4861 §4.6)."""

    SOURCE_LL = 1  # §4.6.1
    TARGET_LL = 2  # §4.6.1
    PREFIX_INFO = 3
    REDIRECTED_HEADER = 4
    MTU = 5


def solicited_node(ip: IPv6Address) -> IPv6Address:
    """The solicited-node multicast address ff02::1:ffXX:XXXX of ``ip`` (RFC 4291 §2.7.1)."""
    return IPv6Address(b"\xff\x02" + b"\x00" * 9 + b"\x01\xff" + ip.packed[13:])


def multicast_mac(group: IPv6Address) -> bytes:
    """The Ethernet address of an IPv6 multicast group: 33:33 and the low 32 bits (RFC 2464 §7)."""
    return b"\x33\x33" + group.packed[12:]


@dataclass(frozen=True, slots=True)
class Ipv6:
    """One IPv6 packet; ``encode`` computes the payload length. Build ICMPv6 ones with :meth:`icmp6`."""

    next_header: int
    src: IPv6Address
    dst: IPv6Address
    payload: bytes = b""
    hop_limit: int = 64
    traffic_class: int = 0
    flow_label: int = 0

    def __post_init__(self) -> None:
        if len(self.payload) > 0xFFFF:
            raise ValueError("IPv6 payload longer than 65535 bytes (jumbograms are not supported)")

    @classmethod
    def icmp6(cls, src: IPv6Address, dst: IPv6Address, message: Icmp6Message, *, hop_limit: int) -> Ipv6:
        """An IPv6 packet carrying ``message`` with its checksum filled in."""
        return cls(IpProto.ICMPV6, src, dst, seal_icmp6(src, dst, message.encode()), hop_limit=hop_limit)

    @classmethod
    def decode(cls, buf: bytes) -> Ipv6:
        if len(buf) < HEADER_LEN:
            raise FrameError("ipv6", f"{len(buf)} bytes is shorter than the {HEADER_LEN}-byte header")
        first = int.from_bytes(buf[0:4], "big")
        if first >> 28 != 6:
            raise FrameError("ipv6", f"version {first >> 28} is not 6")
        length = int.from_bytes(buf[4:6], "big")
        if HEADER_LEN + length > len(buf):
            raise FrameError("ipv6", f"payload length {length} exceeds the {len(buf) - HEADER_LEN} bytes received")
        return cls(
            next_header=buf[6],
            src=IPv6Address(bytes(buf[8:24])),
            dst=IPv6Address(bytes(buf[24:40])),
            payload=bytes(buf[HEADER_LEN : HEADER_LEN + length]),
            hop_limit=buf[7],
            traffic_class=(first >> 20) & 0xFF,
            flow_label=first & 0xFFFFF,
        )

    def encode(self) -> bytes:
        first = (6 << 28) | (self.traffic_class << 20) | self.flow_label
        return b"".join(
            (
                first.to_bytes(4, "big"),
                len(self.payload).to_bytes(2, "big"),
                bytes((self.next_header, self.hop_limit)),
                self.src.packed,
                self.dst.packed,
                self.payload,
            )
        )


def _pseudo_header(src: IPv6Address, dst: IPv6Address, length: int) -> bytes:
    # RFC 8200 §8.1: source, destination, upper-layer length (32 bits), three zero bytes, next header.
    return src.packed + dst.packed + length.to_bytes(4, "big") + b"\x00\x00\x00" + bytes((IpProto.ICMPV6,))


def seal_icmp6(src: IPv6Address, dst: IPv6Address, message: bytes) -> bytes:
    """``message`` (checksum field zero) with its ICMPv6 checksum over the pseudo-header filled in."""
    if len(message) < 4:
        raise ValueError("an ICMPv6 message is at least 4 bytes")
    checksum = internet_checksum(_pseudo_header(src, dst, len(message)), message[:2], message[4:])
    return message[:2] + checksum.to_bytes(2, "big") + message[4:]


def icmp6_checksum_ok(src: IPv6Address, dst: IPv6Address, message: bytes) -> bool:
    """Whether the checksum of a received ICMPv6 ``message`` is right (RFC 4443 §2.3)."""
    return internet_checksum(_pseudo_header(src, dst, len(message)), message) == 0


@dataclass(frozen=True, slots=True)
class NdOption:
    """One ND option: ``data`` excludes the type and length bytes, and ``2 + len(data)`` is a multiple of 8."""

    type: int
    data: bytes

    def __post_init__(self) -> None:
        if (2 + len(self.data)) % 8 or 2 + len(self.data) > 255 * 8:
            raise ValueError(f"ND option data of {len(self.data)} bytes does not fill whole 8-byte units")

    @classmethod
    def link_layer(cls, kind: NdOptionType, mac: bytes) -> NdOption:
        """A source or target link-layer address option for Ethernet (RFC 4861 §4.6.1, RFC 2464 §6)."""
        if len(mac) != 6:
            raise ValueError("an Ethernet link-layer address is 6 bytes")
        return cls(kind, mac)

    @classmethod
    def decode(cls, buf: bytes) -> NdOption:
        """Exactly one option filling ``buf`` (leftover bytes are an error)."""
        options = cls.decode_all(buf)
        if len(options) != 1:
            raise FrameError("ndp", f"{len(options)} options where exactly one was expected")
        return options[0]

    @classmethod
    def decode_all(cls, buf: bytes) -> tuple[NdOption, ...]:
        """Every option in ``buf``; a zero length or one running past the end rejects the message (§4.6)."""
        options: list[NdOption] = []
        pos = 0
        while pos < len(buf):
            if len(buf) - pos < 2:
                raise FrameError("ndp", "truncated option header")
            units = buf[pos + 1]
            if units == 0:
                raise FrameError("ndp", "option with length 0 (RFC 4861 §4.6 says discard the packet)")
            end = pos + units * 8
            if end > len(buf):
                raise FrameError("ndp", f"option of {units * 8} bytes runs past the end of the message")
            options.append(cls(buf[pos], bytes(buf[pos + 2 : end])))
            pos = end
        return tuple(options)

    def encode(self) -> bytes:
        return bytes((self.type, (2 + len(self.data)) // 8)) + self.data


def _link_layer(options: tuple[NdOption, ...], kind: NdOptionType) -> bytes | None:
    for option in options:
        if option.type == kind and len(option.data) >= 6:
            return option.data[:6]
    return None


def _check_code(kind: str, buf: bytes) -> None:
    if buf[1] != 0:
        raise FrameError("ndp", f"{kind} with code {buf[1]} (RFC 4861 §7.1 says discard unless 0)")


@dataclass(frozen=True, slots=True)
class NeighborSolicitation:
    """RFC 4861 §4.3. ``source_ll`` is the sender's MAC from its source link-layer option, if any."""

    target: IPv6Address
    options: tuple[NdOption, ...] = ()

    MIN_LEN = 24

    @property
    def type(self) -> int:
        return Icmp6Type.NEIGHBOR_SOLICITATION

    @property
    def source_ll(self) -> bytes | None:
        return _link_layer(self.options, NdOptionType.SOURCE_LL)

    @classmethod
    def decode(cls, buf: bytes) -> NeighborSolicitation:
        if len(buf) < cls.MIN_LEN:
            raise FrameError("ndp", f"neighbor solicitation of {len(buf)} bytes is shorter than {cls.MIN_LEN}")
        if buf[0] != Icmp6Type.NEIGHBOR_SOLICITATION:
            raise FrameError("ndp", f"type {buf[0]} is not a neighbor solicitation")
        _check_code("neighbor solicitation", buf)
        target = IPv6Address(bytes(buf[8:24]))
        if target.is_multicast:
            raise FrameError("ndp", "solicitation for a multicast target (RFC 4861 §7.1.1)")
        return cls(target, NdOption.decode_all(buf[24:]))

    def encode(self) -> bytes:
        head = bytes((Icmp6Type.NEIGHBOR_SOLICITATION, 0)) + b"\x00" * 6 + self.target.packed
        return head + b"".join(o.encode() for o in self.options)


@dataclass(frozen=True, slots=True)
class NeighborAdvertisement:
    """RFC 4861 §4.4: flags Router, Solicited, Override; ``target_ll`` from the target link-layer option."""

    target: IPv6Address
    router: bool = False
    solicited: bool = False
    override: bool = False
    options: tuple[NdOption, ...] = ()

    MIN_LEN = 24

    @property
    def type(self) -> int:
        return Icmp6Type.NEIGHBOR_ADVERTISEMENT

    @property
    def target_ll(self) -> bytes | None:
        return _link_layer(self.options, NdOptionType.TARGET_LL)

    @classmethod
    def decode(cls, buf: bytes) -> NeighborAdvertisement:
        if len(buf) < cls.MIN_LEN:
            raise FrameError("ndp", f"neighbor advertisement of {len(buf)} bytes is shorter than {cls.MIN_LEN}")
        if buf[0] != Icmp6Type.NEIGHBOR_ADVERTISEMENT:
            raise FrameError("ndp", f"type {buf[0]} is not a neighbor advertisement")
        _check_code("neighbor advertisement", buf)
        target = IPv6Address(bytes(buf[8:24]))
        if target.is_multicast:
            raise FrameError("ndp", "advertisement for a multicast target (RFC 4861 §7.1.2)")
        flags = buf[4]
        return cls(
            target,
            router=bool(flags & 0x80),
            solicited=bool(flags & 0x40),
            override=bool(flags & 0x20),
            options=NdOption.decode_all(buf[24:]),
        )

    def encode(self) -> bytes:
        flags = (0x80 if self.router else 0) | (0x40 if self.solicited else 0) | (0x20 if self.override else 0)
        head = bytes((Icmp6Type.NEIGHBOR_ADVERTISEMENT, 0, 0, 0, flags, 0, 0, 0)) + self.target.packed
        return head + b"".join(o.encode() for o in self.options)


@dataclass(frozen=True, slots=True)
class Icmp6Echo:
    """An ICMPv6 echo request or reply (RFC 4443 §4.1, §4.2)."""

    type: int
    ident: int
    seq: int
    data: bytes = b""
    code: int = 0

    @classmethod
    def decode(cls, buf: bytes) -> Icmp6Echo:
        if len(buf) < 8:
            raise FrameError("icmpv6", f"echo message of {len(buf)} bytes is shorter than 8")
        if buf[0] not in (Icmp6Type.ECHO_REQUEST, Icmp6Type.ECHO_REPLY):
            raise FrameError("icmpv6", f"type {buf[0]} is not an echo request or reply")
        return cls(
            type=buf[0],
            code=buf[1],
            ident=int.from_bytes(buf[4:6], "big"),
            seq=int.from_bytes(buf[6:8], "big"),
            data=bytes(buf[8:]),
        )

    def encode(self) -> bytes:
        return (
            bytes((self.type, self.code, 0, 0))
            + self.ident.to_bytes(2, "big")
            + self.seq.to_bytes(2, "big")
            + self.data
        )


@dataclass(frozen=True, slots=True)
class Icmp6Other:
    """Any other ICMPv6 message, opaque: ``rest`` is everything after the checksum."""

    type: int
    code: int
    rest: bytes = b""

    @classmethod
    def decode(cls, buf: bytes) -> Icmp6Other:
        if len(buf) < 4:
            raise FrameError("icmpv6", f"{len(buf)} bytes is shorter than the 4-byte header")
        return cls(buf[0], buf[1], bytes(buf[4:]))

    def encode(self) -> bytes:
        return bytes((self.type, self.code, 0, 0)) + self.rest


Icmp6Message = Icmp6Echo | NeighborSolicitation | NeighborAdvertisement | Icmp6Other

_DECODERS: dict[int, type[Icmp6Echo] | type[NeighborSolicitation] | type[NeighborAdvertisement]] = {
    Icmp6Type.ECHO_REQUEST: Icmp6Echo,
    Icmp6Type.ECHO_REPLY: Icmp6Echo,
    Icmp6Type.NEIGHBOR_SOLICITATION: NeighborSolicitation,
    Icmp6Type.NEIGHBOR_ADVERTISEMENT: NeighborAdvertisement,
}


def decode_icmp6(buf: bytes) -> Icmp6Message:
    """Decode one ICMPv6 message by type (the checksum is checked by the caller, see the module docstring)."""
    if len(buf) < 4:
        raise FrameError("icmpv6", f"{len(buf)} bytes is shorter than the 4-byte header")
    decoder = _DECODERS.get(buf[0])
    if decoder is None:
        return Icmp6Other.decode(buf)
    return decoder.decode(buf)
