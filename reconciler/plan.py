"""``pymetallb plan``: run the parser and the allocator over manifests on disk and show who gets which IP.

The same ``parse_config`` and ``allocate_all`` the controller runs, with no cluster: pools, advertisements,
Services (with their current ``status``, if any), optionally Namespaces. ``--before`` previews a config
change: the Services are first allocated under the old config, then converged under the new one exactly as
the controller would after the edit, and every Service that would move or lose its IP is shown.

``--kubeconfig`` reads the current state from a cluster instead: its MetalLB CRs (in ``-n``), every Service
with its status, the Namespaces. Alone it shows the live allocation; with ``-f`` the files bring an edited
config and the table shows which live Services would keep, move or lose their IPs (``--before`` still works).

When Nodes and EndpointSlices are among the inputs, the plan also shows who announces each Service, by the
speaker's own functions (``l2_owners``, ``bgp_plan``) over the planned IPs, with every Node counted as a live
speaker: the layer 2 node, or the BGP nodes with the peers each sends to (column ANNOUNCED BY; in ``-o yaml``
the ServiceL2Status and ServiceBGPStatus objects the speakers would write). Without them the output is
unchanged.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from crds.addresses import format_ip
from crds.config import Config, ParseOptions, Pool, parse_config
from crds.manifests import Document, read_documents
from crds.schema import dump_yaml
from crds.validate import Problem, load_objects
from reconciler.core.allocator import IP, Allocator
from reconciler.core.balancer import Outcome, allocate_all
from reconciler.core.services import ALLOCATED_FROM_POOL, ServiceView, service_view

if TYPE_CHECKING:
    from reconciler.core.bgp import BGPServicePlan
    from reconciler.core.l2 import L2Decision
    from reconciler.migrate.live import ClusterState

__all__ = ["Announcing", "PlanRow", "announcing", "plan", "register"]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
_PLANNED_KINDS = (
    ("v1", "Service"),
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("discovery.k8s.io/v1", "EndpointSlice"),
)


@dataclass(frozen=True)
class PlanRow:
    service: str
    ips: tuple[str, ...]
    pool: str
    shared_with: tuple[str, ...]
    status: str
    changed: bool = False
    announced_by: str | None = None
    """Who announces the planned IPs (None: not computed, no Nodes and EndpointSlices among the inputs)."""


def _ips(ips: Sequence[IP]) -> tuple[str, ...]:
    return tuple(format_ip(f, v) for f, v in ips)


def _load(
    paths: Sequence[str], namespace: str, bgp_mode: str | None, stdin: Any
) -> tuple[Config | None, list[Document], list[str]]:
    docs, read_errors = read_documents(paths, stdin=stdin)
    lines = [e.line() for e in read_errors]
    loaded = load_objects(docs, namespace=namespace)
    lines += [p.line() for p in loaded.problems if p.severity == "error"]
    result = parse_config(loaded.resources(namespace=namespace), ParseOptions(bgp_mode=bgp_mode))  # type: ignore[arg-type]
    lines += [Problem(loaded.origin.get(e.where, ""), e.where, e.what).line() for e in result.errors]
    core = [d for d in loaded.core if (d.api_version, d.kind) in _PLANNED_KINDS]
    return (result.config if not lines else None), core, lines


def _status_text(view: ServiceView, out: Outcome, before: tuple[str, ...]) -> tuple[str, bool]:
    if not out.managed:
        return f"ignored: loadBalancerClass {view.lb_class or '(none)'} is not ours", False
    if not view.is_load_balancer:
        return ("released: not a LoadBalancer" if before else "not a LoadBalancer"), bool(before)
    now = _ips(out.ips)
    if not now:
        reason = f"pending: {out.pending}"
        return (f"{reason} (loses {', '.join(before)})" if before else reason), bool(before)
    if not before:
        return "allocated", True
    if set(now) == set(before):
        return "kept", False
    return f"moved from {', '.join(before)}", True


def plan(
    config: Config,
    views: Sequence[ServiceView],
    *,
    lb_class: str | None = None,
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[list[PlanRow], dict[str, Outcome], Allocator]:
    alloc, outcomes = allocate_all(config, views, lb_class=lb_class, namespaces=namespaces)
    rows = []
    for view in sorted(views, key=lambda v: v.key):
        out = outcomes[view.key]
        shared = sorted({k for ip in out.ips for k in alloc.services_on(ip) if k != view.key})
        status, changed = _status_text(view, out, _ips(view.current_ips))
        rows.append(PlanRow(view.key, _ips(out.ips), out.pool or "", tuple(shared), status, changed))
    return rows, outcomes, alloc


@dataclass(frozen=True)
class Announcing:
    """Who announces one Service's planned IPs: the layer 2 decision and the BGP plan (either None when the
    Service's pool has no advertisement of that kind)."""

    l2: L2Decision | None
    bgp: BGPServicePlan | None

    def text(self) -> str:
        parts = []
        if self.l2 is not None:
            parts.append("L2 " + ((self.l2.owner or "-") if self.l2.announce else f"- ({self.l2.reason})"))
        if self.bgp is not None:
            if self.bgp.announcers:
                parts.append("BGP " + " ".join(f"{n}({','.join(p)})" for n, p in self.bgp.announcers.items()))
            else:
                parts.append(f"BGP - ({', '.join(sorted(set(self.bgp.reasons.values())))})")
        return "; ".join(parts) or "-"


def announcing(
    config: Config,
    views: Sequence[ServiceView],
    outcomes: Mapping[str, Outcome],
    core: Sequence[Document],
    *,
    lb_class: str | None = None,
    ignore_exclude_lb: bool = False,
) -> dict[str, Announcing] | None:
    """Who announces each Service's planned IPs, or None without Nodes and EndpointSlices among ``core``."""
    node_docs = [d for d in core if d.kind == "Node"]
    slice_docs = [d for d in core if d.kind == "EndpointSlice"]
    if not node_docs or not slice_docs:
        return None
    # Imported here: a plan without Nodes and EndpointSlices (the usual one) does not pay for the speaker's
    # decisions at start-up.
    from reconciler.core.bgp import bgp_plan
    from reconciler.core.l2 import l2_owners
    from reconciler.core.nodes import endpoint_slice_view, node_view, slices_by_service

    nodes = {v.name: v for v in (node_view(d.data) for d in node_docs)}
    slices = slices_by_service(endpoint_slice_view(d.data) for d in slice_docs)
    planned = [
        replace(v, current_ips=outcomes[v.key].ips, invalid_ingress=()) if outcomes[v.key].managed else v for v in views
    ]
    l2 = l2_owners(config, planned, nodes, slices, None, ignore_exclude_lb=ignore_exclude_lb, lb_class=lb_class)
    bgp = bgp_plan(config, planned, nodes, slices, ignore_exclude_lb=ignore_exclude_lb, lb_class=lb_class)
    out = {}
    for v in planned:
        pool: Pool | None = config.pools.get(outcomes[v.key].pool or "")
        has_pool = pool is not None and bool(v.current_ips)
        out[v.key] = Announcing(
            l2[v.key] if has_pool and pool is not None and pool.l2_advertisements else None,
            bgp[v.key] if has_pool and pool is not None and pool.bgp_advertisements else None,
        )
    return out


def _status_objects(found: Mapping[str, Announcing], namespace: str) -> list[dict[str, Any]]:
    """The ServiceL2Status and ServiceBGPStatus objects the speakers would write for the plan."""
    from reconciler.core.bgp import BGPDecision
    from reconciler.core.speaker_status import service_bgp_status, service_l2_status

    objs = []
    for key in sorted(found):
        a = found[key]
        if a.l2 is not None and a.l2.owner is not None:
            l2 = service_l2_status(a.l2.owner, a.l2, namespace)
            if l2 is not None:
                objs.append(l2)
        if a.bgp is not None:
            for node, peers in a.bgp.announcers.items():
                bgp = service_bgp_status(node, BGPDecision(key, peers=peers), namespace)
                if bgp is not None:
                    objs.append(bgp)
    return objs


def _table(rows: Sequence[PlanRow]) -> str:
    header: tuple[str, ...] = ("SERVICE", "IPS", "POOL", "SHARED WITH", "STATUS")
    data: list[tuple[str, ...]] = [
        (r.service, ",".join(r.ips) or "-", r.pool or "-", ",".join(r.shared_with) or "-", r.status) for r in rows
    ]
    if any(r.announced_by is not None for r in rows):
        header = (*header[:4], "ANNOUNCED BY", header[4])
        data = [(*d[:4], r.announced_by or "-", d[4]) for d, r in zip(data, rows, strict=True)]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *data, strict=False)]
    lines = []
    for row in (header, *data):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _with_status(doc: Document, out: Outcome) -> dict[str, Any]:
    obj = copy.deepcopy(doc.data)
    if not out.managed:
        return obj
    meta = obj.setdefault("metadata", {})
    annotations = meta.setdefault("annotations", {})
    if out.ips and out.pool:
        annotations[ALLOCATED_FROM_POOL] = out.pool
    else:
        annotations.pop(ALLOCATED_FROM_POOL, None)
    if not annotations:
        meta.pop("annotations")
    obj.setdefault("status", {})["loadBalancer"] = {"ingress": [{"ip": ip} for ip in _ips(out.ips)]} if out.ips else {}
    return obj


def _namespaces(core: Sequence[Document]) -> dict[str, Mapping[str, str]] | None:
    found: dict[str, Mapping[str, str]] = {}
    for d in core:
        if d.kind == "Namespace":
            labels = (d.data.get("metadata") or {}).get("labels") or {}
            found[d.name] = {str(k): str(v) for k, v in labels.items()}
    return found or None


class _LiveError(Exception):
    """The cluster could not be read; ``str()`` is the message."""


def _read_live(kubeconfig: str, namespace: str) -> ClusterState:
    # Imported here: the offline plan does not pay for asyncio and the API client (aiohttp) at start-up.
    import asyncio

    from reconciler.migrate.live import MigrationError, read_cluster
    from reconciler.runtime.client import ApiClient
    from reconciler.runtime.errors import ApiError

    async def read() -> ClusterState:
        try:
            client = await ApiClient.connect(kubeconfig)
        except ApiError as exc:
            raise MigrationError(f"cannot reach the cluster: {exc}") from exc
        async with client:
            return await read_cluster(client, namespace)

    try:
        return asyncio.run(read())
    except MigrationError as exc:
        raise _LiveError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    if not args.filename and not args.kubeconfig:
        print("pymetallb plan: error: give -f PATH (manifests) or --kubeconfig (a live cluster)", file=sys.stderr)
        return EXIT_USAGE
    live: ClusterState | None = None
    if args.kubeconfig:
        try:
            live = _read_live(args.kubeconfig, args.namespace)
        except _LiveError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_PROBLEMS
    if args.filename:
        config, core, problems = _load(args.filename, args.namespace, args.bgp_mode, args.stdin)
    else:
        assert live is not None
        from reconciler.migrate.proof import config_of

        config, errors = config_of(live.crs, bgp_mode=args.bgp_mode)
        core, problems = [], [f"cluster: {e}" for e in errors]
    if problems or config is None:
        for line in problems:
            print(line)
        return EXIT_PROBLEMS
    if live is not None:
        # The Services and Namespaces are the cluster's; -f (if given) only brings the edited config.
        core = [Document("cluster", i, s) for i, s in enumerate(live.services)]
        namespaces: dict[str, Mapping[str, str]] | None = dict(live.namespace_labels)
    else:
        namespaces = _namespaces(core)
    services = [d for d in core if d.kind == "Service"]
    views = [service_view(d.data) for d in services]
    if args.before:
        before_cfg, _, before_problems = _load(args.before, args.namespace, args.bgp_mode, args.stdin)
        if before_problems or before_cfg is None:
            for line in before_problems:
                print(f"--before: {line}")
            return EXIT_PROBLEMS
        _, before_out = allocate_all(before_cfg, views, lb_class=args.lb_class, namespaces=namespaces)
        views = [replace(v, current_ips=before_out[v.key].ips) if before_out[v.key].managed else v for v in views]
    rows, outcomes, _ = plan(config, views, lb_class=args.lb_class, namespaces=namespaces)
    found = announcing(config, views, outcomes, core, lb_class=args.lb_class, ignore_exclude_lb=args.ignore_exclude_lb)
    if found is not None:
        rows = [replace(r, announced_by=found[r.service].text()) for r in rows]
    if args.output == "yaml":
        by_key = {service_view(d.data).key: d for d in services}
        docs = [_with_status(by_key[k], outcomes[k]) for k in sorted(by_key)]
        docs += _status_objects(found or {}, args.namespace)
        sys.stdout.write("".join("---\n" + dump_yaml(d) for d in docs))
        return EXIT_OK
    if args.before or (live is not None and args.filename):
        changed = [r for r in rows if r.changed]
        sys.stdout.write(_table(rows))
        print(f"\n{len(changed)} of {len(rows)} Services would change.")
        return EXIT_OK
    sys.stdout.write(_table(rows))
    return EXIT_OK


def register(sub: Any) -> None:
    """Entry point (``pymetallb.commands``): add the ``plan`` subcommand."""
    p = sub.add_parser("plan", help="show which IP each Service would get, from manifests or a live cluster")
    p.add_argument(
        "-f",
        "--filename",
        action="append",
        metavar="PATH",
        help="pools, advertisements, Services, Namespaces, Nodes, EndpointSlices: files, directories or -; with "
        "--kubeconfig, the edited config to preview against the cluster's Services",
    )
    p.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="read the current state from a cluster: its MetalLB CRs (in -n), Services and Namespaces",
    )
    p.add_argument(
        "--before",
        action="append",
        metavar="PATH",
        help="the current config; shows which Services the change in -f would move or unassign",
    )
    p.add_argument(
        "-o",
        "--output",
        choices=("table", "yaml"),
        default="table",
        help="table (default) or the Services as YAML with status filled in",
    )
    p.add_argument("-n", "--namespace", default="metallb-system", help="the MetalLB namespace (default %(default)s)")
    p.add_argument("--lb-class", default=None, help="the loadBalancerClass pymetallb serves (default: none)")
    p.add_argument(
        "--ignore-exclude-lb",
        action="store_true",
        help="Nodes labelled node.kubernetes.io/exclude-from-external-load-balancers may announce (the speaker's flag)",
    )
    p.add_argument(
        "--bgp-mode",
        choices=("native", "frr", "frr-k8s"),
        default="native",
        help="whose BGP restrictions apply (default %(default)s)",
    )
    p.set_defaults(handler=run, short_lived=True)
