"""What the webhook knows of the cluster: read-only views and indexes over the program's one Store.

The Store (filled by the shell's reflectors, or by ``add`` in tests and tools) is the only copy of the objects.
``ClusterState`` adds what the rules need on top of it, each derived lazily and dropped when the objects it was
derived from change (the Store never mutates a dict it handed out, so an entry is valid while its dict ``is``
the stored one):

* typed config objects of the MetalLB namespace (``config_objects(model)``), loaded once per object version;
* the address intervals of each pool, in a per-family sorted index (``pools_overlapping``: O(log n + k) for a
  valid config, so a pool review parses only the pools it can overlap);
* the Service view of each Service, and a Store index from IP to the Services that hold or ask for it
  (``ip_users``);
* ``config()``: the parse of all current config objects, cached until a config object or a Node changes.

It is owned by one asyncio loop and every review runs to completion without awaiting, so a review always sees
one consistent state without copying. Only objects in the MetalLB namespace are config.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from crds.addresses import EntryError, parse_entry
from crds.config import BgpMode, ClusterResources, Config, LabeledObject, ParseOptions, ParseResult, parse_config
from crds.intervals import IntervalIndex
from crds.meta import Resource
from crds.objects import load_object
from crds.types import BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement
from reconciler.core.allocator import IP
from reconciler.core.announcing import PoolIndex
from reconciler.core.services import ServiceView, service_view
from reconciler.runtime.resources import NAMESPACES, NODES, SERVICES, ResourceType, object_key
from reconciler.runtime.store import Store

__all__ = [
    "CONFIG_KINDS",
    "CONFIG_RESOURCES",
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


def _labels(raw: Mapping[str, Any]) -> dict[str, str]:
    meta = raw.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _name(raw: Mapping[str, Any]) -> str:
    meta = raw.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else ""


def _ip_index(obj: dict[str, Any]) -> list[str]:
    view = service_view(obj)  # never raises: wrongly typed fields read as absent
    return [f"{family}/{value}" for family, value in {*view.current_ips, *view.requested_ips}]


CONFIG_RESOURCES: dict[type[Resource], ResourceType] = {m: ResourceType.of(m) for m in CONFIG_KINDS}
_KINDS: dict[str, ResourceType] = {
    **{m.api.kind: r for m, r in CONFIG_RESOURCES.items()},
    "Service": SERVICES,
    "Namespace": NAMESPACES,
    "Node": NODES,
}
_PARSE_INPUTS = frozenset({*CONFIG_RESOURCES.values(), NODES})


class ClusterState:
    """Views over the Store; see the module docstring. ``add``/``remove`` feed the Store in tests and tools."""

    def __init__(
        self,
        settings: WebhookSettings | None = None,
        store: Store | None = None,
        *,
        require_synced: Iterable[ResourceType] = (),
    ) -> None:
        self.settings = settings or WebhookSettings()
        self.store = store if store is not None else Store()
        self.require_synced = tuple(require_synced)
        """Kinds whose first full list must be in the Store before a review is judged (the program's reflectors)."""
        self.store.add_index(SERVICES, "ip", _ip_index)
        self._models: dict[tuple[ResourceType, str], tuple[dict[str, Any], Resource | None]] = {}
        self._views: dict[str, tuple[dict[str, Any], ServiceView]] = {}
        self._pool_index: IntervalIndex[str] | None = None
        self._config: ParseResult | None = None
        self._pool_of: tuple[Config, PoolIndex] | None = None
        self.store.subscribe(self._on_change)

    def _on_change(self, res: ResourceType, key: str, old: Any, new: Any) -> None:
        if res in _PARSE_INPUTS:
            self._config = None
        if res == CONFIG_RESOURCES[IPAddressPool]:
            self._pool_index = None
        if new is None:
            self._models.pop((res, key), None)
            if res == SERVICES:
                self._views.pop(key, None)

    def unsynced(self) -> list[str]:
        """The required kinds not listed yet (plural names): judging now would see a partial cluster."""
        return [res.plural for res in self.require_synced if not self.store.synced(res)]

    # --- feeding the Store (tests, tools; in a program the reflectors do it) --------------------------

    def add(self, obj: Mapping[str, Any]) -> None:
        """Add or replace one object of a config kind, a Service, a Namespace or a Node."""
        self.store.apply(self._res(obj), "ADDED", dict(obj))

    def remove(self, obj: Mapping[str, Any]) -> None:
        self.store.apply(self._res(obj), "DELETED", dict(obj))

    @staticmethod
    def _res(obj: Mapping[str, Any]) -> ResourceType:
        kind = str(obj.get("kind") or "")
        try:
            return _KINDS[kind]
        except KeyError:
            raise ValueError(f"ClusterState: not a kind the webhook reads: {kind!r}") from None

    # --- config kinds --------------------------------------------------------------------------------

    def _model(self, model: type[Resource], res: ResourceType, key: str, raw: dict[str, Any]) -> Resource | None:
        memo = self._models.get((res, key))
        if memo is not None and memo[0] is raw:
            return memo[1]
        try:
            obj: Resource | None = load_object(model, raw)
        except ValueError:
            obj = None  # a stored object the apiserver accepted but we cannot read: not config
        self._models[(res, key)] = (raw, obj)
        return obj

    def config_objects(self, model: type[Resource]) -> dict[str, Resource]:
        """The readable objects of a config kind in the MetalLB namespace, by name."""
        res = CONFIG_RESOURCES[model]
        ns = self.settings.namespace
        out: dict[str, Resource] = {}
        for raw in self.store.list(res, ns):
            name = _name(raw)
            obj = self._model(model, res, f"{ns}/{name}", raw) if name else None
            if obj is not None:
                out[name] = obj
        return out

    def config_object(self, model: type[Resource], name: str) -> Resource | None:
        """One readable config object by name (a key lookup: a review never rebuilds the whole kind)."""
        res, ns = CONFIG_RESOURCES[model], self.settings.namespace
        raw = self.store.get(res, f"{ns}/{name}")
        return self._model(model, res, f"{ns}/{name}", raw) if raw is not None else None

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
            if model is IPAddressPool and pool_names is not None:
                res, ns = CONFIG_RESOURCES[model], self.settings.namespace
                objs: dict[str, Resource] = {}
                for n in pool_names:
                    raw = self.store.get(res, f"{ns}/{n}")
                    loaded = self._model(model, res, f"{ns}/{n}", raw) if raw is not None else None
                    if loaded is not None:
                        objs[n] = loaded
            else:
                objs = self.config_objects(model)
            for name, obj in (overrides.get(model) or {}).items():
                if obj is None:
                    objs.pop(name, None)
                else:
                    objs[name] = obj
            fields[_FIELD[model]] = tuple(objs.values())
        nodes = self._labeled(NODES)
        namespaces = self._labeled(NAMESPACES)
        return ClusterResources(
            **fields,
            nodes=None if nodes is None else tuple(LabeledObject(n, lbl) for n, lbl in nodes.items()),
            namespaces=None if namespaces is None else tuple(LabeledObject(n, lbl) for n, lbl in namespaces.items()),
        )

    def pools_overlapping(self, intervals: Iterable[Interval]) -> list[str]:
        """Names (sorted) of the current pools with an entry intersecting one of ``intervals``."""
        wanted = tuple(intervals)
        if not wanted:
            return []
        if self._pool_index is None:
            index: IntervalIndex[str] = IntervalIndex()
            for name, pool in self.config_objects(IPAddressPool).items():
                if isinstance(pool, IPAddressPool):
                    index.set(name, pool_intervals(pool))
            self._pool_index = index
        return sorted(self._pool_index.overlapping(wanted))

    def pool_index(self, config: Config) -> PoolIndex:
        """Which pool holds an address, for ``config`` (built once per parsed config)."""
        if self._pool_of is None or self._pool_of[0] is not config:
            self._pool_of = (config, PoolIndex(config.pools))
        return self._pool_of[1]

    def config(self) -> ParseResult:
        """The parse of the current config (cached until a config object or a Node changes)."""
        if self._config is None:
            self._config = parse_config(self.resources(), self.settings.parse_options)
        return self._config

    # --- Services, Namespaces, Nodes -----------------------------------------------------------------

    def service(self, key: str) -> ServiceView | None:
        raw = self.store.get(SERVICES, key)
        if raw is None:
            return None
        memo = self._views.get(key)
        if memo is not None and memo[0] is raw:
            return memo[1]
        view = service_view(raw)
        self._views[key] = (raw, view)
        return view

    def services(self) -> Iterator[tuple[str, ServiceView]]:
        """Every Service (key, view), sorted by key."""
        for key in self.store.keys(SERVICES):
            view = self.service(key)
            if view is not None:
                yield key, view

    def ip_users(self, ip: IP) -> list[str]:
        """Keys of the Services that hold ``ip`` in their status or ask for it."""
        family, value = ip
        return [object_key(o) for o in self.store.by_index(SERVICES, "ip", f"{family}/{value}")]

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        """A Namespace's labels; None when Namespaces are not known at all (then selectors are not judged)."""
        known = self._labeled(NAMESPACES)
        return None if known is None else known.get(namespace, {})

    def _labeled(self, res: ResourceType) -> dict[str, dict[str, str]] | None:
        if not self.store.synced(res) and not self.store.keys(res):
            return None
        return {_name(o): _labels(o) for o in self.store.list(res)}
