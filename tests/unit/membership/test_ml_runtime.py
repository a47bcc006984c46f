"""``Membership`` threads with real UDP sockets on loopback (no privileges needed): convergence, a stopped member
reported gone with its death time, graceful leave, peer removal, IPv6 and v4-mapped sockets, the key file.
Waits have generous bounds only so a broken run cannot hang; speed is measured in bench/bench_membership.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from speaker.membership.runtime import Membership, MembershipChange, load_secret_key

KEY = b"dGVzdC1ydW50aW1lLWtleQ"


class Recorder:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.changes: dict[str, list[MembershipChange]] = {}
        self.threads: set[str] = set()

    def for_node(self, node: str):  # type: ignore[no-untyped-def]
        def on_change(c: MembershipChange) -> None:
            with self.cond:
                self.changes.setdefault(node, []).append(c)
                self.threads.add(threading.current_thread().name)
                self.cond.notify_all()

        return on_change

    def wait(self, node: str, alive: set[str], timeout: float = 10.0) -> MembershipChange:
        def latest() -> MembershipChange | None:
            cs = self.changes.get(node, [])
            return cs[-1] if cs and cs[-1].alive == alive else None

        with self.cond:
            assert self.cond.wait_for(lambda: latest() is not None, timeout), (node, self.changes.get(node))
            found = latest()
            assert found is not None
            return found


def start(
    rec: Recorder, names: list[str], host: str, key: bytes | None = KEY, peer_host: str | None = None
) -> list[Membership]:
    ms = [Membership(node=n, bind=(host, 0), key=key, on_change=rec.for_node(n)) for n in names]
    for m in ms:
        m.start()
    peers = {m.node: (peer_host or host, m.port) for m in ms}
    for m in ms:
        m.set_peers(peers)
    return ms


@pytest.fixture
def rec() -> Iterator[Recorder]:
    yield Recorder()


@pytest.fixture
def stopper() -> Iterator[list[Membership]]:
    started: list[Membership] = []
    yield started
    for m in started:
        m.stop()


def test_members_converge_and_a_stopped_member_is_reported_gone_with_its_death_time(
    rec: Recorder, stopper: list[Membership]
) -> None:
    ms = start(rec, ["a", "b", "c"], "127.0.0.1")
    stopper.extend(ms)
    everyone = {"a", "b", "c"}
    for n in everyone:
        rec.wait(n, everyone)
    assert ms[0].alive() == frozenset(everyone)
    stopped_at = time.monotonic()
    ms[2].stop()  # no leave: to the others this is a crash
    for n in ("a", "b"):
        change = rec.wait(n, {"a", "b"})
        assert change.departed == frozenset({"c"})
        assert change.declared_dead_at["c"] >= stopped_at
    assert rec.threads and all(t.startswith("membership-") for t in rec.threads)  # never the caller's thread
    stats = ms[0].stats
    assert stats.members["dead"] == 1 and stats.members["alive"] == 1
    assert stats.sent > 0 and stats.accepted > 0 and stats.dropped == {}


def test_a_graceful_leave_is_acknowledged_and_applied_by_the_others(rec: Recorder, stopper: list[Membership]) -> None:
    ms = start(rec, ["a", "b", "c"], "127.0.0.1")
    stopper.extend(ms)
    for n in ("a", "b", "c"):
        rec.wait(n, {"a", "b", "c"})
    assert ms[1].leave(5.0) is True
    for n in ("a", "c"):
        change = rec.wait(n, {"a", "c"})
        assert "b" in change.declared_dead_at
    assert ms[0].stats.members["left"] == 1


def test_removing_a_peer_from_the_list_removes_it_from_the_alive_set(rec: Recorder, stopper: list[Membership]) -> None:
    ms = start(rec, ["a", "b"], "127.0.0.1")
    stopper.extend(ms)
    rec.wait("a", {"a", "b"})
    ms[0].set_peers({})
    assert rec.wait("a", {"a"}).departed == frozenset({"b"})


def test_members_talk_over_ipv6(rec: Recorder, stopper: list[Membership]) -> None:
    ms = start(rec, ["a", "b"], "::1")
    stopper.extend(ms)
    rec.wait("a", {"a", "b"})
    rec.wait("b", {"a", "b"})


def test_a_dual_stack_socket_reaches_ipv4_peers(rec: Recorder, stopper: list[Membership]) -> None:
    ms = start(rec, ["a", "b"], "::", peer_host="127.0.0.1")
    stopper.extend(ms)
    rec.wait("a", {"a", "b"})
    rec.wait("b", {"a", "b"})


def test_members_with_different_keys_never_see_each_other_alive(rec: Recorder, stopper: list[Membership]) -> None:
    a = Membership(node="a", bind=("127.0.0.1", 0), key=KEY, on_change=rec.for_node("a"))
    b = Membership(node="b", bind=("127.0.0.1", 0), key=b"other", on_change=rec.for_node("b"))
    stopper.extend([a, b])
    for m in (a, b):
        m.start()
    peers = {"a": ("127.0.0.1", a.port), "b": ("127.0.0.1", b.port)}
    for m in (a, b):
        m.set_peers(peers)
    rec.wait("a", {"a"})
    assert a.stats.dropped.get("auth_failed", 0) > 0


def test_the_key_is_read_from_the_secret_directory_or_file(tmp_path: Path) -> None:
    assert load_secret_key(tmp_path) is None
    (tmp_path / "secretkey").write_text("  c2VjcmV0\n")
    assert load_secret_key(tmp_path) == b"c2VjcmV0"
    assert load_secret_key(tmp_path / "secretkey") == b"c2VjcmV0"
    (tmp_path / "secretkey").write_text("\n")
    assert load_secret_key(tmp_path) is None


def test_binding_a_busy_port_fails_at_start_with_an_os_error(stopper: list[Membership]) -> None:
    a = Membership(node="a", bind=("127.0.0.1", 0), key=KEY, on_change=lambda c: None)
    a.start()
    stopper.append(a)
    b = Membership(node="b", bind=("127.0.0.1", a.port), key=KEY, on_change=lambda c: None)
    with pytest.raises(OSError):
        b.start()


def test_a_failing_callback_is_logged_and_detection_goes_on(
    rec: Recorder, stopper: list[Membership], caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[frozenset[str]] = []

    def broken(c: MembershipChange) -> None:
        calls.append(c.alive)
        raise RuntimeError("callback bug")

    a = Membership(node="a", bind=("127.0.0.1", 0), key=KEY, on_change=broken)
    b = Membership(node="b", bind=("127.0.0.1", 0), key=KEY, on_change=rec.for_node("b"))
    stopper.extend([a, b])
    for m in (a, b):
        m.start()
    peers = {"a": ("127.0.0.1", a.port), "b": ("127.0.0.1", b.port)}
    for m in (a, b):
        m.set_peers(peers)
    rec.wait("b", {"a", "b"})
    b.stop()
    deadline = time.monotonic() + 10
    while a.alive() != frozenset({"a"}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert a.alive() == frozenset({"a"})
    assert calls[-1] == frozenset({"a"})
    assert "membership on_change callback failed" in caplog.text
