"""API identity of the kinds the runtime reads and writes, and the URL paths built from it.

Promises: a ``ResourceType`` is a frozen value (hashable, usable as a Store key); ``ResourceType.of(Model)`` reads
the ``ApiInfo`` every ``crds`` model carries, so reflector URLs come from the same single source as the CRDs; paths
refuse a namespace on a cluster-scoped kind and a name without a namespace on a namespaced kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NewType, Protocol
from urllib.parse import quote

from crds.meta import ApiInfo

__all__ = [
    "CONFIGMAPS",
    "ENDPOINTSLICES",
    "EVENTS",
    "LEASES",
    "NAMESPACES",
    "NODES",
    "PODS",
    "SECRETS",
    "SERVICES",
    "ObjectKey",
    "ResourceType",
    "object_key",
    "split_key",
]

ObjectKey = NewType("ObjectKey", str)
"""``"namespace/name"`` for namespaced objects, ``"name"`` for cluster-scoped ones (client-go's cache key)."""


class _HasApiInfo(Protocol):
    api: ApiInfo


@dataclass(frozen=True)
class ResourceType:
    """One kind as the apiserver serves it. ``group`` is ``""`` for the core group."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @classmethod
    def of(cls, model_cls: type[_HasApiInfo] | type[Any]) -> ResourceType:
        """The resource type of a ``crds`` model class (reads its ``api: ApiInfo``)."""
        info = getattr(model_cls, "api", None)
        if not isinstance(info, ApiInfo):
            raise TypeError(f"{model_cls!r} has no `api: ApiInfo`")
        return cls(
            group=info.group, version=info.version, plural=info.plural, kind=info.kind, namespaced=info.namespaced
        )

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise (the objects' ``apiVersion``)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def name(self) -> str:
        """``plural.group`` (``services`` for core), as kubectl and RBAC spell it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def collection_path(self, namespace: str | None = None) -> str:
        """``/api/v1/namespaces/ns/services`` or, without a namespace, the all-namespaces collection."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None:
            if not self.namespaced:
                raise ValueError(f"{self.kind} is cluster-scoped: no namespace allowed (got {namespace!r})")
            base += f"/namespaces/{quote(namespace, safe='')}"
        return f"{base}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None, subresource: str | None = None) -> str:
        """The path of one object (and optionally one of its subresources, e.g. ``status``)."""
        if not name:
            raise ValueError(f"{self.kind}: empty name")
        if self.namespaced and namespace is None:
            raise ValueError(f"{self.kind} is namespaced: a namespace is required for {name!r}")
        path = f"{self.collection_path(namespace)}/{quote(name, safe='')}"
        if subresource:
            path += f"/{subresource}"
        return path

    def __str__(self) -> str:
        return self.name


def object_key(obj: dict[str, Any]) -> ObjectKey:
    """The cache key of an object: ``ns/name``, or ``name`` when it has no namespace."""
    md = obj.get("metadata") or {}
    name = md.get("name") or ""
    ns = md.get("namespace")
    return ObjectKey(f"{ns}/{name}" if ns else name)


def split_key(key: str) -> tuple[str | None, str]:
    """``"ns/name"`` → ``("ns", "name")``; ``"name"`` → ``(None, "name")``."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


SERVICES = ResourceType("", "v1", "services", "Service", True)
NODES = ResourceType("", "v1", "nodes", "Node", False)
NAMESPACES = ResourceType("", "v1", "namespaces", "Namespace", False)
SECRETS = ResourceType("", "v1", "secrets", "Secret", True)
CONFIGMAPS = ResourceType("", "v1", "configmaps", "ConfigMap", True)
PODS = ResourceType("", "v1", "pods", "Pod", True)
EVENTS = ResourceType("", "v1", "events", "Event", True)
ENDPOINTSLICES = ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True)
LEASES = ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True)
