"""The Internet checksum (RFC 1071) used by IPv4, ICMP and ICMPv6, computed in one pass of C code.

The one's complement sum of 16-bit big-endian words equals the whole buffer read as one big integer modulo
0xFFFF (2**16 is 1 modulo 0xFFFF), so ``int.from_bytes`` and ``%`` do the work instead of a Python loop. The
only subtlety is one's complement's two zeros: a non-zero sum that is a multiple of 0xFFFF is 0xFFFF
("negative zero"), not 0.
"""

from __future__ import annotations

__all__ = ["internet_checksum"]


def internet_checksum(*parts: bytes) -> int:
    """The checksum of the concatenated ``parts`` (odd length padded with a zero byte, RFC 1071 §4.1).

    Over data that already holds a correct checksum field the result is 0, which is how receivers verify.
    """
    data = b"".join(parts)
    if len(data) % 2:
        data += b"\x00"
    whole = int.from_bytes(data, "big")
    folded = whole % 0xFFFF
    if folded == 0 and whole != 0:
        folded = 0xFFFF
    return ~folded & 0xFFFF
