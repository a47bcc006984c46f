"""One BFD session's state machine (RFC 5880, asynchronous mode), sans I/O: time and randomness come in.

The runtime drives it with ``tick(now)`` when ``next_deadline()`` passes and ``receive(now, packet)`` for
every Control packet demultiplexed to it; both return an ``Output``: the packets to send now and the state
changes that happened. It never reads a clock, sleeps, logs or touches a socket (an import-linter contract
holds it to that), so tests drive it on fake time.

What it implements, by RFC 5880 section:

- §6.2/§6.8.6: the three-way handshake (Down -> Init -> Up, Down -> Up on Init), AdminDown from the peer
  (``NEIGHBOR_SIGNALED_SESSION_DOWN``), Down from the peer while Up.
- §6.8.1: discriminators; ``bfd.RemoteDiscr`` is learned from My Discriminator and cleared when the
  detection time expires.
- §6.8.3: while not Up, Desired Min TX is advertised as at least one second; on reaching Up the configured
  value is advertised under a Poll Sequence (§6.5). A later ``reconfigure`` while Up also polls. An
  increased TX interval takes effect, and a decreased RX interval counts for detection, only once the Poll
  Sequence ends with a Final.
- §6.8.4: detection time = the peer's Detect Mult x max(our Required Min RX, the peer's Desired Min TX).
- §6.8.7: periodic transmission every max(our Desired Min TX, the peer's Required Min RX), jittered to
  75-100% (75-90% when our Detect Mult is 1); none while the peer's Required Min RX is zero, none in the
  passive role (§6.1) until a packet from the peer gave us its discriminator, none while the peer is in
  Demand mode and both sides are Up; a Poll is answered at once with a Final.
- §6.8.16: ``admin_down`` puts the session in AdminDown with diagnostic ``ADMINISTRATIVELY_DOWN`` and
  sends one packet telling the peer.

Not implemented, deliberately: the Echo function (we advertise Required Min Echo RX = 0, so the peer sends
no echo packets; a BFDProfile's ``echoMode`` is reported as unsupported by the caller), Demand mode on our
side (we never set D), and authentication (packets with the A bit are discarded, §6.8.6).

A packet sent on a local state change goes out at once, outside the periodic schedule, so the handshake
takes one round trip rather than one slow (1 s) interval per step.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from speaker.bfd.packet import ControlPacket, Diag, State

SLOW_TX_US = 1_000_000  # RFC 5880 §6.8.3: at least one second while the session is not Up


class DropReason(enum.Enum):
    """Why the session ignored a packet it was given (RFC 5880 §6.8.6)."""

    AUTH_NOT_CONFIGURED = "A bit set but no authentication configured"
    WRONG_DISCRIMINATOR = "Your Discriminator is not ours"
    ADMIN_DOWN = "the session is administratively down"


@dataclass(frozen=True, slots=True)
class Timers:
    """What the session advertises; intervals in microseconds (RFC 5880 §6.8.1 bfd.DesiredMinTxInterval,
    bfd.RequiredMinRxInterval, bfd.DetectMult)."""

    desired_min_tx_us: int = 300_000
    required_min_rx_us: int = 300_000
    detect_mult: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.desired_min_tx_us < 2**32 or not 0 <= self.required_min_rx_us < 2**32:
            raise ValueError(f"BFD intervals out of range: {self}")
        if not 1 <= self.detect_mult <= 255:
            raise ValueError(f"BFD detect multiplier must be 1-255, got {self.detect_mult}")


@dataclass(frozen=True, slots=True)
class StateChange:
    """The session moved from ``previous`` to ``state``; ``diag`` is our diagnostic (why)."""

    previous: State
    state: State
    diag: int


@dataclass(frozen=True, slots=True)
class Output:
    """What the caller must do now: send ``packets`` (in order) and report ``changes``."""

    packets: tuple[ControlPacket, ...] = ()
    changes: tuple[StateChange, ...] = ()
    dropped: DropReason | None = None


_NOTHING = Output()


@dataclass(slots=True)
class _Poll:
    """A Poll Sequence in flight: the timers it advertises, and what to poll for next once it ends."""

    timers: Timers
    next: Timers | None = None


@dataclass
class Session:
    """The RFC 5880 §6.8.1 state variables of one session and the procedures over them.

    Invariants: ``state`` is UP only after a packet from the peer; ``remote_discriminator`` is 0 whenever
    nothing has been heard since the last detection expiry; ``detect_deadline`` is None unless the state is
    Init or Up; ``next_tx`` is None when we must not transmit periodically.
    """

    local_discriminator: int
    timers: Timers
    now: float
    random: Callable[[], float]  # uniform in [0, 1), for the transmit jitter
    passive: bool = False
    state: State = State.DOWN
    diag: int = Diag.NONE
    remote_state: State = State.DOWN
    remote_discriminator: int = 0
    remote_min_rx_us: int = 1  # RFC 5880 §6.8.1: initialised to 1
    remote_desired_tx_us: int = 0
    remote_detect_mult: int = 0
    remote_demand: bool = False
    # The timers in force: `_tx` paces our packets, `_rx` bounds the detection time; they differ from what
    # we advertise only while a Poll Sequence is in flight (RFC 5880 §6.8.3).
    _advertised: Timers = field(init=False)
    _tx_us: int = field(init=False)
    _rx_us: int = field(init=False)
    _poll: _Poll | None = field(default=None, init=False)
    _last_rx: float | None = field(default=None, init=False)
    detect_deadline: float | None = field(default=None, init=False)
    next_tx: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.local_discriminator < 2**32:
            raise ValueError("the local discriminator must be a nonzero 32-bit value (RFC 5880 §6.8.1)")
        self._advertised = self._slow(self.timers)
        self._tx_us = self._advertised.desired_min_tx_us
        self._rx_us = self._advertised.required_min_rx_us
        self.next_tx = self.now if self._may_transmit() else None

    # ---- what the runtime reads -------------------------------------------------------------------------

    @property
    def advertised(self) -> Timers:
        return self._poll.timers if self._poll is not None else self._advertised

    @property
    def polling(self) -> bool:
        return self._poll is not None

    @property
    def tx_interval_us(self) -> int:
        """The periodic transmit interval before jitter (RFC 5880 §6.8.7)."""
        return max(self._tx_us, self.remote_min_rx_us)

    @property
    def detection_time_us(self) -> int:
        """RFC 5880 §6.8.4, asynchronous mode; 0 until the peer has been heard."""
        return self.remote_detect_mult * max(self._rx_us, self.remote_desired_tx_us)

    def next_deadline(self) -> float | None:
        """When ``tick`` must next be called; None when no timer runs."""
        times = [t for t in (self.next_tx, self.detect_deadline) if t is not None]
        return min(times) if times else None

    # ---- inputs -------------------------------------------------------------------------------------------

    def tick(self, now: float) -> Output:
        """Fire whatever timers are due at ``now``: detection expiry first, then the periodic packet."""
        changes: list[StateChange] = []
        if self.detect_deadline is not None and now >= self.detect_deadline:
            # RFC 5880 §6.8.4: the peer went silent for a detection time.
            self.detect_deadline = None
            self.remote_discriminator = 0  # §6.8.1
            self.remote_state = State.DOWN
            self._last_rx = None
            if self.state in (State.INIT, State.UP):
                changes.append(self._set_state(State.DOWN, Diag.CONTROL_DETECTION_TIME_EXPIRED))
            if not self._may_transmit():
                self.next_tx = None
        packets: list[ControlPacket] = []
        if changes and self._may_transmit():
            packets.append(self._packet())
            self._schedule_tx(now)
        elif self.next_tx is not None and now >= self.next_tx:
            if self._may_transmit():
                packets.append(self._packet())
                self._schedule_tx(now)
            else:
                self.next_tx = None
        if not packets and not changes:
            return _NOTHING
        return Output(tuple(packets), tuple(changes))

    def receive(self, now: float, pkt: ControlPacket) -> Output:
        """RFC 5880 §6.8.6 from step "If the A bit is set" on; the packet already passed ``decode``."""
        if pkt.auth is not None:
            return Output(dropped=DropReason.AUTH_NOT_CONFIGURED)
        if pkt.your_discriminator not in (0, self.local_discriminator):
            return Output(dropped=DropReason.WRONG_DISCRIMINATOR)
        self.remote_discriminator = pkt.my_discriminator
        self.remote_state = pkt.state
        self.remote_demand = pkt.demand
        self.remote_detect_mult = pkt.detect_mult
        self.remote_desired_tx_us = pkt.desired_min_tx_us
        interval_before = self.tx_interval_us
        self.remote_min_rx_us = pkt.required_min_rx_us
        packets: list[ControlPacket] = []
        if pkt.final and self._poll is not None:
            self._end_poll()
        if self.state == State.ADMIN_DOWN:
            return Output(dropped=DropReason.ADMIN_DOWN)
        changes: list[StateChange] = []
        if pkt.state == State.ADMIN_DOWN:
            if self.state != State.DOWN:
                changes.append(self._set_state(State.DOWN, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN))
        elif self.state == State.DOWN:
            if pkt.state == State.DOWN:
                changes.append(self._set_state(State.INIT, Diag.NONE))
            elif pkt.state == State.INIT:
                changes.append(self._set_state(State.UP, Diag.NONE))
        elif self.state == State.INIT:
            if pkt.state in (State.INIT, State.UP):
                changes.append(self._set_state(State.UP, Diag.NONE))
        elif pkt.state == State.DOWN:  # we are Up
            changes.append(self._set_state(State.DOWN, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN))
        # §6.8.6 last step: reset the detection timer (only Init and Up detect failure, §6.8.4).
        self._last_rx = now
        self.detect_deadline = now + self.detection_time_us / 1e6 if self.state in (State.INIT, State.UP) else None
        if pkt.poll:
            # §6.8.7: answer a Poll at once with a Final, P clear.
            packets.append(self._packet(final=True))
        elif changes and self._may_transmit():
            packets.append(self._packet())
        if packets:
            self._schedule_tx(now)
        elif not self._may_transmit():
            self.next_tx = None
        elif self.next_tx is None or self.tx_interval_us != interval_before:
            self._reschedule_tx(now)
        return Output(tuple(packets), tuple(changes))

    def reconfigure(self, now: float, timers: Timers, *, passive: bool | None = None) -> Output:
        """New profile timers; while Up they are advertised under a Poll Sequence (RFC 5880 §6.8.3)."""
        if passive is not None:
            self.passive = passive
        self.timers = timers
        if self.state != State.UP:
            self._advertised = self._slow(timers)
            self._tx_us = self._advertised.desired_min_tx_us
            self._rx_us = self._advertised.required_min_rx_us
            self._refresh_detection()
            if not self._may_transmit():
                self.next_tx = None
            elif self.next_tx is None:
                self._reschedule_tx(now)
            return _NOTHING
        return self._start_poll(now, timers)

    def admin_down(self, now: float) -> Output:
        """RFC 5880 §6.8.16: stop the session and tell the peer with one AdminDown packet."""
        if self.state == State.ADMIN_DOWN:
            return _NOTHING
        change = self._set_state(State.ADMIN_DOWN, Diag.ADMINISTRATIVELY_DOWN)
        self.detect_deadline = None
        self.next_tx = None
        packets = (self._packet(),) if self.remote_discriminator or not self.passive else ()
        return Output(packets, (change,))

    # ---- internals ----------------------------------------------------------------------------------------

    @staticmethod
    def _slow(timers: Timers) -> Timers:
        return Timers(max(timers.desired_min_tx_us, SLOW_TX_US), timers.required_min_rx_us, timers.detect_mult)

    def _may_transmit(self) -> bool:
        if self.state == State.ADMIN_DOWN:
            return False
        if self.passive and self.remote_discriminator == 0:
            return False  # §6.1, §6.8.7: the passive role waits to hear from the peer
        if self.remote_min_rx_us == 0:
            return False  # §6.8.7: the peer wants no periodic packets
        # §6.8.7: Demand mode active on the remote system.
        return not (self.remote_demand and self.state == State.UP and self.remote_state == State.UP)

    def _jittered(self, interval_us: int) -> float:
        # §6.8.7: 75-100% of the interval, or 75-90% when bfd.DetectMult is 1.
        span = 0.15 if self.advertised.detect_mult == 1 else 0.25
        return interval_us * (0.75 + span * self.random()) / 1e6

    def _schedule_tx(self, now: float) -> None:
        self.next_tx = now + self._jittered(self.tx_interval_us) if self._may_transmit() else None

    def _reschedule_tx(self, now: float) -> None:
        """The interval changed: never wait longer than a fresh interval from now."""
        fresh = now + self._jittered(self.tx_interval_us)
        self.next_tx = fresh if self.next_tx is None else min(self.next_tx, fresh)

    def _refresh_detection(self) -> None:
        if self._last_rx is not None and self.state in (State.INIT, State.UP):
            self.detect_deadline = self._last_rx + self.detection_time_us / 1e6

    def _set_state(self, new: State, diag: int) -> StateChange:
        previous = self.state
        self.state = new
        self.diag = diag
        if new == State.UP:
            # §6.8.3: leave the slow start rate, under a Poll Sequence.
            self._start_poll(None, self.timers)
        elif previous == State.UP:
            self._poll = None
            self._advertised = self._slow(self.timers)
            self._tx_us = self._advertised.desired_min_tx_us
            self._rx_us = self._advertised.required_min_rx_us
        return StateChange(previous, new, diag)

    def _start_poll(self, now: float | None, timers: Timers) -> Output:
        if self._poll is not None:
            # §6.5: one Poll Sequence at a time; the newer timers follow when this one ends.
            self._poll.next = timers if timers != self._poll.timers else None
            return _NOTHING
        self._poll = _Poll(timers)
        # §6.8.3: a faster TX and a slower RX may apply at once; the reverse waits for the Final.
        self._tx_us = min(self._tx_us, timers.desired_min_tx_us)
        self._rx_us = max(self._rx_us, timers.required_min_rx_us)
        self._refresh_detection()
        if now is None:  # called from a state change, whose packet (with P) the caller sends
            return _NOTHING
        packet = self._packet()
        self._schedule_tx(now)
        return Output((packet,))

    def _end_poll(self) -> None:
        if self._poll is None:  # callers check; a Final without a Poll is ignored
            return
        done, following = self._poll.timers, self._poll.next
        self._poll = None
        self._advertised = done
        self._tx_us = done.desired_min_tx_us
        self._rx_us = done.required_min_rx_us
        self._refresh_detection()
        if following is not None and self.state == State.UP:
            self._start_poll(None, following)
            # The next periodic packet carries the new Poll; no extra packet is needed.

    def _packet(self, *, final: bool = False) -> ControlPacket:
        adv = self.advertised
        return ControlPacket(
            state=self.state,
            diag=self.diag,
            my_discriminator=self.local_discriminator,
            your_discriminator=self.remote_discriminator,
            detect_mult=adv.detect_mult,
            desired_min_tx_us=adv.desired_min_tx_us,
            required_min_rx_us=adv.required_min_rx_us,
            required_min_echo_rx_us=0,  # no Echo function (module docstring)
            poll=self._poll is not None and not final,
            final=final,
        )
