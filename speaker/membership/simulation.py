"""A deterministic network of ``Core`` members on fake time, for tests and benchmarks.

Every datagram is really sealed, sent through the simulated network and opened, so the simulation exercises the
same bytes as production. The network has per-datagram latency, random loss, partitions and per-member stalls (a
member whose thread does not run for a while: datagrams wait in its socket buffer and its timers are late, as a
busy process experiences). All randomness comes from one seed, so a run is exactly reproducible.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from speaker.membership.core import Addr, Core, Effects, Transition
from speaker.membership.timers import Timers

__all__ = ["Observed", "SimMember", "SimNet"]

WALL_EPOCH_MS = 1_790_000_000_000  # the simulated wall clock at t=0 (boot_ms of members started then)


@dataclass(frozen=True, slots=True)
class Observed:
    """``observer`` saw ``transition`` at simulated time ``t``."""

    t: float
    observer: str
    transition: Transition


@dataclass(slots=True)
class SimMember:
    name: str
    addr: Addr
    core: Core | None
    stalled_until: float = 0.0
    backlog: list[tuple[Addr, bytes]] = field(default_factory=list)
    tick_at: float = float("inf")
    sent: int = 0
    received: int = 0


class SimNet:
    """Members on one simulated LAN (see the module docstring)."""

    def __init__(
        self,
        *,
        seed: int = 1,
        timers: Timers | None = None,
        key: bytes | None = b"c2VjcmV0LWtleS1mb3ItdGVzdHM",
        loss: float = 0.0,
        latency: tuple[float, float] = (0.0002, 0.0006),
    ) -> None:
        self.rng = random.Random(seed)
        self.timers = timers or Timers()
        self.key = key
        self.loss = loss
        self.latency = latency
        self.now = 0.0
        self.members: dict[str, SimMember] = {}
        self.observed: list[Observed] = []
        self.blocked: set[tuple[str, str]] = set()
        self.lag: dict[str, float] = {}  # extra one-way latency of datagrams to and from a member
        self._queue: list[tuple[float, int, str, str, Addr, bytes]] = []
        self._seq = itertools.count()
        self._by_addr: dict[Addr, str] = {}

    # ----------------------------------------------------------------------------------------------- setup

    def peers(self) -> dict[str, Addr]:
        return {m.name: m.addr for m in self.members.values()}

    def add(self, names: Iterable[str]) -> None:
        """Create members (not yet running); call ``start`` to boot them all with the full peer list."""
        for name in names:
            addr = (f"198.51.100.{len(self.members) + 1}", 7946)
            self.members[name] = SimMember(name, addr, None)
            self._by_addr[addr] = name

    def boot(self, name: str, *, key: bytes | None = None, use_key: bool = True, clock_offset_ms: int = 0) -> None:
        """Start (or restart) ``name`` now with a new boot id; its wall clock is off by ``clock_offset_ms``."""
        m = self.members[name]
        m.core = Core(
            name=name,
            boot_ms=WALL_EPOCH_MS + int(self.now * 1000) + clock_offset_ms,
            boot_id=self.rng.randbytes(8),
            key=(key if key is not None else self.key) if use_key else None,
            timers=self.timers,
            rng=random.Random(self.rng.getrandbits(64)),
            now=self.now,
        )
        m.stalled_until = 0.0
        m.backlog.clear()
        self._apply(m, m.core.set_peers(self.now, self.peers()))
        self._apply(m, m.core.tick(self.now))

    def start(self, names: Iterable[str]) -> None:
        names = list(names)
        self.add(names)
        for n in names:
            self.boot(n)

    # ----------------------------------------------------------------------------------------------- faults

    def crash(self, name: str) -> None:
        """The member's process dies: it sends nothing more, and what is sent to it is lost."""
        m = self.members[name]
        m.core = None
        m.tick_at = float("inf")

    def leave(self, name: str) -> None:
        m = self.members[name]
        assert m.core is not None
        self._apply(m, m.core.leave(self.now))

    def stall(self, name: str, duration: float) -> None:
        """The member's thread does not run for ``duration``: datagrams queue, timers wait."""
        m = self.members[name]
        m.stalled_until = max(m.stalled_until, self.now + duration)
        self._push(m.stalled_until, name, "wake", ("", 0), b"")

    def slow(self, name: str, answer_delay: float) -> None:
        """Every datagram to or from ``name`` takes ``answer_delay / 2`` longer: it answers that late."""
        self.lag[name] = answer_delay / 2

    def partition(self, *groups: Iterable[str]) -> None:
        """Drop every datagram between members of different groups."""
        sets = [set(g) for g in groups]
        self.blocked = {(a, b) for ga in sets for gb in sets if ga is not gb for a in ga for b in gb}

    def heal(self) -> None:
        self.blocked = set()

    def inject(self, name: str, src: Addr, data: bytes) -> None:
        """Deliver raw bytes to ``name`` now (hostile-input tests)."""
        self._deliver(self.members[name], src, data)

    # ----------------------------------------------------------------------------------------------- run

    def run(self, duration: float) -> None:
        """Advance simulated time by ``duration``."""
        end = self.now + duration
        while True:
            nxt = self._next_time()
            if nxt > end:
                break
            self._step()
        self.now = end

    def _next_time(self) -> float:
        t = self._queue[0][0] if self._queue else float("inf")
        for m in self.members.values():
            if m.core is not None and m.tick_at < t and m.stalled_until <= m.tick_at:
                t = m.tick_at
        return t

    def _step(self) -> None:
        qt = self._queue[0][0] if self._queue else float("inf")
        due = None
        for m in self.members.values():
            if (
                m.core is not None
                and m.stalled_until <= m.tick_at
                and m.tick_at < qt
                and (due is None or m.tick_at < due.tick_at)
            ):
                due = m
        if due is not None:
            self.now = due.tick_at
            assert due.core is not None
            self._apply(due, due.core.tick(self.now))
            return
        t, _, dest, kind, src, data = heapq.heappop(self._queue)
        self.now = t
        m = self.members[dest]
        if kind == "wake":
            if m.core is not None and self.now >= m.stalled_until:
                backlog, m.backlog = m.backlog, []
                for bsrc, bdata in backlog:  # the socket is drained before timers run
                    self._apply(m, m.core.receive(self.now, bsrc, bdata))
                self._apply(m, m.core.tick(self.now))
            return
        self._deliver(m, src, data)

    def _deliver(self, m: SimMember, src: Addr, data: bytes) -> None:
        if m.core is None:
            return
        m.received += 1
        if self.now < m.stalled_until:
            m.backlog.append((src, data))
            return
        self._apply(m, m.core.receive(self.now, src, data))

    def _push(self, t: float, dest: str, kind: str, src: Addr, data: bytes) -> None:
        heapq.heappush(self._queue, (t, next(self._seq), dest, kind, src, data))

    def _apply(self, m: SimMember, fx: Effects) -> None:
        for tr in fx.transitions:
            self.observed.append(Observed(self.now, m.name, tr))
        for addr, data in fx.packets:
            m.sent += 1
            dest = self._by_addr.get(addr)
            if dest is None or (m.name, dest) in self.blocked or self.rng.random() < self.loss:
                continue
            lo, hi = self.latency
            lag = self.lag.get(m.name, 0.0) + self.lag.get(dest, 0.0)
            self._push(self.now + lo + self.rng.random() * (hi - lo) + lag, dest, "data", m.addr, data)
        if m.core is not None:
            m.tick_at = m.core.next_deadline()
            if m.stalled_until > self.now:
                m.tick_at = max(m.tick_at, m.stalled_until)

    # ----------------------------------------------------------------------------------------------- views

    def alive(self, name: str) -> frozenset[str]:
        core = self.members[name].core
        assert core is not None
        return core.alive()

    def running(self) -> list[str]:
        return [m.name for m in self.members.values() if m.core is not None]

    def deaths(self, since: float = 0.0) -> list[Observed]:
        """Every DEAD transition observed at or after ``since``."""
        from speaker.membership.wire import State

        return [o for o in self.observed if o.t >= since and o.transition.state is State.DEAD]

    def counters(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for m in self.members.values():
            if m.core is not None:
                total.update(m.core.counters)
        return total

    def dropped(self, name: str) -> Counter[str]:
        core = self.members[name].core
        assert core is not None
        return core.dropped
