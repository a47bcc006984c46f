"""The config reconciler: parse pools, communities and namespaces; keep the last good config in force.

A broken config is reported (ConfigurationState ``controller``, metric ``metallb_k8s_client_config_stale_bool``)
and the last good one stays. The first good config triggers the initial pass: every Service re-claims the
addresses its status shows before any Service is given a new one, so a restart never moves an IP. Every
accepted change queues every Service, the pool status and the ConfigurationState.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

from crds.config import ClusterResources, ParseOptions, parse_config
from crds.types import Community, IPAddressPool
from reconciler.controller.keys import CONFIG, POOL_STATUS, STATE, ConfigKey, ServiceKey
from reconciler.controller.ports import Enqueue
from reconciler.controller.resources import COMMUNITIES, POOLS
from reconciler.controller.state import ControllerMetrics, ControllerSettings, ControllerState
from reconciler.core.allocator import AllocationError
from reconciler.core.services import service_view
from reconciler.runtime.models import labeled, load_models
from reconciler.runtime.resources import NAMESPACES, SERVICES
from reconciler.runtime.store import Store

__all__ = ["ConfigReconciler", "namespace_labels"]

_NO_LABELS: Mapping[str, str] = MappingProxyType({})


def namespace_labels(store: Store, namespace: str) -> Mapping[str, str]:
    """The Store's own labels dict of the Namespace (read-only; every ServiceRequest of the namespace shares it
    instead of keeping a copy)."""
    obj = store.get(NAMESPACES, namespace)
    labels = ((obj or {}).get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else _NO_LABELS


class ConfigReconciler:
    def __init__(
        self,
        store: Store,
        state: ControllerState,
        enqueue: Enqueue,
        metrics: ControllerMetrics,
        *,
        settings: ControllerSettings,
        logger: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.enqueue = enqueue
        self.metrics = metrics
        self.settings = settings
        self.log = logger or logging.getLogger("pymetallb.controller")

    async def reconcile(self, key: ConfigKey = CONFIG) -> float | None:
        ns = self.settings.namespace
        problems: list[str] = []
        pools = load_models(self.store, POOLS, IPAddressPool, ns, problems)
        communities = load_models(self.store, COMMUNITIES, Community, ns, problems)
        namespaces = labeled(self.store, NAMESPACES)
        resources = ClusterResources(pools=pools, communities=communities, namespaces=namespaces)
        result = parse_config(resources, ParseOptions(bgp_mode=None))
        errors = tuple(problems) + tuple(str(e) for e in result.errors)
        st = self.state
        st.config_errors = errors
        self.enqueue(STATE)
        if errors or result.config is None:
            self.metrics.stale.set(1)
            self.log.error(
                "configuration is invalid; keeping the last good one",
                extra={"op": "config", "event": "configStale", "errors": list(errors)},
            )
            return None
        self.metrics.stale.set(0)
        self.metrics.loaded.set(1)
        if result.config == st.config and st.initialized:
            return None
        st.config = result.config
        dropped = st.alloc.set_config(result.config)
        for service, why in dropped.items():
            self.log.info(
                "allocation dropped by config change", extra={"op": "config", "service": service, "reason": why}
            )
        if not st.initialized:
            self._reclaim_all()
            st.initialized = True
        for obj in self.store.list(SERVICES):
            self.enqueue(ServiceKey(f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"))
        self.enqueue(POOL_STATUS)
        self.log.info(
            "configuration loaded", extra={"op": "config", "event": "configLoaded", "pools": len(result.config.pools)}
        )
        return None

    def _reclaim_all(self) -> None:
        """Every Service re-claims what its status shows before any Service allocates (restart stability)."""
        for obj in self.store.list(SERVICES):
            view = service_view(obj)
            if not view.current_ips or not view.is_load_balancer or not view.is_ours(self.settings.lb_class):
                continue
            try:
                self.state.alloc.assign(view.request(namespace_labels(self.store, view.namespace)), view.current_ips)
            except AllocationError:
                continue  # converge will report it and allocate anew
