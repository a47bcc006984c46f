"""``pymetallb migrate --in-cluster``: read the live ConfigMap, prove no IP moves, and apply the CRs safely.

Promises:

* The conversion is exactly the offline ``migrate`` (``crds.legacy.convert_text`` over the live ConfigMap),
  validated by the one parser; CRs already in the namespace that the conversion does not produce are
  kept in the proof, since the controller will read them too.
* Every LoadBalancer Service is run through the controller's start-up allocation (``proof``); a Service
  that would move is named with the reason, and nothing is applied unless ``allow_moves``.
* ``apply``: every object is first applied with ``dryRun=All`` (schema, CEL and the webhook speak, nothing is
  stored), then applied server-side with field manager ``pymetallb``, then read back and compared with
  what was planned. Only then is the ConfigMap annotated with the migration time (or deleted).
* Idempotent: server-side apply of unchanged objects changes nothing, and an annotated ConfigMap keeps its
  first time. After an apiserver failure midway, a rerun converges: every step is an apply or a check.

Every failure is a ``MigrationError`` with a message for the operator; a 403 names the verb and resource
the kubeconfig's user lacks.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crds import yamlio
from crds.errors import LegacyConfigError
from crds.legacy import convert_text
from crds.meta import Resource
from crds.objects import load_object
from crds.types import BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement
from reconciler.migrate.proof import Proof, config_of, prove_keeps_ips
from reconciler.runtime.client import ApiClient
from reconciler.runtime.errors import ApiError, Forbidden, NotFound
from reconciler.runtime.resources import CONFIGMAPS, NAMESPACES, SERVICES, ResourceType

__all__ = [
    "CONFIGMAP_NAME",
    "FIELD_MANAGER",
    "MIGRATED_AT",
    "ClusterState",
    "MigrationError",
    "MigrationReport",
    "migrate_in_cluster",
    "read_cluster",
]

CONFIGMAP_NAME = "config"  # MetalLB's legacy ConfigMap, in MetalLB's namespace
FIELD_MANAGER = "pymetallb"
MIGRATED_AT = "pymetallb.io/migrated-at"
"""Annotation set on the legacy ConfigMap once its CRs are applied and read back (RFC 3339, UTC)."""

CR_KINDS: tuple[type[Resource], ...] = (
    IPAddressPool,
    BGPPeer,
    BFDProfile,
    BGPAdvertisement,
    L2Advertisement,
    Community,
)


class MigrationError(Exception):
    """The migration stopped; ``str()`` is the message for the operator."""


@dataclass
class MigrationReport:
    """What a run found and did (the CLI prints it)."""

    objects: tuple[Resource, ...] = ()
    yaml: str = ""
    warnings: tuple[str, ...] = ()
    proof: Proof | None = None
    applied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    configmap: str = ""
    """What happened to the ConfigMap: "annotated", "already annotated", "deleted", or "" (not touched)."""
    nothing_to_do: str = ""
    """Set when there is no ConfigMap to migrate (say why), e.g. after a run with ``--delete-configmap``."""


def _rt(kind: type[Resource]) -> ResourceType:
    return ResourceType.of(kind)


async def _call(what: str, coro: Any) -> Any:
    """Await one API call; a failure becomes a ``MigrationError`` naming what was being done."""
    try:
        return await coro
    except Forbidden as exc:
        raise MigrationError(f"{what}: forbidden (the kubeconfig's user lacks this permission): {exc.message}") from exc
    except ApiError as exc:
        raise MigrationError(f"{what}: {exc}") from exc


def _ref(obj: Resource) -> str:
    return f"{obj.api.kind}/{obj.metadata.name}"


def _applied_form(obj: Resource) -> dict[str, Any]:
    data: dict[str, Any] = {"apiVersion": obj.api.api_version, "kind": obj.api.kind, **obj.dump()}
    data.pop("status", None)
    return data


def _contains(actual: Any, planned: Any) -> bool:
    """Every field we planned is in ``actual`` with the same value (the server may add defaults)."""
    if isinstance(planned, Mapping):
        return isinstance(actual, Mapping) and all(k in actual and _contains(actual[k], v) for k, v in planned.items())
    if isinstance(planned, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(planned)
            and all(_contains(a, p) for a, p in zip(actual, planned, strict=True))
        )
    return bool(actual == planned)


async def _existing_crs(client: ApiClient, namespace: str) -> list[Resource]:
    found: list[Resource] = []
    for kind in CR_KINDS:
        items, _ = await _call(f"list {kind.api.plural} in {namespace}", client.list(_rt(kind), namespace))
        for item in items:
            try:
                found.append(load_object(kind, item))
            except ValueError as exc:
                name = (item.get("metadata") or {}).get("name")
                raise MigrationError(f"{kind.api.kind}/{name} in the cluster cannot be read: {exc}") from None
    return found


@dataclass(frozen=True)
class ClusterState:
    """What ``plan --kubeconfig`` reads: the MetalLB CRs of a namespace, every Service, Namespace labels."""

    crs: tuple[Resource, ...]
    services: tuple[dict[str, Any], ...]
    namespace_labels: Mapping[str, Mapping[str, str]]


async def read_cluster(client: ApiClient, namespace: str) -> ClusterState:
    """The live state the controller would start from; raises ``MigrationError`` (403s name the permission)."""
    crs = await _existing_crs(client, namespace)
    services, _ = await _call("list services (all namespaces)", client.list(SERVICES))
    namespaces, _ = await _call("list namespaces", client.list(NAMESPACES))
    labels = {str((n.get("metadata") or {}).get("name")): _labels(n) for n in namespaces}
    return ClusterState(tuple(crs), tuple(services), labels)


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


async def migrate_in_cluster(
    client: ApiClient,
    *,
    namespace: str,
    allow_moves: bool = False,
    apply: bool = False,
    delete_configmap: bool = False,
    lb_class: str | None = None,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    log: Callable[[str], None] = lambda _msg: None,
) -> MigrationReport:
    """Everything ``migrate --in-cluster`` does, as data; raises ``MigrationError`` (never prints).

    ``lb_class`` is the loadBalancerClass the controller will serve (None: class-less Services, as MetalLB);
    Services of other classes are not judged, as the controller will not touch them.
    """
    report = MigrationReport()
    try:
        cm = await client.get(CONFIGMAPS, CONFIGMAP_NAME, namespace)
    except NotFound:
        report.nothing_to_do = f"no ConfigMap {namespace}/{CONFIGMAP_NAME}: nothing to migrate"
        return report
    except Forbidden as exc:
        raise MigrationError(
            f"get configmaps {namespace}/{CONFIGMAP_NAME}: forbidden (the kubeconfig's user lacks this permission): "
            f"{exc.message}"
        ) from exc
    except ApiError as exc:
        raise MigrationError(f"get configmaps {namespace}/{CONFIGMAP_NAME}: {exc}") from exc

    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP_NAME, "namespace": namespace},
        "data": cm.get("data") or {},
    }
    try:
        result = convert_text(yamlio.dump(manifest), namespace=namespace)
    except LegacyConfigError as exc:
        where = f"ConfigMap {namespace}/{CONFIGMAP_NAME}: {exc.where}" if exc.where else f"ConfigMap {namespace}/config"
        raise MigrationError(f"{where}: {exc.what}") from exc
    report.objects, report.yaml, report.warnings = result.objects, result.yaml, result.warnings

    planned = {_ref(o) for o in result.objects}
    others = [o for o in await _existing_crs(client, namespace) if _ref(o) not in planned]
    config, errors = config_of([*result.objects, *others])
    if config is None:
        kept = ", ".join(sorted(_ref(o) for o in others))
        raise MigrationError(f"the converted CRs do not parse together with the existing {kept}: {errors[0]}")

    services, _ = await _call("list services (all namespaces)", client.list(SERVICES))
    namespaces, _ = await _call("list namespaces", client.list(NAMESPACES))
    labels = {str((n.get("metadata") or {}).get("name")): _labels(n) for n in namespaces}
    report.proof = prove_keeps_ips(config, services, namespaces=labels, lb_class=lb_class)
    proof = report.proof
    log(f"{len(services)} Services read: {len(proof.kept)} keep their IPs, {len(proof.movers)} would move")
    if report.proof.movers and not allow_moves:
        return report
    if not apply:
        return report

    await _apply(client, result.objects, report, log)
    await _finish(client, cm, namespace, report, delete_configmap=delete_configmap, now=now)
    return report


async def _apply(
    client: ApiClient, objects: Sequence[Resource], report: MigrationReport, log: Callable[[str], None]
) -> None:
    bodies = [(obj, _rt(type(obj)), _applied_form(obj)) for obj in objects]
    # 1. Dry run of everything first: schema, CEL rules and the validating webhook answer before anything lands.
    for obj, rt, body in bodies:
        await _call(
            f"dry run of {_ref(obj)}",
            client.patch(
                rt,
                str(obj.metadata.name),
                body,
                obj.metadata.namespace,
                patch_type="apply",
                field_manager=FIELD_MANAGER,
                dry_run=True,
            ),
        )
    log(f"dry run: {len(bodies)} objects accepted")
    # 2. Apply; 3. read back and compare.
    for obj, rt, body in bodies:
        before = None
        try:
            before = await client.get(rt, str(obj.metadata.name), obj.metadata.namespace)
        except NotFound:
            pass
        except ApiError as exc:
            raise MigrationError(f"get {_ref(obj)}: {exc}") from exc
        after = await _call(
            f"apply {_ref(obj)}",
            client.patch(
                rt,
                str(obj.metadata.name),
                body,
                obj.metadata.namespace,
                patch_type="apply",
                field_manager=FIELD_MANAGER,
            ),
        )
        same = before is not None and (before.get("metadata") or {}).get("resourceVersion") == (
            after.get("metadata") or {}
        ).get("resourceVersion")
        (report.unchanged if same else report.applied).append(_ref(obj))
    for obj, rt, body in bodies:
        got = await _call(f"read back {_ref(obj)}", client.get(rt, str(obj.metadata.name), obj.metadata.namespace))
        if not _contains(got.get("spec"), body.get("spec")):
            raise MigrationError(
                f"{_ref(obj)} read back differs from what was applied (another writer, or a mutating webhook?): "
                f"planned spec {body.get('spec')}, found {got.get('spec')}"
            )


async def _finish(
    client: ApiClient,
    cm: Mapping[str, Any],
    namespace: str,
    report: MigrationReport,
    *,
    delete_configmap: bool,
    now: Callable[[], datetime.datetime],
) -> None:
    annotations = (cm.get("metadata") or {}).get("annotations") or {}
    if MIGRATED_AT in annotations:
        report.configmap = "already annotated"
    else:
        stamp = now().astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await _call(
            f"annotate configmaps {namespace}/{CONFIGMAP_NAME}",
            client.patch(CONFIGMAPS, CONFIGMAP_NAME, {"metadata": {"annotations": {MIGRATED_AT: stamp}}}, namespace),
        )
        report.configmap = "annotated"
    if delete_configmap:
        what = f"delete configmaps {namespace}/{CONFIGMAP_NAME}"
        await _call(what, client.delete(CONFIGMAPS, CONFIGMAP_NAME, namespace))
        report.configmap = "deleted"
