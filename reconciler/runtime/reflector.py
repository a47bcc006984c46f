"""The reflector: keeps one kind in the Store equal to the apiserver's, through list+watch (kopf's shape, client-go's
promises).

Loop: list → ``store.replace`` (marks the kind synced) → watch with bookmarks from the list's resourceVersion →
apply each event → when the stream ends (server timeout, connection cut) watch again from the last resourceVersion
seen, bookmarks included → on 410 Gone (an HTTP answer or an in-stream ``ERROR`` with code 410) list again and
``store.replace``, which reports the deletions missed meanwhile.

Promises:

* No hot loop. kr8s re-watches from the same expired resourceVersion on 410 and spins (docs/contributing.md); here the
  first 410 relists at once, and a 410 that comes again before any event got through waits a backoff first. A stream
  that ends at once without any event also counts as a failure.
* Other errors (connection refused, 5xx, 403...) wait an exponential backoff with jitter (``settings``), reset after
  a success; the reflector never gives up. A watch error keeps the resourceVersion (resume), a list error relists.
* The server-side watch timeout is random in ``[watch_timeout_min, watch_timeout_max]`` so that replicas restarted
  together do not reconnect together (client-go: 5-10 min; ours is shorter, see the settings).
* Unknown event types are logged and skipped; any other in-stream ERROR is treated as a failure (backoff, resume).
* State for readiness: ``synced`` (the first list is in), ``last_error`` (None after a success), counters.

Not promised: a periodic resync (the level-triggered controller gets that from requeues); exceptions that are not
``ApiError`` (bugs) propagate and end ``run``.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.runtime.backoff import Backoff
from reconciler.runtime.client import ADDED, BOOKMARK, DELETED, ERROR, MODIFIED, WatchEvent
from reconciler.runtime.clock import Clock, RealClock
from reconciler.runtime.errors import ApiError, Gone, Unavailable
from reconciler.runtime.resources import ResourceType
from reconciler.runtime.store import Store

__all__ = ["ListerWatcher", "Reflector", "ReflectorSettings"]


class ListerWatcher(Protocol):
    """The part of ``ApiClient`` a reflector uses (tests pass a fake)."""

    async def list(
        self,
        res: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | Mapping[str, str] | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> tuple[list[dict[str, Any]], str]: ...

    def watch(
        self,
        res: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: int,
        allow_bookmarks: bool = True,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | Mapping[str, str] | None = None,
    ) -> AsyncIterator[WatchEvent]: ...


@dataclass(frozen=True)
class ReflectorSettings:
    watch_timeout_min: float = 240.0
    """Shortest server-side watch timeout (s). Below the apiserver's own limit (--min-request-timeout, 30 min) and
    the idle cut of load balancers in front of it, so a stream normally ends by our choice."""
    watch_timeout_max: float = 360.0
    """Longest server-side watch timeout (s); the spread keeps replicas from reconnecting in step."""
    backoff_initial: float = 0.8
    """First retry delay after an error (s), client-go's reflector value."""
    backoff_cap: float = 30.0
    """Longest retry delay (s), client-go's reflector cap: an outage is noticed within half a minute."""
    backoff_jitter: float = 0.5
    """Each delay is stretched by up to this fraction, at random."""
    min_watch_seconds: float = 1.0
    """A stream that ends sooner than this without any event is treated as a failure (a server that closes
    streams at once must not make us spin)."""


class Reflector:
    def __init__(
        self,
        client: ListerWatcher,
        store: Store,
        res: ResourceType,
        *,
        namespace: str | None = None,
        clock: Clock | None = None,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | Mapping[str, str] | None = None,
        settings: ReflectorSettings | None = None,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        """``transform`` maps every object before it enters the Store (client-go's TransformFunc): a program
        keeps only the fields it reads, which is most of its memory with many objects."""
        self.client = client
        self.transform = transform
        self.store = store
        self.res = res
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        """A field selector (e.g. ``metadata.name=<node>``): the Store holds only matching objects."""
        self.clock: Clock = clock or RealClock()
        self.settings = settings or ReflectorSettings()
        if not 0 < self.settings.watch_timeout_min <= self.settings.watch_timeout_max:
            raise ValueError("need 0 < watch_timeout_min <= watch_timeout_max")
        self._rng = rng or random.Random()
        self._backoff = Backoff(
            self.settings.backoff_initial, self.settings.backoff_cap, jitter=self.settings.backoff_jitter, rng=self._rng
        )
        self._log = logger or logging.getLogger(__name__)
        self.synced = False
        """True once the first list is in the Store (stays true across relists)."""
        self.last_error: ApiError | None = None
        """The last failure, None after the next success."""
        self.resource_version: str | None = None
        """Where the next watch starts; None means "list first"."""
        self.lists = 0
        self.watches = 0
        self.events = 0
        self._gone_without_progress = 0

    @property
    def name(self) -> str:
        return f"{self.res}" + (f" in {self.namespace}" if self.namespace else "")

    async def run(self, *, iterations: int | None = None) -> None:
        """Run until cancelled; with ``iterations``, return after that many API calls (lists plus watches)."""
        done = 0
        while iterations is None or done < iterations:
            done += 1
            try:
                if self.resource_version is None:
                    await self._list()
                else:
                    await self._watch(self.resource_version)
            except Gone as exc:
                self.last_error = exc
                self.resource_version = None
                delay = self._backoff.next() if self._gone_without_progress else 0.0
                self._gone_without_progress += 1
                self._info("relist", f"{self.name}: resourceVersion expired (410), relisting", delay=delay)
                if delay:
                    await self.clock.sleep(delay)
            except ApiError as exc:
                self.last_error = exc
                delay = self._backoff.next()
                self._log.warning(
                    "%s: %s; retrying in %.1fs",
                    self.name,
                    exc,
                    delay,
                    extra={"op": "reflector", "event": "retry", "kind": self.res.kind, "error": str(exc)},
                )
                await self.clock.sleep(delay)

    async def _list(self) -> None:
        self.lists += 1
        # The client transforms page by page: a full list of big objects is never alive at once.
        items, rv = await self.client.list(
            self.res,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            transform=self.transform,
        )
        self.store.replace(self.res, items, rv)
        self.resource_version = rv
        self.synced = True
        self.last_error = None
        # A list alone is not progress past a 410 streak: only a watch event is (else list→410→list would spin).
        if not self._gone_without_progress:
            self._backoff.reset()
        self._info("listed", f"{self.name}: listed {len(items)} objects", count=len(items), resourceVersion=rv)

    async def _watch(self, rv: str) -> None:
        self.watches += 1
        timeout = self._rng.uniform(self.settings.watch_timeout_min, self.settings.watch_timeout_max)
        started = self.clock.monotonic()
        seen = 0
        stream = self.client.watch(
            self.res,
            self.namespace,
            resource_version=rv,
            timeout_seconds=int(timeout),
            allow_bookmarks=True,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        )
        async with contextlib.aclosing(stream):  # type: ignore[type-var]  # every watch() is an async generator
            async for ev in stream:
                if ev.type in (ADDED, MODIFIED, DELETED):
                    obj = ev.object if self.transform is None else self.transform(ev.object)
                    self.store.apply(self.res, ev.type, obj)
                    self._advance(ev.object)
                elif ev.type == BOOKMARK:
                    self._advance(ev.object)
                elif ev.type == ERROR:
                    status = ev.object
                    code = int(status.get("code") or 0)
                    if code == Gone.STATUS:
                        raise ApiError.from_status(code, status)
                    raise Unavailable(code, str(status.get("reason") or "WatchError"), str(status.get("message")))
                else:
                    self._log.warning(
                        "%s: unknown watch event type %r skipped",
                        self.name,
                        ev.type,
                        extra={"op": "reflector", "event": "unknownEventType", "kind": self.res.kind},
                    )
                    continue
                seen += 1
                self.events += 1
                self._success()
        if not seen and self.clock.monotonic() - started < self.settings.min_watch_seconds:
            raise Unavailable(0, "WatchClosed", "the watch stream ended at once without events")
        self._success()

    def _advance(self, obj: dict[str, Any]) -> None:
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.resource_version = str(rv)

    def _success(self) -> None:
        self.last_error = None
        self._gone_without_progress = 0
        self._backoff.reset()

    def _info(self, event: str, msg: str, **fields: Any) -> None:
        self._log.info(msg, extra={"op": "reflector", "event": event, "kind": self.res.kind, **fields})
