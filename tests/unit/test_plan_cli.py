"""`pymetallb plan` as a user runs it over examples/cluster."""

from __future__ import annotations

import io
import re
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


NODES = ROOT / "examples" / "nodes"


def columns(text: str) -> dict[str, dict[str, str]]:
    """The table as {service: {column: value}} (columns are separated by two or more spaces)."""
    lines = text.strip().splitlines()
    header = re.split(r"\s{2,}", lines[0])
    return {
        cells[0]: dict(zip(header, cells, strict=True))
        for cells in (re.split(r"\s{2,}", line) for line in lines[1:] if line.strip())
    }


def test_plan_with_nodes_and_endpoint_slices_shows_the_announcing_node() -> None:
    code, out, _ = run(["plan", "-f", str(EXAMPLE), "-f", str(NODES)])
    assert code == 0
    table = columns(out)
    assert list(table["default/web"]) == ["SERVICE", "IPS", "POOL", "SHARED WITH", "ANNOUNCED BY", "STATUS"]
    assert table["default/web"]["ANNOUNCED BY"] == table["default/web-tls"]["ANNOUNCED BY"] == "L2 node-a"
    assert table["blue/app"]["ANNOUNCED BY"] == "L2 node-d"
    assert table["default/db"]["ANNOUNCED BY"] == "L2 - (notOwner)"  # no endpoint can serve
    assert table["default/extra"]["ANNOUNCED BY"] == "-"
    assert "node-c" not in out  # excluded from load balancers
    assert table["default/web"]["STATUS"] == "kept"


def test_plan_yaml_with_nodes_adds_the_status_objects_speakers_write() -> None:
    code, out, _ = run(["plan", "-f", str(EXAMPLE), "-f", str(NODES), "-o", "yaml"])
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    l2 = {
        (d["status"]["serviceNamespace"], d["status"]["serviceName"]): d for d in docs if d["kind"] == "ServiceL2Status"
    }
    assert set(l2) == {
        ("blue", "app"),
        ("default", "api"),
        ("default", "cache"),
        ("default", "web"),
        ("default", "web-tls"),
    }
    web = l2[("default", "web")]
    assert web["metadata"] == {
        "generateName": "l2-",
        "namespace": "metallb-system",
        "labels": {
            "metallb.io/node": "node-a",
            "metallb.io/service-name": "web",
            "metallb.io/service-namespace": "default",
        },
    }
    assert web["status"] == {"node": "node-a", "serviceName": "web", "serviceNamespace": "default"}
    assert sum(d["kind"] == "Service" for d in docs) == 7


BGP_CLUSTER = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor-a, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 192.0.2.1}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor-b, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64513
  peerAddress: 192.0.2.2
  nodeSelectors: [{matchLabels: {rack: b}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec: {ipAddressPools: [bgp]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, clusterIP: 10.96.0.10, ports: [{port: 80}], externalTrafficPolicy: Local}
---
apiVersion: v1
kind: Service
metadata: {name: idle, namespace: default}
spec: {type: LoadBalancer, clusterIP: 10.96.0.11, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- {addresses: [10.244.1.10], nodeName: node-a}
- {addresses: [10.244.2.10], nodeName: node-b}
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {rack: a}}
---
apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {rack: b}}
---
apiVersion: v1
kind: Node
metadata: {name: node-c, labels: {rack: b}}
"""


def test_plan_shows_which_nodes_announce_a_bgp_service_to_which_peers(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(BGP_CLUSTER)
    code, out, _ = run(["plan", "-f", str(tmp_path)])
    assert code == 0
    table = columns(out)
    assert table["default/web"]["ANNOUNCED BY"] == "BGP node-a(tor-a) node-b(tor-a,tor-b)"  # ETP=Local
    assert table["default/idle"]["ANNOUNCED BY"] == "BGP - (noEndpoints)"
    code, out, _ = run(["plan", "-f", str(tmp_path), "-o", "yaml"])
    bgp = [d for d in yaml.safe_load_all(out) if d["kind"] == "ServiceBGPStatus"]
    assert [(d["status"]["node"], d["status"]["peers"]) for d in bgp] == [
        ("node-a", ["tor-a"]),
        ("node-b", ["tor-a", "tor-b"]),
    ]


def test_plan_ignore_exclude_lb_lets_an_excluded_node_announce(tmp_path: Path) -> None:
    (tmp_path / "slice.yaml").write_text(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
        "metadata: {name: api-2, namespace: default, labels: {kubernetes.io/service-name: api}}\n"
        "addressType: IPv4\nendpoints: [{addresses: [10.244.3.21], nodeName: node-c}]\n"
    )
    local = (
        (EXAMPLE / "services.yaml")
        .read_text()
        .replace(
            "    metallb.io/loadBalancerIPs: 192.168.1.240\nspec:\n",
            "    metallb.io/loadBalancerIPs: 192.168.1.240\nspec:\n  externalTrafficPolicy: Local\n",
        )
    )
    (tmp_path / "services.yaml").write_text(local)
    args = ["plan", "-f", str(EXAMPLE / "pools.yaml"), "-f", str(tmp_path), "-f", str(NODES)]
    assert columns(run(args)[1])["default/api"]["ANNOUNCED BY"] == "L2 - (notOwner)"
    assert columns(run([*args, "--ignore-exclude-lb"])[1])["default/api"]["ANNOUNCED BY"] == "L2 node-c"
