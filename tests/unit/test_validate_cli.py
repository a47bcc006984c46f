"""`pymetallb validate` and `pymetallb crds` as a user runs them: files, directories, stdin, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from crds.cli import main

GOOD = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: first, namespace: metallb-system}
spec: {addresses: [10.0.0.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
"""


def run(args: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = main(args, stdin=io.StringIO(stdin))
    finally:
        sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def test_clean_file_exits_zero(tmp_path: Path) -> None:
    f = tmp_path / "ok.yaml"
    f.write_text(GOOD)
    code, out, err = run(["validate", "-f", str(f)])
    assert (code, out) == (0, "")
    assert "2 documents checked, no problems" in err


def test_overlap_across_files_in_a_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "sub" / "b.yml").write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: second}\n"
        "spec: {addresses: [10.0.0.5/32]}\n"
    )
    (tmp_path / "notes.txt").write_text("not a manifest")
    code, out, _ = run(["validate", "-f", str(tmp_path)])
    assert code == 1
    assert out.splitlines() == [
        f'{tmp_path}/sub/b.yml: IPAddressPool/second: CIDR "10.0.0.5/32" in pool "second" overlaps with already '
        'defined CIDR "10.0.0.0/24"'
    ]


def test_schema_errors_unknown_fields_and_bounds(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\n"
        "spec: {adresses: [10.0.0.0/24]}\n---\n"
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: q}\n"
        "spec: {myASN: 1, peerASN: 2, peerAddress: 1.2.3.4, peerPort: 0}\n"
    )
    code, out, _ = run(["validate", "-f", str(f)])
    assert code == 1
    assert out.splitlines() == [
        f"{f}: IPAddressPool/p: spec.addresses: Required value",
        f"{f}: IPAddressPool/p: spec.adresses: unknown field 'adresses'",
        f"{f}: BGPPeer/q: spec.peerPort: Invalid value: 0: should be greater than or equal to 1",
    ]


def test_cel_rule_is_checked_offline(tmp_path: Path) -> None:
    f = tmp_path / "adv.yaml"
    f.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: a}\n"
        "spec: {aggregationLength: 24, serviceSelectors: [{matchLabels: {x: y}}]}\n"
    )
    code, out, _ = run(["validate", "-f", str(f)])
    assert code == 1
    assert out.strip() == (
        f"{f}: BGPAdvertisement/a: spec: Invalid value: serviceSelectors and aggregationLength are mutually "
        "exclusive, can only be used together with default aggregationLength (32) and aggregationLengthV6 (128)"
    )


def test_stdin_json_and_other_kinds_get_a_note() -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}},
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "p"},
                "spec": {"addresses": ["fc00::/64"]},
            },
        ],
    }
    code, out, err = run(["validate", "-f", "-"], stdin=json.dumps(doc))
    assert (code, out) == (0, "")
    assert "<stdin>: Deployment/web: note: apps/v1 Deployment is not a MetalLB kind; ignored" in err


def test_v1beta1_peer_is_converted_and_checked(tmp_path: Path) -> None:
    f = tmp_path / "peer.yaml"
    f.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {name: old}\n"
        "spec: {myASN: 64500, peerASN: 64500, peerAddress: 10.0.0.1, ebgpMultiHop: true}\n"
    )
    code, out, _ = run(["validate", "-f", str(f)])
    assert code == 1
    assert out.strip() == f"{f}: BGPPeer/old: parsing peer old invalid ebgp-multihop parameter set for an ibgp peer"


def test_wrong_namespace(tmp_path: Path) -> None:
    f = tmp_path / "ns.yaml"
    f.write_text(GOOD.replace("namespace: metallb-system", "namespace: default", 1))
    code, out, _ = run(["validate", "-f", str(f)])
    assert code == 1
    assert "IPAddressPool/first: resource must be created in metallb-system namespace" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("kind: [unclosed", "invalid YAML", id="broken-yaml"),
        pytest.param("- just\n- a list\n", "expected a Kubernetes object", id="not-a-mapping"),
        pytest.param("metadata: {name: x}\n", "missing apiVersion or kind", id="no-kind"),
    ],
)
def test_unreadable_documents_exit_one(tmp_path: Path, content: str, expected: str) -> None:
    f = tmp_path / "x.yaml"
    f.write_text(content)
    code, out, _ = run(["validate", "-f", str(f)])
    assert code == 1
    assert expected in out and out.startswith(str(f))


def test_usage_errors_exit_two(tmp_path: Path) -> None:
    assert run(["validate", "-f", str(tmp_path / "missing.yaml")])[0] == 2
    assert run(["validate"])[0] == 2
    assert run(["no-such-command"])[0] == 2


def test_crds_subcommand_prints_every_crd() -> None:
    code, out, _ = run(["crds"])
    assert code == 0
    assert out.count("kind: CustomResourceDefinition") == 9


def test_console_script_never_shows_a_traceback(tmp_path: Path) -> None:
    f = tmp_path / "x.yaml"
    f.write_bytes(b"\xff\xfe garbage")
    exe = Path(sys.executable).with_name("pymetallb")
    proc = subprocess.run([str(exe), "validate", "-f", str(f)], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "cannot read" in proc.stdout


def test_yaml_is_read_as_go_reads_it(tmp_path: Path) -> None:
    """`1:2` is a community string, not the base-60 integer 62; a duplicated key is an error."""
    f = tmp_path / "c.yaml"
    f.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: c}\n"
        "spec: {communities: [{name: x, value: 1:2}]}\n"
    )
    assert run(["validate", "-f", str(f)])[:2] == (0, "")
    f.write_text("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nkind: Community\nmetadata: {name: c}\n")
    code, out, _ = run(["validate", "-f", str(f)])
    assert code == 1 and 'mapping key "kind" already defined' in out
