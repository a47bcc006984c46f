"""API identities the speaker reads and writes, and its Store transforms (per-program, so they live here)."""

from __future__ import annotations

import sys
from typing import Any

from crds.types import (
    BFDProfile,
    BGPAdvertisement,
    BGPPeer,
    Community,
    ConfigurationState,
    IPAddressPool,
    L2Advertisement,
    ServiceBGPStatus,
    ServiceL2Status,
)
from reconciler.core.nodes import SERVICE_NAME_LABEL
from reconciler.runtime.resources import ResourceType

__all__ = [
    "ADVERTISEMENTS_BGP",
    "ADVERTISEMENTS_L2",
    "BFD_PROFILES",
    "BGP_STATUSES",
    "COMMUNITIES",
    "CONFIG_KINDS",
    "L2_STATUSES",
    "PEERS",
    "POOLS",
    "STATES",
    "compact_node",
    "compact_slice",
    "slice_service_key",
    "status_service_key",
]

POOLS = ResourceType.of(IPAddressPool)
ADVERTISEMENTS_L2 = ResourceType.of(L2Advertisement)
ADVERTISEMENTS_BGP = ResourceType.of(BGPAdvertisement)
PEERS = ResourceType.of(BGPPeer)
COMMUNITIES = ResourceType.of(Community)
BFD_PROFILES = ResourceType.of(BFDProfile)
STATES = ResourceType.of(ConfigurationState)
L2_STATUSES = ResourceType.of(ServiceL2Status)
BGP_STATUSES = ResourceType.of(ServiceBGPStatus)
CONFIG_KINDS = (POOLS, ADVERTISEMENTS_L2, ADVERTISEMENTS_BGP, PEERS, COMMUNITIES, BFD_PROFILES)


def compact_node(obj: dict[str, Any]) -> dict[str, Any]:
    """A Node reduced to what the speaker reads: name, labels, conditions' type and status, addresses.

    A real Node carries its image list and much more (tens of KB); a speaker watches every Node."""
    md = obj.get("metadata") or {}
    status = obj.get("status") or {}
    conditions = [
        {"type": c.get("type"), "status": c.get("status")}
        for c in status.get("conditions") or ()
        if isinstance(c, dict)
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {k: md[k] for k in ("name", "uid", "resourceVersion", "labels") if k in md},
        "status": {"conditions": conditions, "addresses": list(status.get("addresses") or ())},
    }


_CONDITIONS = ("ready", "serving", "terminating")


def _endpoint(e: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "nodeName" in e:
        out["nodeName"] = sys.intern(e["nodeName"]) if isinstance(e["nodeName"], str) else e["nodeName"]
    conditions = e.get("conditions")
    if isinstance(conditions, dict):
        out["conditions"] = {k: conditions[k] for k in _CONDITIONS if k in conditions}
    addresses = e.get("addresses")
    if isinstance(addresses, list):
        out["addresses"] = addresses[:1]  # only "has an address" is read (BGP's ready-endpoint rule)
    return out


def compact_slice(obj: dict[str, Any]) -> dict[str, Any]:
    """An EndpointSlice reduced to identity, its Service label and, per endpoint, its node, its readiness
    conditions and one address: with 10,000 Services the slices are most of a speaker's memory."""
    md = obj.get("metadata") or {}
    endpoints = [_endpoint(e) for e in obj.get("endpoints") or () if isinstance(e, dict)]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "labels") if k in md},
        "addressType": obj.get("addressType"),
        "endpoints": endpoints,
    }


def slice_service_key(obj: dict[str, Any]) -> list[str]:
    """Store index: the ``namespace/name`` of the Service an EndpointSlice belongs to."""
    md = obj.get("metadata") or {}
    labels = md.get("labels") or {}
    name = labels.get(SERVICE_NAME_LABEL) if isinstance(labels, dict) else None
    ns = md.get("namespace")
    return [f"{ns}/{name}"] if isinstance(name, str) and name and isinstance(ns, str) else []


def status_service_key(obj: dict[str, Any]) -> list[str]:
    """Store index: the ``namespace/name`` of the Service a ServiceL2Status/ServiceBGPStatus is about."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if not isinstance(labels, dict):
        return []
    ns, name = labels.get("metallb.io/service-namespace"), labels.get("metallb.io/service-name")
    return [f"{ns}/{name}"] if isinstance(ns, str) and isinstance(name, str) and name else []
