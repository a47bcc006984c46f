"""The compact Store form of a Service reads exactly like the full one."""

from __future__ import annotations

from typing import Any

from alloc_helpers import service

from reconciler.actuation import service_metadata_patch, service_status_patch
from reconciler.runtime.compact import compact_service, strip_bookkeeping
from reconciler.services import service_view


def full(view_kwargs: dict[str, Any]) -> dict[str, Any]:
    v = service("s", **view_kwargs)
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": v.name,
            "namespace": v.namespace,
            "uid": "u-1",
            "resourceVersion": "42",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{...}" * 50,
                "metallb.io/allow-shared-ip": "k",
                "metallb.io/ip-allocated-from-pool": "p",
            },
            "labels": {"app": "s"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 31000}],
            "clusterIP": "10.96.0.1",
            "clusterIPs": ["10.96.0.1", "fd00::1"],
            "ipFamilyPolicy": "PreferDualStack",
            "ipFamilies": ["IPv6", "IPv4"],
            "externalTrafficPolicy": "Local",
            "selector": {"app": "s"},
            "sessionAffinity": "None",
            "loadBalancerIP": "10.0.0.5",
        },
        "status": {
            "loadBalancer": {"ingress": [{"ip": "10.0.0.5", "ipMode": "VIP"}]},
            "conditions": [
                {
                    "type": "metallb.io/IPAllocated",
                    "status": "True",
                    "reason": "Allocated",
                    "message": "allocated from pool p",
                    "lastTransitionTime": "T",
                }
            ],
        },
    }
    return obj


def test_compact_service_reads_the_same() -> None:
    obj = full({})
    small = compact_service(obj)
    assert service_view(small) == service_view(obj)
    assert service_status_patch(small, [(4, 0x0A000005)], pool="p") == service_status_patch(
        obj, [(4, 0x0A000005)], pool="p"
    )
    assert service_metadata_patch(small, "q") == service_metadata_patch(obj, "q")
    assert "managedFields" not in small["metadata"]
    assert "kubectl.kubernetes.io/last-applied-configuration" not in small["metadata"]["annotations"]
    assert small["metadata"]["uid"] == "u-1" and small["metadata"]["resourceVersion"] == "42"


def test_strip_bookkeeping_keeps_everything_else() -> None:
    obj = full({})
    slim = strip_bookkeeping(obj)
    assert slim["spec"] == obj["spec"] and slim["status"] == obj["status"]
    assert "managedFields" not in slim["metadata"] and "managedFields" in obj["metadata"]


def test_service_view_never_raises_on_wrong_types() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    junk = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=10,
    )
    fields = st.fixed_dictionaries(
        {},
        optional={
            "metadata": st.fixed_dictionaries({}, optional={"name": junk, "annotations": junk, "labels": junk}),
            "spec": st.fixed_dictionaries(
                {},
                optional={
                    k: junk
                    for k in (
                        "type",
                        "ports",
                        "clusterIPs",
                        "clusterIP",
                        "ipFamilies",
                        "selector",
                        "loadBalancerIP",
                        "loadBalancerClass",
                        "ipFamilyPolicy",
                    )
                },
            ),
            "status": st.fixed_dictionaries({}, optional={"loadBalancer": junk}),
        },
    )

    @given(fields)
    def check(obj: dict[str, Any]) -> None:
        service_view(obj)

    check()
