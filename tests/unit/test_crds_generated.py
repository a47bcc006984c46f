"""The committed CRD YAML is exactly what the models generate, and it is a valid structural schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from crds.schema import render_crds
from crds.types import ALL_KINDS
from crds.validate import CEL_RULES

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"


def test_committed_crds_match_the_models() -> None:
    rendered = render_crds()
    committed = {p.name: p.read_text() for p in CRD_DIR.glob("*.yaml")}
    assert sorted(committed) == sorted(rendered), "run `make crds` and commit crds/*.yaml"
    for name, text in rendered.items():
        assert committed[name] == text, f"{name} is stale: run `make crds`"


def _walk(node: Any, path: str = ""):  # type: ignore[no-untyped-def]
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


def _crds() -> list[dict[str, Any]]:
    return [yaml.safe_load(text.split("---\n", 1)[1]) for text in render_crds().values()]


def test_schemas_are_structural() -> None:
    for crd in _crds():
        for version in crd["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            for path, node in _walk(schema):
                assert "$ref" not in node and "anyOf" not in node and "oneOf" not in node, path
                if "properties" in node or "items" in node:
                    assert "type" in node, f"{crd['metadata']['name']}{path} has no type"


def test_every_cel_rule_has_a_python_counterpart() -> None:
    rules = {
        rule["rule"]
        for crd in _crds()
        for _path, node in _walk(crd)
        for rule in node.get("x-kubernetes-validations", ())
    }
    assert rules, "the CRDs carry CEL rules; finding none means the walk is broken"
    assert rules <= set(CEL_RULES)


def test_all_nine_kinds_and_both_peer_versions() -> None:
    crds = {c["spec"]["names"]["kind"]: c for c in _crds()}
    assert sorted(crds) == sorted(
        [
            "IPAddressPool",
            "L2Advertisement",
            "BGPAdvertisement",
            "BGPPeer",
            "Community",
            "BFDProfile",
            "ServiceL2Status",
            "ServiceBGPStatus",
            "ConfigurationState",
        ]
    )
    peer = crds["BGPPeer"]["spec"]
    assert [(v["name"], v["storage"], v.get("deprecated", False)) for v in peer["versions"]] == [
        ("v1beta1", False, True),
        ("v1beta2", True, False),
    ]
    assert peer["conversion"]["strategy"] == "Webhook"
    assert peer["conversion"]["webhook"]["clientConfig"]["service"]["path"] == "/convert"
    assert len(ALL_KINDS) == 10


@pytest.mark.parametrize(
    ("kind", "path", "expected"),
    [
        ("IPAddressPool", "spec.autoAssign.default", True),
        ("IPAddressPool", "spec.avoidBuggyIPs.default", False),
        ("BGPAdvertisement", "spec.aggregationLength.default", 32),
        ("BGPAdvertisement", "spec.aggregationLength.minimum", 1),
        ("BGPAdvertisement", "spec.aggregationLengthV6.default", 128),
        ("BGPPeer", "spec.peerPort.default", 179),
        ("BGPPeer", "spec.peerPort.maximum", 16384),
        ("BGPPeer", "spec.myASN.maximum", 4294967295),
        ("BGPPeer", "spec.localASN.minimum", 1),
        ("BGPPeer", "spec.dynamicASN.enum", ["internal", "external"]),
        ("BGPPeer", "spec.disableMP.default", False),
        ("BFDProfile", "spec.detectMultiplier.minimum", 2),
        ("BFDProfile", "spec.minimumTtl.maximum", 254),
        ("L2Advertisement", "spec.preferredNodeSelectors.items.weight.maximum", 100),
        ("ConfigurationState", "status.result.enum", ["Valid", "Invalid", "Unknown"]),
    ],
)
def test_upstream_markers(kind: str, path: str, expected: Any) -> None:
    crd = next(c for c in _crds() if c["spec"]["names"]["kind"] == kind)
    node: Any = crd["spec"]["versions"][-1]["schema"]["openAPIV3Schema"]
    parts = path.split(".")
    for i, part in enumerate(parts):
        if part == "items":
            node = node["items"]
        elif i == len(parts) - 1:
            node = node[part]
        else:
            node = node["properties"][part]
    assert node == expected


def test_printer_columns_of_ipaddresspool() -> None:
    crd = next(c for c in _crds() if c["spec"]["names"]["kind"] == "IPAddressPool")
    cols = [(c["name"], c["jsonPath"]) for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert cols == [
        ("Auto Assign", ".spec.autoAssign"),
        ("Avoid Buggy IPs", ".spec.avoidBuggyIPs"),
        ("Addresses", ".spec.addresses"),
    ]
