"""Read everything the doctor judges from the apiserver, concurrently, into one ``Snapshot``.

Promises: a read that RBAC denies does not stop the others: it becomes an ``Unreadable`` naming the verb and the
resource, and the checks that needed it say so. A missing object is None; a kind the apiserver does not serve
(the CRD is not installed) is ``Unreadable`` too. Only an apiserver that does not answer (``Unavailable``) or
refuses us outright (401) ends the run: it propagates, and the CLI prints one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from crds.types import (
    BFDProfile,
    BGPAdvertisement,
    BGPPeer,
    Community,
    ConfigurationState,
    IPAddressPool,
    L2Advertisement,
    ServiceBGPStatus,
    ServiceL2Status,
)
from reconciler.runtime.client import ApiClient
from reconciler.runtime.errors import Forbidden, NotFound
from reconciler.runtime.resources import (
    CONFIGMAPS,
    ENDPOINTSLICES,
    LEASES,
    NAMESPACES,
    NODES,
    SECRETS,
    SERVICES,
    ResourceType,
)

__all__ = [
    "CONFIG_KINDS",
    "CRDS",
    "LEASE_NAME",
    "MEMBERLIST_SECRET",
    "VWCS",
    "WEBHOOK_SECRET",
    "Snapshot",
    "Unreadable",
    "read_snapshot",
]

CRDS = ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False)
VWCS = ResourceType(
    "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False
)
LEASE_NAME = "pymetallb-controller"
"""The controller's leader Lease (reconciler/controller/cli.py; a program, so the name is repeated, not imported)."""
MEMBERLIST_SECRET = "memberlist"
WEBHOOK_SECRET = "metallb-webhook-cert"
VWC_NAME = "metallb-webhook-configuration"
KUBE_PROXY = ("kube-system", "kube-proxy")

CONFIG_KINDS: dict[str, type[Any]] = {
    "pools": IPAddressPool,
    "l2_advertisements": L2Advertisement,
    "bgp_advertisements": BGPAdvertisement,
    "peers": BGPPeer,
    "communities": Community,
    "bfd_profiles": BFDProfile,
}
"""``ClusterResources`` field → the model whose objects fill it."""

STATES = ResourceType.of(ConfigurationState)
L2_STATUSES = ResourceType.of(ServiceL2Status)
BGP_STATUSES = ResourceType.of(ServiceBGPStatus)


@dataclass(frozen=True)
class Unreadable:
    """A read that failed for a reason the user can fix: ``permission`` is what RBAC must allow."""

    permission: str
    message: str
    forbidden: bool

    def line(self) -> str:
        if self.forbidden:
            return f"Forbidden: cannot {self.permission} (grant it to the user running doctor)"
        return f"cannot {self.permission}: {self.message}"


T = TypeVar("T")
Listed = list[dict[str, Any]] | Unreadable
Got = dict[str, Any] | None | Unreadable


@dataclass
class Snapshot:
    namespace: str
    crds: dict[str, Got] = field(default_factory=dict)
    vwc: Got = None
    webhook_secret: Got = None
    memberlist: Got = None
    lease: Got = None
    kube_proxy: Got = None
    states: Listed = field(default_factory=list)
    nodes: Listed = field(default_factory=list)
    namespaces: Listed = field(default_factory=list)
    secrets: Listed = field(default_factory=list)
    config: dict[str, Listed] = field(default_factory=dict)
    services: Listed = field(default_factory=list)
    slices: Listed = field(default_factory=list)
    l2_statuses: Listed = field(default_factory=list)
    bgp_statuses: Listed = field(default_factory=list)
    webhook_slices: dict[str, Listed] = field(default_factory=dict)
    """EndpointSlices of the webhook Services the registration names, by ``ns/name``."""


def _where(res: ResourceType, namespace: str | None) -> str:
    return f"{res.name}" + (f" in namespace {namespace}" if namespace else " (cluster-wide)")


async def _list(client: ApiClient, res: ResourceType, namespace: str | None = None, **kw: Any) -> Listed:
    try:
        items, _ = await client.list(res, namespace, **kw)
        return items
    except Forbidden as exc:
        return Unreadable(f"list {_where(res, namespace)}", exc.message, True)
    except NotFound as exc:
        return Unreadable(
            f"list {_where(res, namespace)}", f"not served ({exc.message or 'is the CRD installed?'})", False
        )


async def _get(client: ApiClient, res: ResourceType, name: str, namespace: str | None = None) -> Got:
    try:
        return await client.get(res, name, namespace)
    except Forbidden as exc:
        return Unreadable(f"get {_where(res, namespace)} ({name})", exc.message, True)
    except NotFound:
        return None


async def read_snapshot(client: ApiClient, namespace: str, crd_names: list[str]) -> Snapshot:
    """Every read the checks need, concurrently; see the module docstring for what a failure becomes."""
    snap = Snapshot(namespace=namespace)

    async def into(attr: str, aw: Awaitable[Any], key: str | None = None) -> None:
        value = await aw
        if key is None:
            setattr(snap, attr, value)
        else:
            getattr(snap, attr)[key] = value

    ns = namespace
    jobs: list[Awaitable[None]] = [into("crds", _get(client, CRDS, n), n) for n in crd_names]
    jobs += [
        into("vwc", _get(client, VWCS, VWC_NAME)),
        into("webhook_secret", _get(client, SECRETS, WEBHOOK_SECRET, ns)),
        into("memberlist", _get(client, SECRETS, MEMBERLIST_SECRET, ns)),
        into("lease", _get(client, LEASES, LEASE_NAME, ns)),
        into("kube_proxy", _get(client, CONFIGMAPS, KUBE_PROXY[1], KUBE_PROXY[0])),
        into("states", _list(client, STATES, ns)),
        into("nodes", _list(client, NODES)),
        into("namespaces", _list(client, NAMESPACES)),
        into("secrets", _list(client, SECRETS, ns)),
        into("services", _list(client, SERVICES)),
        into("slices", _list(client, ENDPOINTSLICES)),
        into("l2_statuses", _list(client, L2_STATUSES, ns)),
        into("bgp_statuses", _list(client, BGP_STATUSES, ns)),
    ]
    jobs += [into("config", _list(client, ResourceType.of(m), ns), f) for f, m in CONFIG_KINDS.items()]
    await asyncio.gather(*jobs)
    # The webhook Services the registration points at, once we know them.
    refs = sorted(_service_refs(snap.vwc))
    await asyncio.gather(
        *(
            into(
                "webhook_slices",
                _list(client, ENDPOINTSLICES, rns, label_selector={"kubernetes.io/service-name": rname}),
                f"{rns}/{rname}",
            )
            for rns, rname in refs
        )
    )
    return snap


def _service_refs(vwc: Got) -> set[tuple[str, str]]:
    if not isinstance(vwc, dict):
        return set()
    out = set()
    for hook in vwc.get("webhooks") or ():
        svc = (hook.get("clientConfig") or {}).get("service")
        if isinstance(svc, dict) and svc.get("name"):
            out.add((str(svc.get("namespace") or "default"), str(svc["name"])))
    return out
