"""Small builders for allocator tests: configs from pool specs, Services as the apiserver returns them."""

from __future__ import annotations

from typing import Any

from crds.config import ClusterResources, Config, ParseOptions, parse_config
from crds.types import IPAddressPool
from reconciler.core.services import ServiceView, service_view


def config(**pools: Any) -> Config:
    """config(a=["10.0.0.0/30"], b={"addresses": [...], "autoAssign": False})."""
    objs = []
    for name, spec in pools.items():
        if isinstance(spec, list):
            spec = {"addresses": spec}
        objs.append(IPAddressPool.model_validate({"metadata": {"name": name.replace("_", "-")}, "spec": spec}))
    result = parse_config(ClusterResources(pools=tuple(objs)), ParseOptions(bgp_mode=None))
    assert result.config is not None, result.errors
    return result.config


def service(
    name: str,
    *,
    ns: str = "default",
    ports: tuple[int, ...] = (80,),
    proto: str = "TCP",
    cluster_ips: tuple[str, ...] = ("10.96.0.10",),
    policy: str | None = None,
    families: tuple[str, ...] | None = None,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    ingress: tuple[str, ...] = (),
    lb_ip: str | None = None,
    etp: str = "Cluster",
    selector: dict[str, str] | None = None,
    type_: str = "LoadBalancer",
    lb_class: str | None = None,
) -> ServiceView:
    spec: dict[str, Any] = {
        "type": type_,
        "ports": [{"port": p, "protocol": proto} for p in ports],
        "clusterIPs": list(cluster_ips),
        "externalTrafficPolicy": etp,
        "selector": selector or {"app": name},
    }
    if cluster_ips:
        spec["clusterIP"] = cluster_ips[0]
    if policy:
        spec["ipFamilyPolicy"] = policy
    if families:
        spec["ipFamilies"] = list(families)
    if lb_ip:
        spec["loadBalancerIP"] = lb_ip
    if lb_class:
        spec["loadBalancerClass"] = lb_class
    obj = {
        "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}, "labels": labels or {}},
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ingress]}},
    }
    return service_view(obj)


def shared(key: str) -> dict[str, str]:
    return {"metallb.io/allow-shared-ip": key}
