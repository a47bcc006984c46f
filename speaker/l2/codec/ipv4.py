"""IPv4 packets (RFC 791) and ICMP messages (RFC 792), as far as answering ``ping`` needs.

``Ipv4.decode`` checks version, header length, total length and the header checksum (RFC 791 §3.1; RFC 1122
§3.2.1.2: a datagram whose checksum fails MUST be discarded) and trims Ethernet padding using the total
length. ``decode_icmp`` verifies the ICMP checksum (RFC 792) and returns an :class:`IcmpEcho` for echo and
echo reply, or an :class:`IcmpOther` for any other type.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address

from speaker.l2.codec.checksum import internet_checksum
from speaker.l2.codec.errors import FrameError

__all__ = ["IcmpEcho", "IcmpOther", "IcmpType", "IpProto", "Ipv4", "decode_icmp"]

MIN_HEADER = 20


class IpProto(enum.IntEnum):
    """IP protocol / IPv6 next-header numbers the responder looks at (IANA "Protocol Numbers")."""

    ICMP = 1  # RFC 792
    TCP = 6  # RFC 9293
    UDP = 17  # RFC 768
    ICMPV6 = 58  # RFC 4443


class IcmpType(enum.IntEnum):
    """ICMP types (RFC 792)."""

    ECHO_REPLY = 0
    DEST_UNREACHABLE = 3
    ECHO_REQUEST = 8


# Fragment flags in the 3-bit flags field (RFC 791 §3.1).
FLAG_DF = 0b010
FLAG_MF = 0b001


@dataclass(frozen=True, slots=True)
class Ipv4:
    """One IPv4 datagram; ``encode`` computes the total length and header checksum."""

    proto: int
    src: IPv4Address
    dst: IPv4Address
    payload: bytes = b""
    ttl: int = 64
    tos: int = 0
    ident: int = 0
    flags: int = 0
    frag_offset: int = 0
    options: bytes = b""

    def __post_init__(self) -> None:
        if len(self.options) % 4 or len(self.options) > 40:
            raise ValueError(f"IPv4 options must be a multiple of 4 bytes, at most 40; got {len(self.options)}")
        if MIN_HEADER + len(self.options) + len(self.payload) > 0xFFFF:
            raise ValueError("IPv4 datagram longer than 65535 bytes")

    @property
    def is_fragment(self) -> bool:
        return bool(self.flags & FLAG_MF) or self.frag_offset != 0

    @classmethod
    def decode(cls, buf: bytes) -> Ipv4:
        if len(buf) < MIN_HEADER:
            raise FrameError("ipv4", f"{len(buf)} bytes is shorter than the {MIN_HEADER}-byte header")
        version, ihl = buf[0] >> 4, buf[0] & 0x0F
        if version != 4:
            raise FrameError("ipv4", f"version {version} is not 4")
        header_len = ihl * 4
        if header_len < MIN_HEADER:
            raise FrameError("ipv4", f"header length {header_len} is below {MIN_HEADER}")
        total = int.from_bytes(buf[2:4], "big")
        if total < header_len:
            raise FrameError("ipv4", f"total length {total} is shorter than the header ({header_len})")
        if total > len(buf):
            raise FrameError("ipv4", f"total length {total} exceeds the {len(buf)} bytes received")
        if internet_checksum(buf[:header_len]) != 0:
            raise FrameError("ipv4", "bad header checksum")
        flags_frag = int.from_bytes(buf[6:8], "big")
        return cls(
            proto=buf[9],
            src=IPv4Address(bytes(buf[12:16])),
            dst=IPv4Address(bytes(buf[16:20])),
            payload=bytes(buf[header_len:total]),
            ttl=buf[8],
            tos=buf[1],
            ident=int.from_bytes(buf[4:6], "big"),
            flags=flags_frag >> 13,
            frag_offset=flags_frag & 0x1FFF,
            options=bytes(buf[MIN_HEADER:header_len]),
        )

    def encode(self) -> bytes:
        header_len = MIN_HEADER + len(self.options)
        head = b"".join(
            (
                bytes((0x40 | header_len // 4, self.tos)),
                (header_len + len(self.payload)).to_bytes(2, "big"),
                self.ident.to_bytes(2, "big"),
                ((self.flags << 13) | self.frag_offset).to_bytes(2, "big"),
                bytes((self.ttl, self.proto)),
                b"\x00\x00",
                self.src.packed,
                self.dst.packed,
                self.options,
            )
        )
        checksum = internet_checksum(head)
        return head[:10] + checksum.to_bytes(2, "big") + head[12:] + self.payload


@dataclass(frozen=True, slots=True)
class IcmpEcho:
    """An ICMP echo request or echo reply (RFC 792 "Echo or Echo Reply Message")."""

    type: int
    ident: int
    seq: int
    data: bytes = b""
    code: int = 0

    @classmethod
    def decode(cls, buf: bytes) -> IcmpEcho:
        msg = decode_icmp(buf)
        if not isinstance(msg, IcmpEcho):
            raise FrameError("icmp", f"type {msg.type} is not an echo or echo reply")
        return msg

    def encode(self) -> bytes:
        body = b"".join(
            (bytes((self.type, self.code)), b"\x00\x00", self.ident.to_bytes(2, "big"), self.seq.to_bytes(2, "big"))
        )
        checksum = internet_checksum(body, self.data)
        return body[:2] + checksum.to_bytes(2, "big") + body[4:] + self.data


@dataclass(frozen=True, slots=True)
class IcmpOther:
    """Any other ICMP message, kept opaque: ``rest`` is everything after the checksum."""

    type: int
    code: int
    rest: bytes = b""

    @classmethod
    def decode(cls, buf: bytes) -> IcmpOther:
        msg = decode_icmp(buf)
        if not isinstance(msg, IcmpOther):
            raise FrameError("icmp", f"type {msg.type} is an echo message")
        return msg

    def encode(self) -> bytes:
        checksum = internet_checksum(bytes((self.type, self.code)), self.rest)
        return bytes((self.type, self.code)) + checksum.to_bytes(2, "big") + self.rest


_ECHO_TYPES = frozenset((IcmpType.ECHO_REQUEST, IcmpType.ECHO_REPLY))


def decode_icmp(buf: bytes) -> IcmpEcho | IcmpOther:
    """Decode one ICMP message after checking its checksum (RFC 792: computed over the whole message)."""
    if len(buf) < 4:
        raise FrameError("icmp", f"{len(buf)} bytes is shorter than the 4-byte header")
    if internet_checksum(buf) != 0:
        raise FrameError("icmp", "bad checksum")
    if buf[0] in _ECHO_TYPES:
        if len(buf) < 8:
            raise FrameError("icmp", f"echo message of {len(buf)} bytes is shorter than 8")
        return IcmpEcho(
            type=buf[0],
            code=buf[1],
            ident=int.from_bytes(buf[4:6], "big"),
            seq=int.from_bytes(buf[6:8], "big"),
            data=bytes(buf[8:]),
        )
    return IcmpOther(type=buf[0], code=buf[1], rest=bytes(buf[4:]))
