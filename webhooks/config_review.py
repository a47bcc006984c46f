"""Admission decisions for the six ``metallb.io`` config kinds. Pure: a request and the state in, a Decision out.

The decision is the config parser's (``crds.config.parse_config``, the one parser) over the current objects with
the object under review applied (CREATE, UPDATE) or removed (DELETE), in the webhook's view (``skip_transient``:
a BFD profile, password Secret or Community alias that does not exist yet is not an error, so apply order never
matters).

Better than MetalLB, on purpose (see docs/webhook.md):

* **only what this request changes is judged.** The parser also runs over the same objects without the change,
  and only errors (and warnings) that the change introduces count. MetalLB denies every write while any other
  object is invalid, so one bad pool blocks fixing another.
* **every kind sees everything it interacts with.** MetalLB feeds the IPAddressPool webhook pools only, so an
  advertisement's aggregation length or local preference that a pool change breaks goes unnoticed until runtime.
  A pool review here parses the pools its addresses intersect plus every advertisement, peer, BFD profile and
  Community (the rules that relate a pool to other pools are overlap rules, and only intersecting pools can
  overlap); other kinds parse everything.
* ``disableMP: true`` on a BGPPeer gets MetalLB's deprecation warning **and is still validated** (MetalLB skips
  all validation, including the namespace check).
* the namespace rule applies on UPDATE too (MetalLB checks it on CREATE only).
* deleting a BFDProfile used by a peer is denied (MetalLB's text); deleting a Community whose alias an
  advertisement uses is denied too (MetalLB allows it and the configuration silently goes stale); deleting a pool,
  or shrinking it, while Services hold addresses in what goes away is allowed with a warning naming them
  (MetalLB says nothing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from crds.config import parse_config
from crds.meta import Resource
from crds.objects import load_object
from crds.types import BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool

from .admission import AdmissionRequest, Decision, allow, deny
from .state import ClusterState, Interval, pool_intervals

__all__ = ["DISABLE_MP_WARNING", "review_config"]

DISABLE_MP_WARNING = "disable mp is deprecated and has no effect since it's the default behavior now"
_MAX_NAMED = 10


def _named(items: Sequence[str]) -> str:
    """A list of names for a message, cut after ten."""
    shown = ", ".join(items[:_MAX_NAMED])
    more = len(items) - _MAX_NAMED
    return f"{shown} and {more} more" if more > 0 else shown


def _namespace_of(raw: object, fallback: str) -> str:
    if isinstance(raw, dict):
        meta = raw.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("namespace"), str) and meta["namespace"]:
            return str(meta["namespace"])
    return fallback


def review_config(model: type[Resource], req: AdmissionRequest, state: ClusterState) -> Decision:
    """The decision for a CREATE, UPDATE or DELETE of one object of a config kind."""
    settings = state.settings
    if req.kind and req.kind != model.api.kind:
        return deny(f"this webhook validates {model.api.kind}, not {req.kind}")
    if req.operation == "CONNECT":
        return allow()
    deleting = req.operation == "DELETE"
    raw = req.old_object if deleting else req.object
    namespace = _namespace_of(raw, req.namespace)
    if namespace != settings.namespace:
        if deleting:
            return allow()  # not config: nothing can depend on it
        return deny(f"resource must be created in {settings.namespace} namespace")

    new: Resource | None = None
    if not deleting:
        try:
            new = load_object(model, raw)
        except ValueError as exc:
            return deny(f"invalid {model.api.kind}: {exc}")
        if not new.name:
            return deny(f"invalid {model.api.kind}: metadata.name: Required value")
    name = new.name if new is not None else req.name
    if deleting and not name and isinstance(raw, dict):
        meta = raw.get("metadata")
        name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
    old: Resource | None = None
    if req.old_object is not None:
        try:
            old = load_object(model, req.old_object)
        except ValueError:
            old = None
    if old is None:
        old = state.config_object(model, name)

    warnings: list[str] = []
    if isinstance(new, BGPPeer) and new.spec.disable_mp:
        warnings.append(DISABLE_MP_WARNING)

    if deleting:
        refusal = _deletion_refusal(model, name, old, state)
        if refusal is not None:
            return deny(refusal)

    errors, found = _parse_difference(model, name, old, new, state)
    warnings.extend(found)
    if isinstance(old, IPAddressPool):
        warnings.extend(_pool_shrink_warnings(old, new if isinstance(new, IPAddressPool) else None, state))
    if errors:
        return deny("\n".join(errors), *warnings)
    return allow(*warnings)


def _parse_difference(
    model: type[Resource], name: str, old: Resource | None, new: Resource | None, state: ClusterState
) -> tuple[list[str], list[str]]:
    """Errors and warnings the change introduces: parse with it, parse without it, keep what is new."""
    pools: list[str] | None = None
    if model is IPAddressPool:
        intervals: list[Interval] = []
        for obj in (old, new):
            if isinstance(obj, IPAddressPool):
                intervals.extend(pool_intervals(obj))
        pools = state.pools_overlapping(intervals)
    before = parse_config(state.scoped_resources(pools, {model: {name: old}}), state.settings.parse_options)
    options = dataclasses.replace(state.settings.parse_options, last=(model.api.kind, name))
    after = parse_config(state.scoped_resources(pools, {model: {name: new}}), options)
    known_errors = set(before.errors)
    # Transient errors count too: with skip_transient the parser never sees a reference that could be late (they
    # are blanked), so what it still marks transient is a real error, e.g. a community "a:b:c" (MetalLB denies it).
    errors = [e.what for e in after.errors if e not in known_errors]
    known_warnings = set(before.warnings)
    warnings = [w.line() for w in after.warnings if w not in known_warnings]
    return errors, warnings


def _deletion_refusal(model: type[Resource], name: str, old: Resource | None, state: ClusterState) -> str | None:
    """Why deleting this object would leave a dangling reference, or None."""
    if model is BFDProfile:
        users = sorted(p.name for p in state.config_objects(BGPPeer).values() if _bfd_profile(p) == name)
        if users:
            return f"failed to delete BFDProfile {name}, used by BGPPeer {_named(users)}"
    if model is Community and isinstance(old, Community):
        still_defined = {
            a.name
            for n, c in state.config_objects(Community).items()
            if n != name and isinstance(c, Community)
            for a in c.spec.communities or ()
        }
        for alias in sorted({a.name or "" for a in old.spec.communities or ()} - still_defined - {""}):
            users = sorted(
                adv.name
                for adv in state.config_objects(BGPAdvertisement).values()
                if isinstance(adv, BGPAdvertisement) and alias in (adv.spec.communities or ())
            )
            if users:
                return (
                    f"failed to delete Community {name}: its alias {alias} is used by BGPAdvertisement {_named(users)}"
                )
    return None


def _bfd_profile(peer: Resource) -> str:
    return (peer.spec.bfd_profile or "") if isinstance(peer, BGPPeer) else ""


def _intervals_of(pool: IPAddressPool | None) -> tuple[Interval, ...]:
    return pool_intervals(pool) if pool is not None else ()


def _inside(ip: tuple[int, int], intervals: Iterable[Interval]) -> bool:
    family, value = ip
    return any(f == family and first <= value <= last for f, first, last in intervals)


def _pool_shrink_warnings(old: IPAddressPool, new: IPAddressPool | None, state: ClusterState) -> list[str]:
    """Services holding an address of ``old`` that ``new`` (None: deleted) no longer contains."""
    before = _intervals_of(old)
    after = _intervals_of(new)
    losing = sorted(
        key
        for key, view in state.services()
        if any(_inside(ip, before) and not _inside(ip, after) for ip in view.current_ips)
    )
    requesting = sorted(
        key for key, view in state.services() if view.requested_pool == old.name and key not in losing and new is None
    )
    out = []
    if losing:
        what = "deleting" if new is None else "this change to"
        out.append(f"{what} IPAddressPool {old.name} takes addresses from Services {_named(losing)}: they lose them")
    if requesting:
        out.append(f"Services {_named(requesting)} ask for IPAddressPool {old.name} by annotation")
    return out
