"""BfdManager over loopback, unprivileged: two managers on different ports talk to each other. Covers the
desired-set API (start, reconfigure, remove -> AdminDown, shared keys), on_change from the BFD thread,
stats, and what the socket layer must drop (TTL other than 255, undecodable bytes, unknown sessions)."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from speaker.bfd.manager import BfdChange, BfdError, BfdManager, BfdSessionSpec
from speaker.bfd.packet import ControlPacket, Diag, State

T = TypeVar("T")
A, B = ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("127.0.0.2")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    """Poll until ``probe`` is truthy; the bound only turns a hang into a readable failure."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = probe()
        if got:
            return got
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Side:
    def __init__(self, port: int, peer_port: int, bind: str) -> None:
        self.changes: list[BfdChange[str]] = []
        self.threads: set[str] = set()
        self.port = port

        def record(change: BfdChange[str]) -> None:
            self.threads.add(threading.current_thread().name)
            self.changes.append(change)

        self.manager: BfdManager[str] = BfdManager(
            on_change=record, port=port, peer_port=peer_port, bind_v4=bind, bind_v6=None
        )


@pytest.fixture
def pair() -> Iterator[tuple[Side, Side]]:
    pa, pb = free_udp_port(), free_udp_port()
    a, b = Side(pa, pb, str(A)), Side(pb, pa, str(B))
    a.manager.start()
    b.manager.start()
    yield a, b
    a.manager.stop()
    b.manager.stop()


def spec(
    peer: ipaddress.IPv4Address | ipaddress.IPv6Address,
    local: ipaddress.IPv4Address | ipaddress.IPv6Address,
    ms: int = 50,
    **kw: object,
) -> BfdSessionSpec:
    return BfdSessionSpec(peer_address=peer, local_address=local, receive_interval_ms=ms, transmit_interval_ms=ms, **kw)  # type: ignore[arg-type]


def up(pair: tuple[Side, Side]) -> None:
    a, b = pair
    a.manager.set_sessions({"b": spec(B, A)})
    b.manager.set_sessions({"a": spec(A, B)})
    wait_for("both Up", lambda: a.manager.state("b") == State.UP and b.manager.state("a") == State.UP)


def test_two_managers_come_up_and_report_from_the_bfd_thread(pair: tuple[Side, Side]) -> None:
    a, _b = pair
    up(pair)
    assert [c.state for c in a.changes][-1] == State.UP
    assert a.threads == {"bfd"}
    stats = wait_for("a fast interval", lambda: (s := a.manager.stats()["b"]).tx_interval_ms == 50 and s)
    assert stats.session_up and stats.session_up_events == 1 and stats.peer_address == B
    assert stats.detection_time_ms == 3 * 50
    assert stats.control_packet_input > 0 and stats.control_packet_output > 0


def test_removing_a_session_sends_admin_down(pair: tuple[Side, Side]) -> None:
    a, b = pair
    up(pair)
    b.manager.set_sessions({})
    wait_for("a Down", lambda: a.manager.state("b") == State.DOWN)
    assert a.changes[-1].diag == Diag.NEIGHBOR_SIGNALED_SESSION_DOWN
    assert a.changes[-1].remote_state == State.ADMIN_DOWN
    assert not a.changes[-1].path_failed  # RFC 5882 §3.2: the peer's AdminDown is no path failure
    assert b.manager.state("a") is None
    assert "a" not in b.manager.stats()


def test_stop_sends_admin_down_and_the_peer_detects_nothing_else(pair: tuple[Side, Side]) -> None:
    a, b = pair
    up(pair)
    b.manager.stop()
    wait_for("a Down", lambda: a.manager.state("b") == State.DOWN)
    assert a.changes[-1].diag == Diag.NEIGHBOR_SIGNALED_SESSION_DOWN


def test_new_timers_reach_the_peer(pair: tuple[Side, Side]) -> None:
    a, b = pair
    up(pair)
    b.manager.set_sessions({"a": spec(A, B, ms=80, detect_multiplier=5)})
    # a detects b after b's multiplier x max(a's RX 50, b's TX 80).
    wait_for("a's new detection time", lambda: a.manager.stats()["b"].detection_time_ms == 5 * 80)


def test_keys_for_the_same_peer_share_one_session(pair: tuple[Side, Side]) -> None:
    a, _b = pair
    up(pair)
    a.manager.set_sessions({"b": spec(B, A), "b-again": spec(B, A)})
    wait_for("the second key Up", lambda: a.manager.state("b-again") == State.UP)
    assert any(c.key == "b-again" and c.state == State.UP for c in a.changes)
    assert a.manager.stats()["b"] == a.manager.stats()["b-again"]


def _send_raw(port: int, data: bytes, ttl: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        s.bind((str(B), 0))
        s.sendto(data, (str(A), port))


def test_packets_the_socket_layer_must_drop(pair: tuple[Side, Side]) -> None:
    a, _ = pair
    a.manager.set_sessions({"b": spec(B, A, passive=True)})
    wait_for("a running", lambda: a.manager.state("b") == State.DOWN)
    hello = ControlPacket(state=State.DOWN, my_discriminator=42).encode()
    _send_raw(a.port, hello, ttl=64)  # one router hop away: GTSM says no
    wait_for("TTL drop counted", lambda: a.manager.dropped["ttl-not-255"] == 1)
    _send_raw(a.port, b"\x20\x40", ttl=255)
    wait_for("decode drop counted", lambda: a.manager.dropped["too-short"] == 1)
    _send_raw(a.port, ControlPacket(state=State.UP, my_discriminator=42, your_discriminator=7).encode(), ttl=255)
    wait_for("unknown discriminator counted", lambda: a.manager.dropped["unknown-discriminator"] == 1)
    assert a.manager.stats()["b"].control_packet_input == 0
    assert a.manager.stats()["b"].control_packet_output == 0  # passive: still silent
    _send_raw(a.port, hello, ttl=255)  # the real thing: a passive session answers
    wait_for("a Init", lambda: a.manager.state("b") == State.INIT)
    assert a.manager.stats()["b"].control_packet_input == 1


def test_a_taken_port_is_a_clear_error_even_for_a_second_manager() -> None:
    # Two BFD daemons on one port would silently split the packets between them; the second must refuse.
    port = free_udp_port()
    first: BfdManager[str] = BfdManager(on_change=lambda c: None, port=port, bind_v4="127.0.0.1", bind_v6=None)
    first.start()
    try:
        second: BfdManager[str] = BfdManager(on_change=lambda c: None, port=port, bind_v4="127.0.0.1", bind_v6=None)
        with pytest.raises(BfdError, match=f"cannot open the BFD socket on UDP 127.0.0.1:{port}"):
            second.start()
    finally:
        first.stop()


def test_spec_from_profile_uses_metallb_defaults() -> None:
    from crds.config import BFDProfileConfig

    s = BfdSessionSpec.from_profile(None, peer_address=B)
    assert (s.receive_interval_ms, s.transmit_interval_ms, s.detect_multiplier, s.passive) == (300, 300, 3, False)
    p = BFDProfileConfig(
        name="fast", receive_interval=50, transmit_interval=60, detect_multiplier=4, passive_mode=True, echo_mode=True
    )
    s = BfdSessionSpec.from_profile(p, peer_address=B, local_address=A)
    assert (s.receive_interval_ms, s.transmit_interval_ms, s.detect_multiplier, s.passive) == (50, 60, 4, True)
    with pytest.raises(ValueError, match="differ in family"):
        BfdSessionSpec(peer_address=B, local_address=ipaddress.ip_address("::1"))


@pytest.mark.parametrize(
    ("previous", "state", "remote", "failed"),
    [
        pytest.param(State.UP, State.DOWN, State.DOWN, True, id="silence-or-peer-down-is-a-path-failure"),
        pytest.param(State.UP, State.DOWN, State.ADMIN_DOWN, False, id="peer-admin-down-is-not"),
        pytest.param(State.INIT, State.DOWN, State.DOWN, False, id="never-up-is-not"),
        pytest.param(State.UP, State.ADMIN_DOWN, State.UP, False, id="our-own-admin-down-is-not"),
    ],
)
def test_path_failed_follows_rfc_5882(previous: State, state: State, remote: State, failed: bool) -> None:
    change = BfdChange("k", B, previous, state, Diag.NONE, 0.0, remote)
    assert change.path_failed is failed
