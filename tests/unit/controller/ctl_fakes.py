"""Fakes for the controller's reconcilers: an in-memory API (get/create/patch with NotFound) and an event log."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from reconciler.runtime.errors import NotFound
from reconciler.runtime.resources import ResourceType
from reconciler.runtime.store import Store

NS = "metallb-system"


class FakeApi:
    """Objects by (plural, namespace, name); every write is recorded as (verb, plural, name, subresource, body)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.writes: list[tuple[str, str, str, str | None, Any]] = []
        self._rv = itertools.count(100)

    def put(self, res: ResourceType, obj: dict[str, Any]) -> None:
        md = obj["metadata"]
        self.objects[(res.plural, md.get("namespace"), md["name"])] = copy.deepcopy(obj)

    async def get(self, res: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        try:
            return copy.deepcopy(self.objects[(res.plural, namespace, name)])
        except KeyError:
            raise NotFound(404, "NotFound", f"{res.plural} {name!r} not found") from None

    async def create(self, res: ResourceType, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        body = copy.deepcopy(obj)
        body["metadata"]["resourceVersion"] = str(next(self._rv))
        self.writes.append(("create", res.plural, body["metadata"]["name"], None, obj))
        self.put(res, body)
        return copy.deepcopy(body)

    async def patch(
        self,
        res: ResourceType,
        name: str,
        body: dict[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        self.writes.append(("patch", res.plural, name, subresource, body))
        key = (res.plural, namespace, name)
        if key not in self.objects:
            raise NotFound(404, "NotFound", f"{res.plural} {name!r} not found")
        obj = self.objects[key]
        for k, v in body.items():
            if isinstance(v, dict) and isinstance(obj.get(k), dict):
                obj[k] = {**obj[k], **v}
            else:
                obj[k] = v
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        return copy.deepcopy(obj)


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    async def record(self, obj: dict[str, Any], type: str, reason: str, message: str) -> None:
        self.events.append((obj["metadata"]["name"], type, reason, message))


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
