"""The BFD Control packet (RFC 5880 §4.1) as an encode/decode pair, with the reception checks of §6.8.6.

Promises:

- ``ControlPacket.decode(buf)`` returns a packet or raises ``BfdDecodeError`` (with a ``DecodeReason``), for
  any bytes at all; nothing else escapes. A packet it returns passes every packet-level rule of §6.8.6:
  version 1, Length at least 24 (26 with the A bit) and equal to the bytes received, Detect Mult ≠ 0, the
  Multipoint bit clear, My Discriminator ≠ 0, Your Discriminator ≠ 0 unless State is Down or AdminDown.
- ``encode()`` computes the Length field itself; ``decode(p.encode()) == p`` for every packet that passes
  those rules.

Choices, with reasons:

- Trailing bytes after Length are rejected (``LENGTH_MISMATCH``), and so is a Length other than 24 without
  the A bit. RFC 5880 only requires discarding packets
  whose Length exceeds the payload; BFD control packets are never padded, so leftover bytes mean a broken or
  forged packet, and rejecting them keeps decode/encode an exact pair.
- The authentication section (§4.2) is decoded structurally (type, length, opaque data, bounds-checked) and
  kept, so the codec round-trips; pymetallb configures no authentication (MetalLB's BFDProfile has no
  authentication fields), so the session discards every packet with the A bit, as §6.8.6 requires when
  ``bfd.AuthType`` is zero.
- The diagnostic is kept as a plain ``int``: the field has 5 bits and codes 9-31 are reserved, yet a peer
  that sends one must not make the packet undecodable. ``Diag`` names the codes RFC 5880 §4.1 defines.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Self

VERSION = 1  # RFC 5880 §4.1: "This document defines protocol version 1."
HEADER_LEN = 24  # RFC 5880 §4.1: the mandatory section
_AUTH_HEADER_LEN = 2  # RFC 5880 §4.2: Auth Type and Auth Len
_MANDATORY = struct.Struct("!BBBBIIIII")


class State(enum.IntEnum):
    """Session states, RFC 5880 §4.1 "State (Sta)"."""

    ADMIN_DOWN = 0
    DOWN = 1
    INIT = 2
    UP = 3


class Diag(enum.IntEnum):
    """Diagnostic codes, RFC 5880 §4.1 "Diagnostic (Diag)"; 9-31 are reserved."""

    NONE = 0
    CONTROL_DETECTION_TIME_EXPIRED = 1
    ECHO_FUNCTION_FAILED = 2
    NEIGHBOR_SIGNALED_SESSION_DOWN = 3
    FORWARDING_PLANE_RESET = 4
    PATH_DOWN = 5
    CONCATENATED_PATH_DOWN = 6
    ADMINISTRATIVELY_DOWN = 7
    REVERSE_CONCATENATED_PATH_DOWN = 8


def diag_name(code: int) -> str:
    """A readable name for a diagnostic code, reserved ones included (for logs)."""
    try:
        return Diag(code).name.lower()
    except ValueError:
        return f"reserved-{code}"


class AuthType(enum.IntEnum):
    """Authentication types, RFC 5880 §4.2 "Auth Type"."""

    RESERVED = 0
    SIMPLE_PASSWORD = 1
    KEYED_MD5 = 2
    METICULOUS_KEYED_MD5 = 3
    KEYED_SHA1 = 4
    METICULOUS_KEYED_SHA1 = 5


class DecodeReason(enum.Enum):
    """Why bytes were not accepted as a Control packet; each names the RFC 5880 §6.8.6 rule it enforces."""

    TOO_SHORT = "shorter than the 24-byte mandatory section"
    BAD_VERSION = "version is not 1"
    LENGTH_TOO_SMALL = "Length field below the minimum (24, or 26 with the A bit)"
    LENGTH_MISMATCH = "Length field differs from the bytes received"
    BAD_AUTH_LENGTH = "authentication section length does not fit the packet"
    ZERO_DETECT_MULT = "Detect Mult is zero"
    MULTIPOINT = "Multipoint bit is set"
    ZERO_MY_DISCRIMINATOR = "My Discriminator is zero"
    ZERO_YOUR_DISCRIMINATOR = "Your Discriminator is zero while State is Init or Up"


class BfdDecodeError(ValueError):
    """Bytes that are not an acceptable BFD Control packet; ``reason`` says which rule failed."""

    def __init__(self, reason: DecodeReason, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"BFD control packet rejected: {reason.value}{': ' + detail if detail else ''}")


@dataclass(frozen=True, slots=True)
class Auth:
    """The authentication section, kept opaque (see the module docstring)."""

    type: int
    data: bytes = b""

    def encode(self) -> bytes:
        return bytes((self.type, _AUTH_HEADER_LEN + len(self.data))) + self.data


@dataclass(frozen=True, slots=True)
class ControlPacket:
    """One BFD Control packet. Intervals are in microseconds, as on the wire."""

    state: State
    my_discriminator: int
    your_discriminator: int = 0
    diag: int = Diag.NONE
    detect_mult: int = 3
    desired_min_tx_us: int = 1_000_000
    required_min_rx_us: int = 1_000_000
    required_min_echo_rx_us: int = 0
    poll: bool = False
    final: bool = False
    control_plane_independent: bool = False
    demand: bool = False
    multipoint: bool = False
    auth: Auth | None = None
    version: int = VERSION

    def encode(self) -> bytes:
        """The wire bytes; Length is computed here, the A bit follows ``auth``."""
        auth = self.auth.encode() if self.auth is not None else b""
        flags = (
            (self.state << 6)
            | (self.poll << 5)
            | (self.final << 4)
            | (self.control_plane_independent << 3)
            | ((self.auth is not None) << 2)
            | (self.demand << 1)
            | int(self.multipoint)
        )
        return (
            _MANDATORY.pack(
                (self.version << 5) | self.diag,
                flags,
                self.detect_mult,
                HEADER_LEN + len(auth),
                self.my_discriminator,
                self.your_discriminator,
                self.desired_min_tx_us,
                self.required_min_rx_us,
                self.required_min_echo_rx_us,
            )
            + auth
        )

    @classmethod
    def decode(cls, buf: bytes) -> Self:
        """Parse and validate one packet (RFC 5880 §6.8.6, packet-level rules); raises ``BfdDecodeError``."""
        if len(buf) < HEADER_LEN:
            raise BfdDecodeError(DecodeReason.TOO_SHORT, f"{len(buf)} bytes")
        vers_diag, flags, detect_mult, length, my_disc, your_disc, tx, rx, echo_rx = _MANDATORY.unpack_from(buf)
        version = vers_diag >> 5
        if version != VERSION:
            raise BfdDecodeError(DecodeReason.BAD_VERSION, str(version))
        has_auth = bool(flags & 0x04)
        if length < HEADER_LEN + (_AUTH_HEADER_LEN if has_auth else 0):
            raise BfdDecodeError(DecodeReason.LENGTH_TOO_SMALL, str(length))
        if length != len(buf):
            raise BfdDecodeError(DecodeReason.LENGTH_MISMATCH, f"Length {length}, received {len(buf)}")
        auth = None
        if has_auth:
            auth_type, auth_len = buf[HEADER_LEN], buf[HEADER_LEN + 1]
            if auth_len < _AUTH_HEADER_LEN or HEADER_LEN + auth_len != length:
                raise BfdDecodeError(DecodeReason.BAD_AUTH_LENGTH, f"Auth Len {auth_len}, Length {length}")
            auth = Auth(auth_type, bytes(buf[HEADER_LEN + _AUTH_HEADER_LEN : length]))
        elif length != HEADER_LEN:
            raise BfdDecodeError(DecodeReason.LENGTH_MISMATCH, f"Length {length} without an authentication section")
        if detect_mult == 0:
            raise BfdDecodeError(DecodeReason.ZERO_DETECT_MULT)
        if flags & 0x01:
            raise BfdDecodeError(DecodeReason.MULTIPOINT)
        if my_disc == 0:
            raise BfdDecodeError(DecodeReason.ZERO_MY_DISCRIMINATOR)
        state = State(flags >> 6)
        if your_disc == 0 and state not in (State.DOWN, State.ADMIN_DOWN):
            raise BfdDecodeError(DecodeReason.ZERO_YOUR_DISCRIMINATOR, state.name)
        return cls(
            state=state,
            my_discriminator=my_disc,
            your_discriminator=your_disc,
            diag=vers_diag & 0x1F,
            detect_mult=detect_mult,
            desired_min_tx_us=tx,
            required_min_rx_us=rx,
            required_min_echo_rx_us=echo_rx,
            poll=bool(flags & 0x20),
            final=bool(flags & 0x10),
            control_plane_independent=bool(flags & 0x08),
            demand=bool(flags & 0x02),
            multipoint=False,
            auth=auth,
            version=version,
        )
