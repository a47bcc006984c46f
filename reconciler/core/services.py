"""What pymetallb reads from a Service: its annotations, families, ports and current addresses. Pure.

``service_view(obj)`` turns a Service as the apiserver returns it (a dict) into a frozen ``ServiceView``;
bad annotation values do not raise, they become ``request_error`` (MetalLB's text), so one bad Service never
stops the others. The same function serves the controller, ``pymetallb plan`` and the webhook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, cast

from crds.addresses import ipv4_value, parse_ip
from crds.text import go_quote
from reconciler.core.allocator import IP, Family, Policy, Port, ServiceRequest

__all__ = [
    "ALLOCATED_FROM_POOL",
    "ANNOTATION_ADDRESS_POOL",
    "ANNOTATION_ALLOW_SHARED_IP",
    "ANNOTATION_LB_IPS",
    "DEPRECATED_PREFIX",
    "STABLE_PREFIX",
    "ServiceView",
    "parse_ip_key",
    "service_view",
]

STABLE_PREFIX = "metallb.io/"
DEPRECATED_PREFIX = "metallb.universe.tf/"
ANNOTATION_ADDRESS_POOL = "address-pool"
ANNOTATION_LB_IPS = "loadBalancerIPs"
ANNOTATION_ALLOW_SHARED_IP = "allow-shared-ip"
ALLOCATED_FROM_POOL = STABLE_PREFIX + "ip-allocated-from-pool"


def parse_ip_key(text: str) -> IP | None:
    text = text.strip()
    value = ipv4_value(text)  # the common case, without an ipaddress object
    if value is not None:
        return (4, value)
    ip = parse_ip(text)
    if ip is None:
        return None
    family: Family = 4 if ip.version == 4 else 6
    return (family, int(ip))


@dataclass(frozen=True, slots=True)
class ServiceView:
    key: str
    namespace: str
    name: str
    type: str
    lb_class: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    requested_pool: str | None = None
    requested_ips: tuple[IP, ...] = ()
    request_error: str | None = None
    sharing_key: str = ""
    backend_key: str = ""
    ports: frozenset[Port] = frozenset()
    families: tuple[Family, ...] = ()
    policy: Policy = "SingleStack"
    prefer_ipv6: bool = False
    current_ips: tuple[IP, ...] = ()
    deprecated_annotations: tuple[str, ...] = ()
    etp_local: bool = False
    """``spec.externalTrafficPolicy`` is ``Local``: only nodes with a serving endpoint may announce."""
    shares_ip: bool = False
    """An ``allow-shared-ip`` annotation is present (either prefix, any value, even empty): the speaker's test."""
    invalid_ingress: tuple[str, ...] = ()
    """``status.loadBalancer.ingress`` entries without a parseable ``ip`` (MetalLB's speaker withdraws:
    ``invalidIP``); they are left out of ``current_ips``."""

    @property
    def is_load_balancer(self) -> bool:
        return self.type == "LoadBalancer"

    def is_ours(self, lb_class: str | None) -> bool:
        """MetalLB's class filter: a class-less pymetallb takes only class-less Services."""
        return self.lb_class == lb_class

    def request(self, namespace_labels: Mapping[str, str] | None = None) -> ServiceRequest:
        return ServiceRequest(
            key=self.key,
            namespace=self.namespace,
            families=self.families,
            policy=self.policy,
            labels=self.labels,
            namespace_labels=namespace_labels,
            ports=self.ports,
            sharing_key=self.sharing_key,
            backend_key=self.backend_key,
            prefer_ipv6=self.prefer_ipv6,
        )


def _annotation(annotations: Mapping[str, str], name: str) -> str | None:
    """The stable spelling wins over the deprecated one."""
    if STABLE_PREFIX + name in annotations:
        return annotations[STABLE_PREFIX + name]
    return annotations.get(DEPRECATED_PREFIX + name)


def _as_dict(value: Any) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _str_mapping(value: Any) -> Mapping[str, str]:
    """The mapping itself when it is already ``str -> str`` (always, from the apiserver), else a cleaned copy:
    a ``ServiceRequest`` is kept per allocation, so sharing the Store's dict saves a copy per Service."""
    if not isinstance(value, dict) or not value:
        return _NO_LABELS
    d = cast(dict[str, Any], value)
    if all(type(k) is str and type(v) is str for k, v in d.items()):
        return d
    return {str(k): str(v) for k, v in d.items()}


_NO_LABELS: Mapping[str, str] = MappingProxyType({})
# Interned values: a ServiceRequest (kept per allocation) holds these, and most Services have the same few.
_PORT_SETS: dict[tuple[tuple[str, int], ...], frozenset[Port]] = {}
_FAMILIES: dict[tuple[Family, ...], tuple[Family, ...]] = {}
_INTERN_MAX = 4096  # distinct port sets kept; past it, new ones are simply not shared


def _port_set(pairs: list[tuple[str, int]]) -> frozenset[Port]:
    key = tuple(sorted(set(pairs)))
    ports = _PORT_SETS.get(key)
    if ports is None:
        ports = frozenset(Port(protocol, port) for protocol, port in key)
        if len(_PORT_SETS) < _INTERN_MAX:
            _PORT_SETS[key] = ports
    return ports


def service_view(obj: Mapping[str, Any], key: str | None = None) -> ServiceView:
    """Never raises: fields of the wrong type read as absent (the apiserver never sends such objects,
    but offline files and fuzzed webhook bodies can). ``key``: the ``namespace/name`` string the caller already
    holds (a Store key), used as the view's key instead of a new copy (decisions keep it: 10,000 of them)."""
    meta = _as_dict(obj.get("metadata"))
    spec = _as_dict(obj.get("spec"))
    status = _as_dict(obj.get("status"))
    namespace = str(meta.get("namespace") or "default")
    name = str(meta.get("name") or "")
    annotations = {str(k): str(v) for k, v in _as_dict(meta.get("annotations")).items()}
    labels = _str_mapping(meta.get("labels"))

    request_error = None
    requested: list[IP] = []
    lb_ips = _annotation(annotations, ANNOTATION_LB_IPS)
    spec_ip = spec.get("loadBalancerIP")
    if lb_ips is not None and spec_ip:
        request_error = "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP"
    elif lb_ips is not None:
        for part in lb_ips.split(","):
            ip = parse_ip_key(part)
            if ip is None:
                request_error = f"invalid metallb.io/loadBalancerIPs: {go_quote(lb_ips)}"
                requested = []
                break
            requested.append(ip)
    elif spec_ip:
        ip = parse_ip_key(str(spec_ip))
        if ip is None:
            request_error = f"invalid spec.loadBalancerIP {go_quote(str(spec_ip))}"
        else:
            requested.append(ip)

    ports = _port_set(
        [
            (str(p.get("protocol") or "TCP"), p["port"])
            for p in _as_list(spec.get("ports"))
            if isinstance(p, dict) and isinstance(p.get("port"), int) and not isinstance(p.get("port"), bool)
        ]
    )
    backend_key = ""
    if spec.get("externalTrafficPolicy") == "Local":
        selector = _as_dict(spec.get("selector"))
        backend_key = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))

    cluster_ips = [str(ip) for ip in _as_list(spec.get("clusterIPs")) if ip]
    if not cluster_ips and spec.get("clusterIP"):
        cluster_ips = [str(spec["clusterIP"])]
    families: list[Family] = []
    for text in cluster_ips:
        parsed = parse_ip_key(text)
        if parsed is not None and parsed[0] not in families:
            families.append(parsed[0])
    raw_policy = spec.get("ipFamilyPolicy")
    policy: Policy = "SingleStack"
    if raw_policy == "PreferDualStack":
        policy = "PreferDualStack"
    elif raw_policy == "RequireDualStack":
        policy = "RequireDualStack"
    ip_families = _as_list(spec.get("ipFamilies"))

    current: list[IP] = []
    invalid: list[str] = []
    for ingress in _as_list(_as_dict(status.get("loadBalancer")).get("ingress")):
        text = str(ingress.get("ip") or "") if isinstance(ingress, dict) else ""
        parsed = parse_ip_key(text) if text else None
        if parsed is None:
            invalid.append(text)
        else:
            current.append(parsed)

    return ServiceView(
        key=key if key is not None else f"{namespace}/{name}",
        namespace=namespace,
        name=name,
        type=str(spec.get("type") or "ClusterIP"),
        lb_class=str(spec["loadBalancerClass"]) if spec.get("loadBalancerClass") else None,
        labels=labels,
        requested_pool=_annotation(annotations, ANNOTATION_ADDRESS_POOL) or None,
        requested_ips=tuple(requested),
        request_error=request_error,
        sharing_key=_annotation(annotations, ANNOTATION_ALLOW_SHARED_IP) or "",
        backend_key=backend_key,
        ports=ports,
        families=_FAMILIES.setdefault(tuple(families), tuple(families)),
        policy=policy,
        prefer_ipv6=bool(ip_families) and ip_families[0] == "IPv6",
        current_ips=tuple(current),
        deprecated_annotations=tuple(sorted(k for k in annotations if k.startswith(DEPRECATED_PREFIX))),
        etp_local=spec.get("externalTrafficPolicy") == "Local",
        shares_ip=STABLE_PREFIX + ANNOTATION_ALLOW_SHARED_IP in annotations
        or DEPRECATED_PREFIX + ANNOTATION_ALLOW_SHARED_IP in annotations,
        invalid_ingress=tuple(invalid),
    )
