"""Hostile bodies: every generated AdmissionReview or ConversionReview gets a well-formed answer or a 400.

Never a 500, never an exception, never an internal error hidden behind a denial: ``Reply.internal_error`` must stay
None, so a rule that crashes on odd input fails these tests even though the server would still answer.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wh_helpers import obj, pool, review, service, state_with

from webhooks.review import CONVERT_PATH, SERVICE_PATH, VALIDATING_PATHS, Reply, handle

PATHS = sorted(VALIDATING_PATHS)
STATE = state_with(
    pool("a", "10.0.0.0/24", "fc00::/120"),
    pool("b", "10.0.1.0-10.0.1.50"),
    obj("L2Advertisement", "l2", {"ipAddressPools": ["a"]}),
    obj("BGPAdvertisement", "bgp", {"ipAddressPools": ["b"], "communities": ["no-export"]}),
    obj("Community", "c", {"communities": [{"name": "no-export", "value": "65535:65281"}]}),
    obj("BGPPeer", "p", {"myASN": 64500, "peerASN": 64501, "peerAddress": "10.1.0.1"}),
    services=[service("web", ingress=["10.0.0.5"], annotations={"metallb.io/allow-shared-ip": "k"})],
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["10.0.0.5", "fc00::1", "10.0.0.0/24", "1:2", "large:1:2:3", "metallb-system", "", "a" * 300]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20,
)


def samples() -> list[dict[str, Any]]:
    """Valid reviews of every kind, the seeds that mutations start from."""
    out = []
    for o in (
        pool("x", "10.0.0.0/28"),
        obj("L2Advertisement", "l", {"ipAddressPools": ["a"], "nodeSelectors": [{"matchLabels": {"a": "b"}}]}),
        obj("BGPAdvertisement", "b", {"ipAddressPools": ["a"], "aggregationLength": 30, "localPref": 5}),
        obj("Community", "c2", {"communities": [{"name": "n", "value": "1:2"}]}),
        obj("BFDProfile", "f", {"detectMultiplier": 3}),
        obj("BGPPeer", "q", {"myASN": 1, "peerASN": 2, "peerAddress": "10.2.0.1", "holdTime": "90s"}),
        service("s", annotations={"metallb.io/loadBalancerIPs": "10.0.0.5", "metallb.io/allow-shared-ip": "k"}),
    ):
        for op in ("CREATE", "UPDATE", "DELETE"):
            out.append(review(op, o if op != "DELETE" else None, o if op != "CREATE" else None))
    return out


SEEDS = samples()


def check(path: str, body: Any, reply: Reply) -> None:
    assert reply.internal_error is None, f"{path}: {reply.internal_error!r} for {str(body)[:300]}"
    assert reply.status in (200, 400), reply
    json.dumps(reply.body)  # serialisable
    if reply.status == 400:
        assert set(reply.body) == {"error"} and isinstance(reply.body["error"], str)
        return
    if path == CONVERT_PATH:
        assert reply.body["kind"] == "ConversionReview"
        assert reply.body["response"]["result"]["status"] in ("Success", "Failure")
        return
    assert reply.body["apiVersion"] == "admission.k8s.io/v1" and reply.body["kind"] == "AdmissionReview"
    resp = reply.body["response"]
    assert isinstance(resp["uid"], str) and resp["uid"]
    assert isinstance(resp["allowed"], bool)
    if not resp["allowed"]:
        assert isinstance(resp["status"]["message"], str) and resp["status"]["message"]
    for w in resp.get("warnings", []):
        assert isinstance(w, str)


def _set(body: Any, where: list[Any], value: Any) -> None:
    node = body
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value


def _paths(node: Any, prefix: list[Any]) -> list[list[Any]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, [*prefix, k]))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, [*prefix, i]))
    return out


FAST = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(path=st.sampled_from([*PATHS, CONVERT_PATH]), body=JSON)
def test_random_json_gets_an_answer(path: str, body: Any) -> None:
    raw = json.dumps(body).encode()
    check(path, body, handle(path, raw, STATE))


@FAST
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_mutated_reviews_get_an_answer(seed: dict[str, Any], data: st.DataObject) -> None:
    body = copy.deepcopy(seed)
    for _ in range(data.draw(st.integers(1, 4))):
        paths = _paths(body, [])
        if not paths:
            break
        where = data.draw(st.sampled_from(paths))
        if data.draw(st.booleans()):
            _set(body, where, data.draw(JSON))
        else:
            parent = body
            for key in where[:-1]:
                parent = parent[key]
            del parent[where[-1]]
    for path in (*PATHS, CONVERT_PATH):
        check(path, body, handle(path, body, STATE))


def test_huge_values_get_an_answer() -> None:
    rng = random.Random(5)
    huge = [
        "9" * 5000,
        "1." * 3000,
        2**4000,
        -(2**4000),
        1e308,
        ["10.0.0.1"] * 2000,
        {"k" * 1000: "v" * 100000},
        ",".join(["10.0.0.1"] * 3000),
        "::" * 1000,
    ]
    count = 0
    for seed in SEEDS:
        for where in _paths(seed, []):
            body = copy.deepcopy(seed)
            _set(body, where, rng.choice(huge))
            path = SERVICE_PATH if seed["request"]["kind"]["kind"] == "Service" else rng.choice(PATHS)
            check(path, body, handle(path, json.dumps(body).encode(), STATE))
            count += 1
    assert count > 500


def test_conversion_reviews_with_odd_objects_get_an_answer() -> None:
    rng = random.Random(7)
    odd: list[Any] = [
        None,
        5,
        "x",
        [],
        {},
        {"kind": "BGPPeer"},
        {"kind": "BGPPeer", "apiVersion": "metallb.io/v1beta1", "spec": []},
    ]
    odd.append({"kind": "BGPPeer", "apiVersion": "metallb.io/v1beta1", "spec": {"nodeSelectors": [5, None]}})
    odd.append({"kind": "BGPPeer", "apiVersion": "metallb.io/v1beta2", "spec": {"nodeSelectors": [{"matchLabels": 5}]}})
    for _ in range(1000):
        objects = [rng.choice(odd) for _ in range(rng.randint(0, 3))]
        body = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "request": {
                "uid": "u",
                "desiredAPIVersion": rng.choice(["metallb.io/v1beta1", "metallb.io/v1beta2"]),
                "objects": objects,
            },
        }
        check(CONVERT_PATH, body, handle(CONVERT_PATH, body, STATE))
