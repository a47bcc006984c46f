"""The Service reconciler: converge one Service with the allocator and write what differs.

Reads the Service from the Store, runs the pure ``converge`` (reconciler.core), then patches the annotation and
the status (with a condition that carries the reason while it waits) and records the outcome's Events. When
addresses are freed, every waiting Service is queued again; when an allocation changes, the pool status.
"""

from __future__ import annotations

import logging
from typing import Any

from crds.addresses import format_ip
from reconciler.controller.config_reconciler import namespace_labels
from reconciler.controller.keys import POOL_STATUS, ServiceKey
from reconciler.controller.ports import Enqueue, Patcher, Recorder
from reconciler.controller.resources import FIELD_MANAGER
from reconciler.controller.state import ControllerSettings, ControllerState
from reconciler.core.actuation import service_metadata_patch, service_status_patch
from reconciler.core.balancer import Outcome, converge
from reconciler.core.services import ServiceView, service_view
from reconciler.runtime.clock import Clock, RealClock, kube_time
from reconciler.runtime.errors import NotFound
from reconciler.runtime.resources import SERVICES
from reconciler.runtime.store import Store

__all__ = ["ServiceReconciler"]


class ServiceReconciler:
    def __init__(
        self,
        store: Store,
        state: ControllerState,
        client: Patcher,
        recorder: Recorder,
        enqueue: Enqueue,
        *,
        settings: ControllerSettings,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.client = client
        self.recorder = recorder
        self.enqueue = enqueue
        self.settings = settings
        self.clock: Clock = clock or RealClock()  # wall time for the status conditions
        self.log = logger or logging.getLogger("pymetallb.controller")

    async def reconcile(self, key: ServiceKey) -> float | None:
        st = self.state
        if not st.initialized:
            return None  # the first good config queues every Service again
        name = key.name
        obj = self.store.get(SERVICES, name)
        if obj is None:
            released = st.alloc.release(name)
            st.pending.discard(name)
            st.pending_reasons.pop(name, None)
            if released is not None:
                self._retry_pending()
                self.enqueue(POOL_STATUS)
            return None
        view = service_view(obj)
        before = st.alloc.allocation(name)
        outcome = converge(
            st.alloc,
            view,
            lb_class=self.settings.lb_class,
            namespace_labels=namespace_labels(self.store, view.namespace),
        )
        if not outcome.managed:
            # No longer ours (type or class changed): it waits for nothing from us.
            st.pending.discard(name)
            st.pending_reasons.pop(name, None)
            return None
        await self._apply(obj, view, outcome)
        after = st.alloc.allocation(name)
        if outcome.pending is not None:
            st.pending.add(name)
            st.pending_reasons[name] = outcome.pending
        else:
            st.pending.discard(name)
            st.pending_reasons.pop(name, None)
        if before is not None and (after is None or set(after.ips) != set(before.ips)):
            self._retry_pending()
        if before != after:
            self.enqueue(POOL_STATUS)
        return None

    def _retry_pending(self) -> None:
        for name in sorted(self.state.pending):
            self.enqueue(ServiceKey(name))

    async def _apply(self, obj: dict[str, Any], view: ServiceView, outcome: Outcome) -> None:
        ns, name = view.namespace, view.name
        meta_patch = service_metadata_patch(obj, outcome.pool if outcome.ips else None)
        status_patch = service_status_patch(
            obj, outcome.ips, pending=outcome.pending, pool=outcome.pool, now=kube_time(self.clock.now())
        )
        if outcome.left_class and set(view.current_ips) != set(outcome.left_class) and status_patch is not None:
            # Another implementation writes this Service's status now; only our condition goes.
            status_patch["status"].pop("loadBalancer", None)
            if not status_patch["status"]:
                status_patch = None
        if (meta_patch or status_patch) and view.deprecated_annotations:
            for k in view.deprecated_annotations:
                self.recorder.post(obj, "Warning", "deprecatedAnnotation", f"Service uses deprecated annotation {k}")
        try:
            # The status first: the address is what the user waits for, so it is one request away, not two.
            # The annotation follows; if it fails, the retry finds the status in place and writes only it.
            if status_patch is not None:
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if "conditions" in status_patch["status"] and rv:
                    # The conditions list is replaced whole: only over the version we read (409 -> retry),
                    # so another writer's condition is never lost.
                    status_patch = {"metadata": {"resourceVersion": rv}, **status_patch}
                await self.client.patch(
                    SERVICES, name, status_patch, ns, subresource="status", field_manager=FIELD_MANAGER
                )
            if meta_patch is not None:
                await self.client.patch(SERVICES, name, meta_patch, ns, field_manager=FIELD_MANAGER)
        except NotFound:
            return  # deleted meanwhile; the delete event releases it
        finally:
            for event in outcome.events:
                self.recorder.post(obj, event.type, event.reason, event.message)
        if meta_patch or status_patch:
            self.log.info(
                "service updated",
                extra={
                    "op": "service",
                    "event": "serviceUpdated",
                    "service": view.key,
                    "ips": [format_ip(f, v) for f, v in outcome.ips],
                    "pool": outcome.pool,
                    "pending": outcome.pending,
                },
            )
