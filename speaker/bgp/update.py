"""UPDATE messages (RFC 4271 §4.3) with IPv4 NLRI and, through MP_REACH/MP_UNREACH, IPv6 (RFC 4760).

``Update.decode(body, *, as4)`` applies RFC 7606: a malformed attribute whose handling is "attribute discard" is
dropped, "treat-as-withdraw" marks the UPDATE (``treat_as_withdraw``; its routes must be handled as withdrawn),
and only the rest (framing, NLRI, MP attributes, unrecognized well-known attributes) raises ``BgpDecodeError``
to reset the session. The contained errors are kept in ``errors`` for logging. ``encode(*, as4)`` computes every
length; sizing UPDATEs to the negotiated maximum is the packer's job (``speaker.bgp.packing``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Self

from speaker.bgp.attributes import (
    AsPath,
    Attribute,
    MpReach,
    MpUnreach,
    NextHop,
    OriginAttr,
    decode_attribute,
)
from speaker.bgp.codes import ErrorCode, UpdateSubcode
from speaker.bgp.constants import Afi, AttrFlag, AttrType, Safi
from speaker.bgp.errors import BgpDecodeError, ErrorHandling
from speaker.bgp.prefixes import Prefix, decode_prefixes, encode_prefixes

__all__ = ["Update"]


def _reset(detail: str, subcode: UpdateSubcode = UpdateSubcode.MALFORMED_ATTRIBUTE_LIST) -> BgpDecodeError:
    return BgpDecodeError(ErrorCode.UPDATE_MESSAGE, subcode, b"", detail)


@dataclass(frozen=True, slots=True)
class Update:
    """An UPDATE body. ``withdrawn`` and ``nlri`` are IPv4 only (RFC 4271); IPv6 travels in the MP attributes.

    ``errors`` (not part of equality) are the RFC 7606 errors contained while decoding.
    """

    withdrawn: tuple[Prefix, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    nlri: tuple[Prefix, ...] = ()
    errors: tuple[BgpDecodeError, ...] = field(default=(), compare=False)

    @property
    def treat_as_withdraw(self) -> bool:
        return any(e.handling == ErrorHandling.TREAT_AS_WITHDRAW for e in self.errors)

    def attribute(self, kind: type[Attribute]) -> Attribute | None:
        return next((a for a in self.attributes if isinstance(a, kind)), None)

    @classmethod
    def end_of_rib(cls, afi: Afi) -> Self:
        """RFC 4724 §2: an empty UPDATE for IPv4 unicast, an empty MP_UNREACH_NLRI for other families."""
        if afi == Afi.IPV4:
            return cls()
        return cls(attributes=(MpUnreach(afi, Safi.UNICAST),))

    @property
    def end_of_rib_afi(self) -> Afi | None:
        """The family this UPDATE marks the End-of-RIB of, or None."""
        if self.withdrawn or self.nlri:
            return None
        if not self.attributes:
            return Afi.IPV4
        if len(self.attributes) == 1:
            attr = self.attributes[0]
            if (
                isinstance(attr, MpUnreach)
                and not attr.withdrawn
                and not attr.other_withdrawn
                and attr.afi in (Afi.IPV4, Afi.IPV6)
            ):
                return Afi(attr.afi)
        return None

    @classmethod
    def decode(cls, buf: bytes, *, as4: bool = True) -> Self:
        if len(buf) < 4:
            raise _reset(f"UPDATE body of {len(buf)} octets, need at least 4")
        (wlen,) = struct.unpack_from("!H", buf)
        # RFC 7606 §5.3 / RFC 4271 §6.3: lengths that overrun the message reset the session.
        if 2 + wlen + 2 > len(buf):
            raise _reset(f"withdrawn routes length {wlen} overruns the message")
        withdrawn = decode_prefixes(buf[2 : 2 + wlen], Afi.IPV4)
        (alen,) = struct.unpack_from("!H", buf, 2 + wlen)
        astart = 4 + wlen
        if astart + alen > len(buf):
            raise _reset(f"total path attribute length {alen} overruns the message")
        nlri = decode_prefixes(buf[astart + alen :], Afi.IPV4)
        attrs, errors = cls._decode_attributes(buf[astart : astart + alen], as4=as4)
        if nlri or any(isinstance(a, MpReach) and a.nlri for a in attrs):
            errors += cls._missing_mandatory(attrs, v4_nlri=bool(nlri))
        return cls(withdrawn, tuple(attrs), nlri, tuple(errors))

    @staticmethod
    def _decode_attributes(buf: bytes, *, as4: bool) -> tuple[list[Attribute], list[BgpDecodeError]]:
        attrs: list[Attribute] = []
        errors: list[BgpDecodeError] = []
        seen: set[int] = set()
        pos = 0
        while pos < len(buf):
            hdr = 3
            if pos + 2 <= len(buf) and buf[pos] & AttrFlag.EXTENDED_LENGTH:
                hdr = 4
            if pos + hdr > len(buf):
                # RFC 7606 §4: an attribute header that does not fit: treat-as-withdraw, stop parsing.
                errors.append(
                    BgpDecodeError(
                        ErrorCode.UPDATE_MESSAGE,
                        UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
                        b"",
                        "truncated attribute header",
                        handling=ErrorHandling.TREAT_AS_WITHDRAW,
                    )
                )
                break
            flags, tcode = buf[pos], buf[pos + 1]
            vlen = struct.unpack_from("!H", buf, pos + 2)[0] if hdr == 4 else buf[pos + 2]
            vstart = pos + hdr
            if vstart + vlen > len(buf):
                if tcode in (AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI):
                    raise _reset(f"attribute {tcode} of {vlen} octets overruns the attributes")
                errors.append(
                    BgpDecodeError(
                        ErrorCode.UPDATE_MESSAGE,
                        UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
                        b"",
                        f"attribute {tcode} of {vlen} octets overruns the attributes",
                        handling=ErrorHandling.TREAT_AS_WITHDRAW,
                    )
                )
                break
            value = bytes(buf[vstart : vstart + vlen])
            pos = vstart + vlen
            if tcode in seen:
                # RFC 7606 §3(g): repeated MP attributes reset; other repeats are discarded.
                if tcode in (AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI):
                    raise _reset(f"attribute {tcode} appears twice")
                errors.append(
                    BgpDecodeError(
                        ErrorCode.UPDATE_MESSAGE,
                        UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
                        b"",
                        f"attribute {tcode} repeated",
                        handling=ErrorHandling.ATTRIBUTE_DISCARD,
                    )
                )
                continue
            seen.add(tcode)
            try:
                attrs.append(decode_attribute(flags, tcode, value, as4=as4))
            except BgpDecodeError as exc:
                if exc.handling == ErrorHandling.SESSION_RESET:
                    raise
                errors.append(exc)
        return attrs, errors

    @staticmethod
    def _missing_mandatory(attrs: list[Attribute], *, v4_nlri: bool) -> list[BgpDecodeError]:
        # RFC 7606 §3(d): a missing well-known mandatory attribute is treat-as-withdraw. The data is its type.
        need: list[tuple[type[Attribute], AttrType]] = [(OriginAttr, AttrType.ORIGIN), (AsPath, AttrType.AS_PATH)]
        if v4_nlri:
            need.append((NextHop, AttrType.NEXT_HOP))
        return [
            BgpDecodeError(
                ErrorCode.UPDATE_MESSAGE,
                UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
                bytes((code,)),
                f"missing {code.name}",
                handling=ErrorHandling.TREAT_AS_WITHDRAW,
            )
            for kind, code in need
            if not any(isinstance(a, kind) for a in attrs)
        ]

    def encode(self, *, as4: bool = True) -> bytes:
        withdrawn = encode_prefixes(self.withdrawn)
        attrs = b"".join(a.encode(as4=as4) for a in self.attributes)
        return (
            struct.pack("!H", len(withdrawn))
            + withdrawn
            + struct.pack("!H", len(attrs))
            + attrs
            + encode_prefixes(self.nlri)
        )
