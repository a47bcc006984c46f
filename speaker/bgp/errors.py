"""The one error the BGP codec raises, and how the session must react to it (RFC 4271 §6, RFC 7606).

``BgpDecodeError(code, subcode, data, detail)`` carries the NOTIFICATION the session sends
(``Notification.from_error``); ``handling`` says
whether the whole session resets (the default), or, for an UPDATE attribute error that RFC 7606 allows to be
contained, whether the UPDATE's routes are treated as withdrawn or the attribute is discarded. The codec never
raises anything else on hostile bytes: a fuzz test holds it to that.
"""

from __future__ import annotations

from enum import IntEnum

from speaker.bgp.codes import describe

__all__ = ["BgpDecodeError", "ErrorHandling"]


class ErrorHandling(IntEnum):
    """RFC 7606 §2 approaches, ordered by strength (a stronger one wins when several apply)."""

    ATTRIBUTE_DISCARD = 1
    TREAT_AS_WITHDRAW = 2
    SESSION_RESET = 3


class BgpDecodeError(Exception):
    """Bytes that are not a valid BGP message; ``notification`` is what to send the peer."""

    def __init__(
        self,
        code: int,
        subcode: int,
        data: bytes = b"",
        detail: str = "",
        *,
        handling: ErrorHandling = ErrorHandling.SESSION_RESET,
    ) -> None:
        self.code = int(code)
        self.subcode = int(subcode)
        self.data = bytes(data)
        self.detail = detail
        self.handling = handling
        super().__init__(self.message)

    @property
    def message(self) -> str:
        head = describe(self.code, self.subcode)
        return f"{head}: {self.detail}" if self.detail else head
