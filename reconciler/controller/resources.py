"""API identities of the kinds the controller reads and writes."""

from __future__ import annotations

from crds.types import Community, ConfigurationState, IPAddressPool
from reconciler.runtime.resources import NAMESPACES, SERVICES, ResourceType

__all__ = ["COMMUNITIES", "FIELD_MANAGER", "POOLS", "STATES", "STATE_NAME", "WATCHED"]

POOLS = ResourceType.of(IPAddressPool)
COMMUNITIES = ResourceType.of(Community)
STATES = ResourceType.of(ConfigurationState)
WATCHED = (SERVICES, NAMESPACES, POOLS, COMMUNITIES)
"""Nothing is decided before all of these have synced (the allocator must see every held address first)."""
FIELD_MANAGER = "pymetallb-controller"
STATE_NAME = "controller"
