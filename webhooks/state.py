"""What the webhook knows of the cluster: the current objects, fed by watches, with the indexes the rules need.

``ClusterState`` is plain data and does no I/O: the watch loop (``webhooks.watch``) calls ``apply``/``replace``,
the rules read it. It is owned by one asyncio loop and every review runs to completion without awaiting, so a
review always sees one consistent state without copying.

Indexes, each kept coherent on every change:

* ``pool_intervals``: the address intervals of each pool, so a pool review parses only the pools it can overlap;
* ``ip_users``: for each IP, the Services that hold it (status) or ask for it (annotation, ``loadBalancerIP``);
* ``config()``: the parse of all current config objects, cached until a config object changes.

Only objects in the MetalLB namespace are config; the watches are namespaced, and ``apply`` ignores others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crds.addresses import EntryError, parse_entry
from crds.config import BgpMode, ClusterResources, LabeledObject, ParseOptions, ParseResult, parse_config
from crds.meta import Resource
from crds.objects import load_object
from crds.types import BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement
from reconciler.core.allocator import IP
from reconciler.core.services import ServiceView, service_view

__all__ = [
    "CONFIG_KINDS",
    "ClusterState",
    "Interval",
    "WebhookSettings",
    "pool_intervals",
]

Interval = tuple[int, int, int]
"""(family, first, last) of an address entry."""

CONFIG_KINDS: tuple[type[Resource], ...] = (
    IPAddressPool,
    L2Advertisement,
    BGPAdvertisement,
    Community,
    BFDProfile,
    BGPPeer,
)
_FIELD: dict[type[Resource], str] = {
    IPAddressPool: "pools",
    L2Advertisement: "l2_advertisements",
    BGPAdvertisement: "bgp_advertisements",
    Community: "communities",
    BFDProfile: "bfd_profiles",
    BGPPeer: "peers",
}


@dataclass(frozen=True)
class WebhookSettings:
    """How the webhook judges. ``lb_class`` None: pymetallb serves Services without ``loadBalancerClass``."""

    namespace: str = "metallb-system"
    lb_class: str | None = None
    bgp_mode: BgpMode = "native"

    @property
    def parse_options(self) -> ParseOptions:
        """The webhook's view: references that may only be missing because of apply order are not checked."""
        return ParseOptions(bgp_mode=self.bgp_mode, skip_transient=True)


def pool_intervals(pool: IPAddressPool) -> tuple[Interval, ...]:
    """The intervals of a pool's parseable entries (bad entries are the parser's business, not the index's)."""
    out: list[Interval] = []
    for text in pool.spec.addresses:
        try:
            entry = parse_entry(text)
        except (EntryError, ValueError):
            continue
        out.append((entry.family, entry.first, entry.last))
    return tuple(out)


def _overlaps(a: Iterable[Interval], b: Iterable[Interval]) -> bool:
    others = tuple(b)
    return any(
        fam == other_fam and first <= other_last and other_first <= last
        for fam, first, last in a
        for other_fam, other_first, other_last in others
    )


def _labels(raw: Mapping[str, Any]) -> dict[str, str]:
    meta = raw.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _name(raw: Mapping[str, Any]) -> str:
    meta = raw.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else ""


class ClusterState:
    """The current objects. Mutated only by ``apply``/``replace``/``remove`` (the watch loop), read by the rules."""

    def __init__(self, settings: WebhookSettings | None = None) -> None:
        self.settings = settings or WebhookSettings()
        self.config_objects: dict[type[Resource], dict[str, Resource]] = {k: {} for k in CONFIG_KINDS}
        self.pool_intervals: dict[str, tuple[Interval, ...]] = {}
        self.services: dict[str, ServiceView] = {}
        self.ip_users: dict[IP, set[str]] = {}
        self.namespaces: dict[str, dict[str, str]] | None = None
        self.nodes: dict[str, dict[str, str]] | None = None
        self.problems: dict[str, str] = {}  # "Kind/name" -> why a stored object could not be read
        self._config: ParseResult | None = None

    # --- config kinds --------------------------------------------------------------------------------

    def apply_config(self, model: type[Resource], raw: Mapping[str, Any]) -> None:
        """Add or replace one config object (from a watch ADDED/MODIFIED or a list)."""
        name = _name(raw)
        if not name:
            return
        try:
            obj = load_object(model, dict(raw))
        except ValueError as exc:
            self.problems[f"{model.api.kind}/{name}"] = str(exc)
            self.remove_config(model, name)
            return
        self.problems.pop(f"{model.api.kind}/{name}", None)
        if obj.namespace and obj.namespace != self.settings.namespace:
            return
        self.config_objects[model][name] = obj
        if isinstance(obj, IPAddressPool):
            self.pool_intervals[name] = pool_intervals(obj)
        self._config = None

    def remove_config(self, model: type[Resource], name: str) -> None:
        if self.config_objects[model].pop(name, None) is not None:
            self._config = None
        if model is IPAddressPool:
            self.pool_intervals.pop(name, None)

    def replace_config(self, model: type[Resource], objects: Iterable[Mapping[str, Any]]) -> None:
        """Swap all objects of a kind (after a list or relist)."""
        for name in list(self.config_objects[model]):
            self.remove_config(model, name)
        for raw in objects:
            self.apply_config(model, raw)
        self._config = None

    def resources(
        self, overrides: Mapping[type[Resource], Mapping[str, Resource | None]] | None = None
    ) -> ClusterResources:
        """All current config objects, with some replaced (a Resource) or removed (None) by ``overrides``."""
        return self.scoped_resources(None, overrides or {})

    def scoped_resources(
        self,
        pool_names: Iterable[str] | None,
        overrides: Mapping[type[Resource], Mapping[str, Resource | None]],
    ) -> ClusterResources:
        """Like ``resources`` but with only the pools named in ``pool_names`` (None: all pools)."""
        fields: dict[str, Any] = {}
        for model in CONFIG_KINDS:
            current = self.config_objects[model]
            if model is IPAddressPool and pool_names is not None:
                objs = {n: current[n] for n in pool_names if n in current}
            else:
                objs = dict(current)
            for name, obj in (overrides.get(model) or {}).items():
                if obj is None:
                    objs.pop(name, None)
                else:
                    objs[name] = obj
            fields[_FIELD[model]] = tuple(objs.values())
        return ClusterResources(
            **fields,
            nodes=None if self.nodes is None else tuple(LabeledObject(n, lbl) for n, lbl in self.nodes.items()),
            namespaces=None
            if self.namespaces is None
            else tuple(LabeledObject(n, lbl) for n, lbl in self.namespaces.items()),
        )

    def pools_overlapping(self, intervals: Iterable[Interval]) -> list[str]:
        """Names of the current pools with an entry intersecting one of ``intervals`` (a linear scan)."""
        wanted = tuple(intervals)
        if not wanted:
            return []
        return [name for name, ivs in self.pool_intervals.items() if _overlaps(wanted, ivs)]

    def config(self) -> ParseResult:
        """The parse of the current config (cached until a config object changes)."""
        if self._config is None:
            self._config = parse_config(self.resources(), self.settings.parse_options)
        return self._config

    # --- Services, Namespaces, Nodes -----------------------------------------------------------------

    def apply_service(self, raw: Mapping[str, Any]) -> None:
        view = service_view(raw)  # never raises: wrongly typed fields read as absent
        if not view.name:
            return
        self.remove_service(view.key)
        self.services[view.key] = view
        for ip in {*view.current_ips, *view.requested_ips}:
            self.ip_users.setdefault(ip, set()).add(view.key)

    def remove_service(self, key: str) -> None:
        old = self.services.pop(key, None)
        if old is None:
            return
        for ip in {*old.current_ips, *old.requested_ips}:
            users = self.ip_users.get(ip)
            if users is not None:
                users.discard(key)
                if not users:
                    del self.ip_users[ip]

    def replace_services(self, objects: Iterable[Mapping[str, Any]]) -> None:
        self.services.clear()
        self.ip_users.clear()
        for raw in objects:
            self.apply_service(raw)

    def apply_labeled(self, kind: str, raw: Mapping[str, Any]) -> None:
        """A Namespace or Node: only its name and labels matter."""
        target = self._labeled(kind)
        name = _name(raw)
        if name:
            target[name] = _labels(raw)
            if kind == "Node":
                self._config = None

    def remove_labeled(self, kind: str, name: str) -> None:
        self._labeled(kind).pop(name, None)
        if kind == "Node":
            self._config = None

    def replace_labeled(self, kind: str, objects: Iterable[Mapping[str, Any]]) -> None:
        target = self._labeled(kind)
        target.clear()
        for raw in objects:
            self.apply_labeled(kind, raw)

    def _labeled(self, kind: str) -> dict[str, dict[str, str]]:
        if kind == "Node":
            if self.nodes is None:
                self.nodes = {}
            return self.nodes
        if kind == "Namespace":
            if self.namespaces is None:
                self.namespaces = {}
            return self.namespaces
        raise ValueError(f"not a labeled kind: {kind}")
