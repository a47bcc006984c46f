"""Services: the annotation and sharing rules, with their exact messages, on AdmissionReview JSON in and out."""

from __future__ import annotations

import pytest
from wh_helpers import allowed, call, denied, pool, response, service, state_with

from webhooks.state import WebhookSettings

POOLS = (pool("a", "1.1.1.0/24", "fc00::/120"), pool("b", "2.2.2.0/24"))


def lb(**kwargs: object) -> dict[str, object]:
    return service("x", **kwargs)  # type: ignore[arg-type]


def ann(**values: str) -> dict[str, str]:
    return {f"metallb.io/{k.replace('_', '-')}": v for k, v in values.items()}


@pytest.mark.parametrize(
    ("annotations", "spec", "message"),
    [
        pytest.param(
            ann(address_pool="nope"),
            {},
            'metallb.io/address-pool: unknown pool "nope" (pools: a, b)',
            id="unknown-pool",
        ),
        pytest.param(
            {"metallb.universe.tf/address-pool": "nope"},
            {},
            'metallb.universe.tf/address-pool: unknown pool "nope" (pools: a, b)',
            id="unknown-pool-deprecated-spelling",
        ),
        pytest.param(
            {"metallb.io/loadBalancerIPs": "1.1.1.x"}, {}, 'invalid metallb.io/loadBalancerIPs: "1.1.1.x"', id="bad-ip"
        ),
        pytest.param(
            {"metallb.io/loadBalancerIPs": ""}, {}, 'invalid metallb.io/loadBalancerIPs: ""', id="empty-ip-list"
        ),
        pytest.param(
            {"metallb.io/loadBalancerIPs": "1.1.1.1,1.1.1.2"},
            {},
            '"1.1.1.1" "1.1.1.2" has the same family',
            id="same-family",
        ),
        pytest.param(
            {"metallb.io/loadBalancerIPs": "1.1.1.1, fc00::1, 1.1.1.3"},
            {},
            'more than two addresses ["1.1.1.1" "fc00::1" "1.1.1.3"]',
            id="three-ips",
        ),
        pytest.param(
            {"metallb.io/loadBalancerIPs": "9.9.9.9"}, {}, '["9.9.9.9"] is not allowed in config', id="ip-outside-pools"
        ),
        pytest.param(
            {"metallb.io/loadBalancerIPs": "1.1.1.9,fc00::1:1"},
            {},
            '["fc00::1:1"] is not allowed in config',
            id="one-ip-outside",
        ),
        pytest.param(
            {"metallb.io/loadBalancerIPs": "1.1.1.9", "metallb.io/address-pool": "b"},
            {},
            'requested loadBalancer IP(s) ["1.1.1.9"] is not compatible with requested address pool b',
            id="ip-outside-named-pool",
        ),
        pytest.param(
            {"metallb.io/loadBalancerIPs": "1.1.1.9"},
            {"loadBalancerIP": "1.1.1.9"},
            "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP",
            id="annotation-and-spec-ip",
        ),
        pytest.param(
            {}, {"loadBalancerIP": "9.9.9.9"}, '["9.9.9.9"] is not allowed in config', id="spec-ip-outside-pools"
        ),
        pytest.param({}, {"loadBalancerIP": "nope"}, 'invalid spec.loadBalancerIP "nope"', id="bad-spec-ip"),
        pytest.param(
            ann(allow_shared_ip=""),
            {},
            'metallb.io/allow-shared-ip must be a non-empty sharing key without spaces or commas, got ""',
            id="empty-sharing-key",
        ),
        pytest.param(
            ann(allow_shared_ip="a b"),
            {},
            'metallb.io/allow-shared-ip must be a non-empty sharing key without spaces or commas, got "a b"',
            id="sharing-key-with-space",
        ),
    ],
)
def test_a_bad_request_is_denied(annotations: dict[str, str], spec: dict[str, object], message: str) -> None:
    assert denied(call(state_with(*POOLS), "CREATE", lb(annotations=annotations, **spec))) == message


def test_two_ips_of_different_families_in_one_pool_are_allowed() -> None:
    annotations = {"metallb.io/loadBalancerIPs": "1.1.1.9,fc00::9", "metallb.io/address-pool": "a"}
    assert allowed(call(state_with(*POOLS), "CREATE", lb(annotations=annotations))) == []


def test_an_existing_pool_is_allowed() -> None:
    assert allowed(call(state_with(*POOLS), "CREATE", lb(annotations=ann(address_pool="b")))) == []


def test_a_plain_load_balancer_is_allowed() -> None:
    assert allowed(call(state_with(*POOLS), "CREATE", lb())) == []


# --- sharing -----------------------------------------------------------------------------------------


def _holder(**annotations: str) -> dict[str, object]:
    return service("web", ingress=["1.1.1.5"], annotations=annotations)


def test_an_ip_held_by_a_service_that_does_not_share_is_denied_naming_it() -> None:
    state = state_with(*POOLS, services=[_holder()])
    msg = denied(call(state, "CREATE", lb(annotations={"metallb.io/loadBalancerIPs": "1.1.1.5"})))
    assert msg == "cannot share 1.1.1.5 with default/web: existing service does not allow sharing"


def test_a_sharing_key_on_one_side_only_is_denied() -> None:
    state = state_with(*POOLS, services=[_holder(**{"metallb.io/allow-shared-ip": "k"})])
    msg = denied(call(state, "CREATE", lb(annotations={"metallb.io/loadBalancerIPs": "1.1.1.5"})))
    assert msg == "cannot share 1.1.1.5 with default/web: new service does not allow sharing"


def test_different_sharing_keys_are_denied() -> None:
    state = state_with(*POOLS, services=[_holder(**{"metallb.io/allow-shared-ip": "k"})])
    annotations = {"metallb.io/loadBalancerIPs": "1.1.1.5", "metallb.io/allow-shared-ip": "j"}
    msg = denied(call(state, "CREATE", lb(annotations=annotations, ports=[("TCP", 443)])))
    assert msg == 'cannot share 1.1.1.5 with default/web: sharing key "j" does not match existing sharing key "k"'


def test_the_same_port_on_a_shared_ip_is_denied() -> None:
    state = state_with(*POOLS, services=[_holder(**{"metallb.io/allow-shared-ip": "k"})])
    annotations = {"metallb.io/loadBalancerIPs": "1.1.1.5", "metallb.io/allow-shared-ip": "k"}
    msg = denied(call(state, "CREATE", lb(annotations=annotations)))
    assert msg == "cannot share 1.1.1.5 with default/web: port 80/TCP in use"


def test_sharing_with_the_same_key_and_other_ports_is_allowed() -> None:
    state = state_with(*POOLS, services=[_holder(**{"metallb.io/allow-shared-ip": "k"})])
    annotations = {"metallb.io/loadBalancerIPs": "1.1.1.5", "metallb.io/allow-shared-ip": "k"}
    assert allowed(call(state, "CREATE", lb(annotations=annotations, ports=[("TCP", 443)]))) == []


def test_an_ip_only_requested_by_another_service_counts_too() -> None:
    other = service("web", annotations={"metallb.io/loadBalancerIPs": "1.1.1.5"})
    state = state_with(*POOLS, services=[other])
    msg = denied(call(state, "CREATE", lb(annotations={"metallb.io/loadBalancerIPs": "1.1.1.5"})))
    assert msg == "cannot share 1.1.1.5 with default/web: existing service does not allow sharing"


def test_a_service_updating_itself_does_not_conflict_with_itself() -> None:
    me = service("x", ingress=["1.1.1.5"], annotations={"metallb.io/loadBalancerIPs": "1.1.1.5"})
    state = state_with(*POOLS, services=[me])
    assert allowed(call(state, "UPDATE", me, me)) == []


def test_a_pool_restricted_to_other_namespaces_is_denied() -> None:
    restricted = pool("c", "3.3.3.0/24", serviceAllocation={"namespaces": ["prod"]})
    state = state_with(*POOLS, restricted, namespaces={"default": {}, "prod": {}})
    msg = denied(call(state, "CREATE", lb(annotations={"metallb.io/loadBalancerIPs": "3.3.3.3"})))
    assert msg == "pool c not compatible for ip assignment"


# --- warnings and scope ------------------------------------------------------------------------------


def test_deprecated_and_unknown_annotations_warn() -> None:
    annotations = {"metallb.universe.tf/address-pool": "a", "metallb.io/adress-pool": "a"}
    warnings = allowed(call(state_with(*POOLS), "CREATE", lb(annotations=annotations)))
    assert warnings == [
        "unknown annotation metallb.io/adress-pool: pymetallb reads metallb.io/address-pool, "
        "metallb.io/allow-shared-ip, metallb.io/loadBalancerIPs",
        "annotation metallb.universe.tf/address-pool is deprecated: use metallb.io/address-pool",
    ]


def test_the_controllers_own_annotation_is_not_unknown() -> None:
    annotations = {"metallb.io/ip-allocated-from-pool": "a"}
    assert allowed(call(state_with(*POOLS), "CREATE", lb(annotations=annotations))) == []


@pytest.mark.parametrize(
    "svc",
    [
        pytest.param(service("x", type="ClusterIP", annotations={"metallb.io/address-pool": "nope"}), id="cluster-ip"),
        pytest.param(service("x", type="NodePort", annotations={"metallb.io/loadBalancerIPs": "x"}), id="node-port"),
        pytest.param(service("x", lb_class="other", annotations={"metallb.io/address-pool": "nope"}), id="other-class"),
    ],
)
def test_services_that_are_not_ours_are_never_judged(svc: dict[str, object]) -> None:
    assert allowed(call(state_with(*POOLS), "CREATE", svc)) == []


def test_with_a_class_configured_class_less_services_are_not_ours() -> None:
    state = state_with(*POOLS, settings=WebhookSettings(lb_class="pymetallb"))
    assert allowed(call(state, "CREATE", lb(annotations=ann(address_pool="nope")))) == []
    svc = lb(annotations=ann(address_pool="nope"), lb_class="pymetallb")
    assert denied(call(state, "CREATE", svc)).startswith("metallb.io/address-pool: unknown pool")


def test_an_update_does_not_deny_a_problem_the_service_already_had() -> None:
    old = lb(annotations=ann(address_pool="gone"))
    new = lb(annotations={**ann(address_pool="gone"), "team": "x"})
    warnings = allowed(call(state_with(*POOLS), "UPDATE", new, old))
    assert warnings == ['not fixed yet: metallb.io/address-pool: unknown pool "gone" (pools: a, b)']


def test_an_update_that_introduces_a_problem_is_denied() -> None:
    old = lb(annotations=ann(address_pool="a"))
    new = lb(annotations=ann(address_pool="gone"))
    assert denied(call(state_with(*POOLS), "UPDATE", new, old)).startswith(
        'metallb.io/address-pool: unknown pool "gone"'
    )


def test_when_the_cluster_config_is_invalid_pool_checks_are_skipped_with_a_warning() -> None:
    state = state_with(pool("a", "10.0.0.0/16"), pool("b", "10.0.0.0/24"))
    warnings = allowed(call(state, "CREATE", lb(annotations=ann(address_pool="zzz"))))
    assert warnings == [
        'the MetalLB configuration is invalid (IPAddressPool/b: CIDR "10.0.0.0/24" in pool "b" overlaps with '
        'already defined CIDR "10.0.0.0/16"); pools and addresses were not checked'
    ]


def test_a_delete_is_allowed() -> None:
    reply = call(state_with(*POOLS), "DELETE", None, lb(annotations=ann(address_pool="nope")))
    assert response(reply)["allowed"] is True
