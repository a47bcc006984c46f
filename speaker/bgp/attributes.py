"""UPDATE path attributes (RFC 4271 §4.3, §5; RFC 1997; RFC 4760; RFC 6793; RFC 8092), one class per type.

Every attribute has ``decode(value, *, as4) -> Self`` (the value octets after flags, type and length) and
``encode(*, as4) -> bytes`` (flags, type, length computed, value; the extended-length flag is set exactly when the
value exceeds 255 octets). ``as4`` says whether AS numbers are 4 octets on this session (RFC 6793 §4).

Decode failures raise ``BgpDecodeError`` with the RFC 7606 §7 handling for the attribute type, so a malformed
COMMUNITIES withdraws the UPDATE's routes instead of tearing down the session.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from speaker.bgp.codes import ErrorCode, UpdateSubcode
from speaker.bgp.constants import Afi, AsPathSegmentType, AttrFlag, AttrType, Origin, Safi
from speaker.bgp.errors import BgpDecodeError, ErrorHandling
from speaker.bgp.prefixes import Prefix, decode_prefixes, encode_prefixes

__all__ = [
    "HANDLING",
    "AsPath",
    "AsPathSegment",
    "AtomicAggregate",
    "Attribute",
    "Communities",
    "LargeCommunities",
    "LocalPref",
    "Med",
    "MpReach",
    "MpUnreach",
    "NextHop",
    "OriginAttr",
    "UnknownAttr",
    "decode_attribute",
    "expected_flags",
]

# RFC 7606 §7: how a malformed attribute of each type is handled. MP_REACH/MP_UNREACH reset the session
# (§7.11, §5.3: without AFI/SAFI disable, reset is what remains); unknown optional attributes pass through.
HANDLING: dict[int, ErrorHandling] = {
    AttrType.ORIGIN: ErrorHandling.TREAT_AS_WITHDRAW,
    AttrType.AS_PATH: ErrorHandling.TREAT_AS_WITHDRAW,
    AttrType.NEXT_HOP: ErrorHandling.TREAT_AS_WITHDRAW,
    AttrType.MULTI_EXIT_DISC: ErrorHandling.TREAT_AS_WITHDRAW,
    AttrType.LOCAL_PREF: ErrorHandling.TREAT_AS_WITHDRAW,
    AttrType.ATOMIC_AGGREGATE: ErrorHandling.ATTRIBUTE_DISCARD,
    AttrType.AGGREGATOR: ErrorHandling.ATTRIBUTE_DISCARD,
    AttrType.COMMUNITIES: ErrorHandling.TREAT_AS_WITHDRAW,
    AttrType.MP_REACH_NLRI: ErrorHandling.SESSION_RESET,
    AttrType.MP_UNREACH_NLRI: ErrorHandling.SESSION_RESET,
    AttrType.AS4_PATH: ErrorHandling.ATTRIBUTE_DISCARD,  # RFC 6793 §6
    AttrType.AS4_AGGREGATOR: ErrorHandling.ATTRIBUTE_DISCARD,  # RFC 6793 §6
    AttrType.LARGE_COMMUNITY: ErrorHandling.TREAT_AS_WITHDRAW,  # RFC 8092 §6
}

_O, _T = AttrFlag.OPTIONAL, AttrFlag.TRANSITIVE


def expected_flags(type_code: int) -> int | None:
    """The Optional and Transitive bits a known attribute must carry (RFC 4271 §5), None when unknown."""
    cls = _BY_TYPE.get(type_code)
    return None if cls is None else int(cls.FLAGS) & (_O | _T)


def _err(type_code: int, detail: str, subcode: UpdateSubcode = UpdateSubcode.ATTRIBUTE_LENGTH_ERROR) -> BgpDecodeError:
    handling = HANDLING.get(type_code, ErrorHandling.SESSION_RESET)
    return BgpDecodeError(ErrorCode.UPDATE_MESSAGE, subcode, b"", detail, handling=handling)


def _tlv(flags: int, type_code: int, value: bytes) -> bytes:
    flags &= ~AttrFlag.EXTENDED_LENGTH
    if len(value) > 0xFFFF:
        raise ValueError(f"attribute {type_code} value of {len(value)} octets exceeds 65535")
    if len(value) > 255:
        return struct.pack("!BBH", flags | AttrFlag.EXTENDED_LENGTH, type_code, len(value)) + value
    return struct.pack("!BBB", flags, type_code, len(value)) + value


@dataclass(frozen=True, slots=True)
class OriginAttr:
    TYPE: ClassVar[AttrType] = AttrType.ORIGIN
    FLAGS: ClassVar[int] = _T
    origin: Origin = Origin.IGP

    @classmethod
    def decode(cls, value: bytes, *, as4: bool = True) -> Self:
        if len(value) != 1:
            raise _err(cls.TYPE, f"ORIGIN of {len(value)} octets")
        try:
            return cls(Origin(value[0]))
        except ValueError:
            raise _err(cls.TYPE, f"ORIGIN value {value[0]}", UpdateSubcode.INVALID_ORIGIN_ATTRIBUTE) from None

    def encode(self, *, as4: bool = True) -> bytes:
        return _tlv(self.FLAGS, self.TYPE, bytes((self.origin,)))


@dataclass(frozen=True, slots=True)
class AsPathSegment:
    type: AsPathSegmentType
    asns: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AsPath:
    """AS_PATH; segments of at most 255 ASNs (RFC 4271 §4.3), 2 or 4 octets each per ``as4``."""

    TYPE: ClassVar[AttrType] = AttrType.AS_PATH
    FLAGS: ClassVar[int] = _T
    segments: tuple[AsPathSegment, ...] = ()

    @classmethod
    def sequence(cls, asns: tuple[int, ...]) -> Self:
        """One AS_SEQUENCE (split every 255 ASNs); the empty path when ``asns`` is empty (iBGP)."""
        segs = tuple(AsPathSegment(AsPathSegmentType.AS_SEQUENCE, asns[i : i + 255]) for i in range(0, len(asns), 255))
        return cls(segs)

    @property
    def asns(self) -> tuple[int, ...]:
        return tuple(a for s in self.segments for a in s.asns)

    @classmethod
    def decode(cls, value: bytes, *, as4: bool = True) -> Self:
        width = 4 if as4 else 2
        fmt = "!I" if as4 else "!H"
        segs: list[AsPathSegment] = []
        pos = 0
        while pos < len(value):
            if pos + 2 > len(value):
                raise _err(cls.TYPE, "truncated AS_PATH segment header", UpdateSubcode.MALFORMED_AS_PATH)
            stype, count = value[pos], value[pos + 1]
            pos += 2
            # RFC 7606 §7.2: a zero-length segment is malformed.
            if count == 0 or pos + count * width > len(value):
                raise _err(cls.TYPE, f"AS_PATH segment of {count} ASNs does not fit", UpdateSubcode.MALFORMED_AS_PATH)
            try:
                seg_type = AsPathSegmentType(stype)
            except ValueError:
                raise _err(cls.TYPE, f"AS_PATH segment type {stype}", UpdateSubcode.MALFORMED_AS_PATH) from None
            asns = tuple(struct.unpack_from(fmt, value, pos + i * width)[0] for i in range(count))
            pos += count * width
            segs.append(AsPathSegment(seg_type, asns))
        return cls(tuple(segs))

    def encode(self, *, as4: bool = True) -> bytes:
        fmt = "!I" if as4 else "!H"
        out = bytearray()
        for seg in self.segments:
            if not 0 < len(seg.asns) <= 255:
                raise ValueError(f"an AS_PATH segment holds 1-255 ASNs, not {len(seg.asns)}")
            out += bytes((seg.type, len(seg.asns)))
            for asn in seg.asns:
                out += struct.pack(fmt, asn)
        return _tlv(self.FLAGS, self.TYPE, bytes(out))


@dataclass(frozen=True, slots=True)
class NextHop:
    TYPE: ClassVar[AttrType] = AttrType.NEXT_HOP
    FLAGS: ClassVar[int] = _T
    address: ipaddress.IPv4Address

    @classmethod
    def decode(cls, value: bytes, *, as4: bool = True) -> Self:
        if len(value) != 4:
            raise _err(cls.TYPE, f"NEXT_HOP of {len(value)} octets")
        return cls(ipaddress.IPv4Address(bytes(value)))

    def encode(self, *, as4: bool = True) -> bytes:
        return _tlv(self.FLAGS, self.TYPE, self.address.packed)


@dataclass(frozen=True, slots=True)
class Med:
    TYPE: ClassVar[AttrType] = AttrType.MULTI_EXIT_DISC
    FLAGS: ClassVar[int] = _O
    value: int

    @classmethod
    def decode(cls, value: bytes, *, as4: bool = True) -> Self:
        if len(value) != 4:
            raise _err(cls.TYPE, f"MULTI_EXIT_DISC of {len(value)} octets")
        return cls(struct.unpack("!I", value)[0])

    def encode(self, *, as4: bool = True) -> bytes:
        return _tlv(self.FLAGS, self.TYPE, struct.pack("!I", self.value))


@dataclass(frozen=True, slots=True)
class LocalPref:
    TYPE: ClassVar[AttrType] = AttrType.LOCAL_PREF
    FLAGS: ClassVar[int] = _T
    value: int

    @classmethod
    def decode(cls, value: bytes, *, as4: bool = True) -> Self:
        if len(value) != 4:
            raise _err(cls.TYPE, f"LOCAL_PREF of {len(value)} octets")
        return cls(struct.unpack("!I", value)[0])

    def encode(self, *, as4: bool = True) -> bytes:
        return _tlv(self.FLAGS, self.TYPE, struct.pack("!I", self.value))


@dataclass(frozen=True, slots=True)
class AtomicAggregate:
    TYPE: ClassVar[AttrType] = AttrType.ATOMIC_AGGREGATE
    FLAGS: ClassVar[int] = _T

    @classmethod
    def decode(cls, value: bytes, *, as4: bool = True) -> Self:
        if value:
            raise _err(cls.TYPE, f"ATOMIC_AGGREGATE of {len(value)} octets")
        return cls()

    def encode(self, *, as4: bool = True) -> bytes:
        return _tlv(self.FLAGS, self.TYPE, b"")


@dataclass(frozen=True, slots=True)
class Communities:
    """RFC 1997 communities, each a 32-bit value (``asn << 16 | value``), order kept as sent."""

    TYPE: ClassVar[AttrType] = AttrType.COMMUNITIES
    FLAGS: ClassVar[int] = _O | _T
    values: tuple[int, ...]

    @classmethod
    def decode(cls, value: bytes, *, as4: bool = True) -> Self:
        if not value or len(value) % 4:
            raise _err(cls.TYPE, f"COMMUNITIES of {len(value)} octets, want a non-zero multiple of 4")
        return cls(tuple(v for (v,) in struct.iter_unpack("!I", value)))

    def encode(self, *, as4: bool = True) -> bytes:
        return _tlv(self.FLAGS, self.TYPE, b"".join(struct.pack("!I", v) for v in self.values))


@dataclass(frozen=True, slots=True)
class LargeCommunities:
    """RFC 8092 large communities: (global administrator, local data 1, local data 2)."""

    TYPE: ClassVar[AttrType] = AttrType.LARGE_COMMUNITY
    FLAGS: ClassVar[int] = _O | _T
    values: tuple[tuple[int, int, int], ...]

    @classmethod
    def decode(cls, value: bytes, *, as4: bool = True) -> Self:
        if not value or len(value) % 12:
            raise _err(cls.TYPE, f"LARGE_COMMUNITY of {len(value)} octets, want a non-zero multiple of 12")
        return cls(tuple(struct.iter_unpack("!III", value)))

    def encode(self, *, as4: bool = True) -> bytes:
        return _tlv(self.FLAGS, self.TYPE, b"".join(struct.pack("!III", *v) for v in self.values))


def _family_prefixes(afi: int, safi: int, buf: bytes, type_code: int) -> tuple[Prefix, ...]:
    try:
        return decode_prefixes(buf, Afi(afi))
    except BgpDecodeError as exc:
        raise _err(type_code, exc.detail, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR) from None


def _is_unicast_ip(afi: int, safi: int) -> bool:
    return afi in (Afi.IPV4, Afi.IPV6) and safi == Safi.UNICAST


@dataclass(frozen=True, slots=True)
class MpReach:
    """MP_REACH_NLRI (RFC 4760 §3). ``next_hop`` is raw (4 octets for IPv4, 16 or 32 for IPv6: global then
    link-local, RFC 2545 §3); ``nlri`` holds IPv4/IPv6 unicast prefixes, ``other_nlri`` any other family verbatim."""

    TYPE: ClassVar[AttrType] = AttrType.MP_REACH_NLRI
    FLAGS: ClassVar[int] = _O
    afi: int
    safi: int
    next_hop: bytes
    nlri: tuple[Prefix, ...] = ()
    other_nlri: bytes = b""

    @property
    def next_hops(self) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
        nh = self.next_hop
        if len(nh) == 4:
            return (ipaddress.IPv4Address(nh),)
        return tuple(ipaddress.IPv6Address(nh[i : i + 16]) for i in range(0, len(nh) - len(nh) % 16, 16))

    @classmethod
    def decode(cls, value: bytes, *, as4: bool = True) -> Self:
        if len(value) < 5:
            raise _err(cls.TYPE, f"MP_REACH_NLRI of {len(value)} octets", UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR)
        afi, safi, nh_len = struct.unpack_from("!HBB", value)
        if 4 + nh_len + 1 > len(value):
            raise _err(cls.TYPE, f"next hop of {nh_len} octets overruns", UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR)
        next_hop = bytes(value[4 : 4 + nh_len])
        rest = bytes(value[4 + nh_len + 1 :])  # one reserved octet (RFC 4760 §3, formerly SNPAs)
        if not _is_unicast_ip(afi, safi):
            return cls(afi, safi, next_hop, (), rest)
        if nh_len not in ((4, 16) if afi == Afi.IPV4 else (16, 32)):
            raise _err(cls.TYPE, f"next hop of {nh_len} octets for AFI {afi}", UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR)
        return cls(afi, safi, next_hop, _family_prefixes(afi, safi, rest, cls.TYPE))

    def encode(self, *, as4: bool = True) -> bytes:
        body = (
            struct.pack("!HBB", self.afi, self.safi, len(self.next_hop))
            + self.next_hop
            + b"\0"
            + encode_prefixes(self.nlri)
            + self.other_nlri
        )
        return _tlv(self.FLAGS, self.TYPE, body)


@dataclass(frozen=True, slots=True)
class MpUnreach:
    """MP_UNREACH_NLRI (RFC 4760 §4); with no prefixes it is the End-of-RIB marker of its family (RFC 4724 §2)."""

    TYPE: ClassVar[AttrType] = AttrType.MP_UNREACH_NLRI
    FLAGS: ClassVar[int] = _O
    afi: int
    safi: int
    withdrawn: tuple[Prefix, ...] = ()
    other_withdrawn: bytes = b""

    @classmethod
    def decode(cls, value: bytes, *, as4: bool = True) -> Self:
        if len(value) < 3:
            raise _err(cls.TYPE, f"MP_UNREACH_NLRI of {len(value)} octets", UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR)
        afi, safi = struct.unpack_from("!HB", value)
        rest = bytes(value[3:])
        if not _is_unicast_ip(afi, safi):
            return cls(afi, safi, (), rest)
        return cls(afi, safi, _family_prefixes(afi, safi, rest, cls.TYPE))

    def encode(self, *, as4: bool = True) -> bytes:
        body = struct.pack("!HB", self.afi, self.safi) + encode_prefixes(self.withdrawn) + self.other_withdrawn
        return _tlv(self.FLAGS, self.TYPE, body)


@dataclass(frozen=True, slots=True)
class UnknownAttr:
    """An attribute we do not interpret, kept verbatim (flags as received, minus the extended-length bit)."""

    flags: int
    type_code: int
    value: bytes

    @property
    def TYPE(self) -> int:  # same spelling as the known attributes' ClassVar
        return self.type_code

    def encode(self, *, as4: bool = True) -> bytes:
        return _tlv(self.flags, self.type_code, self.value)


Attribute = (
    OriginAttr
    | AsPath
    | NextHop
    | Med
    | LocalPref
    | AtomicAggregate
    | Communities
    | LargeCommunities
    | MpReach
    | MpUnreach
    | UnknownAttr
)

_KNOWN = (
    OriginAttr,
    AsPath,
    NextHop,
    Med,
    LocalPref,
    AtomicAggregate,
    Communities,
    LargeCommunities,
    MpReach,
    MpUnreach,
)
_BY_TYPE: dict[
    int,
    type[
        OriginAttr
        | AsPath
        | NextHop
        | Med
        | LocalPref
        | AtomicAggregate
        | Communities
        | LargeCommunities
        | MpReach
        | MpUnreach
    ],
] = {cls.TYPE: cls for cls in _KNOWN}


def decode_attribute(flags: int, type_code: int, value: bytes, *, as4: bool) -> Attribute:
    """One attribute from its flags, type and value; flag mismatches are Attribute Flags Errors (RFC 4271 §6.3)."""
    cls = _BY_TYPE.get(type_code)
    if cls is None:
        if not flags & AttrFlag.OPTIONAL:
            # RFC 4271 §6.3: an unrecognized well-known attribute; the data is the attribute itself.
            raise BgpDecodeError(
                ErrorCode.UPDATE_MESSAGE,
                UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                _tlv(flags, type_code, value),
                f"unrecognized well-known attribute {type_code}",
            )
        return UnknownAttr(flags & ~AttrFlag.EXTENDED_LENGTH, type_code, bytes(value))
    if flags & (_O | _T) != cls.FLAGS & (_O | _T):
        raise _err(type_code, f"{cls.TYPE.name} with flags {flags:#04x}", UpdateSubcode.ATTRIBUTE_FLAGS_ERROR)
    return cls.decode(value, as4=as4)
