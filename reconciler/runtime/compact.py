"""Store transforms: keep only the fields programs read, so 10,000 Services fit in a few tens of MB.

A Service as the apiserver sends it is about 2 KB of JSON and 14 KB as Python dicts, mostly
``managedFields`` and ``kubectl.kubernetes.io/last-applied-configuration``. ``compact_service`` keeps what
the controller reads (identity, annotations, labels, the allocation-relevant spec, the load-balancer status and
conditions), interns the few strings every Service repeats and shares equal ``ipFamilies`` and ``ports`` lists.
``strip_bookkeeping`` drops only the bookkeeping from any other object.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["compact_service", "strip_bookkeeping"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_METADATA_KEEP = ("name", "namespace", "uid", "resourceVersion", "generation", "deletionTimestamp")
_SPEC_KEEP = (
    "type",
    "loadBalancerClass",
    "loadBalancerIP",
    "clusterIP",
    "clusterIPs",
    "ipFamilyPolicy",
    "ipFamilies",
    "externalTrafficPolicy",
    "selector",
)
_SPEC_REPEATED = frozenset({"type", "loadBalancerClass", "ipFamilyPolicy", "externalTrafficPolicy"})


def _i(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) and len(value) <= 32 else value


def _metadata(md: dict[str, Any]) -> dict[str, Any]:
    out = {k: md[k] for k in _METADATA_KEEP if k in md}
    if "namespace" in out:
        out["namespace"] = _i(out["namespace"])  # every Service of a namespace shares one string
    annotations = {k: v for k, v in (md.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        out["annotations"] = {_i(k): v for k, v in annotations.items()}
    if md.get("labels"):
        out["labels"] = {_i(k): _i(v) for k, v in md["labels"].items()}
    if md.get("ownerReferences"):
        out["ownerReferences"] = md["ownerReferences"]
    return out


def strip_bookkeeping(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without ``managedFields`` and the last-applied annotation."""
    md = obj.get("metadata")
    if not isinstance(md, dict) or ("managedFields" not in md and LAST_APPLIED not in (md.get("annotations") or {})):
        return obj
    out = dict(obj)
    out["metadata"] = {k: v for k, v in md.items() if k != "managedFields"}
    if LAST_APPLIED in (md.get("annotations") or {}):
        out["metadata"]["annotations"] = {k: v for k, v in md["annotations"].items() if k != LAST_APPLIED}
    return out


# Value-equal lists most Services repeat (``ipFamilies``, ``ports``) are shared, not copied: Store objects are
# read-only (store.py), so one list can stand for every equal one. Bounded: past the limit, values are not shared.
_SHARED: dict[tuple[Any, ...], list[Any]] = {}
_SHARED_MAX = 4096


def _shared(key: tuple[Any, ...], build: list[Any]) -> list[Any]:
    found = _SHARED.get(key)
    if found is not None:
        return found
    if len(_SHARED) < _SHARED_MAX:
        _SHARED[key] = build
    return build


def compact_service(obj: dict[str, Any]) -> dict[str, Any]:
    """A Service reduced to what pymetallb reads.

    Besides the bookkeeping it drops ``spec.selector`` unless ``externalTrafficPolicy`` is ``Local`` (the only
    case the backend key reads it) and ``spec.clusterIP`` when ``spec.clusterIPs`` names an address (the families
    come from ``clusterIPs`` then).
    """
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    # Only values many Services share are interned: a unique one (clusterIP, loadBalancerIP) would only grow the
    # interpreter's table of interned strings (~100 bytes an entry).
    out_spec = {k: _i(spec[k]) if k in _SPEC_REPEATED else spec[k] for k in _SPEC_KEEP if k in spec}
    if out_spec.get("externalTrafficPolicy") != "Local":
        out_spec.pop("selector", None)
    cluster_ips = spec.get("clusterIPs")
    if isinstance(cluster_ips, list) and any(cluster_ips):
        out_spec.pop("clusterIP", None)
    families = spec.get("ipFamilies")
    if isinstance(families, list):
        key = ("ipFamilies", *families)
        out_spec["ipFamilies"] = (
            _shared(key, [_i(f) for f in families]) if all(isinstance(f, str) for f in families) else list(families)
        )
    if spec.get("ports"):
        ports = [(p.get("port"), _i(p.get("protocol") or "TCP")) for p in spec["ports"] if isinstance(p, dict)]
        built = [{"port": port, "protocol": protocol} for port, protocol in ports]
        # Only plain ints and strings as a sharing key: True == 1 must not make two port lists one.
        plain = all(type(port) is int and type(protocol) is str for port, protocol in ports)
        out_spec["ports"] = _shared(("ports", *ports), built) if plain else built
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": _metadata(md), "spec": out_spec}
    out_status: dict[str, Any] = {}
    lb = status.get("loadBalancer")
    if lb:
        out_status["loadBalancer"] = {
            "ingress": [{"ip": i.get("ip")} for i in lb.get("ingress") or () if isinstance(i, dict)]
        }
    if status.get("conditions"):
        out_status["conditions"] = [
            {_i(k): _i(v) for k, v in c.items()} for c in status["conditions"] if isinstance(c, dict)
        ]
    if out_status:
        out["status"] = out_status
    return out
