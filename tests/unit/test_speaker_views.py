"""What the speaker reads from Nodes, EndpointSlices and Services: exact fields, and no exception on any input."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.announcing import Reason
from reconciler.core.bgp import BGPDecision
from reconciler.core.l2 import L2Decision
from reconciler.core.nodes import (
    EXCLUDE_LB_LABEL,
    EndpointView,
    endpoint_slice_view,
    node_view,
    slices_by_service,
)
from reconciler.core.services import service_view
from reconciler.core.speaker_status import service_bgp_status, service_l2_status

NODE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1", EXCLUDE_LB_LABEL: ""}},
    "status": {
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "NetworkUnavailable", "status": "True", "reason": "NoRouteCreated"},
        ],
        "addresses": [
            {"type": "Hostname", "address": "n1"},
            {"type": "InternalIP", "address": "198.51.100.11"},
            {"type": "ExternalIP", "address": "203.0.113.11"},
            {"type": "InternalIP", "address": "2001:db8::11"},
            {"type": "InternalIP", "address": "not-an-ip"},
        ],
    },
}

SLICE: dict[str, Any] = {
    "apiVersion": "discovery.k8s.io/v1",
    "kind": "EndpointSlice",
    "metadata": {"name": "web-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
    "addressType": "IPv4",
    "endpoints": [
        {"addresses": ["10.244.1.5"], "nodeName": "n1", "conditions": {"ready": True}},
        {"addresses": ["10.244.2.5"], "nodeName": "n2", "conditions": {"ready": False, "serving": True}},
        {"addresses": ["10.244.3.5"], "conditions": {"ready": False}},
        {"addresses": ["10.244.4.5"], "nodeName": "n4"},
    ],
}


def test_node_view_reads_labels_conditions_and_internal_ips() -> None:
    v = node_view(NODE)
    assert v.name == "n1" and v.excluded_from_lb and v.network_unavailable
    assert v.internal_ips == ("198.51.100.11", "2001:db8::11")


def test_network_unavailable_false_or_absent_is_available() -> None:
    assert not node_view({"metadata": {"name": "n"}}).network_unavailable
    cond = {"status": {"conditions": [{"type": "NetworkUnavailable", "status": "False"}]}}
    assert not node_view(cond).network_unavailable
    assert not node_view({"metadata": {"name": "n"}}).excluded_from_lb


def test_endpoint_slice_view() -> None:
    v = endpoint_slice_view(SLICE)
    assert v.service_key == "shop/web"
    assert v.endpoints == (
        EndpointView(("10.244.1.5",), "n1", True, None),
        EndpointView(("10.244.2.5",), "n2", False, True),
        EndpointView(("10.244.3.5",), None, False, None),
        EndpointView(("10.244.4.5",), "n4", None, None),
    )
    assert [e.can_serve for e in v.endpoints] == [True, True, False, True]


def test_slices_without_service_label_are_not_indexed() -> None:
    orphan = endpoint_slice_view({"metadata": {"name": "x", "namespace": "shop"}})
    a = endpoint_slice_view(SLICE)
    b = endpoint_slice_view({**SLICE, "metadata": {**SLICE["metadata"], "name": "web-aaa"}})
    assert orphan.service_key is None
    assert slices_by_service([a, orphan, b]) == {"shop/web": (b, a)}


def test_service_view_speaker_fields() -> None:
    obj = {
        "metadata": {"name": "s", "annotations": {"metallb.universe.tf/allow-shared-ip": ""}},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"hostname": "lb.example"}, {"ip": "x"}]}},
    }
    v = service_view(obj)
    assert v.etp_local and v.shares_ip and v.sharing_key == ""
    assert v.current_ips == ((4, 0xC0000201),) and v.invalid_ingress == ("", "x")
    plain = service_view({"metadata": {"name": "p"}, "spec": {"type": "LoadBalancer"}})
    assert not plain.etp_local and not plain.shares_ip and plain.invalid_ingress == ()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.fixed_dictionaries({}, optional={"name": JSON, "namespace": JSON, "labels": JSON}) | JSON,
        "status": st.fixed_dictionaries({}, optional={"conditions": JSON, "addresses": JSON}) | JSON,
        "endpoints": st.lists(
            st.fixed_dictionaries({}, optional={"addresses": JSON, "nodeName": JSON, "conditions": JSON}) | JSON,
            max_size=3,
        )
        | JSON,
    },
)


@given(SHAPED)
def test_views_never_raise(obj: dict[str, Any]) -> None:
    n = node_view(obj)
    s = endpoint_slice_view(obj)
    assert isinstance(n.name, str) and all(isinstance(ip, str) for ip in n.internal_ips)
    assert all(isinstance(e.can_serve, bool) for e in s.endpoints)
    slices_by_service([s])


def test_status_objects_follow_metallb_shapes() -> None:
    announced = L2Decision("shop/web", ((4, 1),), owner="n1", interfaces=frozenset({"eth1", "eth0"}))
    l2 = service_l2_status("n1", announced, "metallb-system")
    assert l2 is not None
    assert l2["metadata"]["labels"] == {
        "metallb.io/node": "n1",
        "metallb.io/service-name": "web",
        "metallb.io/service-namespace": "shop",
    }
    assert l2["status"] == {
        "node": "n1",
        "serviceName": "web",
        "serviceNamespace": "shop",
        "interfaces": [{"name": "eth0"}, {"name": "eth1"}],
    }
    all_interfaces = service_l2_status("n1", L2Decision("shop/web", owner="n1"), "metallb-system")
    assert all_interfaces is not None and "interfaces" not in all_interfaces["status"]
    assert service_l2_status("n1", L2Decision("shop/web", reason=Reason.NOT_OWNER), "metallb-system") is None
    bgp = service_bgp_status("n1", BGPDecision("shop/web", peers=("tor-b", "tor-a")), "metallb-system")
    assert (
        bgp is not None and bgp["metadata"]["generateName"] == "bgp-" and bgp["status"]["peers"] == ["tor-a", "tor-b"]
    )
    assert service_bgp_status("n1", BGPDecision("shop/web"), "metallb-system") is None  # announced to no peer
