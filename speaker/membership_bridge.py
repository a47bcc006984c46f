"""The failure detector as the speaker's asyncio program sees it: flags, the secret key, peers from Nodes, changes
handed to the loop.

The detector (``speaker.membership``) runs in its own thread with its own socket and timers, so it keeps probing
while the loop is busy (a full resync of 10,000 Services must not make a node look dead). This module only
bridges: it finds the peers from the Nodes' ``InternalIP`` addresses (speakers run on the host network; no Pods
are listed), passes each change to the loop with ``call_soon_threadsafe``, and leaves on a graceful stop.

Membership is on when ``--ml-bindaddr`` is set (MetalLB's rule); off, every Node known to the API counts as a
live speaker, as in MetalLB without memberlist.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reconciler.core.nodes import node_view
from reconciler.runtime.resources import NODES, ResourceType
from reconciler.runtime.store import Store
from speaker.membership.runtime import Membership, MembershipChange, load_secret_key
from speaker.membership.timers import add_timer_flags, timers_from_args

__all__ = ["MembershipBridge", "add_membership_flags"]

DEFAULT_SECRET_PATH = Path("/etc/ml_secret_key")
LEAVE_TIMEOUT = 1.0
"""Seconds a graceful stop waits for the leave to go out (MetalLB: ``Leave(1s)``)."""


def add_membership_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ml-bindaddr",
        default=os.environ.get("METALLB_ML_BIND_ADDR"),
        help="address of the failure detector (env METALLB_ML_BIND_ADDR; unset: membership off, every Node "
        "counts as a live speaker)",
    )
    parser.add_argument(
        "--ml-bindport",
        type=int,
        default=int(os.environ.get("METALLB_ML_BIND_PORT") or 7946),
        help="UDP port of the failure detector (env METALLB_ML_BIND_PORT; default %(default)s)",
    )
    parser.add_argument(
        "--ml-secret-key-path",
        type=Path,
        default=Path(os.environ.get("METALLB_ML_SECRET_KEY_PATH") or DEFAULT_SECRET_PATH),
        help="directory holding `secretkey` (Secret memberlist), or the key file itself "
        "(env METALLB_ML_SECRET_KEY_PATH; default %(default)s)",
    )
    add_timer_flags(parser)


class MembershipBridge:
    def __init__(
        self,
        membership: Membership,
        *,
        node: str,
        port: int,
        loop: asyncio.AbstractEventLoop,
        logger: logging.Logger,
    ) -> None:
        self.membership = membership
        self.node = node
        self.port = port
        self.loop = loop
        self.log = logger
        self._on_change: Callable[[frozenset[str], float, frozenset[str]], None] | None = None
        self._store: Store | None = None
        self._peers: dict[str, tuple[str, int]] = {}

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, *, node: str, loop: asyncio.AbstractEventLoop, logger: logging.Logger
    ) -> MembershipBridge | None:
        if not args.ml_bindaddr:
            logger.info(
                "membership off (no --ml-bindaddr): every Node counts as a live speaker",
                extra={"op": "membership", "event": "disabled"},
            )
            return None
        key = load_secret_key(args.ml_secret_key_path)  # None: unencrypted (the runtime warns when it starts)
        bridge: MembershipBridge

        def on_change(change: MembershipChange) -> None:  # the membership thread
            loop.call_soon_threadsafe(bridge._changed, change)

        membership = Membership(
            node=node,
            bind=(args.ml_bindaddr, args.ml_bindport),
            key=key,
            timers=timers_from_args(args),
            on_change=on_change,
        )
        bridge = cls(membership, node=node, port=args.ml_bindport, loop=loop, logger=logger)
        return bridge

    def attach(self, store: Store, on_change: Callable[[frozenset[str], float, frozenset[str]], None]) -> None:
        """Follow the Nodes for peers; call ``on_change(dead, at, joined)`` on the loop after each change."""
        self._store = store
        self._on_change = on_change
        store.subscribe(self._store_changed)

    def alive(self) -> frozenset[str]:
        return self.membership.alive()

    def register_metrics(self, registry: CollectorRegistry) -> None:
        registry.register(_MembershipCollector(self.membership))

    async def run(self) -> None:
        self.membership.start()
        self._sync_peers()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.get_running_loop().run_in_executor(None, self.membership.stop)

    async def leave(self) -> None:
        """Tell the others we go (they take over at once, no suspicion delay)."""
        await asyncio.get_running_loop().run_in_executor(None, self.membership.leave, LEAVE_TIMEOUT)

    def _store_changed(self, res: ResourceType, key: str, old: Any, new: Any) -> None:
        if res == NODES:
            self._sync_peers()

    def _sync_peers(self) -> None:
        if self._store is None:
            return
        peers: dict[str, tuple[str, int]] = {}
        for obj in self._store.list(NODES):
            view = node_view(obj)
            if view.name != self.node and view.internal_ips:
                peers[view.name] = (str(view.internal_ips[0]), self.port)
        if peers != self._peers:
            self._peers = peers
            self.membership.set_peers(peers)

    def _changed(self, change: MembershipChange) -> None:
        dead_at = change.declared_dead_at
        self.log.info(
            "membership changed",
            extra={
                "op": "membership",
                "event": "membersChanged",
                "alive": sorted(change.alive),
                "departed": sorted(change.departed),
                "joined": sorted(change.joined),
            },
        )
        if self._on_change is not None:
            # Failover is timed from the earliest declaration of a death in this batch.
            at = min((dead_at[n] for n in change.departed if n in dead_at), default=change.at)
            self._on_change(frozenset(change.departed), at, frozenset(change.joined))


class _MembershipCollector(Collector):
    """Member states and packet counters of the failure detector, read at scrape time."""

    def __init__(self, membership: Membership) -> None:
        self.membership = membership

    def collect(self) -> Iterable[Metric]:
        stats = self.membership.stats
        members = GaugeMetricFamily("pymetallb_membership_members", "Peers by failure-detector state", labels=["state"])
        for state, count in sorted(stats.members.items()):
            members.add_metric([state], float(count))
        packets = CounterMetricFamily(
            "pymetallb_membership_packets", "Failure-detector datagrams", labels=["direction"]
        )
        packets.add_metric(["sent"], float(stats.sent))
        packets.add_metric(["received"], float(stats.received))
        dropped = CounterMetricFamily(
            "pymetallb_membership_dropped_packets", "Datagrams dropped, never trusted, by reason", labels=["reason"]
        )
        for reason, count in sorted(stats.dropped.items()):
            dropped.add_metric([reason], float(count))
        dead = CounterMetricFamily("pymetallb_membership_declared_dead", "Members this node declared dead")
        dead.add_metric([], float(stats.declared_dead))
        return [members, packets, dropped, dead]
