"""Fakes for the controller's reconcilers: an in-memory API (get/create/patch with NotFound) and an event log."""

from __future__ import annotations

from typing import Any

from kubefakes import FakeApi, FakeRecorder

from reconciler.runtime.store import Store

__all__ = ["NS", "FakeApi", "FakeRecorder", "namespace", "pool", "svc", "synced_store"]

NS = "metallb-system"


def pool(name: str, *addresses: str, rv: str = "1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": rv},
        "spec": {"addresses": list(addresses), **spec},
    }


def svc(name: str, *, ns: str = "default", ingress: tuple[str, ...] = (), rv: str = "1", **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": rv},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ports": [{"port": 80, "protocol": "TCP"}],
            **spec,
        },
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ingress]}} if ingress else {},
    }
    return obj


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def synced_store(**kinds: list[dict[str, Any]]) -> Store:
    """A Store with every controller kind synced; ``kinds`` maps resource names to objects."""
    from reconciler.controller.resources import COMMUNITIES, POOLS, STATES
    from reconciler.runtime.resources import NAMESPACES, SERVICES

    by_name = {"pools": POOLS, "communities": COMMUNITIES, "states": STATES, "services": SERVICES}
    by_name["namespaces"] = NAMESPACES
    store = Store()
    for name, res in by_name.items():
        store.replace(res, kinds.get(name, []), "1")
    return store
