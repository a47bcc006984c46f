"""Patches are computed from what differs; a second pass over the patched object writes nothing."""

from __future__ import annotations

from typing import Any

from reconciler.core.actuation import (
    configuration_state_status,
    pool_status_patch,
    service_metadata_patch,
    service_status_patch,
)
from reconciler.core.allocator import PoolCounters


def merge(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch."""
    out = dict(obj)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            out[k] = merge(out.get(k) if isinstance(out.get(k), dict) else {}, v)
        else:
            out[k] = v
    return out


def test_status_patch_sets_then_is_idempotent() -> None:
    svc: dict[str, Any] = {"metadata": {"name": "s"}, "status": {"loadBalancer": {}}}
    patch = service_status_patch(svc, [(4, 0x0A000001), (6, 1)], pool="a", now="T")
    assert patch == {
        "status": {
            "loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"ip": "::1"}]},
            "conditions": [
                {
                    "type": "metallb.io/IPAllocated",
                    "status": "True",
                    "reason": "Allocated",
                    "message": "allocated from pool a",
                    "lastTransitionTime": "T",
                }
            ],
        }
    }
    svc = merge(svc, patch)
    assert service_status_patch(svc, [(4, 0x0A000001), (6, 1)], pool="a", now="T2") is None


def test_status_patch_clears() -> None:
    svc = {"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}}
    patch = service_status_patch(svc, [])
    assert patch == {"status": {"loadBalancer": {"ingress": None}}}
    assert service_status_patch(merge(svc, patch), []) is None


def test_pending_reason_is_a_condition_and_other_conditions_stay() -> None:
    other = {"type": "example.com/Ready", "status": "True", "reason": "X", "message": "", "lastTransitionTime": "T0"}
    svc: dict[str, Any] = {"status": {"conditions": [other]}}
    patch = service_status_patch(svc, [], pending='no available IPs in pool "a"', now="T1")
    assert patch is not None
    conditions = patch["status"]["conditions"]
    assert conditions[0] == other
    assert conditions[1]["status"] == "False" and conditions[1]["message"] == 'no available IPs in pool "a"'
    svc = merge(svc, patch)
    assert service_status_patch(svc, [], pending='no available IPs in pool "a"', now="T2") is None


def test_pool_annotation_set_change_remove() -> None:
    svc: dict[str, Any] = {"metadata": {"annotations": {"other": "x"}}}
    assert service_metadata_patch(svc, None) is None
    patch = service_metadata_patch(svc, "a")
    assert patch == {"metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": "a"}}}
    svc = merge(svc, patch)
    assert service_metadata_patch(svc, "a") is None
    removal = service_metadata_patch(svc, None)
    assert removal is not None
    assert merge(svc, removal)["metadata"]["annotations"] == {"other": "x"}


def test_pool_status() -> None:
    counters = PoolCounters(1, 0, 3, 0)
    patch = pool_status_patch({}, counters)
    assert patch == {"status": {"assignedIPv4": 1, "assignedIPv6": 0, "availableIPv4": 3, "availableIPv6": 0}}
    assert pool_status_patch(merge({}, patch), counters) is None


def test_configuration_state_keeps_the_transition_time_while_unchanged() -> None:
    first = configuration_state_status(None, ['parsing address pool a: invalid CIDR "x"'], now="T1")
    assert first is not None
    status = first["status"]
    assert status["result"] == "Invalid"
    assert status["conditions"][0]["reason"] == "ConfigurationError"
    assert configuration_state_status(first, ['parsing address pool a: invalid CIDR "x"'], now="T2") is None
    valid = configuration_state_status(first, [], now="T3")
    assert valid is not None and valid["status"]["result"] == "Valid"
    assert valid["status"]["conditions"][0]["lastTransitionTime"] == "T3"
