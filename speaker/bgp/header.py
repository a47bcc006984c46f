"""The 19-octet BGP message header (RFC 4271 §4.1) and the stream framer built on it.

Promises: ``Header.decode`` checks the marker (all ones), the length against the type's minimum and the
negotiated maximum (4096, or 65535 with RFC 8654 extended messages), and the type, raising ``BgpDecodeError``
with the Message Header Error subcode RFC 4271 §6.1 asks for; ``Framer`` splits a TCP byte stream into whole
messages and rejects a bad header as soon as its 19 octets are in, before waiting for a body that may never come.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Self

from speaker.bgp.codes import ErrorCode, HeaderSubcode
from speaker.bgp.constants import HEADER_LEN, MAX_MESSAGE, MsgType
from speaker.bgp.errors import BgpDecodeError

__all__ = ["MARKER", "MIN_LENGTH", "Framer", "Header"]

MARKER = b"\xff" * 16  # RFC 4271 §4.1: all ones (authentication in the marker is gone since RFC 4271)

# Smallest legal length per type, RFC 4271 §4.2-4.5 and RFC 2918 §3; KEEPALIVE is exactly the header.
MIN_LENGTH = {
    MsgType.OPEN: 29,
    MsgType.UPDATE: 23,
    MsgType.NOTIFICATION: 21,
    MsgType.KEEPALIVE: 19,
    MsgType.ROUTE_REFRESH: 23,
}


@dataclass(frozen=True, slots=True)
class Header:
    """Length (of the whole message, header included) and type."""

    length: int
    type: MsgType

    @classmethod
    def decode(cls, buf: bytes, *, max_length: int = MAX_MESSAGE) -> Self:
        if len(buf) < HEADER_LEN:
            raise BgpDecodeError(
                ErrorCode.MESSAGE_HEADER,
                HeaderSubcode.BAD_MESSAGE_LENGTH,
                b"",
                f"header of {len(buf)} octets, need {HEADER_LEN}",
            )
        if buf[:16] != MARKER:
            raise BgpDecodeError(
                ErrorCode.MESSAGE_HEADER, HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED, b"", "marker is not all ones"
            )
        (length,) = struct.unpack_from("!H", buf, 16)
        raw_type = buf[18]
        try:
            mtype = MsgType(raw_type)
        except ValueError:
            raise BgpDecodeError(
                ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_TYPE, bytes((raw_type,)), f"type {raw_type}"
            ) from None
        # RFC 4271 §6.1: the data of a Bad Message Length is the erroneous length field.
        if length < MIN_LENGTH[mtype] or length > max_length or (mtype == MsgType.KEEPALIVE and length != HEADER_LEN):
            raise BgpDecodeError(
                ErrorCode.MESSAGE_HEADER,
                HeaderSubcode.BAD_MESSAGE_LENGTH,
                buf[16:18],
                f"{mtype.name} of length {length}",
            )
        return cls(length, mtype)

    def encode(self) -> bytes:
        return MARKER + struct.pack("!HB", self.length, self.type)


class Framer:
    """Accumulates stream bytes; ``frames()`` yields each complete message (header included) in order."""

    def __init__(self, *, max_length: int = MAX_MESSAGE) -> None:
        self.max_length = max_length
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def frames(self) -> list[tuple[Header, bytes]]:
        """Complete messages as (header, body); raises ``BgpDecodeError`` at the first bad header."""
        out: list[tuple[Header, bytes]] = []
        pos = 0
        buf = self._buf
        while len(buf) - pos >= HEADER_LEN:
            header = Header.decode(bytes(buf[pos : pos + HEADER_LEN]), max_length=self.max_length)
            if len(buf) - pos < header.length:
                break
            out.append((header, bytes(buf[pos + HEADER_LEN : pos + header.length])))
            pos += header.length
        if pos:
            del buf[:pos]
        return out
