"""The gratuitous schedule: MetalLB's spam loop (at once, then every 1.1 s until 5 s after the last trigger)."""

from __future__ import annotations

import pytest

from speaker.l2.gratuitous import GratuitousSchedule


def drain(schedule: GratuitousSchedule[str]) -> list[tuple[float, str]]:
    """Wake exactly at each deadline, as the responder's loop does, until nothing is scheduled."""
    sent: list[tuple[float, str]] = []
    while (now := schedule.next_deadline()) is not None:
        sent += [(round(now, 6), k) for k in schedule.due(now)]
    return sent


def test_a_trigger_sends_at_once_then_every_1_1_s_for_5_s() -> None:
    schedule: GratuitousSchedule[str] = GratuitousSchedule()
    schedule.trigger("vip", 0.0)
    assert [t for t, _ in drain(schedule)] == pytest.approx([0.0, 1.1, 2.2, 3.3, 4.4])
    assert schedule.next_deadline() is None


def test_a_retrigger_extends_the_window_from_the_last_trigger() -> None:
    schedule: GratuitousSchedule[str] = GratuitousSchedule()
    schedule.trigger("vip", 0.0)
    assert schedule.due(0.0) == ["vip"]
    assert schedule.due(1.1) == ["vip"]
    schedule.trigger("vip", 1.5)
    assert [t for t, _ in drain(schedule)] == pytest.approx([1.5, 2.6, 3.7, 4.8, 5.9])


def test_cancel_stops_the_bursts_at_once() -> None:
    schedule: GratuitousSchedule[str] = GratuitousSchedule()
    schedule.trigger("a", 0.0)
    schedule.trigger("b", 0.0)
    assert sorted(schedule.due(0.0)) == ["a", "b"]
    schedule.cancel("a")
    assert "a" not in schedule
    assert [k for _, k in drain(schedule)] == ["b"] * 4


def test_a_late_wakeup_sends_once_not_a_backlog() -> None:
    schedule: GratuitousSchedule[str] = GratuitousSchedule()
    schedule.trigger("vip", 0.0)
    assert schedule.due(0.0) == ["vip"]
    assert schedule.due(3.5) == ["vip"]  # the loop was blocked for 3.5 s
    assert schedule.due(3.6) == []
    assert schedule.next_deadline() == pytest.approx(4.6)


def test_nothing_is_due_before_its_time() -> None:
    schedule: GratuitousSchedule[str] = GratuitousSchedule()
    schedule.trigger("vip", 10.0)
    assert schedule.due(9.99) == []
    assert schedule.due(10.0) == ["vip"]
    assert schedule.due(11.0) == []
