"""``BgpSession.update(changes)``: only the named prefixes go on the wire, and any mix of ``update``,
``set_desired``, reconnects and ROUTE-REFRESH leaves the router holding exactly the table the calls describe."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress

import pytest
from fake_peer import FakePeer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speaker.bgp.attributes import Communities, MpReach, MpUnreach
from speaker.bgp.message import encode_message
from speaker.bgp.route_refresh import RouteRefresh
from speaker.bgp.routes import Prefix, RouteAttrs
from speaker.bgp.session import BgpSession, EventKind, SessionEvent, SessionUsageError
from speaker.bgp.update import Update

pytestmark = pytest.mark.anyio

V4 = ipaddress.IPv4Network
V6 = ipaddress.IPv6Network
Rib = dict[Prefix, frozenset[int]]


def _apply(rib: Rib, updates: list[Update]) -> None:
    """What a router holds after these UPDATEs: prefix → communities."""
    for u in updates:
        withdrawn = list(u.withdrawn)
        announced = list(u.nlri)
        for a in u.attributes:
            if isinstance(a, MpUnreach):
                withdrawn += a.withdrawn
            elif isinstance(a, MpReach):
                announced += a.nlri
        for p in withdrawn:
            rib.pop(p, None)
        comms = u.attribute(Communities)
        values = frozenset(comms.values) if isinstance(comms, Communities) else frozenset()
        for p in announced:
            rib[p] = values


TABLE = {V4((0x0A000000 + i, 32)): RouteAttrs() for i in range(1000)}


async def test_update_sends_exactly_the_changed_prefixes(peer: FakePeer) -> None:
    async with BgpSession(peer.settings(), on_event=lambda e: None) as session:
        session.set_desired(TABLE)
        await peer.updates_once_synced(session)
        added, gone = V4("203.0.113.7/32"), V4("10.0.0.5/32")
        session.update({added: RouteAttrs(), gone: None, V4("203.0.113.99/32"): None})
        updates = await peer.updates_once_synced(session)
        assert [(u.withdrawn, u.nlri) for u in updates] == [((gone,), ()), ((), (added,))]
        assert session.stats.announced == session.stats.pending == 1000

        # Same attributes again: nothing to send. New attributes: one UPDATE for that prefix.
        session.update({added: RouteAttrs()})
        assert await peer.updates_once_synced(session) == []
        session.update({added: RouteAttrs(communities=frozenset({64512 << 16 | 9}))})
        (changed,) = await peer.updates_once_synced(session)
        assert changed.nlri == (added,) and changed.attribute(Communities) == Communities((64512 << 16 | 9,))


async def test_reconnect_after_updates_resends_the_whole_current_table(peer: FakePeer) -> None:
    events: list[SessionEvent] = []
    a, b, c = V4("203.0.113.1/32"), V4("203.0.113.2/32"), V6("2001:db8::/64")
    async with BgpSession(peer.settings(), on_event=events.append) as session:
        session.set_desired({a: RouteAttrs()})
        await peer.updates_once_synced(session)
        session.update({b: RouteAttrs(), a: None})
        session.update({c: RouteAttrs()})
        await peer.updates_once_synced(session)
        assert peer.writer is not None
        peer.writer.transport.abort()
        async with asyncio.timeout(10):
            while not any(e.kind == EventKind.DOWN for e in events) or peer.connections < 2 or not session.synced:
                await asyncio.sleep(0.01)
        rib: Rib = {}
        _apply(rib, await peer.updates_once_synced(session))
    assert rib == {b: frozenset(), c: frozenset()}


async def test_update_refuses_bad_input_and_use_after_close(peer: FakePeer) -> None:
    session = BgpSession(peer.settings(), on_event=lambda e: None)
    with pytest.raises(TypeError, match="not an IPv4Network"):
        session.update({"203.0.113.1/32": RouteAttrs()})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="not RouteAttrs or None"):
        session.update({V4("203.0.113.1/32"): 5})  # type: ignore[dict-item]
    async with session:
        pass
    with pytest.raises(SessionUsageError):
        session.update({})


# --- any sequence of calls ---------------------------------------------------------------------------------

PREFIXES = [V4(f"203.0.113.{i}/32") for i in range(6)] + [V6(f"2001:db8:{i}::/64") for i in range(3)]
ATTRS = st.sampled_from([RouteAttrs(), RouteAttrs(communities=frozenset({64512 << 16 | 1}))])
PREFIX = st.sampled_from(PREFIXES)
OPS = st.one_of(
    st.tuples(st.just("set"), st.dictionaries(PREFIX, ATTRS, max_size=9)),
    st.tuples(st.just("update"), st.dictionaries(PREFIX, st.none() | ATTRS, max_size=4)),
    st.tuples(st.just("refresh"), st.none()),
    st.tuples(st.just("reconnect"), st.none()),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(OPS, min_size=1, max_size=8))
def test_any_mix_of_calls_leaves_the_router_with_the_described_table(ops: list[tuple[str, object]]) -> None:
    """Model: a dict changed by the calls as documented. After every call and sync, the router (rebuilt from the
    UPDATEs it received on its current connection) holds exactly the model, as whole tables would give."""

    async def scenario() -> None:
        peer = await FakePeer().start()
        events: list[SessionEvent] = []
        model: dict[Prefix, RouteAttrs] = {}
        rib: Rib = {}
        try:
            async with BgpSession(peer.settings(), on_event=events.append) as session:
                await asyncio.wait_for(session.wait_synced(), 10)
                for op, arg in ops:
                    if op == "set":
                        assert isinstance(arg, dict)
                        model = dict(arg)
                        session.set_desired(arg)
                    elif op == "update":
                        assert isinstance(arg, dict)
                        for p, a in arg.items():
                            if a is None:
                                model.pop(p, None)
                            else:
                                model[p] = a
                        session.update(arg)
                    elif op == "refresh":
                        peer.send(encode_message(RouteRefresh(1, 1)))
                        await asyncio.sleep(0.05)
                    else:
                        downs = sum(1 for e in events if e.kind == EventKind.DOWN)
                        connections = peer.connections
                        assert peer.writer is not None
                        peer.writer.transport.abort()
                        async with asyncio.timeout(10):
                            while (
                                sum(1 for e in events if e.kind == EventKind.DOWN) == downs
                                or peer.connections == connections
                                or not session.synced
                            ):
                                await asyncio.sleep(0.01)
                        rib = {}  # the router dropped the old connection's routes (no graceful restart here)
                    _apply(rib, await peer.updates_once_synced(session))
                    want = {p: a.communities for p, a in model.items()}
                    assert rib == want, f"after {op}"
                    assert session.stats.announced == len(model)
        finally:
            await peer.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result(timeout=120)
