"""``pymetallb migrate --in-cluster`` against the real test apiserver: a legacy ConfigMap and Services that hold
IPs (set through the status subresource, as a running MetalLB leaves them) are migrated without moving any.

The test's namespace plays MetalLB's namespace (ConfigMap ``config`` and the CRs live there), and its Services
carry a loadBalancerClass of their own (``--lb-class``, as the controller tests do), so other tests' Services in
the shared apiserver are neither judged nor touched.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_controller_e2e import Cluster, eventually

from reconciler.migrate.live import MigrationError, migrate_in_cluster
from reconciler.runtime.client import ApiClient

pytestmark = pytest.mark.e2e

SERVICES = 200
LEGACY = """\
address-pools:
- name: office
  protocol: layer2
  addresses:
  - 198.51.100.0/24
"""


def lb_class(namespace: str) -> str:
    return f"test.pymetallb.io/lb-{namespace[-6:]}"  # the class Cluster.start_controller serves


def pymetallb(kubeconfig: Path, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "crds.cli", "migrate", "--in-cluster", "--kubeconfig", str(kubeconfig)]
    cmd += ["-n", namespace, "--lb-class", lb_class(namespace), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def service_manifest(namespace: str, i: int) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"svc-{i:03d}", "namespace": namespace},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": lb_class(namespace),
            "ports": [{"port": 80, "protocol": "TCP"}],
        },
    }


def status_ips(apiserver, namespace: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    items = json.loads(apiserver.kubectl("get", "services", "-n", namespace, "-o", "json").stdout)["items"]
    return {
        s["metadata"]["name"]: [i["ip"] for i in (s.get("status", {}).get("loadBalancer", {}).get("ingress") or [])]
        for s in items
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


def movers(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Service ")]


@pytest.mark.usefixtures("legacy_cluster")
def test_migration_applies_crs_and_moves_no_ip_and_a_rerun_changes_nothing(apiserver, namespace):  # type: ignore[no-untyped-def]
    first = pymetallb(apiserver.kubeconfig, namespace, "--apply")
    assert first.returncode == 0, first.stderr
    assert movers(first.stderr) == []
    assert f"{SERVICES} LoadBalancer Services keep their IPs" in first.stderr
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

    second = pymetallb(apiserver.kubeconfig, namespace, "--apply")
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
    proc = pymetallb(apiserver.kubeconfig, namespace, "--apply")
    assert proc.returncode == 1
    assert movers(proc.stderr) == [
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
    proc = pymetallb(path, namespace)
    assert proc.returncode == 1
    assert f"error: get configmaps {namespace}/config: forbidden" in proc.stderr
    assert 'cannot get resource "configmaps"' in proc.stderr


def test_the_controller_started_after_the_migration_changes_no_ip(apiserver, namespace, legacy_cluster, tmp_path):  # type: ignore[no-untyped-def]
    proc = pymetallb(apiserver.kubeconfig, namespace, "--apply", "--delete-configmap")
    assert proc.returncode == 0, proc.stderr
    assert "ConfigMap deleted" in proc.stderr
    cluster = Cluster(apiserver, namespace, tmp_path)
    try:
        cluster.start_controller()
        cluster.wait_loaded()

        def all_claimed() -> bool:
            items = json.loads(apiserver.kubectl("get", "services", "-n", namespace, "-o", "json").stdout)["items"]
            pools = [(s["metadata"].get("annotations") or {}).get("metallb.io/ip-allocated-from-pool") for s in items]
            return len(items) == SERVICES and all(p == "office" for p in pools)

        eventually(all_claimed, timeout=120, what="the controller to claim every Service")
        time.sleep(2)  # any late write would show now
        assert status_ips(apiserver, namespace) == {name: [ip] for name, ip in legacy_cluster.items()}
    finally:
        cluster.stop_all()
    again = pymetallb(apiserver.kubeconfig, namespace, "--apply")
    assert again.returncode == 0 and "nothing to migrate" in again.stderr


@pytest.mark.anyio
async def test_an_apiserver_restart_between_dry_run_and_apply_is_completed_by_a_rerun(  # type: ignore[no-untyped-def]
    apiserver, namespace, legacy_cluster
):
    def stop_after_dry_run(message: str) -> None:
        if message.startswith("dry run:"):
            apiserver.stop()  # on this thread: the server dies with the thread that spawned it

    try:
        async with await ApiClient.connect(str(apiserver.kubeconfig), request_timeout=10) as client:
            with pytest.raises(MigrationError, match=r"^(get|apply) IPAddressPool/office: .*ConnectionError"):
                await migrate_in_cluster(
                    client, namespace=namespace, apply=True, lb_class=lb_class(namespace), log=stop_after_dry_run
                )
    finally:
        apiserver.start()
    assert (
        "pymetallb.io/migrated-at"
        not in apiserver.kubectl("get", "configmap", "config", "-n", namespace, "-o", "json").stdout
    )
    rerun = pymetallb(apiserver.kubeconfig, namespace, "--apply")
    assert rerun.returncode == 0, rerun.stderr
    assert "applied 2 objects" in rerun.stderr
    cm = json.loads(apiserver.kubectl("get", "configmap", "config", "-n", namespace, "-o", "json").stdout)
    assert "pymetallb.io/migrated-at" in cm["metadata"]["annotations"]
    assert status_ips(apiserver, namespace) == {name: [ip] for name, ip in legacy_cluster.items()}


def test_plan_reads_the_live_cluster_and_previews_an_edit(apiserver, namespace, legacy_cluster, tmp_path):  # type: ignore[no-untyped-def]
    assert pymetallb(apiserver.kubeconfig, namespace, "--apply").returncode == 0
    base = [sys.executable, "-m", "crds.cli", "plan", "--kubeconfig", str(apiserver.kubeconfig), "-n", namespace]
    base += ["--lb-class", lb_class(namespace)]
    live = subprocess.run(base, capture_output=True, text=True, timeout=120, check=False)
    assert live.returncode == 0, live.stdout + live.stderr
    rows = [line.split() for line in live.stdout.splitlines() if line.startswith(f"{namespace}/")]
    assert len(rows) == SERVICES and all(r[1] == legacy_cluster[r[0].split("/")[1]] and r[-1] == "kept" for r in rows)

    edited = tmp_path / "edited.yaml"  # the pool shrinks to .0-.127: the 82 Services on .128-.209 must go
    edited.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
        f"metadata: {{name: office, namespace: {namespace}}}\nspec:\n  addresses: [198.51.100.0/25]\n"
        "---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n"
        f"metadata: {{name: l2advertisement1, namespace: {namespace}}}\n"
    )
    preview = subprocess.run([*base, "-f", str(edited)], capture_output=True, text=True, timeout=120, check=False)
    assert preview.returncode == 0, preview.stdout + preview.stderr
    ours = [line for line in preview.stdout.splitlines() if line.startswith(f"{namespace}/")]
    assert sum(line.endswith("kept") for line in ours) == 118
    assert sum("moved from 198.51.100." in line for line in ours) == 10  # into the free .0-.9
    assert sum("(loses 198.51.100." in line for line in ours) == 72
    assert re.search(r"^82 of \d+ Services would change\.$", preview.stdout, re.MULTILINE)


def test_the_full_example_configmap_migrates_and_reads_back(apiserver, namespace):  # type: ignore[no-untyped-def]
    """Peers (v1beta2, password, node selectors), BGP advertisements with communities, BFD: every kind lands."""
    example = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / "legacy-configmap.yaml").read_text())
    example["metadata"]["namespace"] = namespace
    apiserver.kubectl("apply", "-f", "-", input=json.dumps(example))
    first = pymetallb(apiserver.kubeconfig, namespace, "--apply")
    assert first.returncode == 0, first.stderr
    kinds = ("ipaddresspools", "bgppeers", "bgpadvertisements", "l2advertisements", "communities")
    listed = apiserver.kubectl("get", ",".join(kinds), "-n", namespace, "-o", "name").stdout.split()
    assert len(listed) == first.stdout.count("\nkind: ")
    second = pymetallb(apiserver.kubeconfig, namespace, "--apply")
    assert second.returncode == 0, second.stderr
    assert f"applied 0 objects, {len(listed)} already up to date" in second.stderr
