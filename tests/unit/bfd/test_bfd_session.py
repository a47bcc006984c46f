"""The BFD session core (RFC 5880) on fake time: handshake, timers, detection, Poll/Final, passive role,
AdminDown, and packets it must ignore. Two cores talk through a tiny simulated link with a 1 ms delay."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import pytest

from speaker.bfd.packet import Auth, ControlPacket, Diag, State
from speaker.bfd.session import SLOW_TX_US, DropReason, Output, Session, StateChange, Timers

FAST = Timers(desired_min_tx_us=50_000, required_min_rx_us=50_000, detect_mult=3)
DELAY = 0.001


def session(disc: int, timers: Timers = FAST, *, passive: bool = False, rnd: float = 0.5, now: float = 0.0) -> Session:
    return Session(local_discriminator=disc, timers=timers, now=now, random=lambda: rnd, passive=passive)


class Link:
    """Two sessions and the packets in flight between them; ``up`` False drops everything (a cable cut)."""

    def __init__(self, a: Session, b: Session) -> None:
        self.a, self.b = a, b
        self.now = 0.0
        self.up = {"a": True, "b": True}  # may a / b send?
        self.flight: list[tuple[float, str, ControlPacket]] = []
        self.sent: dict[str, list[tuple[float, ControlPacket]]] = {"a": [], "b": []}
        self.changes: dict[str, list[StateChange]] = {"a": [], "b": []}

    def _out(self, who: str, out: Output) -> None:
        self.changes[who].extend(out.changes)
        for pkt in out.packets:
            self.sent[who].append((self.now, pkt))
            if self.up[who]:
                self.flight.append((self.now + DELAY, "b" if who == "a" else "a", pkt))

    def run_until(self, end: float) -> None:
        while True:
            times = [(t, "deliver") for t, _, _ in self.flight]
            for who, s in (("a", self.a), ("b", self.b)):
                d = s.next_deadline()
                if d is not None:
                    times.append((d, who))
            if not times:
                self.now = end
                return
            t, what = min(times)
            if t > end:
                self.now = end
                return
            self.now = max(self.now, t)
            if what == "deliver":
                self.flight.sort(key=lambda f: f[0])
                _, to, pkt = self.flight.pop(0)
                self._out(to, (self.a if to == "a" else self.b).receive(self.now, pkt))
            else:
                self._out(what, (self.a if what == "a" else self.b).tick(self.now))


def up_pair(ta: Timers = FAST, tb: Timers = FAST) -> Link:
    link = Link(session(1, ta), session(2, tb))
    link.run_until(3.0)
    assert (link.a.state, link.b.state) == (State.UP, State.UP)
    return link


def test_three_way_handshake_brings_both_sides_up() -> None:
    link = Link(session(1), session(2))
    link.run_until(0.1)
    # Both start Down and send at once; each sees Down and goes Init, then each sees Init and goes Up.
    assert [(c.previous, c.state) for c in link.changes["a"]] == [(State.DOWN, State.INIT), (State.INIT, State.UP)]
    assert [(c.previous, c.state) for c in link.changes["b"]] == [(State.DOWN, State.INIT), (State.INIT, State.UP)]
    assert (link.a.remote_discriminator, link.b.remote_discriminator) == (2, 1)
    assert all(c.diag == Diag.NONE for c in link.changes["a"])


def test_one_side_late_goes_down_to_up_directly_on_init() -> None:
    a, b = session(1), session(2)
    first = a.tick(0.0).packets[0]
    reply = b.receive(0.0, first)
    assert reply.changes == (StateChange(State.DOWN, State.INIT, Diag.NONE),)
    out = a.receive(0.001, reply.packets[0])
    assert out.changes == (StateChange(State.DOWN, State.UP, Diag.NONE),)


def test_packets_before_up_advertise_the_one_second_slow_rate_and_are_spaced_by_it() -> None:
    a = session(1, rnd=0.0)  # jitter at its low bound, 75%
    pkts = []
    now = 0.0
    for _ in range(3):
        now = a.next_deadline() or 0.0
        pkts.extend((now, p) for p in a.tick(now).packets)
    assert all(p.desired_min_tx_us == SLOW_TX_US and p.state == State.DOWN for _, p in pkts)
    assert [round(t, 6) for t, _ in pkts] == [0.0, 0.75, 1.5]


def test_after_up_a_poll_sequence_moves_to_the_configured_intervals() -> None:
    link = up_pair()
    a_sent = [p for _, p in link.sent["a"]]
    first_up = next(p for p in a_sent if p.state == State.UP)
    assert first_up.poll and first_up.desired_min_tx_us == 50_000
    assert any(p.final for _, p in link.sent["b"])
    assert not link.a.polling and not link.b.polling
    assert link.a.tx_interval_us == 50_000
    assert link.a.detection_time_us == 3 * 50_000
    late = [t for t, p in link.sent["a"] if t > 2.0]
    gaps = [b - a for a, b in itertools.pairwise(late)]
    assert gaps and all(0.75 * 0.05 - 1e-9 <= g <= 0.05 + 1e-9 for g in gaps)


def test_the_slower_side_sets_the_pace() -> None:
    link = up_pair(FAST, Timers(desired_min_tx_us=300_000, required_min_rx_us=200_000, detect_mult=5))
    # a sends no faster than b wants to receive; b sends at its own slower TX.
    assert link.a.tx_interval_us == 200_000
    assert link.b.tx_interval_us == 300_000
    # a detects b's death after b's multiplier x max(a's RX, b's TX) = 5 x 300 ms.
    assert link.a.detection_time_us == 1_500_000
    assert link.b.detection_time_us == 3 * 200_000


def test_silence_for_the_detection_time_brings_the_session_down() -> None:
    link = up_pair()
    link.up["b"] = False
    link.run_until(link.now + 0.002)  # whatever b sent before the cut has arrived
    last_rx = link.now - 0.002
    deadline = link.a.detect_deadline
    assert deadline is not None and last_rx <= deadline <= last_rx + 0.002 + 0.150
    link.run_until(deadline - 1e-6)
    assert link.a.state == State.UP
    link.run_until(deadline)
    assert link.a.state == State.DOWN
    assert link.changes["a"][-1] == StateChange(State.UP, State.DOWN, Diag.CONTROL_DETECTION_TIME_EXPIRED)
    assert link.a.remote_discriminator == 0
    # b hears a's Down and follows; once the cut heals both come back Up.
    link.run_until(link.now + 2 * DELAY)
    assert link.b.state == State.DOWN
    assert link.changes["b"][-1].diag == Diag.NEIGHBOR_SIGNALED_SESSION_DOWN
    link.up["b"] = True
    link.run_until(link.now + 3.0)
    assert (link.a.state, link.b.state) == (State.UP, State.UP)


def test_no_detection_runs_while_down() -> None:
    a = session(1)
    assert a.detect_deadline is None
    out = a.tick(100.0)
    assert out.changes == ()


def test_remote_admin_down_brings_us_down_with_neighbor_signaled() -> None:
    link = up_pair()
    out = link.b.admin_down(link.now)
    assert out.changes == (StateChange(State.UP, State.ADMIN_DOWN, Diag.ADMINISTRATIVELY_DOWN),)
    assert [p.state for p in out.packets] == [State.ADMIN_DOWN]
    res = link.a.receive(link.now + DELAY, out.packets[0])
    assert res.changes == (StateChange(State.UP, State.DOWN, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN),)
    assert link.b.next_deadline() is None  # an AdminDown session sends no more
    assert link.b.tick(link.now + 10).packets == ()


def test_a_poll_from_the_peer_is_answered_at_once_with_a_final() -> None:
    link = up_pair()
    poll = ControlPacket(state=State.UP, my_discriminator=2, your_discriminator=1, desired_min_tx_us=100_000, poll=True)
    out = link.a.receive(link.now, poll)
    assert len(out.packets) == 1 and out.packets[0].final and not out.packets[0].poll
    assert link.a.detection_time_us == 3 * 100_000


def test_reconfigure_while_up_polls_and_a_slower_tx_waits_for_the_final() -> None:
    link = up_pair()
    slower = Timers(desired_min_tx_us=200_000, required_min_rx_us=20_000, detect_mult=4)
    out = link.a.reconfigure(link.now, slower)
    assert len(out.packets) == 1
    p = out.packets[0]
    assert p.poll and (p.desired_min_tx_us, p.required_min_rx_us, p.detect_mult) == (200_000, 20_000, 4)
    # Until the Final: the old (faster) TX stays, and the old (larger) RX still bounds detection.
    assert link.a.tx_interval_us == 50_000
    assert link.a.detection_time_us == 3 * 50_000
    final = ControlPacket(
        state=State.UP,
        my_discriminator=2,
        your_discriminator=1,
        desired_min_tx_us=50_000,
        required_min_rx_us=50_000,
        final=True,
    )
    link.a.receive(link.now + DELAY, final)
    assert not link.a.polling
    assert link.a.tx_interval_us == 200_000
    assert link.a.detection_time_us == 3 * 50_000  # b's TX 50 ms now exceeds our RX 20 ms


def test_reconfigure_end_to_end_reaches_the_peer() -> None:
    link = up_pair()
    link.a.reconfigure(link.now, Timers(desired_min_tx_us=100_000, required_min_rx_us=100_000, detect_mult=2))
    link.run_until(link.now + 0.5)
    assert not link.a.polling
    assert link.b.detection_time_us == 2 * 100_000
    assert link.b.tx_interval_us == 100_000
    assert (link.a.state, link.b.state) == (State.UP, State.UP)


def test_reconfigure_during_a_poll_polls_again_after_the_final() -> None:
    link = up_pair()
    t1 = Timers(100_000, 100_000, 3)
    t2 = Timers(150_000, 150_000, 3)
    link.a.reconfigure(link.now, t1)
    assert link.a.reconfigure(link.now, t2).packets == ()
    link.run_until(link.now + 1.0)
    assert not link.a.polling
    assert link.b.remote_desired_tx_us == 150_000
    assert link.a.advertised == t2


def test_passive_side_stays_silent_until_it_hears_the_peer() -> None:
    a = session(1, passive=True)
    assert a.next_deadline() is None
    assert a.tick(5.0).packets == ()
    hello = ControlPacket(state=State.DOWN, my_discriminator=9)
    out = a.receive(5.0, hello)
    assert out.changes == (StateChange(State.DOWN, State.INIT, Diag.NONE),)
    assert [p.your_discriminator for p in out.packets] == [9]
    assert a.next_deadline() is not None


def test_passive_side_comes_up_with_an_active_peer_and_falls_silent_after_detection() -> None:
    link = Link(session(1, passive=True), session(2))
    link.run_until(3.0)
    assert (link.a.state, link.b.state) == (State.UP, State.UP)
    assert link.sent["b"][0][0] < link.sent["a"][0][0]  # the active side spoke first
    link.up["b"] = False
    link.run_until(link.now + 1.0)
    assert link.a.state == State.DOWN
    n = len(link.sent["a"])
    link.run_until(link.now + 5.0)
    assert len(link.sent["a"]) == n  # the peer's discriminator is forgotten: silent again


def test_two_passive_sides_never_speak() -> None:
    link = Link(session(1, passive=True), session(2, passive=True))
    link.run_until(10.0)
    assert link.sent == {"a": [], "b": []}


def test_a_peer_asking_for_no_packets_gets_none() -> None:
    a = session(1)
    a.tick(0.0)
    a.receive(0.1, ControlPacket(state=State.DOWN, my_discriminator=9, required_min_rx_us=0))
    assert a.next_tx is None
    assert a.tick(10.0).packets == ()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        pytest.param(
            lambda p: dataclasses.replace(p, auth=Auth(1, b"\x01secret")),
            DropReason.AUTH_NOT_CONFIGURED,
            id="a-bit-without-authentication",
        ),
        pytest.param(
            lambda p: dataclasses.replace(p, your_discriminator=77),
            DropReason.WRONG_DISCRIMINATOR,
            id="not-our-discriminator",
        ),
    ],
)
def test_packets_that_must_be_ignored_change_nothing(
    mutate: Callable[[ControlPacket], ControlPacket], reason: DropReason
) -> None:
    link = up_pair()
    before = (link.a.state, link.a.remote_discriminator, link.a.detect_deadline)
    down = ControlPacket(state=State.DOWN, my_discriminator=55, your_discriminator=1)
    out = link.a.receive(link.now, mutate(down))
    assert out.dropped is reason
    assert out.changes == () and out.packets == ()
    assert (link.a.state, link.a.remote_discriminator, link.a.detect_deadline) == before


@pytest.mark.parametrize(("mult", "low", "high"), [(3, 0.75, 1.0), (1, 0.75, 0.90)])
def test_transmit_jitter_bounds(mult: int, low: float, high: float) -> None:
    timers = Timers(desired_min_tx_us=1_000_000, required_min_rx_us=1_000_000, detect_mult=mult)
    for rnd, expect in ((0.0, low), (0.999999, high)):
        a = session(1, timers, rnd=rnd)
        a.tick(0.0)
        assert a.next_tx == pytest.approx(expect, abs=1e-5)


def test_admin_down_by_us_sends_diag_7_and_is_final() -> None:
    link = up_pair()
    out = link.a.admin_down(link.now)
    assert [(p.state, p.diag) for p in out.packets] == [(State.ADMIN_DOWN, Diag.ADMINISTRATIVELY_DOWN)]
    # Packets arriving afterwards are ignored (RFC 5880 §6.8.6: discard in AdminDown).
    later = ControlPacket(state=State.UP, my_discriminator=2, your_discriminator=1)
    assert link.a.receive(link.now + 1, later).dropped is DropReason.ADMIN_DOWN
    assert link.a.state == State.ADMIN_DOWN


def test_invalid_timers_are_refused() -> None:
    with pytest.raises(ValueError, match="detect multiplier"):
        Timers(detect_mult=0)
    with pytest.raises(ValueError, match="discriminator"):
        session(0)
