"""The membership message codec: one datagram's plaintext payload, encoded and decoded (our own format).

This is not hashicorp/memberlist's wire format: pymetallb speakers talk only to each other (docs/membership.md).
A payload, after the frame (``seal.py``) is removed, is::

    sender      name        u8 length + UTF-8 (the Kubernetes node name, 1..253 bytes)
    boot_ms     u64         the sender's wall-clock start time in ms (orders a restart after the previous boot)
    incarnation u64         the sender's current incarnation (SWIM)
    dest        name        the member this datagram is for (receivers drop datagrams for someone else)
    type        u8          MsgType
    probe       u32         probe id (PING, PING_REQ, ACK, NACK, LEAVE); 0 for GOSSIP
    target      name        PING_REQ only: the member to ping on the sender's behalf
    count       u8          number of piggybacked updates
    updates     count x (name, incarnation u64, state u8, [accuser name if SUSPECT])

All integers are big-endian. Promises: ``decode(encode(m)) == m``; ``decode`` checks every length before reading,
rejects unknown types and states, empty or non-UTF-8 names and leftover bytes, and raises only ``DecodeError``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["MAX_NAME", "DecodeError", "Message", "MsgType", "State", "Update", "decode", "encode", "update_size"]

MAX_NAME = 253  # a Kubernetes node name is a DNS subdomain (RFC 1123): at most 253 characters


class MsgType(IntEnum):
    """Message types (ours; SWIM's ping, ping-req and ack, Lifeguard's nack, plus gossip and leave)."""

    PING = 1
    """Are you alive? Answered with ACK carrying the same probe id."""
    PING_REQ = 2
    """Please ping ``target`` for me (indirect probe); answered with ACK if it answers, else NACK."""
    ACK = 3
    """Alive (reply to PING, or relayed for a PING_REQ, or to a LEAVE)."""
    NACK = 4
    """Lifeguard: I could not reach your target in time, but I did get your request (tells the requester its own
    network path works, so a missing ack is the target's fault, not ours)."""
    GOSSIP = 5
    """Only piggybacked updates."""
    LEAVE = 6
    """I am leaving (its LEFT update is piggybacked); answered with ACK so the leaver can stop early."""


class State(IntEnum):
    """A member's state as seen by one member (SWIM plus an explicit graceful leave)."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3


@dataclass(frozen=True, slots=True)
class Update:
    """A membership claim: ``name`` is in ``state`` at ``incarnation`` (``accuser`` set for SUSPECT only)."""

    name: str
    incarnation: int
    state: State
    accuser: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    sender: str
    boot_ms: int
    incarnation: int
    dest: str
    type: MsgType
    probe: int = 0
    target: str = ""
    updates: tuple[Update, ...] = ()


class DecodeError(ValueError):
    """The payload is not a valid membership message (the receiver drops it and counts ``malformed``)."""


_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")
_U64_MAX = (1 << 64) - 1


def _name(out: bytearray, name: str) -> None:
    raw = name.encode()
    if len(raw) > MAX_NAME:
        raise ValueError(f"member name {name[:40]!r}... is longer than {MAX_NAME} bytes")
    out.append(len(raw))
    out += raw


def update_size(u: Update) -> int:
    """Bytes ``u`` takes in a payload (the sender packs updates up to its datagram budget)."""
    size = 1 + len(u.name.encode()) + 8 + 1
    if u.state is State.SUSPECT:
        size += 1 + len(u.accuser.encode())
    return size


def encode(m: Message) -> bytes:
    """The payload for ``m``. Raises ``ValueError`` for a value that cannot be encoded (a caller bug)."""
    out = bytearray()
    _name(out, m.sender)
    out += _U64.pack(m.boot_ms)
    out += _U64.pack(m.incarnation)
    _name(out, m.dest)
    out.append(m.type)
    out += _U32.pack(m.probe)
    if m.type is MsgType.PING_REQ:
        _name(out, m.target)
    if len(m.updates) > 255:
        raise ValueError("at most 255 updates per message")
    out.append(len(m.updates))
    for u in m.updates:
        _name(out, u.name)
        out += _U64.pack(u.incarnation)
        out.append(u.state)
        if u.state is State.SUSPECT:
            _name(out, u.accuser)
    return bytes(out)


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise DecodeError(f"truncated {what}: need {n} bytes at offset {self.pos}, have {len(self.buf) - self.pos}")
        chunk = self.buf[self.pos : end]
        self.pos = end
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u32(self, what: str) -> int:
        value: int = _U32.unpack(self.take(4, what))[0]
        return value

    def u64(self, what: str) -> int:
        value: int = _U64.unpack(self.take(8, what))[0]
        return value

    def name(self, what: str, *, allow_empty: bool = False) -> str:
        n = self.u8(f"{what} length")
        if n == 0 and not allow_empty:
            raise DecodeError(f"empty {what}")
        if n > MAX_NAME:
            raise DecodeError(f"{what} longer than {MAX_NAME} bytes")
        try:
            return self.take(n, what).decode()
        except UnicodeDecodeError as exc:
            raise DecodeError(f"{what} is not UTF-8") from exc


def decode(buf: bytes) -> Message:
    """Decode one payload; raises ``DecodeError`` (never anything else) for any invalid input."""
    r = _Reader(buf)
    sender = r.name("sender")
    boot_ms = r.u64("boot_ms")
    incarnation = r.u64("incarnation")
    dest = r.name("dest")
    raw_type = r.u8("type")
    try:
        mtype = MsgType(raw_type)
    except ValueError as exc:
        raise DecodeError(f"unknown message type {raw_type}") from exc
    probe = r.u32("probe")
    target = r.name("target") if mtype is MsgType.PING_REQ else ""
    count = r.u8("update count")
    updates = []
    for _ in range(count):
        name = r.name("update name")
        inc = r.u64("update incarnation")
        raw_state = r.u8("update state")
        try:
            state = State(raw_state)
        except ValueError as exc:
            raise DecodeError(f"unknown member state {raw_state}") from exc
        accuser = r.name("accuser") if state is State.SUSPECT else ""
        updates.append(Update(name, inc, state, accuser))
    if r.pos != len(buf):
        raise DecodeError(f"{len(buf) - r.pos} bytes after the message")
    return Message(sender, boot_ms, incarnation, dest, mtype, probe, target, tuple(updates))
