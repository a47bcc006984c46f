"""Every parser rule, one case each, asserting MetalLB's exact error text (or ours, where we go further)."""

from __future__ import annotations

import pytest
from config_helpers import errors, resources
from hypothesis import given, settings
from hypothesis import strategies as st

from crds.config import ClusterResources, LabeledObject, ParseOptions, SecretInfo, parse_config
from crds.errors import TransientConfigError
from crds.types import BFDProfile

POOL = "kind: IPAddressPool\nname: {name}\nspec: {{addresses: {addrs}}}\n"

CASES = [
    pytest.param(POOL.format(name="a", addrs='["10.0.0.0/24"]'), "native", [], id="valid-pool"),
    pytest.param(
        POOL.format(name="a", addrs='["10.0.0.0/24", "10.0.0.128/25"]'),
        "native",
        ['IPAddressPool/a: CIDR "10.0.0.128/25" in pool "a" overlaps with already defined CIDR "10.0.0.0/24"'],
        id="cidr-overlaps-within-pool",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["10.0.0.0/24"]') + "---\n" + POOL.format(name="b", addrs='["10.0.0.5-10.0.0.6"]'),
        "native",
        ['IPAddressPool/b: CIDR "10.0.0.5/32" in pool "b" overlaps with already defined CIDR "10.0.0.0/24"'],
        id="cidr-overlaps-other-pool",
    ),
    pytest.param(
        POOL.format(name="b", addrs='["10.0.0.0/24"]') + "---\n" + POOL.format(name="a", addrs='["10.0.0.0/16"]'),
        "native",
        ['IPAddressPool/b: CIDR "10.0.0.0/24" in pool "b" overlaps with already defined CIDR "10.0.0.0/16"'],
        id="overlap-reported-on-later-pool-by-name",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["10.0.0.300/24"]'),
        "native",
        [
            'IPAddressPool/a: parsing address pool a: invalid CIDR "10.0.0.300/24" in pool "a": '
            'invalid CIDR "10.0.0.300/24"'
        ],
        id="invalid-cidr",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["10.0.0.1"]'),
        "native",
        ['IPAddressPool/a: parsing address pool a: invalid CIDR "10.0.0.1" in pool "a": invalid CIDR "10.0.0.1"'],
        id="address-without-prefix",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["10.0.0.9-10.0.0.1"]'),
        "native",
        [
            'IPAddressPool/a: parsing address pool a: invalid CIDR "10.0.0.9-10.0.0.1" in pool "a": invalid IP range '
            '"10.0.0.9-10.0.0.1": start IP "10.0.0.9" is after the end IP "10.0.0.1"'
        ],
        id="range-start-after-end",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["10.0.0.x-10.0.0.1"]'),
        "native",
        [
            'IPAddressPool/a: parsing address pool a: invalid CIDR "10.0.0.x-10.0.0.1" in pool "a": invalid IP range '
            '"10.0.0.x-10.0.0.1": invalid start IP "10.0.0.x"'
        ],
        id="range-invalid-start",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["10.0.0.1-fc00::1"]'),
        "native",
        [
            'IPAddressPool/a: parsing address pool a: invalid CIDR "10.0.0.1-fc00::1" in pool "a": invalid IP range '
            '"10.0.0.1-fc00::1": start IP "10.0.0.1" and end IP "fc00::1" are of different IP families'
        ],
        id="range-mixed-families-beyond-upstream",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["10.0.0.0/24", "10.0.0.0-10.0.0.255"]'),
        "native",
        [
            'IPAddressPool/a: parsing address pool a: "10.0.0.0-10.0.0.255" in pool "a" lists the same addresses '
            'as "10.0.0.0/24"'
        ],
        id="duplicate-entry-beyond-upstream",
    ),
    pytest.param(
        POOL.format(name="a", addrs="[]"),
        "native",
        ["IPAddressPool/a: parsing address pool a: pool has no prefixes defined"],
        id="pool-without-addresses",
    ),
    pytest.param(
        "kind: IPAddressPool\nname: a\nspec: {addresses: [10.0.0.0/24], serviceAllocation: {namespaces: [x, x]}}",
        "native",
        ["IPAddressPool/a: parsing address pool a: duplicate definition in namespaces field"],
        id="pool-duplicate-namespaces",
    ),
    pytest.param(
        "kind: IPAddressPool\nname: a\nspec:\n  addresses: [10.0.0.0/24]\n  serviceAllocation:\n"
        "    serviceSelectors: [{matchLabels: {a: b}}, {matchLabels: {a: b}}]",
        "native",
        [
            # Go's %q of a LabelSelector value: String() has a pointer receiver, so fmt prints the struct.
            'IPAddressPool/a: parsing address pool a: duplicate definition of serviceSelectors {map["a":"b"] []}'
        ],
        id="pool-duplicate-service-selectors",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 0, peerASN: 1, peerAddress: 1.2.3.4}",
        "native",
        ["BGPPeer/p: parsing peer p missing local ASN"],
        id="peer-missing-local-asn",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerAddress: 1.2.3.4}",
        "native",
        ["BGPPeer/p: parsing peer p missing peer ASN and dynamicASN"],
        id="peer-missing-peer-asn",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, dynamicASN: external, peerAddress: 1.2.3.4}",
        "frr",
        ["BGPPeer/p: parsing peer p both peer ASN and dynamicASN specified"],
        id="peer-both-asn-kinds",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 1, peerAddress: 1.2.3.4, ebgpMultiHop: true}",
        "native",
        ["BGPPeer/p: parsing peer p invalid ebgp-multihop parameter set for an ibgp peer"],
        id="peer-ebgp-multihop-on-ibgp",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2}",
        "native",
        ["BGPPeer/p: parsing peer p peer has no Address or Interface specified"],
        id="peer-without-address",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, interface: eth0}",
        "frr",
        ["BGPPeer/p: parsing peer p peer has both Address and Interface specified"],
        id="peer-address-and-interface",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.999}",
        "native",
        ['BGPPeer/p: parsing peer p invalid BGPPeer address "1.2.3.999"'],
        id="peer-invalid-address",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, routerID: x}",
        "native",
        ['BGPPeer/p: parsing peer p invalid router ID "x"'],
        id="peer-invalid-router-id",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, sourceAddress: y}",
        "native",
        ['BGPPeer/p: parsing peer p invalid source IP "y"'],
        id="peer-invalid-source",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, holdTime: 2s}",
        "native",
        [
            "BGPPeer/p: parsing peer p invalid BGPPeer timers: invalid hold time "
            '"&Duration{Duration:2s,}": must be 0 or >=3s'
        ],
        id="peer-hold-time-too-short",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, holdTime: 30s, keepaliveTime: 40s}",
        "frr",
        [
            "BGPPeer/p: parsing peer p invalid BGPPeer timers: invalid keepaliveTime "
            '"&Duration{Duration:40s,}", must be lower than holdTime "&Duration{Duration:30s,}"'
        ],
        id="peer-keepalive-above-hold",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, password: x,"
        " passwordSecret: {name: s}}",
        "native",
        ['BGPPeer/p: parsing peer p can not have both password and secret ref set in peer config "m"/"p"'],
        id="peer-password-and-secret",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, passwordSecret: {name: s}}",
        "native",
        [
            'BGPPeer/p: parsing peer p secret ref not found for peer config "m"/"p"; '
            "failed to parse peer p password secret"
        ],
        id="peer-secret-missing-is-transient",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, bfdProfile: nope}",
        "frr",
        ["BGPPeer/p: peer p referencing non existing bfd profile nope"],
        id="peer-unknown-bfd-profile",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, vrf: red}",
        "native",
        ["BGPPeer/p: peer 1.2.3.4 has vrf set on native bgp mode"],
        id="native-rejects-vrf",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, keepaliveTime: 10s}",
        "native",
        ["BGPPeer/p: peer 1.2.3.4 has keepalive-time set on native bgp mode"],
        id="native-rejects-keepalive",
    ),
    pytest.param(
        "kind: BFDProfile\nname: b\nspec: {}",
        "native",
        ["BFDProfile/b: bfd profiles section set"],
        id="native-rejects-bfd-profiles",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["fc00::/124"]') + "---\nkind: BGPAdvertisement\nname: x\nspec: {}",
        "native",
        ['IPAddressPool/a: pool "a" has ipv6 CIDR fc00::/124, native bgp mode does not support ipv6'],
        id="native-rejects-ipv6-bgp-pool",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["10.0.0.0/24"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {communities: [large:1:2:3]}",
        "native",
        [
            'BGPAdvertisement/x: native BGP mode only supports legacy communities, BGP advertisement "x" '
            'has non legacy community "large:1:2:3"'
        ],
        id="native-rejects-large-community",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, routerID: 1.1.1.1}\n---\n"
        "kind: BGPPeer\nname: q\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.5, routerID: 2.2.2.2}",
        "frr",
        [
            "BGPPeer/q: peer 2.2.2.2 has RouterID different from 1.1.1.1, in FRR mode peers selecting the same "
            "node must all have the same RouterID"
        ],
        id="frr-router-id-mismatch",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4}\n---\n"
        "kind: BGPPeer\nname: q\nspec: {myASN: 1, peerASN: 3, peerAddress: 1.2.3.4}",
        "frr",
        ["BGPPeer/q: peer 1.2.3.4 already exists, FRR mode doesn't support duplicate BGPPeers selecting the same node"],
        id="frr-duplicate-peer",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4}\n---\n"
        "kind: BGPPeer\nname: q\nspec: {myASN: 5, peerASN: 3, peerAddress: 1.2.3.5}",
        "frr",
        [
            "BGPPeer/q: peer 1.2.3.5 has myAsn different from 1.2.3.4, in FRR mode peers selecting the same node "
            "must have the same myAsn within the same VRF"
        ],
        id="frr-my-asn-mismatch",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4}\n---\n"
        "kind: BGPPeer\nname: q\nspec: {myASN: 1, peerASN: 3, peerAddress: 1.2.3.4}",
        "native",
        ["BGPPeer/q: peer q has the same address 1.2.3.4 and port 179 as peer p on the same nodes"],
        id="duplicate-peer-address-beyond-upstream",
    ),
    pytest.param(
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4,"
        " nodeSelectors: [{matchLabels: {a: b}}]}\n---\n"
        "kind: BGPPeer\nname: q\nspec: {myASN: 1, peerASN: 3, peerAddress: 1.2.3.4,"
        " nodeSelectors: [{matchLabels: {a: c}}]}",
        "native",
        [],
        id="same-peer-address-on-disjoint-nodes-is-fine",
    ),
    pytest.param(
        "kind: Community\nname: c\nspec: {communities: [{name: x, value: '1:99999'}]}",
        "native",
        [
            'Community/c: parsing community "x": invalid community value: invalid section "99999" of community '
            '"1:99999", err: "strconv.ParseUint: parsing \\"99999\\": value out of range"'
        ],
        id="community-value-out-of-range",
    ),
    pytest.param(
        "kind: Community\nname: c\nspec: {communities: [{name: x, value: 'big:1:2:3'}]}",
        "frr",
        [
            'Community/c: parsing community "x": invalid community value: invalid marker for large community, '
            'expected community to be of format large:<uint32>:<uint32>:<uint32> but got "big:1:2:3" instead'
        ],
        id="community-bad-large-marker",
    ),
    pytest.param(
        "kind: Community\nname: c\nspec: {communities: [{name: x, value: '1:2'}]}\n---\n"
        "kind: Community\nname: d\nspec: {communities: [{name: x, value: '1:3'}]}",
        "native",
        ['Community/d: duplicate definition of community "x"'],
        id="community-duplicate-alias-across-objects",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["1.1.1.0/28"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {aggregationLength: 26}",
        "native",
        [
            "BGPAdvertisement/x: invalid aggregation length 26: prefix 28 in this pool is more specific than the "
            "aggregation length for addresses 1.1.1.0/28"
        ],
        id="aggregation-shorter-than-pool-prefix",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["1.1.1.0/24"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {aggregationLength: 33}",
        "native",
        ["BGPAdvertisement/x: invalid aggregation length '!' for IPv4"],
        id="aggregation-too-long-go-rune-quirk",
    ),
    pytest.param(
        "kind: BGPAdvertisement\nname: x\nspec: {aggregationLength: 24, serviceSelectors: [{matchLabels: {a: b}}]}",
        "native",
        ["BGPAdvertisement/x: serviceSelectors and aggregationLength are mutually exclusive, both cannot be set in x"],
        id="service-selectors-with-aggregation",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["1.1.1.0/24"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {localPref: 100}\n---\n"
        "kind: BGPAdvertisement\nname: y\nspec: {localPref: 200}",
        "native",
        [
            "BGPAdvertisement/y: invalid local preference 200: local preferernce 100 was already set for the same "
            "type of BGP update. Check existing BGP advertisements with common pools and aggregation lengths"
        ],
        id="local-pref-conflict",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["1.1.1.0/24"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {localPref: 100, peers: [p1]}\n---\n"
        "kind: BGPAdvertisement\nname: y\nspec: {localPref: 200, peers: [p2]}",
        "native",
        [],
        id="local-pref-disjoint-peers-is-fine",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["1.1.1.0/24"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {localPref: 100}\n---\n"
        "kind: BGPAdvertisement\nname: y\nspec: {localPref: 200, aggregationLength: 24}",
        "native",
        [],
        id="local-pref-different-aggregation-is-fine",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["1.1.1.0/24"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {asPathPrepend: 1}\n---\n"
        "kind: BGPAdvertisement\nname: y\nspec: {asPathPrepend: 3}",
        "native",
        [
            "BGPAdvertisement/y: invalid AS path prepend 3: AS path prepend 1 was already set for the same type "
            "of BGP update. Check existing BGP advertisements with common pools and aggregation lengths"
        ],
        id="as-path-prepend-conflict",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["1.1.1.0/24"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {asPathPrepend: 1}\n---\n"
        "kind: BGPAdvertisement\nname: y\nspec: {asPathPrepend: 1, communities: ['1:2']}",
        "native",
        [],
        id="as-path-prepend-equal-is-fine",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["1.1.1.0/24"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {asPathPrepend: 1, peers: [p1]}\n---\n"
        "kind: BGPAdvertisement\nname: y\nspec: {asPathPrepend: 3, peers: [p2]}",
        "native",
        [],
        id="as-path-prepend-disjoint-peers-is-fine",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["1.1.1.0/24"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {asPathPrepend: 1}\n---\n"
        "kind: BGPAdvertisement\nname: y\nspec: {asPathPrepend: 3, aggregationLength: 24}",
        "native",
        [],
        id="as-path-prepend-different-aggregation-is-fine",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["1.1.1.0/24"]') + "---\nkind: BGPAdvertisement\nname: x\n"
        "spec: {asPathPrepend: 1, nodeSelectors: [{matchLabels: {rack: a}}]}\n---\n"
        "kind: BGPAdvertisement\nname: y\nspec: {asPathPrepend: 3, nodeSelectors: [{matchLabels: {rack: b}}]}",
        "native",
        [],
        id="as-path-prepend-disjoint-node-selectors-is-fine",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["1.1.1.0/24"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {asPathPrepend: 0}\n---\n"
        "kind: BGPAdvertisement\nname: y\nspec: {localPref: 0}",
        "native",
        [],
        id="as-path-prepend-zero-equals-unset",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["1.1.1.0/24"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {localPref: 100, asPathPrepend: 1}\n---\n"
        "kind: BGPAdvertisement\nname: y\nspec: {localPref: 200, asPathPrepend: 3}",
        "native",
        [
            "BGPAdvertisement/y: invalid local preference 200: local preferernce 100 was already set for the same "
            "type of BGP update. Check existing BGP advertisements with common pools and aggregation lengths"
        ],
        id="local-pref-reported-before-as-path-prepend",
    ),
    pytest.param(
        "kind: BGPAdvertisement\nname: x\nspec: {peers: [a, a]}",
        "native",
        ['BGPAdvertisement/x: duplicate definition of peers "a"'],
        id="bgp-adv-duplicate-peers",
    ),
    pytest.param(
        "kind: BGPAdvertisement\nname: x\nspec: {communities: ['1:99999']}",
        "native",
        [
            'BGPAdvertisement/x: invalid community value: invalid section "99999" of community "1:99999", err: '
            '"strconv.ParseUint: parsing \\"99999\\": value out of range"; invalid community "1:99999" in BGP '
            "advertisement"
        ],
        id="bgp-adv-bad-community",
    ),
    pytest.param(
        "kind: BGPAdvertisement\nname: x\nspec: {communities: [no-such-alias]}",
        "native",
        [
            'BGPAdvertisement/x: invalid community format: no-such-alias; invalid community "no-such-alias" in '
            "BGP advertisement"
        ],
        id="bgp-adv-unknown-alias-is-transient",
    ),
    pytest.param(
        "kind: L2Advertisement\nname: l\nspec: {ipAddressPools: [a, a]}",
        "native",
        ['L2Advertisement/l: duplicate definition of ipAddressPools "a"'],
        id="l2-duplicate-pools",
    ),
    pytest.param(
        "kind: L2Advertisement\nname: l\nspec: {nodeSelectors: [{matchExpressions: [{key: a, operator: Is}]}]}",
        "native",
        [
            'L2Advertisement/l: "Is" is not a valid label selector operator; invalid label selector '
            "{map[] [{a Is []}]}; failed to parse node selector for l"
        ],
        id="l2-invalid-selector-operator",
    ),
    pytest.param(
        POOL.format(name="a", addrs='["fc00::/124"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {}\n---\nkind: BFDProfile\nname: echo\nspec: {echoMode: true}\n"
        "---\nkind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, bfdProfile: echo}",
        "frr",
        [
            "IPAddressPool/a: pool a has bgpadvertisement x which references peer p which has bfd echo enabled, which "
            "is not possible"
        ],
        id="bfd-echo-on-ipv6-pool",
    ),
]


@pytest.mark.parametrize(("text", "mode", "expected"), CASES)
def test_rule(text: str, mode: str, expected: list[str]) -> None:
    assert errors(text, mode) == expected


def test_transient_errors_are_marked() -> None:
    text = "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, bfdProfile: nope}"
    result = parse_config(resources(text), ParseOptions(bgp_mode="frr"))
    assert [type(e) for e in result.errors] == [TransientConfigError]


def test_skip_transient_accepts_references_that_may_appear_later() -> None:
    text = (
        "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, bfdProfile: nope,"
        " passwordSecret: {name: s}}\n---\nkind: BGPAdvertisement\nname: x\nspec: {communities: [later]}"
    )
    result = parse_config(resources(text), ParseOptions(bgp_mode="frr", skip_transient=True))
    assert result.errors == ()


def test_secret_is_resolved() -> None:
    text = "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, passwordSecret: {name: s}}"
    good = {"s": SecretInfo("s", "m", "kubernetes.io/basic-auth", "pw")}
    result = parse_config(resources(text, secrets=good))
    assert result.config is not None
    assert result.config.peers["p"].secret_password == "pw"
    wrong = {"s": SecretInfo("s", "m", "Opaque", "pw")}
    assert errors(text, secrets=wrong) == [
        'BGPPeer/p: parsing peer p secret type mismatch on "m"/"s", type "kubernetes.io/basic-auth" is expected ; '
        "failed to parse peer p password secret"
    ]


def test_unknown_pool_in_advertisement_is_a_warning() -> None:
    text = (
        POOL.format(name="a", addrs='["10.0.0.0/24"]')
        + "---\nkind: L2Advertisement\nname: l\nspec: {ipAddressPools: [b]}"
    )
    result = parse_config(resources(text))
    assert result.errors == ()
    assert [w.line() for w in result.warnings] == [
        'L2Advertisement/l: ipAddressPools names pool "b", which does not exist'
    ]


def test_advertisements_attach_to_named_selected_or_all_pools() -> None:
    text = (
        "kind: IPAddressPool\nname: a\nlabels: {}\nspec: {addresses: [10.0.0.0/24]}\n---\n"
        + POOL.format(name="b", addrs='["10.1.0.0/24"]')
        + "---\nkind: L2Advertisement\nname: all\nspec: {}\n---\n"
        "kind: L2Advertisement\nname: only-b\nspec: {ipAddressPools: [b], interfaces: [eth1]}\n"
    ).replace("labels: {}\n", "")
    result = parse_config(resources(text))
    assert result.config is not None
    pools = result.config.pools
    assert [a.name for a in pools["a"].l2_advertisements] == ["all"]
    assert [a.name for a in pools["b"].l2_advertisements] == ["all", "only-b"]


def test_equal_l2_advertisements_are_attached_to_a_pool_once() -> None:
    """Equal content (the name does not count) without preferences: the first one per pool, as upstream
    (advertisements are taken in name order)."""
    text = (
        POOL.format(name="a", addrs='["10.0.0.0/24"]')
        + "---\n"
        + POOL.format(name="b", addrs='["10.1.0.0/24"]')
        + "---\nkind: L2Advertisement\nname: x1\nspec: {ipAddressPools: [b]}\n"
        "---\nkind: L2Advertisement\nname: x2\nspec: {}\n"
        "---\nkind: L2Advertisement\nname: y\nspec: {interfaces: [eth1]}\n"
        "---\nkind: L2Advertisement\nname: p1\nspec: {interfaces: [eth1], preferredNodeSelectors: "
        "[{weight: 1, preference: {matchLabels: {a: b}}}]}\n"
        "---\nkind: L2Advertisement\nname: p2\nspec: {interfaces: [eth1], preferredNodeSelectors: "
        "[{weight: 1, preference: {matchLabels: {a: b}}}]}\n"
        "---\nkind: L2Advertisement\nname: y2\nspec: {ipAddressPools: [a], interfaces: [eth1]}\n"
    )
    result = parse_config(resources(text))
    assert result.config is not None
    pools = result.config.pools
    assert [a.name for a in pools["a"].l2_advertisements] == ["p1", "p2", "x2", "y"]
    assert [a.name for a in pools["b"].l2_advertisements] == ["p1", "p2", "x1", "y"]


@settings(max_examples=150, deadline=None)
@given(
    advs=st.lists(
        st.tuples(
            st.sets(st.sampled_from("abcd"), max_size=3),  # pools named (none: every pool)
            st.sampled_from([(), ("eth0",), ("eth1",)]),  # interfaces
            st.sampled_from(["", "{matchLabels: {r: x}}", "{matchLabels: {r: y}}"]),  # a node selector
            st.booleans(),  # with a preference
        ),
        max_size=12,
    )
)
def test_l2_advertisements_attach_in_order_with_equal_ones_merged(
    advs: list[tuple[set[str], tuple[str, ...], str, bool]],
) -> None:
    """Against the rule written out: in name order, each advertisement goes to the pools it selects, unless
    an equal one without preferences is already there."""
    text = "---\n".join(POOL.format(name=p, addrs=f'["10.0.{i}.0/24"]') for i, p in enumerate("abcd"))
    for i, (named, interfaces, node_sel, preferred) in enumerate(advs):
        spec = [f"ipAddressPools: [{', '.join(sorted(named))}]"] if named else []
        spec += [f"interfaces: [{interfaces[0]}]"] if interfaces else []
        spec += [f"nodeSelectors: [{node_sel}]"] if node_sel else []
        spec += ["preferredNodeSelectors: [{weight: 1, preference: {matchLabels: {z: z}}}]"] if preferred else []
        text += f"---\nkind: L2Advertisement\nname: adv{i}\nspec: {{{', '.join(spec)}}}\n"
    result = parse_config(resources(text))
    assert result.config is not None
    expected: dict[str, list[str]] = {p: [] for p in "abcd"}
    held: dict[str, list[tuple[object, ...]]] = {p: [] for p in "abcd"}
    for i, (named, interfaces, node_sel, preferred) in sorted(enumerate(advs), key=lambda e: f"adv{e[0]}"):
        content = (interfaces, node_sel)
        for p in sorted(named or "abcd"):
            if not preferred and content in held[p]:
                continue
            if not preferred:
                held[p].append(content)
            expected[p].append(f"adv{i}")
    assert {p: [a.name for a in result.config.pools[p].l2_advertisements] for p in "abcd"} == expected


def test_namespace_selectors_resolve_against_given_namespaces() -> None:
    text = (
        "kind: IPAddressPool\nname: a\nspec:\n  addresses: [10.0.0.0/24]\n  serviceAllocation:\n"
        "    priority: 5\n    namespaces: [x]\n    namespaceSelectors: [{matchLabels: {team: red}}]"
    )
    ns = [LabeledObject("y", {"team": "red"}), LabeledObject("z", {"team": "blue"})]
    result = parse_config(resources(text, namespaces=ns))
    assert result.config is not None
    alloc = result.config.pools["a"].allocation
    assert alloc is not None
    assert alloc.priority == 5
    assert alloc.namespaces == frozenset({"x", "y"})


def test_every_problem_is_reported_not_only_the_first() -> None:
    text = (
        POOL.format(name="a", addrs='["bad"]')
        + "---\nkind: BGPPeer\nname: p\nspec: {myASN: 0, peerASN: 1, peerAddress: 1.2.3.4}"
    )
    assert len(errors(text)) == 2


def test_parse_does_not_mutate_its_input() -> None:
    res = resources(POOL.format(name="a", addrs='["10.0.0.0/24"]') + "---\nkind: L2Advertisement\nname: l\nspec: {}")
    before = [p.model_dump() for p in res.pools]
    parse_config(res)
    parse_config(res, ParseOptions(skip_transient=True))
    assert [p.model_dump() for p in res.pools] == before


def test_same_input_gives_equal_configs() -> None:
    text = POOL.format(name="a", addrs='["10.0.0.0/24", "fc00::/64"]') + "---\nkind: L2Advertisement\nname: l\nspec: {}"
    assert parse_config(resources(text)) == parse_config(resources(text))


def test_bfd_ranges_are_checked_by_the_parser_too() -> None:
    """The models enforce the bounds; the parser checks again for objects built without validation."""
    from crds.types import BFDProfileSpec

    spec = BFDProfileSpec.model_construct(detect_multiplier=1)
    profile = BFDProfile.model_construct(metadata=BFDProfile(metadata={"name": "b"}).metadata, spec=spec)
    result = parse_config(ClusterResources(bfd_profiles=(profile,)), ParseOptions(bgp_mode="frr"))
    assert [e.line() for e in result.errors] == [
        "BFDProfile/b: parsing bfd profile #1: invalid value 1, must be in 2-255 range; invalid detect multiplier value"
    ]


def test_the_object_under_review_is_named_as_the_newcomer() -> None:
    text = (
        POOL.format(name="office", addrs='["10.0.0.0/30"]') + "---\n" + POOL.format(name="bad", addrs='["10.0.0.1/32"]')
    )
    by_name = parse_config(resources(text), ParseOptions(bgp_mode=None))
    assert [e.where for e in by_name.errors] == ["IPAddressPool/office"]
    reviewed = parse_config(resources(text), ParseOptions(bgp_mode=None, last=("IPAddressPool", "bad")))
    assert [e.line() for e in reviewed.errors] == [
        'IPAddressPool/bad: CIDR "10.0.0.1/32" in pool "bad" overlaps with already defined CIDR "10.0.0.0/30"'
    ]


def test_bfd_echo_is_reported_for_every_ipv6_pool_not_only_the_first() -> None:
    text = (
        POOL.format(name="a", addrs='["fc00::/124"]')
        + "---\n"
        + POOL.format(name="b", addrs='["fc00:1::/124"]')
        + "---\nkind: BGPAdvertisement\nname: x\nspec: {}\n---\nkind: BFDProfile\nname: echo\nspec: {echoMode: true}\n"
        "---\nkind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, bfdProfile: echo}"
    )
    assert errors(text, "frr") == [
        f"IPAddressPool/{pool}: pool {pool} has bgpadvertisement x which references peer p which has bfd echo "
        "enabled, which is not possible"
        for pool in ("a", "b")
    ]


@pytest.mark.parametrize(
    ("module", "name", "text"),
    [
        pytest.param("crds.config._pools", "parse_entry", POOL.format(name="a", addrs='["10.0.0.0/24"]'), id="pool"),
        pytest.param(
            "crds.config._peers",
            "parse_ip",
            "kind: BGPPeer\nname: p\nspec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4}",
            id="peer",
        ),
        pytest.param(
            "crds.config._advertisements",
            "parse_community",
            "kind: BGPAdvertisement\nname: x\nspec: {communities: ['1:2']}",
            id="bgp-advertisement",
        ),
    ],
)
def test_a_bug_inside_the_parser_is_raised_not_reported_as_a_config_error(
    monkeypatch: pytest.MonkeyPatch, module: str, name: str, text: str
) -> None:
    """A ValueError from our own code or a library is a bug: it must not reach a user as MetalLB's text."""

    def broken(*_: object) -> None:
        raise ValueError("bug")

    monkeypatch.setattr(f"{module}.{name}", broken)
    with pytest.raises(ValueError, match=r"^bug$"):
        parse_config(resources(text))


def test_equal_bgp_advertisements_are_reported_by_position() -> None:
    adv = "kind: BGPAdvertisement\nname: {name}\nspec: {{localPref: 1}}\n"
    text = "---\n".join([adv.format(name="x"), adv.format(name="w"), adv.format(name="x")])
    assert errors(text, "frr") == [
        'BGPAdvertisement/x: duplicate definition of BGPAdvertisement "x"',
        "BGPAdvertisement/x: duplicate definition of bgpadvertisements. advertisement 2 and 3 are equal",
    ]
