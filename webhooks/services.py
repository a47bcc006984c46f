"""Admission rules for Services (beyond MetalLB, whose webhook never looks at Services). Pure.

Only ``type: LoadBalancer`` Services of pymetallb's class are judged; every other Service is allowed untouched.
The annotations are read by ``reconciler.core.services.service_view`` (the controller's reader, with MetalLB's texts)
and checked against the current config and the other Services, with the allocator's own checks:

* ``metallb.io/address-pool`` names an existing pool;
* ``metallb.io/loadBalancerIPs``: a comma list of valid IPs (MetalLB's ``invalid metallb.io/loadBalancerIPs``), at
  most two (``more than two addresses``), of different families (``has the same family``), each inside a pool
  (``is not allowed in config``), inside the named pool when both are given;
* ``spec.loadBalancerIP`` together with the annotation is MetalLB's
  ``service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP``;
* ``metallb.io/allow-shared-ip``, when present, is a non-empty sharing key without whitespace or commas;
* a requested IP held or requested by another Service that may not share it is refused with the allocator's text,
  which names that Service (``cannot share 10.0.0.5 with default/web: port 80/TCP in use``).

Warnings: each ``metallb.universe.tf/*`` key (deprecated) and each unknown ``metallb.io/*`` key.

On UPDATE only problems the update introduces deny; problems the Service already had are repeated as warnings, so
an unrelated edit (a label, a port name) is never blocked by a pool deleted last week.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from crds.addresses import format_ip
from crds.config import Config
from crds.text import go_quote
from reconciler.core.allocator import IP, AllocationError, Allocator, format_ips
from reconciler.core.services import (
    ALLOCATED_FROM_POOL,
    ANNOTATION_ADDRESS_POOL,
    ANNOTATION_ALLOW_SHARED_IP,
    ANNOTATION_LB_IPS,
    DEPRECATED_PREFIX,
    STABLE_PREFIX,
    ServiceView,
    service_view,
)

from .admission import AdmissionRequest, Decision, allow, deny
from .state import ClusterState

__all__ = ["KNOWN_ANNOTATIONS", "review_service", "service_problems"]

KNOWN_ANNOTATIONS: frozenset[str] = frozenset(
    STABLE_PREFIX + a
    for a in (ANNOTATION_ADDRESS_POOL, ANNOTATION_LB_IPS, ANNOTATION_ALLOW_SHARED_IP, "ip-allocated-from-pool")
)
_SHARING_KEY = re.compile(r"^[^\s,]{1,253}$")


def _annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata")
    raw = meta.get("annotations") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _annotation(annotations: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """(key, value) of an annotation, the stable spelling first."""
    for key in (STABLE_PREFIX + name, DEPRECATED_PREFIX + name):
        if key in annotations:
            return key, annotations[key]
    return None


def annotation_warnings(annotations: Mapping[str, str]) -> list[str]:
    out = []
    for key in sorted(annotations):
        if key.startswith(DEPRECATED_PREFIX):
            out.append(f"annotation {key} is deprecated: use {STABLE_PREFIX}{key[len(DEPRECATED_PREFIX) :]}")
        elif key.startswith(STABLE_PREFIX) and key not in KNOWN_ANNOTATIONS:
            known = ", ".join(sorted(k for k in KNOWN_ANNOTATIONS if k != ALLOCATED_FROM_POOL))
            out.append(f"unknown annotation {key}: pymetallb reads {known}")
    return out


def service_problems(obj: Mapping[str, Any], view: ServiceView, state: ClusterState) -> tuple[list[str], list[str]]:
    """(problems, notes) of one LoadBalancer Service of ours. Problems deny; notes are warnings."""
    annotations = _annotations(obj)
    problems: list[str] = []
    notes: list[str] = []

    shared = _annotation(annotations, ANNOTATION_ALLOW_SHARED_IP)
    if shared is not None and not _SHARING_KEY.match(shared[1]):
        problems.append(
            f"{shared[0]} must be a non-empty sharing key without spaces or commas, got {go_quote(shared[1])}"
        )

    if view.request_error:
        problems.append(view.request_error)
    ips = view.requested_ips
    if len(ips) > 2:
        problems.append(f"more than two addresses {format_ips(ips)}")
    elif len(ips) == 2 and ips[0][0] == ips[1][0]:
        problems.append(f'"{format_ip(*ips[0])}" "{format_ip(*ips[1])}" has the same family')
    if problems or (not ips and not view.requested_pool):
        return problems, notes

    parsed = state.config()
    if parsed.config is None:
        first = parsed.errors[0].line() if parsed.errors else "unknown error"
        notes.append(f"the MetalLB configuration is invalid ({first}); pools and addresses were not checked")
        return problems, notes
    config = parsed.config

    pool = view.requested_pool
    if pool is not None and pool not in config.pools:
        existing = ", ".join(sorted(config.pools)[:10]) or "none"
        key = (_annotation(annotations, ANNOTATION_ADDRESS_POOL) or (STABLE_PREFIX + ANNOTATION_ADDRESS_POOL, ""))[0]
        problems.append(f"{key}: unknown pool {go_quote(pool)} (pools: {existing})")
        return problems, notes
    if ips:
        problems.extend(_ip_problems(view, ips, config, state))
    return problems, notes


def _ip_problems(view: ServiceView, ips: tuple[IP, ...], config: Config, state: ClusterState) -> list[str]:
    # Only the pools holding these IPs matter: an allocator over just those answers exactly as one over every
    # pool, and costs O(1) instead of O(pools) per review (10,000 pools: 5 ms -> well under 1 ms).
    index = state.pool_index(config)
    names = {name for ip in ips if (name := index.pool_of(ip)) is not None}
    allocator = Allocator(dataclasses.replace(config, pools={n: config.pools[n] for n in sorted(names)}))
    outside = [ip for ip in ips if allocator.pool_for_ips([ip]) is None]
    if outside:
        return [f"{format_ips(outside)} is not allowed in config"]
    pool = allocator.pool_for_ips(ips)
    if pool is None:
        return [f"requested loadBalancer IP(s) {format_ips(ips)} are in different pools"]
    if view.requested_pool is not None and pool.name != view.requested_pool:
        return [
            f"requested loadBalancer IP(s) {format_ips(ips)} is not compatible with requested address pool "
            f"{view.requested_pool}"
        ]
    # Load the Services that hold or ask for these IPs, then ask the allocator as the controller would.
    others = sorted({k for ip in ips for k in state.ip_users(ip) if k != view.key})
    for key in others:
        other = state.service(key)
        if other is None or not other.is_load_balancer:
            continue
        held = other.current_ips or other.requested_ips
        try:
            allocator.assign(other.request(_ns_labels(state, other.namespace)), held)
        except AllocationError:
            continue  # the other Service cannot have them either: it does not block this one
    try:
        allocator.assign(view.request(_ns_labels(state, view.namespace)), ips)
    except AllocationError as exc:
        return [str(exc)]
    return []


def _ns_labels(state: ClusterState, namespace: str) -> Mapping[str, str] | None:
    return state.namespace_labels(namespace)


def review_service(req: AdmissionRequest, state: ClusterState) -> Decision:
    """The decision for a Service CREATE or UPDATE; everything else is allowed."""
    if req.kind and req.kind != "Service":
        return deny(f"this webhook validates Service, not {req.kind}")
    if req.operation not in ("CREATE", "UPDATE") or not isinstance(req.object, dict):
        return allow()
    view = service_view(req.object)  # never raises: a field of the wrong type reads as absent
    if not view.is_load_balancer or not view.is_ours(state.settings.lb_class):
        return allow()
    problems, notes = service_problems(req.object, view, state)
    warnings = [*annotation_warnings(_annotations(req.object)), *notes]
    if problems and req.operation == "UPDATE" and isinstance(req.old_object, dict):
        old_view = service_view(req.old_object)
        if old_view.is_load_balancer and old_view.is_ours(state.settings.lb_class):
            before, _ = service_problems(req.old_object, old_view, state)
            kept = [p for p in problems if p in before]
            problems = [p for p in problems if p not in before]
            warnings.extend(f"not fixed yet: {p}" for p in kept)
    if problems:
        return deny("\n".join(problems), *warnings)
    return allow(*warnings)
