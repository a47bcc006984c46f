"""Guarded background tasks (after kopf's aiotasks): every task has a name, failures are logged,
and a program's root tasks live and die together.

Promises:

* ``create_guarded_task(coro, name=..., logger=...)`` names the task and logs its failure, or its unexpected return
  when ``finishable=False``; the exception stays on the task for whoever awaits it.
* ``stop_tasks(tasks, timeout=...)`` cancels, waits up to ``timeout`` and logs any task still running (stuck).
* ``run_until_first_exits(roots)`` runs the root tasks; when any one exits (returns or raises), the others are
  cancelled and awaited, then the first failure is re-raised (a return is logged and ``run_until_first_exits``
  returns). Cancelling it cancels all roots. A program built this way never runs half alive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["create_guarded_task", "run_until_first_exits", "stop_tasks"]

T = TypeVar("T")

_log = logging.getLogger(__name__)


def create_guarded_task(
    coro: Coroutine[Any, Any, T],
    *,
    name: str,
    logger: logging.Logger | None = None,
    finishable: bool = True,
) -> asyncio.Task[T]:
    """A named task whose failure (or, if not ``finishable``, whose return) is logged when it ends."""
    log = logger or _log
    task = asyncio.get_running_loop().create_task(coro, name=name)

    def report(t: asyncio.Task[T]) -> None:
        if t.cancelled():
            return
        exc = t.exception()
        if exc is not None:
            log.error("task %s failed: %s", name, exc, exc_info=exc, extra={"op": "tasks", "event": "taskFailed"})
        elif not finishable:
            log.warning("task %s exited unexpectedly", name, extra={"op": "tasks", "event": "taskExited"})

    task.add_done_callback(report)
    return task


async def stop_tasks(
    tasks: Iterable[asyncio.Task[Any]], *, timeout: float = 10.0, logger: logging.Logger | None = None
) -> None:
    """Cancel ``tasks`` and wait for them up to ``timeout`` seconds; log those still running."""
    log = logger or _log
    pending = [t for t in tasks if not t.done()]
    for t in pending:
        t.cancel()
    if not pending:
        return
    _, stuck = await asyncio.wait(pending, timeout=timeout)
    for t in stuck:
        log.error(
            "task %s did not stop within %gs",
            t.get_name(),
            timeout,
            extra={"op": "tasks", "event": "taskStuck", "task": t.get_name()},
        )


async def run_until_first_exits(
    roots: Mapping[str, Coroutine[Any, Any, Any]],
    *,
    stop_timeout: float = 10.0,
    logger: logging.Logger | None = None,
) -> None:
    """Run named root coroutines until one exits; stop the rest; re-raise the first real failure."""
    log = logger or _log
    if not roots:
        return
    tasks = [create_guarded_task(coro, name=name, logger=log, finishable=False) for name, coro in roots.items()]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await stop_tasks(tasks, timeout=stop_timeout, logger=log)
    # The first to finish explains the stop; prefer a failure over a plain return among those that finished.
    first_failure: BaseException | None = None
    for t in tasks:
        if t in done and not t.cancelled() and t.exception() is not None:
            first_failure = t.exception()
            break
    if first_failure is not None:
        raise first_failure
    names = ", ".join(t.get_name() for t in tasks if t in done)
    log.info("root task %s exited; stopped the others", names, extra={"op": "tasks", "event": "rootExited"})
