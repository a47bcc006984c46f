"""``Membership``: the failure detector running in its own thread with its own UDP socket.

The protocol (``core.Core``) is driven here by the real monotonic clock. The thread owns the socket and the core;
other threads talk to it only through ``set_peers``, ``leave``, ``stop`` (commands queued and a wake-up pipe) and
read ``alive()`` and ``stats`` (immutable snapshots). It never touches asyncio: a reconcile that keeps the speaker's
event loop busy for seconds does not delay a single probe (the GIL still does, by at most a few milliseconds per
switch; docs/membership.md has the measurements).

Promises:

* ``on_change`` is called from the membership thread, once per batch of transitions that changed the alive set,
  never concurrently with itself; an exception it raises is logged and does not stop the detector. Bridge it to
  asyncio with ``loop.call_soon_threadsafe``.
* Each loop drains every queued datagram before running timers, so a thread that was not scheduled for a while
  does not time out probes whose acks are already waiting in its socket.
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
import select
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
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._wake_r, self._wake_w = -1, -1
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
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        if self._key is None:
            log.warning(
                "no membership secret key: membership traffic is not encrypted or authenticated",
                extra={"op": "membership", "event": "noSecretKey"},
            )
        if self._switch_interval is not None and sys.getswitchinterval() > self._switch_interval:
            # A thread waiting for the GIL gets it only after the running thread's switch interval (5 ms by
            # default), and our thread waits once per socket call. A busy event loop would otherwise delay every
            # ack by tens of ms. Costs nothing while our thread sleeps in select() (no contention, no switches).
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
        self._thread = threading.Thread(target=self._run, name=f"membership-{self.node}", daemon=True)
        self._thread.start()
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
        self._wake()
        thread.join(timeout=5)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._sock is not None:
            self._sock.close()
        self._thread = None

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
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe already means "wake up"
            os.write(self._wake_w, b"x")

    def _run(self) -> None:
        sock, core = self._sock, self._core
        assert sock is not None and core is not None
        fds = [sock.fileno(), self._wake_r]
        while not self._stopping:
            try:
                timeout = max(0.0, min(core.next_deadline() - time.monotonic(), 1.0))
                ready, _, _ = select.select(fds, [], [], timeout)
                if self._wake_r in ready:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_r, 4096)
                with self._lock:
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
                self._publish(core)
            except Exception:  # a bug must not silently end failure detection
                log.exception("membership loop error", extra={"op": "membership", "event": "internalError"})
                time.sleep(0.01)

    def _drain(self, sock: socket.socket, core: Core) -> None:
        for _ in range(_MAX_BATCH):
            try:
                data, src = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP port unreachable reported on the socket: nothing to read
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
        transitions, self._pending = tuple(self._pending), []
        for t in transitions:
            log.info(
                "member %s: %s -> %s",
                t.node,
                t.previous.name.lower() if t.previous is not None else "none",
                t.state.name.lower() if t.state is not None else "removed",
                extra={"op": "membership", "event": "memberState", "node": t.node, "incarnation": t.incarnation},
            )
        alive = core.alive()
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
