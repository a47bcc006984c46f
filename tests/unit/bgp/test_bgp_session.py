"""BgpSession against an in-process peer on loopback: what goes on the wire and which events the caller sees."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import struct

import pytest
from fake_peer import FakePeer, notification_or_none
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.runtime.clock import FakeClock
from speaker.bgp.attributes import AsPath, Communities, MpUnreach, UnknownAttr
from speaker.bgp.constants import AS_TRANS, AttrType
from speaker.bgp.keepalive import Keepalive
from speaker.bgp.message import encode_message
from speaker.bgp.notification import Notification
from speaker.bgp.open import Multiprotocol, Open
from speaker.bgp.route_refresh import RouteRefresh
from speaker.bgp.routes import RouteAttrs
from speaker.bgp.session import BgpSession, EventKind, SessionEvent, SessionState, SessionUsageError
from speaker.bgp.update import Update

pytestmark = pytest.mark.anyio

V4 = ipaddress.IPv4Network


class Events(list[SessionEvent]):
    async def wait(self, kind: EventKind, timeout: float = 10.0) -> SessionEvent:
        async with asyncio.timeout(timeout):
            while True:
                for ev in self:
                    if ev.kind == kind:
                        return ev
                await asyncio.sleep(0.005)


async def test_table_end_of_rib_then_only_differences(peer: FakePeer) -> None:
    events = Events()
    async with BgpSession(peer.settings(), on_event=events.append) as session:
        session.set_desired({V4("203.0.113.1/32"): RouteAttrs(), V4("203.0.113.2/32"): RouteAttrs()})
        first = await peer.updates_once_synced(session)
        assert {p for u in first for p in u.nlri} == {V4("203.0.113.1/32"), V4("203.0.113.2/32")}
        assert len([u for u in first if u.nlri]) == 1, "two prefixes with equal attributes share one UPDATE"
        assert {u.end_of_rib_afi for u in first} >= {1, 2}, "End-of-RIB for IPv4 and IPv6"
        assert session.state == SessionState.ESTABLISHED and session.stats.up

        session.set_desired({V4("203.0.113.1/32"): RouteAttrs(communities=frozenset({64512 << 16 | 7}))})
        second = await peer.updates_once_synced(session)
        assert [u.withdrawn for u in second if u.withdrawn] == [(V4("203.0.113.2/32"),)]
        changed = [u for u in second if u.nlri]
        assert [u.nlri for u in changed] == [(V4("203.0.113.1/32"),)]
        assert changed[0].attribute(Communities) == Communities((64512 << 16 | 7,))
        assert session.stats.announced == 1 and session.stats.pending == 1
    assert [e.kind for e in events if e.kind in (EventKind.UP, EventKind.DOWN)] == [EventKind.UP, EventKind.DOWN]
    assert session.state == SessionState.CLOSED


async def test_close_sends_cease_administrative_shutdown(peer: FakePeer) -> None:
    async with BgpSession(peer.settings(), on_event=lambda e: None) as session:
        await asyncio.wait_for(session.wait_synced(), 10)
    note = await notification_or_none(peer)
    assert note is not None and (note.code, note.subcode) == (6, 2)


async def test_close_keeping_routes_with_graceful_restart_sends_nothing(peer: FakePeer) -> None:
    session = BgpSession(peer.settings(graceful_restart=True), on_event=lambda e: None)
    async with session:
        await asyncio.wait_for(session.wait_synced(), 10)
        await session.close(keep_routes=True)
    assert await notification_or_none(peer) is None


async def test_packs_thousands_of_prefixes_in_few_updates(peer: FakePeer) -> None:
    peer.capabilities = (Multiprotocol(1, 1),)  # no extended message: 4096-octet UPDATEs
    routes = {V4((0xCB007100 + i, 32)): RouteAttrs() for i in range(256)}
    routes |= {V4((0xC6336400 + i, 32)): RouteAttrs() for i in range(256)}
    routes |= {V4((0x0A000000 + i, 32)): RouteAttrs() for i in range(3000)}
    async with BgpSession(peer.settings(), on_event=lambda e: None) as session:
        session.set_desired(routes)
        updates = await peer.updates_once_synced(session)
    announced = [p for u in updates for p in u.nlri]
    assert sorted(announced) == sorted(routes)
    assert len([u for u in updates if u.nlri]) <= 5, "3512 /32s fit in five 4096-octet UPDATEs"


async def test_wrong_peer_asn_is_reported_with_metallb_text(peer: FakePeer) -> None:
    events = Events()
    async with BgpSession(peer.settings(peer_asn=64999), on_event=events.append):
        ev = await events.wait(EventKind.ERROR)
    assert ev.reason.startswith("unexpected peer ASN 64513, want 64999")
    assert ev.notification == Notification(2, 2) and ev.notification_sent
    note = await notification_or_none(peer)
    assert note is not None and (note.code, note.subcode) == (2, 2)


async def test_peer_notification_text_reaches_the_event(peer: FakePeer) -> None:
    events = Events()
    async with BgpSession(peer.settings(), on_event=events.append) as session:
        await asyncio.wait_for(session.wait_synced(), 10)
        peer.send(encode_message(Notification.cease(2, "maintenance")))
        ev = await events.wait(EventKind.DOWN)
    assert ev.reason == "got BGP notification code 0x0602 (Cease / Administrative Shutdown: maintenance)"
    assert ev.notification_sent is False


async def test_hold_timer_expiry_sends_4_0_on_the_injected_clock(peer: FakePeer) -> None:
    clock = FakeClock()
    events = Events()
    async with BgpSession(peer.settings(), on_event=events.append, clock=clock) as session:
        async with asyncio.timeout(10):
            while session.state != SessionState.ESTABLISHED:
                await asyncio.sleep(0.005)
        await clock.run_for(8.9)  # the fake peer never sends a KEEPALIVE
        assert session.state == SessionState.ESTABLISHED, "not before the hold time"
        await clock.run_for(0.2)
        ev = await events.wait(EventKind.DOWN)
    assert ev.notification == Notification(4, 0) and ev.notification_sent
    assert "hold timer expired" in ev.reason
    note = await notification_or_none(peer)
    assert note is not None and (note.code, note.subcode) == (4, 0)


async def test_keepalives_follow_the_negotiated_hold_time(peer: FakePeer) -> None:
    clock = FakeClock()
    peer.hold_time = 30  # we offer 9: min is 9, keepalive every 3 s
    async with BgpSession(peer.settings(), on_event=lambda e: None, clock=clock) as session:
        async with asyncio.timeout(10):
            while session.state != SessionState.ESTABLISHED:
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        while not peer.received.empty():
            peer.received.get_nowait()
        for _ in range(2):
            peer.send(encode_message(Keepalive()))
            await clock.run_for(3.0)
        await asyncio.sleep(0.05)
        kinds = []
        while not peer.received.empty():
            kinds.append(type(peer.received.get_nowait()).__name__)
        assert kinds.count("Keepalive") == 2


async def test_four_octet_asn_to_a_two_octet_peer_uses_as_trans(peer: FakePeer) -> None:
    peer.capabilities = (Multiprotocol(1, 1),)
    got_open: list[Open] = []
    async with BgpSession(peer.settings(my_asn=4200000000), on_event=lambda e: None) as session:
        session.set_desired({V4("203.0.113.9/32"): RouteAttrs()})
        got_open.append(await peer.next(Open))  # type: ignore[arg-type]
        update = await peer.next(Update)
        while not update.nlri:  # type: ignore[union-attr]
            update = await peer.next(Update)
    assert got_open[0].asn == AS_TRANS and got_open[0].four_octet_asn == 4200000000
    path = update.attribute(AsPath)  # type: ignore[union-attr]
    assert isinstance(path, AsPath) and path.asns == (AS_TRANS,), "the 2-octet AS_PATH carries AS_TRANS"
    as4 = update.attribute(UnknownAttr)  # type: ignore[union-attr]
    assert isinstance(as4, UnknownAttr) and as4.type_code == AttrType.AS4_PATH
    assert AsPath.decode(as4.value, as4=True).asns == (4200000000,), "AS4_PATH carries the real ASN"


async def test_route_refresh_resends_the_family(peer: FakePeer) -> None:
    async with BgpSession(peer.settings(), on_event=lambda e: None) as session:
        session.set_desired({V4("203.0.113.1/32"): RouteAttrs()})
        await peer.updates_once_synced(session)
        peer.send(encode_message(RouteRefresh(1, 1)))
        update = await peer.next(Update)
        assert update.nlri == (V4("203.0.113.1/32"),)  # type: ignore[union-attr]


async def test_reconnects_and_readvertises_after_the_peer_drops(peer: FakePeer) -> None:
    events = Events()
    async with BgpSession(peer.settings(), on_event=events.append) as session:
        session.set_desired({V4("203.0.113.1/32"): RouteAttrs()})
        await peer.updates_once_synced(session)
        assert peer.writer is not None
        peer.writer.transport.abort()
        await events.wait(EventKind.DOWN)
        async with asyncio.timeout(10):
            while peer.connections < 2 or not session.synced:
                await asyncio.sleep(0.01)
        update = await peer.next(Update)
        while not update.nlri:  # type: ignore[union-attr]
            update = await peer.next(Update)
        assert update.nlri == (V4("203.0.113.1/32"),)  # type: ignore[union-attr]


async def test_misuse_is_refused(peer: FakePeer) -> None:
    session = BgpSession(peer.settings(), on_event=lambda e: None)
    async with session:
        with pytest.raises(SessionUsageError):
            await session.__aenter__()
    with pytest.raises(SessionUsageError):
        session.set_desired({})
    with pytest.raises(TypeError):
        BgpSession(peer.settings(), on_event=lambda e: None).set_desired({"203.0.113.1/32": RouteAttrs()})  # type: ignore[dict-item]


def test_settings_reject_bad_values() -> None:
    from speaker.bgp.settings import PeerSettings

    with pytest.raises(ValueError, match='invalid hold time "2", must be 0 or >=3s'):
        PeerSettings(ipaddress.IPv4Address("192.0.2.1"), 64512, 64513, hold_time=2)
    with pytest.raises(ValueError, match="peer_asn"):
        PeerSettings(ipaddress.IPv4Address("192.0.2.1"), 64512, 0)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=120), st.booleans())
def test_fuzzed_bytes_from_the_peer_only_ever_cause_a_notification(junk: bytes, framed: bool) -> None:
    """Whatever the peer sends once Established, the session stays in control: it ends with a NOTIFICATION
    (or carries on, if the bytes happened to be valid), and never raises into the caller."""
    if framed:
        junk = b"\xff" * 16 + struct.pack("!HB", 19 + len(junk), 1 + junk[0] % 5) + junk

    async def scenario() -> None:
        peer = await FakePeer().start()
        events = Events()
        try:
            async with BgpSession(peer.settings(), on_event=events.append) as session:
                await asyncio.wait_for(session.wait_synced(), 10)
                peer.send(junk)
                await asyncio.sleep(0.05)
                task = session._task
                assert task is not None and not task.done(), "the session task survives anything"
            downs = [e for e in events if e.kind == EventKind.DOWN]
            assert downs, "closing reports the session down"
            if len(downs) > 1 or downs[0].reason != "session closed":
                assert downs[0].notification is not None
        finally:
            await peer.close()

    # A fresh loop in its own thread: this sync Hypothesis test must not disturb anyio's loop of the async tests.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result(timeout=60)


async def test_ipv6_routes_go_in_mp_reach(peer: FakePeer) -> None:
    net6 = ipaddress.IPv6Network("2001:db8:100::/64")
    async with BgpSession(peer.settings(), on_event=lambda e: None) as session:
        session.set_desired({net6: RouteAttrs()})
        updates = await peer.updates_once_synced(session)
        session.set_desired({})
        withdrawn = await peer.updates_once_synced(session)
    reach = [a for u in updates for a in u.attributes if a.__class__.__name__ == "MpReach"]
    assert reach and reach[0].nlri == (net6,)  # type: ignore[union-attr]
    # IPv6 over an IPv4 session: the next hop is our IPv4-mapped address.
    assert str(reach[0].next_hops[0]) == "::ffff:7f00:1"  # type: ignore[union-attr]
    unreach = [a for u in withdrawn for a in u.attributes if isinstance(a, MpUnreach)]
    assert unreach and unreach[0].withdrawn == (net6,)
