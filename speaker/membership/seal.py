"""Datagram framing for membership: authenticated encryption (AES-256-GCM), or a checksum when no key is set, and
the replay guard. Pure: no sockets, no clock.

Frame (all big-endian)::

    version  u8    1
    flags    u8    bit 0: encrypted
    boot_id  8 B   random per sender process start
    seq      u64   per-sender counter, +1 for every datagram sent (never reused within a boot)
    body           encrypted: AES-GCM(payload) with its 16-byte tag; plain: payload then CRC-32 of header+payload

Key derivation (documented in docs/membership.md): the Secret ``memberlist`` key ``secretkey`` (the file
``<--ml-secret-key-path>/secretkey``; its content, surrounding whitespace stripped, used as bytes, not decoded) is
the input key material of HKDF-SHA256 with salt = the sender's ``boot_id`` and info ``b"pymetallb membership v1"``:
every sender boot encrypts under its own 256-bit key, so the GCM nonce ``0x00000000 || seq`` never repeats under one
key (a random 64-bit ``boot_id`` collides only after ~2^32 boots). The 18-byte header is the AEAD's associated
data: boot id and sequence number are authenticated too. Not compatible with memberlist's key handling.

Replay protection (``ReplayGuard``, applied by the receiver after authentication and decoding): per sender *name*
it keeps the newest boot seen (ordered by the sender's ``boot_ms`` start time, then ``boot_id``) and a 1024-packet
sliding window over ``seq`` (as IPsec/WireGuard). A datagram from an older boot (unless the newest has been silent
for ``BOOT_SILENCE``, the case of a restart whose clock went backwards), a sequence number already seen or older
than the window is dropped. Payloads also name their destination, so a datagram sent to one member cannot be
replayed to another. What remains (a receiver that restarts and then hears a replay of an older boot it never
saw) cannot fake liveness: acks must echo a fresh probe id, and a stale incarnation loses to the current one.

Promises: ``open`` raises ``Dropped`` with a ``DropReason`` for every datagram it does not return, never anything
else; with a key, nothing unauthenticated is ever returned.
"""

from __future__ import annotations

import struct
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

from speaker.membership.aead import AesGcm, InvalidTag, hkdf_sha256

__all__ = [
    "BOOT_SILENCE",
    "HEADER",
    "OVERHEAD",
    "VERSION",
    "DropReason",
    "Dropped",
    "ReplayGuard",
    "Sealer",
    "derive_key",
]

VERSION = 1
FLAG_ENCRYPTED = 0x01
_HEADER = struct.Struct(">BB8sQ")
HEADER = _HEADER.size  # 18
TAG = 16
CRC = 4
OVERHEAD = HEADER + TAG
INFO = b"pymetallb membership v1"
WINDOW = 1024  # sequence numbers remembered per sender; reordering on a LAN is far smaller
_KEY_CACHE = 1024  # derived per-boot ciphers kept (only for boots that authenticated)
_GUARD_NAMES = 4096  # senders remembered by the replay guard (authenticated names only)
BOOT_SILENCE = 3.0  # s without a datagram from a sender's newest boot before an older-looking boot is accepted


class DropReason(StrEnum):
    """Why a received datagram was dropped (the ``reason`` label of the dropped counter)."""

    TRUNCATED = "truncated"  # shorter than a frame header plus tag/checksum
    BAD_VERSION = "bad_version"  # unknown frame version or flags
    UNENCRYPTED = "unencrypted"  # a plain frame while we have a key: never trusted
    NO_KEY = "no_key"  # an encrypted frame while we have no key
    AUTH_FAILED = "auth_failed"  # wrong key or tampered with
    BAD_CHECKSUM = "bad_checksum"  # plain frame whose CRC-32 does not match
    MALFORMED = "malformed"  # authenticated but not a valid message
    REPLAY = "replay"  # sequence number already seen or older than the window
    STALE_BOOT = "stale_boot"  # from a boot older than the sender's newest we know
    WRONG_DESTINATION = "wrong_destination"  # addressed to another member
    FROM_SELF = "from_self"  # our own name (a loop, or a second process with our node name)


class Dropped(Exception):
    def __init__(self, reason: DropReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def derive_key(secret: bytes, boot_id: bytes) -> bytes:
    """The 32-byte AES key one sender boot uses (see the module docstring)."""
    return hkdf_sha256(secret.strip(), salt=boot_id, info=INFO, length=32)


@dataclass(slots=True)
class _Opened:
    payload: bytes
    boot_id: bytes
    seq: int


class Sealer:
    """Seals our datagrams and opens others'. ``secret`` None means unencrypted (checksummed) frames."""

    def __init__(self, secret: bytes | None, boot_id: bytes) -> None:
        if len(boot_id) != 8:
            raise ValueError("boot_id must be 8 bytes")
        self.secret = secret.strip() if secret is not None and secret.strip() else None
        self.boot_id = boot_id
        self.seq = 0
        self._own = AesGcm(derive_key(self.secret, boot_id)) if self.secret else None
        self._ciphers: OrderedDict[bytes, AesGcm] = OrderedDict()

    @property
    def encrypted(self) -> bool:
        return self.secret is not None

    def seal(self, payload: bytes) -> bytes:
        self.seq += 1
        if self._own is not None:
            header = _HEADER.pack(VERSION, FLAG_ENCRYPTED, self.boot_id, self.seq)
            return header + self._own.encrypt(b"\0\0\0\0" + struct.pack(">Q", self.seq), payload, header)
        header = _HEADER.pack(VERSION, 0, self.boot_id, self.seq)
        return header + payload + struct.pack(">I", zlib.crc32(header + payload))

    def open(self, data: bytes) -> _Opened:
        """Authenticate (or checksum) and strip the frame; raises ``Dropped``."""
        if len(data) < HEADER + CRC:
            raise Dropped(DropReason.TRUNCATED)
        version, flags, boot_id, seq = _HEADER.unpack_from(data)
        if version != VERSION or flags & ~FLAG_ENCRYPTED:
            raise Dropped(DropReason.BAD_VERSION)
        header = data[:HEADER]
        if flags & FLAG_ENCRYPTED:
            if self.secret is None:
                raise Dropped(DropReason.NO_KEY)
            if len(data) < HEADER + TAG:
                raise Dropped(DropReason.TRUNCATED)
            cipher = self._ciphers.get(boot_id)
            fresh = cipher is None
            if cipher is None:
                cipher = AesGcm(derive_key(self.secret, boot_id))
            try:
                payload = cipher.decrypt(b"\0\0\0\0" + struct.pack(">Q", seq), data[HEADER:], header)
            except InvalidTag:
                raise Dropped(DropReason.AUTH_FAILED) from None
            if fresh:  # cache only ciphers of boots that proved they hold the key
                self._ciphers[boot_id] = cipher
                if len(self._ciphers) > _KEY_CACHE:
                    self._ciphers.popitem(last=False)
            return _Opened(payload, boot_id, seq)
        if self.secret is not None:
            raise Dropped(DropReason.UNENCRYPTED)
        (crc,) = struct.unpack(">I", data[-CRC:])
        if zlib.crc32(data[:-CRC]) != crc:
            raise Dropped(DropReason.BAD_CHECKSUM)
        return _Opened(data[HEADER:-CRC], boot_id, seq)


@dataclass(slots=True)
class _Window:
    boot: tuple[int, bytes]  # (boot_ms, boot_id)
    highest: int
    seen: int  # bit i set: highest - i was received
    last_heard: float  # the receiver's clock when this boot last sent something fresh


class ReplayGuard:
    """Per-sender newest boot and sequence window (see the module docstring)."""

    def __init__(self) -> None:
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def check(self, name: str, boot_ms: int, boot_id: bytes, seq: int, now: float) -> DropReason | None:
        """Record ``seq`` and return None if fresh; else the reason to drop (and record nothing). ``now`` is the
        receiver's monotonic clock."""
        boot = (boot_ms, boot_id)
        w = self._windows.get(name)
        if w is None or boot > w.boot or (boot < w.boot and now - w.last_heard >= BOOT_SILENCE):
            # A newer boot, or an "older" one while the newest has been silent: a restart whose wall clock went
            # backwards (a rebooted node's clock before NTP corrects it) must not be locked out forever.
            self._windows[name] = _Window(boot, seq, 1, now)
            self._windows.move_to_end(name)
            if len(self._windows) > _GUARD_NAMES:
                self._windows.popitem(last=False)
            return None
        if boot < w.boot:
            return DropReason.STALE_BOOT
        w.last_heard = now
        if seq > w.highest:
            shift = seq - w.highest
            w.seen = ((w.seen << shift) | 1) & ((1 << WINDOW) - 1) if shift < WINDOW else 1
            w.highest = seq
            return None
        age = w.highest - seq
        if age >= WINDOW or (w.seen >> age) & 1:
            return DropReason.REPLAY
        w.seen |= 1 << age
        return None
