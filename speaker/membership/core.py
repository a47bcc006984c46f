"""The failure detector's protocol, sans I/O: SWIM with indirect probes and suspicion, plus Lifeguard.

One ``Core`` is one member. It never reads a clock or touches a socket: the caller drives it with
``tick(now)`` and ``receive(now, src, data)`` and sends the datagrams each call returns, and calls ``tick`` again
by ``next_deadline()``. ``now`` is any monotonic time in seconds; the same inputs give the same outputs (randomness
comes from the ``random.Random`` passed in), so a whole cluster can be simulated exactly on fake time
(``speaker.membership.simulation``).

The protocol (docs/membership.md has the reasoning and the numbers):

* Every ``probe_interval`` a member pings the next member of a shuffled round robin. No ack within
  ``probe_timeout``: it asks ``indirect_checks`` other members to ping the target (PING_REQ); they relay the ack,
  or a NACK when they got none. No ack by the end of the interval: the target becomes *suspect*.
* Lifeguard's local health (``awareness``): a failed probe whose helpers did not even nack, or having to refute a
  suspicion of ourselves, raises our awareness; a successful probe lowers it. Probe interval and timeout are
  scaled by ``1 + awareness``, so a member that is itself slow or cut off stops accusing the others.
* Suspicion lasts between ``suspicion_min`` and ``suspicion_min x suspicion_max_mult``: it starts at the maximum
  and shrinks logarithmically with each *independent* accuser (Lifeguard's dynamic suspicion), reaching the
  minimum after ``suspicion_confirmations``. A crash is confirmed by every prober quickly; a false suspicion from
  one unlucky prober is not, and the suspect has over a second to refute it.
* A member refutes a suspicion or death claim about itself by bumping its incarnation (higher wins). Pings to a
  suspect or dead member always carry that claim first ("buddy system"), so it hears and refutes at once.
* Updates are piggybacked on every datagram, each sent at most ``retransmit_mult x ceil(log10(N+1))`` times, and
  while any are pending a GOSSIP datagram goes to ``gossip_fanout`` random members every ``gossip_interval``.
* Dead (not departed) members are pinged once per ``dead_probe_interval``, so a member wrongly declared dead
  (a healed partition) refutes and is alive again.
* ``leave()`` sends LEAVE to every member directly and repeats until each acks; receivers apply LEFT at once.
* A restarted member starts with a higher incarnation (its wall-clock start time in ms), so it is alive again as
  soon as anyone hears from it.

Membership is closed: only the peers given to ``set_peers`` (from the Kubernetes API) and ourselves are members.
Claims about other names are ignored; pings from them are answered. Newly added peers start *alive* (optimistic:
a peer that is not really there is declared dead within the detection time, whereas starting dead would make us
announce its addresses too).
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from speaker.membership.seal import OVERHEAD, Dropped, DropReason, ReplayGuard, Sealer
from speaker.membership.timers import Timers
from speaker.membership.wire import DecodeError, Message, MsgType, State, Update, decode, encode, update_size

__all__ = ["MAX_DATAGRAM", "Addr", "Core", "Effects", "Transition"]

Addr = tuple[str, int]

MAX_DATAGRAM = 1400
"""Largest datagram we send: below a 1500-byte Ethernet MTU with IPv6 and UDP headers, so nothing fragments."""

_U32 = 1 << 32


@dataclass(frozen=True, slots=True)
class Transition:
    """A member changed state as seen here. ``previous``/``state`` None: not a member (added/removed by
    ``set_peers``). ``at`` is the caller's ``now`` when it happened (for DEAD: when this member declared it)."""

    node: str
    previous: State | None
    state: State | None
    incarnation: int
    at: float


@dataclass(slots=True)
class Effects:
    """What one call produced: datagrams to send and state transitions."""

    packets: list[tuple[Addr, bytes]] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)


@dataclass(slots=True)
class _Suspicion:
    start: float
    k: int  # confirmations needed to reach the minimum timeout
    accusers: set[str]  # independent accusers; the first one does not count as a confirmation
    deadline: float
    latest: float = 0.0  # start + the maximum timeout: no evidence of life postpones death past this


@dataclass(slots=True)
class _Member:
    name: str
    addr: Addr
    incarnation: int
    state: State
    since: float
    accuser: str = ""
    suspicion: _Suspicion | None = None
    heard: float = -math.inf  # when an authenticated datagram from it last arrived


@dataclass(slots=True)
class _Probe:
    target: str
    id: int
    started: float
    timeout_at: float
    deadline: float
    indirect_sent: bool = False
    expected_nacks: int = 0
    nacks: int = 0


@dataclass(slots=True)
class _Relay:
    requester: str
    addr: Addr
    probe: int  # the requester's probe id
    deadline: float


@dataclass(slots=True)
class _Leave:
    id: int
    pending: dict[str, Addr]
    next_at: float


@dataclass(slots=True)
class _Broadcast:
    update: Update
    transmits: int = 0


class Core:
    """One member's protocol state (see the module docstring)."""

    def __init__(
        self,
        *,
        name: str,
        boot_ms: int,
        boot_id: bytes,
        key: bytes | None,
        timers: Timers,
        rng: random.Random,
        now: float,
    ) -> None:
        self.name = name
        self._name_bytes = name.encode()
        self.boot_ms = boot_ms
        self.incarnation = boot_ms
        self.timers = timers.validated()
        self.rng = rng
        self.sealer = Sealer(key, boot_id)
        self.guard = ReplayGuard()
        self.members: dict[str, _Member] = {}
        self.awareness = 0
        self.counters: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.rtts: deque[float] = deque(maxlen=1024)  # recent probe round trips (direct or relayed), seconds
        self._broadcasts: dict[str, _Broadcast] = {}
        self._probe: _Probe | None = None
        self._relays: dict[int, _Relay] = {}
        self._order: list[str] = []
        self._next_id = rng.getrandbits(32)
        # A random phase, so members started together (a rollout) do not probe in lockstep.
        self._next_probe_at = now + rng.random() * timers.probe_interval
        self._next_gossip_at = now
        self._next_dead_probe_at = now + timers.dead_probe_interval
        self._leave: _Leave | None = None
        self._fx = Effects()
        self._broadcast(Update(name, self.incarnation, State.ALIVE))

    # ----------------------------------------------------------------------------------------------- queries

    def alive(self) -> frozenset[str]:
        """Ourselves and every member alive or suspect (a suspect is still a member until declared dead)."""
        live = {m.name for m in self.members.values() if m.state in (State.ALIVE, State.SUSPECT)}
        if self._leave is None:
            live.add(self.name)
        return frozenset(live)

    def states(self) -> dict[str, State]:
        return {m.name: m.state for m in self.members.values()}

    @property
    def leave_done(self) -> bool:
        """True once every member we told about our leave acknowledged it."""
        return self._leave is not None and not self._leave.pending

    def next_deadline(self) -> float:
        """When ``tick`` must next be called (it may be called earlier or more often)."""
        if self._leave is not None:
            return self._leave.next_at if self._leave.pending else math.inf
        times = [self._next_dead_probe_at]
        if self._probe is None:
            times.append(self._next_probe_at)
        else:  # the next probe starts only once this one is over
            times.append(self._probe.deadline if self._probe.indirect_sent else self._probe.timeout_at)
        if self._broadcasts:
            times.append(self._next_gossip_at)
        times.extend(r.deadline for r in self._relays.values())
        times.extend(m.suspicion.deadline for m in self.members.values() if m.suspicion is not None)
        return min(times)

    # ----------------------------------------------------------------------------------------------- commands

    def set_peers(self, now: float, peers: Mapping[str, Addr]) -> Effects:
        """Replace the peer list (node name -> address). Ourselves, if listed, is skipped."""
        for name in list(self.members):
            if name not in peers:
                gone = self.members.pop(name)
                self._broadcasts.pop(name, None)
                self._fx.transitions.append(Transition(name, gone.state, None, gone.incarnation, now))
        for name, addr in peers.items():
            if name == self.name:
                continue
            m = self.members.get(name)
            if m is None:
                self.members[name] = _Member(name, addr, 0, State.ALIVE, now)
                self._fx.transitions.append(Transition(name, None, State.ALIVE, 0, now))
            else:
                m.addr = addr
        return self._flush()

    def leave(self, now: float) -> Effects:
        """Announce a graceful leave: LEAVE (with our LEFT update) to every live member, repeated until acked."""
        if self._leave is None:
            self.incarnation += 1
            left = Update(self.name, self.incarnation, State.LEFT)
            self._broadcasts = {self.name: _Broadcast(left)}
            pending = {m.name: m.addr for m in self.members.values() if m.state in (State.ALIVE, State.SUSPECT)}
            self._leave = _Leave(self._new_id(), pending, now)
            self._probe = None
            self._relays.clear()
        return self.tick(now)

    # ----------------------------------------------------------------------------------------------- time

    def tick(self, now: float) -> Effects:
        """Run every timer that is due at ``now``."""
        if self._leave is not None:
            lv = self._leave
            if lv.pending and now >= lv.next_at:
                for name, addr in lv.pending.items():
                    self._send(addr, name, MsgType.LEAVE, lv.id)
                lv.next_at = now + self.timers.leave_retransmit
            return self._flush()
        self._tick_probe(now)
        for rid, relay in list(self._relays.items()):
            if now >= relay.deadline:
                del self._relays[rid]
                self.counters["nacks_sent"] += 1
                self._send(relay.addr, relay.requester, MsgType.NACK, relay.probe)
        for m in list(self.members.values()):
            s = m.suspicion
            if s is not None and now >= s.deadline:
                if m.heard > s.start and now < s.latest:
                    # It spoke to us after it came under suspicion: slow, not dead. Wait (up to the unconfirmed
                    # maximum) for its refutation instead of declaring it dead. A crashed member says nothing.
                    self.counters["suspicions_postponed"] += 1
                    s.deadline = min(now + self.timers.suspicion_min * self._scale(), s.latest)
                    continue
                self.counters["declared_dead"] += 1
                self._set_state(m, State.DEAD, m.incarnation, now)
                self._broadcast(Update(m.name, m.incarnation, State.DEAD))
        if now >= self._next_gossip_at:
            self._next_gossip_at = now + self.timers.gossip_interval
            if self._broadcasts:
                live = [m for m in self.members.values() if m.state in (State.ALIVE, State.SUSPECT)]
                for m in self.rng.sample(live, min(self.timers.gossip_fanout, len(live))):
                    self.counters["gossip_sent"] += 1
                    self._send(m.addr, m.name, MsgType.GOSSIP, 0)
        if now >= self._next_dead_probe_at:
            self._next_dead_probe_at = now + self.timers.dead_probe_interval
            dead = [m for m in self.members.values() if m.state is State.DEAD]
            if dead:
                m = self.rng.choice(dead)
                self.counters["dead_probes"] += 1
                self._send(m.addr, m.name, MsgType.PING, self._new_id())
        return self._flush()

    def _scale(self) -> int:
        return 1 + self.awareness

    def _tick_probe(self, now: float) -> None:
        t = self.timers
        p = self._probe
        if p is not None and not p.indirect_sent and now >= p.timeout_at:
            self._send_indirect(p, now)
        elif p is not None and now >= p.deadline:
            self._probe = None
            self.counters["probe_failures"] += 1
            if p.expected_nacks == 0 or p.nacks < p.expected_nacks:
                self._adjust_awareness(+1)
            target = self.members.get(p.target)
            if target is not None and target.state in (State.ALIVE, State.SUSPECT):
                self._suspect(target, target.incarnation, self.name, now)
        if self._probe is None and now >= self._next_probe_at:
            target_name = self._next_target()
            self._next_probe_at = now + t.probe_interval * self._scale()
            if target_name is not None:
                m = self.members[target_name]
                pid = self._new_id()
                timeout_at = now + t.probe_timeout * self._scale()
                self._probe = _Probe(target_name, pid, now, timeout_at, now + t.probe_interval * self._scale())
                self.counters["probes"] += 1
                self._send(m.addr, m.name, MsgType.PING, pid)

    def _send_indirect(self, p: _Probe, now: float) -> None:
        p.indirect_sent = True
        # A tick that comes late (our own thread was stalled) must still give helpers their full window.
        p.deadline = max(p.deadline, now + self.timers.probe_interval - self.timers.probe_timeout)
        target = self.members.get(p.target)
        helpers = [
            m for m in self.members.values() if m.state is State.ALIVE and m.name != p.target and m.name != self.name
        ]
        if target is None:
            return
        chosen = self.rng.sample(helpers, min(self.timers.indirect_checks, len(helpers)))
        p.expected_nacks = len(chosen)
        for h in chosen:
            self.counters["ping_reqs_sent"] += 1
            self._send(h.addr, h.name, MsgType.PING_REQ, p.id, target=p.target)

    def _next_target(self) -> str | None:
        for _ in range(2):
            while self._order:
                name = self._order.pop()
                m = self.members.get(name)
                if m is not None and m.state in (State.ALIVE, State.SUSPECT):
                    return name
            self._order = list(self.members)
            self.rng.shuffle(self._order)
        return None

    def _new_id(self) -> int:
        self._next_id = (self._next_id + 1) % _U32
        return self._next_id

    def _adjust_awareness(self, delta: int) -> None:
        self.awareness = max(0, min(self.timers.awareness_max, self.awareness + delta))

    # ----------------------------------------------------------------------------------------------- receive

    def receive(self, now: float, src: Addr, data: bytes) -> Effects:
        """Handle one datagram from ``src``; anything not authentic, valid and fresh is dropped and counted."""
        self.counters["received"] += 1
        try:
            opened = self.sealer.open(data)
            try:
                msg = decode(opened.payload)
            except DecodeError:
                raise Dropped(DropReason.MALFORMED) from None
            if msg.sender == self.name:
                raise Dropped(DropReason.FROM_SELF)
            if msg.dest != self.name:
                raise Dropped(DropReason.WRONG_DESTINATION)
            reason = self.guard.check(msg.sender, msg.boot_ms, opened.boot_id, opened.seq, now)
            if reason is not None:
                raise Dropped(reason)
        except Dropped as drop:
            self.dropped[drop.reason.value] += 1
            return self._flush()
        self.counters["accepted"] += 1
        if self._leave is not None:
            if msg.type is MsgType.ACK and msg.probe == self._leave.id:
                self._leave.pending.pop(msg.sender, None)
            return self._flush()
        self._handle(now, src, msg)
        return self._flush()

    def _handle(self, now: float, src: Addr, msg: Message) -> None:
        sender = self.members.get(msg.sender)
        if sender is not None:
            sender.heard = now
        if sender is not None and msg.incarnation > sender.incarnation:
            # Direct word from a member with a newer incarnation than we know: it is alive (a restart, or a
            # refutation we have not heard yet). A leaver's last incarnation is its LEFT one, so this never
            # resurrects a member that left, only one that came back.
            self._apply(Update(msg.sender, msg.incarnation, State.ALIVE), now)
        for u in msg.updates:
            self._apply(u, now)
        t = msg.type
        if t is MsgType.PING:
            self._send(src, msg.sender, MsgType.ACK, msg.probe)
        elif t is MsgType.PING_REQ:
            target = self.members.get(msg.target)
            if target is None:
                self._send(src, msg.sender, MsgType.NACK, msg.probe)
            else:
                rid = self._new_id()
                self._relays[rid] = _Relay(msg.sender, src, msg.probe, now + self.timers.probe_timeout * self._scale())
                self._send(target.addr, target.name, MsgType.PING, rid)
        elif t is MsgType.ACK:
            p = self._probe
            if p is not None and msg.probe == p.id:
                self._probe = None
                self._adjust_awareness(-1)
                self.rtts.append(now - p.started)
            elif msg.probe in self._relays:
                relay = self._relays.pop(msg.probe)
                self._send(relay.addr, relay.requester, MsgType.ACK, relay.probe)
        elif t is MsgType.NACK:
            if self._probe is not None and msg.probe == self._probe.id:
                self._probe.nacks += 1
        elif t is MsgType.LEAVE:
            self._send(src, msg.sender, MsgType.ACK, msg.probe)

    def _apply(self, u: Update, now: float) -> None:
        if u.name == self.name:
            if u.state is not State.ALIVE and u.incarnation >= self.incarnation:
                self._refute(u.incarnation)
            return
        m = self.members.get(u.name)
        if m is None or u.incarnation < m.incarnation:
            return
        if u.state is State.ALIVE:
            if u.incarnation > m.incarnation:
                self._set_state(m, State.ALIVE, u.incarnation, now)
                self._broadcast(u)
        elif u.state is State.SUSPECT:
            if m.state in (State.ALIVE, State.SUSPECT):
                self._suspect(m, u.incarnation, u.accuser, now)
        elif u.state is State.DEAD:
            if m.state in (State.ALIVE, State.SUSPECT):
                self._set_state(m, State.DEAD, u.incarnation, now)
                self._broadcast(u)
        elif u.state is State.LEFT and m.state is not State.LEFT:
            self._set_state(m, State.LEFT, u.incarnation, now)
            self._broadcast(u)

    def _refute(self, claimed: int) -> None:
        self.counters["refutations"] += 1
        self.incarnation = max(self.incarnation, claimed) + 1
        self._adjust_awareness(+1)
        self._broadcast(Update(self.name, self.incarnation, State.ALIVE))

    def _suspect(self, m: _Member, incarnation: int, accuser: str, now: float) -> None:
        """``accuser`` suspects ``m`` at ``incarnation`` (>= what we know): start or confirm the suspicion."""
        t = self.timers
        if m.state is State.ALIVE or incarnation > m.incarnation or m.suspicion is None:
            if m.state is State.ALIVE:
                self.counters["suspicions"] += 1
                if accuser != self.name:
                    # Probe a freshly suspected member next: if it crashed, our own failure is an independent
                    # confirmation within one interval (the dynamic timeout then drops to its minimum); if it
                    # is fine, our ack changes nothing. Only the order changes, not the probe rate.
                    self._order.append(m.name)
            live = sum(1 for x in self.members.values() if x.state in (State.ALIVE, State.SUSPECT)) + 1
            k = min(t.suspicion_confirmations, max(0, live - 2))
            s = _Suspicion(now, k, {accuser}, 0.0)
            m.accuser = accuser
            m.suspicion = s
            self._set_state(m, State.SUSPECT, incarnation, now)
            self._broadcast(Update(m.name, incarnation, State.SUSPECT, accuser))
        else:
            s = m.suspicion
            if accuser in s.accusers:
                return
            s.accusers.add(accuser)
            self._broadcast(Update(m.name, incarnation, State.SUSPECT, accuser))
        # Lifeguard's local health also stretches our suspicions: a member that knows it is slow (its own acks
        # and nacks arrive late) waits longer before declaring anyone dead; healthy members (awareness 0) decide.
        lo = t.suspicion_min * self._scale()
        hi = lo * t.suspicion_max_mult
        confirmations = len(s.accusers) - 1
        timeout = lo if s.k <= 0 else max(lo, hi - (hi - lo) * math.log(confirmations + 1) / math.log(s.k + 1))
        s.deadline = s.start + timeout
        s.latest = s.start + hi

    def _set_state(self, m: _Member, state: State, incarnation: int, now: float) -> None:
        previous = m.state
        m.incarnation = incarnation
        if state is not State.SUSPECT:
            m.suspicion = None
        if previous is not state:
            m.state = state
            m.since = now
            self._fx.transitions.append(Transition(m.name, previous, state, incarnation, now))

    # ----------------------------------------------------------------------------------------------- send

    def _broadcast(self, u: Update) -> None:
        self._broadcasts[u.name] = _Broadcast(u)

    def _retransmit_limit(self) -> int:
        return self.timers.retransmit_mult * math.ceil(math.log10(len(self.members) + 2))

    def _piggyback(self, dest: str, budget: int) -> tuple[Update, ...]:
        out: list[Update] = []
        m = self.members.get(dest)
        if m is not None and m.state in (State.SUSPECT, State.DEAD):
            # Buddy system: a member we think is suspect or dead hears it first, so it can refute at once.
            first = Update(m.name, m.incarnation, m.state, m.accuser if m.state is State.SUSPECT else "")
            out.append(first)
            budget -= update_size(first)
        if not self._broadcasts:
            return tuple(out)
        limit = self._retransmit_limit()
        for key, b in sorted(self._broadcasts.items(), key=lambda kv: kv[1].transmits):
            if len(out) >= 255:
                break
            if out and b.update.name == dest and b.update.state is out[0].state:
                continue
            size = update_size(b.update)
            if size > budget:
                continue
            budget -= size
            out.append(b.update)
            b.transmits += 1
            if b.transmits >= limit:
                del self._broadcasts[key]
        return tuple(out)

    def _send(self, addr: Addr, dest: str, mtype: MsgType, probe: int, *, target: str = "") -> None:
        # Fixed part of the payload (wire.py), then the frame's header and tag (seal.OVERHEAD).
        fixed = len(self._name_bytes) + 1 + 16 + len(dest.encode()) + 1 + 1 + 4 + 1
        if mtype is MsgType.PING_REQ:
            fixed += 1 + len(target.encode())
        updates = self._piggyback(dest, MAX_DATAGRAM - fixed - OVERHEAD)
        msg = Message(self.name, self.boot_ms, self.incarnation, dest, mtype, probe, target, updates)
        self.counters["sent"] += 1
        self._fx.packets.append((addr, self.sealer.seal(encode(msg))))

    def _flush(self) -> Effects:
        fx, self._fx = self._fx, Effects()
        return fx


def count_states(states: Iterable[State]) -> dict[str, int]:
    """Members per state name (for stats)."""
    counts = {s.name.lower(): 0 for s in State}
    for s in states:
        counts[s.name.lower()] += 1
    return counts
