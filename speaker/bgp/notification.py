"""NOTIFICATION messages (RFC 4271 §4.5): the body codec and readable text.

``Notification.decode(body)`` / ``encode()`` handle the body after the 19-octet header. ``text`` renders what an
operator reads in an Event: ``"Hold Timer Expired"``, ``"Cease / Administrative Shutdown: maintenance"`` (the
RFC 9003 shutdown communication is decoded when present). Codes and subcodes are in ``speaker.bgp.codes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from speaker.bgp.codes import CeaseSubcode, ErrorCode, HeaderSubcode, describe
from speaker.bgp.errors import BgpDecodeError

__all__ = ["Notification"]


@dataclass(frozen=True, slots=True)
class Notification:
    """A NOTIFICATION body: error code, subcode and data (RFC 4271 §4.5)."""

    code: int
    subcode: int
    data: bytes = b""

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        # RFC 4271 §4.5: code and subcode are mandatory; a shorter body is a Bad Message Length.
        if len(buf) < 2:
            raise BgpDecodeError(
                ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, b"", f"NOTIFICATION of {len(buf)} octets"
            )
        return cls(buf[0], buf[1], bytes(buf[2:]))

    def encode(self) -> bytes:
        return bytes((self.code & 0xFF, self.subcode & 0xFF)) + self.data

    @classmethod
    def from_error(cls, err: BgpDecodeError) -> Self:
        """The NOTIFICATION a decode error asks the session to send."""
        return cls(err.code, err.subcode, err.data)

    @property
    def shutdown_message(self) -> str | None:
        """The RFC 9003 shutdown communication of a Cease 2 or 4, if one was sent and is valid UTF-8."""
        if self.code != ErrorCode.CEASE or self.subcode not in (
            CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
            CeaseSubcode.ADMINISTRATIVE_RESET,
        ):
            return None
        if not self.data or self.data[0] == 0 or len(self.data) < 1 + self.data[0]:
            return None
        try:
            return self.data[1 : 1 + self.data[0]].decode("utf-8")
        except UnicodeDecodeError:
            return None

    @property
    def text(self) -> str:
        """What an operator reads: names of code and subcode, and the shutdown communication if any."""
        base = describe(self.code, self.subcode)
        msg = self.shutdown_message
        return f"{base}: {msg}" if msg else base

    @classmethod
    def cease(cls, subcode: CeaseSubcode, message: str = "") -> Self:
        """A Cease with an optional RFC 9003 shutdown communication (at most 255 octets of UTF-8)."""
        data = b""
        if message and subcode in (CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, CeaseSubcode.ADMINISTRATIVE_RESET):
            raw = message.encode("utf-8")[:255]
            data = bytes((len(raw),)) + raw
        return cls(ErrorCode.CEASE, subcode, data)
