"""``BfdManager``: every BFD session of the speaker, run in one thread of its own (RFC 5881 single hop).

Why a thread: BFD timers are tens of milliseconds; the speaker's asyncio loop may be busy for longer (a large
config parse, a burst of UPDATEs). The thread waits on its sockets with the earliest session deadline as the
timeout, so detection and transmission do not depend on the loop. The GIL still switches at most every
``sys.getswitchinterval()`` (5 ms), which bounds the lateness a busy interpreter can add.

Promises:

- ``set_sessions(desired)`` takes the whole desired set (key -> ``BfdSessionSpec``). New keys start a session,
  changed timers reconfigure it (a Poll Sequence while Up), removed keys send AdminDown and end the session.
  Keys that share a (local address, peer address) pair share one session, as in FRR; the first key's timers
  win (a warning is logged when they differ).
- ``on_change(BfdChange)`` is called from the BFD thread, once per key, for every state change; it must not
  block (the speaker bridges it to asyncio with ``loop.call_soon_threadsafe``).
- Wire rules (RFC 5881): packets go to UDP port 3784 from one source port per address family chosen in
  49152-65535, with TTL / hop limit 255 and DSCP CS6; a received packet whose TTL / hop limit is not 255 is
  dropped (GTSM, RFC 5881 §5), as is anything ``ControlPacket.decode`` refuses or no session claims.
- Demultiplexing (RFC 5880 §6.8.6): by Your Discriminator when nonzero (the source address must still be the
  session's peer), otherwise by (destination address, source address), then by source address alone.
- ``stop()`` sends AdminDown on every session, closes the sockets and joins the thread.

Not here: the Echo function, multihop (UDP 4784), authentication, IPv6 link-local peers (no interface index
is tracked) and VRFs; see docs/bfd.md. Linux only (``IP_PKTINFO``, ``IP_RECVTTL``).
"""

from __future__ import annotations

import contextlib
import enum
import heapq
import ipaddress
import logging
import random
import selectors
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Self, TypeVar

from crds.config import BFDProfileConfig
from speaker.bfd.packet import BfdDecodeError, ControlPacket, State, diag_name
from speaker.bfd.session import Output, Session, Timers

_log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Key = TypeVar("Key", bound=Hashable)

CONTROL_PORT = 3784  # RFC 5881 §4: single-hop BFD Control packets
SOURCE_PORTS = range(49152, 65536)  # RFC 5881 §4: the source port MUST be in 49152-65535
GTSM_TTL = 255  # RFC 5881 §5: sent with TTL/hop limit 255, and only 255 is accepted
DSCP_CS6 = 0xC0  # network control traffic class, as FRR and most routers mark BFD
DEFAULT_INTERVAL_MS = 300  # MetalLB's documented BFDProfile defaults (receive/transmit interval)
DEFAULT_DETECT_MULTIPLIER = 3


class _Linux(enum.IntEnum):
    """Socket options the stdlib does not name (linux/in.h, linux/in6.h)."""

    IP_TTL = 2
    IP_PKTINFO = 8
    IP_RECVTTL = 12
    IPV6_RECVPKTINFO = 49
    IPV6_PKTINFO = 50
    IPV6_RECVHOPLIMIT = 51
    IPV6_HOPLIMIT = 52
    IPV6_UNICAST_HOPS = 16
    IPV6_TCLASS = 67
    SO_TIMESTAMPNS = 35  # asm-generic/socket.h; also the SCM_TIMESTAMPNS control message type


class BfdError(RuntimeError):
    """The BFD runtime cannot run (for example, UDP port 3784 is taken); the message says what to do."""


@dataclass(frozen=True, slots=True)
class BfdSessionSpec:
    """One wanted session. Intervals in milliseconds, as in a BFDProfile.

    ``local_address`` None lets the kernel choose the source address (and accepts the peer's packets on any
    local address); give the BGP session's local address when known, so replies leave from it.
    """

    peer_address: IPAddress
    local_address: IPAddress | None = None
    receive_interval_ms: int = DEFAULT_INTERVAL_MS
    transmit_interval_ms: int = DEFAULT_INTERVAL_MS
    detect_multiplier: int = DEFAULT_DETECT_MULTIPLIER
    passive: bool = False

    def __post_init__(self) -> None:
        if self.local_address is not None and self.local_address.version != self.peer_address.version:
            raise ValueError(f"BFD peer {self.peer_address} and local address {self.local_address} differ in family")
        self.timers()  # validates the ranges

    @classmethod
    def from_profile(
        cls, profile: BFDProfileConfig | None, *, peer_address: IPAddress, local_address: IPAddress | None = None
    ) -> Self:
        """The spec for a BGP peer with ``bfdProfile`` (None: MetalLB's defaults, 300 ms x 3).

        ``echoMode``/``echoInterval`` and ``minimumTtl`` are not represented: the echo function is not
        implemented (report it), and ``minimumTtl`` applies to multihop sessions only (single hop requires 255).
        """
        if profile is None:
            return cls(peer_address=peer_address, local_address=local_address)
        return cls(
            peer_address=peer_address,
            local_address=local_address,
            receive_interval_ms=profile.receive_interval or DEFAULT_INTERVAL_MS,
            transmit_interval_ms=profile.transmit_interval or DEFAULT_INTERVAL_MS,
            detect_multiplier=profile.detect_multiplier or DEFAULT_DETECT_MULTIPLIER,
            passive=profile.passive_mode,
        )

    def timers(self) -> Timers:
        return Timers(
            desired_min_tx_us=self.transmit_interval_ms * 1000,
            required_min_rx_us=self.receive_interval_ms * 1000,
            detect_mult=self.detect_multiplier,
        )


@dataclass(frozen=True, slots=True)
class BfdChange(Generic[Key]):
    """The session for ``key`` moved from ``previous`` to ``state``; ``diag`` is our reason (RFC 5880 §4.1);
    ``remote_state`` is what the peer last said; ``at`` is the manager's clock (monotonic seconds).

    For the BGP session: tear it down when ``path_failed`` (Down after Up, for any reason but the peer's
    AdminDown, which RFC 5882 §3.2 says must not be taken as a path failure)."""

    key: Key
    peer_address: IPAddress
    previous: State
    state: State
    diag: int
    at: float
    remote_state: State = State.DOWN

    @property
    def path_failed(self) -> bool:
        return self.previous == State.UP and self.state == State.DOWN and self.remote_state != State.ADMIN_DOWN

    @property
    def diag_name(self) -> str:
        return diag_name(self.diag)


@dataclass(frozen=True, slots=True)
class BfdSessionStats:
    """Per-session counters, named after MetalLB's ``metallb_bfd_*`` metrics (label ``peer`` = peer address)."""

    peer_address: IPAddress
    state: State
    session_up: bool  # metallb_bfd_session_up
    control_packet_input: int  # metallb_bfd_control_packet_input
    control_packet_output: int  # metallb_bfd_control_packet_output
    session_up_events: int  # metallb_bfd_session_up_events
    session_down_events: int  # metallb_bfd_session_down_events
    detection_time_ms: float
    tx_interval_ms: float
    last_received_at: float | None  # manager clock (monotonic s) of the last accepted packet's arrival


_Endpoint = tuple[IPAddress | None, IPAddress]  # (local, peer)


@dataclass(eq=False)
class _Entry(Generic[Key]):
    """One running session and everything the thread keeps for it."""

    endpoint: _Endpoint
    spec: BfdSessionSpec
    core: Session
    keys: list[Key]
    armed: float | None = None  # the deadline last pushed on the timer heap
    packets_in: int = 0
    packets_out: int = 0
    up_events: int = 0
    down_events: int = 0
    last_received_at: float | None = None
    closed: bool = False


@dataclass
class _Sockets:
    rx: socket.socket
    tx: socket.socket
    source_port: int


@dataclass
class _Shared(Generic[Key]):
    """What other threads read or hand over; guarded by ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    desired: dict[Key, BfdSessionSpec] | None = None  # None: nothing new since the thread last looked
    states: dict[Key, State] = field(default_factory=dict)
    stats: dict[Key, BfdSessionStats] = field(default_factory=dict)


class BfdManager(Generic[Key]):
    """All BFD sessions of the process; see the module docstring."""

    def __init__(
        self,
        *,
        on_change: Callable[[BfdChange[Key]], None],
        port: int = CONTROL_PORT,
        peer_port: int = CONTROL_PORT,
        bind_v4: str = "0.0.0.0",
        bind_v6: str | None = "::",
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        """``port``/``peer_port``/``bind_*`` exist for tests and benchmarks that run two managers on one host;
        the speaker uses the defaults (RFC 5881). ``bind_v6`` None runs IPv4 only."""
        self._on_change = on_change
        self._port, self._peer_port = port, peer_port
        self._bind = {4: bind_v4, 6: bind_v6}
        self._clock = clock
        self._rng = rng or random.Random()
        self._log = logger or _log
        self._shared: _Shared[Key] = _Shared()
        self._sockets: dict[int, _Sockets] = {}
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # Thread-owned state (only the BFD thread touches these once started).
        self._entries: dict[_Endpoint, _Entry[Key]] = {}
        self._by_key: dict[Key, _Entry[Key]] = {}
        self._by_disc: dict[int, _Entry[Key]] = {}
        self._heap: list[tuple[float, int, _Entry[Key]]] = []
        self._seq = 0
        self.dropped: Counter[str] = Counter()  # discarded packets by reason (read-only outside the thread)

    # ---- the API the speaker calls (any thread) ------------------------------------------------------------

    def start(self) -> None:
        """Open the sockets and start the thread; raises ``BfdError`` when the sockets cannot be opened."""
        if self._thread is not None:
            return
        self._open(4, socket.AF_INET)
        if self._bind[6] is not None:
            try:
                self._open(6, socket.AF_INET6)
            except BfdError as exc:
                if socket.has_ipv6 and "Address family not supported" not in str(exc):
                    self._close_sockets()
                    raise
                self._log.warning("BFD over IPv6 disabled: %s", exc, extra={"op": "bfd", "event": "noIPv6"})
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        for fam, socks in self._sockets.items():
            socks.rx.setblocking(False)
            self._selector.register(socks.rx, selectors.EVENT_READ, fam)
        self._thread = threading.Thread(target=self._run, name="bfd", daemon=True)
        self._thread.start()

    def set_sessions(self, desired: Mapping[Key, BfdSessionSpec]) -> None:
        """Replace the whole desired set (an empty mapping ends every session with AdminDown)."""
        with self._shared.lock:
            self._shared.desired = dict(desired)
        self._wake()

    def state(self, key: Key) -> State | None:
        """The session's state as last seen by the thread; None for a key not (yet) running."""
        with self._shared.lock:
            return self._shared.states.get(key)

    def stats(self) -> dict[Key, BfdSessionStats]:
        """Counters per key (keys sharing a session report the same figures)."""
        with self._shared.lock:
            return dict(self._shared.stats)

    def stop(self) -> None:
        """Send AdminDown on every session, close the sockets, join the thread. Idempotent."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake()
        self._thread.join()
        self._thread = None
        self._selector.close()
        self._close_sockets()
        self._wake_r.close()
        self._wake_w.close()

    # ---- sockets ----------------------------------------------------------------------------------------------

    def _open(self, fam: int, af: socket.AddressFamily) -> None:
        rx = tx = None
        try:
            rx = socket.socket(af, socket.SOCK_DGRAM)
            rx.setsockopt(socket.SOL_SOCKET, _Linux.SO_TIMESTAMPNS, 1)
            if fam == 4:
                rx.setsockopt(socket.IPPROTO_IP, _Linux.IP_RECVTTL, 1)
                rx.setsockopt(socket.IPPROTO_IP, _Linux.IP_PKTINFO, 1)
            else:
                rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                rx.setsockopt(socket.IPPROTO_IPV6, _Linux.IPV6_RECVHOPLIMIT, 1)
                rx.setsockopt(socket.IPPROTO_IPV6, _Linux.IPV6_RECVPKTINFO, 1)
            rx.bind((self._bind[fam], self._port))
            tx = socket.socket(af, socket.SOCK_DGRAM)
            if fam == 4:
                tx.setsockopt(socket.IPPROTO_IP, _Linux.IP_TTL, GTSM_TTL)
                tx.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, DSCP_CS6)
            else:
                tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                tx.setsockopt(socket.IPPROTO_IPV6, _Linux.IPV6_UNICAST_HOPS, GTSM_TTL)
                tx.setsockopt(socket.IPPROTO_IPV6, _Linux.IPV6_TCLASS, DSCP_CS6)
            port = self._bind_source_port(tx, "0.0.0.0" if fam == 4 else "::")
            tx.setblocking(False)
        except OSError as exc:
            for s in (rx, tx):
                if s is not None:
                    s.close()
            where = f"[{self._bind[fam]}]:{self._port}" if fam == 6 else f"{self._bind[fam]}:{self._port}"
            raise BfdError(f"cannot open the BFD socket on UDP {where}: {exc.strerror or exc}") from exc
        self._sockets[fam] = _Sockets(rx, tx, port)

    def _bind_source_port(self, sock: socket.socket, host: str) -> int:
        # RFC 5881 §4: one source port per session from 49152-65535; we use one per address family for all.
        start = self._rng.randrange(len(SOURCE_PORTS))
        for i in range(len(SOURCE_PORTS)):
            port = SOURCE_PORTS[(start + i) % len(SOURCE_PORTS)]
            try:
                sock.bind((host, port))
            except OSError:
                if i >= 64:
                    raise
                continue
            return port
        raise OSError("no free source port in 49152-65535")

    def _close_sockets(self) -> None:
        for socks in self._sockets.values():
            socks.rx.close()
            socks.tx.close()
        self._sockets.clear()

    def _wake(self) -> None:
        # A full buffer means a wake-up is already pending; a closed socket means we are stopped.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # ---- the thread ------------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                timeout = None
                if self._heap:
                    timeout = max(0.0, self._heap[0][0] - self._clock())
                # Read every ready socket before any timer fires: after a stall (the process descheduled,
                # the GIL held elsewhere) packets that arrived in time are still queued, and their kernel
                # timestamps must reset detection before expiry is judged. A wake-up by timeout alone reads
                # nothing: each socket call gives the GIL away, which costs a busy interpreter milliseconds.
                for key, _ in self._selector.select(timeout):
                    if key.data is None:
                        self._drain_wake()
                    else:
                        self._receive_all(key.data)
                self._apply_desired()
                self._fire_timers()
        except Exception:  # a bug: say so loudly, the speaker's health check sees the dead thread
            self._log.exception("BFD thread failed", extra={"op": "bfd", "event": "threadFailed"})
            raise
        finally:
            self._shutdown_sessions()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(512):
                pass
        except BlockingIOError:
            pass

    def _apply_desired(self) -> None:
        with self._shared.lock:
            desired, self._shared.desired = self._shared.desired, None
        if desired is None:
            return
        now = self._clock()
        wanted: dict[_Endpoint, tuple[BfdSessionSpec, list[Key]]] = {}
        for key, spec in desired.items():
            ep: _Endpoint = (spec.local_address, spec.peer_address)
            if ep in wanted:
                first = wanted[ep][0]
                if first != spec:
                    self._log.warning(
                        "BFD keys %r and %r share peer %s with different settings; the first one's apply",
                        wanted[ep][1][0],
                        key,
                        spec.peer_address,
                        extra={"op": "bfd", "event": "sharedSessionConflict", "peer": str(spec.peer_address)},
                    )
                wanted[ep][1].append(key)
            else:
                wanted[ep] = (spec, [key])
        for ep, old in list(self._entries.items()):
            if ep not in wanted:
                self._end(old, now)
        for ep, (spec, keys) in wanted.items():
            entry = self._entries.get(ep)
            if entry is None:
                self._begin(ep, spec, keys, now)
                continue
            for gone in set(entry.keys) - set(keys):
                self._by_key.pop(gone, None)
                with self._shared.lock:
                    self._shared.states.pop(gone, None)
                    self._shared.stats.pop(gone, None)
            added = [k for k in keys if k not in entry.keys]
            entry.keys = keys
            for k in keys:
                self._by_key[k] = entry
            if spec != entry.spec:
                entry.spec = spec
                self._handle(entry, entry.core.reconfigure(now, spec.timers(), passive=spec.passive), now)
            self._publish(entry)
            # A key that joins a running session hears where it stands now.
            for k in added:
                self._emit(entry, k, State.DOWN, entry.core.state, entry.core.diag, now, only_if_differs=True)

    def _begin(self, ep: _Endpoint, spec: BfdSessionSpec, keys: list[Key], now: float) -> None:
        disc = 0
        while disc == 0 or disc in self._by_disc:
            disc = self._rng.randrange(1, 2**32)
        if spec.peer_address.version not in self._sockets:
            self._log.error(
                "BFD peer %s: no IPv%d socket",
                spec.peer_address,
                spec.peer_address.version,
                extra={"op": "bfd", "event": "noSocket", "peer": str(spec.peer_address)},
            )
        core = Session(
            local_discriminator=disc, timers=spec.timers(), now=now, random=self._rng.random, passive=spec.passive
        )
        entry: _Entry[Key] = _Entry(ep, spec, core, list(keys))
        self._entries[ep] = entry
        self._by_disc[disc] = entry
        for k in keys:
            self._by_key[k] = entry
        self._log.info(
            "BFD session to %s started",
            spec.peer_address,
            extra={"op": "bfd", "event": "sessionStarted", "peer": str(spec.peer_address), "discriminator": disc},
        )
        self._publish(entry)
        self._arm(entry)

    def _end(self, entry: _Entry[Key], now: float) -> None:
        self._handle(entry, entry.core.admin_down(now), now, notify=False)
        entry.closed = True
        del self._entries[entry.endpoint]
        self._by_disc.pop(entry.core.local_discriminator, None)
        with self._shared.lock:
            for k in entry.keys:
                self._shared.states.pop(k, None)
                self._shared.stats.pop(k, None)
        for k in entry.keys:
            if self._by_key.get(k) is entry:
                del self._by_key[k]
        self._log.info(
            "BFD session to %s removed",
            entry.spec.peer_address,
            extra={"op": "bfd", "event": "sessionRemoved", "peer": str(entry.spec.peer_address)},
        )

    def _shutdown_sessions(self) -> None:
        now = self._clock()
        for entry in list(self._entries.values()):
            self._handle(entry, entry.core.admin_down(now), now)
        with self._shared.lock:
            self._shared.states.clear()

    def _fire_timers(self) -> None:
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            deadline, _, entry = heapq.heappop(self._heap)
            if entry.closed or entry.armed != deadline:
                continue  # superseded: the session re-armed with another deadline since
            entry.armed = None
            self._handle(entry, entry.core.tick(now), now)

    def _arm(self, entry: _Entry[Key]) -> None:
        deadline = entry.core.next_deadline()
        if deadline is None or deadline == entry.armed or entry.closed:
            entry.armed = deadline if not entry.closed else None
            return
        entry.armed = deadline
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, entry))

    def _receive_all(self, fam: int) -> None:
        socks = self._sockets[fam]
        for _ in range(4096):  # bounded, so timers still fire under a flood
            try:
                data, anc, _flags, addr = socks.rx.recvmsg(128, 256)
            except BlockingIOError:
                return
            except OSError as exc:
                self._log.warning("BFD receive failed: %s", exc, extra={"op": "bfd", "event": "receiveError"})
                return
            self._receive(fam, data, anc, addr[0])

    def _receive(self, fam: int, data: bytes, anc: list[tuple[int, int, bytes]], src: str) -> None:
        ttl: int | None = None
        dst: IPAddress | None = None
        now = self._clock()
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == _Linux.SO_TIMESTAMPNS and len(payload) >= 16:
                now = self._arrival(now, payload)
            if fam == 4 and level == socket.IPPROTO_IP and kind == _Linux.IP_TTL and len(payload) >= 4:
                ttl = struct.unpack("=i", payload[:4])[0]
            elif fam == 4 and level == socket.IPPROTO_IP and kind == _Linux.IP_PKTINFO and len(payload) >= 12:
                dst = ipaddress.IPv4Address(payload[8:12])
            elif fam == 6 and level == socket.IPPROTO_IPV6 and kind == _Linux.IPV6_HOPLIMIT and len(payload) >= 4:
                ttl = struct.unpack("=i", payload[:4])[0]
            elif fam == 6 and level == socket.IPPROTO_IPV6 and kind == _Linux.IPV6_PKTINFO and len(payload) >= 16:
                dst = ipaddress.IPv6Address(payload[:16])
        if ttl != GTSM_TTL:
            self.dropped["ttl-not-255"] += 1
            return
        try:
            pkt = ControlPacket.decode(data)
        except BfdDecodeError as exc:
            self.dropped[exc.reason.name.lower().replace("_", "-")] += 1
            return
        peer = ipaddress.ip_address(src.split("%", 1)[0])
        if pkt.your_discriminator:
            entry = self._by_disc.get(pkt.your_discriminator)
            if entry is None or entry.spec.peer_address != peer:
                self.dropped["unknown-discriminator"] += 1
                return
        else:
            entry = self._entries.get((dst, peer)) or self._entries.get((None, peer))
            if entry is None:
                self.dropped["no-session"] += 1
                return
        entry.packets_in += 1
        entry.last_received_at = now
        out = entry.core.receive(now, pkt)
        if out.dropped is not None:
            self.dropped[out.dropped.name.lower().replace("_", "-")] += 1
        self._handle(entry, out, now)

    @staticmethod
    def _arrival(now: float, timespec: bytes) -> float:
        """When the kernel received the packet, on our clock. Detection counts from arrival, not from when this
        thread got the GIL to read it; the kernel stamps wall-clock time, so the age is taken against
        ``time.time()`` and a wall clock step (age negative or over a second) falls back to ``now``."""
        sec, nsec = struct.unpack("=qq", timespec[:16])
        age = time.time() - (sec + nsec / 1e9)
        return now - age if 0.0 <= age < 1.0 else now

    def _handle(self, entry: _Entry[Key], out: Output, now: float, *, notify: bool = True) -> None:
        # Order matters under a busy interpreter: every socket write or log line may give the GIL away, so the
        # state change reaches the callback first, then the packets go out, then the logs are written.
        for change in out.changes:
            if change.state == State.UP:
                entry.up_events += 1
            elif change.previous == State.UP:
                entry.down_events += 1
        self._publish(entry)
        if notify:
            for change in out.changes:
                for k in list(entry.keys):
                    self._emit(entry, k, change.previous, change.state, change.diag, now)
        for pkt in out.packets:
            self._send(entry, pkt)
        if out.packets:
            self._publish(entry)
        for change in out.changes:
            self._log.info(
                "BFD session to %s: %s -> %s (%s)",
                entry.spec.peer_address,
                change.previous.name,
                change.state.name,
                diag_name(change.diag),
                extra={
                    "op": "bfd",
                    "event": "sessionState",
                    "peer": str(entry.spec.peer_address),
                    "state": change.state.name,
                    "diag": diag_name(change.diag),
                },
            )
        self._arm(entry)

    def _emit(
        self,
        entry: _Entry[Key],
        key: Key,
        previous: State,
        state: State,
        diag: int,
        now: float,
        *,
        only_if_differs: bool = False,
    ) -> None:
        if only_if_differs and previous == state:
            return
        change = BfdChange(key, entry.spec.peer_address, previous, state, diag, now, entry.core.remote_state)
        try:
            self._on_change(change)
        except Exception:  # the callback's bug must not stop every session's timers
            self._log.exception("BFD on_change callback failed", extra={"op": "bfd", "event": "callbackFailed"})

    def _send(self, entry: _Entry[Key], pkt: ControlPacket) -> None:
        peer = entry.spec.peer_address
        socks = self._sockets.get(peer.version)
        if socks is None:
            self.dropped["no-socket"] += 1
            return
        anc = []
        local = entry.spec.local_address
        if local is not None:
            if local.version == 4:
                anc.append((socket.IPPROTO_IP, int(_Linux.IP_PKTINFO), struct.pack("=I4s4s", 0, local.packed, b"")))
            else:
                anc.append((socket.IPPROTO_IPV6, int(_Linux.IPV6_PKTINFO), struct.pack("=16sI", local.packed, 0)))
        try:
            socks.tx.sendmsg([pkt.encode()], anc, 0, (str(peer), self._peer_port))
        except OSError as exc:
            # Unreachable peer, address not (yet) local, full buffer: the session's timers cope; count it.
            self.dropped[f"send-{exc.errno}"] += 1
            return
        entry.packets_out += 1

    def _publish(self, entry: _Entry[Key]) -> None:
        core = entry.core
        stats = BfdSessionStats(
            peer_address=entry.spec.peer_address,
            state=core.state,
            session_up=core.state == State.UP,
            control_packet_input=entry.packets_in,
            control_packet_output=entry.packets_out,
            session_up_events=entry.up_events,
            session_down_events=entry.down_events,
            detection_time_ms=core.detection_time_us / 1000,
            tx_interval_ms=core.tx_interval_us / 1000,
            last_received_at=entry.last_received_at,
        )
        with self._shared.lock:
            for k in entry.keys:
                self._shared.states[k] = core.state
                self._shared.stats[k] = stats
