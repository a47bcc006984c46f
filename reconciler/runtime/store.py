"""The Store: the latest copy of every watched object, per kind, filled by reflectors (or by files offline).

Promises:

* Objects are plain dicts keyed by ``(ResourceType, ObjectKey)``; callers treat them as immutable (the Store never
  changes a dict it handed out; a change replaces the dict).
* ``replace(res, objects, rv)`` swaps a kind's whole contents at once (no reader sees half a list) and derives the
  deletions: a key that was stored and is not in ``objects`` is reported deleted (client-go's Replace; this is how a
  deletion missed while disconnected is noticed). It marks the kind synced.
* ``apply(res, type, obj)`` applies one watch event (ADDED/MODIFIED store, DELETED removes).
* Indexes (``add_index(res, name, func)``, client-go's Indexers): ``by_index(res, name, value)`` returns the
  objects whose ``func`` yields ``value``, kept exact through ``apply`` and ``replace`` (e.g. EndpointSlices by
  Service). Index lookups cost O(matches), not a scan of the kind.
* Subscribers (sync callbacks ``(res, key, old, new)``) are called after each change is visible, for every key that
  changed: ``old is None`` for a new key, ``new is None`` for a deleted one. An unchanged object (same
  resourceVersion) after a relist is not reported. A callback that raises is logged and does not stop the others.
* ``synced(res)`` is false until the first full list of the kind is in; ``wait_synced(*res)`` waits for all
  (nothing is decided before sync: docs/architecture.md).

Not promised: ordering across kinds, or any history; a subscriber learns a key changed, then reads the Store.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable, Iterable
from typing import Any

from reconciler.runtime.resources import ObjectKey, ResourceType, object_key

__all__ = ["IndexFunc", "Store", "Subscriber"]

IndexFunc = Callable[[dict[str, Any]], Iterable[str]]
"""Index values of an object (client-go's IndexFunc): e.g. an EndpointSlice's Service key. Must be pure."""

Subscriber = Callable[[ResourceType, ObjectKey, dict[str, Any] | None, dict[str, Any] | None], None]
"""Called with (kind, key, old, new) after a change; must not block (mark a work-queue key dirty and return)."""

_log = logging.getLogger(__name__)


def _rv(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else (obj.get("metadata") or {}).get("resourceVersion")


def _index_add(table: dict[str, ObjectKey | set[ObjectKey]], value: str, key: ObjectKey) -> None:
    have = table.get(value)
    if have is None:
        table[value] = key
    elif isinstance(have, set):
        have.add(key)
    elif have != key:
        table[value] = {have, key}


def _index_discard(table: dict[str, ObjectKey | set[ObjectKey]], value: str, key: ObjectKey) -> None:
    have = table.get(value)
    if isinstance(have, set):
        have.discard(key)
        if len(have) == 1:
            table[value] = next(iter(have))
    elif have == key:
        del table[value]


class Store:
    def __init__(self) -> None:
        # Invariant: _objects[res][key] is the object whose object_key() is key.
        self._objects: dict[ResourceType, dict[ObjectKey, dict[str, Any]]] = {}
        self._rv: dict[ResourceType, str] = {}
        self._synced: dict[ResourceType, asyncio.Event] = {}
        self._subscribers: list[Subscriber] = []
        # Invariant: for every index (res, name), _index[res][name][value] holds exactly the keys of stored objects
        # of res whose IndexFunc yields value: the key itself when there is one (most values name one object, and
        # a set costs 216 bytes: 4 MiB of a speaker with 10,000 Services), a set of two or more otherwise; values
        # without keys are dropped.
        self._indexers: dict[ResourceType, dict[str, IndexFunc]] = {}
        self._index: dict[ResourceType, dict[str, dict[str, ObjectKey | set[ObjectKey]]]] = {}

    # ---- indexes -----------------------------------------------------------

    def add_index(self, res: ResourceType, name: str, func: IndexFunc) -> None:
        """Maintain an index of ``res`` by ``func`` from now on (objects already stored are indexed at once)."""
        if name in self._indexers.get(res, {}):
            raise ValueError(f"Store.add_index: {res.plural} already has an index {name!r}")
        self._indexers.setdefault(res, {})[name] = func
        table: dict[str, ObjectKey | set[ObjectKey]] = {}
        self._index.setdefault(res, {})[name] = table
        for key, obj in self._objects.get(res, {}).items():
            for value in func(obj):
                _index_add(table, value, key)

    def by_index(self, res: ResourceType, name: str, value: str) -> builtins.list[dict[str, Any]]:
        """Stored objects of ``res`` whose index ``name`` yields ``value``, sorted by key."""
        try:
            keys = self._index[res][name].get(value)
        except KeyError:
            raise KeyError(f"Store.by_index: {res.plural} has no index {name!r}") from None
        objs = self._objects.get(res, {})
        if keys is None:
            return []
        if isinstance(keys, set):
            return [objs[k] for k in sorted(keys)]
        return [objs[keys]]

    def index_values(self, res: ResourceType, name: str) -> builtins.list[str]:
        """Every value of index ``name`` that at least one stored object yields, sorted."""
        return sorted(self._index.get(res, {}).get(name, {}))

    def _reindex(
        self, res: ResourceType, key: ObjectKey, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        for name, func in self._indexers.get(res, {}).items():
            table = self._index[res][name]
            before = set(func(old)) if old is not None else set()
            after = set(func(new)) if new is not None else set()
            for value in before - after:
                _index_discard(table, value, key)
            for value in after - before:
                _index_add(table, value, key)

    # ---- reads -------------------------------------------------------------

    def get(self, res: ResourceType, key: str) -> dict[str, Any] | None:
        return self._objects.get(res, {}).get(ObjectKey(key))

    def list(self, res: ResourceType, namespace: str | None = None) -> list[dict[str, Any]]:
        """Objects of a kind sorted by key (deterministic), optionally of one namespace."""
        objs = self._objects.get(res, {})
        if namespace is None:
            return [objs[k] for k in sorted(objs)]
        prefix = f"{namespace}/"
        return [objs[k] for k in sorted(objs) if k.startswith(prefix)]

    def keys(self, res: ResourceType) -> builtins.list[ObjectKey]:
        return sorted(self._objects.get(res, {}))

    def resource_version(self, res: ResourceType) -> str | None:
        """The resourceVersion of the last list or event applied to this kind."""
        return self._rv.get(res)

    def synced(self, res: ResourceType) -> bool:
        ev = self._synced.get(res)
        return ev is not None and ev.is_set()

    async def wait_synced(self, *res: ResourceType) -> None:
        """Return once every given kind has had its first full list."""
        for r in res:
            await self._event(r).wait()

    # ---- writes ------------------------------------------------------------

    def replace(self, res: ResourceType, objects: Iterable[dict[str, Any]], resource_version: str) -> None:
        """Swap the kind's contents for ``objects`` (a full list), report the differences, mark the kind synced."""
        new = {object_key(o): o for o in objects}
        old = self._objects.get(res, {})
        self._objects[res] = new
        self._rv[res] = resource_version
        if self._indexers.get(res):
            for key in old.keys() | new.keys():
                self._reindex(res, key, old.get(key), new.get(key))
        self._event(res).set()
        for key in sorted(old.keys() - new.keys()):
            self._notify(res, key, old[key], None)
        for key in sorted(new):
            before = old.get(key)
            after = new[key]
            if before is None or _rv(before) != _rv(after) or (_rv(after) is None and before != after):
                self._notify(res, key, before, after)

    def apply(self, res: ResourceType, event_type: str, obj: dict[str, Any]) -> None:
        """Apply one watch event: ADDED/MODIFIED store ``obj``, DELETED removes it. Other types raise ValueError."""
        key = object_key(obj)
        objs = self._objects.setdefault(res, {})
        rv = _rv(obj)
        if rv:
            self._rv[res] = rv
        if event_type in ("ADDED", "MODIFIED"):
            before = objs.get(key)
            objs[key] = obj
            self._reindex(res, key, before, obj)
            self._notify(res, key, before, obj)
        elif event_type == "DELETED":
            before = objs.pop(key, None)
            self._reindex(res, key, before, None)
            # A delete of a key we never had still reports (old=the final state): a subscriber may hold state for it.
            self._notify(res, key, before if before is not None else obj, None)
        else:
            raise ValueError(f"Store.apply: unknown event type {event_type!r}")

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register a change callback; returns a function that unregisters it."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _event(self, res: ResourceType) -> asyncio.Event:
        ev = self._synced.get(res)
        if ev is None:
            ev = self._synced[res] = asyncio.Event()
        return ev

    def _notify(
        self, res: ResourceType, key: ObjectKey, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        for cb in list(self._subscribers):
            try:
                cb(res, key, old, new)
            except Exception:
                _log.exception(
                    "store subscriber failed", extra={"op": "store", "event": "subscriberFailed", "key": key}
                )
