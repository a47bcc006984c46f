"""Random sequences of pool and Service changes; the allocator's invariants hold after every step.

Pools come and go with and without ``serviceAllocation`` (a namespace list, a namespace selector, Service
selectors), and Services change their labels, sharing key and traffic policy. So the invariants meet pools
that refuse a Service and Services whose backend keys differ. They judge with the test's own reading of
MetalLB's rules (``_admits``, ``_may_share``), never with the allocator's code.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

from alloc_helpers import config, service
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from crds.addresses import format_ip
from crds.config import Config, Pool
from crds.meta import LabelSelector
from reconciler.core.allocator import Allocator
from reconciler.core.balancer import allocate_all, converge
from reconciler.core.services import ServiceView

POOL_SHAPES: dict[str, list[Any]] = {
    "a": [["10.0.0.0/30"], ["10.0.0.0/31"], ["10.0.0.1-10.0.0.3"]],
    "b": [["10.0.1.0/31", "fc00::/127"], ["10.0.1.0/32"]],
    "c": [
        ["10.0.2.0/30"],
        {"addresses": ["10.0.2.0/30"], "serviceAllocation": {"namespaces": ["team"]}},
        {"addresses": ["10.0.2.0/31"], "serviceAllocation": {"serviceSelectors": [{"matchLabels": {"tier": "web"}}]}},
    ],
    "d": [
        {
            "addresses": ["10.0.3.0/31"],
            "serviceAllocation": {"priority": 5, "namespaceSelectors": [{"matchLabels": {"env": "prod"}}]},
        },
        {"addresses": ["10.0.3.0/31"], "serviceAllocation": {"serviceSelectors": [{"matchLabels": {"tier": "db"}}]}},
    ],
}
NAMES = [f"s{i}" for i in range(6)]
# Odd Services live in "team", whose Namespace carries env=prod; the others in "default" (no labels).
NAMESPACE_OF = {name: ("team" if i % 2 else "default") for i, name in enumerate(NAMES)}
NAMESPACE_LABELS: dict[str, Mapping[str, str]] = {"default": {}, "team": {"env": "prod"}}


def _key(name: str) -> str:
    return f"{NAMESPACE_OF[name]}/{name}"


def _matches(selectors: Sequence[LabelSelector], labels: Mapping[str, str]) -> bool:
    """Every selector in POOL_SHAPES uses only matchLabels."""
    return any(all(labels.get(k) == v for k, v in (s.match_labels or {}).items()) for s in selectors)


def _admits(pool: Pool, view: ServiceView) -> bool:
    """A pool's ``serviceAllocation`` admits the Service: its namespace (by list or selector), then its labels."""
    rule = pool.allocation
    if rule is None:
        return True
    if (rule.namespaces or rule.namespace_selectors) and not (
        view.namespace in rule.namespaces or _matches(rule.namespace_selectors, NAMESPACE_LABELS[view.namespace])
    ):
        return False
    return not rule.service_selectors or _matches(rule.service_selectors, view.labels)


def _pools_holding(cfg: Config, ip: str) -> set[str]:
    addr = ipaddress.ip_address(ip)
    return {
        pool.name
        for pool in cfg.pools.values()
        for entry in pool.entries
        if entry.family == addr.version and entry.first <= int(addr) <= entry.last
    }


def _may_share(x: ServiceView, y: ServiceView) -> bool:
    """MetalLB's sharing rule: the same non-empty sharing key, the same backend key, no common port."""
    return (
        bool(x.sharing_key)
        and x.sharing_key == y.sharing_key
        and x.backend_key == y.backend_key
        and not (x.ports & y.ports)
    )


class Churn(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pools: dict[str, Any] = {"a": POOL_SHAPES["a"][0]}
        self.cfg: Config = config(**self.pools)
        self.alloc = Allocator(self.cfg)
        self.specs: dict[str, dict[str, Any]] = {}
        self.status: dict[str, tuple[str, ...]] = {}

    def view(self, name: str) -> ServiceView:
        return service(name, ns=NAMESPACE_OF[name], ingress=self.status.get(name, ()), **self.specs[name])

    def converge_one(self, name: str) -> None:
        view = self.view(name)
        out = converge(self.alloc, view, namespace_labels=NAMESPACE_LABELS[view.namespace])
        self.status[name] = tuple(format_ip(f, v) for f, v in out.ips)

    @rule(
        name=st.sampled_from(NAMES),
        port=st.sampled_from([80, 443]),
        key=st.sampled_from(["", "k1", "k2"]),
        pool=st.sampled_from([None, "a", "b", "c", "d", "missing"]),
        lb_ip=st.sampled_from([None, "10.0.0.1", "10.0.1.0", "10.0.2.1", "10.0.3.0"]),
        tier=st.sampled_from([None, "web", "db"]),
        backend=st.sampled_from([None, "x", "y"]),
    )
    def upsert_service(
        self, name: str, port: int, key: str, pool: str | None, lb_ip: str | None, tier: str | None, backend: str | None
    ) -> None:
        annotations = {}
        if key:
            annotations["metallb.io/allow-shared-ip"] = key
        if pool:
            annotations["metallb.io/address-pool"] = pool
        spec: dict[str, Any] = {"ports": (port,), "annotations": annotations, "lb_ip": lb_ip}
        spec["labels"] = {"tier": tier} if tier else {}
        if backend:  # externalTrafficPolicy Local: the selector becomes the backend key
            spec.update(etp="Local", selector={"app": backend})
        self.specs[name] = spec
        self.converge_one(name)

    @rule(name=st.sampled_from(NAMES))
    def delete_service(self, name: str) -> None:
        if name in self.specs:
            del self.specs[name]
            self.status.pop(name, None)
            self.alloc.release(_key(name))

    @rule(data=st.data())
    def change_pools(self, data: st.DataObject) -> None:
        chosen = data.draw(st.sets(st.sampled_from(sorted(POOL_SHAPES)), min_size=1))
        self.pools = {n: data.draw(st.sampled_from(POOL_SHAPES[n])) for n in sorted(chosen)}
        self.cfg = config(**self.pools)
        self.alloc.set_config(self.cfg)
        for name in sorted(self.specs):
            self.converge_one(name)

    @rule()
    def resync(self) -> None:
        for name in sorted(self.specs):
            self.converge_one(name)

    @invariant()
    def no_ip_on_two_services_unless_they_may_share(self) -> None:
        holders: dict[str, list[str]] = {}
        for name, addrs in self.status.items():
            for ip in addrs:
                holders.setdefault(ip, []).append(name)
        for names in holders.values():
            for x, y in combinations(names, 2):
                assert _may_share(self.view(x), self.view(y)), (x, y)

    @invariant()
    def every_ip_is_inside_one_pool_that_admits_the_service(self) -> None:
        for name, addrs in self.status.items():
            if not addrs:
                continue
            view = self.view(name)
            holding = set.union(*(_pools_holding(self.cfg, ip) for ip in addrs))
            assert len(holding) == 1, (name, addrs, holding)
            pool = self.cfg.pools[holding.pop()]
            assert _admits(pool, view), (name, pool.name, view.namespace, dict(view.labels))
            alloc = self.alloc.allocation(view.key)
            assert alloc is not None and alloc.addresses == addrs and alloc.pool == pool.name

    @invariant()
    def starting_from_scratch_keeps_every_ip(self) -> None:
        views = [self.view(n) for n in sorted(self.specs)]
        _, outcomes = allocate_all(self.cfg, views, namespaces=NAMESPACE_LABELS)
        for name, addrs in self.status.items():
            if addrs:
                got = tuple(format_ip(f, v) for f, v in outcomes[_key(name)].ips)
                assert got == addrs, (name, addrs, got)


TestChurn = Churn.TestCase
TestChurn.settings = settings(
    max_examples=150, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
