"""OPEN messages and their capabilities (RFC 4271 §4.2, RFC 5492).

Each capability is a frozen dataclass with ``decode(value) -> Self`` (the value octets after code and length) and
``encode() -> bytes`` (the whole code/length/value triple, length computed): multiprotocol (RFC 4760), route
refresh (RFC 2918), extended message (RFC 8654), graceful restart (RFC 4724), 4-octet AS (RFC 6793), and
``UnknownCapability`` for the rest (kept, so a re-encode is faithful). ``Open.decode(body)`` checks every nested
length before slicing and rejects leftover octets; errors are OPEN Message Errors (RFC 4271 §6.2).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Self

from speaker.bgp.codes import ErrorCode, OpenSubcode
from speaker.bgp.constants import AS_TRANS, BGP_VERSION, Afi, CapabilityCode, OptParamType, Safi
from speaker.bgp.errors import BgpDecodeError

__all__ = [
    "Capability",
    "ExtendedMessage",
    "FourOctetAs",
    "GracefulRestart",
    "GracefulRestartFamily",
    "Multiprotocol",
    "Open",
    "RouteRefreshCapability",
    "UnknownCapability",
    "decode_capability",
]


def _err(detail: str, subcode: OpenSubcode = OpenSubcode.UNSPECIFIC, data: bytes = b"") -> BgpDecodeError:
    return BgpDecodeError(ErrorCode.OPEN_MESSAGE, subcode, data, detail)


def _tlv(code: int, value: bytes) -> bytes:
    if len(value) > 255:
        raise ValueError(f"capability {code} value of {len(value)} octets does not fit one length octet")
    return bytes((code, len(value))) + value


@dataclass(frozen=True, slots=True)
class Multiprotocol:
    """RFC 4760 §8: one AFI/SAFI this speaker exchanges."""

    afi: int
    safi: int

    @classmethod
    def decode(cls, value: bytes) -> Self:
        if len(value) != 4:
            raise _err(f"multiprotocol capability of {len(value)} octets, want 4")
        afi, _reserved, safi = struct.unpack("!HBB", value)
        return cls(afi, safi)

    def encode(self) -> bytes:
        return _tlv(CapabilityCode.MULTIPROTOCOL, struct.pack("!HBB", self.afi, 0, self.safi))


@dataclass(frozen=True, slots=True)
class RouteRefreshCapability:
    """RFC 2918 §2: the speaker accepts ROUTE-REFRESH."""

    @classmethod
    def decode(cls, value: bytes) -> Self:
        if value:
            raise _err(f"route refresh capability with {len(value)} octets of value, want none")
        return cls()

    def encode(self) -> bytes:
        return _tlv(CapabilityCode.ROUTE_REFRESH, b"")


@dataclass(frozen=True, slots=True)
class ExtendedMessage:
    """RFC 8654 §3: messages other than OPEN and KEEPALIVE may be up to 65535 octets once both sides say so."""

    @classmethod
    def decode(cls, value: bytes) -> Self:
        if value:
            raise _err(f"extended message capability with {len(value)} octets of value, want none")
        return cls()

    def encode(self) -> bytes:
        return _tlv(CapabilityCode.EXTENDED_MESSAGE, b"")


@dataclass(frozen=True, slots=True)
class FourOctetAs:
    """RFC 6793 §3: the speaker's real (4-octet) ASN."""

    asn: int

    @classmethod
    def decode(cls, value: bytes) -> Self:
        if len(value) != 4:
            raise _err(f"4-octet AS capability of {len(value)} octets, want 4")
        return cls(struct.unpack("!I", value)[0])

    def encode(self) -> bytes:
        return _tlv(CapabilityCode.FOUR_OCTET_AS, struct.pack("!I", self.asn))


@dataclass(frozen=True, slots=True)
class GracefulRestartFamily:
    """One AFI/SAFI of the graceful restart capability; ``forwarding_preserved`` is the F bit."""

    afi: int
    safi: int
    forwarding_preserved: bool = False


@dataclass(frozen=True, slots=True)
class GracefulRestart:
    """RFC 4724 §3: restart time (12 bits, seconds), the R(estarting) and N(otification, RFC 8538) bits, families."""

    restart_time: int
    restarting: bool = False
    notification: bool = False
    families: tuple[GracefulRestartFamily, ...] = ()

    @classmethod
    def decode(cls, value: bytes) -> Self:
        if len(value) < 2 or (len(value) - 2) % 4:
            raise _err(f"graceful restart capability of {len(value)} octets, want 2 + 4n")
        (word,) = struct.unpack_from("!H", value)
        fams = tuple(
            GracefulRestartFamily(afi, safi, bool(flags & 0x80))
            for afi, safi, flags in struct.iter_unpack("!HBB", value[2:])
        )
        return cls(word & 0x0FFF, bool(word & 0x8000), bool(word & 0x4000), fams)

    def encode(self) -> bytes:
        if not 0 <= self.restart_time <= 0x0FFF:
            raise ValueError(f"restart time {self.restart_time} does not fit 12 bits (0-4095 s)")
        word = self.restart_time | (0x8000 if self.restarting else 0) | (0x4000 if self.notification else 0)
        body = struct.pack("!H", word) + b"".join(
            struct.pack("!HBB", f.afi, f.safi, 0x80 if f.forwarding_preserved else 0) for f in self.families
        )
        return _tlv(CapabilityCode.GRACEFUL_RESTART, body)


@dataclass(frozen=True, slots=True)
class UnknownCapability:
    """A capability we do not interpret, kept verbatim (RFC 5492 §3: ignore what you do not understand)."""

    code: int
    value: bytes

    @classmethod
    def decode_with_code(cls, code: int, value: bytes) -> Self:
        return cls(code, bytes(value))

    def encode(self) -> bytes:
        return _tlv(self.code, self.value)


Capability = (
    Multiprotocol | RouteRefreshCapability | ExtendedMessage | FourOctetAs | GracefulRestart | UnknownCapability
)

_CAPS: dict[int, type[Multiprotocol | RouteRefreshCapability | ExtendedMessage | FourOctetAs | GracefulRestart]] = {
    CapabilityCode.MULTIPROTOCOL: Multiprotocol,
    CapabilityCode.ROUTE_REFRESH: RouteRefreshCapability,
    CapabilityCode.EXTENDED_MESSAGE: ExtendedMessage,
    CapabilityCode.FOUR_OCTET_AS: FourOctetAs,
    CapabilityCode.GRACEFUL_RESTART: GracefulRestart,
}


def decode_capability(code: int, value: bytes) -> Capability:
    kind = _CAPS.get(code)
    if kind is None:
        return UnknownCapability.decode_with_code(code, value)
    return kind.decode(value)


@dataclass(frozen=True, slots=True)
class Open:
    """An OPEN body. ``asn`` is the 2-octet field (AS_TRANS for a 4-octet ASN); ``router_id`` the BGP Identifier.

    Capabilities are encoded in one Capabilities optional parameter while they fit (as GoBGP, BIRD and FRR do); on
    decode every Capabilities parameter is read and their capabilities concatenated in order.
    """

    asn: int
    hold_time: int
    router_id: ipaddress.IPv4Address
    capabilities: tuple[Capability, ...] = field(default=())
    version: int = BGP_VERSION

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        if len(buf) < 10:
            raise _err(f"OPEN body of {len(buf)} octets, need at least 10")
        version, asn, hold, rid, opt_len = struct.unpack_from("!BHHIB", buf)
        if version != BGP_VERSION:
            # RFC 4271 §6.2: the data is the largest version we support, as 2 octets.
            raise _err(f"version {version}", OpenSubcode.UNSUPPORTED_VERSION, struct.pack("!H", BGP_VERSION))
        if 10 + opt_len != len(buf):
            raise _err(f"optional parameters length {opt_len} but {len(buf) - 10} octets follow")
        caps: list[Capability] = []
        pos = 10
        while pos < len(buf):
            if pos + 2 > len(buf):
                raise _err("truncated optional parameter")
            ptype, plen = buf[pos], buf[pos + 1]
            pos += 2
            if pos + plen > len(buf):
                raise _err(f"optional parameter of {plen} octets overruns the message")
            value = buf[pos : pos + plen]
            pos += plen
            if ptype != OptParamType.CAPABILITIES:
                raise _err(f"optional parameter type {ptype}", OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER)
            cpos = 0
            while cpos < len(value):
                if cpos + 2 > len(value):
                    raise _err("truncated capability")
                code, clen = value[cpos], value[cpos + 1]
                cpos += 2
                if cpos + clen > len(value):
                    raise _err(f"capability {code} of {clen} octets overruns its parameter")
                caps.append(decode_capability(code, bytes(value[cpos : cpos + clen])))
                cpos += clen
        return cls(asn, hold, ipaddress.IPv4Address(rid), tuple(caps), version)

    def encode(self) -> bytes:
        # Capabilities go in one parameter while they fit its length octet, then in further ones (RFC 5492 §4).
        params = b""
        chunk = b""
        for cap in (c.encode() for c in self.capabilities):
            if len(chunk) + len(cap) > 255:
                params += bytes((OptParamType.CAPABILITIES, len(chunk))) + chunk
                chunk = b""
            chunk += cap
        if chunk:
            params += bytes((OptParamType.CAPABILITIES, len(chunk))) + chunk
        if len(params) > 255:
            raise ValueError("capabilities do not fit the optional parameters of an OPEN (255 octets)")
        return struct.pack("!BHHIB", self.version, self.asn, self.hold_time, int(self.router_id), len(params)) + params

    # Views the session negotiates with.

    def capability(self, kind: type[Capability]) -> Capability | None:
        return next((c for c in self.capabilities if isinstance(c, kind)), None)

    @property
    def four_octet_asn(self) -> int | None:
        cap = self.capability(FourOctetAs)
        return cap.asn if isinstance(cap, FourOctetAs) else None

    @property
    def effective_asn(self) -> int:
        """The speaker's ASN: the 4-octet capability's when present (RFC 6793 §4.1), else the 2-octet field."""
        four = self.four_octet_asn
        return four if four is not None else self.asn

    @property
    def families(self) -> frozenset[tuple[int, int]]:
        """AFI/SAFI pairs announced; none announced means IPv4 unicast only (RFC 4760 §8)."""
        fams = frozenset((c.afi, c.safi) for c in self.capabilities if isinstance(c, Multiprotocol))
        return fams or frozenset({(Afi.IPV4, Safi.UNICAST)})

    @staticmethod
    def two_octet_asn(asn: int) -> int:
        return asn if asn <= 0xFFFF else AS_TRANS
