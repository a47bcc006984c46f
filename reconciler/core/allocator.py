"""The IP allocator: which addresses each LoadBalancer Service holds. Pure: no I/O, no clock, no logging.

State is a set of allocations (Service key → pool, IPs, ports, sharing and backend keys) over the pools of
one ``crds.Config``. Public methods check every rule and raise ``AllocationError`` with the user-facing
reason (MetalLB's text where MetalLB has one); ``_record``/``_forget`` trust their caller and keep the
indexes coherent. A broken index raises ``InternalInvariantError``: a bug, not a user error.

Addresses are integers; pools are intervals and are never enumerated. Per pool and family the IPs in use
are a sorted list, and the lowest free address of an entry is found by binary search over the run of used
addresses that starts at the entry (the ``used[i] - i`` sequence is non-decreasing), so finding an IP costs
O(log n) in the number of allocations, whatever the pool's size.

Better than MetalLB, on purpose:

* the choice among equally suitable pools is deterministic (priority, then name), never map order;
* ``set_config`` keeps every allocation whose IPs are still inside a pool that admits the Service, and
  reports exactly the ones that must move;
* a pool restricted to namespaces (by list or by selector) is never handed to other namespaces, even by an
  explicit IP request (MetalLB lets any namespace in when the selectors match no namespace).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from crds.addresses import format_ip
from crds.config import Config, Pool
from crds.errors import InternalInvariantError
from crds.meta import selector_matches
from crds.text import go_quote

__all__ = [
    "IP",
    "Allocation",
    "AllocationError",
    "Allocator",
    "PoolCounters",
    "Port",
    "ServiceRequest",
    "format_ips",
]

Family = Literal[4, 6]
IP = tuple[Family, int]
"""An address as (family, integer); sorts and hashes cheaply and never needs parsing again."""

Policy = Literal["SingleStack", "PreferDualStack", "RequireDualStack"]
_INT64_MAX = 2**63 - 1


class AllocationError(Exception):
    """A Service cannot get the addresses it wants; ``str()`` is the reason shown to the user."""


@dataclass(frozen=True, order=True, slots=True)
class Port:
    protocol: str
    port: int

    def __str__(self) -> str:
        return f"{self.protocol}/{self.port}"


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """What the allocator needs to know of a Service (built by ``reconciler.core.services``).

    One is kept per allocation (``Allocator._requests``), so its mappings and sets are shared, never copied:
    ``labels`` is the Store's own dict, ``namespace_labels`` the Namespace's, ``ports`` an interned frozenset.
    Treat them as read-only."""

    key: str
    namespace: str
    families: tuple[Family, ...]
    policy: Policy = "SingleStack"
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] | None = None
    ports: frozenset[Port] = frozenset()
    sharing_key: str = ""
    backend_key: str = ""
    prefer_ipv6: bool = False

    @property
    def family(self) -> str:
        """``ipv4``, ``ipv6`` or ``dual`` (MetalLB's words in messages)."""
        fams = set(self.families)
        if fams == {4, 6}:
            return "dual"
        return "ipv6" if 6 in fams else "ipv4"


@dataclass(frozen=True, slots=True)
class Allocation:
    pool: str
    ips: tuple[IP, ...]
    ports: frozenset[Port]
    sharing_key: str
    backend_key: str

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(format_ip(f, v) for f, v in self.ips)


@dataclass(frozen=True, slots=True)
class PoolCounters:
    assigned_ipv4: int
    assigned_ipv6: int
    available_ipv4: int
    available_ipv6: int


def format_ips(ips: Iterable[IP]) -> str:
    """Go's ``%q`` of an IP slice: ``["10.0.0.1" "fc00::1"]``."""
    return "[" + " ".join(f'"{format_ip(f, v)}"' for f, v in ips) + "]"


def _buggy(ip: IP) -> bool:
    """IPv4 addresses ending in .0 or .255 confuse the smurf protection of some old CPE firmware."""
    family, value = ip
    return family == 4 and (value & 0xFF) in (0, 255)


def _count_residue(first: int, last: int, residue: int) -> int:
    """How many n in [first, last] have n % 256 == residue."""
    return (last - residue) // 256 - (first - 1 - residue) // 256


@dataclass(slots=True)
class _IPUse:
    """Who uses one IP. Invariant: ``services`` is non-empty; all of them share the two keys."""

    sharing_key: str
    backend_key: str
    services: dict[str, frozenset[Port]] = field(default_factory=dict)


class Allocator:
    """Allocations over one Config's pools. Not thread-safe; one owner (the controller's reconcile loop)."""

    def __init__(self, config: Config | None = None) -> None:
        self._config = config or Config()
        self._entries: list[tuple[Family, int, int, str]] = []  # sorted (family, first, last, pool)
        self._allocations: dict[str, Allocation] = {}
        self._ips: dict[IP, _IPUse] = {}
        self._used: dict[tuple[str, Family], list[int]] = {}  # (pool, family) -> sorted IPs in use
        self._shared: dict[tuple[str, str], set[IP]] = {}  # (pool, sharing key) -> IPs with that key
        self._requests: dict[str, ServiceRequest] = {}  # the request each allocation was made for
        self._index_pools()

    # --- configuration -------------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    def _index_pools(self) -> None:
        self._entries = sorted(
            (e.family, e.first, e.last, p.name) for p in self._config.pools.values() for e in p.entries
        )
        pools = list(self._config.pools.values())
        # The candidate lists ``allocate`` walks are fixed for a config: built once, not per Service.
        self._fallback = [p for p in pools if p.auto_assign and p.allocation is None]
        self._fallback_index = {p.name: i for i, p in enumerate(self._fallback)}
        self._pinnable = [
            p
            for p in pools
            if p.allocation is not None
            and p.auto_assign
            and (p.allocation.namespaces or p.allocation.namespace_selectors or p.allocation.service_selectors)
        ]
        # Per family, the index of the first fallback pool that may still have a free address of it: every pool
        # before it was seen full. Filling pools in name order would otherwise make each new Service re-check
        # every full pool before the first with room (quadratic: 100,000 Services over 1,000 pools took 37 s).
        # A release lowers it again (``_forget``).
        self._first_open: dict[Family, int] = {4: 0, 6: 0}

    def set_config(self, config: Config) -> dict[str, str]:
        """Adopt new pools. Keeps every allocation still valid; returns the dropped ones with the reason.

        An allocation stays when all its IPs are inside one pool (possibly renamed or reshaped) that admits
        the Service's namespace and labels as recorded. It is dropped when an IP left every pool, or its
        new pool no longer admits the Service.
        """
        old = dict(self._allocations)
        requests = dict(self._requests)
        for key in list(self._allocations):
            self._forget(key)
        self._config = config
        self._index_pools()
        dropped: dict[str, str] = {}
        for key, alloc in sorted(old.items()):
            pool = self._pool_for(alloc.ips)
            if pool is None:
                dropped[key] = f"{format_ips(alloc.ips)} is no longer in any pool"
                continue
            req = requests.get(key)
            if req is not None and not self._compatible(pool, req):
                dropped[key] = f"pool {pool.name} no longer admits the service"
                continue
            self._record(key, Allocation(pool.name, alloc.ips, alloc.ports, alloc.sharing_key, alloc.backend_key))
            if req is not None:
                self._requests[key] = req
        return dropped

    # --- queries -------------------------------------------------------------------------------------

    def allocation(self, key: str) -> Allocation | None:
        return self._allocations.get(key)

    def allocations(self) -> Mapping[str, Allocation]:
        return self._allocations

    def services_on(self, ip: IP) -> tuple[str, ...]:
        use = self._ips.get(ip)
        return tuple(sorted(use.services)) if use else ()

    def pool_for_ips(self, ips: Sequence[IP]) -> Pool | None:
        return self._pool_for(ips)

    def counters(self, pool_name: str) -> PoolCounters:
        pool = self._config.pools.get(pool_name)
        cap4 = cap6 = 0
        if pool is not None:
            for entry in pool.entries:
                size = entry.size
                if pool.avoid_buggy_ips and entry.family == 4:
                    size -= _count_residue(entry.first, entry.last, 0) + _count_residue(entry.first, entry.last, 255)
                if entry.family == 4:
                    cap4 += size
                else:
                    cap6 += size
        used4 = len(self._used.get((pool_name, 4), ()))
        used6 = len(self._used.get((pool_name, 6), ()))
        return PoolCounters(
            assigned_ipv4=used4,
            assigned_ipv6=used6,
            available_ipv4=min(cap4 - used4, _INT64_MAX),
            available_ipv6=min(cap6 - used6, _INT64_MAX),
        )

    # --- the checked public operations ---------------------------------------------------------------

    def release(self, key: str) -> Allocation | None:
        """Free the Service's addresses; idempotent."""
        self._requests.pop(key, None)
        return self._forget(key)

    def assign(self, req: ServiceRequest, ips: Sequence[IP]) -> Allocation:
        """Give ``req`` exactly ``ips`` (requested IPs, or re-claiming what it already holds)."""
        pool = self._pool_for(ips)
        if pool is None:
            raise AllocationError(f"{format_ips(ips)} is not allowed in config")
        if not self._compatible(pool, req):
            raise AllocationError(f"pool {pool.name} not compatible for ip assignment")
        if len(ips) > 2:
            raise AllocationError(f"more than two addresses {format_ips(ips)}")
        if len(ips) == 2 and ips[0][0] == ips[1][0]:
            a, b = (f'"{format_ip(f, v)}"' for f, v in ips)
            raise AllocationError(f"{a} {b} has the same family")
        return self._assign_in(pool.name, req, ips)

    def _assign_in(self, pool_name: str, req: ServiceRequest, ips: Sequence[IP]) -> Allocation:
        """``assign`` where the caller knows the IPs (at most one per family) lie in ``pool_name``, which admits
        ``req``: only the sharing rules are left to check."""
        for ip in ips:
            problem = self._sharing_problem(req, ip)
            if problem:
                raise AllocationError(problem)
        alloc = Allocation(pool_name, tuple(ips), req.ports, req.sharing_key, req.backend_key)
        self._forget(req.key)
        self._record(req.key, alloc)
        self._requests[req.key] = req
        return alloc

    def allocate_from_pool(self, req: ServiceRequest, pool_name: str) -> Allocation:
        """An address from the named pool (``metallb.io/address-pool``; ``autoAssign: false`` pools too)."""
        current = self._allocations.get(req.key)
        if current is not None and current.pool == pool_name:
            return self.assign(req, current.ips)
        pool = self._config.pools.get(pool_name)
        if pool is None:
            raise AllocationError(f"unknown pool {go_quote(pool_name)}")
        if not self._compatible(pool, req):
            raise AllocationError(f"pool {pool.name} not compatible for ip assignment")
        free = self._free_ips(pool, req)
        if not free:
            raise AllocationError(f"no available IPs in pool {pool.name}")
        return self._assign_in(pool.name, req, self._select(pool.name, free, req))

    def allocate(self, req: ServiceRequest) -> Allocation:
        """The lowest free address of the most suitable pool: pinned pools by priority, then the rest by name."""
        current = self._allocations.get(req.key)
        if current is not None:
            return self.assign(req, current.ips)
        pinned = self._pinned_pools(req)
        for candidates, fallback in ((pinned, False), (self._fallback, True)):
            if not candidates:
                continue
            chosen = self._best_pool(candidates, req, fallback=fallback)
            if chosen is not None:
                pool, free = chosen
                try:
                    return self._assign_in(pool.name, req, self._select(pool.name, free, req))
                except AllocationError:
                    continue
        tried = [p.name for p in (*pinned, *self._fallback)]
        # MetalLB says only "no available IPs"; naming the pools tried tells the user where to look.
        if not tried:
            raise AllocationError("no available IPs: no pool with autoAssign admits this service")
        names = ", ".join(go_quote(n) for n in sorted(set(tried)))
        raise AllocationError(f"no available IPs in pool{'s' if len(set(tried)) > 1 else ''} {names}")

    def allocate_additional_family(self, req: ServiceRequest) -> IP:
        """PreferDualStack with one address: add the other family from the same pool, keeping the first."""
        current = self._allocations.get(req.key)
        if current is None or len(current.ips) != 1:
            raise InternalInvariantError("allocate_additional_family needs exactly one allocated IP")
        pool = self._config.pools.get(current.pool)
        if pool is None:
            raise AllocationError(f"unknown pool {go_quote(current.pool)}")
        missing: Family = 6 if current.ips[0][0] == 4 else 4
        free = self._free_ips(pool, req).get(missing)
        if free is None:
            family = "ipv6" if missing == 6 else "ipv4"
            raise AllocationError(f"no available IPs in pool {pool.name} for {family} IPFamily")
        ips = (current.ips[0], (missing, free))
        self.assign(req, ips)
        return (missing, free)

    # --- pools ---------------------------------------------------------------------------------------

    def _pool_for(self, ips: Sequence[IP]) -> Pool | None:
        """The one pool containing every IP (a buggy IP does not count as inside an avoidBuggyIPs pool)."""
        names = set()
        for ip in ips:
            i = bisect.bisect_right(self._entries, (ip[0], ip[1], 2**128, "\uffff")) - 1
            if i < 0:
                return None
            family, first, last, name = self._entries[i]
            if family != ip[0] or not first <= ip[1] <= last:
                return None
            pool = self._config.pools[name]
            if pool.avoid_buggy_ips and _buggy(ip):
                return None
            names.add(name)
        if len(names) != 1:
            return None
        return self._config.pools[names.pop()]

    def _compatible(self, pool: Pool, req: ServiceRequest) -> bool:
        alloc = pool.allocation
        if alloc is None:
            return True
        restricted = bool(alloc.namespaces or alloc.namespace_selectors)
        if restricted:
            in_list = req.namespace in alloc.namespaces
            by_label = req.namespace_labels is not None and any(
                selector_matches(s, dict(req.namespace_labels)) for s in alloc.namespace_selectors
            )
            if not (in_list or by_label):
                return False
        if alloc.service_selectors:
            return any(selector_matches(s, dict(req.labels)) for s in alloc.service_selectors)
        return True

    def _pinned_pools(self, req: ServiceRequest) -> list[Pool]:
        if not self._pinnable:
            return []  # the usual config: no pool restricted to namespaces or Services
        pools = [p for p in self._pinnable if self._compatible(p, req)]
        # Lower priority number first; unset (0) last; ties by name (MetalLB: random).
        return sorted(
            pools,
            key=lambda p: (
                p.allocation is None or p.allocation.priority <= 0,
                p.allocation.priority if p.allocation else 0,
                p.name,
            ),
        )

    def _best_pool(
        self, pools: Sequence[Pool], req: ServiceRequest, *, fallback: bool = False
    ) -> tuple[Pool, dict[Family, int]] | None:
        """MetalLB's ``findBestPoolForService``, over pools in a deterministic order.

        With ``fallback`` (``pools`` is ``self._fallback``) the pools known to have no free address of the
        wanted families are skipped: they could not be chosen. Not with a sharing key, whose shared addresses
        a full pool may still offer.
        """
        primary: Family = 6 if req.prefer_ipv6 else 4
        secondary: Family = 4 if primary == 6 else 6
        first_primary = first_secondary = None
        wanted = set(req.families)
        track = fallback and not req.sharing_key
        start = min(self._first_open[f] for f in wanted) if track and wanted else 0
        for i in range(start, len(pools)):
            pool = pools[i]
            free = self._free_ips(pool, req)
            if track:
                for family in (4, 6):
                    if family not in free and self._first_open[family] == i:
                        self._first_open[family] = i + 1
            if not free:
                continue
            if len(wanted) == 1:
                if next(iter(wanted)) in free:
                    return pool, free
                continue
            if primary in free and secondary in free:
                return pool, free
            if req.policy != "PreferDualStack":
                continue
            if primary in free and first_primary is None:
                first_primary = (pool, free)
            if secondary in free and first_secondary is None:
                first_secondary = (pool, free)
        return first_primary or first_secondary

    def _select(self, pool_name: str, free: Mapping[Family, int], req: ServiceRequest) -> list[IP]:
        v4, v6 = free.get(4), free.get(6)
        if req.family == "ipv4":
            if v4 is not None:
                return [(4, v4)]
        elif req.family == "ipv6":
            if v6 is not None:
                return [(6, v6)]
        elif req.policy in ("RequireDualStack", "PreferDualStack") and v4 is not None and v6 is not None:
            return [(4, v4), (6, v6)]
        elif req.policy == "PreferDualStack" and (v4 is not None or v6 is not None):
            return [(4, v4)] if v4 is not None else [(6, v6)]  # type: ignore[list-item]
        raise AllocationError(f"no available IPs in pool {pool_name} for {req.family} IPFamily")

    # --- free addresses ------------------------------------------------------------------------------

    def _free_ips(self, pool: Pool, req: ServiceRequest) -> dict[Family, int]:
        """Per family, the lowest address of the pool this Service could take (free, or shareable)."""
        out: dict[Family, int] = {}
        for entry in pool.entries:
            if entry.family in out:
                continue
            used = self._used.get((pool.name, entry.family), [])
            candidate = _lowest_free(used, entry.first, entry.last, pool.avoid_buggy_ips and entry.family == 4)
            if candidate is not None:
                out[entry.family] = candidate
        if req.sharing_key:
            for ip in sorted(self._shared.get((pool.name, req.sharing_key), ())):
                family, value = ip
                if family in out and out[family] < value:
                    continue
                if self._sharing_problem(req, ip) is None:
                    out[family] = value
        return out

    def _sharing_problem(self, req: ServiceRequest, ip: IP) -> str | None:
        """Why ``req`` may not use ``ip`` next to its current users, or None (MetalLB's texts)."""
        use = self._ips.get(ip)
        if use is None:
            return None
        others = sorted(k for k in use.services if k != req.key)
        if not others:
            return None
        key_problem = None
        if not use.sharing_key:
            key_problem = "existing service does not allow sharing"
        elif not req.sharing_key:
            key_problem = "new service does not allow sharing"
        elif use.sharing_key != req.sharing_key:
            key_problem = (
                f"sharing key {go_quote(req.sharing_key)} does not match existing sharing key "
                f"{go_quote(use.sharing_key)}"
            )
        elif use.backend_key != req.backend_key:
            key_problem = (
                f"backend key {go_quote(req.backend_key)} does not match existing sharing key "
                f"{go_quote(use.backend_key)}"
            )
        if key_problem:
            return f"cannot share {format_ip(*ip)} with {', '.join(others)}: {key_problem}"
        for other in others:
            clash = sorted(req.ports & use.services[other])
            if clash:
                port = clash[0]
                return f"cannot share {format_ip(*ip)} with {other}: port {port.port}/{port.protocol} in use"
        return None

    # --- trusted bookkeeping -------------------------------------------------------------------------

    def _record(self, key: str, alloc: Allocation) -> None:
        self._allocations[key] = alloc
        for ip in alloc.ips:
            use = self._ips.get(ip)
            if use is None:
                use = self._ips[ip] = _IPUse(alloc.sharing_key, alloc.backend_key)
                bisect.insort(self._used.setdefault((alloc.pool, ip[0]), []), ip[1])
                if alloc.sharing_key:
                    self._shared.setdefault((alloc.pool, alloc.sharing_key), set()).add(ip)
            elif len(use.services) == 0:
                raise InternalInvariantError(f"IP {format_ip(*ip)} indexed with no services")
            else:
                # The sole user re-keying in place (MetalLB allows it) takes the new keys.
                if set(use.services) <= {key} and (use.sharing_key, use.backend_key) != (
                    alloc.sharing_key,
                    alloc.backend_key,
                ):
                    self._reindex_sharing(alloc.pool, ip, use, alloc)
            use.services[key] = alloc.ports

    def _reindex_sharing(self, pool: str, ip: IP, use: _IPUse, alloc: Allocation) -> None:
        if use.sharing_key:
            self._shared.get((pool, use.sharing_key), set()).discard(ip)
        use.sharing_key, use.backend_key = alloc.sharing_key, alloc.backend_key
        if alloc.sharing_key:
            self._shared.setdefault((pool, alloc.sharing_key), set()).add(ip)

    def _forget(self, key: str) -> Allocation | None:
        alloc = self._allocations.pop(key, None)
        if alloc is None:
            return None
        for ip in alloc.ips:
            use = self._ips.get(ip)
            if use is None or key not in use.services:
                raise InternalInvariantError(f"{key} holds {format_ip(*ip)} but the IP index disagrees")
            del use.services[key]
            if use.services:
                continue
            del self._ips[ip]
            used = self._used[(alloc.pool, ip[0])]
            i = bisect.bisect_left(used, ip[1])
            if i == len(used) or used[i] != ip[1]:
                raise InternalInvariantError(f"{format_ip(*ip)} missing from the in-use list of {alloc.pool}")
            used.pop(i)
            index = self._fallback_index.get(alloc.pool)
            if index is not None and index < self._first_open[ip[0]]:
                self._first_open[ip[0]] = index
            if use.sharing_key:
                self._shared.get((alloc.pool, use.sharing_key), set()).discard(ip)
        return alloc


def _lowest_free(used: list[int], first: int, last: int, avoid_buggy: bool) -> int | None:
    """The lowest address in [first, last] not in ``used`` (sorted), skipping .0/.255 when asked.

    Within ``used``, ``used[j] - j`` never decreases, so the run of consecutive used addresses starting at
    ``x`` ends where ``used[j] - j`` first exceeds ``x - i``: a binary search, not a scan.
    """
    x = first
    while x <= last:
        i = bisect.bisect_left(used, x)
        lo, hi = i, len(used)
        target = x - i
        while lo < hi:
            mid = (lo + hi) // 2
            if used[mid] - mid == target:
                lo = mid + 1
            else:
                hi = mid
        candidate = x + (lo - i)
        if candidate > last:
            return None
        if avoid_buggy and (candidate & 0xFF) in (0, 255):
            x = candidate + 1
            continue
        return candidate
    return None
