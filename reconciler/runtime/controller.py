"""The work loop: workers take keys from a ``WorkQueue`` and reconcile them (controller-runtime's reconcileHandler).

``reconcile(key)`` reads the Store, makes the world match, and ends in one of three ways, handled in one place:

* returns ``None``: done; the key's backoff is forgotten;
* returns a number of seconds: done for now, run again after that delay (``RequeueAfter``); backoff forgotten;
* raises: ``TerminalError`` is logged and counted, never retried (retrying cannot fix bad input); any other
  exception is logged and the key is requeued with its per-key exponential backoff.

Promises: a key is never reconciled by two workers at once (the queue's promise); ``done()`` is always called, also
when the reconcile is cancelled; ``run_workers`` returns when the queue is shut down and every worker is idle, and
if cancelled, cancels its workers. Counters in ``WorkerStats`` say what happened (for metrics and tests).

Not promised: ordering between keys; a reconcile that never returns blocks its worker (give it timeouts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

from reconciler.runtime.errors import TerminalError
from reconciler.runtime.workqueue import ShutDown, WorkQueue

__all__ = ["Reconcile", "TerminalError", "WorkerStats", "run_workers"]

K = TypeVar("K", bound=Hashable)

Reconcile = Callable[[K], Awaitable[float | None]]


@dataclass
class WorkerStats:
    """What the workers did, by outcome."""

    succeeded: int = 0
    requeued_after: int = 0
    failed: int = 0
    terminal: int = 0


async def run_workers(
    queue: WorkQueue[K],
    reconcile: Callable[[K], Awaitable[float | None]],
    *,
    workers: int = 1,
    name: str,
    logger: logging.Logger | None = None,
    stats: WorkerStats | None = None,
) -> WorkerStats:
    """Run ``workers`` concurrent workers until the queue shuts down; returns the counters."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    log = logger or logging.getLogger(__name__)
    st = stats if stats is not None else WorkerStats()
    async with asyncio.TaskGroup() as tg:
        for i in range(workers):
            tg.create_task(_worker(queue, reconcile, name, log, st), name=f"{name} worker {i}")
    return st


async def _worker(
    queue: WorkQueue[K],
    reconcile: Callable[[K], Awaitable[float | None]],
    name: str,
    log: logging.Logger,
    st: WorkerStats,
) -> None:
    while True:
        try:
            key = await queue.get()
        except ShutDown:
            return
        try:
            await _handle(queue, reconcile, key, name, log, st)
        finally:
            queue.done(key)


async def _handle(
    queue: WorkQueue[K],
    reconcile: Callable[[K], Awaitable[float | None]],
    key: K,
    name: str,
    log: logging.Logger,
    st: WorkerStats,
) -> None:
    fields = {"op": name, "key": str(key)}
    try:
        result = await reconcile(key)
    except TerminalError as exc:
        st.terminal += 1
        queue.forget(key)
        log.error("%s %s: %s (not retried)", name, key, exc, extra={**fields, "event": "terminalError"})
        return
    except Exception as exc:
        st.failed += 1
        retries = queue.num_requeues(key)
        queue.add_rate_limited(key)
        log.error(
            "%s %s failed (retry %d): %s",
            name,
            key,
            retries + 1,
            exc,
            exc_info=exc,
            extra={**fields, "event": "reconcileError", "retries": retries + 1},
        )
        return
    queue.forget(key)
    if result is None:
        st.succeeded += 1
        return
    st.requeued_after += 1
    queue.add_after(key, float(result))
