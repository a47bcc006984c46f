"""What the speaker's BGP part hands on: route attributes to the session, BFD figures to /metrics, and
session failures to Events about the BGPPeer."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping
from typing import Any, cast

import hypothesis
from alloc_helpers import service
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from speaker_helpers import bgpad, cfg, ep, eps, nodes, peer, pool, sel

from crds.community import parse_community
from reconciler.core.bgp import RouteAttributes
from reconciler.runtime.metrics import ExactCounters
from speaker.bfd.manager import BfdManager, BfdSessionStats
from speaker.bfd.packet import State
from speaker.bgp.routes import RouteAttrs
from speaker.bgp.session import BgpSession, EventKind, SessionEvent, SessionState
from speaker.bgp.settings import PeerSettings
from speaker.bgp_announcer import BgpAnnouncer, Prefix, route_attrs, to_network

V4 = ipaddress.IPv4Network


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


# --- incremental flushes -------------------------------------------------------------------------------------


class _FakeSession:
    """Holds the table the announcer's calls describe, and counts whole tables against changes."""

    def __init__(self, settings: PeerSettings, on_event: object) -> None:
        self.settings = settings
        self.table: dict[Prefix, RouteAttrs] = {}
        self.whole_tables = 0
        self.changes: list[set[Prefix]] = []

    async def __aenter__(self) -> _FakeSession:
        return self

    async def close(self, *, keep_routes: bool = False) -> None:
        return None

    def set_desired(self, routes: Mapping[Prefix, RouteAttrs]) -> None:
        self.whole_tables += 1
        self.table = dict(routes)

    def update(self, changes: Mapping[Prefix, RouteAttrs | None]) -> None:
        self.changes.append(set(changes))
        for prefix, attrs in changes.items():
            if attrs is None:
                self.table.pop(prefix, None)
            else:
                self.table[prefix] = attrs


ME = "n1"
IPS = ("10.20.30.1", "10.20.30.2", "10.20.30.3", "10.20.31.7")
INCREMENTAL_CONFIG = cfg(
    pool(
        addresses=("10.20.30.0/24", "10.20.31.0/24"),
        bgp=[
            bgpad("a", communities=("0:1",)),
            bgpad("b", agg=24, peers=("p2",), communities=("0:2",), prepend=2),
            bgpad("c", services=(sel(tier="gold"),), communities=("0:3", "large:64512:1:1")),
        ],
    ),
    peers=[peer("p1", "192.0.2.1"), peer("p2", "192.0.2.2", asn=64513)],
)
_SERVICES = st.sampled_from(["s0", "s1", "s2", "s3", "s4"])
_CHANGE = st.tuples(_SERVICES, st.sampled_from(IPS) | st.none(), st.booleans())  # (Service, IP or deleted, gold)


def _incremental_announcer() -> tuple[BgpAnnouncer, dict[str, _FakeSession]]:
    sessions: dict[str, _FakeSession] = {}

    def factory(settings: PeerSettings, on_event: object) -> BgpSession:
        session = _FakeSession(settings, on_event)
        sessions[str(settings.peer_address)] = session
        return cast(BgpSession, session)

    announcer = BgpAnnouncer(
        node=ME,
        registry=CollectorRegistry(),
        exact=ExactCounters(),
        report=lambda *a: None,
        session_factory=factory,
    )
    announcer.rebuild(INCREMENTAL_CONFIG, nodes(ME), ignore_exclude_lb=False, lb_class=None)
    asyncio.run(announcer.sync_sessions())
    return announcer, sessions


def _decide(announcer: BgpAnnouncer, name: str, ip: str | None, gold: bool) -> bool:
    view = service(name, ingress=(ip,), labels={"tier": "gold"} if gold else {}) if ip else None
    return announcer.decide(view.key if view else f"default/{name}", view, list(eps([ep(ME)], service=name)))


def _whole_tables(announcer: BgpAnnouncer) -> dict[str, dict[Prefix, RouteAttrs]]:
    assert announcer.selection is not None
    tables = announcer.selection.routes(ME, announcer.decisions.values())
    return {
        str(announcer.peers[name].settings.peer_address): {to_network(c): route_attrs(a) for c, a in t.items()}
        for name, t in tables.items()
    }


@hypothesis.settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_CHANGE, min_size=1, max_size=3), min_size=1, max_size=12))
def test_incremental_flushes_leave_every_session_with_the_whole_table(batches: list[list[Any]]) -> None:
    """Services come, change IP (shared IPs, a /24 aggregate several Services feed), change labels and go, a
    few per flush; after every flush each session holds exactly what whole tables would give, and after the
    first flush it only ever got changes."""
    announcer, sessions = _incremental_announcer()
    announcer.flush()
    for batch in batches:
        expected_services = set()
        for name, ip, gold in batch:
            if _decide(announcer, name, ip, gold):
                expected_services.add(f"default/{name}")
        assert announcer.flush() == expected_services
        want = _whole_tables(announcer)
        for address, session in sessions.items():
            assert session.table == want[address]
    assert all(s.whole_tables == 1 for s in sessions.values())


def test_one_service_changed_sends_only_its_prefixes() -> None:
    announcer, sessions = _incremental_announcer()
    for i in range(1, 200):
        _decide(announcer, f"bulk{i}", f"10.20.30.{i}", False)
    announcer.flush()
    assert [s.whole_tables for s in sessions.values()] == [1, 1]
    assert _decide(announcer, "new", "10.20.31.9", True)
    assert announcer.flush() == {"default/new"}
    p1, p2 = sessions["192.0.2.1"], sessions["192.0.2.2"]
    assert p1.changes[-1] == p2.changes[-1] == {V4("10.20.31.9/32"), V4("10.20.31.0/24")}
    assert V4("10.20.31.9/32") in p1.table and V4("10.20.31.0/24") not in p1.table, "the /24 ad is for p2 only"
    assert [s.whole_tables for s in sessions.values()] == [1, 1], "no whole table for one Service"
