"""The compact Store form of a Service reads exactly like the full one."""

from __future__ import annotations

from typing import Any

from alloc_helpers import service

from reconciler.core.actuation import service_metadata_patch, service_status_patch
from reconciler.core.services import service_view
from reconciler.runtime.compact import compact_service, strip_bookkeeping


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


def variant(**spec: Any) -> dict[str, Any]:
    obj = full({})
    obj["spec"].update(spec)
    return obj


def reads_the_same(obj: dict[str, Any]) -> dict[str, Any]:
    small = compact_service(obj)
    assert service_view(small) == service_view(obj)
    for ips, pending in (([(4, 0x0A000005)], None), ([], "no available IPs"), ([], None)):
        assert service_status_patch(small, ips, pending=pending, pool="p", now="N") == service_status_patch(
            obj, ips, pending=pending, pool="p", now="N"
        )
    for pool in ("p", "q", None):
        assert service_metadata_patch(small, pool) == service_metadata_patch(obj, pool)
    # What the EventRecorder puts in involvedObject.
    for field in ("name", "namespace", "uid", "resourceVersion"):
        assert small["metadata"][field] == obj["metadata"][field]
    assert (small["apiVersion"], small["kind"]) == (obj["apiVersion"], obj["kind"])
    return small


def test_the_selector_is_kept_only_for_local_traffic_policy() -> None:
    local = reads_the_same(variant(externalTrafficPolicy="Local"))
    assert local["spec"]["selector"] == {"app": "s"}
    cluster = reads_the_same(variant(externalTrafficPolicy="Cluster", selector={"app": "other"}))
    assert "selector" not in cluster["spec"]


def test_cluster_ip_is_dropped_only_when_cluster_ips_name_an_address() -> None:
    assert "clusterIP" not in reads_the_same(variant())["spec"]
    for ips in ([], [""], None):
        small = reads_the_same(variant(clusterIP="fd00::7", clusterIPs=ips))
        assert small["spec"]["clusterIP"] == "fd00::7"
        assert service_view(small).families == (6,)


def test_equal_ports_and_families_are_one_shared_list() -> None:
    a = reads_the_same(variant(ports=[{"port": 80, "protocol": "TCP", "nodePort": 30001}]))
    b = reads_the_same(variant(ports=[{"port": 80, "protocol": "TCP", "nodePort": 30002}]))
    c = reads_the_same(variant(ports=[{"port": 81, "protocol": "TCP"}]))
    assert a["spec"]["ports"] is b["spec"]["ports"]
    assert a["spec"]["ports"] is not c["spec"]["ports"]
    assert a["spec"]["ipFamilies"] is b["spec"]["ipFamilies"] == ["IPv6", "IPv4"]
    # True == 1 in Python: a (never sent) boolean port must not share the list of port 1.
    one = compact_service(variant(ports=[{"port": 1}]))
    true = compact_service(variant(ports=[{"port": True}]))
    assert true["spec"]["ports"] is not one["spec"]["ports"]
    assert service_view(true).ports == frozenset() != service_view(one).ports


def test_service_view_shares_labels_and_interns_port_sets() -> None:
    a, b = compact_service(variant()), compact_service(variant())
    va, vb = service_view(a), service_view(b)
    assert va.labels is a["metadata"]["labels"], "the Store's dict, not a copy"
    assert va.ports is vb.ports
    assert va.request().families is vb.request().families
    assert dict(service_view({"metadata": {"labels": {"a": 1}}}).labels) == {"a": "1"}
