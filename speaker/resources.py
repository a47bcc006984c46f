"""API identities the speaker reads and writes, and its Store transforms (per-program, so they live here)."""

from __future__ import annotations

import sys
from collections.abc import Callable
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
from reconciler.core.speaker_status import LABEL_NODE, LABEL_SERVICE_NAME, LABEL_SERVICE_NAMESPACE
from reconciler.runtime.compact import compact_service
from reconciler.runtime.resources import ResourceType

__all__ = [
    "ADDRESS_ELIDED",
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
    "compact_speaker_service",
    "compact_status",
    "slice_service_key",
    "status_service_key",
    "status_transform",
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


# What the controller keeps of a Service for allocation and the speaker never reads (its decisions read the view's
# key, type, class, labels, annotations, traffic policy and ingress IPs).
_SPEC_UNREAD = frozenset({"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "ports", "selector"})


def compact_speaker_service(obj: dict[str, Any]) -> dict[str, Any]:
    """``compact_service`` without the Service's cluster IPs, address families, ports and selector: 0.24 KB of
    the 1.7 KB a Service costs in the speaker's Store."""
    out = compact_service(obj)
    spec = out.get("spec")
    if isinstance(spec, dict):
        out["spec"] = {k: v for k, v in spec.items() if k not in _SPEC_UNREAD}
    return out


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
ADDRESS_ELIDED = "elided"
"""What ``compact_slice`` keeps of an endpoint's addresses: ``[ADDRESS_ELIDED]`` when it has any. The speaker reads
only whether an endpoint has an address (BGP's ready-endpoint rule), never which; without the address, equal
endpoints (same node and conditions) are one shared object."""
# Store objects are read-only (reconciler/runtime/store.py), so value-equal parts are shared, not copied: endpoints
# repeat per (node, conditions), and whole endpoint lists per set of nodes. Bounded, as in runtime/compact.py: past
# the limit, new values are simply not shared.
_SHARED: dict[tuple[Any, ...], Any] = {}
_SHARED_MAX = 8192


def _i(value: Any) -> Any:
    """A short string interned: namespaces, node names and label keys repeat across objects and across the pages
    and watch events that bring them (one string object for all). Not for values unique to one object (a
    Service's name): interning those only grows the interpreter's table."""
    return sys.intern(value) if type(value) is str and len(value) <= 63 else value


# Label values that repeat across objects (node and namespace names); others (a Service's name) are not interned.
_REPEATED_LABELS = frozenset({LABEL_NODE, LABEL_SERVICE_NAMESPACE})


def _shared(key: tuple[Any, ...], build: Any) -> Any:
    found = _SHARED.get(key)
    if found is not None:
        return found
    if len(_SHARED) < _SHARED_MAX:
        _SHARED[key] = build
    return build


def _endpoint(e: dict[str, Any]) -> tuple[tuple[Any, ...] | None, dict[str, Any]]:
    """The compact endpoint and its sharing key (None: not shareable, e.g. a value of an unexpected type)."""
    out: dict[str, Any] = {}
    plain = True
    node = e.get("nodeName")
    if "nodeName" in e:
        out["nodeName"] = _i(node)
        plain = node is None or type(node) is str
    conditions = e.get("conditions")
    kept: tuple[Any, ...] = ()
    if isinstance(conditions, dict):
        out["conditions"] = {k: conditions[k] for k in _CONDITIONS if k in conditions}
        kept = tuple((k, out["conditions"][k]) for k in _CONDITIONS if k in out["conditions"])
        # Only plain booleans in a sharing key: 1 == True must not make two endpoints one.
        plain = plain and all(v is None or type(v) is bool for _, v in kept)
    addresses = e.get("addresses")
    if isinstance(addresses, list):
        out["addresses"] = [ADDRESS_ELIDED] if any(isinstance(a, str) and a for a in addresses) else []
    if not plain:
        return None, out
    has_address = bool(out["addresses"]) if isinstance(addresses, list) else None
    key = ("endpoint", "nodeName" in e, node, isinstance(conditions, dict), kept, has_address)
    return key, _shared(key, out)


def _metadata(md: dict[str, Any]) -> dict[str, Any]:
    """Name, namespace (interned), resourceVersion and labels (interned); no uid (the speaker never writes these
    objects, so never names their uid)."""
    out: dict[str, Any] = {k: md[k] for k in ("name", "namespace", "resourceVersion") if k in md}
    if "namespace" in out:
        out["namespace"] = _i(out["namespace"])
    labels = md.get("labels")
    if isinstance(labels, dict):
        out["labels"] = {_i(k): _i(v) if k in _REPEATED_LABELS else v for k, v in labels.items()}
    return out


def compact_slice(obj: dict[str, Any]) -> dict[str, Any]:
    """An EndpointSlice reduced to identity, its Service label and, per endpoint, its node, its readiness
    conditions and whether it has an address (:data:`ADDRESS_ELIDED`); equal endpoints and equal endpoint lists are
    shared. With 10,000 Services the slices were most of a speaker's memory."""
    md = obj.get("metadata") or {}
    pairs = [_endpoint(e) for e in obj.get("endpoints") or () if isinstance(e, dict)]
    endpoints = [endpoint for _, endpoint in pairs]
    if all(key is not None for key, _ in pairs):
        endpoints = _shared(("endpoints", *(key for key, _ in pairs)), endpoints)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": _metadata(md),
        "addressType": _i(obj.get("addressType")),
        "endpoints": endpoints,
    }


def status_transform(node: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The Store transform of ServiceL2Status and ServiceBGPStatus objects for the speaker on ``node``."""

    def compact(obj: dict[str, Any]) -> dict[str, Any]:
        return compact_status(obj, node)

    return compact


def compact_status(obj: dict[str, Any], node: str) -> dict[str, Any]:
    """A ServiceL2Status or ServiceBGPStatus reduced to what the speaker on ``node`` reads: its name and labels
    (which node, which Service), and its status only when it is ``node``'s own. The speaker reflects only its own
    (a label selector on ``metallb.io/node``); the check stays so that a stray object never passes for one."""
    md = obj.get("metadata") or {}
    meta = _metadata(md)
    out: dict[str, Any] = {"apiVersion": _i(obj.get("apiVersion")), "kind": _i(obj.get("kind")), "metadata": meta}
    status = obj.get("status")
    labels = meta.get("labels") or {}
    if isinstance(status, dict) and labels.get(LABEL_NODE) == node:
        kept = {_i(k): _i(v) if k in ("node", "serviceNamespace") else v for k, v in status.items()}
        if kept.get("serviceName") == labels.get(LABEL_SERVICE_NAME):
            kept["serviceName"] = labels[LABEL_SERVICE_NAME]  # one string for both
        out["status"] = kept
    return out


def slice_service_key(obj: dict[str, Any]) -> list[str]:
    """Store index: the ``namespace/name`` of the Service an EndpointSlice belongs to."""
    md = obj.get("metadata") or {}
    labels = md.get("labels") or {}
    name = labels.get(SERVICE_NAME_LABEL) if isinstance(labels, dict) else None
    ns = md.get("namespace")
    return [sys.intern(f"{ns}/{name}")] if isinstance(name, str) and name and isinstance(ns, str) else []


def status_service_key(obj: dict[str, Any]) -> list[str]:
    """Store index: the ``namespace/name`` of the Service a ServiceL2Status/ServiceBGPStatus is about."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if not isinstance(labels, dict):
        return []
    ns, name = labels.get("metallb.io/service-namespace"), labels.get("metallb.io/service-name")
    return [sys.intern(f"{ns}/{name}")] if isinstance(ns, str) and isinstance(name, str) and name else []
