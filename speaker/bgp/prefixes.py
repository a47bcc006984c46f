"""NLRI prefix encoding shared by UPDATE and MP_REACH/MP_UNREACH (RFC 4271 §4.3, RFC 4760 §5).

A prefix is a length octet and the fewest octets that hold it. Decoding checks the length against the family's
width and the octets against the buffer; bits past the prefix length are cleared (the host part carries no
meaning). Errors are Invalid Network Field (RFC 4271 §6.3), which RFC 7606 §5.3 says resets the session.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from speaker.bgp.codes import ErrorCode, UpdateSubcode
from speaker.bgp.constants import Afi
from speaker.bgp.errors import BgpDecodeError

__all__ = ["Prefix", "decode_prefixes", "encode_prefix", "encode_prefixes", "prefix_afi"]

Prefix = ipaddress.IPv4Network | ipaddress.IPv6Network


def prefix_afi(prefix: Prefix) -> Afi:
    return Afi.IPV4 if prefix.version == 4 else Afi.IPV6


def encode_prefix(prefix: Prefix) -> bytes:
    plen = prefix.prefixlen
    nbytes = (plen + 7) // 8
    return bytes((plen,)) + prefix.network_address.packed[:nbytes]


def encode_prefixes(prefixes: Iterable[Prefix]) -> bytes:
    return b"".join(encode_prefix(p) for p in prefixes)


def decode_prefixes(buf: bytes, afi: Afi) -> tuple[Prefix, ...]:
    width = 32 if afi == Afi.IPV4 else 128
    out: list[Prefix] = []
    pos = 0
    while pos < len(buf):
        plen = buf[pos]
        nbytes = (plen + 7) // 8
        if plen > width or pos + 1 + nbytes > len(buf):
            raise BgpDecodeError(
                ErrorCode.UPDATE_MESSAGE,
                UpdateSubcode.INVALID_NETWORK_FIELD,
                b"",
                f"prefix of length {plen} at offset {pos} does not fit",
            )
        raw = bytes(buf[pos + 1 : pos + 1 + nbytes]).ljust(width // 8, b"\0")
        pos += 1 + nbytes
        if afi == Afi.IPV4:
            out.append(ipaddress.IPv4Network((raw, plen), strict=False))
        else:
            out.append(ipaddress.IPv6Network((raw, plen), strict=False))
    return tuple(out)
