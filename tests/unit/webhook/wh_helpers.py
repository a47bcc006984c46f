"""Builders for webhook unit tests: objects, AdmissionReview bodies, a ClusterState holding given objects."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from crds.meta import Resource
from crds.types import BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement
from webhooks.review import Reply, handle, validate_path
from webhooks.state import ClusterState, WebhookSettings

NS = "metallb-system"
_uids = itertools.count(1)

MODELS: dict[str, type[Resource]] = {
    m.api.kind: m for m in (IPAddressPool, L2Advertisement, BGPAdvertisement, Community, BFDProfile, BGPPeer)
}


def obj(kind: str, name: str, spec: Mapping[str, Any] | None = None, *, ns: str = NS, **meta: Any) -> dict[str, Any]:
    model = MODELS[kind]
    return {
        "apiVersion": model.api.api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": ns, **meta},
        "spec": dict(spec or {}),
    }


def pool(name: str, *addresses: str, ns: str = NS, **spec: Any) -> dict[str, Any]:
    return obj("IPAddressPool", name, {"addresses": list(addresses), **spec}, ns=ns)


def service(
    name: str,
    *,
    ns: str = "default",
    annotations: Mapping[str, str] | None = None,
    type: str = "LoadBalancer",
    ports: Iterable[tuple[str, int]] = (("TCP", 80),),
    ingress: Iterable[str] = (),
    lb_class: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "annotations": dict(annotations or {})},
        "spec": {
            "type": type,
            "clusterIP": "10.96.0.10",
            "ports": [{"protocol": p, "port": n} for p, n in ports],
            **spec,
        },
    }
    if lb_class:
        body["spec"]["loadBalancerClass"] = lb_class
    if ingress:
        body["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ingress]}}
    return body


def review(
    operation: str,
    new: Mapping[str, Any] | None = None,
    old: Mapping[str, Any] | None = None,
    *,
    uid: str | None = None,
) -> dict[str, Any]:
    sample = new or old or {}
    api_version = str(sample.get("apiVersion", "v1"))
    group, _, version = api_version.rpartition("/")
    meta = sample.get("metadata") or {}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid or f"uid-{next(_uids)}",
            "kind": {"group": group, "version": version, "kind": sample.get("kind", "")},
            "resource": {"group": group, "version": version, "resource": "x"},
            "operation": operation,
            "namespace": meta.get("namespace", ""),
            "name": meta.get("name", ""),
            "object": dict(new) if new is not None else None,
            "oldObject": dict(old) if old is not None else None,
        },
    }


def state_with(
    *objects: Mapping[str, Any],
    services: Iterable[Mapping[str, Any]] = (),
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
    settings: WebhookSettings | None = None,
) -> ClusterState:
    state = ClusterState(settings)
    for o in objects:
        state.add(o)
    for s in services:
        state.add(s)
    if namespaces is not None:
        for n, lbl in namespaces.items():
            state.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": dict(lbl)}})
    return state


def path_for(kind: str) -> str:
    return "/validate-v1-service" if kind == "Service" else validate_path(MODELS[kind])


def call(
    state: ClusterState, operation: str, new: Mapping[str, Any] | None = None, old: Mapping[str, Any] | None = None
) -> Reply:
    kind = str((new or old or {})["kind"])
    reply = handle(path_for(kind), review(operation, new, old), state)
    assert reply.internal_error is None, reply.internal_error
    assert reply.status == 200, reply.body
    return reply


def response(reply: Reply) -> dict[str, Any]:
    resp: dict[str, Any] = reply.body["response"]
    return resp


def denied(reply: Reply) -> str:
    """The denial message; fails the test if the request was allowed."""
    resp = response(reply)
    assert resp["allowed"] is False, f"allowed: {resp}"
    assert resp["status"]["code"] == 403
    message: str = resp["status"]["message"]
    return message


def allowed(reply: Reply) -> list[str]:
    """The warnings; fails the test if the request was denied."""
    resp = response(reply)
    assert resp["allowed"] is True, f"denied: {resp.get('status')}"
    return list(resp.get("warnings", []))
