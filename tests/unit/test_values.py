"""Value parsers: address entries, communities, Go durations, BGPPeer version conversion."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crds.addresses import EntryError, parse_entry
from crds.community import CommunityFormatError, CommunityValueError, parse_community
from crds.config import format_go_duration, parse_go_duration
from crds.conversion import V1BETA1, V1BETA2, convert_bgppeer, to_v1beta1, to_v1beta2
from crds.types import BGPPeer, BGPPeerV1beta1


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_ipv4_range_summarizes_exactly(a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    entry = parse_entry(f"{ipaddress.IPv4Address(lo)}-{ipaddress.IPv4Address(hi)}")
    assert (entry.first, entry.last, entry.size) == (lo, hi, hi - lo + 1)
    expected = list(ipaddress.summarize_address_range(ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi)))
    assert [str(c) for c in entry.cidrs] == [str(n) for n in expected]


@given(st.integers(0, 2**128 - 1), st.integers(0, 128))
def test_ipv6_cidr_with_host_bits_is_its_network(value: int, plen: int) -> None:
    net = ipaddress.IPv6Network((value, plen), strict=False)
    entry = parse_entry(f"{ipaddress.IPv6Address(value)}/{plen}")
    assert (entry.first, entry.last) == (int(net.network_address), int(net.broadcast_address))


def test_a_v6_slash_64_is_two_integers() -> None:
    entry = parse_entry("fc00::/64")
    assert entry.size == 2**64 and len(entry.cidrs) == 1


@pytest.mark.parametrize("text", ["", "10.0.0.0", "10.0.0.0/33", "x/24", "1.2.3.4-", "-1.2.3.4", "1.2.3.4-5.6.7"])
def test_bad_entries_raise_entry_error(text: str) -> None:
    with pytest.raises(EntryError):
        parse_entry(text)


def test_range_with_spaces() -> None:
    assert parse_entry("10.0.0.1 - 10.0.0.4").size == 4


@pytest.mark.parametrize(
    ("text", "shown"),
    [("65535:65282", "65535:65282"), ("0:0", "0:0"), ("large:1:2:3", "large:1:2:3"), ("large:4294967295:0:1", None)],
)
def test_communities_parse(text: str, shown: str | None) -> None:
    assert str(parse_community(text)) == (shown or text)


@pytest.mark.parametrize("text", ["65536:1", "1:-1", "large:1:2:4294967296", "big:1:2:3", "a:b"])
def test_bad_community_values(text: str) -> None:
    with pytest.raises(CommunityValueError):
        parse_community(text)


@pytest.mark.parametrize("text", ["no-advertise", "1:2:3", ""])
def test_community_format_errors_may_be_aliases(text: str) -> None:
    with pytest.raises(CommunityFormatError):
        parse_community(text)


def test_legacy_sorts_as_large() -> None:
    assert parse_community("1:0") < parse_community("large:65536:0:1")


@pytest.mark.parametrize(
    ("text", "seconds", "canonical"),
    [
        ("90s", 90, "1m30s"),
        ("1m30s", 90, "1m30s"),
        ("0", 0, "0s"),
        ("1.5h", 5400, "1h30m0s"),
        ("300ms", 0.3, "300ms"),
        ("2h", 7200, "2h0m0s"),
    ],
)
def test_go_durations(text: str, seconds: float, canonical: str) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)
    assert format_go_duration(seconds) == canonical


@pytest.mark.parametrize("text", ["", "90", "1x", "s", "1m 30s"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


# --- BGPPeer conversion ------------------------------------------------------------------------------

_labels = st.dictionaries(st.sampled_from(["a", "b", "zone"]), st.sampled_from(["x", "y"]), max_size=2)
_expr = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["k1", "k2"]),
        "operator": st.sampled_from(["In", "NotIn"]),
        "values": st.lists(st.sampled_from(["v1", "v2"]), min_size=1, max_size=2, unique=True),
    }
)
_v1_selector = st.fixed_dictionaries({"matchLabels": _labels, "matchExpressions": st.lists(_expr, max_size=2)})
_v1_spec = st.fixed_dictionaries(
    {
        "myASN": st.integers(1, 2**32 - 1),
        "peerASN": st.integers(1, 2**32 - 1),
        "peerAddress": st.ip_addresses().map(str),
    },
    optional={
        "sourceAddress": st.ip_addresses().map(str),
        "peerPort": st.integers(1, 16384),
        "holdTime": st.sampled_from(["90s", "3m0s", "0s"]),
        "keepaliveTime": st.sampled_from(["30s", "1m0s"]),
        "routerID": st.ip_addresses(v=4).map(str),
        "password": st.text(min_size=1, max_size=8),
        "bfdProfile": st.sampled_from(["fast", "slow"]),
        "ebgpMultiHop": st.booleans(),
        "nodeSelectors": st.lists(_v1_selector, max_size=2),
    },
)


@given(_v1_spec)
def test_v1beta1_survives_a_round_trip_through_v1beta2(spec: dict[str, Any]) -> None:
    obj = {
        "apiVersion": V1BETA1,
        "kind": "BGPPeer",
        "metadata": {"name": "p", "uid": "u", "labels": {"a": "b"}},
        "spec": spec,
    }
    v2 = convert_bgppeer(obj, V1BETA2)
    assert v2["apiVersion"] == V1BETA2 and v2["metadata"] == obj["metadata"]
    BGPPeer.model_validate(v2)
    back = convert_bgppeer(v2, V1BETA1)
    BGPPeerV1beta1.model_validate(back)
    assert back == obj


def test_absent_hold_time_stays_absent_better_than_upstream() -> None:
    obj = {
        "apiVersion": V1BETA1,
        "kind": "BGPPeer",
        "metadata": {"name": "p"},
        "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "1.2.3.4"},
    }
    assert "holdTime" not in to_v1beta2(obj)["spec"]


def test_v1beta2_only_fields_are_dropped_going_down() -> None:
    obj = {
        "apiVersion": V1BETA2,
        "kind": "BGPPeer",
        "metadata": {"name": "p"},
        "spec": {
            "myASN": 1,
            "peerASN": 2,
            "peerAddress": "1.2.3.4",
            "vrf": "red",
            "connectTime": "5s",
            "nodeSelectors": [{}],
        },
    }
    down = to_v1beta1(obj)
    assert down["spec"] == {
        "myASN": 1,
        "peerASN": 2,
        "peerAddress": "1.2.3.4",
        "nodeSelectors": [{"matchLabels": {}, "matchExpressions": []}],
    }


def test_unknown_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        convert_bgppeer({"apiVersion": "metallb.io/v2"}, V1BETA1)


def test_load_object_converts_v1beta1_peers_and_explains_misfits() -> None:
    from crds.objects import load_object

    old = {
        "apiVersion": V1BETA1,
        "kind": "BGPPeer",
        "metadata": {"name": "p"},
        "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "1.2.3.4", "holdTime": "90s"},
    }
    peer = load_object(BGPPeer, old)
    assert peer.api_version == V1BETA2 and peer.spec.hold_time == "90s" and peer.spec.peer_port == 179
    with pytest.raises(ValueError, match=r"^spec\.myASN: "):
        load_object(BGPPeer, {"apiVersion": V1BETA2, "kind": "BGPPeer", "spec": {"myASN": -1, "peerASN": 2}})
    with pytest.raises(ValueError, match="not a JSON object"):
        load_object(BGPPeer, ["x"])
