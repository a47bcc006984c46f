"""Values inside MetalLB's messages, printed the way its Go code prints them, one case per kind of value.

Each expectation was derived from the Go source (MetalLB ``internal/config``; apimachinery v0.34.1
``pkg/util/validation``, ``pkg/labels``, ``pkg/apis/meta/v1``; Go's ``fmt`` and ``time``):

* label selectors are checked for syntax with apimachinery's texts (``LabelSelectorAsSelector``), wrapped in
  the words MetalLB adds where the selector sits;
* a ``metav1.LabelSelector`` passed by value prints by reflection (``String()`` has a pointer receiver):
  ``%v`` gives ``{map[a:b] [{k In [x y]}]}``, ``%q`` quotes each string; passed by pointer (a pool's namespace
  selectors) it prints the generated ``String()``;
* a ``*metav1.Duration`` prints its generated ``String()``, ``&Duration{Duration:1m30s,}`` with the duration as
  ``time.Duration.String()``, or ``nil`` when it was not given;
* a ``CommunityAlias`` prints as a struct with ``%q``: ``{"name" "value"}``.
"""

from __future__ import annotations

import pytest
from config_helpers import errors

from crds.config._durations import format_go_duration_ns, parse_go_duration_ns
from crds.text import go_quote

QNAME_REGEX = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
L2 = "kind: L2Advertisement\nname: l\nspec: {{{spec}}}"
PEER = "kind: BGPPeer\nname: p\nspec: {{myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, {spec}}}"
BGP = "kind: BGPAdvertisement\nname: x\nspec: {{{spec}}}"
ALLOC = "kind: IPAddressPool\nname: a\nspec: {{addresses: [10.0.0.0/24], serviceAllocation: {{{spec}}}}}"
K64 = "k" * 64

SELECTOR_SYNTAX = [
    pytest.param(
        L2.format(spec="nodeSelectors: [{matchLabels: {'a b': x}}]"),
        f'L2Advertisement/l: key: Invalid value: "a b": name part {QNAME_REGEX}; invalid label selector '
        "{map[a b:x] []}; failed to parse node selector for l",
        id="l2-node-selector-key-with-space",
    ),
    pytest.param(
        L2.format(spec="nodeSelectors: [{matchLabels: {'': x}}]"),
        f'L2Advertisement/l: key: Invalid value: "": name part must be non-empty; name part {QNAME_REGEX}; '
        "invalid label selector {map[:x] []}; failed to parse node selector for l",
        id="l2-node-selector-empty-key",
    ),
    pytest.param(
        PEER.format(spec="nodeSelectors: [{matchLabels: {a: 'bad value!'}}]"),
        f'BGPPeer/p: parsing peer p values[0][a]: Invalid value: "bad value!": {LABEL_VALUE}; '
        "failed to convert peer p node selector",
        id="peer-node-selector-bad-value",
    ),
    pytest.param(
        PEER.format(spec="nodeSelectors: [{matchExpressions: [{key: 'Example.com/x', operator: Exists}]}]"),
        f'BGPPeer/p: parsing peer p key: Invalid value: "Example.com/x": prefix part {SUBDOMAIN}; '
        "failed to convert peer p node selector",
        id="peer-node-selector-uppercase-prefix",
    ),
    pytest.param(
        PEER.format(spec="nodeSelectors: [{matchExpressions: [{key: '/x', operator: Exists}]}]"),
        'BGPPeer/p: parsing peer p key: Invalid value: "/x": prefix part must be non-empty; '
        "failed to convert peer p node selector",
        id="peer-node-selector-empty-prefix",
    ),
    pytest.param(
        PEER.format(spec="nodeSelectors: [{matchExpressions: [{key: 'a/b/c', operator: Exists}]}]"),
        f'BGPPeer/p: parsing peer p key: Invalid value: "a/b/c": a qualified name {QNAME_REGEX} with an optional '
        "DNS subdomain prefix and '/' (e.g. 'example.com/MyName'); failed to convert peer p node selector",
        id="peer-node-selector-two-slashes",
    ),
    pytest.param(
        ALLOC.format(spec=f"serviceSelectors: [{{matchLabels: {{{K64}: v}}}}]"),
        f'IPAddressPool/a: parsing address pool a: key: Invalid value: "{K64}": name part must be no more than 63 '
        f"characters; invalid service label selector {{map[{K64}:v] []}} in ip pool a",
        id="pool-service-selector-key-too-long",
    ),
    pytest.param(
        ALLOC.format(spec="namespaceSelectors: [{matchLabels: {'a b': x}}]"),
        f'IPAddressPool/a: parsing address pool a: key: Invalid value: "a b": name part {QNAME_REGEX}; '
        "invalid namespace label selector &LabelSelector{MatchLabels:map[string]string{a b: x,},"
        "MatchExpressions:[]LabelSelectorRequirement{},} in ip pool a",
        id="pool-namespace-selector-printed-by-pointer",
    ),
    pytest.param(
        L2.format(spec="nodeSelectors: [{matchExpressions: [{key: 'a b', operator: In, values: ['x y']}]}]"),
        f'L2Advertisement/l: [key: Invalid value: "a b": name part {QNAME_REGEX}, values[0][a b]: Invalid value: '
        f'"x y": {LABEL_VALUE}]; invalid label selector {{map[] [{{a b In [x y]}}]}}; failed to parse node '
        "selector for l",
        id="l2-several-problems-aggregated",
    ),
    pytest.param(
        L2.format(spec="nodeSelectors: [{matchExpressions: [{key: k, operator: Exists, values: [b, a]}]}]"),
        'L2Advertisement/l: values: Invalid value: ["a","b"]: values set must be empty for exists and does not '
        "exist; invalid label selector {map[] [{k Exists [a b]}]}; failed to parse node selector for l",
        id="l2-exists-with-values-sorted",
    ),
    pytest.param(
        L2.format(spec="nodeSelectors: [{matchExpressions: [{key: k, operator: In, values: []}]}]"),
        "L2Advertisement/l: values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty; "
        "invalid label selector {map[] [{k In []}]}; failed to parse node selector for l",
        id="l2-in-without-values",
    ),
    pytest.param(
        L2.format(
            spec="preferredNodeSelectors: [{weight: 1, preference: "
            "{matchExpressions: [{key: k, operator: In, values: [z, 'bad value!']}]}}]"
        ),
        f'L2Advertisement/l: values[1][k]: Invalid value: "bad value!": {LABEL_VALUE}; invalid preferred node '
        "selector {map[] [{k In [z bad value!]}]}; failed to parse preferred node selectors for l",
        id="l2-preferred-selector-keeps-value-order",
    ),
    pytest.param(
        L2.format(spec="ipAddressPoolSelectors: [{matchLabels: {'': x}}]"),
        f'L2Advertisement/l: key: Invalid value: "": name part must be non-empty; name part {QNAME_REGEX}; '
        "invalid label selector {map[:x] []}",
        id="l2-pool-selector-empty-key",
    ),
    pytest.param(
        BGP.format(spec="serviceSelectors: [{matchLabels: {a: 'bad value!'}}]"),
        f"BGPAdvertisement/x: invalid service selector {{map[a:bad value!] []}}: values[0][a]: Invalid value: "
        f'"bad value!": {LABEL_VALUE}; failed to parse service selector for x',
        id="bgp-service-selector-bad-value",
    ),
    pytest.param(
        BGP.format(spec="nodeSelectors: [{matchLabels: {'a b': x}}]"),
        f'BGPAdvertisement/x: key: Invalid value: "a b": name part {QNAME_REGEX}; invalid label selector '
        "{map[a b:x] []}; failed to parse node selector for x",
        id="bgp-node-selector-key-with-space",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SELECTOR_SYNTAX)
def test_label_selector_syntax_is_checked_with_kubernetes_texts(text: str, expected: str) -> None:
    assert errors(text, "frr") == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            L2.format(
                spec="serviceSelectors: [{matchExpressions: [{key: k, operator: In, values: [b, a]}]}, "
                "{matchExpressions: [{key: k, operator: In, values: [a, b]}]}]"
            ),
            'L2Advertisement/l: duplicate definition of serviceSelectors {map[] [{"k" "In" ["a" "b"]}]}',
            id="duplicate-selector-printed-with-percent-q",
        ),
        pytest.param(
            PEER.format(spec='nodeSelectors: [{matchLabels: {a: "x\\"y"}}, {matchLabels: {a: "x\\"y"}}]'),
            'BGPPeer/p: parsing peer p duplicate definition of nodeSelectors {map["a":"x\\"y"] []}',
            id="duplicate-selector-quotes-escaped",
        ),
        pytest.param(
            L2.format(
                spec="nodeSelectors: [{matchExpressions: [{key: k, operator: In, values: [a]}, "
                "{key: k, operator: In, values: [a]}]}]"
            ),
            'L2Advertisement/l: duplicate definition of match expressions {"k" "In" ["a"]}',
            id="duplicate-expression-printed-with-percent-q",
        ),
        pytest.param(
            L2.format(spec="nodeSelectors: [{matchExpressions: [{key: k, operator: In, values: [b, a, b, a]}]}]"),
            'L2Advertisement/l: duplicate definition of match expression value in label selector "a"',
            id="duplicate-value-found-after-sorting",
        ),
    ],
)
def test_duplicate_selectors_print_as_go_does(text: str, expected: str) -> None:
    assert errors(text, "frr") == [expected]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            "holdTime: 1500ms",
            'invalid hold time "&Duration{Duration:1.5s,}": must be 0 or >=3s',
            id="hold-printed-as-duration-string",
        ),
        pytest.param(
            "keepaliveTime: 500ms",
            'invalid hold time "nil": must be 0 or >=3s',
            id="hold-not-given-prints-nil",
        ),
        pytest.param(
            "holdTime: 90s, keepaliveTime: 2m",
            'invalid keepaliveTime "&Duration{Duration:2m0s,}", must be lower than holdTime '
            '"&Duration{Duration:1m30s,}"',
            id="minutes-printed-with-zero-seconds",
        ),
        pytest.param(
            "holdTime: 1h, keepaliveTime: 1h0m0.5s",
            'invalid keepaliveTime "&Duration{Duration:1h0m0.5s,}", must be lower than holdTime '
            '"&Duration{Duration:1h0m0s,}"',
            id="hours-printed-with-fraction",
        ),
    ],
)
def test_timer_errors_print_durations_as_go_does(spec: str, expected: str) -> None:
    assert errors(PEER.format(spec=spec), "frr") == [f"BGPPeer/p: parsing peer p invalid BGPPeer timers: {expected}"]


def test_large_community_in_a_community_cr_prints_as_a_go_struct() -> None:
    text = "kind: Community\nname: c\nspec: {communities: [{name: big, value: 'large:1:2:3'}]}"
    assert errors(text, "native") == [
        'Community/c: native BGP mode only supports legacy communities, BGP community CR "c" has non legacy '
        'community {"big" "large:1:2:3"}'
    ]


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (1_500_000, "1.5ms"),
        (2_000_000_003, "2.000000003s"),
        (90_000_000_000, "1m30s"),
        (3 * 3600 * 10**9 + 1, "3h0m0.000000001s"),
        (100 * 3600 * 10**9, "100h0m0s"),
        (-1_500_000_000, "-1.5s"),
    ],
)
def test_go_duration_string(ns: int, text: str) -> None:
    """Outputs of Go's ``time.Duration.String()`` for the same values; parsing the text gives ``ns`` back."""
    assert format_go_duration_ns(ns) == text
    assert parse_go_duration_ns(text) == ns


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("abc", '"abc"'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("a\nb\a\v", '"a\\nb\\a\\v"'),
        ("\x7f", '"\\x7f"'),
        ("\x00", '"\\x00"'),
        ("µs", '"µs"'),
        ("\u00ad", '"\\u00ad"'),
        ("\U0001f600", '"\U0001f600"'),
        ("\u2028", '"\\u2028"'),
    ],
)
def test_go_quote_matches_strconv_quote(text: str, quoted: str) -> None:
    """Outputs of Go's ``fmt.Sprintf("%q", text)`` for the same strings."""
    assert go_quote(text) == quoted
