"""What the controller must write, as patches computed from current objects and desired state. Pure.

Each function compares the object as it is with what it should be and returns the merge patch that gets
there, or None when nothing differs: running the reconcile twice writes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crds.addresses import format_ip
from reconciler.core.allocator import IP, PoolCounters
from reconciler.core.services import ALLOCATED_FROM_POOL

__all__ = [
    "CONFIG_CONDITION",
    "POOL_CONDITION",
    "SERVICE_CONDITION",
    "configuration_state_status",
    "pool_status_patch",
    "service_metadata_patch",
    "service_status_patch",
]

POOL_CONDITION = "poolReconcilerValid"
CONFIG_CONDITION = "configReconcilerValid"
"""MetalLB's condition types: the controller's pool reconciler, the speaker's config reconciler."""


def _ingress_ips(obj: Mapping[str, Any]) -> list[str]:
    status = obj.get("status") or {}
    lb = status.get("loadBalancer") or {}
    return [str(i.get("ip")) for i in lb.get("ingress") or () if isinstance(i, dict) and i.get("ip")]


#: The condition pymetallb keeps on each LoadBalancer Service it manages (MetalLB has none): True with the
#: pool when the Service holds its addresses, False with the reason while it waits.
SERVICE_CONDITION = "metallb.io/IPAllocated"


def service_status_patch(
    obj: Mapping[str, Any], ips: Sequence[IP], *, pending: str | None = None, pool: str | None = None, now: str = ""
) -> dict[str, Any] | None:
    """Merge patch for the Service's ``/status``: ``loadBalancer.ingress`` lists exactly ``ips``, and our
    condition says why there are none (``pending``). Other conditions are kept as they are.

    ``pending`` None and no ``ips`` means the Service is not ours to allocate (any more): the condition goes.
    """
    want = [format_ip(f, v) for f, v in ips]
    status = obj.get("status") or {}
    conditions = [c for c in status.get("conditions") or () if isinstance(c, dict)]
    ours = next((c for c in conditions if c.get("type") == SERVICE_CONDITION), None)
    others = [c for c in conditions if c.get("type") != SERVICE_CONDITION]
    desired: dict[str, str] | None = None
    if want:
        desired = {"status": "True", "reason": "Allocated", "message": f"allocated from pool {pool}" if pool else ""}
    elif pending is not None:
        desired = {"status": "False", "reason": "AllocationFailed", "message": pending}
    condition_same = (desired is None and ours is None) or (
        desired is not None and ours is not None and all(ours.get(k) == v for k, v in desired.items())
    )
    if _ingress_ips(obj) == want and condition_same:
        return None
    patch: dict[str, Any] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in want] if want else None}}
    if not condition_same:
        new = list(others)
        if desired is not None:
            stamp = ours.get("lastTransitionTime") if ours and ours.get("status") == desired["status"] else now
            new.append({"type": SERVICE_CONDITION, **desired, "lastTransitionTime": stamp})
        patch["conditions"] = new or None
    return {"status": patch}


def service_metadata_patch(obj: Mapping[str, Any], pool: str | None) -> dict[str, Any] | None:
    """Merge patch setting (or removing, when ``pool`` is None) ``metallb.io/ip-allocated-from-pool``."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if annotations.get(ALLOCATED_FROM_POOL) == pool:
        return None
    if pool is None and ALLOCATED_FROM_POOL not in annotations:
        return None
    return {"metadata": {"annotations": {ALLOCATED_FROM_POOL: pool}}}


def pool_status_patch(obj: Mapping[str, Any], counters: PoolCounters) -> dict[str, Any] | None:
    want = {
        "assignedIPv4": counters.assigned_ipv4,
        "assignedIPv6": counters.assigned_ipv6,
        "availableIPv4": counters.available_ipv4,
        "availableIPv6": counters.available_ipv6,
    }
    have = obj.get("status") or {}
    if all(have.get(k) == v for k, v in want.items()):
        return None
    return {"status": want}


def configuration_state_status(
    current: Mapping[str, Any] | None,
    errors: Sequence[str],
    *,
    now: str,
    reconciled: bool = True,
    condition_type: str = POOL_CONDITION,
) -> dict[str, Any] | None:
    """Status for a ConfigurationState (``controller``, or ``speaker-<node>`` with ``CONFIG_CONDITION``): one
    condition, the result, the error summary.

    ``now`` is the RFC 3339 time to stamp a condition that changes (the caller reads the clock). Returns
    None when the current status already says the same thing.
    """
    valid = not errors
    condition = {
        "type": condition_type,
        "status": "True" if valid else "False",
        "reason": "Reconciled" if valid else "ConfigurationError",
        "message": "" if valid else "configuration error: " + "\n".join(errors),
    }
    result = ("Valid" if valid else "Invalid") if reconciled else "Unknown"
    summary = "" if valid else "\n".join("configuration error: " + e for e in errors)
    status = dict((current or {}).get("status") or {})
    old = next((c for c in status.get("conditions") or () if c.get("type") == condition_type), None)
    same_condition = old is not None and all(old.get(k) == v for k, v in condition.items())
    if same_condition and status.get("result") == result and (status.get("errorSummary") or "") == summary:
        return None
    stamp = old.get("lastTransitionTime") if same_condition and old else now
    new_status: dict[str, Any] = {
        "result": result,
        "errorSummary": summary,
        "conditions": [{**condition, "lastTransitionTime": stamp}],
    }
    return {"status": new_status}
