"""The generated CRDs (crds/*.yaml) on a real kube-apiserver: served, defaulted, validated server-side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from testenv_server import TestAPIServer

pytestmark = pytest.mark.e2e

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"
KINDS = {
    "ipaddresspools",
    "l2advertisements",
    "bgpadvertisements",
    "bgppeers",
    "communities",
    "bfdprofiles",
    "servicel2statuses",
    "servicebgpstatuses",
    "configurationstates",
}


@pytest.fixture(autouse=True)
def _need_crds() -> None:
    if not list(CRD_DIR.glob("*.yaml")):
        pytest.skip("no crds/*.yaml yet (make crds)")


def obj(api_version: str, kind: str, name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    o: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}
    if spec is not None:
        o["spec"] = spec
    return o


def create(server: TestAPIServer, namespace: str, o: dict[str, Any], check: bool = True) -> Any:
    return server.kubectl("-n", namespace, "create", "-f", "-", input=json.dumps(o), check=check)


def get_json(server: TestAPIServer, namespace: str, resource: str, name: str) -> dict[str, Any]:
    res = server.kubectl("-n", namespace, "get", resource, name, "-o", "json")
    return dict(json.loads(res.stdout))


def assert_rejected(res: Any, *fragments: str) -> None:
    assert res.returncode != 0, f"accepted, expected rejection: {res.stdout}"
    for fragment in fragments:
        assert fragment in res.stderr, res.stderr


def test_kubectl_apply_crds_dir(apiserver: TestAPIServer) -> None:
    res = apiserver.kubectl("apply", "-f", str(CRD_DIR))
    assert res.stdout.count("customresourcedefinition.apiextensions.k8s.io/") == len(KINDS), res.stdout


def test_every_kind_is_served(apiserver: TestAPIServer) -> None:
    res = apiserver.kubectl("api-resources", "--api-group=metallb.io", "-o", "name")
    served = {line.split(".", 1)[0] for line in res.stdout.split()}
    assert served >= KINDS, KINDS - served
    established = apiserver.kubectl(
        "get",
        "crd",
        *(f"{k}.metallb.io" for k in sorted(KINDS)),
        "-o",
        'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}',
    )
    assert established.stdout.split() == ["True"] * len(KINDS)


# ---- IPAddressPool -------------------------------------------------------------------------


def test_ipaddresspool_without_addresses_rejected(apiserver: TestAPIServer, namespace: str) -> None:
    res = create(apiserver, namespace, obj("metallb.io/v1beta1", "IPAddressPool", "empty", {}), check=False)
    assert_rejected(res, "spec.addresses", "Required value")


def test_ipaddresspool_defaults(apiserver: TestAPIServer, namespace: str) -> None:
    create(apiserver, namespace, obj("metallb.io/v1beta1", "IPAddressPool", "p1", {"addresses": ["192.0.2.0/28"]}))
    spec = get_json(apiserver, namespace, "ipaddresspools", "p1")["spec"]
    assert spec["autoAssign"] is True
    assert spec["avoidBuggyIPs"] is False


def test_ipaddresspool_printer_columns(apiserver: TestAPIServer, namespace: str) -> None:
    pool = obj("metallb.io/v1beta1", "IPAddressPool", "cols", {"addresses": ["192.0.2.16/28"], "autoAssign": False})
    create(apiserver, namespace, pool)
    lines = apiserver.kubectl("-n", namespace, "get", "ipaddresspools").stdout.splitlines()
    header = lines[0].split()
    assert " ".join(header) == "NAME AUTO ASSIGN AVOID BUGGY IPS ADDRESSES", lines
    row = lines[1].split()
    assert row[:4] == ["cols", "false", "false", '["192.0.2.16/28"]'], lines


# ---- BGPPeer (v1beta2, the storage version: no conversion webhook needed) --------------------

PEER = {"myASN": 64500, "peerASN": 64501, "peerAddress": "192.0.2.1"}


def test_bgppeer_v1beta2_accepted(apiserver: TestAPIServer, namespace: str) -> None:
    create(apiserver, namespace, obj("metallb.io/v1beta2", "BGPPeer", "ok", PEER))
    spec = get_json(apiserver, namespace, "bgppeers.v1beta2.metallb.io", "ok")["spec"]
    assert spec["myASN"] == 64500
    assert spec["peerPort"] == 179


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("peerPort", 0, "spec.peerPort: Invalid value: 0"),
        ("peerPort", 16385, "spec.peerPort: Invalid value: 16385"),
        ("myASN", 4294967296, "spec.myASN: Invalid value: 4294967296"),
    ],
)
def test_bgppeer_v1beta2_out_of_range_rejected(
    apiserver: TestAPIServer, namespace: str, field: str, value: int, message: str
) -> None:
    spec = {**PEER, field: value}
    res = create(apiserver, namespace, obj("metallb.io/v1beta2", "BGPPeer", "bad", spec), check=False)
    assert_rejected(res, message)


# ---- BGPAdvertisement ------------------------------------------------------------------------


def test_bgpadvertisement_selectors_and_aggregation_rejected(apiserver: TestAPIServer, namespace: str) -> None:
    spec = {"serviceSelectors": [{"matchLabels": {"app": "web"}}], "aggregationLength": 24}
    res = create(apiserver, namespace, obj("metallb.io/v1beta1", "BGPAdvertisement", "agg", spec), check=False)
    assert_rejected(res, "serviceSelectors and aggregationLength are mutually exclusive")


def test_bgpadvertisement_selectors_with_host_routes_accepted(apiserver: TestAPIServer, namespace: str) -> None:
    spec = {"serviceSelectors": [{"matchLabels": {"app": "web"}}], "aggregationLength": 32}
    create(apiserver, namespace, obj("metallb.io/v1beta1", "BGPAdvertisement", "host", spec))


@pytest.mark.parametrize(("value", "accepted"), [(0, True), (254, True), (255, False), (-1, False)])
def test_bgpadvertisement_as_path_prepend_bounds(
    apiserver: TestAPIServer, namespace: str, value: int, accepted: bool
) -> None:
    name = f"prepend-{value + 1}"
    res = create(
        apiserver, namespace, obj("metallb.io/v1beta1", "BGPAdvertisement", name, {"asPathPrepend": value}), check=False
    )
    if accepted:
        assert res.returncode == 0, res.stderr
        spec = get_json(apiserver, namespace, "bgpadvertisements.v1beta1.metallb.io", name)["spec"]
        assert spec["asPathPrepend"] == value
    else:
        assert_rejected(res, f"spec.asPathPrepend: Invalid value: {value}")


# ---- ServiceL2Status -------------------------------------------------------------------------


def test_servicel2status_node_is_immutable(apiserver: TestAPIServer, namespace: str) -> None:
    create(apiserver, namespace, obj("metallb.io/v1beta1", "ServiceL2Status", "l2-web", {}))

    def patch_status(status: dict[str, Any], check: bool = True) -> Any:
        return apiserver.kubectl(
            "-n",
            namespace,
            "patch",
            "servicel2statuses",
            "l2-web",
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": status}),
            check=check,
        )

    patch_status({"node": "node-a", "serviceName": "web", "serviceNamespace": namespace})
    assert get_json(apiserver, namespace, "servicel2statuses", "l2-web")["status"]["node"] == "node-a"
    res = patch_status({"node": "node-b"}, check=False)
    assert_rejected(res, "status.node", "Value is immutable")
    patch_status({"interfaces": [{"name": "eth0"}]})  # other fields stay writable
