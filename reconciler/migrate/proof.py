"""Prove that a config change moves no Service's address: the controller's own allocation, run over live Services.

Pure (no I/O, no clock). ``prove_keeps_ips`` parses the new objects with ``parse_config`` (the one parser) and
runs ``allocate_all`` over the Services as they are, which is what the controller does when it starts: every
Service first re-claims the addresses its status shows, then the rest converge. A Service that held addresses
and ends with different ones (or none) is a ``Mover``, with the reason the allocator gave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crds.addresses import format_ip
from crds.config import ClusterResources, Config, ParseOptions, parse_config
from crds.meta import Resource
from crds.types import BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement
from reconciler.core.balancer import allocate_all
from reconciler.core.services import service_view

__all__ = ["Mover", "Proof", "config_of", "prove_keeps_ips"]


@dataclass(frozen=True)
class Mover:
    """A Service that would not keep its addresses: ``before`` (from its status), ``after`` (may be empty)."""

    service: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    reason: str

    def line(self) -> str:
        after = ", ".join(self.after) or "nothing"
        return f"Service {self.service} would move: {', '.join(self.before)} -> {after} ({self.reason})"


@dataclass(frozen=True)
class Proof:
    """What the allocator says about every LoadBalancer Service under the new config."""

    kept: tuple[str, ...]
    movers: tuple[Mover, ...]
    new: tuple[str, ...]
    """Services with no address now that would get one (not a move, but a change the operator should see)."""


def config_of(objects: Sequence[Resource], *, bgp_mode: Any = None) -> tuple[Config | None, list[str]]:
    """The parsed config of ``objects`` (every kind the parser reads), or None and the parser's errors."""
    resources = ClusterResources(
        pools=tuple(o for o in objects if isinstance(o, IPAddressPool)),
        peers=tuple(o for o in objects if isinstance(o, BGPPeer)),
        bfd_profiles=tuple(o for o in objects if isinstance(o, BFDProfile)),
        bgp_advertisements=tuple(o for o in objects if isinstance(o, BGPAdvertisement)),
        l2_advertisements=tuple(o for o in objects if isinstance(o, L2Advertisement)),
        communities=tuple(o for o in objects if isinstance(o, Community)),
    )
    result = parse_config(resources, ParseOptions(bgp_mode=bgp_mode))
    return result.config, [f"{e.where}: {e.what}" for e in result.errors]


def prove_keeps_ips(
    config: Config,
    services: Sequence[Mapping[str, Any]],
    *,
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
    lb_class: str | None = None,
) -> Proof:
    """Run the controller's start-up allocation over ``services`` (full objects, with status) under ``config``."""
    views = [service_view(s) for s in services]
    _, outcomes = allocate_all(config, views, lb_class=lb_class, namespaces=namespaces)
    kept, movers, new = [], [], []
    for view in sorted(views, key=lambda v: v.key):
        out = outcomes[view.key]
        if not out.managed or not view.is_load_balancer:
            continue
        before = tuple(format_ip(f, v) for f, v in view.current_ips)
        after = tuple(format_ip(f, v) for f, v in out.ips)
        if not before:
            if after:
                new.append(view.key)
            continue
        if set(before) == set(after):
            kept.append(view.key)
            continue
        reason = out.pending or (f"allocated from pool {out.pool}" if out.pool else "allocated elsewhere")
        movers.append(Mover(view.key, before, after, reason))
    return Proof(tuple(kept), tuple(movers), tuple(new))
