"""Config kinds: every rule the webhook applies, with its exact message, on AdmissionReview JSON in and out."""

from __future__ import annotations

import pytest
from wh_helpers import NS, allowed, call, denied, obj, pool, response, service, state_with

from webhooks.config_review import DISABLE_MP_WARNING
from webhooks.state import WebhookSettings

FRR = WebhookSettings(bgp_mode="frr")


def peer(name: str, address: str, my_asn: int = 64500, peer_asn: int = 64501, **spec: object) -> dict[str, object]:
    return obj("BGPPeer", name, {"myASN": my_asn, "peerASN": peer_asn, "peerAddress": address, **spec})


# --- namespace and shape -----------------------------------------------------------------------------


def test_config_outside_the_metallb_namespace_is_denied_on_create() -> None:
    msg = denied(call(state_with(), "CREATE", pool("p", "10.0.0.0/24", ns="default")))
    assert msg == f"resource must be created in {NS} namespace"


def test_config_outside_the_metallb_namespace_is_denied_on_update_too() -> None:
    p = pool("p", "10.0.0.0/24", ns="default")
    assert denied(call(state_with(), "UPDATE", p, p)) == f"resource must be created in {NS} namespace"


def test_deleting_an_object_outside_the_namespace_is_allowed() -> None:
    assert allowed(call(state_with(), "DELETE", None, pool("p", "10.0.0.0/24", ns="default"))) == []


def test_a_namespace_flag_moves_the_rule() -> None:
    state = state_with(settings=WebhookSettings(namespace="lb"))
    assert denied(call(state, "CREATE", pool("p", "10.0.0.0/24"))) == "resource must be created in lb namespace"
    assert allowed(call(state, "CREATE", pool("p", "10.0.0.0/24", ns="lb"))) == []


def test_a_field_of_the_wrong_type_is_denied_with_its_path() -> None:
    bad = {**pool("p"), "spec": {"addresses": 5}}
    assert (
        denied(call(state_with(), "CREATE", bad))
        == "invalid IPAddressPool: spec.addresses: Input should be a valid tuple"
    )


def test_an_object_without_a_name_is_denied() -> None:
    nameless = pool("", "10.0.0.0/24")
    assert denied(call(state_with(), "CREATE", nameless)) == "invalid IPAddressPool: metadata.name: Required value"


def test_a_kind_sent_to_another_kinds_path_is_denied() -> None:
    from wh_helpers import review

    from webhooks.review import handle

    reply = handle("/validate-metallb-io-v1beta1-ipaddresspool", review("CREATE", obj("Community", "c")), state_with())
    assert denied(reply) == "this webhook validates IPAddressPool, not Community"


# --- pools -------------------------------------------------------------------------------------------


def test_a_valid_pool_is_allowed_without_warnings() -> None:
    assert allowed(call(state_with(pool("a", "10.0.0.0/24")), "CREATE", pool("b", "10.0.1.0/24"))) == []


def test_an_overlapping_pool_is_denied_with_the_parsers_message() -> None:
    msg = denied(call(state_with(pool("a", "10.0.0.0/16")), "CREATE", pool("b", "10.0.0.0/24")))
    assert msg == 'CIDR "10.0.0.0/24" in pool "b" overlaps with already defined CIDR "10.0.0.0/16"'


def test_an_overlap_names_the_pool_under_review_even_when_it_sorts_first() -> None:
    # The reviewed object is parsed after the others of its kind, so the message blames the newcomer "0".
    msg = denied(call(state_with(pool("a", "10.0.0.0/16")), "CREATE", pool("0", "10.0.1.0/24")))
    assert msg == 'CIDR "10.0.1.0/24" in pool "0" overlaps with already defined CIDR "10.0.0.0/16"'


def test_an_overlap_with_a_range_is_denied() -> None:
    msg = denied(call(state_with(pool("a", "10.0.0.10-10.0.0.20")), "CREATE", pool("b", "10.0.0.16/28")))
    assert msg.startswith('CIDR "10.0.0.16/28" in pool "b" overlaps with already defined CIDR')


def test_an_ipv6_overlap_is_denied() -> None:
    msg = denied(call(state_with(pool("a", "fc00::/64")), "CREATE", pool("b", "fc00::1:0/112")))
    assert msg == 'CIDR "fc00::1:0/112" in pool "b" overlaps with already defined CIDR "fc00::/64"'


def test_an_invalid_cidr_is_denied() -> None:
    msg = denied(call(state_with(), "CREATE", pool("b", "10.0.0.300/24")))
    assert msg == 'parsing address pool b: invalid CIDR "10.0.0.300/24" in pool "b": invalid CIDR "10.0.0.300/24"'


def test_a_reversed_range_is_denied() -> None:
    msg = denied(call(state_with(), "CREATE", pool("b", "10.9.0.10-10.9.0.1")))
    assert msg == (
        'parsing address pool b: invalid CIDR "10.9.0.10-10.9.0.1" in pool "b": invalid IP range '
        '"10.9.0.10-10.9.0.1": start IP "10.9.0.10" is after the end IP "10.9.0.1"'
    )


def test_updating_a_pool_onto_itself_is_not_an_overlap() -> None:
    old = pool("a", "10.0.0.0/24")
    assert allowed(call(state_with(old), "UPDATE", pool("a", "10.0.0.0/23"), old)) == []


def test_an_existing_invalid_pool_does_not_block_an_unrelated_create() -> None:
    # MetalLB denies every write while any pool is invalid; only what a change introduces counts here.
    state = state_with(pool("a", "10.0.0.0/16"), pool("b", "10.0.0.0/24"))
    assert allowed(call(state, "CREATE", pool("c", "192.168.0.0/24"))) == []


def test_fixing_one_of_two_overlapping_pools_is_allowed() -> None:
    old = pool("b", "10.0.0.0/24")
    state = state_with(pool("a", "10.0.0.0/16"), old)
    assert allowed(call(state, "UPDATE", pool("b", "10.1.0.0/24"), old)) == []


def test_a_pool_change_that_breaks_an_advertisement_is_denied() -> None:
    # MetalLB's pool webhook parses pools only and lets this through.
    old = pool("a", "1.1.1.0/24")
    adv = obj("BGPAdvertisement", "adv", {"aggregationLength": 26, "ipAddressPools": ["a"]})
    msg = denied(call(state_with(old, adv), "UPDATE", pool("a", "1.1.1.0/28"), old))
    assert msg == (
        "invalid aggregation length 26: prefix 28 in this pool is more specific than the aggregation length "
        "for addresses 1.1.1.0/28"
    )


def test_ipv6_in_a_pool_advertised_over_bgp_is_denied_in_native_mode() -> None:
    adv = obj("BGPAdvertisement", "adv", {"ipAddressPools": ["a"]})
    msg = denied(call(state_with(adv), "CREATE", pool("a", "fc00::/120")))
    assert msg == 'pool "a" has ipv6 CIDR fc00::/120, native bgp mode does not support ipv6'


def test_deleting_a_pool_that_holds_addresses_warns_with_the_services() -> None:
    p = pool("a", "10.0.0.0/24")
    state = state_with(p, services=[service("web", ingress=["10.0.0.1"]), service("db", ns="x", ingress=["9.9.9.9"])])
    warnings = allowed(call(state, "DELETE", None, p))
    assert warnings == ["deleting IPAddressPool a takes addresses from Services default/web: they lose them"]


def test_shrinking_a_pool_under_a_service_warns() -> None:
    old = pool("a", "10.0.0.0/24")
    state = state_with(old, services=[service("web", ingress=["10.0.0.200"]), service("api", ingress=["10.0.0.1"])])
    warnings = allowed(call(state, "UPDATE", pool("a", "10.0.0.0/25"), old))
    assert warnings == ["this change to IPAddressPool a takes addresses from Services default/web: they lose them"]


def test_deleting_a_pool_a_service_asks_for_warns() -> None:
    p = pool("gold", "10.0.0.0/24")
    state = state_with(p, services=[service("web", annotations={"metallb.io/address-pool": "gold"})])
    assert allowed(call(state, "DELETE", None, p)) == ["Services default/web ask for IPAddressPool gold by annotation"]


def test_deleting_an_unused_pool_is_silent() -> None:
    p = pool("a", "10.0.0.0/24")
    assert allowed(call(state_with(p), "DELETE", None, p)) == []


def test_deleting_a_pool_named_by_an_advertisement_warns() -> None:
    p = pool("a", "10.0.0.0/24")
    adv = obj("L2Advertisement", "l2", {"ipAddressPools": ["a"]})
    assert allowed(call(state_with(p, adv), "DELETE", None, p)) == [
        'L2Advertisement/l2: ipAddressPools names pool "a", which does not exist'
    ]


# --- advertisements and communities ------------------------------------------------------------------


def test_an_advertisement_naming_a_missing_pool_is_allowed_with_a_warning() -> None:
    warnings = allowed(call(state_with(), "CREATE", obj("L2Advertisement", "l2", {"ipAddressPools": ["nope"]})))
    assert warnings == ['L2Advertisement/l2: ipAddressPools names pool "nope", which does not exist']


def test_a_duplicate_pool_in_an_l2_advertisement_is_denied() -> None:
    adv = obj("L2Advertisement", "l2", {"ipAddressPools": ["a", "a"]})
    assert (
        denied(call(state_with(pool("a", "10.0.0.0/24")), "CREATE", adv))
        == 'duplicate definition of ipAddressPools "a"'
    )


def test_an_aggregation_length_longer_than_the_pool_is_denied() -> None:
    adv = obj("BGPAdvertisement", "adv", {"aggregationLength": 26, "ipAddressPools": ["a"]})
    msg = denied(call(state_with(pool("a", "1.1.1.0/28")), "CREATE", adv))
    assert msg == (
        "invalid aggregation length 26: prefix 28 in this pool is more specific than the aggregation length "
        "for addresses 1.1.1.0/28"
    )


def test_a_local_preference_conflict_is_denied() -> None:
    state = state_with(pool("a", "1.1.1.0/24"), obj("BGPAdvertisement", "adv", {"ipAddressPools": ["a"]}))
    msg = denied(call(state, "CREATE", obj("BGPAdvertisement", "adv2", {"ipAddressPools": ["a"], "localPref": 50})))
    assert msg == (
        "invalid local preference 50: local preferernce 0 was already set for the same type of BGP update. "
        "Check existing BGP advertisements with common pools and aggregation lengths"
    )


def test_a_community_with_three_fields_is_denied_even_in_the_webhooks_view() -> None:
    adv = obj("BGPAdvertisement", "adv", {"ipAddressPools": ["a"], "communities": ["a:b:c"]})
    msg = denied(call(state_with(pool("a", "1.1.1.0/24")), "CREATE", adv))
    assert msg == 'invalid community format: a:b:c\ninvalid community "a:b:c" in BGP advertisement'


def test_an_alias_that_does_not_exist_yet_is_allowed() -> None:
    adv = obj("BGPAdvertisement", "adv", {"ipAddressPools": ["a"], "communities": ["later"]})
    assert allowed(call(state_with(pool("a", "1.1.1.0/24")), "CREATE", adv)) == []


def test_a_community_value_out_of_range_is_denied() -> None:
    c = obj("Community", "c", {"communities": [{"name": "x", "value": "1:99999"}]})
    assert denied(call(state_with(), "CREATE", c)) == (
        'parsing community "x": invalid community value: invalid section "99999" of community "1:99999", '
        'err: "strconv.ParseUint: parsing \\"99999\\": value out of range"'
    )


def test_deleting_a_community_whose_alias_is_used_is_denied() -> None:
    c = obj("Community", "c", {"communities": [{"name": "no-export", "value": "65535:65281"}]})
    adv = obj("BGPAdvertisement", "adv", {"communities": ["no-export"]})
    msg = denied(call(state_with(c, adv), "DELETE", None, c))
    assert msg == "failed to delete Community c: its alias no-export is used by BGPAdvertisement adv"


def test_deleting_a_community_whose_alias_another_community_defines_is_allowed() -> None:
    c = obj("Community", "c", {"communities": [{"name": "no-export", "value": "65535:65281"}]})
    c2 = obj("Community", "c2", {"communities": [{"name": "no-export", "value": "65535:65281"}]})
    adv = obj("BGPAdvertisement", "adv", {"communities": ["no-export"]})
    reply = call(state_with(c, c2, adv), "DELETE", None, c)
    assert response(reply)["allowed"] is True


# --- peers and BFD profiles ---------------------------------------------------------------------------


def test_an_ibgp_peer_with_ebgp_multihop_is_denied() -> None:
    msg = denied(call(state_with(), "CREATE", peer("p", "10.0.0.1", 64500, 64500, ebgpMultiHop=True)))
    assert msg == "parsing peer p invalid ebgp-multihop parameter set for an ibgp peer"


def test_a_valid_peer_is_allowed() -> None:
    assert allowed(call(state_with(), "CREATE", peer("p", "10.0.0.1"))) == []


def test_disable_mp_warns_and_is_still_validated() -> None:
    # MetalLB answers allowed-with-warning and skips every other check; we warn and judge anyway.
    reply = call(
        state_with(settings=FRR), "CREATE", peer("p", "10.0.0.1", 64500, 64500, ebgpMultiHop=True, disableMP=True)
    )
    assert denied(reply) == "parsing peer p invalid ebgp-multihop parameter set for an ibgp peer"
    assert response(reply)["warnings"] == [DISABLE_MP_WARNING]


def test_disable_mp_on_a_valid_frr_peer_is_allowed_with_the_warning() -> None:
    assert allowed(call(state_with(settings=FRR), "CREATE", peer("p", "10.0.0.1", disableMP=True))) == [
        DISABLE_MP_WARNING
    ]


def test_disable_mp_in_native_mode_is_denied_with_the_native_restriction() -> None:
    reply = call(state_with(), "CREATE", peer("p", "10.0.0.1", disableMP=True))
    assert denied(reply) == "peer 10.0.0.1 has disable MP flag set on native bgp mode"
    assert response(reply)["warnings"] == [DISABLE_MP_WARNING]


def test_a_v1beta1_peer_is_judged_as_v1beta2() -> None:
    p = {**peer("p", "10.0.0.1", 64500, 64500, ebgpMultiHop=True), "apiVersion": "metallb.io/v1beta1"}
    assert (
        denied(call(state_with(), "CREATE", p)) == "parsing peer p invalid ebgp-multihop parameter set for an ibgp peer"
    )


def test_frr_peers_on_the_same_nodes_must_share_my_asn() -> None:
    state = state_with(peer("p", "10.0.0.1"), settings=FRR)
    msg = denied(call(state, "CREATE", peer("q", "10.0.0.2", my_asn=64999)))
    assert msg == (
        "peer 10.0.0.2 has myAsn different from 10.0.0.1, in FRR mode peers selecting the same node must have "
        "the same myAsn within the same VRF"
    )


def test_a_peer_naming_a_bfd_profile_that_does_not_exist_yet_is_allowed() -> None:
    assert allowed(call(state_with(settings=FRR), "CREATE", peer("p", "10.0.0.1", bfdProfile="later"))) == []


def test_a_bfd_profile_in_native_mode_is_denied() -> None:
    assert denied(call(state_with(), "CREATE", obj("BFDProfile", "b"))) == "bfd profiles section set"


def test_a_bfd_profile_out_of_range_is_denied() -> None:
    # The CRD schema has the bound too, so the apiserver rejects this before us; a direct call gets the model's text.
    msg = denied(call(state_with(settings=FRR), "CREATE", obj("BFDProfile", "b", {"detectMultiplier": 1})))
    assert msg == "invalid BFDProfile: spec.detectMultiplier: Input should be greater than or equal to 2"


def test_deleting_a_bfd_profile_in_use_is_denied_with_upstreams_text() -> None:
    b = obj("BFDProfile", "b")
    state = state_with(b, peer("p", "10.0.0.1", bfdProfile="b"), peer("q", "10.0.0.2", bfdProfile="b"), settings=FRR)
    assert denied(call(state, "DELETE", None, b)) == "failed to delete BFDProfile b, used by BGPPeer p, q"


def test_deleting_an_unused_bfd_profile_is_allowed() -> None:
    b = obj("BFDProfile", "b")
    assert allowed(call(state_with(b, peer("p", "10.0.0.1"), settings=FRR), "DELETE", None, b)) == []


@pytest.mark.parametrize("operation", ["CONNECT"])
def test_other_operations_are_allowed(operation: str) -> None:
    assert allowed(call(state_with(), operation, pool("p", "10.0.0.0/24"))) == []
