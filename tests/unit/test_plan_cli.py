"""`pymetallb plan` as a user runs it over examples/cluster."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import yaml

from crds.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "cluster"


def run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = main(args, stdin=io.StringIO(""))
    finally:
        sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def rows(text: str) -> dict[str, list[str]]:
    lines = text.strip().splitlines()
    return {line.split()[0]: line.split(None, 4) for line in lines[1:] if line.strip() and "/" in line.split()[0]}


def test_plan_table_over_the_example() -> None:
    code, out, _ = run(["plan", "-f", str(EXAMPLE)])
    assert code == 0
    table = rows(out)
    assert table["default/web"][1:3] == ["192.168.1.242", "office"] and table["default/web"][4] == "kept"
    assert table["default/web-tls"][1] == "192.168.1.242" and table["default/web-tls"][3] == "default/web"
    assert table["default/api"][1] == "192.168.1.240"
    assert table["blue/app"][1:3] == ["192.168.2.0,fc00:2::", "team-blue"]
    assert table["default/extra"][4] == 'pending: no available IPs in pool "office"'


def test_plan_yaml_fills_status_and_annotation() -> None:
    code, out, _ = run(["plan", "-f", str(EXAMPLE), "-o", "yaml"])
    assert code == 0
    docs = {f"{d['metadata']['namespace']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(out)}
    assert docs["default/api"]["status"]["loadBalancer"]["ingress"] == [{"ip": "192.168.1.240"}]
    assert docs["default/api"]["metadata"]["annotations"]["metallb.io/ip-allocated-from-pool"] == "office"
    assert docs["default/extra"]["status"]["loadBalancer"] == {}


def test_plan_before_shows_who_moves_and_who_loses(tmp_path: Path) -> None:
    before = tmp_path / "before.yaml"
    before.write_text(
        (EXAMPLE / "pools.yaml").read_text().replace("192.168.1.240-192.168.1.243", "192.168.1.236-192.168.1.243")
    )
    code, out, _ = run(["plan", "-f", str(EXAMPLE), "--before", str(before)])
    assert code == 0
    table = rows(out)
    assert table["default/api"][4] == "kept"
    assert table["default/web"][4] == "kept"
    assert table["default/cache"][4] == "moved from 192.168.1.236"
    assert table["default/extra"][4] == 'pending: no available IPs in pool "office" (loses 192.168.1.238)'
    assert out.strip().endswith("4 of 7 Services would change.")


def test_plan_refuses_an_invalid_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: x}\nspec: {addresses: [10.0.0.0/33]}\n"
    )
    code, out, _ = run(["plan", "-f", str(bad)])
    assert code == 1
    assert 'invalid CIDR "10.0.0.0/33"' in out
