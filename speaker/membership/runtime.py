"""``Membership``: the failure detector running in its own threads with its own UDP socket.

The protocol (``core.Core``) is driven here by the real monotonic clock, by two threads sharing the socket and the
core under one lock: a receiver blocked in ``recvfrom`` that handles each datagram at once (answering a ping takes
two GIL acquisitions, the fewest possible), and a timer thread that runs commands and timers. Other threads talk to
them only through ``set_peers``, ``leave``, ``stop`` (a command queue and an event) and read ``alive()`` and
``stats`` (immutable snapshots). It never touches asyncio: a reconcile that keeps the speaker's
event loop busy for seconds does not delay a single probe (the GIL still does, by at most a few milliseconds per
switch; docs/membership.md has the measurements).

Promises:

* ``on_change`` is called from a membership thread, once per batch of transitions that changed the alive set,
  never concurrently with itself; an exception it raises is logged and does not stop the detector. Bridge it to
  asyncio with ``loop.call_soon_threadsafe``.
* The timer thread drains every queued datagram before running timers, so after a stall probes whose acks are
  already waiting in the socket do not time out.
* ``alive()`` is a consistent snapshot (ourselves included), safe from any thread.
* ``start()`` lowers the interpreter's GIL switch interval to ``switch_interval`` (1 ms; None leaves it): the one
  process-wide side effect, so the detector's thread gets the GIL within 1 ms of asking.
* No key: frames are checksummed but not authenticated, and a warning is logged at start (as upstream).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import random
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from speaker.membership.core import Addr, Core, Effects, Transition, count_states
from speaker.membership.timers import Timers
from speaker.membership.wire import State

__all__ = ["DEFAULT_PORT", "Membership", "MembershipChange", "MembershipStats", "load_secret_key"]

log = logging.getLogger("pymetallb.speaker.membership")

DEFAULT_PORT = 7946  # memberlist's default, MetalLB's --ml-bindport
_RECV_BUFFER = 1 << 20  # 1 MiB: a stalled thread finds every datagram of a burst still queued
_MAX_BATCH = 512  # datagrams handled per wake-up before timers run again


def load_secret_key(path: str | os.PathLike[str]) -> bytes | None:
    """The membership key from ``--ml-secret-key-path``: a directory holding ``secretkey`` (the Secret
    ``memberlist`` mounted as upstream does) or the file itself. None when missing or empty (unencrypted)."""
    p = Path(path)
    if p.is_dir():
        p = p / "secretkey"
    try:
        content = p.read_bytes().strip()
    except FileNotFoundError:
        return None
    return content or None


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """The alive set changed. ``at`` is ``time.monotonic()`` when it did; ``transitions`` are every state change
    since the previous call (including suspicions that did not change the set)."""

    alive: frozenset[str]
    previous: frozenset[str]
    transitions: tuple[Transition, ...]
    at: float

    @property
    def joined(self) -> frozenset[str]:
        return self.alive - self.previous

    @property
    def departed(self) -> frozenset[str]:
        return self.previous - self.alive

    @property
    def declared_dead_at(self) -> dict[str, float]:
        """Member -> monotonic time this member declared it dead (or applied its leave) in this batch."""
        return {t.node: t.at for t in self.transitions if t.state in (State.DEAD, State.LEFT)}


@dataclass(frozen=True, slots=True)
class MembershipStats:
    """Counters since start (for metrics). ``members`` counts peers by state (ourselves not included)."""

    sent: int
    received: int
    accepted: int
    dropped: Mapping[str, int]
    members: Mapping[str, int]
    probes: int
    probe_failures: int
    suspicions: int
    refutations: int
    declared_dead: int
    awareness: int
    incarnation: int
    send_errors: int
    rtt_p50: float
    """Median round trip of recent successful probes, seconds (ping to ack, relayed ones included)."""
    rtt_p99: float
    rtt_max: float


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class Membership:
    """Run the failure detector for ``node`` on UDP ``bind`` (see the module docstring)."""

    def __init__(
        self,
        *,
        node: str,
        bind: tuple[str, int],
        key: bytes | None,
        timers: Timers = Timers(),  # noqa: B008 - frozen, so one shared default is safe
        on_change: Callable[[MembershipChange], None],
        switch_interval: float | None = 0.001,
    ) -> None:
        self.node = node
        self.bind = bind
        self.timers = timers.validated()
        self._key = key
        self._on_change = on_change
        self._commands: deque[tuple[str, object]] = deque()
        self._lock = threading.Lock()
        self._alive: frozenset[str] = frozenset({node})
        self._pending: list[Transition] = []  # transitions not yet published
        self._unreported: tuple[Transition, ...] = ()  # published, but the alive set did not change yet
        self._left = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None  # timers, commands, draining before each tick
        self._receiver: threading.Thread | None = None  # blocks in recvfrom, answers at once
        self._timer_wake = threading.Event()
        self._sleep_until = 0.0  # the deadline the timer thread sleeps toward
        self._publish_lock = threading.Lock()  # on_change never runs concurrently with itself
        self._sock: socket.socket | None = None
        self._core: Core | None = None
        self._send_errors = 0
        self._switch_interval = switch_interval

    # ----------------------------------------------------------------------------------------------- API

    def start(self) -> None:
        """Bind the socket (raises ``OSError`` if the address is unusable) and start the thread."""
        if self._thread is not None:
            raise RuntimeError("Membership.start() called twice")
        host, port = self.bind
        sock = socket.socket(_family(host), socket.SOCK_DGRAM)
        try:
            if sock.family == socket.AF_INET6:
                with contextlib.suppress(OSError):  # "::" then also serves IPv4 peers (as mapped addresses)
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        if self._key is None:
            log.warning(
                "no membership secret key: membership traffic is not encrypted or authenticated",
                extra={"op": "membership", "event": "noSecretKey"},
            )
        if self._switch_interval is not None and sys.getswitchinterval() > self._switch_interval:
            # A thread waiting for the GIL gets it only after the running thread's switch interval (5 ms by
            # default), and our thread waits once per socket call. A busy event loop would otherwise delay every
            # ack by tens of ms. Costs nothing while our threads sleep (no contention, no switches).
            sys.setswitchinterval(self._switch_interval)
        now = time.monotonic()
        self._core = Core(
            name=self.node,
            boot_ms=time.time_ns() // 1_000_000,
            boot_id=os.urandom(8),
            key=self._key,
            timers=self.timers,
            rng=random.Random(os.urandom(16)),
            now=now,
        )
        self._thread = threading.Thread(target=self._timer_loop, name=f"membership-{self.node}", daemon=True)
        self._receiver = threading.Thread(target=self._receive_loop, name=f"membership-rx-{self.node}", daemon=True)
        self._thread.start()
        self._receiver.start()
        log.info(
            "membership started",
            extra={"op": "membership", "event": "started", "bind": f"{host}:{port}", "encrypted": bool(self._key)},
        )

    @property
    def port(self) -> int:
        """The bound UDP port (useful with port 0)."""
        if self._sock is None:
            raise RuntimeError("not started")
        return int(self._sock.getsockname()[1])

    def set_peers(self, peers: Mapping[str, tuple[str, int]]) -> None:
        """Replace the whole peer list (node name -> (InternalIP, port)); ourselves, if listed, is ignored."""
        self._command("peers", dict(peers))

    def alive(self) -> frozenset[str]:
        """Members alive now (suspects included, ourselves included until we leave)."""
        return self._alive

    def leave(self, timeout: float) -> bool:
        """Tell every member we are leaving and wait up to ``timeout`` s until all acknowledged. True if they did.
        The detector keeps running (only re-sending the leave) until ``stop()``."""
        if self._thread is None:
            return True
        self._command("leave", None)
        return self._left.wait(timeout)

    def stop(self) -> None:
        """Stop the thread and close the socket (no leave: call ``leave`` first for a graceful exit)."""
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        self._timer_wake.set()
        self._wake_receiver()
        thread.join(timeout=5)
        if self._receiver is not None:
            self._receiver.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._thread = None
        self._receiver = None

    @property
    def stats(self) -> MembershipStats:
        core = self._core
        if core is None:
            raise RuntimeError("not started")
        with self._lock:
            c = dict(core.counters)
            rtts = sorted(core.rtts)
            return MembershipStats(
                sent=c.get("sent", 0),
                received=c.get("received", 0),
                accepted=c.get("accepted", 0),
                dropped=dict(core.dropped),
                members=count_states(core.states().values()),
                probes=c.get("probes", 0),
                probe_failures=c.get("probe_failures", 0),
                suspicions=c.get("suspicions", 0),
                refutations=c.get("refutations", 0),
                declared_dead=c.get("declared_dead", 0),
                awareness=core.awareness,
                incarnation=core.incarnation,
                send_errors=self._send_errors,
                rtt_p50=_quantile(rtts, 0.5),
                rtt_p99=_quantile(rtts, 0.99),
                rtt_max=rtts[-1] if rtts else 0.0,
            )

    # ----------------------------------------------------------------------------------------------- thread

    def _command(self, kind: str, arg: object) -> None:
        self._commands.append((kind, arg))
        self._timer_wake.set()

    def _wake_receiver(self) -> None:
        """Unblock the receiver's recvfrom with an empty datagram to our own port (it then sees ``_stopping``)."""
        sock = self._sock
        if sock is None:
            return
        host, port = sock.getsockname()[:2]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        with contextlib.suppress(OSError), socket.socket(sock.family, socket.SOCK_DGRAM) as poke:
            poke.sendto(b"", (host, port))
        with contextlib.suppress(OSError):  # and in case the poke was filtered
            sock.shutdown(socket.SHUT_RDWR)

    def _receive_loop(self) -> None:
        """Block in recvfrom and handle each datagram at once: answering a ping costs two GIL acquisitions (the
        return from recvfrom, the return from sendto), the least a Python thread can do."""
        sock, core = self._sock, self._core
        assert sock is not None and core is not None
        while not self._stopping:
            try:
                data, src = sock.recvfrom(2048)
            except OSError:
                if self._stopping:
                    return
                continue
            if self._stopping:
                return
            try:
                with self._lock:
                    self._apply(sock, core.receive(time.monotonic(), _normalize(src), data))
                    if core.leave_done:
                        self._left.set()
                    if core.next_deadline() < self._sleep_until:
                        self._timer_wake.set()
                self._publish(core)
            except Exception:  # a bug must not silently end failure detection
                log.exception("membership receive error", extra={"op": "membership", "event": "internalError"})

    def _timer_loop(self) -> None:
        sock, core = self._sock, self._core
        assert sock is not None and core is not None
        while not self._stopping:
            try:
                with self._lock:
                    # Datagrams already queued are handled before timers run: after a stall, acks waiting in the
                    # socket must not count as missing.
                    self._drain(sock, core)
                    while self._commands:
                        kind, arg = self._commands.popleft()
                        now = time.monotonic()
                        if kind == "peers":
                            peers: dict[str, tuple[str, int]] = arg  # type: ignore[assignment]
                            self._apply(sock, core.set_peers(now, peers))
                        elif kind == "leave":
                            self._apply(sock, core.leave(now))
                    self._apply(sock, core.tick(time.monotonic()))
                    if core.leave_done:
                        self._left.set()
                    self._sleep_until = core.next_deadline()
                self._publish(core)
                self._timer_wake.wait(max(0.0, min(self._sleep_until - time.monotonic(), 1.0)))
                self._timer_wake.clear()
            except Exception:  # a bug must not silently end failure detection
                log.exception("membership loop error", extra={"op": "membership", "event": "internalError"})
                time.sleep(0.01)

    def _drain(self, sock: socket.socket, core: Core) -> None:
        for _ in range(_MAX_BATCH):
            try:
                data, src = sock.recvfrom(2048, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. an ICMP error reported on the socket: nothing to read
                continue
            self._apply(sock, core.receive(time.monotonic(), _normalize(src), data))

    def _apply(self, sock: socket.socket, fx: Effects) -> None:
        for addr, data in fx.packets:
            try:
                sock.sendto(data, _sockaddr(sock, addr))
            except OSError:
                self._send_errors += 1  # unreachable peer, no route: the protocol treats it as loss
        self._pending.extend(fx.transitions)

    def _publish(self, core: Core) -> None:
        if not self._pending:
            return
        with self._publish_lock:
            with self._lock:
                transitions, self._pending = tuple(self._pending), []
                alive = core.alive()
            if transitions:
                self._report(alive, transitions)

    def _report(self, alive: frozenset[str], transitions: tuple[Transition, ...]) -> None:
        for t in transitions:
            log.info(
                "member %s: %s -> %s",
                t.node,
                t.previous.name.lower() if t.previous is not None else "none",
                t.state.name.lower() if t.state is not None else "removed",
                extra={"op": "membership", "event": "memberState", "node": t.node, "incarnation": t.incarnation},
            )
        previous = self._alive
        self._alive = alive
        if alive == previous:
            self._unreported = (*self._unreported, *transitions)
            return
        change = MembershipChange(alive, previous, (*self._unreported, *transitions), time.monotonic())
        self._unreported = ()
        try:
            self._on_change(change)
        except Exception:
            log.exception("membership on_change callback failed", extra={"op": "membership", "event": "callbackError"})


def _quantile(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))] if xs else 0.0


def _normalize(src: tuple[str, int] | tuple[str, int, int, int]) -> Addr:
    host = src[0]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return (host, src[1])


def _sockaddr(sock: socket.socket, addr: Addr) -> tuple[str, int]:
    host, port = addr
    if sock.family == socket.AF_INET6 and ipaddress.ip_address(host).version == 4:
        return (f"::ffff:{host}", port)
    return (host, port)
