"""SpeakerController over a Store and fakes: what this node announces, what it writes, and when it stays put.

Two nodes ``a`` and ``b``; the election's order for 198.51.100.100 is fixed by sha256, so each test reads the
owner from the pure core (``L2Election``) instead of hard-coding it: the tests check that the controller does
what the core decides, and what a user sees (Events, status objects, metrics) follows.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from kubefakes import FakeApi, FakeRecorder
from prometheus_client import CollectorRegistry, generate_latest

from crds.addresses import format_ip
from reconciler.core.l2 import election_order, l2_announcements
from reconciler.core.nodes import endpoint_slice_view
from reconciler.core.services import service_view
from reconciler.runtime.clock import FakeClock
from reconciler.runtime.errors import Unavailable
from reconciler.runtime.metrics import ExactCounters
from reconciler.runtime.resources import ENDPOINTSLICES, NODES, SECRETS, SERVICES
from reconciler.runtime.store import Store
from reconciler.runtime.workqueue import WorkQueue
from speaker.bgp.routes import Prefix, RouteAttrs
from speaker.bgp.session import BgpSession
from speaker.bgp.settings import PeerSettings
from speaker.bgp_announcer import BgpAnnouncer
from speaker.controller import (
    CLAIM_LOOK_SECONDS,
    CLAIM_SECONDS,
    CONFIG,
    FLUSH,
    SWEEP,
    Key,
    SpeakerController,
    SpeakerSettings,
)
from speaker.resources import (
    ADVERTISEMENTS_BGP,
    ADVERTISEMENTS_L2,
    BGP_STATUSES,
    CONFIG_KINDS,
    L2_STATUSES,
    PEERS,
    POOLS,
    STATES,
    status_service_key,
)

pytestmark = pytest.mark.anyio
NS = "metallb-system"
VIP = "198.51.100.100"


class FakeResponder:
    """Keeps the whole desired state as the controller's calls change it; ``calls`` has it after each call."""

    def __init__(self, missing: frozenset[Any] = frozenset()) -> None:
        self.calls: list[dict[Any, frozenset[str] | None]] = []
        self.changes: list[tuple[dict[Any, frozenset[str] | None], list[Any]]] = []
        self.retriggered: list[Any] = []
        self.missing = missing
        self.unserved: frozenset[Any] = frozenset()  # answered on no interface (e.g. the only link is down)
        self.current: dict[Any, frozenset[str] | None] = {}

    def _result(self) -> Any:
        class Result:
            missing_interfaces = frozenset(ip for ip in self.missing if ip in self.current)
            unserved = missing_interfaces | frozenset(ip for ip in self.unserved if ip in self.current)

        return Result()

    def set_desired(self, desired: Any) -> Any:
        self.current = dict(desired)
        self.calls.append(dict(self.current))
        return self._result()

    def update(self, changes: Any, removed: Any = ()) -> Any:
        self.changes.append((dict(changes), list(removed)))
        added = frozenset(ip for ip in changes if ip not in self.current)
        for ip in removed:
            if ip not in changes:
                self.current.pop(ip, None)
        self.current.update(changes)
        self.calls.append(dict(self.current))
        result = self._result()
        result.added = added
        return result

    def first_gratuitous_at(self, ip: Any) -> float | None:
        return 10.25

    def retrigger(self, ip: Any) -> None:
        self.retriggered.append(ip)


def node(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "resourceVersion": "1"},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.1"}], "conditions": []},
    }


def service(name: str, *ips: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": "1", "uid": "u"},
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.1"], "ports": [{"port": 80, "protocol": "TCP"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}},
    }


def endpoints(svc: str, *nodes: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{svc}-x", "namespace": "default", "labels": {"kubernetes.io/service-name": svc}},
        "endpoints": [{"addresses": ["10.244.0.1"], "nodeName": n, "conditions": {"ready": True}} for n in nodes],
    }


def pool(name: str, *addresses: str) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": "1"},
        "spec": {"addresses": list(addresses)},
    }


def l2adv(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": "1"},
        "spec": spec,
    }


class World:
    def __init__(
        self,
        me: str,
        *,
        members: frozenset[str] | None = None,
        missing: frozenset[Any] = frozenset(),
        bgp: BgpAnnouncer | None = None,
        bgp_factory: Callable[[], BgpAnnouncer] | None = None,
    ):
        self.store = Store()
        for res in (SERVICES, ENDPOINTSLICES, NODES, SECRETS, L2_STATUSES, BGP_STATUSES, STATES, *CONFIG_KINDS):
            self.store.replace(res, [], "1")
        self.store.replace(NODES, [node("a"), node("b")], "1")
        self.store.replace(POOLS, [pool("vips", "198.51.100.100-198.51.100.110")], "1")
        self.store.replace(ADVERTISEMENTS_L2, [l2adv("all")], "1")
        self.queue: WorkQueue[Key] = WorkQueue(name="t")
        self.api = FakeApi()
        self.recorder = FakeRecorder()
        self.responder = FakeResponder(missing)
        self.members = members
        self.exact = ExactCounters()
        self.registry = CollectorRegistry()
        self.speaker = SpeakerController(
            self.store,
            self.queue,
            self.api,
            self.recorder,  # type: ignore[arg-type]
            self.responder,
            settings=SpeakerSettings(node=me, namespace=NS),
            registry=self.registry,
            exact=self.exact,
            members=lambda: self.members,
            bgp=bgp,
            bgp_factory=bgp_factory,
            clock=lambda: 10.0,
            now=lambda: "T",
        )
        self.store.subscribe(self.speaker.on_store_change)

    async def drain(self) -> None:
        while len(self.queue):
            key = await self.queue.get()
            try:
                await self.speaker.reconcile(key)
            finally:
                self.queue.done(key)

    async def start(self) -> None:
        self.queue.add(CONFIG)
        await self.drain()

    def desired(self) -> dict[Any, frozenset[str] | None]:
        return self.responder.calls[-1] if self.responder.calls else {}

    def sample(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


def owner_of(ip: str, nodes: tuple[str, ...] = ("a", "b")) -> str:
    return election_order(nodes, ip, {})[0]


async def test_the_elected_node_answers_for_the_vip_and_says_so_once() -> None:
    winner = owner_of(VIP)
    w = World(winner)
    w.store.apply(SERVICES, "ADDED", service("web", VIP))
    w.store.apply(ENDPOINTSLICES, "ADDED", endpoints("web", "a"))
    await w.start()
    assert w.desired() == {ipaddress.ip_address(VIP): None}
    message = f'announcing from node "{winner}" with protocol "layer2"'
    assert w.recorder.events == [("web", "Normal", "nodeAssigned", message)]
    assert w.sample("metallb_speaker_announced", service="default/web", protocol="layer2", node=winner, ip=VIP) == 1
    status = [o for (kind, _, _), o in w.api.objects.items() if kind == "servicel2statuses"]
    assert [s["status"] for s in status] == [{"node": winner, "serviceName": "web", "serviceNamespace": "default"}]
    # The same inputs again (a resync): no new Event (MetalLB emits one on every pass, #1682).
    w.queue.add(CONFIG)
    w.speaker.config = None
    await w.drain()
    assert len(w.recorder.events) == 1
    text = generate_latest(w.registry).decode()
    assert "# TYPE metallb_speaker_announced gauge" in text
    assert (
        f'metallb_speaker_announced{{ip="{VIP}",node="{winner}",protocol="layer2",service="default/web"}} 1.0' in text
    )
    # The Service goes: its line leaves the gauge.
    w.store.apply(SERVICES, "DELETED", service("web", VIP))
    await w.drain()
    assert w.sample("metallb_speaker_announced", service="default/web", protocol="layer2", node=winner, ip=VIP) is None


async def test_the_other_node_stays_silent() -> None:
    loser = "b" if owner_of(VIP) == "a" else "a"
    w = World(loser)
    w.store.apply(SERVICES, "ADDED", service("web", VIP))
    w.store.apply(ENDPOINTSLICES, "ADDED", endpoints("web", "a"))
    await w.start()
    assert w.desired() == {} and w.recorder.events == []


async def test_without_serving_endpoints_nobody_announces() -> None:
    w = World(owner_of(VIP))
    w.store.apply(SERVICES, "ADDED", service("web", VIP))
    await w.start()
    assert w.desired() == {}


def web_on_both(me: str, members: frozenset[str]) -> World:
    """Node ``me``, with ``members`` alive as its failure detector sees them, and Service ``web`` (the VIP) served
    on nodes ``a`` and ``b``; not started."""
    w = World(me, members=members)
    w.store.apply(SERVICES, "ADDED", service("web", VIP))
    w.store.apply(ENDPOINTSLICES, "ADDED", endpoints("web", "a", "b"))
    return w


async def test_when_the_owner_dies_the_next_in_order_takes_over_and_the_failover_is_timed() -> None:
    first, second = election_order(("a", "b"), VIP, {})
    w = web_on_both(second, frozenset({"a", "b"}))
    await w.start()
    assert w.desired() == {}
    w.members = frozenset({second})
    w.speaker.members_changed(frozenset({first}), at=10.0)
    await w.drain()
    assert w.desired() == {ipaddress.ip_address(VIP): None}
    assert w.sample("pymetallb_failover_seconds_count") == 1
    assert w.sample("pymetallb_failover_seconds_sum") == pytest.approx(0.25)


def l2_statuses(w: World) -> dict[str, str]:
    """ServiceL2Status objects in the (fake) API: name → node."""
    objects = w.api.objects.items()
    return {k[2]: o["metadata"]["labels"]["metallb.io/node"] for k, o in objects if k[0] == "servicel2statuses"}


async def test_the_new_owner_deletes_the_status_a_dead_node_left_and_keeps_a_live_ones() -> None:
    first, second = election_order(("a", "b"), VIP, {})
    w = web_on_both(second, frozenset({"a", "b"}))
    w.store.apply(SERVICES, "ADDED", service("other", "198.51.100.101"))
    w.api.put(L2_STATUSES, l2_status_of(first))
    await w.start()
    assert l2_statuses(w) == {f"l2-{first}": first}, "the first sweep leaves a live node's status alone"
    # ``first`` crashes: it cannot delete its status, the node that takes over does (only that one: a status of
    # the dead node for a Service nobody here announces stays).
    left = l2_status_of(first, "other") | {"metadata": {**l2_status_of(first, "other")["metadata"], "name": "l2-x"}}
    w.api.put(L2_STATUSES, left)
    w.members = frozenset({second})
    w.speaker.members_changed(frozenset({first}), at=10.0)
    await w.drain()
    assert w.desired() == {ipaddress.ip_address(VIP): None}
    assert sorted(l2_statuses(w).values()) == sorted([first, second])
    assert "l2-x" in l2_statuses(w), "a Service this node does not announce: not its status to clear"
    assert f"l2-{first}" not in l2_statuses(w)


async def test_a_sweep_the_api_failed_is_done_when_retried() -> None:
    first, second = election_order(("a", "b"), VIP, {})
    w = web_on_both(second, frozenset({"a", "b"}))
    w.api.put(L2_STATUSES, l2_status_of(first))
    await w.start()
    real_list, failed = w.api.list, []

    async def list_down_once(*args: Any, **kwargs: Any) -> Any:
        if not failed:
            failed.append(True)
            raise Unavailable(0, "ConnectionError", "apiserver down")
        return await real_list(*args, **kwargs)

    w.api.list = list_down_once  # type: ignore[method-assign]
    w.members = frozenset({second})
    w.speaker.members_changed(frozenset({first}), at=10.0)
    with pytest.raises(Unavailable):
        await w.drain()
    assert f"l2-{first}" in l2_statuses(w)
    w.queue.add(SWEEP)  # the work queue retries a failed key
    await w.drain()
    assert list(l2_statuses(w).values()) == [second]


async def test_the_first_sweep_clears_what_a_node_gone_before_the_start_left() -> None:
    first, second = election_order(("a", "b"), VIP, {})
    # ``first`` died while no speaker ran: it is not a member when ``second`` starts.
    w = web_on_both(second, frozenset({second}))
    w.api.put(L2_STATUSES, l2_status_of(first))
    await w.start()
    assert list(l2_statuses(w).values()) == [second]


async def test_a_deleted_service_is_withdrawn_and_its_status_object_goes() -> None:
    w = World(owner_of(VIP))
    w.store.apply(SERVICES, "ADDED", service("web", VIP))
    w.store.apply(ENDPOINTSLICES, "ADDED", endpoints("web", "a"))
    await w.start()
    created = next(o for (k, _, _), o in w.api.objects.items() if k == "servicel2statuses")
    w.store.apply(L2_STATUSES, "ADDED", created)
    w.store.apply(SERVICES, "DELETED", service("web", VIP))
    await w.drain()
    assert w.desired() == {}
    assert not [k for k in w.api.objects if k[0] == "servicel2statuses"]


async def test_an_interface_that_does_not_exist_gives_announce_failed() -> None:
    w = World(owner_of(VIP), missing=frozenset({ipaddress.ip_address(VIP)}))
    w.store.replace(ADVERTISEMENTS_L2, [l2adv("eth9", interfaces=["eth9"])], "2")
    w.store.apply(SERVICES, "ADDED", service("web", VIP))
    w.store.apply(ENDPOINTSLICES, "ADDED", endpoints("web", "a"))
    await w.start()
    assert w.desired() == {ipaddress.ip_address(VIP): frozenset({"eth9"})}
    reasons = [(e[1], e[2]) for e in w.recorder.events]
    assert reasons == [("Warning", "announceFailed")]
    assert w.recorder.events[0][3] == (
        f'the interfaces specified by LB IP "{VIP}" doesn\'t exist in assigned node "{owner_of(VIP)}" '
        'with protocol "layer2"'
    )
    # Another Service's change does not post it again (MetalLB posts it on every reconcile of the Service).
    w.store.apply(SERVICES, "ADDED", service("api", "198.51.100.101"))
    w.store.apply(ENDPOINTSLICES, "ADDED", endpoints("api", "a"))
    await w.drain()
    assert [e[2] for e in w.recorder.events].count("announceFailed") == 1


async def test_an_ip_no_interface_can_answer_claims_no_status_until_one_can_again() -> None:
    """The elected node whose only link went down keeps the decision but claims nothing (its ServiceL2Status
    goes, so the status never names a node that cannot answer); the link back, the status is written again."""
    w = World(owner_of(VIP))
    w.store.apply(SERVICES, "ADDED", service("web", VIP))
    w.store.apply(ENDPOINTSLICES, "ADDED", endpoints("web", "a"))
    await w.start()

    def statuses() -> list[Any]:
        return [o for (kind, _, _), o in w.api.objects.items() if kind == "servicel2statuses"]

    assert len(statuses()) == 1
    written = statuses()[0]
    w.store.apply(L2_STATUSES, "ADDED", written)  # what the reflector would bring
    w.responder.unserved = frozenset({ipaddress.ip_address(VIP)})
    w.speaker.interfaces_changed()
    await w.drain()
    assert statuses() == []
    w.store.apply(L2_STATUSES, "DELETED", written)
    assert ipaddress.ip_address(VIP) in w.desired()  # still desired: answered as soon as a link can
    w.responder.unserved = frozenset()
    w.speaker.interfaces_changed()
    await w.drain()
    assert [s["status"]["node"] for s in statuses()] == [owner_of(VIP)]
    assert [e[2] for e in w.recorder.events] == ["nodeAssigned"]  # no announceFailed: the interfaces exist


async def test_a_config_that_would_orphan_an_announced_ip_is_refused_and_the_ip_stays() -> None:
    w = World(owner_of(VIP))
    w.store.apply(SERVICES, "ADDED", service("web", VIP))
    w.store.apply(ENDPOINTSLICES, "ADDED", endpoints("web", "a"))
    await w.start()
    moved = pool("vips", "203.0.113.0/24")
    moved["metadata"]["resourceVersion"] = "2"
    w.store.apply(POOLS, "MODIFIED", moved)
    await w.drain()
    assert w.desired() == {ipaddress.ip_address(VIP): None}, "still announced"
    assert w.sample("metallb_k8s_client_config_stale_bool") == 1
    assert any("would be in no pool: 198.51.100.100" in e for e in w.speaker.config_errors)


def l2_status_of(node_name: str, service_name: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {
            "name": f"l2-{node_name}",
            "namespace": NS,
            "labels": {
                "metallb.io/node": node_name,
                "metallb.io/service-name": service_name,
                "metallb.io/service-namespace": "default",
            },
        },
        "status": {"node": node_name, "serviceName": service_name, "serviceNamespace": "default"},
    }


async def test_a_duplicate_seen_on_the_wire_makes_the_lower_ranked_announcer_withdraw() -> None:
    first, second = election_order(("a", "b"), VIP, {})
    # A partition: ``second`` cannot see ``first`` in membership and announces too.
    w = web_on_both(second, frozenset({second}))
    await w.start()
    assert w.desired() == {ipaddress.ip_address(VIP): None}
    w.api.put(L2_STATUSES, l2_status_of(first))
    w.speaker.duplicate_seen(ipaddress.ip_address(VIP), "eth0", bytes.fromhex("020000000001"))
    await w.drain()
    assert w.desired() == {}, "the node that sorts second yields"
    assert w.responder.retriggered == [], "a yielding node does not announce again"
    assert ("web", "Warning", "duplicateAnnouncer") in [e[:3] for e in w.recorder.events]
    assert f'pymetallb_layer2_duplicate_announcers{{ip="{VIP}"}} 1' in w.exact.expose()


async def test_a_node_that_keeps_a_disputed_ip_announces_it_again() -> None:
    first = election_order(("a", "b"), VIP, {})[0]
    w = web_on_both(first, frozenset({first}))
    await w.start()
    w.speaker.duplicate_seen(ipaddress.ip_address(VIP), "eth0", bytes.fromhex("020000000002"))
    await w.drain()
    assert w.desired() == {ipaddress.ip_address(VIP): None}
    assert w.responder.retriggered == [ipaddress.ip_address(VIP)], "so the other side hears it and yields"


async def test_a_duplicate_heard_before_the_claimant_died_does_not_leave_the_ip_unanswered() -> None:
    first, second = election_order(("a", "b"), VIP, {})
    # ``second`` announces while ``first`` is away; ``first`` comes back and takes the IP, both answer for a moment.
    w = web_on_both(second, frozenset({second}))
    await w.start()
    assert w.desired() == {ipaddress.ip_address(VIP): None}
    w.members = frozenset({first, second})
    w.api.put(L2_STATUSES, l2_status_of(first))
    w.speaker.duplicate_seen(ipaddress.ip_address(VIP), "eth0", bytes.fromhex("020000000001"))
    w.speaker.members_changed(frozenset(), at=10.0)
    await w.drain()
    assert w.desired() == {}
    # Then ``first`` dies, well within the claim's lifetime: ``second`` answers again.
    w.members = frozenset({second})
    w.speaker.members_changed(frozenset({first}), at=10.0)
    await w.drain()
    assert w.desired() == {ipaddress.ip_address(VIP): None}


async def partitioned_second_on_a_clock() -> tuple[str, World, FakeClock]:
    """Node ``second`` in the VIP's order, announcing ``web`` alone (it cannot see ``first``), on a fake clock."""
    first, second = election_order(("a", "b"), VIP, {})
    w = web_on_both(second, frozenset({second}))
    clock = FakeClock(10.0)
    w.queue.clock = clock
    w.speaker.clock = clock.monotonic
    await w.start()
    return first, w, clock


async def advance(w: World, clock: FakeClock, seconds: float) -> None:
    """Let ``seconds`` pass for the queue's delayed keys, then run what became due."""
    await clock.wait_sleepers()
    clock.advance(seconds)
    for _ in range(10):
        await asyncio.sleep(0)
    await w.drain()


async def test_a_node_that_yielded_to_a_claimant_decides_again_when_the_claim_lapses() -> None:
    first, w, clock = await partitioned_second_on_a_clock()
    w.api.put(L2_STATUSES, l2_status_of(first))
    w.speaker.duplicate_seen(ipaddress.ip_address(VIP), "eth0", bytes.fromhex("020000000001"))
    await w.drain()
    assert w.desired() == {}, "yields to the claimant (a partition: it is alive on the LAN)"
    # The claimant falls silent (it crashed while partitioned): no other change comes, yet the IP is answered.
    await advance(w, clock, CLAIM_SECONDS + 1)
    assert w.desired() == {ipaddress.ip_address(VIP): None}


async def test_a_claimant_whose_status_object_comes_late_is_still_yielded_to() -> None:
    first, w, clock = await partitioned_second_on_a_clock()
    # Heard on the wire before ``first`` has (again) written its status object: nobody to yield to yet.
    w.speaker.duplicate_seen(ipaddress.ip_address(VIP), "eth0", bytes.fromhex("020000000001"))
    await w.drain()
    assert w.desired() == {ipaddress.ip_address(VIP): None}
    assert w.responder.retriggered == [ipaddress.ip_address(VIP)], "keeps it for now, and says so on the wire"
    w.api.put(L2_STATUSES, l2_status_of(first))
    await advance(w, clock, CLAIM_LOOK_SECONDS)
    assert w.desired() == {}, "the second look finds the claimant, which sorts first"
    warnings = [e for e in w.recorder.events if e[2] == "duplicateAnnouncer"]
    assert len(warnings) == 1, "one Warning Event per duplicate, not one per look"


def bgp_advertisement_only(w: World) -> dict[str, str]:
    """Config of BGP mode only: no L2Advertisement, one BGPAdvertisement for every pool; returns the metadata
    the test's other objects may reuse."""
    meta = {"namespace": NS, "resourceVersion": "1"}
    w.store.replace(ADVERTISEMENTS_L2, [], "2")
    w.store.replace(
        ADVERTISEMENTS_BGP,
        [{"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": {"name": "b", **meta}}],
        "2",
    )
    return meta


async def test_the_flush_coalesces_many_decisions_into_one_set_desired() -> None:
    w = World(owner_of(VIP))
    for i in range(50):
        ip = f"198.51.100.{100 + i % 10}"
        w.store.apply(SERVICES, "ADDED", service(f"s{i}", ip))
        w.store.apply(ENDPOINTSLICES, "ADDED", endpoints(f"s{i}", "a"))
    w.queue.add(CONFIG)
    await w.drain()
    assert len(w.responder.calls) <= 2
    assert FLUSH not in w.queue._dirty


async def test_a_layer2_service_change_reaches_the_responder_as_that_change_alone() -> None:
    """One Service changed hands the responder only its IPs (``update``), whatever else is announced; a shared IP
    stays until its last Service goes; only the changed Service's gauge and Events are touched."""
    me = owner_of(VIP)
    mine = [f"198.51.100.{i}" for i in range(101, 111) if owner_of(f"198.51.100.{i}") == me]
    assert len(mine) >= 2, "the sha256 order gives this node at least two of the pool's other IPs"
    w = World(me)
    for i, ip in enumerate(mine):
        w.store.apply(SERVICES, "ADDED", service(f"s{i}", ip))
        w.store.apply(ENDPOINTSLICES, "ADDED", endpoints(f"s{i}", "a"))
    for name in ("web", "web2"):  # two Services sharing VIP
        w.store.apply(SERVICES, "ADDED", service(name, VIP))
        w.store.apply(ENDPOINTSLICES, "ADDED", endpoints(name, "a"))
    await w.start()
    vip = ipaddress.ip_address(VIP)
    assert set(w.desired()) == {vip, *map(ipaddress.ip_address, mine)}
    events = len(w.recorder.events)

    w.store.apply(SERVICES, "DELETED", service("web", VIP))
    await w.drain()
    assert w.responder.changes[-1] == ({vip: None}, [])  # web2 still announces VIP: no change to the responder
    assert vip in w.desired()
    assert w.sample("metallb_speaker_announced", service="default/web", protocol="layer2", node=me, ip=VIP) is None
    assert w.sample("metallb_speaker_announced", service="default/web2", protocol="layer2", node=me, ip=VIP) == 1

    w.store.apply(SERVICES, "DELETED", service("web2", VIP))
    await w.drain()
    assert w.responder.changes[-1] == ({}, [vip])
    w.store.apply(SERVICES, "ADDED", service("api", VIP))
    w.store.apply(ENDPOINTSLICES, "ADDED", endpoints("api", "a"))
    await w.drain()
    assert w.responder.changes[-1] == ({vip: None}, [])
    assert set(w.desired()) == {vip, *map(ipaddress.ip_address, mine)}
    assert w.recorder.events[events:] == [
        ("api", "Normal", "nodeAssigned", f'announcing from node "{me}" with protocol "layer2"')
    ]


async def test_a_death_or_a_join_decides_again_only_what_it_can_change_and_ends_where_a_full_pass_would() -> None:
    everyone = frozenset({"a", "b", "c"})
    w = World("a", members=everyone)
    w.store.replace(NODES, [node("a"), node("b"), node("c")], "1")
    w.store.replace(POOLS, [pool("vips", "198.51.100.0/24")], "1")
    for i in range(60):
        w.store.apply(SERVICES, "ADDED", service(f"s{i}", f"198.51.100.{10 + i}"))
        w.store.apply(ENDPOINTSLICES, "ADDED", endpoints(f"s{i}", "a", "b", "c"))
    await w.start()

    def expected() -> set[Any]:
        """What a fresh speaker would announce now: the pure core over the whole Store."""
        assert w.speaker.config is not None
        views = [service_view(o) for o in w.store.list(SERVICES)]
        slices = {
            v.key: [endpoint_slice_view(o) for o in w.store.by_index(ENDPOINTSLICES, "service", v.key)] for v in views
        }
        won = l2_announcements("a", w.speaker.config, views, w.speaker._nodes(), slices, w.members)
        return {ipaddress.ip_address(format_ip(*ip)) for d in won.values() if d.announce for ip in d.ips}

    updates = w.speaker.metrics.updates  # metallb_k8s_client_updates_total: one per Service decided

    async def decided_after(change: Callable[[], None]) -> int:
        before = updates.value()
        change()
        await w.drain()
        return int(updates.value() - before)

    assert set(w.desired()) == expected()
    mine = len(w.desired())
    for dead in ("b", "c"):
        w.members = everyone - {dead}
        died = await decided_after(lambda d=dead: w.speaker.members_changed(frozenset({d}), 10.0, frozenset()))
        assert set(w.desired()) == expected()
        assert 0 < died < 60 - mine  # only where the dead node beat this one; never the ones it announces
        w.members = everyone
        announcing = len(w.desired())
        came = await decided_after(lambda d=dead: w.speaker.members_changed(frozenset(), 11.0, frozenset({d})))
        assert set(w.desired()) == expected()
        assert came == announcing  # a join: only what this node announces
    # Who joined not known: everything again.
    assert await decided_after(lambda: w.speaker.members_changed(frozenset(), 12.0)) == 60


def test_a_compact_slice_keeps_what_the_election_and_selection_read() -> None:
    from reconciler.core.nodes import endpoint_slice_view
    from speaker.resources import compact_slice

    full = endpoints("web", "a", "b")
    full["endpoints"][0]["addresses"] = ["10.244.0.1", "10.244.0.2"]
    full["endpoints"][0]["conditions"] = {"ready": False, "serving": True, "terminating": True}
    full["endpoints"][0]["targetRef"] = {"kind": "Pod", "name": "web-123", "uid": "x" * 36}
    full["endpoints"][0]["zone"] = "z1"

    def read(obj: dict[str, Any]) -> list[tuple[str | None, bool, bool]]:
        view = endpoint_slice_view(obj)
        assert view.service_key == "default/web"
        return [(e.node_name, e.can_serve, bool(e.addresses)) for e in view.endpoints]

    assert read(compact_slice(full)) == read(full)
    assert "targetRef" not in compact_slice(full)["endpoints"][0]


# --- BGP ------------------------------------------------------------------------------------------------------


class FakeBgpSession:
    """The table the controller's calls describe, and how they came (whole tables or changes)."""

    def __init__(self, settings: PeerSettings, on_event: Any) -> None:
        self.settings = settings
        self.table: dict[Prefix, RouteAttrs] = {}
        self.whole_tables = 0
        self.changes: list[dict[Prefix, RouteAttrs | None]] = []

    async def __aenter__(self) -> FakeBgpSession:
        return self

    async def close(self, *, keep_routes: bool = False) -> None:
        return None

    def set_desired(self, routes: Any) -> None:
        self.whole_tables += 1
        self.table = dict(routes)

    def update(self, changes: Any) -> None:
        self.changes.append(dict(changes))
        for prefix, attrs in changes.items():
            if attrs is None:
                self.table.pop(prefix, None)
            else:
                self.table[prefix] = attrs


def bgp_world() -> tuple[World, list[FakeBgpSession]]:
    sessions: list[FakeBgpSession] = []

    def factory(settings: PeerSettings, on_event: Any) -> BgpSession:
        sessions.append(FakeBgpSession(settings, on_event))
        return sessions[-1]  # type: ignore[return-value]

    announcer = BgpAnnouncer(
        node="a", registry=CollectorRegistry(), exact=ExactCounters(), report=lambda *a: None, session_factory=factory
    )
    w = World("a", bgp=announcer)
    meta = bgp_advertisement_only(w)
    peer_spec = {"myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.9"}
    w.store.replace(
        PEERS,
        [
            {
                "apiVersion": "metallb.io/v1beta2",
                "kind": "BGPPeer",
                "metadata": {"name": "tor", **meta},
                "spec": peer_spec,
            }
        ],
        "2",
    )
    return w, sessions


async def test_a_bgp_service_change_reaches_the_session_as_that_change_alone() -> None:
    w, sessions = bgp_world()
    w.store.apply(SERVICES, "ADDED", service("web", VIP))
    w.store.apply(ENDPOINTSLICES, "ADDED", endpoints("web", "a"))
    await w.start()
    (session,) = sessions
    assert session.table == {ipaddress.ip_network(f"{VIP}/32"): RouteAttrs()}
    assert w.sample("metallb_speaker_announced", service="default/web", protocol="bgp", node="a", ip=VIP) == 1
    assert w.recorder.events == [("web", "Normal", "nodeAssigned", 'announcing from node "a" with protocol "bgp"')]
    responder_calls, whole_tables = len(w.responder.calls), session.whole_tables

    other = "198.51.100.101"
    w.store.apply(SERVICES, "ADDED", service("api", other))
    w.store.apply(ENDPOINTSLICES, "ADDED", endpoints("api", "b"))
    await w.drain()
    assert session.changes[-1] == {ipaddress.ip_network(f"{other}/32"): RouteAttrs()}
    assert w.sample("metallb_speaker_announced", service="default/api", protocol="bgp", node="a", ip=other) == 1
    assert w.recorder.events[-1] == ("api", "Normal", "nodeAssigned", 'announcing from node "a" with protocol "bgp"')

    w.store.apply(SERVICES, "DELETED", service("web", VIP))
    await w.drain()
    assert session.changes[-1] == {ipaddress.ip_network(f"{VIP}/32"): None}
    assert session.table == {ipaddress.ip_network(f"{other}/32"): RouteAttrs()}
    assert w.sample("metallb_speaker_announced", service="default/web", protocol="bgp", node="a", ip=VIP) is None
    assert session.whole_tables == whole_tables, "no whole table for one Service"
    assert len(w.responder.calls) == responder_calls, "a BGP-only change leaves the layer 2 responder alone"


def bgp_peer(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": "1"},
        "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.9", **spec},
    }


class LazyBgp:
    """A ``bgp_factory`` that counts its calls and builds a BgpAnnouncer over fake sessions."""

    def __init__(self) -> None:
        self.calls = 0
        self.sessions: list[FakeBgpSession] = []

    def __call__(self) -> BgpAnnouncer:
        self.calls += 1

        def session(settings: PeerSettings, on_event: Any) -> BgpSession:
            self.sessions.append(FakeBgpSession(settings, on_event))
            return self.sessions[-1]  # type: ignore[return-value]

        return BgpAnnouncer(
            node="a",
            registry=CollectorRegistry(),
            exact=ExactCounters(),
            report=lambda *a: None,
            session_factory=session,
        )


def lazy_bgp_world() -> tuple[World, LazyBgp]:
    """Node ``a`` with BGP enabled but unbuilt: a BGPAdvertisement, no BGPPeer, Service ``web`` served on ``a``."""
    factory = LazyBgp()
    w = World("a", bgp_factory=factory)
    bgp_advertisement_only(w)
    w.store.apply(SERVICES, "ADDED", service("web", VIP))
    w.store.apply(ENDPOINTSLICES, "ADDED", endpoints("web", "a"))
    return w, factory


async def test_bgp_is_built_only_when_a_peer_selects_this_node_and_then_kept() -> None:
    w, factory = lazy_bgp_world()
    await w.start()
    assert factory.calls == 0 and w.speaker.bgp is None, "a config without BGPPeers builds no BGP machinery"
    assert w.sample("metallb_speaker_announced", service="default/web", protocol="bgp", node="a", ip=VIP) is None

    w.store.apply(NODES, "MODIFIED", node("b", rack="r2"))
    w.store.apply(PEERS, "ADDED", bgp_peer("elsewhere", nodeSelectors=[{"matchLabels": {"rack": "r2"}}]))
    await w.drain()
    assert factory.calls == 0, "a BGPPeer for another node only"

    w.store.apply(PEERS, "ADDED", bgp_peer("tor"))
    await w.drain()
    assert factory.calls == 1
    announcer = w.speaker.bgp
    assert announcer is not None and sorted(announcer.peers) == ["tor"]
    (session,) = factory.sessions
    assert session.table == {ipaddress.ip_network(f"{VIP}/32"): RouteAttrs()}
    assert w.sample("metallb_speaker_announced", service="default/web", protocol="bgp", node="a", ip=VIP) == 1

    # Kept for the life of the process: the peers going and coming back close and open sessions, nothing more.
    w.store.apply(PEERS, "DELETED", bgp_peer("tor"))
    await w.drain()
    assert w.speaker.bgp is announcer and announcer.peers == {}
    w.store.apply(PEERS, "ADDED", bgp_peer("tor"))
    await w.drain()
    assert factory.calls == 1 and w.speaker.bgp is announcer and sorted(announcer.peers) == ["tor"]
    assert len(factory.sessions) == 2 and factory.sessions[-1].table == session.table


async def test_a_node_relabelled_into_a_peers_selectors_builds_bgp() -> None:
    w, factory = lazy_bgp_world()
    w.store.apply(PEERS, "ADDED", bgp_peer("tor", nodeSelectors=[{"matchLabels": {"rack": "r1"}}]))
    await w.start()
    assert factory.calls == 0, "the BGPPeer selects no node yet"
    w.store.apply(NODES, "MODIFIED", node("a", rack="r1"))
    await w.drain()
    assert factory.calls == 1
    (session,) = factory.sessions
    assert session.table == {ipaddress.ip_network(f"{VIP}/32"): RouteAttrs()}


async def test_withdraw_all_closes_the_sessions_of_a_lazily_built_bgp_and_is_fine_without_one() -> None:
    w, factory = lazy_bgp_world()
    await w.start()
    await w.speaker.withdraw_all()  # nothing built: nothing to close
    assert factory.calls == 0
    w.store.apply(PEERS, "ADDED", bgp_peer("tor", enableGracefulRestart=True))
    await w.drain()
    (session,) = factory.sessions
    closed: list[bool] = []

    async def close(*, keep_routes: bool = False) -> None:
        closed.append(keep_routes)

    session.close = close  # type: ignore[method-assign]
    await w.speaker.withdraw_all()
    assert closed == [True], "graceful restart: the router keeps the routes while the speaker restarts"


def test_compact_slices_share_equal_endpoints_but_never_unequal_ones() -> None:
    from reconciler.core.nodes import endpoint_slice_view
    from speaker.resources import ADDRESS_ELIDED, compact_slice

    one, two = endpoints("web", "a", "b"), endpoints("api", "a", "b")
    two["endpoints"][0]["addresses"] = ["10.244.9.9"]  # another address: still the same endpoint to the speaker
    c1, c2 = compact_slice(one), compact_slice(two)
    assert c1["endpoints"] is c2["endpoints"]
    assert c1["endpoints"][0]["addresses"] == [ADDRESS_ELIDED]
    assert endpoint_slice_view(c2).service_key == "default/api"
    odd = endpoints("odd", "a", "b")
    odd["endpoints"][0]["conditions"] = {"ready": 1}  # 1 == True, but not the same input
    odd["endpoints"][1]["addresses"] = [""]  # no usable address
    c3 = compact_slice(odd)
    assert c3["endpoints"][0]["conditions"] == {"ready": 1}
    assert c3["endpoints"][0] is not c1["endpoints"][0]
    assert c3["endpoints"][1]["addresses"] == []
    full_view, compact_view = endpoint_slice_view(odd), endpoint_slice_view(c3)
    assert [(e.node_name, e.can_serve, bool(e.addresses)) for e in compact_view.endpoints] == [
        (e.node_name, e.can_serve, bool(e.addresses)) for e in full_view.endpoints
    ]


def test_a_compact_status_object_keeps_what_the_speaker_reads() -> None:
    from speaker.resources import compact_status

    full = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {
            "name": "l2-abcde",
            "generateName": "l2-",
            "namespace": "metallb-system",
            "uid": "u" * 36,
            "resourceVersion": "7",
            "creationTimestamp": "2026-12-01T00:00:00Z",
            "labels": {
                "metallb.io/node": "a",
                "metallb.io/service-name": "web",
                "metallb.io/service-namespace": "default",
            },
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "speaker-x", "uid": "p" * 36}],
            "managedFields": [{"manager": "pymetallb"}],
        },
        "status": {"node": "a", "serviceName": "web", "serviceNamespace": "default", "interfaces": [{"name": "eth0"}]},
    }
    compact = compact_status(full, "a")
    assert compact == {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {
            "name": "l2-abcde",
            "namespace": "metallb-system",
            "resourceVersion": "7",
            "labels": full["metadata"]["labels"],
        },
        "status": full["status"],
    }
    assert status_service_key(compact) == status_service_key(full) == ["default/web"]
    # Another node's: only who and which Service (it is only ever counted or deleted).
    other = compact_status(full, "b")
    assert "status" not in other
    assert other["metadata"] == compact["metadata"]


@pytest.mark.parametrize("etp", ["Cluster", "Local"])
def test_the_speakers_compact_service_reads_the_same_to_its_decisions(etp: str) -> None:
    from reconciler.core.services import service_view
    from speaker.resources import compact_speaker_service

    full = service("web", "198.51.100.10", "2001:db8::10")
    full["metadata"]["labels"] = {"app": "web"}
    full["metadata"]["annotations"] = {"metallb.io/allow-shared-ip": "k"}
    full["spec"].update(
        {
            "externalTrafficPolicy": etp,
            "selector": {"app": "web"},
            "ipFamilies": ["IPv4", "IPv6"],
            "ipFamilyPolicy": "PreferDualStack",
            "loadBalancerClass": "example.com/lb",
        }
    )

    def read(obj: dict[str, Any]) -> tuple[Any, ...]:
        v = service_view(obj)
        return (
            v.key,
            v.name,
            v.is_load_balancer,
            v.is_ours("example.com/lb"),
            v.is_ours(None),
            v.labels,
            v.shares_ip,
            v.etp_local,
            v.current_ips,
            v.invalid_ingress,
        )

    compact = compact_speaker_service(full)
    assert read(compact) == read(full)
    assert not {"clusterIPs", "ports", "selector", "ipFamilies"} & set(compact["spec"])
