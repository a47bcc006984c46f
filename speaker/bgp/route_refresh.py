"""ROUTE-REFRESH messages (RFC 2918 §3; the subtype octet of RFC 7313 §3.2): a request to re-send one family."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Self

from speaker.bgp.codes import ErrorCode, RouteRefreshSubcode
from speaker.bgp.errors import BgpDecodeError

__all__ = ["RouteRefresh"]


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    """AFI, SAFI, and the RFC 7313 subtype (0 normal request, 1 BoRR, 2 EoRR)."""

    afi: int
    safi: int
    subtype: int = 0

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        if len(buf) != 4:
            # RFC 7313 §5: a ROUTE-REFRESH of the wrong length is a ROUTE-REFRESH Message Error.
            raise BgpDecodeError(
                ErrorCode.ROUTE_REFRESH,
                RouteRefreshSubcode.INVALID_MESSAGE_LENGTH,
                bytes(buf),
                f"ROUTE-REFRESH body of {len(buf)} octets, want 4",
            )
        afi, subtype, safi = struct.unpack("!HBB", buf)
        return cls(afi, safi, subtype)

    def encode(self) -> bytes:
        return struct.pack("!HBB", self.afi, self.subtype, self.safi)
