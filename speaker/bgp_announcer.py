"""The speaker's BGP mode: sessions to the peers active on this node, and the routes each must hold.

The pure selection (``reconciler.core.bgp.BGPSelection``) says, per Service, what this node announces and to
which peers; this module keeps one ``BgpSession`` per active peer (``speaker.bgp``) and hands each the routes it
must hold, and one BFD session per peer with a ``bfdProfile``
(``speaker.bfd``): when BFD declares the path down, the BGP session is reset at once instead of waiting for
the hold timer, and the router, running BFD too, drops this node's routes within the detection time.

Cost: ``flush`` after one Service changed is O(that change), not O(all Services): the announcer remembers which
prefixes the changed decisions touched and which Services advertise each prefix, asks the selection for just
those prefixes (``routes(..., only=...)``) and hands each session ``update(changes)``. Whole tables
(``set_desired``) go out after a config or Node change (``rebuild``), to a new session, and when most prefixes
changed at once (a resync); both paths leave every session holding exactly ``routes(all decisions)``.

A peer's settings come from its BGPPeer as parsed for this node (``crds.config.Peer``); a changed peer is a
new session (MetalLB's rule). A setting this speaker cannot honour (``vrf``, ``interface``, ``dynamicASN``,
``localASN``; BFD ``echoMode``) is never silently ignored: the peer gets a Warning Event ``unsupportedSetting``
and, where the session would be wrong without it (``vrf``, ``interface``, ``dynamicASN``), no session.

Metrics, MetalLB's names: ``metallb_bgp_*`` per session (label ``peer`` = ``addr:port``), and ``metallb_bfd_*``
per BFD session (label ``peer`` = the peer's address; FRR mode adds ``vrf``, which is always the default VRF
here and so left out). The echo counters exist for dashboards and stay 0: echo mode is not supported.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from crds.addresses import Cidr, format_ip
from crds.config import Config, Peer
from reconciler.core.bgp import BGPDecision, BGPSelection, RouteAttributes
from reconciler.core.nodes import EndpointSliceView, NodeView
from reconciler.core.services import ServiceView
from reconciler.runtime.metrics import ExactCounters
from speaker.bfd.manager import BfdChange, BfdManager, BfdSessionSpec, BfdSessionStats
from speaker.bgp.routes import RouteAttrs
from speaker.bgp.session import BgpSession, EventKind, SessionEvent
from speaker.bgp.settings import PeerSettings

__all__ = ["BgpAnnouncer", "Prefix", "peer_settings", "route_attrs", "unsupported"]

Prefix = ipaddress.IPv4Network | ipaddress.IPv6Network
log = logging.getLogger("pymetallb.speaker.bgp")

DEFAULT_HOLD = 90.0
"""MetalLB's default hold time when a BGPPeer sets none."""
WHOLE_TABLE_MIN = 64
"""A flush with more changed prefixes than this and than half the announced ones sends whole tables instead."""


def to_network(cidr: Cidr) -> Prefix:
    return ipaddress.ip_network((format_ip(cidr.family, cidr.network), cidr.prefixlen))


def route_attrs(attrs: RouteAttributes) -> RouteAttrs:
    """The selection's attributes as the session's wire attributes."""
    return RouteAttrs(
        communities=frozenset(c.value for c in attrs.communities),
        large_communities=frozenset(c.sort_key for c in attrs.large_communities),
        local_pref=attrs.local_pref,
        as_path_prepend=attrs.as_path_prepend,
    )


def unsupported(peer: Peer) -> tuple[list[str], bool]:
    """(settings this speaker cannot honour, whether the session must not run without them)."""
    blocking = []
    if peer.vrf:
        blocking.append(f"vrf {peer.vrf!r} (sessions run in the node's default VRF only)")
    if peer.interface:
        blocking.append(f"interface {peer.interface!r} (unnumbered BGP is not supported)")
    if peer.dynamic_asn:
        blocking.append(f"dynamicASN {peer.dynamic_asn!r} (give peerASN)")
    notes = []
    if peer.local_asn:
        notes.append(f"localASN {peer.local_asn} (the session uses myASN {peer.my_asn})")
    return blocking + notes, bool(blocking)


def peer_settings(peer: Peer, node: str) -> PeerSettings:
    """The session settings of a parsed BGPPeer on this node; raises ValueError for an unusable peer."""
    password = peer.password or peer.secret_password or None
    return PeerSettings(
        peer_address=ipaddress.ip_address(peer.address),
        my_asn=peer.my_asn,
        peer_asn=peer.asn,
        peer_port=peer.port,
        source_address=ipaddress.ip_address(peer.source_address) if peer.source_address else None,
        router_id=ipaddress.IPv4Address(peer.router_id) if peer.router_id else None,
        hold_time=DEFAULT_HOLD if peer.hold_time is None else peer.hold_time,
        keepalive_time=peer.keepalive_time or None,
        connect_time=peer.connect_time or 10.0,
        ebgp_multihop=peer.ebgp_multihop,
        password=password,
        graceful_restart=peer.enable_graceful_restart,
        node_name=node,
    )


@dataclass
class _Peer:
    settings: PeerSettings
    session: BgpSession
    bfd: BfdSessionSpec | None


class _SessionCollector(Collector):
    """``metallb_bgp_*`` gauges read from the sessions at scrape time (labels as MetalLB: ``peer`` = addr:port)."""

    def __init__(self, announcer: BgpAnnouncer) -> None:
        self.announcer = announcer

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily("metallb_bgp_session_up", "BGP session state (1 is up, 0 is down)", labels=["peer"])
        announced = GaugeMetricFamily(
            "metallb_bgp_announced_prefixes_total", "Number of prefixes currently being advertised", labels=["peer"]
        )
        pending = GaugeMetricFamily(
            "metallb_bgp_pending_prefixes_total", "Number of prefixes that should be advertised", labels=["peer"]
        )
        notifications_sent = GaugeMetricFamily(
            "metallb_bgp_notifications_sent", "Number of BGP NOTIFICATION messages sent", labels=["peer"]
        )
        notifications_received = GaugeMetricFamily(
            "pymetallb_bgp_notifications_received", "Number of BGP NOTIFICATION messages received", labels=["peer"]
        )
        for p in self.announcer.peers.values():
            label = [p.settings.peer_label]
            up.add_metric(label, 1.0 if p.session.stats.up else 0.0)
            announced.add_metric(label, float(p.session.stats.announced))
            pending.add_metric(label, float(p.session.stats.pending))
            notifications_sent.add_metric(label, float(p.session.stats.notifications_sent))
            notifications_received.add_metric(label, float(p.session.stats.notifications_received))
        return [up, announced, pending, notifications_sent, notifications_received]


class _BfdUpCollector(Collector):
    """``metallb_bfd_session_up`` read from the BFD thread's stats at scrape time."""

    def __init__(self, bfd: BfdManager[str]) -> None:
        self.bfd = bfd

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily("metallb_bfd_session_up", "BFD session state (1 is up, 0 is down)", labels=["peer"])
        for address, st in _bfd_by_peer(self.bfd).items():
            up.add_metric([address], 1.0 if st.session_up else 0.0)
        return [up]


def _bfd_by_peer(bfd: BfdManager[str]) -> dict[str, BfdSessionStats]:
    """One entry per peer address: BGPPeers sharing a BFD session report the same figures once."""
    return {str(st.peer_address): st for st in bfd.stats().values()}


# MetalLB's BFD counters (frr-tools/metrics/collector/bfd.go): name, help, the BfdSessionStats field (None: 0).
_BFD_COUNTERS: tuple[tuple[str, str, str | None], ...] = (
    ("metallb_bfd_control_packet_input", "Number of received BFD control packets", "control_packet_input"),
    ("metallb_bfd_control_packet_output", "Number of sent BFD control packets", "control_packet_output"),
    ("metallb_bfd_echo_packet_input", "Number of received BFD echo packets", None),
    ("metallb_bfd_echo_packet_output", "Number of sent BFD echo packets", None),
    ("metallb_bfd_session_up_events", "Number of BFD session up events", "session_up_events"),
    ("metallb_bfd_session_down_events", "Number of BFD session down events", "session_down_events"),
)


def _export_bfd(bfd: BfdManager[str], registry: CollectorRegistry, exact: ExactCounters) -> None:
    registry.register(_BfdUpCollector(bfd))
    for name, doc, attr in _BFD_COUNTERS:

        def values(attr: str | None = attr) -> Mapping[tuple[str, ...], float]:
            return {(peer,): float(getattr(st, attr)) if attr else 0.0 for peer, st in _bfd_by_peer(bfd).items()}

        exact.collect(name, doc, ["peer"], values)


class BgpAnnouncer:
    """See the module docstring. Owned by one asyncio loop; ``bfd_changed`` is called on that loop."""

    def __init__(
        self,
        *,
        node: str,
        registry: CollectorRegistry,
        exact: ExactCounters,
        report: Callable[[str, str, str, str], None],
        bfd: BfdManager[str] | None = None,
        request_sync: Callable[[], None] = lambda: None,
        session_factory: Callable[[PeerSettings, Callable[[SessionEvent], None]], BgpSession] | None = None,
    ) -> None:
        self.node = node
        self.report = report
        """``report(peer name, type, reason, message)``: an Event about the BGPPeer (the caller records it)."""
        self.bfd = bfd
        self.request_sync = request_sync
        """Ask the owner to run ``sync_sessions`` soon (its work queue)."""
        self._reset: set[str] = set()
        self._factory = session_factory or (lambda s, cb: BgpSession(s, on_event=cb))
        self.selection: BGPSelection | None = None
        self.config: Config | None = None
        self.decisions: dict[str, BGPDecision] = {}
        self.peers: dict[str, _Peer] = {}
        # For incremental flushes: which announced Services advertise each prefix (exact for self.decisions),
        # the prefixes and Services changed since the last flush, the new sessions that need a whole table, and
        # whether every session needs one (a new selection).
        self._by_prefix: dict[Cidr, set[str]] = {}
        self._changed_prefixes: set[Cidr] = set()
        self._changed_services: set[str] = set()
        self._fresh: set[str] = set()
        self._full = True
        self._reported: dict[str, tuple[str, ...]] = {}
        registry.register(_SessionCollector(self))

        def updates() -> Mapping[tuple[str, ...], float]:
            return {(p.settings.peer_label,): float(p.session.stats.updates_sent) for p in self.peers.values()}

        exact.collect("metallb_bgp_updates_total", "Number of BGP UPDATE messages sent", ["peer"], updates)
        if bfd is not None:
            _export_bfd(bfd, registry, exact)

    # --- inputs ------------------------------------------------------------------------------------------

    def rebuild(
        self, config: Config, nodes: Mapping[str, NodeView], *, ignore_exclude_lb: bool, lb_class: str | None
    ) -> None:
        self.config = config
        self.selection = BGPSelection(config, nodes, ignore_exclude_lb=ignore_exclude_lb, lb_class=lb_class)
        self._full = True

    def decide(self, name: str, view: ServiceView | None, slices: list[EndpointSliceView]) -> bool:
        """Decide one Service; True when the decision changed (then flush)."""
        if self.selection is None:
            return False
        before = self.decisions.get(name)
        if view is None:
            changed = before is not None
            self.decisions.pop(name, None)
            self._touched(name, before)
            return changed
        decision = self.selection.decide(self.node, view, slices)
        if decision == before:
            return False
        if decision.announce or before is not None:
            self.decisions[name] = decision
        if not decision.announce:
            self.decisions.pop(name, None)
        self._touched(name, before)
        return before is not None or decision.announce

    def _touched(self, name: str, before: BGPDecision | None) -> None:
        """Keep ``_by_prefix`` exact for ``name``'s decision and remember its old and new prefixes as changed."""
        after = self.decisions.get(name)
        old = before.prefixes if before is not None else ()
        new = after.prefixes if after is not None else ()
        if old == new and before == after:
            return
        for prefix in old:
            names = self._by_prefix.get(prefix)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._by_prefix[prefix]
        for prefix in new:
            self._by_prefix.setdefault(prefix, set()).add(name)
        self._changed_prefixes.update(old)
        self._changed_prefixes.update(new)
        self._changed_services.add(name)

    # --- sessions ----------------------------------------------------------------------------------------

    async def sync_sessions(self) -> None:
        """Sessions exactly for the peers active on this node; a changed peer gets a new session."""
        if self.selection is None or self.config is None:
            return
        wanted: dict[str, tuple[PeerSettings, BfdSessionSpec | None]] = {}
        for name in self.selection.active_peers(self.node):
            peer = self.config.peers[name]
            problems, blocking = unsupported(peer)
            if tuple(problems) != self._reported.get(name):
                self._reported[name] = tuple(problems)
                for p in problems:
                    self.report(name, "Warning", "unsupportedSetting", f"BGPPeer {name}: {p}")
            if blocking:
                continue
            try:
                settings = peer_settings(peer, self.node)
            except ValueError as exc:
                self.report(name, "Warning", "invalidPeer", f"BGPPeer {name}: {exc}")
                continue
            bfd = None
            if peer.bfd_profile:
                profile = self.config.bfd_profiles.get(peer.bfd_profile)
                if profile is not None and profile.echo_mode:
                    self.report(
                        name, "Warning", "unsupportedSetting", f"BGPPeer {name}: BFD echo mode is not supported"
                    )
                bfd = BfdSessionSpec.from_profile(
                    profile, peer_address=settings.peer_address, local_address=settings.source_address
                )
            wanted[name] = (settings, bfd)
        stale = [n for n, p in self.peers.items() if n not in wanted or (p.settings, p.bfd) != wanted[n]]
        for name in [*stale, *(self._reset & self.peers.keys())]:
            await self._close(name)
        self._reset.clear()
        for name, (settings, bfd) in wanted.items():
            if name not in self.peers:
                session = self._factory(settings, self._events_of(name))
                await session.__aenter__()
                self.peers[name] = _Peer(settings, session, bfd)
                self._fresh.add(name)
                log.info("BGP session configured", extra={"op": "bgp", "event": "peerAdded", "peer": name})
        if self.bfd is not None:
            self.bfd.set_sessions({n: p.bfd for n, p in self.peers.items() if p.bfd is not None})

    async def _close(self, name: str, *, keep_routes: bool = False) -> None:
        peer = self.peers.pop(name, None)
        if peer is not None:
            with contextlib.suppress(Exception):
                await peer.session.close(keep_routes=keep_routes)

    def flush(self) -> set[str]:
        """Bring every session to the routes of the current decisions; return the Services whose decision
        changed since the last flush. O(what changed) unless a whole table is due (see the module docstring)."""
        services, self._changed_services = self._changed_services, set()
        changed, self._changed_prefixes = self._changed_prefixes, set()
        fresh, self._fresh = self._fresh & self.peers.keys(), set()
        if self.selection is None:
            return services
        # A resync that changed most prefixes costs the same either way; whole tables are one call per session.
        if self._full or len(changed) > max(WHOLE_TABLE_MIN, len(self._by_prefix) // 2):
            self._full = False
            fresh = set(self.peers)
        if fresh:
            tables = self.selection.routes(self.node, self.decisions.values())
            for name in fresh:
                table = tables.get(name, {})
                self.peers[name].session.set_desired({to_network(c): route_attrs(a) for c, a in table.items()})
        rest = [n for n in self.peers if n not in fresh]
        if changed and rest:
            names = set().union(*(self._by_prefix.get(c, ()) for c in changed))
            tables = self.selection.routes(self.node, [self.decisions[n] for n in names], only=changed)
            networks = {c: to_network(c) for c in changed}
            converted: dict[RouteAttributes, RouteAttrs] = {}
            for name in rest:
                table = tables.get(name, {})
                changes: dict[Prefix, RouteAttrs | None] = {}
                for c, network in networks.items():
                    attrs = table.get(c)
                    if attrs is None:
                        changes[network] = None
                    else:
                        wire = converted.get(attrs)
                        if wire is None:
                            wire = converted[attrs] = route_attrs(attrs)
                        changes[network] = wire
                self.peers[name].session.update(changes)
        return services

    async def close(self, *, keep_routes: bool) -> None:
        """Stop every session: Cease (routes withdrawn), or with graceful restart a silent drop (kept)."""
        for name in list(self.peers):
            await self._close(name, keep_routes=keep_routes and self.peers[name].settings.graceful_restart)
        if self.bfd is not None:
            self.bfd.set_sessions({})

    # --- events ------------------------------------------------------------------------------------------

    def _events_of(self, name: str) -> Callable[[SessionEvent], None]:
        def on_event(event: SessionEvent) -> None:
            self._session_event(name, event)

        return on_event

    def _session_event(self, name: str, event: SessionEvent) -> None:
        if event.kind is EventKind.UP:
            log.info("BGP session established", extra={"op": "bgp", "event": "sessionUp", "peer": name})
        elif event.kind is EventKind.DOWN:
            log.warning(
                "BGP session down", extra={"op": "bgp", "event": "sessionDown", "peer": name, "reason": event.reason}
            )
            self.report(name, "Warning", "sessionDown", f"BGP session to {name} down: {event.reason}")
        elif event.kind is EventKind.ERROR:
            message = f"BGP session to {name}: {event.reason}"
            if "TCP MD5" in event.reason:
                # The operator's next step: the two secrets that must match are here and on the router.
                message += f"; compare BGPPeer {name}'s password or passwordSecret with the router's MD5 password"
            self.report(name, "Warning", "sessionFailed", message)

    def bfd_changed(self, change: BfdChange[str]) -> None:
        """BFD says the path to a peer failed: reset its BGP session now (RFC 5882 §4.3)."""
        if not change.path_failed:
            return
        peer = self.peers.get(change.key)
        if peer is None:
            return
        log.warning(
            "BFD declared the path down; resetting the BGP session",
            extra={"op": "bfd", "event": "bfdDown", "peer": change.key, "diag": change.diag_name},
        )
        self.report(change.key, "Warning", "bfdDown", f"BFD to {change.peer_address} down ({change.diag_name})")
        self._reset.add(change.key)
        self.request_sync()
