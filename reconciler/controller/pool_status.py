"""The pool status writer: each pool's ``status`` counters and the allocator gauges, from the allocator."""

from __future__ import annotations

from reconciler.controller.keys import POOL_STATUS, PoolStatusKey
from reconciler.controller.ports import Patcher
from reconciler.controller.resources import POOLS
from reconciler.controller.state import ControllerMetrics, ControllerSettings, ControllerState
from reconciler.core.actuation import pool_status_patch
from reconciler.runtime.errors import NotFound
from reconciler.runtime.store import Store

__all__ = ["PoolStatusWriter"]

_MAX_GAUGE = 2**63 - 1
"""A /64 has more addresses than a gauge can say; MetalLB reports MaxInt64 for such pools too."""


class PoolStatusWriter:
    def __init__(
        self,
        store: Store,
        state: ControllerState,
        client: Patcher,
        metrics: ControllerMetrics,
        *,
        settings: ControllerSettings,
    ) -> None:
        self.store = store
        self.state = state
        self.client = client
        self.metrics = metrics
        self.settings = settings

    async def reconcile(self, key: PoolStatusKey = POOL_STATUS) -> float | None:
        config = self.state.config
        if config is None:
            return None
        for obj in self.store.list(POOLS, self.settings.namespace):
            name = obj["metadata"]["name"]
            if name not in config.pools:
                continue
            counters = self.state.alloc.counters(name)
            m = self.metrics
            v4_total = counters.assigned_ipv4 + counters.available_ipv4
            v6_total = counters.assigned_ipv6 + counters.available_ipv6
            m.in_use.labels(name).set(counters.assigned_ipv4 + counters.assigned_ipv6)
            m.in_use_v4.labels(name).set(counters.assigned_ipv4)
            m.in_use_v6.labels(name).set(counters.assigned_ipv6)
            m.total.labels(name).set(min(v4_total + v6_total, _MAX_GAUGE))
            m.total_v4.labels(name).set(v4_total)
            m.total_v6.labels(name).set(min(v6_total, _MAX_GAUGE))
            patch = pool_status_patch(obj, counters)
            if patch is None:
                continue
            try:
                await self.client.patch(POOLS, name, patch, self.settings.namespace, subresource="status")
            except NotFound:
                continue
        return None
