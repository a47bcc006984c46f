"""The controller: routes typed keys to its four reconcilers and Store changes to keys.

Level-triggered over a watch-fed Store. A change only marks a key dirty; each reconciler reads the Store:

* ``ConfigKey`` → ``ConfigReconciler`` (pools, communities, namespaces → the config in force);
* ``ServiceKey`` → ``ServiceReconciler`` (one Service's addresses, status, annotation, Events);
* ``PoolStatusKey`` → ``PoolStatusWriter`` (pool status counters, allocator gauges);
* ``StateKey`` → ``ConfigurationStateWriter`` (ConfigurationState ``controller``);
* ``MemberlistKey`` → ``MemberlistSecretWriter`` (the speakers' shared key, created when missing).

Nothing is decided before every watched kind has synced (the Store's synced flags), so the allocator can
never hand out an address held by a Service it has not seen yet. ``metallb_k8s_client_updates_total`` counts
Service reconciles (as MetalLB's), not internal keys.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry

from reconciler.controller.config_reconciler import ConfigReconciler
from reconciler.controller.config_state import ConfigurationStateWriter
from reconciler.controller.keys import (
    CONFIG,
    STATE,
    ConfigKey,
    Key,
    MemberlistKey,
    PoolStatusKey,
    ServiceKey,
    StateKey,
)
from reconciler.controller.memberlist_secret import MemberlistSecretWriter
from reconciler.controller.pool_status import PoolStatusWriter
from reconciler.controller.ports import ObjectWriter, Recorder
from reconciler.controller.resources import COMMUNITIES, POOLS, STATE_NAME, STATES, WATCHED
from reconciler.controller.service_reconciler import ServiceReconciler
from reconciler.controller.state import ControllerMetrics, ControllerSettings, ControllerState, PendingCollector
from reconciler.runtime.clock import Clock, RealClock
from reconciler.runtime.metrics import ExactCounters
from reconciler.runtime.resources import NAMESPACES, SERVICES, ResourceType
from reconciler.runtime.store import Store
from reconciler.runtime.workqueue import WorkQueue

__all__ = ["Controller"]


def _labels(obj: Any) -> Any:
    return ((obj or {}).get("metadata") or {}).get("labels")


def _status_only(old: Any, new: Any) -> bool:
    """An update that changed neither spec nor labels (our own status writes): nothing to re-parse."""
    if old is None or new is None:
        return False
    return bool(old.get("spec") == new.get("spec") and _labels(old) == _labels(new))


class Controller:
    def __init__(
        self,
        client: ObjectWriter,
        store: Store,
        queue: WorkQueue[Key],
        recorder: Recorder,
        *,
        settings: ControllerSettings,
        registry: CollectorRegistry,
        exact: ExactCounters,
        logger: logging.Logger | None = None,
        clock: Clock | None = None,
        memberlist_secret: str = "memberlist",
    ) -> None:
        self.store = store
        self.queue = queue
        self.settings = settings
        self.state = ControllerState()
        self.metrics = ControllerMetrics(registry, exact)
        registry.register(PendingCollector(self.state))
        log = logger or logging.getLogger("pymetallb.controller")
        self.log = log
        enqueue = queue.add
        wall = clock or RealClock()  # the status conditions' timestamps
        self.config = ConfigReconciler(store, self.state, enqueue, self.metrics, settings=settings, logger=log)
        self.services = ServiceReconciler(
            store, self.state, client, recorder, enqueue, settings=settings, clock=wall, logger=log
        )
        self.pools = PoolStatusWriter(store, self.state, client, self.metrics, settings=settings)
        self.states = ConfigurationStateWriter(store, self.state, client, settings=settings, clock=wall)
        self.memberlist = MemberlistSecretWriter(
            client, namespace=settings.namespace, name=memberlist_secret, logger=log
        )

    def on_store_change(self, res: ResourceType, key: str, old: Any, new: Any) -> None:
        """Store subscriber: mark the right key dirty. Never decides anything."""
        if res == SERVICES:
            self.queue.add(ServiceKey(key))
        elif (res in (POOLS, COMMUNITIES) and not _status_only(old, new)) or (
            res == NAMESPACES and _labels(old) != _labels(new)
        ):
            self.queue.add(CONFIG)
        elif res == STATES and key == f"{self.settings.namespace}/{STATE_NAME}":
            self.queue.add(STATE)  # edited or deleted by someone: make it right again

    def synced(self) -> bool:
        return all(self.store.synced(r) for r in WATCHED)

    async def reconcile(self, key: Key) -> float | None:
        if not self.synced():
            return 0.2
        counted = isinstance(key, ServiceKey)
        if counted:
            self.metrics.updates.labels().inc()
        try:
            if isinstance(key, ServiceKey):
                return await self.services.reconcile(key)
            if isinstance(key, ConfigKey):
                return await self.config.reconcile(key)
            if isinstance(key, PoolStatusKey):
                return await self.pools.reconcile(key)
            if isinstance(key, StateKey):
                return await self.states.reconcile(key)
            if isinstance(key, MemberlistKey):
                return await self.memberlist.reconcile(key)
        except Exception:
            if counted:
                self.metrics.update_errors.labels().inc()
            raise
        raise TypeError(f"not a controller key: {key!r}")
