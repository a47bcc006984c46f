"""A work queue of keys with client-go's promises (util/workqueue), on asyncio.

Promises (each has a test in tests/unit/runtime/test_rt_workqueue.py):

* Fair: keys are handed out in the order they were first added (FIFO).
* Stingy: a key is never handed to two workers at once, and many ``add``s before it is processed give one pass.
* A key added while it is being processed is handed out again after ``done()`` (the change is not lost).
* Clean shutdown: after ``shutdown()`` new adds are dropped, waiting and future ``get()`` calls raise ``ShutDown``;
  ``drain()`` waits until the keys being processed are ``done()``.
* ``add_after(key, delay)`` adds the key after ``delay`` seconds of the injected clock; of several pending delays
  for one key the earliest wins. All delays sit on one heap served by one task, however many keys wait.
* ``add_rate_limited(key)`` is ``add_after(key, limiter.when(key))``: per-key exponential backoff, 5 ms doubling to
  a 1000 s cap (client-go's per-item default); ``forget(key)`` resets it after a success.

Not promised: ``len()`` is a snapshot; never gate work on it (client-go's warning).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from reconciler.runtime.clock import Clock, RealClock, wait_for

__all__ = ["ExponentialRateLimiter", "ShutDown", "WorkQueue"]

K = TypeVar("K", bound=Hashable)

_log = logging.getLogger(__name__)


class ShutDown(Exception):
    """The queue was shut down: the worker should return."""


class ExponentialRateLimiter(Generic[K]):
    """Per-key delay ``base * 2**failures``, capped; client-go's ``ItemExponentialFailureRateLimiter`` defaults.

    5 ms: a transient conflict is retried almost at once. 1000 s cap: a key that keeps failing is still retried
    about every 17 minutes, so a fix in the cluster is picked up without a restart.
    """

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        if not 0 < base <= cap:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        return min(self.cap, self.base * 2.0 ** min(n, 64))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        return self._failures.get(key, 0)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        *,
        name: str = "",
        clock: Clock | None = None,
        rate_limiter: ExponentialRateLimiter[K] | None = None,
    ) -> None:
        self.name = name
        self.clock: Clock = clock or RealClock()
        self.rate_limiter: ExponentialRateLimiter[K] = rate_limiter or ExponentialRateLimiter()
        # Invariants (client-go's): a key in _queue is in _dirty and not in _processing, and appears once;
        # a key in _dirty and not in _processing is in _queue; a key in both waits for done() to be queued.
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        # Invariant: _delayed[k] is the earliest pending ready time of k, and the heap holds an entry
        # (_delayed[k], seq, k) for it; heap entries that disagree with _delayed are stale and skipped.
        self._delayed: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._delay_task: asyncio.Task[None] | None = None
        self._delay_wakeup = asyncio.Event()
        self._idle: asyncio.Event = asyncio.Event()
        self._idle.set()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: K) -> None:
        """Mark ``key`` as needing a pass; a no-op if it already waits, or after shutdown."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # done() will queue it
        self._queue.append(key)
        self._wake_one()

    async def get(self) -> K:
        """The next key; the caller must call ``done(key)`` when finished. Raises ``ShutDown``."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and self._queue:
                    self._wake_one()  # we were woken for a key but will not take it: pass the wake-up on
                raise
            finally:
                if fut in self._getters:
                    self._getters.remove(fut)
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        self._idle.clear()
        return key

    def done(self, key: K) -> None:
        """Finish processing ``key``; if it was added meanwhile it goes back at the end of the queue."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()
        if not self._processing:
            self._idle.set()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds (at once when ``delay <= 0``). The earliest pending delay wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready_at = self.clock.monotonic() + delay
        pending = self._delayed.get(key)
        if pending is not None and pending <= ready_at:
            return
        self._delayed[key] = ready_at
        heapq.heappush(self._heap, (ready_at, next(self._seq), key))
        if self._delay_task is None or self._delay_task.done():
            self._delay_task = asyncio.get_running_loop().create_task(
                self._serve_delays(), name=f"workqueue {self.name} delays"
            )
            self._delay_task.add_done_callback(self._delays_done)
        elif self._heap[0][2] == key:
            self._delay_wakeup.set()  # a new earliest deadline: the server must sleep less

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after its per-key backoff (which grows with each call until ``forget``)."""
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff (after a successful pass)."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self.rate_limiter.num_requeues(key)

    def shutdown(self) -> None:
        """Stop: drop pending delays, wake all waiting getters (they raise ``ShutDown``)."""
        self._shutting_down = True
        if self._delay_task is not None:
            self._delay_task.cancel()
        self._delayed.clear()
        self._heap.clear()
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)

    async def drain(self) -> None:
        """Wait until no key is being processed (use after ``shutdown()`` for a graceful stop)."""
        await self._idle.wait()

    async def _serve_delays(self) -> None:
        """Add each delayed key when its time comes; returns when no delay is pending."""
        while self._heap and not self._shutting_down:
            ready_at, _, key = self._heap[0]
            if self._delayed.get(key) != ready_at:
                heapq.heappop(self._heap)  # stale: superseded by an earlier delay of the same key
                continue
            wait = ready_at - self.clock.monotonic()
            if wait <= 0:
                heapq.heappop(self._heap)
                del self._delayed[key]
                self.add(key)
                continue
            self._delay_wakeup.clear()
            with contextlib.suppress(TimeoutError):  # the deadline came: loop and serve it
                await wait_for(self.clock, self._delay_wakeup.wait(), wait)

    def _delays_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            _log.error("workqueue delays failed", exc_info=task.exception(), extra={"op": "workqueue"})

    def _wake_one(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
