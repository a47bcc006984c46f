"""Leader election on a ``coordination.k8s.io/v1`` Lease (client-go's leaderelection, on asyncio).

How: every candidate reads the Lease; if it is free, expired (by *our* clock) or ours, it writes itself as holder
with ``PUT`` carrying the resourceVersion it read, so of two racing writers one gets 409 Conflict and loses.
The leader renews every ``retry_period``; if no renewal succeeds for ``renew_deadline`` it stops leading (the
callback is cancelled and ``run`` raises ``LeadershipLost``). On a clean stop the leader releases the Lease
(empty holder, ``leaseDurationSeconds=1``) so another replica takes over at its next retry instead of waiting for
expiry.

What is NOT guaranteed (client-go says the same):

* No fencing. Two replicas may both believe they lead for a while (a paused process, a partition); work done under
  leadership must be safe to repeat or be idempotent. Leader election only makes duplicates rare.
* Only locally measured monotonic time is trusted: a follower considers a lease expired ``lease_duration`` after it
  *observed* the last change of the record, not by the renewTime written in it, so wall-clock skew between nodes
  does not matter. Clock *rate* skew does: the gap ``lease_duration - renew_deadline`` is the tolerance for the
  leader's and the followers' clocks running at different speeds.

The constructor rejects inconsistent durations: ``lease_duration > renew_deadline > JITTER_FACTOR * retry_period``.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from reconciler.runtime.clock import Clock, RealClock, wait_for
from reconciler.runtime.errors import ApiError, Conflict, LeadershipLost, NotFound
from reconciler.runtime.resources import LEASES, ResourceType

__all__ = ["JITTER_FACTOR", "LeaderElector", "LeaseClient"]

JITTER_FACTOR = 1.2
"""client-go's: retries wait ``retry_period * uniform(1, JITTER_FACTOR)``, so renew_deadline must exceed that."""


class LeaseClient(Protocol):
    """The part of ``ApiClient`` the elector uses."""

    async def get(self, res: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]: ...

    async def create(self, res: ResourceType, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]: ...

    async def replace(self, res: ResourceType, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]: ...


def _micro_time(now: datetime.datetime) -> str:
    """RFC 3339 with microseconds, as the Lease's MicroTime fields want."""
    return now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: LeaseClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        """Durations in seconds. Defaults are client-go's (15/10/2): a crashed leader is replaced within ~15 s, a
        clean stop within ~2 s; renewals every 2 s survive a few failed calls before the 10 s deadline."""
        if not identity:
            raise ValueError("identity must not be empty")
        if not namespace or not name:
            raise ValueError("namespace and name of the Lease are required")
        if retry_period <= 0:
            raise ValueError(f"retry_period must be > 0 (got {retry_period})")
        if lease_duration <= renew_deadline:
            raise ValueError(
                f"lease_duration ({lease_duration}) must be greater than renew_deadline ({renew_deadline})"
            )
        if renew_deadline <= JITTER_FACTOR * retry_period:
            raise ValueError(
                f"renew_deadline ({renew_deadline}) must be greater than "
                f"retry_period * {JITTER_FACTOR} ({JITTER_FACTOR * retry_period:g})"
            )
        if lease_duration < 1:
            raise ValueError("lease_duration must be at least 1 s (the Lease stores whole seconds)")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock: Clock = clock or RealClock()
        self._rng = rng or random.Random()
        self._log = logger or logging.getLogger(__name__)
        self._leading = False
        # The last Lease we read or wrote, and when (our monotonic clock) its record last changed.
        self._observed_key: tuple[Any, ...] | None = None
        self._observed_at = 0.0

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def run(self, on_started_leading: Callable[[], Awaitable[None]]) -> None:
        """Acquire, run the callback while renewing, release on the way out.

        Returns when the callback returns; re-raises what the callback raises; raises ``LeadershipLost`` when
        renewal fails past ``renew_deadline`` (the callback is cancelled first). Cancelling ``run`` cancels the
        callback and releases the Lease.
        """
        await self._acquire()

        async def lead() -> None:
            await on_started_leading()

        loop = asyncio.get_running_loop()
        work = loop.create_task(lead(), name=f"leader {self.name} work")
        renew = loop.create_task(self._renew_loop(), name=f"leader {self.name} renew")
        try:
            await asyncio.wait({work, renew}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Stepping down runs to its end even if we are cancelled meanwhile: a stopping program cancels its
            # roots while the returned work's step-down is in flight, and a half-done one would leave the Lease
            # to expire instead of handing it over. It is bounded (the release's timeouts).
            step_down = loop.create_task(self._step_down(work, renew), name=f"leader {self.name} step down")
            cancelled = False
            while not step_down.done():
                try:
                    await asyncio.shield(step_down)
                except asyncio.CancelledError:
                    cancelled = True
            results = step_down.result()
            if cancelled:
                raise asyncio.CancelledError
        lost_exc = results[1]
        if isinstance(lost_exc, LeadershipLost):
            raise lost_exc
        if isinstance(results[0], BaseException) and not isinstance(results[0], asyncio.CancelledError):
            raise results[0]

    async def _step_down(
        self, work: asyncio.Task[None], renew: asyncio.Task[None]
    ) -> tuple[BaseException | None, BaseException | None]:
        """Stop the work and the renewals, then release the Lease unless it was lost; their outcomes."""
        for t in (work, renew):
            t.cancel()
        results = await asyncio.gather(work, renew, return_exceptions=True)
        lost = renew.done() and not renew.cancelled() and isinstance(renew.exception(), LeadershipLost)
        self._leading = False
        if not lost:
            await self._release()
        return results

    # ---- acquire / renew / release -----------------------------------------

    async def _acquire(self) -> None:
        self._log.info(
            "%s: trying to acquire lease %s/%s",
            self.identity,
            self.namespace,
            self.name,
            extra={"op": "leaderElection", "event": "acquiring", "identity": self.identity},
        )
        while not await self._try_acquire_or_renew():
            await self.clock.sleep(self.retry_period * self._rng.uniform(1.0, JITTER_FACTOR))
        self._leading = True
        self._log.info(
            "%s: became leader",
            self.identity,
            extra={"op": "leaderElection", "event": "startedLeading", "identity": self.identity},
        )

    async def _renew_loop(self) -> None:
        while True:
            await self.clock.sleep(self.retry_period)
            started = self.clock.monotonic()
            while True:
                remaining = self.renew_deadline - (self.clock.monotonic() - started)
                if remaining <= 0:
                    self._leading = False
                    self._log.error(
                        "%s: could not renew the lease within %gs; stopping",
                        self.identity,
                        self.renew_deadline,
                        extra={"op": "leaderElection", "event": "leadershipLost", "identity": self.identity},
                    )
                    raise LeadershipLost(f"{self.identity}: lease {self.namespace}/{self.name} not renewed")
                try:
                    ok = await wait_for(self.clock, self._try_acquire_or_renew(), remaining)
                except TimeoutError:
                    ok = False
                if ok:
                    break
                await self.clock.sleep(min(self.retry_period, max(0.0, remaining)))

    async def _try_acquire_or_renew(self) -> bool:
        """One attempt (client-go's tryAcquireOrRenew). False: someone else holds it, or we lost a race."""
        now = _micro_time(self.clock.now())
        try:
            lease = await self.client.get(LEASES, self.name, self.namespace)
        except NotFound:
            lease = None
        except ApiError as exc:
            self._warn("getFailed", exc)
            return False
        spec: dict[str, Any]
        if lease is None:
            spec = {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.lease_duration),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            }
            body = {"metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
            try:
                created = await self.client.create(LEASES, body, self.namespace)
            except ApiError as exc:  # Conflict: another candidate created it first
                self._warn("createFailed", exc)
                return False
            self._observe(created)
            return True

        self._observe(lease)
        old = lease.get("spec") or {}
        holder = old.get("holderIdentity") or ""
        duration = float(old.get("leaseDurationSeconds") or self.lease_duration)
        if holder and holder != self.identity and self.clock.monotonic() < self._observed_at + duration:
            return False  # held by someone else and not expired by our clock
        spec = dict(old)
        spec.update(holderIdentity=self.identity, leaseDurationSeconds=int(self.lease_duration), renewTime=now)
        if holder != self.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + 1
        body = {**lease, "spec": spec}  # metadata keeps resourceVersion: optimistic concurrency
        try:
            updated = await self.client.replace(LEASES, body, self.namespace)
        except Conflict:
            return False  # someone wrote in between; read again next time
        except ApiError as exc:
            self._warn("updateFailed", exc)
            return False
        self._observe(updated)
        return True

    async def _release(self) -> None:
        """Give the Lease up if we hold it (best effort, bounded by ``retry_period``)."""
        try:
            lease = await wait_for(self.clock, self.client.get(LEASES, self.name, self.namespace), self.retry_period)
            if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            now = _micro_time(self.clock.now())
            spec = {**(lease.get("spec") or {}), "holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": now}
            spec["acquireTime"] = now
            await wait_for(self.clock, self.client.replace(LEASES, {**lease, "spec": spec}, self.namespace), 5.0)
            self._log.info(
                "%s: released the lease",
                self.identity,
                extra={"op": "leaderElection", "event": "released", "identity": self.identity},
            )
        except (ApiError, TimeoutError) as exc:
            self._warn("releaseFailed", exc)

    def _observe(self, lease: dict[str, Any]) -> None:
        spec = lease.get("spec") or {}
        key = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions"))
        if key != self._observed_key:
            self._observed_key = key
            self._observed_at = self.clock.monotonic()

    def _warn(self, event: str, exc: BaseException) -> None:
        self._log.warning(
            "%s: lease %s/%s: %s",
            self.identity,
            self.namespace,
            self.name,
            exc,
            extra={"op": "leaderElection", "event": event, "identity": self.identity},
        )
