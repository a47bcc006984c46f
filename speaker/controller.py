"""The speaker's controller: decide per Service with the pure core (the L2 election, the BGP selection), then
answer ARP/NDP for the Services this node wins and hand every BGP peer its routes.

Level-triggered over the program's Store, on typed keys:

* ``ConfigKey``: parse the config with the one parser (``crds.config.parse_config``); a broken config is
  reported in ConfigurationState ``speaker-<node>`` and ``metallb_k8s_client_config_stale_bool`` and the last
  good one stays; as MetalLB's speaker, a new config under which an IP we announce is in no pool is refused too.
* ``ElectionKey``: Nodes or live members changed: the election is rebuilt; after a Node change every Service is
  decided again, after deaths only those whose winner died, after joins only those this node announces.
* ``ServiceKey``: ``L2Election.decide`` and ``BGPSelection.decide`` for (this node, the Service, its
  EndpointSlices); a changed decision queues the flush (layer 2: ``FlushKey``; BGP: ``BgpFlushKey``) and the
  Service's status objects.
* ``SessionsKey``: BGP sessions exactly for the peers active on this node (``speaker.bgp_announcer``, built by
  ``bgp_factory`` when a BGPPeer first selects this node, and kept from then on).
* ``FlushKey``: what the changed layer 2 decisions changed (IP → interfaces) to the responder in one
  ``L2Responder.update``, O(change); Events ``nodeAssigned`` (only when this node *starts* announcing, not on every
  pass as upstream #1682) and ``announceFailed``; gauge ``metallb_speaker_announced``; the failover histogram.
* ``BgpFlushKey``: the BGP sessions get what the changed BGP decisions changed, and only those Services' gauges
  and Events are looked at: one Service changed costs O(its routes), not O(all Services).
* ``StatusKey``: this node's ServiceL2Status and ServiceBGPStatus for the Service match the decisions
  (created, fixed or deleted).
* ``StateKey``: ConfigurationState ``speaker-<node>``.

A flush coalesces: ten thousand Service decisions after a resync give one ``update``, queued behind them.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from crds.addresses import format_ip
from crds.config import ClusterResources, Config, ParseOptions, SecretInfo, parse_config
from crds.types import (
    BFDProfile,
    BGPAdvertisement,
    BGPPeer,
    Community,
    ConfigurationState,
    IPAddressPool,
    L2Advertisement,
)
from reconciler.core.actuation import CONFIG_CONDITION, configuration_state_status
from reconciler.core.allocator import IP
from reconciler.core.announcing import Reason
from reconciler.core.bgp import BGPSelection
from reconciler.core.l2 import L2Decision, L2Election
from reconciler.core.nodes import NodeView, endpoint_slice_view, node_view
from reconciler.core.services import service_view
from reconciler.core.speaker_status import (
    LABEL_NODE,
    LABEL_SERVICE_NAME,
    LABEL_SERVICE_NAMESPACE,
    service_bgp_status,
    service_l2_status,
)
from reconciler.runtime.errors import ApiError, Conflict, NotFound
from reconciler.runtime.events import EventRecorder, EventType
from reconciler.runtime.metrics import ExactCounters
from reconciler.runtime.models import labeled, load_models
from reconciler.runtime.resources import ENDPOINTSLICES, NODES, SECRETS, SERVICES, ResourceType
from reconciler.runtime.store import Store
from reconciler.runtime.workqueue import WorkQueue
from speaker.resources import (
    ADVERTISEMENTS_BGP,
    ADVERTISEMENTS_L2,
    BFD_PROFILES,
    BGP_STATUSES,
    COMMUNITIES,
    CONFIG_KINDS,
    L2_STATUSES,
    PEERS,
    POOLS,
    STATES,
    slice_service_key,
    status_service_key,
)

if TYPE_CHECKING:  # BGP's modules load only when a BGPPeer selects this node (bgp_factory, speaker/cli.py)
    from speaker.bgp_announcer import BgpAnnouncer

__all__ = [
    "BGP_FLUSH",
    "CONFIG",
    "ELECTION",
    "FLUSH",
    "STATE",
    "SWEEP",
    "BgpFlushKey",
    "ClaimsKey",
    "ConfigKey",
    "ElectionKey",
    "FlushKey",
    "ServiceKey",
    "SpeakerController",
    "SpeakerSettings",
    "StateKey",
    "StatusKey",
    "SweepKey",
]

IPAddress = IPv4Address | IPv6Address


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """Parse the config objects again."""


@dataclass(frozen=True, slots=True)
class ElectionKey:
    """Nodes or live members changed: rebuild the election, decide every Service again."""


@dataclass(frozen=True, slots=True)
class ServiceKey:
    name: str


@dataclass(frozen=True, slots=True)
class FlushKey:
    """Hand the whole desired state to the responder."""


@dataclass(frozen=True, slots=True)
class BgpFlushKey:
    """Hand the BGP sessions what the changed BGP decisions changed (O(change); the layer 2 side is untouched)."""


@dataclass(frozen=True, slots=True)
class StatusKey:
    """Make this node's ServiceL2Status of one Service match the decision."""

    name: str


@dataclass(frozen=True, slots=True)
class ClaimsKey:
    """Another MAC answered for ``ip``, which this node announces for Service ``name``: ask the API which other
    nodes hold a ServiceL2Status for it (they take part in its election for a while; see ``duplicate_seen``)."""

    name: str
    ip: str
    mac: str
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class SweepKey:
    """Delete the ServiceL2Status objects that nodes no longer alive left on Services this node now announces."""


@dataclass(frozen=True, slots=True)
class SessionsKey:
    """BGP sessions for the peers active on this node."""


@dataclass(frozen=True, slots=True)
class StateKey:
    """ConfigurationState ``speaker-<node>``."""


CONFIG = ConfigKey()
ELECTION = ElectionKey()
FLUSH = FlushKey()
BGP_FLUSH = BgpFlushKey()
STATE = StateKey()
SESSIONS = SessionsKey()
SWEEP = SweepKey()
Key = (
    ConfigKey
    | ElectionKey
    | ServiceKey
    | FlushKey
    | BgpFlushKey
    | StatusKey
    | ClaimsKey
    | SweepKey
    | StateKey
    | SessionsKey
)

FIELD_MANAGER = "pymetallb-speaker"
CLAIM_SECONDS = 10.0
"""How long a node seen announcing on the wire counts as alive for that Service's election (see duplicate_seen)."""
CLAIM_LOOKS = 5
CLAIM_LOOK_SECONDS = 1.0
"""How many times, how far apart, the API is asked who else claims a disputed Service before giving up (a MAC that
no speaker's status explains: another implementation, or a host with the IP configured)."""
WATCHED = (SERVICES, ENDPOINTSLICES, NODES, SECRETS, *CONFIG_KINDS)

_MODELS: dict[ResourceType, type[Any]] = {
    POOLS: IPAddressPool,
    ADVERTISEMENTS_L2: L2Advertisement,
    ADVERTISEMENTS_BGP: BGPAdvertisement,
    PEERS: BGPPeer,
    COMMUNITIES: Community,
    BFD_PROFILES: BFDProfile,
}
_FIELDS = {
    POOLS: "pools",
    ADVERTISEMENTS_L2: "l2_advertisements",
    ADVERTISEMENTS_BGP: "bgp_advertisements",
    PEERS: "peers",
    COMMUNITIES: "communities",
    BFD_PROFILES: "bfd_profiles",
}


class Responder(Protocol):
    """The part of ``speaker.l2.L2Responder`` this controller uses (tests pass a fake)."""

    def set_desired(self, desired: Mapping[IPAddress, frozenset[str] | None]) -> Any: ...

    def update(self, changes: Mapping[IPAddress, frozenset[str] | None], removed: Iterable[IPAddress] = ()) -> Any: ...

    def first_gratuitous_at(self, ip: IPAddress) -> float | None: ...

    def retrigger(self, ip: IPAddress) -> None: ...


@dataclass(frozen=True)
class SpeakerSettings:
    node: str
    namespace: str = "metallb-system"
    lb_class: str | None = None
    ignore_exclude_lb: bool = False
    pod_name: str | None = None
    pod_uid: str | None = None


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _labels(obj: Any) -> Any:
    return ((obj or {}).get("metadata") or {}).get("labels")


def _to_address(family: int, value: int) -> IPAddress:
    return ip_address(format_ip(family, value))


class _AnnouncedGauge:
    """MetalLB's ``metallb_speaker_announced`` gauge (1 per Service, protocol and IP this node announces), read from
    the speaker's own table at scrape time: a prometheus_client Gauge child per IP cost ~700 bytes, 2.3 MiB for the
    3,300 Services one of three speakers announces (bench/bench_speaker.py). The table holds, per protocol and
    Service, the IPs as the decision holds them (the same tuple): the texts are made at scrape time only."""

    NAME = "metallb_speaker_announced"
    HELP = "Services being announced from this node"

    def __init__(self, node: str, announced: Mapping[str, Mapping[str, tuple[IP, ...]]]) -> None:
        self._node = node
        self._announced = announced

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.NAME, self.HELP, labels=["service", "protocol", "node", "ip"])

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        for protocol, services in self._announced.items():
            for service, ips in list(services.items()):
                for ip in ips:
                    family.add_metric([service, protocol, self._node, format_ip(*ip)], 1)
        yield family


class _Metrics:
    def __init__(self, registry: CollectorRegistry, exact: ExactCounters) -> None:
        r = registry
        self.loaded = Gauge("metallb_k8s_client_config_loaded_bool", "1 if the config was loaded", registry=r)
        self.stale = Gauge("metallb_k8s_client_config_stale_bool", "1 if running on a stale config", registry=r)
        self.failover = Histogram(
            "pymetallb_failover_seconds",
            "From a member's declared death to this node's first gratuitous packet for an IP it took over",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=r,
        )
        self.duplicates = exact.counter(
            "pymetallb_layer2_duplicate_announcers", "Another MAC claimed an IP this node announces", ["ip"]
        )
        self.updates = exact.counter("metallb_k8s_client_updates_total", "Number of k8s object updates")
        self.update_errors = exact.counter(
            "metallb_k8s_client_update_errors_total", "Number of k8s object update failures"
        )


class SpeakerController:
    def __init__(
        self,
        store: Store,
        queue: WorkQueue[Key],
        client: Any,
        recorder: EventRecorder,
        responder: Responder,
        *,
        settings: SpeakerSettings,
        registry: CollectorRegistry,
        exact: ExactCounters,
        members: Callable[[], frozenset[str] | None] = lambda: None,
        bgp: BgpAnnouncer | None = None,
        bgp_factory: Callable[[], BgpAnnouncer] | None = None,
        writes: WorkQueue[Key] | None = None,
        clock: Callable[[], float],
        now: Callable[[], str] = _utc_now,
        logger: logging.Logger | None = None,
    ) -> None:
        self.store = store
        # The Store indexes this controller reads (a Service's EndpointSlices and status objects).
        store.add_index(ENDPOINTSLICES, "service", slice_service_key)
        store.add_index(L2_STATUSES, "service", status_service_key)
        store.add_index(BGP_STATUSES, "service", status_service_key)
        self.queue = queue
        self.client = client
        self.recorder = recorder
        self.responder = responder
        self.settings = settings
        self.members = members
        self.bgp = bgp
        self._bgp_factory = bgp_factory
        """Builds ``bgp`` on first need (``_start_bgp``): a speaker no BGPPeer selects carries no BGP machinery."""
        self.writes: WorkQueue[Key] = writes if writes is not None else queue
        """Where API writes go (status objects, ConfigurationState): a queue of its own in the program, so a
        failover's decisions and flush never wait behind thousands of writes (a cold start with 10,000 Services
        writes as many status objects). Events go to the recorder's own sender task (``EventRecorder.post``)."""
        self.clock = clock
        self.now = now
        self.log = logger or logging.getLogger("pymetallb.speaker")
        self.metrics = _Metrics(registry, exact)
        self.config: Config | None = None
        self.config_errors: tuple[str, ...] = ()
        self._election: L2Election | None = None
        self.decisions: dict[str, L2Decision] = {}
        # protocol → Service → its IPs in the gauge (the decision's own tuple)
        self._announced: dict[str, dict[str, tuple[IP, ...]]] = {"layer2": {}, "bgp": {}}
        registry.register(_AnnouncedGauge(settings.node, self._announced))
        self._deaths: list[tuple[float, frozenset[str]]] = []  # (when declared dead, who): for failover timing
        # Services whose layer 2 decision changed since the last flush → their decision as last flushed (None:
        # not announced then). Outside a flush, ``decisions`` is what the responder was handed.
        self._pending: dict[str, L2Decision | None] = {}
        # IP → the Service announcing it, as flushed (a set when Services share the IP): the responder's keys.
        self._ip_users: dict[IPAddress, str | set[str]] = {}
        # Service → the member whose death could change this node's NOT_OWNER decision (``decide_with_rival``);
        # Services whose decision no death can change are absent. A membership change re-decides only what it can
        # change (``_reelect``): with 10,000 Services, a death used to re-decide all of them before the flush.
        self._rivals: dict[str, str] = {}
        self._full_election = True  # the first election decides everything
        self._synced = False
        self._died: set[str] = set()
        self._joined: set[str] = set()
        self._unserved: frozenset[IPAddress] = frozenset()  # desired, but no interface here can answer for them
        self._missing: frozenset[IPAddress] = frozenset()  # desired on named interfaces none of which is here
        # Duplicate announcers heard on the wire: reported as Events at the next flush.
        # (Service, IP, other MAC, whether to post the Warning Event: the first look only).
        self._duplicate_reports: list[tuple[str, str, str, bool]] = []
        # Service → (other node seen announcing it too, until when): that node is alive on the LAN whatever the
        # failure detector says (a membership partition), so it takes part in this Service's election.
        self._claims: dict[str, dict[str, float]] = {}
        # Nodes declared dead whose ServiceL2Status objects are not swept yet (None: the first sweep, of every
        # other node, is still to come). The Store holds this node's own status objects only.
        self._unswept: set[str] | None = None
        # When each disputed IP was last handled: two announcers re-announcing at each other must not become a
        # storm of gratuitous packets and Events.
        self._duplicate_handled: dict[IPAddress, float] = {}

    # --- wiring --------------------------------------------------------------------------------------

    def synced(self) -> bool:
        """Every watched kind has had its first list (a Store never un-syncs: asked once per key, so kept)."""
        if not self._synced:
            self._synced = all(self.store.synced(r) for r in WATCHED)
        return self._synced

    def on_store_change(self, res: ResourceType, key: str, old: Any, new: Any) -> None:
        """Store subscriber: mark the right key dirty. Never decides anything."""
        if res == SERVICES:
            self.queue.add(ServiceKey(key))
        elif res == ENDPOINTSLICES:
            for obj in (old, new):
                view = endpoint_slice_view(obj) if obj is not None else None
                if view is not None and view.service_key:
                    self.queue.add(ServiceKey(view.service_key))
        elif res == NODES:
            if old is None or new is None or node_view(old) != node_view(new):
                self._full_election = True
                self.queue.add(ELECTION)
        elif res in CONFIG_KINDS:
            if old is None or new is None or old.get("spec") != new.get("spec"):
                self.queue.add(CONFIG)
        elif res == SECRETS:
            self.queue.add(CONFIG)  # a BGPPeer's passwordSecret may have changed
        elif res in (L2_STATUSES, BGP_STATUSES):
            labels = _labels(new if new is not None else old) or {}
            if labels.get(LABEL_NODE) == self.settings.node:
                name = f"{labels.get('metallb.io/service-namespace')}/{labels.get('metallb.io/service-name')}"
                self.writes.add(StatusKey(name))
        elif res == STATES and key == f"{self.settings.namespace}/speaker-{self.settings.node}":
            self.writes.add(STATE)

    def interfaces_changed(self) -> None:
        """The responder's interfaces changed: refresh what it can serve (and the status objects that say so)."""
        self.queue.add(FLUSH)

    def members_changed(self, dead: frozenset[str], at: float, joined: frozenset[str] | None = None) -> None:
        """Called (on the loop) when the failure detector's view changed; ``dead`` were just declared dead,
        ``joined`` just became alive (None: not known, so every Service is decided again)."""
        if joined is None or self.settings.node in joined:
            self._full_election = True
        else:
            self._joined |= joined
            self._died |= dead
        if dead:
            self._deaths.append((at, dead))
            del self._deaths[:-16]
            # A claim heard before the death (two announcers for a moment while a rejoining node took an IP back)
            # must not keep the dead node in the election: nobody would answer. Packets heard after the death
            # (a real partition) claim it again.
            for claims in self._claims.values():
                for node in dead:
                    claims.pop(node, None)
            if self._unswept is not None:
                self._unswept |= dead
        self.queue.add(ELECTION)

    async def reconcile(self, key: Key) -> float | None:
        if not self.synced():
            return 0.2
        if isinstance(key, StatusKey) and not all(self.store.synced(r) for r in (L2_STATUSES, BGP_STATUSES)):
            return 0.2  # which status objects this node already has is not known yet: a create would duplicate one
        if isinstance(key, ServiceKey):
            self.metrics.updates.labels().inc()
        try:
            if isinstance(key, ServiceKey):
                self._decide(key.name)
            elif isinstance(key, FlushKey):
                await self._flush()
            elif isinstance(key, BgpFlushKey):
                self._flush_bgp()
            elif isinstance(key, StatusKey):
                await self._status(key.name)
            elif isinstance(key, ClaimsKey):
                await self._claim(key)
            elif isinstance(key, SweepKey):
                await self._sweep()
            elif isinstance(key, ConfigKey):
                self._reconcile_config()
            elif isinstance(key, ElectionKey):
                self._reelect()
            elif isinstance(key, StateKey):
                await self._state()
            elif isinstance(key, SessionsKey):
                if self.bgp is not None:
                    await self.bgp.sync_sessions()
                    self.queue.add(BGP_FLUSH)
            else:
                raise TypeError(f"not a speaker key: {key!r}")
        except Exception:
            if isinstance(key, ServiceKey):
                self.metrics.update_errors.labels().inc()
            raise
        return None

    # --- config --------------------------------------------------------------------------------------

    def _reconcile_config(self) -> None:
        ns = self.settings.namespace
        fields: dict[str, list[Any]] = {f: [] for f in _FIELDS.values()}
        problems: list[str] = []
        for res, model in _MODELS.items():
            fields[_FIELDS[res]] = load_models(self.store, res, model, ns, problems)
        nodes = labeled(self.store, NODES)
        secrets = {}
        for obj in self.store.list(SECRETS, ns):
            md = obj.get("metadata") or {}
            data = obj.get("data") or {}
            raw = data.get("password") if isinstance(data, dict) else None
            password = base64.b64decode(raw).decode(errors="replace") if isinstance(raw, str) else None
            secrets[str(md.get("name"))] = SecretInfo(str(md.get("name")), ns, str(obj.get("type") or ""), password)
        resources = ClusterResources(**fields, nodes=nodes, secrets=secrets)
        result = parse_config(resources, ParseOptions(bgp_mode=None, skip_transient=False))
        errors = tuple(problems) + tuple(str(e) for e in result.errors)
        if not errors and result.config is not None:
            orphaned = self._orphaned(result.config)
            if orphaned:
                errors = (f"IPs announced by this node would be in no pool: {', '.join(orphaned)}",)
        self.config_errors = errors
        self.writes.add(STATE)
        if errors or result.config is None:
            self.metrics.stale.set(1)
            self.log.error(
                "configuration is invalid; keeping the last good one",
                extra={"op": "config", "event": "configStale", "errors": list(errors)},
            )
            return None
        self.metrics.stale.set(0)
        self.metrics.loaded.set(1)
        if result.config == self.config:
            return None
        self.config = result.config
        self.log.info(
            "configuration loaded", extra={"op": "config", "event": "configLoaded", "pools": len(result.config.pools)}
        )
        self._rebuild()

    def _orphaned(self, config: Config) -> list[str]:
        """IPs this node announces that are in no pool of ``config`` (MetalLB refuses such a config)."""
        from reconciler.core.announcing import PoolIndex

        index = PoolIndex(config.pools)
        out = []
        for decision in self.decisions.values():
            if decision.announce:
                out += [format_ip(*ip) for ip in decision.ips if index.pool_of(ip) is None]
        return sorted(out)

    def _reelect(self) -> None:
        """Members died or joined (and nothing else changed): decide again only the Services whose decision
        that can change (``L2Election.decide_with_rival``): after deaths, those whose rival died (the Services
        this node announces stay its own); after joins, those this node announces (a new member cannot make a
        loser win). A Node change, or a change of unknown extent, decides every Service again."""
        full, self._full_election = self._full_election, False
        died, self._died = self._died, set()
        joined, self._joined = self._joined, set()
        if full or self.config is None:
            self._rebuild()
            return
        self._election = None
        names = {name for name, rival in self._rivals.items() if rival in died} if died else set()
        if joined:
            names.update(name for name, decision in self.decisions.items() if decision.announce)
        for name in sorted(names):
            self.queue.add(ServiceKey(name))

    def _rebuild(self) -> None:
        self._full_election = False
        self._died, self._joined = set(), set()
        self._election = None
        self._start_bgp()
        if self.bgp is not None and self.config is not None:
            self.bgp.rebuild(
                self.config,
                self._nodes(),
                ignore_exclude_lb=self.settings.ignore_exclude_lb,
                lb_class=self.settings.lb_class,
            )
            self.queue.add(SESSIONS)
        for key in self.store.keys(SERVICES):
            self.queue.add(ServiceKey(key))
        for name in list(self.decisions):
            if self.store.get(SERVICES, name) is None:
                self.queue.add(ServiceKey(name))

    def _start_bgp(self) -> None:
        """Build the BGP machinery (``bgp_factory``) the first time a BGPPeer of the config selects this node
        (the pure ``BGPSelection.active_peers``); it is kept for the life of the process, peers or not."""
        if self.bgp is not None or self._bgp_factory is None or self.config is None or not self.config.peers:
            return
        selection = BGPSelection(
            self.config,
            self._nodes(),
            ignore_exclude_lb=self.settings.ignore_exclude_lb,
            lb_class=self.settings.lb_class,
        )
        peers = selection.active_peers(self.settings.node)
        if not peers:
            return
        self.bgp = self._bgp_factory()
        self._bgp_factory = None
        self.log.info(
            "a BGPPeer selects this node: BGP started", extra={"op": "bgp", "event": "bgpStarted", "peers": list(peers)}
        )

    def election(self) -> L2Election | None:
        if self.config is None:
            return None
        if self._election is None:
            self._election = L2Election(
                self.config,
                self._nodes(),
                self.members(),
                ignore_exclude_lb=self.settings.ignore_exclude_lb,
                lb_class=self.settings.lb_class,
            )
        return self._election

    def _nodes(self) -> dict[str, NodeView]:
        nodes: dict[str, NodeView] = {}
        for obj in self.store.list(NODES):
            view = node_view(obj)
            nodes[view.name] = view
        return nodes

    def _election_with(self, extra: frozenset[str]) -> L2Election | None:
        """An election where ``extra`` nodes count as live too (claimants seen on the wire)."""
        base = self.election()
        members = self.members()
        if base is None or members is None:
            return None  # without membership every API node is a candidate already
        return L2Election(
            base.config,
            base.nodes,
            members | extra,
            ignore_exclude_lb=self.settings.ignore_exclude_lb,
            lb_class=self.settings.lb_class,
        )

    # --- decisions -----------------------------------------------------------------------------------

    def _decide(self, name: str) -> None:
        election = self.election()
        if election is None:
            return None
        obj = self.store.get(SERVICES, name)
        view = service_view(obj, name) if obj is not None else None
        slices = [endpoint_slice_view(o) for o in self.store.by_index(ENDPOINTSLICES, "service", name)]
        if self.bgp is not None and self.bgp.decide(name, view, slices):
            self.queue.add(BGP_FLUSH)
            self.writes.add(StatusKey(name))
        rival: str | None = None
        if view is None:
            decision = L2Decision(name, reason=Reason.SERVICE_DELETED)
        else:
            claimants = self._claimants(name)
            if claimants:
                election = self._election_with(claimants) or election
            decision, rival = election.decide_with_rival(self.settings.node, view, slices)
        if rival is None:
            self._rivals.pop(name, None)
        else:
            self._rivals[name] = rival
        before = self.decisions.get(name)
        if decision == before:
            return None
        if decision.announce or before is not None:
            self.decisions[name] = decision
        if not decision.announce and (before is None or not before.announce):
            if obj is None:
                self.decisions.pop(name, None)
            return None
        if before is not None and before.announce and not decision.announce:
            self.log.info(
                "withdrawing service announcement",
                extra={
                    "op": "setBalancer",
                    "event": "serviceWithdrawn",
                    "service": name,
                    "reason": str(decision.reason),
                },
            )
        if name not in self._pending:
            self._pending[name] = before if before is not None and before.announce else None
        self.queue.add(FLUSH)
        self.writes.add(StatusKey(name))
        if obj is None and not decision.announce:
            self.decisions.pop(name, None)
        return None

    async def _flush(self) -> None:
        """Hand the responder what the layer 2 decisions changed since the last flush (``L2Responder.update``),
        then look only at those Services (gauge, ``nodeAssigned``, ``announceFailed``) and at the Services of the
        IPs whose serving changed: one Service changed costs O(its IPs), not O(all Services)."""
        pending, self._pending = self._pending, {}
        touched: set[IPAddress] = set()
        for name, flushed in pending.items():
            if flushed is not None:
                for ip in flushed.ips:
                    address = _to_address(*ip)
                    self._drop_user(address, name)
                    touched.add(address)
            decision = self.decisions.get(name)
            if decision is not None and decision.announce:
                for ip in decision.ips:
                    address = _to_address(*ip)
                    self._add_user(address, name)
                    touched.add(address)
        changes: dict[IPAddress, frozenset[str] | None] = {}
        removed: list[IPAddress] = []
        for address in touched:
            users = self.users_of(address)
            if not users:
                removed.append(address)
                continue
            want: frozenset[str] | None = frozenset()
            for user in users:  # Services sharing an IP: the union of their interfaces; "all" (None) wins
                names = self.decisions[user].interfaces
                want = None if want is None or names is None else want | names
            changes[address] = want  # unchanged ones are no-ops for the responder
        result = self.responder.update(changes, removed)
        self._observe_failover(list(getattr(result, "added", ()) or ()))
        look = set(pending)  # the Services whose gauge, Events and status objects may have changed
        unserved = frozenset(getattr(result, "unserved", ()) or ())
        missing = frozenset(getattr(result, "missing_interfaces", ()) or ())
        for address in (unserved ^ self._unserved) | (missing ^ self._missing):
            look.update(self.users_of(address))
        if unserved != self._unserved:
            for name in look:
                self.writes.add(StatusKey(name))
        self._unserved, self._missing = unserved, missing
        for name in sorted(look):
            self._announced_l2(name, missing)
        if self._unswept is None or self._unswept:
            self.writes.add(SWEEP)  # after the status writes this flush's decisions queued
        reports, self._duplicate_reports = self._duplicate_reports, []
        for address in {ip_address(text) for _, text, _, _ in reports}:
            if address in self._ip_users:
                # We keep it: announce again so the other announcer hears us and settles its side too.
                self.responder.retrigger(address)
        for name, text, mac_text, first in reports:
            obj = self.store.get(SERVICES, name)
            if obj is not None and first:
                self._event(
                    obj,
                    "Warning",
                    "duplicateAnnouncer",
                    f'another MAC {mac_text} also answers for "{text}"; resolving by the election order',
                )

    def _announced_l2(self, name: str, missing: frozenset[IPAddress]) -> None:
        """Gauge and Events of one Service's layer 2 announcement, as flushed; ``announceFailed`` for each of its
        IPs restricted to interfaces none of which exists here."""
        decision = self.decisions.get(name)
        if decision is None or not decision.announce:
            self._announcing(name, "layer2", (), None, failed=False)
            return
        failed = [format_ip(*ip) for ip in decision.ips if missing and _to_address(*ip) in missing]
        obj = self.store.get(SERVICES, name)
        if failed and obj is not None:
            for text in failed:
                self._event(
                    obj,
                    "Warning",
                    "announceFailed",
                    f'the interfaces specified by LB IP "{text}" doesn\'t exist in assigned node '
                    f'"{self.settings.node}" with protocol "layer2"',
                )
        self._announcing(name, "layer2", decision.ips, obj, failed=bool(failed))

    def users_of(self, address: IPAddress) -> tuple[str, ...]:
        """The Services this node announces ``address`` for, as last flushed (several when they share it)."""
        users = self._ip_users.get(address)
        if users is None:
            return ()
        return (users,) if isinstance(users, str) else tuple(users)

    def _add_user(self, address: IPAddress, name: str) -> None:
        users = self._ip_users.get(address)
        if users is None:
            self._ip_users[address] = name  # the common case, one Service per IP: no set
        elif isinstance(users, str):
            if users != name:
                self._ip_users[address] = {users, name}
        else:
            users.add(name)

    def _drop_user(self, address: IPAddress, name: str) -> None:
        users = self._ip_users.get(address)
        if users is None or users == name:
            self._ip_users.pop(address, None)
        elif isinstance(users, set):
            users.discard(name)
            if len(users) == 1:
                self._ip_users[address] = next(iter(users))

    def _flush_bgp(self) -> None:
        """The BGP side of a flush for the Services whose BGP decision changed: the sessions get only their
        prefixes (``BgpAnnouncer.flush``), and only their gauges and Events are looked at."""
        if self.bgp is None:
            return
        for name in sorted(self.bgp.flush()):
            decision = self.bgp.decisions.get(name)
            ips = decision.ips if decision is not None and decision.announce else ()
            self._announcing(name, "bgp", ips, self.store.get(SERVICES, name), failed=False)

    def _announcing(
        self, name: str, protocol: str, ips: tuple[IP, ...], obj: dict[str, Any] | None, *, failed: bool
    ) -> None:
        """Gauge ``metallb_speaker_announced`` for one (Service, protocol); log and Event ``nodeAssigned`` when
        this node starts announcing it."""
        gauge = self._announced[protocol]
        if gauge.get(name, ()) == ips:
            return
        if ips:
            gauge[name] = ips
        else:
            gauge.pop(name, None)
        if ips and obj is not None and not failed:
            self.log.info(
                "service has IP, announcing",
                extra={
                    "op": "setBalancer",
                    "event": "serviceAnnounced",
                    "service": name,
                    "protocol": protocol,
                    "ips": [format_ip(*ip) for ip in ips],
                },
            )
            self._event(
                obj,
                "Normal",
                "nodeAssigned",
                # One string for all: the recorder keeps each Event's message in its cache (thousands at a cold start).
                sys.intern(f'announcing from node "{self.settings.node}" with protocol "{protocol}"'),
            )

    def _event(self, obj: dict[str, Any], type_: EventType, reason: str, message: str) -> None:
        """Hand an Event to the recorder's sender task (a flush never waits on the API)."""
        self.recorder.post(obj, type_, reason, message)

    def _observe_failover(self, started: list[IPAddress]) -> None:
        """Time from the most recent declared death to our first gratuitous packet, per IP we just took."""
        if not started or not self._deaths:
            return
        died_at, _ = self._deaths[-1]
        for ip in started:
            sent = self.responder.first_gratuitous_at(ip)
            if sent is not None and sent >= died_at:
                self.metrics.failover.observe(sent - died_at)
        self._deaths.clear()

    def duplicate_seen(self, ip: IPAddress, interface: str, mac: bytes) -> None:
        """The responder heard another MAC claim an IP we announce (a membership partition, or another
        implementation). Counted, logged, and resolved by the election order: the nodes holding a ServiceL2Status
        for the Service (asked of the API: ``ClaimsKey``) join its election for ``CLAIM_SECONDS`` (they are
        evidently alive on the LAN), so of two announcers the one that sorts second withdraws. The other side does
        the same computation and keeps announcing: one announcer remains."""
        text = str(ip)
        mac_text = mac.hex(":")
        self.metrics.duplicates.labels(text).inc()
        now = self.clock()
        if now - self._duplicate_handled.get(ip, -CLAIM_SECONDS) < CLAIM_SECONDS / 2:
            return  # counted; already being settled (one report and one re-announcement per half claim period)
        self._duplicate_handled[ip] = now
        self.log.warning(
            "another MAC claims an IP this node announces",
            extra={"op": "layer2", "event": "duplicateAnnouncer", "ip": text, "interface": interface, "mac": mac_text},
        )
        for name in sorted(self.users_of(ip)):
            self.writes.add(ClaimsKey(name, text, mac_text))

    async def _claim(self, key: ClaimsKey) -> None:
        """The other nodes holding a ServiceL2Status for ``key.name`` take part in its election for
        ``CLAIM_SECONDS``; the duplicate is reported (Warning Event) at the flush that follows."""
        namespace, _, service = key.name.partition("/")
        found, _ = await self.client.list(
            L2_STATUSES,
            self.settings.namespace,
            label_selector={LABEL_SERVICE_NAME: service, LABEL_SERVICE_NAMESPACE: namespace},
        )
        others = {(_labels(o) or {}).get(LABEL_NODE) for o in found} - {self.settings.node, None}
        until = self.clock() + CLAIM_SECONDS
        claims = self._claims.setdefault(key.name, {})
        for node in others:
            claims[str(node)] = until
        self._duplicate_reports.append((key.name, key.ip, key.mac, key.attempt == 0))
        if not others and key.attempt + 1 < CLAIM_LOOKS:
            # No other status object yet: the other announcer has not written its own, or ours swept it (it looked
            # dead to us) and it is writing it again. Look again; it is evidently alive.
            self.writes.add_after(ClaimsKey(key.name, key.ip, key.mac, key.attempt + 1), CLAIM_LOOK_SECONDS)
        self.queue.add(ServiceKey(key.name))
        # Decide again when the claim lapses, or a node that yielded would stay silent until some other change.
        self.queue.add_after(ServiceKey(key.name), CLAIM_SECONDS + 0.01)
        self.queue.add(FLUSH)

    def _claimants(self, name: str) -> frozenset[str]:
        claims = self._claims.get(name)
        if not claims:
            return frozenset()
        now = self.clock()
        live = {n for n, until in claims.items() if until > now}
        if not live:
            del self._claims[name]
        return frozenset(live)

    # --- status objects ------------------------------------------------------------------------------

    def _claiming(self, name: str) -> L2Decision | None:
        """The decision behind this node's ServiceL2Status for ``name``, if it keeps one."""
        decision = self.decisions.get(name)
        if decision is not None and decision.ips and all(_to_address(*ip) in self._unserved for ip in decision.ips):
            return None  # elected, but no interface here can answer (link down): claim nothing
        return decision if decision is not None and decision.announce else None

    async def _status(self, name: str) -> None:
        ns, node = self.settings.namespace, self.settings.node
        decision = self._claiming(name)
        want_l2 = service_l2_status(node, decision, ns) if decision else None
        await self._status_of(L2_STATUSES, name, want_l2)
        bgp_decision = self.bgp.decisions.get(name) if self.bgp is not None else None
        await self._status_of(BGP_STATUSES, name, service_bgp_status(node, bgp_decision, ns) if bgp_decision else None)

    async def _status_of(self, res: ResourceType, name: str, want: dict[str, Any] | None) -> None:
        """This node's status object of one kind for one Service: exactly ``want`` (None: none)."""
        ns, node = self.settings.namespace, self.settings.node
        mine = [o for o in self.store.by_index(res, "service", name) if (_labels(o) or {}).get(LABEL_NODE) == node]
        keep: dict[str, Any] | None = None
        if want is not None:
            same = [o for o in mine if (o.get("status") or {}) == want["status"]]
            keep = same[0] if same else (mine[0] if mine else None)
        for obj in mine:
            if obj is not keep:
                with contextlib.suppress(NotFound):
                    await self.client.delete(res, obj["metadata"]["name"], ns)
        if want is None:
            return
        if keep is None:
            body = dict(want)
            if self.settings.pod_name and self.settings.pod_uid:
                owner = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": self.settings.pod_name,
                    "uid": self.settings.pod_uid,
                }
                body["metadata"] = {**want["metadata"], "ownerReferences": [owner]}
            keep = await self.client.create(res, body, ns)
        if (keep.get("status") or {}) != want["status"]:
            # status is a subresource: a create ignores it, so it is written apart.
            await self.client.patch(res, keep["metadata"]["name"], {"status": want["status"]}, ns, subresource="status")

    async def _sweep(self) -> None:
        """Delete the ServiceL2Status objects of nodes that are not alive, for Services this node now announces:
        a crashed speaker cannot delete its own, and a status naming a dead node misleads whoever reads it (MetalLB
        leaves them until the Pod is garbage-collected). The first sweep looks at every other node's objects
        (deaths before this process started); later ones only at the nodes declared dead since, by a label
        selector, so no speaker keeps or lists all the cluster's status objects."""
        members = self.members()
        if members is None:
            return
        me = self.settings.node
        gone: list[str] = []
        first = self._unswept is None
        if self._unswept is None:
            selector = f"{LABEL_NODE}!={me}"
        else:
            gone = sorted(self._unswept - members)
            if not gone:
                self._unswept.clear()
                return
            selector = f"{LABEL_NODE} in ({','.join(gone)})"
        self._unswept = set()
        skip: dict[str, Any] = {}

        def left_here(obj: dict[str, Any]) -> dict[str, Any]:
            # Decided as each page arrives: the first sweep reads every other node's objects (thousands), and a
            # list of them all, however small each, was megabytes at the speaker's peak.
            labels = _labels(obj) or {}
            owner = labels.get(LABEL_NODE)
            name = f"{labels.get(LABEL_SERVICE_NAMESPACE)}/{labels.get(LABEL_SERVICE_NAME)}"
            if owner and owner != me and owner not in members and self._claiming(name) is not None:
                return {"name": obj["metadata"]["name"]}
            return skip

        try:
            found, _ = await self.client.list(
                L2_STATUSES, self.settings.namespace, label_selector=selector, transform=left_here
            )
        except Exception:
            # Still to sweep when the key is retried (deaths declared meanwhile are in the set already).
            self._unswept = None if first else self._unswept | set(gone)
            raise
        for obj in found:
            if obj is not skip:
                with contextlib.suppress(NotFound):
                    await self.client.delete(L2_STATUSES, obj["name"], self.settings.namespace)

    def stop_answering(self) -> None:
        """Stop answering ARP/NDP at once (the first step of a graceful stop, before the leave is announced)."""
        self.decisions.clear()
        self.responder.set_desired({})
        self._pending.clear()
        self._ip_users.clear()

    async def withdraw_all(self) -> None:
        """On a graceful stop: stop answering at once, end the BGP sessions (with graceful restart the routers
        keep the routes while the speaker restarts), and delete this node's status objects."""
        self.stop_answering()
        if self.bgp is not None:
            await self.bgp.close(keep_routes=True)
        for obj in [
            *self.store.list(L2_STATUSES, self.settings.namespace),
            *self.store.list(BGP_STATUSES, self.settings.namespace),
        ]:
            if (_labels(obj) or {}).get(LABEL_NODE) == self.settings.node:
                with contextlib.suppress(ApiError):
                    res = L2_STATUSES if obj.get("kind") == "ServiceL2Status" else BGP_STATUSES
                    await self.client.delete(res, obj["metadata"]["name"], self.settings.namespace)

    # --- ConfigurationState --------------------------------------------------------------------------

    async def _state(self) -> None:
        ns, node = self.settings.namespace, self.settings.node
        name = f"speaker-{node}"
        current = self.store.get(STATES, f"{ns}/{name}")
        if current is None:
            try:
                current = await self.client.get(STATES, name, ns)
            except NotFound:
                body: dict[str, Any] = {
                    "apiVersion": ConfigurationState.api.api_version,
                    "kind": "ConfigurationState",
                    "metadata": {
                        "name": name,
                        "namespace": ns,
                        "labels": {"metallb.io/component-type": "speaker", "metallb.io/node-name": node},
                    },
                }
                try:
                    current = await self.client.create(STATES, body, ns)
                except Conflict:
                    current = await self.client.get(STATES, name, ns)  # made meanwhile (an earlier run of ours)
        patch = configuration_state_status(
            current, list(self.config_errors), now=self.now(), condition_type=CONFIG_CONDITION
        )
        if patch is not None:
            await self.client.patch(STATES, name, patch, ns, subresource="status")


def pod_identity() -> tuple[str | None, str | None]:
    """The speaker Pod's name and uid from the downward API (``METALLB_POD_NAME``/``POD_NAME``,
    ``METALLB_POD_UID``/``POD_UID``, as the chart sets them)."""
    name = os.environ.get("METALLB_POD_NAME") or os.environ.get("POD_NAME")
    return name, os.environ.get("METALLB_POD_UID") or os.environ.get("POD_UID")
