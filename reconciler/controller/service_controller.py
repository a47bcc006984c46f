"""The controller: gives LoadBalancer Services addresses and writes them to the Service status.

Level-triggered over a watch-fed Store. Events only mark keys dirty; ``reconcile(key)`` reads the Store:

* ``config``: parse pools, communities and namespaces with ``parse_config``. A broken config is reported
  (ConfigurationState ``controller``, metric ``metallb_k8s_client_config_stale_bool``) and the last good one
  stays in force. The first good config triggers the initial pass: every Service re-claims the addresses
  its status shows, before any Service is given a new one, so a restart never moves an IP.
* ``svc/<ns>/<name>``: ``converge`` the Service with the allocator, then patch what differs (annotation,
  status with a condition that carries the reason when it waits), and record Events. When addresses are
  freed, every waiting Service is queued again.
* ``pools``: pool status counters; ``state``: the ConfigurationState object.

Nothing is decided before every watched kind has synced (the Store's synced flags), so the allocator can
never hand out an address held by a Service it has not seen yet.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from crds.config import ClusterResources, Config, LabeledObject, ParseOptions, parse_config
from crds.objects import load_object
from crds.types import Community, ConfigurationState, IPAddressPool
from reconciler.core.actuation import (
    configuration_state_status,
    pool_status_patch,
    service_metadata_patch,
    service_status_patch,
)
from reconciler.core.allocator import AllocationError, Allocator
from reconciler.core.balancer import Outcome, converge
from reconciler.core.services import ServiceView, service_view
from reconciler.runtime.client import ApiClient
from reconciler.runtime.errors import NotFound
from reconciler.runtime.events import EventRecorder
from reconciler.runtime.metrics import ExactCounters
from reconciler.runtime.resources import NAMESPACES, SERVICES, ResourceType
from reconciler.runtime.store import Store
from reconciler.runtime.workqueue import WorkQueue

__all__ = ["WATCHED", "ControllerSettings", "ServiceController"]

POOLS = ResourceType.of(IPAddressPool)
COMMUNITIES = ResourceType.of(Community)
STATES = ResourceType.of(ConfigurationState)
WATCHED = (SERVICES, NAMESPACES, POOLS, COMMUNITIES)
FIELD_MANAGER = "pymetallb-controller"
STATE_NAME = "controller"


@dataclass(frozen=True)
class ControllerSettings:
    namespace: str = "metallb-system"
    """The MetalLB namespace: config objects are read from it; ConfigurationState is written in it."""
    lb_class: str | None = None
    """The ``spec.loadBalancerClass`` served; None serves Services without a class (as MetalLB)."""
    bgp_mode: str | None = None
    """Backend restrictions for parsing; the controller only allocates, so none by default."""


@dataclass
class _Metrics:
    registry: CollectorRegistry
    exact: ExactCounters
    in_use: Gauge = field(init=False)
    total: Gauge = field(init=False)
    in_use_v4: Gauge = field(init=False)
    in_use_v6: Gauge = field(init=False)
    total_v4: Gauge = field(init=False)
    total_v6: Gauge = field(init=False)
    loaded: Gauge = field(init=False)
    stale: Gauge = field(init=False)

    def __post_init__(self) -> None:
        r = self.registry
        # MetalLB's names; these are gauges in MetalLB, so prometheus_client adds no suffix.
        self.in_use = Gauge("metallb_allocator_addresses_in_use_total", "IPs in use per pool", ["pool"], registry=r)
        self.total = Gauge("metallb_allocator_addresses_total", "Usable IPs per pool", ["pool"], registry=r)
        self.in_use_v4 = Gauge(
            "metallb_allocator_ipv4_addresses_in_use_total", "IPv4 in use per pool", ["pool"], registry=r
        )
        self.in_use_v6 = Gauge(
            "metallb_allocator_ipv6_addresses_in_use_total", "IPv6 in use per pool", ["pool"], registry=r
        )
        self.total_v4 = Gauge("metallb_allocator_ipv4_addresses_total", "Usable IPv4 per pool", ["pool"], registry=r)
        self.total_v6 = Gauge("metallb_allocator_ipv6_addresses_total", "Usable IPv6 per pool", ["pool"], registry=r)
        self.loaded = Gauge("metallb_k8s_client_config_loaded_bool", "1 if the config was loaded", registry=r)
        self.stale = Gauge("metallb_k8s_client_config_stale_bool", "1 if running on a stale config", registry=r)
        self.updates = self.exact.counter("metallb_k8s_client_updates_total", "Number of k8s object updates")
        self.update_errors = self.exact.counter(
            "metallb_k8s_client_update_errors_total", "Number of k8s object update failures"
        )


_NO_LABELS: Mapping[str, str] = MappingProxyType({})


def _labels(obj: Any) -> Any:
    return ((obj or {}).get("metadata") or {}).get("labels")


def _status_only(old: Any, new: Any) -> bool:
    """An update that changed neither spec nor labels (our own status writes): nothing to re-parse."""
    if old is None or new is None:
        return False
    return bool(old.get("spec") == new.get("spec") and _labels(old) == _labels(new))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ServiceController:
    def __init__(
        self,
        client: ApiClient,
        store: Store,
        queue: WorkQueue[str],
        recorder: EventRecorder,
        *,
        settings: ControllerSettings,
        registry: CollectorRegistry,
        exact: ExactCounters,
        logger: logging.Logger | None = None,
        wall_clock: Callable[[], str] = _now,
    ) -> None:
        self.client = client
        self.store = store
        self.queue = queue
        self.recorder = recorder
        self.settings = settings
        self.log = logger or logging.getLogger("pymetallb.controller")
        self.now = wall_clock
        self.metrics = _Metrics(registry, exact)
        self.alloc = Allocator()
        self.config: Config | None = None
        self.config_errors: tuple[str, ...] = ()
        self.initialized = False
        self.pending: set[str] = set()

    # --- wiring --------------------------------------------------------------------------------------

    def on_store_change(self, res: ResourceType, key: str, old: Any, new: Any) -> None:
        """Store subscriber: mark the right key dirty. Never decides anything."""
        if res == SERVICES:
            self.queue.add(f"svc/{key}")
        elif (res in (POOLS, COMMUNITIES) and not _status_only(old, new)) or (
            res == NAMESPACES and _labels(old) != _labels(new)
        ):
            self.queue.add("config")

    def synced(self) -> bool:
        return all(self.store.synced(r) for r in WATCHED)

    async def reconcile(self, key: str) -> float | None:
        if not self.synced():
            return 0.2
        self.metrics.updates.labels().inc()
        try:
            if key == "config":
                return await self._reconcile_config()
            if key == "pools":
                return await self._reconcile_pool_status()
            if key == "state":
                return await self._reconcile_state()
            if key.startswith("svc/"):
                return await self._reconcile_service(key[4:])
        except Exception:
            self.metrics.update_errors.labels().inc()
            raise
        self.log.warning("unknown work key %s", key, extra={"op": "reconcile", "event": "unknownKey"})
        return None

    # --- config --------------------------------------------------------------------------------------

    def _namespaces(self) -> list[LabeledObject]:
        return [
            LabeledObject(o["metadata"]["name"], dict(o["metadata"].get("labels") or {}))
            for o in self.store.list(NAMESPACES)
        ]

    def _namespace_labels(self, namespace: str) -> Mapping[str, str]:
        """The Store's own labels dict of the Namespace (read-only; every ServiceRequest of the namespace shares
        it instead of keeping a copy)."""
        obj = self.store.get(NAMESPACES, namespace)
        labels = ((obj or {}).get("metadata") or {}).get("labels")
        return labels if isinstance(labels, dict) else _NO_LABELS

    async def _reconcile_config(self) -> float | None:
        ns = self.settings.namespace
        pools: list[IPAddressPool] = []
        communities: list[Community] = []
        problems: list[str] = []
        for obj in self.store.list(POOLS, ns):
            try:
                pools.append(load_object(IPAddressPool, obj))
            except ValueError as exc:
                problems.append(f"IPAddressPool {obj['metadata'].get('name')}: {exc}")
        for obj in self.store.list(COMMUNITIES, ns):
            try:
                communities.append(load_object(Community, obj))
            except ValueError as exc:
                problems.append(f"Community {obj['metadata'].get('name')}: {exc}")
        resources = ClusterResources(pools=pools, communities=communities, namespaces=self._namespaces())
        result = parse_config(resources, ParseOptions(bgp_mode=None))
        errors = tuple(problems) + tuple(str(e) for e in result.errors)
        self.config_errors = errors
        self.queue.add("state")
        if errors or result.config is None:
            self.metrics.stale.set(1)
            self.log.error(
                "configuration is invalid; keeping the last good one",
                extra={"op": "config", "event": "configStale", "errors": list(errors)},
            )
            return None
        self.metrics.stale.set(0)
        self.metrics.loaded.set(1)
        if result.config == self.config and self.initialized:
            return None
        first = self.config is None
        self.config = result.config
        dropped = self.alloc.set_config(result.config)
        for key, why in dropped.items():
            self.log.info("allocation dropped by config change", extra={"op": "config", "service": key, "reason": why})
        if first or not self.initialized:
            self._reclaim_all()
            self.initialized = True
        for obj in self.store.list(SERVICES):
            self.queue.add(f"svc/{obj['metadata']['namespace']}/{obj['metadata']['name']}")
        self.queue.add("pools")
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
                self.alloc.assign(view.request(self._namespace_labels(view.namespace)), view.current_ips)
            except AllocationError:
                continue  # converge will report it and allocate anew

    # --- services ------------------------------------------------------------------------------------

    async def _reconcile_service(self, key: str) -> float | None:
        if not self.initialized:
            return None  # the first good config queues every Service again
        obj = self.store.get(SERVICES, key)
        if obj is None:
            released = self.alloc.release(key)
            self.pending.discard(key)
            if released is not None:
                self._retry_pending()
                self.queue.add("pools")
            return None
        view = service_view(obj)
        before = self.alloc.allocation(key)
        outcome = converge(
            self.alloc, view, lb_class=self.settings.lb_class, namespace_labels=self._namespace_labels(view.namespace)
        )
        if not outcome.managed:
            return None
        await self._apply(obj, view, outcome)
        after = self.alloc.allocation(key)
        if outcome.pending is not None:
            self.pending.add(key)
        else:
            self.pending.discard(key)
        if before is not None and (after is None or set(after.ips) != set(before.ips)):
            self._retry_pending()
        if before != after:
            self.queue.add("pools")
        return None

    def _retry_pending(self) -> None:
        for key in sorted(self.pending):
            self.queue.add(f"svc/{key}")

    async def _apply(self, obj: dict[str, Any], view: ServiceView, outcome: Outcome) -> None:
        ns, name = view.namespace, view.name
        meta_patch = service_metadata_patch(obj, outcome.pool if outcome.ips else None)
        status_patch = service_status_patch(
            obj, outcome.ips, pending=outcome.pending, pool=outcome.pool, now=self.now()
        )
        if outcome.left_class and set(view.current_ips) != set(outcome.left_class) and status_patch is not None:
            # Another implementation writes this Service's status now; only our condition goes.
            status_patch["status"].pop("loadBalancer", None)
            if not status_patch["status"]:
                status_patch = None
        if (meta_patch or status_patch) and view.deprecated_annotations:
            for k in view.deprecated_annotations:
                await self.recorder.record(
                    obj, "Warning", "deprecatedAnnotation", f"Service uses deprecated annotation {k}"
                )
        try:
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if meta_patch is not None:
                updated = await self.client.patch(SERVICES, name, meta_patch, ns, field_manager=FIELD_MANAGER)
                rv = (updated.get("metadata") or {}).get("resourceVersion") or rv
            if status_patch is not None:
                if "conditions" in status_patch["status"] and rv:
                    # The conditions list is replaced whole: only over the version we read (409 -> retry),
                    # so another writer's condition is never lost.
                    status_patch = {"metadata": {"resourceVersion": rv}, **status_patch}
                await self.client.patch(
                    SERVICES, name, status_patch, ns, subresource="status", field_manager=FIELD_MANAGER
                )
        except NotFound:
            return  # deleted meanwhile; the delete event releases it
        finally:
            for event in outcome.events:
                await self.recorder.record(obj, event.type, event.reason, event.message)
        if meta_patch or status_patch:
            self.log.info(
                "service updated",
                extra={
                    "op": "service",
                    "event": "serviceUpdated",
                    "service": view.key,
                    "ips": list(self._fmt(outcome)),
                    "pool": outcome.pool,
                    "pending": outcome.pending,
                },
            )

    @staticmethod
    def _fmt(outcome: Outcome) -> list[str]:
        from crds.addresses import format_ip

        return [format_ip(f, v) for f, v in outcome.ips]

    # --- pool status and configuration state ----------------------------------------------------------

    async def _reconcile_pool_status(self) -> float | None:
        if self.config is None:
            return None
        for obj in self.store.list(POOLS, self.settings.namespace):
            name = obj["metadata"]["name"]
            if name not in self.config.pools:
                continue
            counters = self.alloc.counters(name)
            m = self.metrics
            m.in_use.labels(name).set(counters.assigned_ipv4 + counters.assigned_ipv6)
            m.in_use_v4.labels(name).set(counters.assigned_ipv4)
            m.in_use_v6.labels(name).set(counters.assigned_ipv6)
            m.total.labels(name).set(
                min(
                    counters.assigned_ipv4 + counters.available_ipv4 + counters.assigned_ipv6 + counters.available_ipv6,
                    2**63 - 1,
                )
            )
            m.total_v4.labels(name).set(counters.assigned_ipv4 + counters.available_ipv4)
            m.total_v6.labels(name).set(min(counters.assigned_ipv6 + counters.available_ipv6, 2**63 - 1))
            patch = pool_status_patch(obj, counters)
            if patch is None:
                continue
            try:
                await self.client.patch(POOLS, name, patch, self.settings.namespace, subresource="status")
            except NotFound:
                continue
        return None

    async def _reconcile_state(self) -> float | None:
        ns = self.settings.namespace
        current = self.store.get(STATES, f"{ns}/{STATE_NAME}") if self.store.synced(STATES) else None
        if current is None:
            try:
                current = await self.client.get(STATES, STATE_NAME, ns)
            except NotFound:
                body = {
                    "apiVersion": ConfigurationState.api.api_version,
                    "kind": "ConfigurationState",
                    "metadata": {
                        "name": STATE_NAME,
                        "namespace": ns,
                        "labels": {"metallb.io/component-type": "controller"},
                    },
                }
                current = await self.client.create(STATES, body, ns)
        patch = configuration_state_status(current, list(self.config_errors), now=self.now())
        if patch is not None:
            await self.client.patch(STATES, STATE_NAME, patch, ns, subresource="status")
        return None
