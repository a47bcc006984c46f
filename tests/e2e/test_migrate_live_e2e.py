"""``pymetallb migrate --in-cluster`` against the real test apiserver: a legacy ConfigMap and Services that hold
IPs (set through the status subresource, as a running MetalLB leaves them) are migrated without moving any.

The test's namespace plays MetalLB's namespace (ConfigMap ``config`` and the CRs live there). The proof reads
every Service of the cluster, so other tests' Services could show up as movers: each test checks the lines that
name its own Services and runs with ``--allow-moves`` only where it says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SERVICES = 200
LEGACY = """\
address-pools:
- name: office
  protocol: layer2
  addresses:
  - 198.51.100.0/24
"""


def pymetallb(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "crds.cli", "migrate", "--in-cluster", "--kubeconfig", str(kubeconfig), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def service_manifest(namespace: str, i: int) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"svc-{i:03d}", "namespace": namespace},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
    }


@pytest.fixture
def legacy_cluster(apiserver, namespace):  # type: ignore[no-untyped-def]
    """The ConfigMap and 200 Services, each holding 198.51.100.(i+1) in its status (odd ones: a gap before)."""
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "config", "namespace": namespace},
        "data": {"config": LEGACY},
    }
    items = [cm, *(service_manifest(namespace, i) for i in range(SERVICES))]
    apiserver.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    held = {}
    for i in range(SERVICES):
        ip = f"198.51.100.{i + 10}"  # not the lowest free ones: a fresh allocation would give other IPs
        held[f"svc-{i:03d}"] = ip
        apiserver.kubectl(
            "patch", "service", f"svc-{i:03d}", "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}),
        )  # fmt: skip
    return held


def own_movers(stderr: str, namespace: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"Service {namespace}/")]


@pytest.mark.usefixtures("legacy_cluster")
def test_migration_applies_crs_and_moves_no_ip_and_a_rerun_changes_nothing(apiserver, namespace):  # type: ignore[no-untyped-def]
    first = pymetallb(apiserver.kubeconfig, "-n", namespace, "--apply", "--allow-moves")
    assert first.returncode == 0, first.stderr
    assert own_movers(first.stderr, namespace) == []
    assert "kind: IPAddressPool" in first.stdout
    pool = json.loads(
        apiserver.kubectl(
            "get", "ipaddresspool", "office", "-n", namespace, "-o", "json", "--show-managed-fields"
        ).stdout
    )
    assert pool["spec"]["addresses"] == ["198.51.100.0/24"]
    assert any(m.get("manager") == "pymetallb" for m in pool["metadata"]["managedFields"])
    cm = json.loads(apiserver.kubectl("get", "configmap", "config", "-n", namespace, "-o", "json").stdout)
    stamp = cm["metadata"]["annotations"]["pymetallb.io/migrated-at"]

    second = pymetallb(apiserver.kubeconfig, "-n", namespace, "--apply", "--allow-moves")
    assert second.returncode == 0, second.stderr
    assert "applied 0 objects, 2 already up to date" in second.stderr
    again = json.loads(apiserver.kubectl("get", "ipaddresspool", "office", "-n", namespace, "-o", "json").stdout)
    assert again["metadata"]["resourceVersion"] == pool["metadata"]["resourceVersion"]
    cm2 = json.loads(apiserver.kubectl("get", "configmap", "config", "-n", namespace, "-o", "json").stdout)
    assert cm2["metadata"]["annotations"]["pymetallb.io/migrated-at"] == stamp


@pytest.mark.usefixtures("legacy_cluster")
def test_a_conversion_that_moves_a_service_is_refused_and_names_it(apiserver, namespace):  # type: ignore[no-untyped-def]
    # A Service outside the legacy pools (as after a manual status edit): the CRs cannot keep it.
    apiserver.kubectl(
        "patch", "service", "svc-007", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}),
    )  # fmt: skip
    proc = pymetallb(apiserver.kubeconfig, "-n", namespace, "--apply")
    assert proc.returncode == 1
    assert own_movers(proc.stderr, namespace) == [
        f"Service {namespace}/svc-007 would move: 203.0.113.7 -> 198.51.100.0 (allocated from pool office)"
    ]
    assert "refusing:" in proc.stderr
    listed = apiserver.kubectl("get", "ipaddresspools", "-n", namespace, "-o", "name").stdout
    assert listed.strip() == ""  # nothing applied


def test_a_kubeconfig_without_rights_names_the_missing_permission(apiserver, namespace, tmp_path):  # type: ignore[no-untyped-def]
    apiserver.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    token = apiserver.kubectl("create", "token", "nobody", "-n", namespace).stdout.strip()
    config = json.loads(apiserver.kubectl("config", "view", "--raw", "-o", "json").stdout)
    config["users"] = [{"name": "nobody", "user": {"token": token}}]
    for ctx in config["contexts"]:
        ctx["context"]["user"] = "nobody"
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    proc = pymetallb(path, "-n", namespace)
    assert proc.returncode == 1
    assert f"error: get configmaps {namespace}/config: forbidden" in proc.stderr
    assert 'cannot get resource "configmaps"' in proc.stderr
