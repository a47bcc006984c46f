"""KEEPALIVE messages (RFC 4271 §4.4): a header and nothing else; any body octet is a Bad Message Length."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from speaker.bgp.codes import ErrorCode, HeaderSubcode
from speaker.bgp.errors import BgpDecodeError

__all__ = ["Keepalive"]


@dataclass(frozen=True, slots=True)
class Keepalive:
    @classmethod
    def decode(cls, buf: bytes) -> Self:
        if buf:
            raise BgpDecodeError(
                ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, b"", f"KEEPALIVE with {len(buf)}-octet body"
            )
        return cls()

    def encode(self) -> bytes:
        return b""
