"""The one error every frame decoder raises: :class:`FrameError`.

A frame from the wire is untrusted. Every decoder in :mod:`speaker.l2.codec` checks each length before it
slices, and raises ``FrameError`` (never ``IndexError``, ``struct.error`` or ``ValueError``) for anything it
must reject: too short, a length field pointing past the buffer, a bad checksum, a version or code the RFC
says to discard. The responder counts such frames as dropped and carries on.
"""

from __future__ import annotations

__all__ = ["FrameError"]


class FrameError(Exception):
    """A received frame that must be discarded: ``layer`` names the header, ``what`` says what is wrong."""

    def __init__(self, layer: str, what: str) -> None:
        super().__init__(f"{layer}: {what}")
        self.layer = layer
        self.what = what
