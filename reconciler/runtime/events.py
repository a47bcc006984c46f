"""Kubernetes Events for user-visible outcomes (``kubectl describe`` / ``kubectl get events``).

Promises:

* ``record(obj, type, reason, message)`` creates a core/v1 Event about ``obj`` (involvedObject from its
  apiVersion/kind/namespace/name/uid/resourceVersion; ``source.component``/``host``; first/lastTimestamp; count 1).
  Reasons and texts are MetalLB's where it has them (e.g. ``IPAllocated``, ``AllocationFailed``).
* Repeats of the same (object, type, reason, message) are aggregated like client-go's EventCorrelator: the existing
  Event's ``count`` and ``lastTimestamp`` are patched instead of creating another. If that Event is gone (Events
  expire after an hour by default), a new one is created.
* It never raises into the caller (except cancellation): an Event is a courtesy, so API errors are logged.
* ``post(...)`` queues the Event and returns at once (as client-go's broadcaster does): one sender task records
  queued Events in order, each stamped with the time it was posted, so a reconcile never waits for an Event's
  round trip. At most ``backlog`` Events wait; past that the oldest is dropped and counted (``dropped``).
  ``flush()`` waits for the queue to empty (a program's stop hook, tests).

Not promised: delivery (a failed create is logged, not retried), and aggregation across restarts or replicas (the
cache is in memory, bounded to ``cache_size`` entries, least recently used dropped first).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from reconciler.runtime.clock import Clock, RealClock, kube_time
from reconciler.runtime.errors import NotFound
from reconciler.runtime.resources import EVENTS, ResourceType

__all__ = ["EventClient", "EventRecorder", "EventType"]

EventType = Literal["Normal", "Warning"]


class EventClient(Protocol):
    async def create(
        self, res: ResourceType, obj: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def patch(
        self, res: ResourceType, name: str, body: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]: ...


@dataclass(slots=True)
class _Seen:
    """The Event created for one (object, type, reason, message), so a repeat patches its count."""

    name: str
    namespace: str
    count: int


class EventRecorder:
    def __init__(
        self,
        client: EventClient,
        component: str,
        *,
        host: str | None = None,
        cache_size: int = 4096,
        backlog: int = 4096,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.clock: Clock = clock or RealClock()  # wall time for the Events' timestamps
        self._log = logger or logging.getLogger(__name__)
        self._cache_size = cache_size
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._lock = asyncio.Lock()  # one record at a time: two repeats must not both create
        self._backlog: deque[tuple[Mapping[str, Any], EventType, str, str, datetime.datetime]] = deque()
        self._backlog_max = backlog
        self._sender: asyncio.Task[None] | None = None
        self.created = 0
        self.aggregated = 0
        self.failed = 0
        self.dropped = 0

    def post(self, obj: Mapping[str, Any], type: EventType, reason: str, message: str) -> None:
        """Queue an Event about ``obj`` for the sender task and return at once (needs a running loop)."""
        if len(self._backlog) >= self._backlog_max:
            self._backlog.popleft()
            self.dropped += 1
        self._backlog.append((obj, type, reason, message, self.clock.now()))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_backlog(), name="events")

    async def _send_backlog(self) -> None:
        while self._backlog:
            obj, type, reason, message, at = self._backlog.popleft()
            await self.record(obj, type, reason, message, at=at)

    async def flush(self) -> None:
        """Wait until every posted Event has been recorded (or failed)."""
        while self._sender is not None and not self._sender.done():
            await asyncio.shield(self._sender)

    async def record(
        self,
        obj: Mapping[str, Any],
        type: EventType,
        reason: str,
        message: str,
        *,
        at: datetime.datetime | None = None,
    ) -> None:
        """Record an Event about ``obj`` (stamped ``at``, default now); never raises (except ``CancelledError``)."""
        try:
            async with self._lock:
                await self._record(obj, type, reason, message, self.clock.now() if at is None else at)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed += 1
            self._log.warning(
                "could not record event %s: %s",
                reason,
                exc,
                extra={"op": "events", "event": "recordFailed", "reason": reason, "error": str(exc)},
            )

    async def _record(
        self, obj: Mapping[str, Any], type: EventType, reason: str, message: str, now_dt: datetime.datetime
    ) -> None:
        md = obj.get("metadata") or {}
        involved = {
            "apiVersion": obj.get("apiVersion", ""),
            "kind": obj.get("kind", ""),
            "name": md.get("name", ""),
        }
        # Cluster-scoped objects get their Events in "default", as client-go does.
        namespace = md.get("namespace") or "default"
        if md.get("namespace"):
            involved["namespace"] = md["namespace"]
        for src, dst in (("uid", "uid"), ("resourceVersion", "resourceVersion")):
            if md.get(src):
                involved[dst] = md[src]
        key = (
            involved["apiVersion"],
            involved["kind"],
            namespace,
            involved["name"],
            str(md.get("uid") or ""),
            type,
            reason,
            message,
        )
        now = kube_time(now_dt)
        seen = self._seen.get(key)
        if seen is not None:
            self._seen.move_to_end(key)
            try:
                await self.client.patch(
                    EVENTS, seen.name, {"count": seen.count + 1, "lastTimestamp": now}, seen.namespace
                )
            except NotFound:
                del self._seen[key]  # expired: fall through and create a new one
            else:
                seen.count += 1
                self.aggregated += 1
                return
        name = f"{involved['name']}.{int(now_dt.timestamp() * 1e9):x}"
        event: dict[str, Any] = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "type": type,
            "reason": reason,
            "message": message,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": self.component,
            "reportingInstance": self.host or "",
        }
        await self.client.create(EVENTS, event, namespace)
        self.created += 1
        self._seen[key] = _Seen(name=name, namespace=namespace, count=1)
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)
        self._log.debug(
            "event %s %s: %s",
            type,
            reason,
            message,
            extra={"op": "events", "event": "recorded", "reason": reason, "object": involved["name"]},
        )
