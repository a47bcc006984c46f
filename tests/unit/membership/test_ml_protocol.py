"""The failure detector's protocol on a simulated LAN (fake time, seeded randomness, real sealed datagrams).

Times asserted here are simulated seconds of a deterministic run, i.e. protocol properties, not machine speed.
"""

from __future__ import annotations

import pytest

from speaker.membership.simulation import SimNet
from speaker.membership.wire import State

DETECTION_BOUND = 0.5  # the promise of Timers() (docs/membership.md)


def names(n: int) -> list[str]:
    return [f"node{i}" for i in range(n)]


def first_seen(net: SimNet, node: str, state: State, since: float) -> dict[str, float]:
    """observer -> simulated time after ``since`` at which it saw ``node`` enter ``state`` (first time)."""
    out: dict[str, float] = {}
    for o in net.observed:
        if o.t >= since and o.transition.node == node and o.transition.state is state:
            out.setdefault(o.observer, o.t - since)
    return out


@pytest.mark.parametrize("size", [3, 10, 50])
def test_a_crashed_member_is_declared_dead_by_every_other_member_within_half_a_second(size: int) -> None:
    trials = 2 if size == 50 else 6
    for seed in range(trials):
        net = SimNet(seed=seed)
        net.start(names(size))
        net.run(1.0 + seed * 0.137)  # crash at a different phase of the probe rounds each trial
        assert net.deaths() == []
        crashed_at = net.now
        net.crash("node0")
        net.run(2.0)
        seen = first_seen(net, "node0", State.DEAD, crashed_at)
        assert set(seen) == set(names(size)[1:]), f"seed {seed}: not everyone declared node0 dead"
        assert max(seen.values()) <= DETECTION_BOUND, f"seed {seed}: {max(seen.values()):.3f} s"
        for survivor in names(size)[1:]:
            assert net.alive(survivor) == frozenset(names(size)[1:])
        assert [o for o in net.deaths() if o.transition.node != "node0"] == []


def test_five_percent_random_loss_for_ten_simulated_minutes_declares_nobody_dead() -> None:
    net = SimNet(seed=7, loss=0.05)
    net.start(names(10))
    net.run(600.0)
    assert net.deaths() == []
    counters = net.counters()
    assert counters["suspicions"] > 0, "the run must have produced false suspicions for refutation to matter"
    assert counters["refutations"] > 0
    for n in names(10):
        assert net.alive(n) == frozenset(names(10))


def test_the_message_rate_per_member_does_not_grow_with_the_cluster() -> None:
    rates = {}
    for size in (3, 50):
        net = SimNet(seed=3)
        net.start(names(size))
        net.run(2.0)  # startup gossip settles
        before = {n: net.members[n].sent for n in names(size)}
        net.run(10.0)
        rates[size] = sum(net.members[n].sent - before[n] for n in names(size)) / size / 10.0
    assert rates[50] <= rates[3] * 1.05
    assert rates[3] <= 2.2 / net.timers.probe_interval  # a ping and an ack per probe interval, and little else


def test_a_member_whose_thread_stalls_briefly_and_often_is_never_declared_dead() -> None:
    net = SimNet(seed=11)
    net.start(names(10))
    net.run(1.0)
    for _ in range(60):  # 100 ms stalls (a GC pause, a long C call holding the GIL) every second for a minute
        net.stall("node3", 0.1)
        net.run(1.0)
    assert net.deaths() == []
    assert net.alive("node0") == frozenset(names(10))


@pytest.mark.parametrize(("size", "delay"), [(3, 0.12), (10, 0.08)])
def test_a_member_that_answers_everything_late_is_not_declared_dead(size: int, delay: float) -> None:
    # Its acks miss every 50 ms probe round, so it is suspected again and again; but it keeps talking to its
    # accusers, who wait for its refutation instead of declaring it dead.
    net = SimNet(seed=14)
    net.start(names(size))
    net.run(1.0)
    net.slow("node1", delay)
    net.run(60.0)
    assert net.deaths() == []
    assert net.counters()["suspicions"] > 0


def test_a_stalled_member_does_not_accuse_the_others_when_it_wakes() -> None:
    net = SimNet(seed=12)
    net.start(names(5))
    net.run(1.0)
    net.stall("node1", 0.12)  # wakes with acks queued and probe deadlines passed
    net.run(3.0)
    assert [o for o in net.deaths() if o.observer == "node1"] == []


def test_a_member_stalled_for_longer_than_the_detector_allows_is_declared_dead_then_comes_back() -> None:
    net = SimNet(seed=13)
    net.start(names(5))
    net.run(1.0)
    stalled_at = net.now
    net.stall("node2", 2.0)
    net.run(5.0)
    assert set(first_seen(net, "node2", State.DEAD, stalled_at)) == {"node0", "node1", "node3", "node4"}
    for n in names(5):  # it refuted when it woke (it is pinged as a dead member once a second)
        assert net.alive(n) == frozenset(names(5))


def test_a_partition_makes_each_side_declare_the_other_dead_and_healing_brings_everyone_back() -> None:
    net = SimNet(seed=21)
    left, right = names(6)[:3], names(6)[3:]
    net.start(names(6))
    net.run(1.0)
    cut = net.now
    net.partition(left, right)
    net.run(3.0)
    for a in left:
        assert net.alive(a) == frozenset(left)
    for b in right:
        assert net.alive(b) == frozenset(right)
    for b in right:
        assert set(first_seen(net, b, State.DEAD, cut)) == set(left)
    net.heal()
    net.run(5.0)
    for n in names(6):
        assert net.alive(n) == frozenset(names(6))


def test_a_graceful_leave_is_applied_by_every_member_at_once_without_suspicion() -> None:
    net = SimNet(seed=31)
    net.start(names(10))
    net.run(1.0)
    left_at = net.now
    net.leave("node4")
    net.run(0.01)  # ten milliseconds: a few round trips, far less than any probe or suspicion timer
    seen = first_seen(net, "node4", State.LEFT, left_at)
    assert set(seen) == set(names(10)) - {"node4"}
    assert net.members["node4"].core is not None and net.members["node4"].core.leave_done
    net.crash("node4")
    net.run(3.0)
    assert net.deaths() == []
    assert first_seen(net, "node4", State.SUSPECT, left_at) == {}
    assert net.alive("node0") == frozenset(names(10)) - {"node4"}


def test_a_restarted_member_with_a_new_boot_is_alive_again_everywhere() -> None:
    net = SimNet(seed=41)
    net.start(names(5))
    net.run(1.0)
    net.crash("node2")
    net.run(2.0)
    assert "node2" not in net.alive("node0")
    back = net.now
    net.boot("node2")
    net.run(1.0)
    assert set(first_seen(net, "node2", State.ALIVE, back)) == {"node0", "node1", "node3", "node4"}
    for n in names(5):
        assert net.alive(n) == frozenset(names(5))


def test_a_member_restarted_with_its_clock_behind_its_previous_boot_still_rejoins() -> None:
    net = SimNet(seed=44)
    net.start(names(4))
    net.run(1.0)
    net.crash("node3")
    net.run(1.0)
    net.boot("node3", clock_offset_ms=-600_000)  # a rebooted node before NTP: ten minutes behind
    net.run(8.0)
    for n in names(4):
        assert net.alive(n) == frozenset(names(4))
    assert net.dropped("node0")["stale_boot"] > 0  # refused at first, accepted once the old boot was silent


def test_a_member_that_left_and_restarts_rejoins() -> None:
    net = SimNet(seed=42)
    net.start(names(4))
    net.run(1.0)
    net.leave("node1")
    net.run(0.1)
    net.crash("node1")
    net.run(0.5)
    net.boot("node1")
    net.run(1.0)
    for n in names(4):
        assert net.alive(n) == frozenset(names(4))


def test_peers_removed_from_the_list_leave_the_alive_set_and_new_ones_join_it() -> None:
    net = SimNet(seed=43)
    net.start(names(4))
    net.run(1.0)
    core = net.members["node0"].core
    assert core is not None
    peers = net.peers()
    del peers["node3"]
    fx = core.set_peers(net.now, peers)
    assert [(t.node, t.state) for t in fx.transitions] == [("node3", None)]
    assert core.alive() == frozenset(names(3))
    net.run(2.0)
    assert core.alive() == frozenset(names(3))
