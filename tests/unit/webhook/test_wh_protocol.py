"""The wire: AdmissionReview and ConversionReview in and out, HTTP statuses, paths."""

from __future__ import annotations

import json
from typing import Any

import pytest
from wh_helpers import obj, pool, review, service, state_with

from crds.types import IPAddressPool
from reconciler.runtime.resources import SERVICES
from webhooks.review import CONVERT_PATH, SERVICE_PATH, VALIDATING_PATHS, handle
from webhooks.state import CONFIG_RESOURCES, ClusterState

POOL_PATH = "/validate-metallb-io-v1beta1-ipaddresspool"


def test_the_paths_are_metallbs() -> None:
    assert sorted(VALIDATING_PATHS) == [
        "/validate-metallb-io-v1beta1-bfdprofile",
        "/validate-metallb-io-v1beta1-bgpadvertisement",
        "/validate-metallb-io-v1beta1-community",
        "/validate-metallb-io-v1beta1-ipaddresspool",
        "/validate-metallb-io-v1beta1-l2advertisement",
        "/validate-metallb-io-v1beta2-bgppeer",
        SERVICE_PATH,
    ]


def test_an_allowed_review_echoes_the_uid() -> None:
    reply = handle(POOL_PATH, review("CREATE", pool("p", "10.0.0.0/24"), uid="abc"), state_with())
    assert reply.status == 200
    assert reply.body == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "abc", "allowed": True},
    }


def test_a_denial_has_code_403_and_the_message() -> None:
    reply = handle(POOL_PATH, review("CREATE", pool("p", "10.0.0.0/24", ns="x"), uid="u"), state_with())
    assert reply.body["response"] == {
        "uid": "u",
        "allowed": False,
        "status": {
            "code": 403,
            "reason": "Forbidden",
            "message": "resource must be created in metallb-system namespace",
        },
    }


def test_bytes_bodies_are_read_like_dicts() -> None:
    body = json.dumps(review("CREATE", pool("p", "10.0.0.0/24"), uid="b")).encode()
    assert handle(POOL_PATH, body, state_with()).body["response"]["allowed"] is True


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param(b"", "body is not JSON: JSONDecodeError", id="empty"),
        pytest.param(b"\xff\xfe", "body is not JSON: JSONDecodeError", id="not-utf8"),
        pytest.param(b"[1]", "body is not a JSON object", id="array"),
        pytest.param(b"{}", "apiVersion must be admission.k8s.io/v1", id="no-api-version"),
        pytest.param(
            b'{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}',
            "apiVersion must be admission.k8s.io/v1",
            id="v1beta1",
        ),
        pytest.param(
            b'{"apiVersion":"admission.k8s.io/v1","kind":"X"}', "kind must be AdmissionReview", id="wrong-kind"
        ),
        pytest.param(
            b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}', "request is missing", id="no-request"
        ),
        pytest.param(
            b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":5}}',
            "request.uid is missing",
            id="uid-not-a-string",
        ),
        pytest.param(
            b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"EAT"}}',
            "request.operation is missing or unknown",
            id="bad-operation",
        ),
        pytest.param(b"[" * 100000 + b"]" * 100000, "body is not JSON: RecursionError", id="deep-nesting"),
    ],
)
def test_a_body_that_is_not_a_review_is_a_400(body: bytes, error: str) -> None:
    reply = handle(POOL_PATH, body, state_with())
    assert (reply.status, reply.body) == (400, {"error": error})
    assert reply.internal_error is None


def test_a_body_over_the_limit_is_a_400() -> None:
    reply = handle(POOL_PATH, b" " * (8 * 1024 * 1024 + 1), state_with())
    assert reply.status == 400


def test_an_unknown_path_is_a_404() -> None:
    assert handle("/mutate-x", b"{}", state_with()).status == 404


def test_a_review_without_an_object_is_denied_not_crashed() -> None:
    body = review("CREATE", pool("p", "10.0.0.0/24"))
    body["request"]["object"] = None
    reply = handle(POOL_PATH, body, state_with())
    assert reply.body["response"]["status"]["message"] == "invalid IPAddressPool: the object is not a JSON object"


def test_a_bug_in_a_config_rule_denies_and_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import webhooks.review as review_module

    def boom(*args: Any) -> Any:
        raise KeyError("x")

    monkeypatch.setitem(review_module.VALIDATING_PATHS, POOL_PATH, (boom, True))
    monkeypatch.setitem(review_module.VALIDATING_PATHS, SERVICE_PATH, (boom, False))
    reply = handle(POOL_PATH, review("CREATE", pool("p", "10.0.0.0/24")), state_with())
    assert reply.status == 200 and isinstance(reply.internal_error, KeyError)
    assert reply.body["response"]["allowed"] is False
    assert (
        reply.body["response"]["status"]["message"] == "internal error in the pymetallb webhook (KeyError); see its log"
    )
    reply = handle(SERVICE_PATH, review("CREATE", {"apiVersion": "v1", "kind": "Service"}), state_with())
    assert reply.body["response"]["allowed"] is True
    assert reply.body["response"]["warnings"] == ["internal error in the pymetallb webhook (KeyError); see its log"]


# --- conversion --------------------------------------------------------------------------------------

V1 = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "BGPPeer",
    "metadata": {"name": "p", "namespace": "metallb-system", "uid": "1"},
    "spec": {
        "myASN": 64500,
        "peerASN": 64501,
        "peerAddress": "10.0.0.1",
        "nodeSelectors": [{"matchLabels": {"a": "b"}, "matchExpressions": []}],
    },
}


def conversion(desired: str, *objects: Any, api_version: str = "apiextensions.k8s.io/v1") -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "ConversionReview",
        "request": {"uid": "c1", "desiredAPIVersion": desired, "objects": list(objects)},
    }


@pytest.mark.parametrize("api_version", ["apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1"])
def test_v1beta1_converts_to_v1beta2_and_back(api_version: str) -> None:
    reply = handle(CONVERT_PATH, conversion("metallb.io/v1beta2", V1, api_version=api_version), state_with())
    assert reply.status == 200
    assert reply.body["apiVersion"] == api_version and reply.body["kind"] == "ConversionReview"
    resp = reply.body["response"]
    assert resp["uid"] == "c1" and resp["result"] == {"status": "Success"}
    (v2,) = resp["convertedObjects"]
    assert v2["apiVersion"] == "metallb.io/v1beta2"
    assert v2["spec"]["nodeSelectors"] == [{"matchLabels": {"a": "b"}}]
    assert v2["metadata"] == V1["metadata"]
    back = handle(CONVERT_PATH, conversion("metallb.io/v1beta1", v2), state_with()).body["response"]["convertedObjects"]
    assert back == [V1]


def test_an_unknown_desired_version_fails_the_review() -> None:
    resp = handle(CONVERT_PATH, conversion("metallb.io/v9", V1), state_with()).body["response"]
    assert resp["result"] == {
        "status": "Failure",
        "message": "objects[0]: unsupported desiredAPIVersion 'metallb.io/v9' for BGPPeer",
    }
    assert resp["convertedObjects"] == []


def test_an_object_of_another_kind_fails_the_review() -> None:
    resp = handle(CONVERT_PATH, conversion("metallb.io/v1beta2", obj("Community", "c")), state_with()).body["response"]
    assert resp["result"]["status"] == "Failure"


@pytest.mark.parametrize(
    "body",
    [b"nope", b'{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview"}', b'{"kind":"ConversionReview"}'],
)
def test_a_body_that_is_not_a_conversion_review_is_a_400(body: bytes) -> None:
    assert handle(CONVERT_PATH, body, state_with()).status == 400


def test_nothing_is_judged_before_the_cluster_is_read() -> None:
    """Out of cluster the apiserver calls as soon as the webhook is registered: an overlap judged against a Store
    whose pools are not listed yet would let a bad pool in, so config kinds are denied until every kind is listed
    and Services (failure policy Ignore) are allowed with a warning."""
    state = ClusterState(require_synced=[CONFIG_RESOURCES[IPAddressPool], SERVICES])
    overlap = pool("overlap", "192.168.1.240/30")
    waiting = "has not finished reading the cluster (ipaddresspools, services); retry shortly"

    denied = handle(POOL_PATH, review("CREATE", overlap), state).body["response"]
    assert denied["allowed"] is False and waiting in denied["status"]["message"]
    svc = handle(SERVICE_PATH, review("CREATE", service("web")), state).body["response"]
    assert svc["allowed"] is True and any(waiting in w for w in svc["warnings"])

    state.store.replace(CONFIG_RESOURCES[IPAddressPool], [pool("office", "192.168.1.240/28")], "1")
    partly = handle(POOL_PATH, review("CREATE", overlap), state).body["response"]
    assert "(services)" in partly["status"]["message"]

    state.store.replace(SERVICES, [], "1")
    judged = handle(POOL_PATH, review("CREATE", overlap), state).body["response"]
    assert judged["allowed"] is False and "overlaps with already defined CIDR" in judged["status"]["message"]
