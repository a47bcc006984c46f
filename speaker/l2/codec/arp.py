"""ARP packets (RFC 826) for Ethernet hardware and IPv4 protocol addresses, the only pair the responder speaks.

Decoding rejects any other hardware or protocol type and any other address length (RFC 826 "Packet
Reception": a receiver that does not speak the hardware/protocol pair discards). Bytes after the 28-byte
packet are Ethernet padding (frames are at least 60 bytes on the wire) and are ignored, not an error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address

from speaker.l2.codec.errors import FrameError

__all__ = ["ARP_LEN", "Arp", "ArpHardware", "ArpOp"]

ARP_LEN = 28
_PTYPE_IPV4 = 0x0800  # ar$pro: the EtherType of the protocol (RFC 826)


class ArpHardware(enum.IntEnum):
    """ar$hrd values (RFC 826; IANA "Hardware Types")."""

    ETHERNET = 1


class ArpOp(enum.IntEnum):
    """ar$op values (RFC 826)."""

    REQUEST = 1
    REPLY = 2


@dataclass(frozen=True, slots=True)
class Arp:
    """One Ethernet/IPv4 ARP packet."""

    op: int
    sender_mac: bytes
    sender_ip: IPv4Address
    target_mac: bytes
    target_ip: IPv4Address

    def __post_init__(self) -> None:
        if not 0 <= self.op <= 0xFFFF:
            raise ValueError(f"ARP op {self.op} does not fit 16 bits")
        if len(self.sender_mac) != 6 or len(self.target_mac) != 6:
            raise ValueError("ARP hardware addresses must be 6 bytes")

    @classmethod
    def decode(cls, buf: bytes) -> Arp:
        if len(buf) < ARP_LEN:
            raise FrameError("arp", f"{len(buf)} bytes is shorter than the {ARP_LEN}-byte Ethernet/IPv4 packet")
        hrd = int.from_bytes(buf[0:2], "big")
        pro = int.from_bytes(buf[2:4], "big")
        if hrd != ArpHardware.ETHERNET:
            raise FrameError("arp", f"hardware type {hrd} is not Ethernet (1)")
        if pro != _PTYPE_IPV4:
            raise FrameError("arp", f"protocol type {pro:#06x} is not IPv4")
        if buf[4] != 6 or buf[5] != 4:
            raise FrameError("arp", f"address lengths {buf[4]}/{buf[5]} are not 6/4")
        return cls(
            op=int.from_bytes(buf[6:8], "big"),
            sender_mac=bytes(buf[8:14]),
            sender_ip=IPv4Address(bytes(buf[14:18])),
            target_mac=bytes(buf[18:24]),
            target_ip=IPv4Address(bytes(buf[24:28])),
        )

    def encode(self) -> bytes:
        return b"".join(
            (
                ArpHardware.ETHERNET.to_bytes(2, "big"),
                _PTYPE_IPV4.to_bytes(2, "big"),
                b"\x06\x04",
                self.op.to_bytes(2, "big"),
                self.sender_mac,
                self.sender_ip.packed,
                self.target_mac,
                self.target_ip.packed,
            )
        )
