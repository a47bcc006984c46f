"""In-memory fakes of the API for runtime unit tests: scripted list/watch, a Lease server with optimistic
concurrency, an Event sink. No sockets, no real time."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from reconciler.runtime.client import WatchEvent
from reconciler.runtime.errors import ApiError, Conflict, NotFound
from reconciler.runtime.resources import ResourceType


def cm(name: str, rv: str, ns: str = "ns", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": rv},
        "data": dict(data),
    }


def bookmark(rv: str) -> WatchEvent:
    return WatchEvent("BOOKMARK", {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": rv}})


def gone_event() -> WatchEvent:
    return WatchEvent(
        "ERROR", {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version"}
    )


ListStep = tuple[list[dict[str, Any]], str] | ApiError
WatchStep = list[WatchEvent | ApiError] | ApiError


class ScriptedListerWatcher:
    """Each list()/watch() call takes the next scripted step; records the calls. When the watch script runs out,
    watch() blocks (like an idle stream) until the test cancels."""

    def __init__(self, lists: list[ListStep], watches: list[WatchStep]) -> None:
        self.lists = list(lists)
        self.watches = list(watches)
        self.list_calls = 0
        self.watch_calls: list[dict[str, Any]] = []

    async def list(
        self,
        res: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: Any = None,
        field_selector: Any = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        self.list_calls += 1
        step = self.lists.pop(0) if self.lists else ([], "0")
        if isinstance(step, ApiError):
            raise step
        items, rv = step
        return [i if transform is None else transform(i) for i in copy.deepcopy(items)], rv

    async def watch(
        self,
        res: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: int,
        allow_bookmarks: bool = True,
        label_selector: Any = None,
        field_selector: Any = None,
    ) -> AsyncIterator[WatchEvent]:
        self.watch_calls.append(
            {
                "resource_version": resource_version,
                "timeout_seconds": timeout_seconds,
                "bookmarks": allow_bookmarks,
                "field_selector": field_selector,
            }
        )
        if not self.watches:
            await asyncio.Event().wait()  # an idle stream
        step = self.watches.pop(0)
        if isinstance(step, ApiError):
            raise step
        for ev in step:
            if isinstance(ev, ApiError):
                raise ev
            yield ev


class FakeLeaseApi:
    """Leases in memory with resourceVersion checks (409 on a stale PUT, 409 on a duplicate create)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str | None, str], dict[str, Any]] = {}
        self._rv = itertools.count(1)
        self.fail: Callable[[str], ApiError | None] = lambda verb: None
        self.calls: list[str] = []

    async def get(self, res: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        self.calls.append("get")
        await asyncio.sleep(0)  # let racing callers interleave between read and write
        if err := self.fail("get"):
            raise err
        try:
            return copy.deepcopy(self.objects[(namespace, name)])
        except KeyError:
            raise NotFound(404, "NotFound", f"{name} not found") from None

    async def create(self, res: ResourceType, obj: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        self.calls.append("create")
        if err := self.fail("create"):
            raise err
        obj = copy.deepcopy(dict(obj))
        name = obj["metadata"]["name"]
        if (namespace, name) in self.objects:
            raise Conflict(409, "AlreadyExists", f"{name} exists")
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        self.objects[(namespace, name)] = obj
        return copy.deepcopy(obj)

    async def replace(self, res: ResourceType, obj: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        self.calls.append("replace")
        if err := self.fail("replace"):
            raise err
        obj = copy.deepcopy(dict(obj))
        name = obj["metadata"]["name"]
        cur = self.objects.get((namespace, name))
        if cur is None:
            raise NotFound(404, "NotFound", name)
        if obj["metadata"].get("resourceVersion") != cur["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", "the object has been modified")
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        self.objects[(namespace, name)] = obj
        return copy.deepcopy(obj)

    def spec(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.objects[(namespace, name)]["spec"])


class FakeEventApi:
    def __init__(self) -> None:
        self.events: dict[tuple[str | None, str], dict[str, Any]] = {}
        self.creates = 0
        self.patches = 0
        self.error: ApiError | Exception | None = None

    async def create(self, res: ResourceType, obj: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        if self.error:
            raise self.error
        self.creates += 1
        self.events[(namespace, obj["metadata"]["name"])] = copy.deepcopy(dict(obj))
        return dict(obj)

    async def patch(
        self, res: ResourceType, name: str, body: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        if self.error:
            raise self.error
        self.patches += 1
        ev = self.events.get((namespace, name))
        if ev is None:
            raise NotFound(404, "NotFound", name)
        ev.update(body)
        return dict(ev)
