"""Ethernet II frames (IEEE 802.3 §3.2.6 with an EtherType, "Ethernet II"/DIX, RFC 894) and MAC helpers.

Only Ethernet II is decoded: a type field below 0x0600 is an 802.3 length, which carries none of the protocols
the responder speaks, so it is rejected. VLAN tags are not decoded (the kernel strips them before an
``AF_PACKET`` socket bound to the VLAN device sees the frame); a tagged frame decodes with EtherType 0x8100
and an opaque payload.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from speaker.l2.codec.errors import FrameError

__all__ = ["BROADCAST", "ZERO_MAC", "EtherType", "Ethernet", "format_mac", "parse_mac"]

BROADCAST = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
HEADER_LEN = 14


class EtherType(enum.IntEnum):
    """EtherTypes the responder handles (IEEE Registration Authority; RFC 894, RFC 826, RFC 8200 §1)."""

    IPV4 = 0x0800  # RFC 894
    ARP = 0x0806  # RFC 826
    VLAN = 0x8100  # IEEE 802.1Q (never decoded further)
    IPV6 = 0x86DD  # RFC 2464 §3


def format_mac(mac: bytes) -> str:
    """``b"\\x02\\x00..."`` → ``"02:00:..."`` (lower case, the form ``ip link`` prints)."""
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(text: str) -> bytes:
    """``"02:00:5e:10:00:01"`` → 6 bytes; raises ``ValueError`` with the offending text."""
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"invalid MAC address {text!r}: want six colon-separated hex bytes")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"invalid MAC address {text!r}: want six colon-separated hex bytes") from None


def _check_mac(name: str, mac: bytes) -> None:
    if len(mac) != 6:
        raise ValueError(f"{name} must be 6 bytes, got {len(mac)}")


@dataclass(frozen=True, slots=True)
class Ethernet:
    """One Ethernet II frame without its FCS (which the NIC strips and adds)."""

    dst: bytes
    src: bytes
    ethertype: int
    payload: bytes = b""

    def __post_init__(self) -> None:
        _check_mac("dst", self.dst)
        _check_mac("src", self.src)
        if not 0x0600 <= self.ethertype <= 0xFFFF:
            raise ValueError(f"ethertype {self.ethertype:#x} is not an Ethernet II type (0x0600..0xffff)")

    @classmethod
    def decode(cls, buf: bytes) -> Ethernet:
        if len(buf) < HEADER_LEN:
            raise FrameError("ethernet", f"{len(buf)} bytes is shorter than the {HEADER_LEN}-byte header")
        ethertype = int.from_bytes(buf[12:14], "big")
        if ethertype < 0x0600:
            raise FrameError("ethernet", f"type/length {ethertype:#06x} is an 802.3 length, not an EtherType")
        return cls(bytes(buf[0:6]), bytes(buf[6:12]), ethertype, bytes(buf[HEADER_LEN:]))

    def encode(self) -> bytes:
        # No padding to 60 bytes: the NIC pads short frames (IEEE 802.3 §4.2.3.3), and veth never needs it.
        return self.dst + self.src + self.ethertype.to_bytes(2, "big") + self.payload
