"""Allocator and convergeBalancer rules, one scenario per test, named after the rule.

Every failed step goes through ``refused`` (a Service's convergence) or ``refused_call`` (one allocator
operation), which check MetalLB's two things after a failure: nothing was recorded (the allocator's
allocations, per-IP users and pool counters are as before the step), and the inputs were not mutated (the
Config and the Service view still equal copies taken before the step).
"""

from __future__ import annotations

import copy
import dataclasses
import gc
from collections.abc import Callable
from typing import Any

import pytest
from alloc_helpers import config, service, shared

from crds.addresses import format_ip
from reconciler.core.allocator import AllocationError, Allocator, ServiceRequest
from reconciler.core.balancer import Outcome, allocate_all, converge
from reconciler.core.services import ServiceView


def ips(outcome: Outcome) -> list[str]:
    return [format_ip(f, v) for f, v in outcome.ips]


def _recorded(alloc: Allocator) -> tuple[object, ...]:
    """Everything the allocator has recorded, read through its public queries."""
    allocations = dict(alloc.allocations())
    users = {ip: alloc.services_on(ip) for a in allocations.values() for ip in a.ips}
    counters = {name: alloc.counters(name) for name in alloc.config.pools}
    return allocations, users, counters


def _copy_view(view: ServiceView) -> ServiceView:
    """A copy that does not share the labels mapping (the only mutable thing a view holds)."""
    return dataclasses.replace(view, labels=dict(view.labels))


def _copy_request(req: ServiceRequest) -> ServiceRequest:
    ns_labels = None if req.namespace_labels is None else dict(req.namespace_labels)
    return dataclasses.replace(req, labels=dict(req.labels), namespace_labels=ns_labels)


def refused(alloc: Allocator, view: ServiceView, **kwargs: Any) -> Outcome:
    """Converge a Service that holds nothing and must stay pending; check that the failure changed nothing."""
    assert alloc.allocation(view.key) is None, "refused() is for a Service that holds nothing yet"
    before, config_before, view_before = _recorded(alloc), copy.deepcopy(alloc.config), _copy_view(view)
    out = converge(alloc, view, **kwargs)
    assert out.ips == () and out.pending, out
    assert _recorded(alloc) == before
    assert alloc.config == config_before and view == view_before
    return out


def refused_call(alloc: Allocator, operation: Callable[..., object], req: ServiceRequest, *args: Any) -> str:
    """One allocator operation that must raise ``AllocationError``: returns its text after checking that the
    allocator (including what ``req``'s Service held before) and the request are unchanged."""
    before, config_before, req_before = _recorded(alloc), copy.deepcopy(alloc.config), _copy_request(req)
    with pytest.raises(AllocationError) as info:
        operation(req, *args)
    assert _recorded(alloc) == before
    assert alloc.config == config_before and req == req_before
    return str(info.value)


def test_lowest_free_ip_of_the_pool() -> None:
    alloc = Allocator(config(a=["10.0.0.0/30"]))
    assert ips(converge(alloc, service("s1"))) == ["10.0.0.0"]
    assert ips(converge(alloc, service("s2"))) == ["10.0.0.1"]


def test_exhaustion_leaves_the_service_pending_with_the_reason() -> None:
    alloc = Allocator(config(a=["10.0.0.0/31"]))
    converge(alloc, service("s1"))
    converge(alloc, service("s2"))
    out = refused(alloc, service("s3"))
    assert out.pending == 'no available IPs in pool "a"'
    assert [(e.type, e.reason) for e in out.events] == [("Warning", "AllocationFailed")]
    assert out.events[0].message == 'Failed to allocate IP for "default/s3": no available IPs in pool "a"'


def test_released_ip_goes_to_the_next_service() -> None:
    alloc = Allocator(config(a=["10.0.0.0/32"]))
    converge(alloc, service("s1"))
    assert refused(alloc, service("s2")).pending
    converge(alloc, service("s1", type_="ClusterIP"))
    assert ips(converge(alloc, service("s2"))) == ["10.0.0.0"]


def test_avoid_buggy_ips_skips_dot_zero_and_dot_255() -> None:
    alloc = Allocator(config(a={"addresses": ["10.0.0.255-10.0.1.1"], "avoidBuggyIPs": True}))
    assert ips(converge(alloc, service("s1"))) == ["10.0.1.1"]
    assert refused(alloc, service("s2", lb_ip="10.0.1.0")).pending == '["10.0.1.0"] is not allowed in config'
    c = alloc.counters("a")
    assert (c.assigned_ipv4, c.available_ipv4) == (1, 0)


def test_unknown_pool_annotation() -> None:
    alloc = Allocator(config(a=["10.0.0.0/30"]))
    out = refused(alloc, service("s1", annotations={"metallb.io/address-pool": "nope"}))
    assert out.pending == 'unknown pool "nope"'


def test_pool_annotation_uses_auto_assign_false_pool() -> None:
    alloc = Allocator(config(a=["10.0.0.0/30"], manual={"addresses": ["10.1.0.0/30"], "autoAssign": False}))
    assert ips(converge(alloc, service("s1"))) == ["10.0.0.0"]
    out = converge(alloc, service("s2", annotations={"metallb.universe.tf/address-pool": "manual"}))
    assert (ips(out), out.pool) == (["10.1.0.0"], "manual")


def test_auto_assign_false_pool_is_never_used_by_default() -> None:
    alloc = Allocator(config(manual={"addresses": ["10.1.0.0/30"], "autoAssign": False}))
    assert refused(alloc, service("s1")).pending == "no available IPs: no pool with autoAssign admits this service"


def test_requested_ip_by_annotation_and_by_spec() -> None:
    alloc = Allocator(config(a=["10.0.0.0/29"]))
    assert ips(converge(alloc, service("s1", annotations={"metallb.io/loadBalancerIPs": "10.0.0.5"}))) == ["10.0.0.5"]
    assert ips(converge(alloc, service("s2", lb_ip="10.0.0.6"))) == ["10.0.0.6"]


def test_requested_ip_outside_pools() -> None:
    alloc = Allocator(config(a=["10.0.0.0/29"]))
    assert refused(alloc, service("s1", lb_ip="192.168.0.1")).pending == '["192.168.0.1"] is not allowed in config'


def test_both_annotation_and_spec_ip_is_an_error() -> None:
    alloc = Allocator(config(a=["10.0.0.0/29"]))
    out = refused(alloc, service("s1", lb_ip="10.0.0.1", annotations={"metallb.io/loadBalancerIPs": "10.0.0.2"}))
    assert out.pending == "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP"
    assert out.events[0].reason == "LoadBalancerFailed"


def test_requested_ip_in_another_pool_than_the_annotation() -> None:
    alloc = Allocator(config(a=["10.0.0.0/29"], b=["10.1.0.0/29"]))
    out = refused(
        alloc,
        service("s1", annotations={"metallb.io/loadBalancerIPs": "10.0.0.1", "metallb.io/address-pool": "b"}),
    )
    assert out.pending == 'requested loadBalancer IP(s) ["10.0.0.1"] is not compatible with requested address pool b'


def test_changing_the_requested_ip_moves_the_service() -> None:
    alloc = Allocator(config(a=["10.0.0.0/29"]))
    converge(alloc, service("s1", lb_ip="10.0.0.1"))
    out = converge(alloc, service("s1", lb_ip="10.0.0.2", ingress=("10.0.0.1",)))
    assert ips(out) == ["10.0.0.2"]
    assert alloc.services_on((4, 0x0A000001)) == ()


def test_sharing_same_key_disjoint_ports() -> None:
    alloc = Allocator(config(a=["10.0.0.0/30"]))
    a = converge(alloc, service("a", ports=(80,), annotations=shared("k")))
    b = converge(alloc, service("b", ports=(443,), annotations=shared("k")))
    assert ips(a) == ips(b) == ["10.0.0.0"]
    assert alloc.counters("a").assigned_ipv4 == 1


def test_sharing_refused_on_port_clash_names_the_other_service() -> None:
    alloc = Allocator(config(a=["10.0.0.5/32"]))
    converge(alloc, service("web", ports=(80,), annotations=shared("k")))
    out = refused(
        alloc, service("api", ports=(80,), annotations={**shared("k"), "metallb.io/loadBalancerIPs": "10.0.0.5"})
    )
    assert out.pending == "cannot share 10.0.0.5 with default/web: port 80/TCP in use"


def test_sharing_refused_with_a_different_key() -> None:
    alloc = Allocator(config(a=["10.0.0.5/32"]))
    converge(alloc, service("web", annotations=shared("k1")))
    out = refused(
        alloc, service("api", ports=(8080,), annotations={**shared("k2"), "metallb.io/loadBalancerIPs": "10.0.0.5"})
    )
    assert out.pending == (
        'cannot share 10.0.0.5 with default/web: sharing key "k2" does not match existing sharing key "k1"'
    )


def test_sharing_refused_without_a_key() -> None:
    alloc = Allocator(config(a=["10.0.0.5/32"]))
    converge(alloc, service("web"))
    out = refused(alloc, service("api", ports=(8080,), lb_ip="10.0.0.5"))
    assert out.pending == "cannot share 10.0.0.5 with default/web: existing service does not allow sharing"


def test_sharing_with_local_traffic_policy_needs_the_same_selector() -> None:
    alloc = Allocator(config(a=["10.0.0.5/32"]))
    converge(alloc, service("web", etp="Local", selector={"app": "x"}, annotations=shared("k")))
    ok = converge(alloc, service("web2", ports=(81,), etp="Local", selector={"app": "x"}, annotations=shared("k")))
    assert ips(ok) == ["10.0.0.5"]
    bad = refused(alloc, service("api", ports=(82,), etp="Local", selector={"app": "y"}, annotations=shared("k")))
    assert bad.pending == 'no available IPs in pool "a"'


def test_pinned_pools_by_namespace_and_priority() -> None:
    cfg = config(
        general=["10.0.0.0/30"],
        team_low={"addresses": ["10.1.0.0/30"], "serviceAllocation": {"priority": 20, "namespaces": ["team"]}},
        team_high={"addresses": ["10.2.0.0/30"], "serviceAllocation": {"priority": 10, "namespaces": ["team"]}},
    )
    alloc = Allocator(cfg)
    assert converge(alloc, service("s", ns="team")).pool == "team-high"
    assert converge(alloc, service("s", ns="other")).pool == "general"


def test_pools_with_service_allocation_are_not_a_fallback() -> None:
    cfg = config(team={"addresses": ["10.1.0.0/30"], "serviceAllocation": {"namespaces": ["team"]}})
    alloc = Allocator(cfg)
    assert (
        refused(alloc, service("s", ns="other")).pending
        == "no available IPs: no pool with autoAssign admits this service"
    )


def test_service_selector_pool() -> None:
    cfg = config(
        general=["10.0.0.0/30"],
        web={
            "addresses": ["10.1.0.0/30"],
            "serviceAllocation": {"serviceSelectors": [{"matchLabels": {"tier": "web"}}]},
        },
    )
    alloc = Allocator(cfg)
    assert converge(alloc, service("s1", labels={"tier": "web"})).pool == "web"
    assert converge(alloc, service("s2", labels={"tier": "db"})).pool == "general"
    out = refused(alloc, service("s3", labels={"tier": "db"}, annotations={"metallb.io/address-pool": "web"}))
    assert out.pending == "pool web not compatible for ip assignment"


def test_namespace_restricted_pool_refuses_explicit_ip_from_other_namespaces_better_than_upstream() -> None:
    cfg = config(
        team={"addresses": ["10.1.0.0/30"], "serviceAllocation": {"namespaceSelectors": [{"matchLabels": {"t": "x"}}]}}
    )
    alloc = Allocator(cfg)
    out = refused(alloc, service("s", ns="other", lb_ip="10.1.0.1"), namespace_labels={"t": "y"})
    assert out.pending == "pool team not compatible for ip assignment"
    ok = converge(alloc, service("s2", ns="mine", lb_ip="10.1.0.1"), namespace_labels={"t": "x"})
    assert ips(ok) == ["10.1.0.1"]


def test_fallback_pool_choice_is_deterministic_by_name() -> None:
    for _ in range(3):
        alloc = Allocator(config(zeta=["10.9.0.0/30"], alpha=["10.8.0.0/30"]))
        assert converge(alloc, service("s")).pool == "alpha"


@pytest.mark.parametrize(
    ("policy", "families", "expected"),
    [
        pytest.param("RequireDualStack", ("IPv4", "IPv6"), ["10.0.0.0", "fc00::"], id="require-dual"),
        pytest.param("PreferDualStack", ("IPv6", "IPv4"), ["10.0.0.0", "fc00::"], id="prefer-dual"),
    ],
)
def test_dual_stack_from_one_pool(policy: str, families: tuple[str, ...], expected: list[str]) -> None:
    alloc = Allocator(config(v4only=["10.1.0.0/30"], dual=["10.0.0.0/30", "fc00::/126"]))
    out = converge(alloc, service("s", cluster_ips=("10.96.0.1", "fd00::1"), policy=policy, families=families))
    assert ips(out) == expected and out.pool == "dual"


def test_prefer_dual_stack_falls_back_to_the_primary_family() -> None:
    alloc = Allocator(config(v6only=["fc00::/126"]))
    out = converge(
        alloc, service("s", cluster_ips=("fd00::1", "10.96.0.1"), policy="PreferDualStack", families=("IPv6", "IPv4"))
    )
    assert ips(out) == ["fc00::"]


def test_require_dual_stack_with_one_cluster_ip() -> None:
    alloc = Allocator(config(dual=["10.0.0.0/30", "fc00::/126"]))
    out = refused(alloc, service("s", policy="RequireDualStack"))
    assert [e.reason for e in out.events] == ["not enough clusterips"]


def test_ipv6_service_gets_an_ipv6_address() -> None:
    alloc = Allocator(config(v4=["10.0.0.0/30"], v6=["fc00::/64"]))
    assert ips(converge(alloc, service("s", cluster_ips=("fd00::10",)))) == ["fc00::"]


def test_requested_ip_of_the_wrong_family() -> None:
    alloc = Allocator(config(v6=["fc00::/64"]))
    out = refused(alloc, service("s", lb_ip="fc00::5"))
    assert out.pending == 'requested loadBalancer IP(s) ["fc00::5"] does not match the ipFamily of the service'


def test_other_load_balancer_classes_are_left_alone() -> None:
    alloc = Allocator(config(a=["10.0.0.0/30"]))
    assert converge(alloc, service("s", lb_class="other")).managed is False
    assert converge(alloc, service("s"), lb_class="mine").managed is False
    assert converge(alloc, service("s", lb_class="mine"), lb_class="mine").ips


def test_no_pools_clears() -> None:
    alloc = Allocator(config())
    out = refused(alloc, service("s", ingress=("10.0.0.1",)))
    assert out.pending == "no IPAddressPool is configured"


def test_restart_reclaims_before_allocating() -> None:
    """Four Services over two IPs; those holding IPs keep them whatever the order of the list."""
    cfg = config(a=["10.0.0.0/31"])
    views = [
        service("a"),
        service("b", ingress=("10.0.0.1",)),
        service("c"),
        service("d", ingress=("10.0.0.0",)),
    ]
    for _ in range(5):
        _, outcomes = allocate_all(cfg, views)
        assert ips(outcomes["default/b"]) == ["10.0.0.1"]
        assert ips(outcomes["default/d"]) == ["10.0.0.0"]
        assert outcomes["default/a"].pending == outcomes["default/c"].pending == 'no available IPs in pool "a"'
        views = list(reversed(views))


def test_pool_shrink_moves_only_the_affected_service() -> None:
    alloc = Allocator(config(a=["10.0.0.0/29"]))
    s1 = converge(alloc, service("s1"))
    s2 = converge(alloc, service("s2"))
    dropped = alloc.set_config(config(a=["10.0.0.1/32", "10.0.0.4/30"]))
    assert dropped == {"default/s1": '["10.0.0.0"] is no longer in any pool'}
    again = converge(alloc, service("s2", ingress=tuple(ips(s2))))
    assert again.ips == s2.ips and again.events == ()
    moved = converge(alloc, service("s1", ingress=tuple(ips(s1))))
    assert ips(moved) == ["10.0.0.4"]


def test_ip_kept_when_its_pool_is_renamed() -> None:
    alloc = Allocator(config(old=["10.0.0.0/29"]))
    converge(alloc, service("s1"))
    assert alloc.set_config(config(new=["10.0.0.0/29"])) == {}
    assert alloc.allocation("default/s1").pool == "new"  # type: ignore[union-attr]


def test_huge_pools_cost_nothing() -> None:
    alloc = Allocator(config(big4=["10.0.0.0/8"], big6=["fc00::/64"]))
    c4, c6 = alloc.counters("big4"), alloc.counters("big6")
    assert c4.available_ipv4 == 2**24 and c6.available_ipv6 == 2**63 - 1
    for i in range(100):
        converge(alloc, service(f"s{i}"))
    assert alloc.counters("big4").assigned_ipv4 == 100


def test_a_service_whose_ip_left_the_pools_never_takes_an_ip_another_still_holds() -> None:
    """`a` sorts first and must move; `b` (sorting later) keeps 10.0.0.1 although it is the lowest free IP."""
    cfg = config(p=["10.0.0.1-10.0.0.2"])
    views = [service("a", ingress=("10.0.0.9",)), service("b", ingress=("10.0.0.1",))]
    _, outcomes = allocate_all(cfg, views)
    assert ips(outcomes["default/b"]) == ["10.0.0.1"] and outcomes["default/b"].events == ()
    assert ips(outcomes["default/a"]) == ["10.0.0.2"]
    assert [e.reason for e in outcomes["default/a"].events] == ["ClearAssignment", "IPAllocated"]


@pytest.mark.parametrize("enabled", [True, False], ids=["collector-on", "collector-off"])
def test_allocate_all_leaves_the_garbage_collector_as_it_found_it(enabled: bool) -> None:
    """allocate_all pauses the cyclic collector while it works (speed); the caller's setting comes back, even
    when it fails."""
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        seen: list[bool] = []

        def fields_of(v: ServiceView) -> dict[str, Any]:
            return {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}

        class Probe(ServiceView):
            __slots__ = ()

            @property
            def is_load_balancer(self) -> bool:
                seen.append(gc.isenabled())
                return True

        _, outcomes = allocate_all(config(p=["10.0.0.1/32"]), [Probe(**fields_of(service("a")))])
        assert ips(outcomes["default/a"]) == ["10.0.0.1"]
        assert seen and not any(seen)
        assert gc.isenabled() is enabled
        with pytest.raises(AttributeError):
            allocate_all(config(p=["10.0.0.1/32"]), [None])  # type: ignore[list-item]
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_service_leaving_our_class_releases_its_ip() -> None:
    alloc = Allocator(config(a=["10.0.0.0/32"]))
    mine = converge(alloc, service("s", lb_class="mine"), lb_class="mine")
    assert ips(mine) == ["10.0.0.0"]
    gone = converge(alloc, service("s", type_="ClusterIP"), lb_class="mine")
    assert gone.managed and gone.ips == () and gone.left_class == mine.ips
    assert ips(converge(alloc, service("t", lb_class="mine"), lb_class="mine")) == ["10.0.0.0"]


def _ip(text: str) -> tuple[int, int]:
    a, b, c, d = (int(x) for x in text.split("."))
    return (4, a << 24 | b << 16 | c << 8 | d)


@pytest.fixture
def held() -> tuple[Allocator, ServiceRequest]:
    """web holds 10.0.0.4 (sharing key k1, port 80); api holds 10.0.0.5 (key k2, port 8080); 10.0.0.6-7 free."""
    alloc = Allocator(config(a=["10.0.0.4/30"], b=["10.1.0.0/32"]))
    converge(alloc, service("web", annotations=shared("k1")))
    api = service("api", ports=(8080,), annotations=shared("k2"))
    assert ips(converge(alloc, api)) == ["10.0.0.5"]
    converge(alloc, service("db", annotations={"metallb.io/address-pool": "b"}))
    return alloc, api.request()


@pytest.mark.parametrize(
    ("wanted", "reason"),
    [
        pytest.param(
            ["10.0.0.4"],
            'cannot share 10.0.0.4 with default/web: sharing key "k2" does not match existing sharing key "k1"',
            id="sharing-key-mismatch",
        ),
        pytest.param(["10.2.0.1"], '["10.2.0.1"] is not allowed in config', id="outside-every-pool"),
        pytest.param(["10.0.0.6", "10.0.0.7"], '"10.0.0.6" "10.0.0.7" has the same family', id="two-of-one-family"),
        pytest.param(
            ["10.0.0.6", "10.0.0.7", "10.0.0.4"],
            'more than two addresses ["10.0.0.6" "10.0.0.7" "10.0.0.4"]',
            id="more-than-two",
        ),
    ],
)
def test_a_refused_assign_records_nothing_and_keeps_what_the_service_held(
    held: tuple[Allocator, ServiceRequest], wanted: list[str], reason: str
) -> None:
    alloc, api = held
    assert refused_call(alloc, alloc.assign, api, [_ip(w) for w in wanted]) == reason
    assert alloc.allocation("default/api").addresses == ("10.0.0.5",)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("pool", "reason"),
    [
        pytest.param("nope", 'unknown pool "nope"', id="unknown-pool"),
        pytest.param("b", "no available IPs in pool b", id="pool-exhausted"),
    ],
)
def test_a_refused_allocation_from_a_pool_records_nothing(
    held: tuple[Allocator, ServiceRequest], pool: str, reason: str
) -> None:
    alloc, api = held
    assert refused_call(alloc, alloc.allocate_from_pool, api, pool) == reason


def test_a_refused_allocation_records_nothing() -> None:
    alloc = Allocator(config(a=["10.0.0.0/32"]))
    converge(alloc, service("web"))
    assert refused_call(alloc, alloc.allocate, service("api").request()) == 'no available IPs in pool "a"'
