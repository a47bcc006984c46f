"""What the speaker's BGP part hands on: route attributes to the session, BFD figures to /metrics, and
session failures to Events about the BGPPeer."""

from __future__ import annotations

import ipaddress
from typing import Any, cast

from prometheus_client import CollectorRegistry, generate_latest

from crds.community import parse_community
from reconciler.core.bgp import RouteAttributes
from reconciler.runtime.metrics import ExactCounters
from speaker.bfd.manager import BfdManager, BfdSessionStats
from speaker.bfd.packet import State
from speaker.bgp.routes import RouteAttrs
from speaker.bgp.session import EventKind, SessionEvent, SessionState
from speaker.bgp_announcer import BgpAnnouncer, route_attrs


def test_route_attrs_carry_communities_local_pref_and_as_path_prepend() -> None:
    selected = RouteAttributes(
        communities=(parse_community("64512:7"),),
        large_communities=(parse_community("large:64512:1:2"),),
        local_pref=150,
        as_path_prepend=3,
    )
    assert route_attrs(selected) == RouteAttrs(
        frozenset({(64512 << 16) | 7}), frozenset({(64512, 1, 2)}), local_pref=150, as_path_prepend=3
    )


class _FakeBfd:
    def __init__(self, stats: dict[str, BfdSessionStats]) -> None:
        self._stats = stats

    def stats(self) -> dict[str, BfdSessionStats]:
        return self._stats


def _stats(peer: str, *, up: bool) -> BfdSessionStats:
    return BfdSessionStats(
        peer_address=ipaddress.ip_address(peer),
        state=State.UP if up else State.DOWN,
        session_up=up,
        control_packet_input=41,
        control_packet_output=42,
        session_up_events=2,
        session_down_events=1,
        detection_time_ms=300.0,
        tx_interval_ms=100.0,
        last_received_at=None,
    )


def _announcer(bfd: object = None, reports: list[tuple[str, ...]] | None = None) -> tuple[str, BgpAnnouncer]:
    registry, exact = CollectorRegistry(), ExactCounters()
    sink = reports if reports is not None else []
    announcer = BgpAnnouncer(
        node="n1",
        registry=registry,
        exact=exact,
        report=lambda *a: sink.append(a),
        bfd=cast(BfdManager[str] | None, bfd),
    )
    return generate_latest(registry).decode() + exact.expose(), announcer


def test_bfd_figures_are_exported_with_metallbs_names_once_per_peer_address() -> None:
    # Two BGPPeers to one router share its BFD session: one series per address.
    fake = _FakeBfd({"tor-a": _stats("192.0.2.1", up=True), "tor-b": _stats("192.0.2.1", up=True)})
    text, _ = _announcer(fake)
    lines = [line for line in text.splitlines() if line.startswith("metallb_bfd_")]
    assert sorted(lines) == [
        'metallb_bfd_control_packet_input{peer="192.0.2.1"} 41',
        'metallb_bfd_control_packet_output{peer="192.0.2.1"} 42',
        'metallb_bfd_echo_packet_input{peer="192.0.2.1"} 0',
        'metallb_bfd_echo_packet_output{peer="192.0.2.1"} 0',
        'metallb_bfd_session_down_events{peer="192.0.2.1"} 1',
        'metallb_bfd_session_up_events{peer="192.0.2.1"} 2',
        'metallb_bfd_session_up{peer="192.0.2.1"} 1.0',
    ]


def test_without_bfd_there_are_no_bfd_series() -> None:
    text, _ = _announcer(None)
    assert "metallb_bfd_" not in text


def test_an_md5_connect_failure_tells_the_operator_which_fields_to_compare() -> None:
    reports: list[tuple[str, ...]] = []
    _, announcer = _announcer(None, reports)
    reason = "connection to 192.0.2.1:179 failed: timed out after 10s (TCP MD5 is on: a password that differs"
    announcer._session_event("tor", SessionEvent(EventKind.ERROR, "192.0.2.1:179", SessionState.IDLE, reason))
    ((peer, type_, event_reason, message),) = cast(list[tuple[Any, ...]], reports)
    assert (peer, type_, event_reason) == ("tor", "Warning", "sessionFailed")
    assert message.startswith(f"BGP session to tor: {reason}")
    assert "password or passwordSecret" in message
