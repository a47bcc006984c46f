"""Random sequences of pool and Service changes; the allocator's invariants hold after every step."""

from __future__ import annotations

from itertools import combinations

from alloc_helpers import config, service
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from crds.addresses import format_ip
from crds.config import Config
from reconciler.core.allocator import Allocator
from reconciler.core.balancer import allocate_all, converge
from reconciler.core.services import ServiceView

POOL_SHAPES = {
    "a": [["10.0.0.0/30"], ["10.0.0.0/31"], ["10.0.0.1-10.0.0.3"]],
    "b": [["10.0.1.0/31", "fc00::/127"], ["10.0.1.0/32"]],
    "c": [["10.0.2.0/30"]],
}
NAMES = [f"s{i}" for i in range(6)]


class Churn(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pools: dict[str, list[str]] = {"a": POOL_SHAPES["a"][0]}
        self.cfg: Config = config(**self.pools)
        self.alloc = Allocator(self.cfg)
        self.specs: dict[str, dict[str, object]] = {}
        self.status: dict[str, tuple[str, ...]] = {}

    def view(self, name: str) -> ServiceView:
        spec = dict(self.specs[name])
        return service(name, ingress=self.status.get(name, ()), **spec)  # type: ignore[arg-type]

    def converge_one(self, name: str) -> None:
        out = converge(self.alloc, self.view(name))
        self.status[name] = tuple(format_ip(f, v) for f, v in out.ips)

    @rule(
        name=st.sampled_from(NAMES),
        port=st.sampled_from([80, 443]),
        key=st.sampled_from(["", "k1", "k2"]),
        pool=st.sampled_from([None, "a", "b", "c", "missing"]),
        lb_ip=st.sampled_from([None, "10.0.0.1", "10.0.1.0"]),
    )
    def upsert_service(self, name: str, port: int, key: str, pool: str | None, lb_ip: str | None) -> None:
        annotations = {}
        if key:
            annotations["metallb.io/allow-shared-ip"] = key
        if pool:
            annotations["metallb.io/address-pool"] = pool
        self.specs[name] = {"ports": (port,), "annotations": annotations, "lb_ip": lb_ip}
        self.converge_one(name)

    @rule(name=st.sampled_from(NAMES))
    def delete_service(self, name: str) -> None:
        if name in self.specs:
            del self.specs[name]
            self.status.pop(name, None)
            self.alloc.release(f"default/{name}")

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
                vx, vy = self.view(x), self.view(y)
                assert vx.sharing_key and vx.sharing_key == vy.sharing_key, (x, y)
                assert not (vx.ports & vy.ports), (x, y)

    @invariant()
    def every_ip_is_inside_one_pool_that_admits_the_service(self) -> None:
        for name, addrs in self.status.items():
            if not addrs:
                continue
            alloc = self.alloc.allocation(f"default/{name}")
            assert alloc is not None and alloc.addresses == addrs
            pool = self.alloc.pool_for_ips(alloc.ips)
            assert pool is not None and pool.name == alloc.pool

    @invariant()
    def starting_from_scratch_keeps_every_ip(self) -> None:
        views = [self.view(n) for n in sorted(self.specs)]
        _, outcomes = allocate_all(self.cfg, views)
        for name, addrs in self.status.items():
            if addrs:
                got = tuple(format_ip(f, v) for f, v in outcomes[f"default/{name}"].ips)
                assert got == addrs, (name, addrs, got)


TestChurn = Churn.TestCase
TestChurn.settings = settings(
    max_examples=150, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
