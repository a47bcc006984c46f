"""What the webhook watches: the shell's reflectors fill the one Store that ``ClusterState`` reads.

Watched: the six config kinds in the MetalLB namespace, Services, Namespaces and Nodes cluster-wide (Services for
the sharing and pool-deletion rules, Namespaces for pools restricted by namespace selector, Nodes for the node-
dependent parser rules, as MetalLB's BGPPeer and BGPAdvertisement webhooks list them). Decisions wait for every
kind to be synced (``/readyz``): before that the webhook would judge against a partial cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.runtime.compact import compact_service, strip_bookkeeping
from reconciler.runtime.resources import NAMESPACES, NODES, SERVICES, ResourceType

from .state import CONFIG_RESOURCES

__all__ = ["watched"]


Transform = Callable[[dict[str, Any]], dict[str, Any]]


def watched(namespace: str) -> list[tuple[ResourceType, str | None, Transform]]:
    """What to reflect (kind, namespace or None for cluster-wide, Store transform): the Store keeps only what
    ClusterState reads (compact Services, no managedFields), as the controller's."""
    out: list[tuple[ResourceType, str | None, Transform]] = [
        (res, namespace, strip_bookkeeping) for res in CONFIG_RESOURCES.values()
    ]
    out.append((SERVICES, None, compact_service))
    out += [(res, None, strip_bookkeeping) for res in (NAMESPACES, NODES)]
    return out
