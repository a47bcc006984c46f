"""What the speaker reads from Nodes and EndpointSlices, as small frozen views. Pure.

``node_view(obj)`` and ``endpoint_slice_view(obj)`` take the objects as the apiserver returns them (dicts) and
never raise: a field of the wrong type reads as absent, as in ``service_view`` (the apiserver never sends
such objects, but offline files can). The election (``l2``) and the BGP selection (``bgp``) read only these
views, so the speaker's Store may keep them instead of the full objects.

Semantics are MetalLB's:

* a Node is *excluded* when it carries the label ``node.kubernetes.io/exclude-from-external-load-balancers``
  (presence, any value) and *network-unavailable* when its ``NetworkUnavailable`` condition is ``True``
  (``internal/k8s/nodes/nodes.go``);
* an endpoint *can serve* when ``conditions.ready`` is absent or true, or ``conditions.serving`` is true
  (``EndpointCanServe`` in ``internal/k8s/epslices``): terminating endpoints still serving count;
* a slice belongs to the Service named by its ``kubernetes.io/service-name`` label, in the slice's namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, cast

from crds.addresses import parse_ip

__all__ = [
    "EXCLUDE_LB_LABEL",
    "SERVICE_NAME_LABEL",
    "EndpointSliceView",
    "EndpointView",
    "NodeView",
    "endpoint_slice_view",
    "node_view",
    "slices_by_service",
]

EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

_NO_LABELS: Mapping[str, str] = MappingProxyType({})


def _as_dict(value: Any) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _labels(meta: Mapping[str, Any]) -> Mapping[str, str]:
    labels = _as_dict(meta.get("labels"))
    return {str(k): str(v) for k, v in labels.items()} if labels else _NO_LABELS


@dataclass(frozen=True, slots=True)
class NodeView:
    """A Node as the speaker needs it. ``internal_ips`` are the ``InternalIP`` addresses, in status order,
    already parsed (unparseable ones are left out): membership finds its peers there."""

    name: str
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS)
    network_unavailable: bool = False
    internal_ips: tuple[str, ...] = ()

    @property
    def excluded_from_lb(self) -> bool:
        return EXCLUDE_LB_LABEL in self.labels


def node_view(obj: Mapping[str, Any]) -> NodeView:
    """Never raises; see the module docstring."""
    meta = _as_dict(obj.get("metadata"))
    status = _as_dict(obj.get("status"))
    unavailable = any(
        isinstance(c, dict) and c.get("type") == "NetworkUnavailable" and c.get("status") == "True"
        for c in _as_list(status.get("conditions"))
    )
    ips: list[str] = []
    for a in _as_list(status.get("addresses")):
        if isinstance(a, dict) and a.get("type") == "InternalIP":
            ip = parse_ip(str(a.get("address") or ""))
            if ip is not None and str(ip) not in ips:
                ips.append(str(ip))
    return NodeView(
        name=str(meta.get("name") or ""),
        labels=_labels(meta),
        network_unavailable=unavailable,
        internal_ips=tuple(ips),
    )


@dataclass(frozen=True, slots=True)
class EndpointView:
    """One endpoint of a slice. ``ready``/``serving`` are None when the condition is absent."""

    addresses: tuple[str, ...] = ()
    node_name: str | None = None
    ready: bool | None = None
    serving: bool | None = None

    @property
    def can_serve(self) -> bool:
        """MetalLB's ``EndpointCanServe``: ready absent or true, or serving true."""
        return self.ready is None or self.ready or self.serving is True


@dataclass(frozen=True, slots=True)
class EndpointSliceView:
    """An EndpointSlice: its identity, the Service it belongs to (None without the label) and its endpoints."""

    namespace: str
    name: str
    service_name: str | None
    endpoints: tuple[EndpointView, ...] = ()

    @property
    def service_key(self) -> str | None:
        """``namespace/name`` of the Service, the key ``ServiceView.key`` uses."""
        return f"{self.namespace}/{self.service_name}" if self.service_name else None


def _condition(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def endpoint_slice_view(obj: Mapping[str, Any]) -> EndpointSliceView:
    """Never raises; see the module docstring."""
    meta = _as_dict(obj.get("metadata"))
    endpoints = []
    for ep in _as_list(obj.get("endpoints")):
        if not isinstance(ep, dict):
            continue
        conditions = _as_dict(ep.get("conditions"))
        node = ep.get("nodeName")
        endpoints.append(
            EndpointView(
                addresses=tuple(str(a) for a in _as_list(ep.get("addresses")) if isinstance(a, str) and a),
                node_name=node if isinstance(node, str) and node else None,
                ready=_condition(conditions.get("ready")),
                serving=_condition(conditions.get("serving")),
            )
        )
    service = _labels(meta).get(SERVICE_NAME_LABEL) or None
    return EndpointSliceView(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name") or ""),
        service_name=service,
        endpoints=tuple(endpoints),
    )


def slices_by_service(slices: Iterable[EndpointSliceView]) -> dict[str, tuple[EndpointSliceView, ...]]:
    """Slices grouped by Service key (the speaker's index); slices without the service label are dropped,
    as MetalLB's indexer drops them."""
    grouped: dict[str, list[EndpointSliceView]] = {}
    for s in slices:
        key = s.service_key
        if key is not None:
            grouped.setdefault(key, []).append(s)
    return {k: tuple(sorted(v, key=lambda s: s.name)) for k, v in grouped.items()}
