"""Feed ``ClusterState`` from list+watch: the runtime's reflectors fill a ``Store``, a subscription mirrors it.

Watched: the six config kinds in the MetalLB namespace, Services, Namespaces and Nodes cluster-wide (Services for
the sharing and pool-deletion rules, Namespaces for pools restricted by namespace selector, Nodes for the node-
dependent parser rules, as MetalLB's BGPPeer and BGPAdvertisement webhooks list them). Decisions wait for every
kind to be synced (``/readyz``): before that the webhook would judge against a partial cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crds.meta import Resource
from reconciler.runtime.compact import compact_service, strip_bookkeeping
from reconciler.runtime.resources import NAMESPACES, NODES, SERVICES, ObjectKey, ResourceType, split_key
from reconciler.runtime.store import Store

from .state import CONFIG_KINDS, ClusterState

__all__ = ["CONFIG_RESOURCES", "connect", "watched"]

CONFIG_RESOURCES: dict[ResourceType, type[Resource]] = {ResourceType.of(m): m for m in CONFIG_KINDS}


def connect(store: Store, state: ClusterState) -> None:
    """Mirror every change of the Store into ``state`` (the subscription lives as long as the Store)."""

    def on_change(res: ResourceType, key: ObjectKey, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        model = CONFIG_RESOURCES.get(res)
        if model is not None:
            if new is None:
                state.remove_config(model, split_key(key)[1])
            else:
                state.apply_config(model, new)
        elif res == SERVICES:
            if new is None:
                state.remove_service(key)
            else:
                state.apply_service(new)
        elif res in (NAMESPACES, NODES):
            if new is None:
                state.remove_labeled(res.kind, key)
            else:
                state.apply_labeled(res.kind, new)

    store.subscribe(on_change)


Transform = Callable[[dict[str, Any]], dict[str, Any]]


def watched(namespace: str) -> list[tuple[ResourceType, str | None, Transform]]:
    """What to reflect (kind, namespace or None for cluster-wide, Store transform): the Store keeps only what
    ClusterState reads (compact Services, no managedFields), as the controller's."""
    out: list[tuple[ResourceType, str | None, Transform]] = [
        (res, namespace, strip_bookkeeping) for res in CONFIG_RESOURCES
    ]
    out.append((SERVICES, None, compact_service))
    out += [(res, None, strip_bookkeeping) for res in (NAMESPACES, NODES)]
    return out
