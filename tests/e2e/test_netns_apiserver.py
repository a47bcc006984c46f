"""The test apiserver seen from network namespaces: an uplinked lab host reaches it with kubectl and with our
ApiClient, across a restart and across a move of the data dir to another bind address."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from netlab import APISERVER_V4, UPLINK_POOL, Host, Lab
from testenv_server import TestAPIServer

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _kubectl_in(host: Host, server: TestAPIServer, *args: str) -> subprocess.CompletedProcess[str]:
    """The built kubectl, run inside ``host``'s namespace against ``server``."""
    return host.run(
        str(server.bin_dir / "kubectl"),
        f"--kubeconfig={server.kubeconfig}",
        f"--cache-dir={server.data_dir / 'kubectl-cache'}",
        "--request-timeout=10s",
        *args,
        check=False,
    )


def test_uplinked_host_reaches_the_apiserver_with_kubectl(netns_apiserver: TestAPIServer, lab: Lab) -> None:
    assert netns_apiserver.server == f"https://{APISERVER_V4}:{netns_apiserver.port}"
    node = lab.add_host("node1", v4="198.51.100.11/24")
    stranger = lab.add_host("client", v4="198.51.100.2/24")
    addr = lab.uplink(node)
    assert ipaddress.ip_address(addr) in UPLINK_POOL

    res = _kubectl_in(node, netns_apiserver, "get", "ns", "default", "-o", "name")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "namespace/default"
    # The uplink is what makes the difference: a host without one cannot reach the server.
    res = _kubectl_in(stranger, netns_apiserver, "get", "ns", "default", "-o", "name")
    assert res.returncode != 0
    assert "unreachable" in res.stderr, res.stderr


_LIST_NAMESPACES = """
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from reconciler.runtime.client import ApiClient
from reconciler.runtime.resources import NAMESPACES

async def main() -> None:
    async with await ApiClient.connect(sys.argv[2]) as client:
        items, _ = await client.list(NAMESPACES)
    print(json.dumps(sorted(item["metadata"]["name"] for item in items)))

asyncio.run(main())
"""


def test_api_client_in_an_uplinked_host_lists_namespaces(netns_apiserver: TestAPIServer, lab: Lab) -> None:
    name = f"seen-from-netns-{uuid.uuid4().hex[:6]}"
    netns_apiserver.kubectl("create", "namespace", name)
    try:
        node = lab.add_host("node1", v4="198.51.100.11/24")
        lab.uplink(node)
        res = node.run(sys.executable, "-c", _LIST_NAMESPACES, str(REPO), str(netns_apiserver.kubeconfig), check=False)
        assert res.returncode == 0, res.stderr
        names = json.loads(res.stdout)
        assert "default" in names and name in names, names
    finally:
        netns_apiserver.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_restart_keeps_the_url_the_namespace_uses(netns_apiserver: TestAPIServer, lab: Lab) -> None:
    node = lab.add_host("node1", v4="198.51.100.11/24")
    lab.uplink(node)
    server, kubeconfig = netns_apiserver.server, netns_apiserver.kubeconfig.read_text()
    netns_apiserver.restart()
    assert netns_apiserver.server == server
    assert netns_apiserver.kubeconfig.read_text() == kubeconfig
    res = _kubectl_in(node, netns_apiserver, "get", "ns", "default", "-o", "name")
    assert res.returncode == 0, res.stderr


def _credentials(kubeconfig: Path) -> list[str]:
    """The CA and client certificate/key lines of a kubeconfig written by test-apiserver."""
    return [line.strip() for line in kubeconfig.read_text().splitlines() if "-data:" in line]


def test_a_data_dir_moves_to_another_bind_address(netns_apiserver: TestAPIServer, lab: Lab, tmp_path: Path) -> None:
    """Made on 127.0.0.1, restarted on APISERVER_V4: same data, same port, same CA and admin credentials, and a
    serving certificate that now names the new address (kubectl verifies it)."""
    first = TestAPIServer(data_dir=tmp_path / "moving", bin_dir=netns_apiserver.bin_dir)
    first.start()
    try:
        assert first.server == f"https://127.0.0.1:{first.port}"
        first.kubectl("create", "configmap", "moved", "--from-literal=k=kept")
        credentials = _credentials(first.kubeconfig)
    finally:
        first.stop()
    moved = TestAPIServer(data_dir=tmp_path / "moving", bin_dir=netns_apiserver.bin_dir, bind_address=APISERVER_V4)
    moved.start()
    try:
        assert moved.server == f"https://{APISERVER_V4}:{first.port}"
        assert f"server: {moved.server}" in moved.kubeconfig.read_text()
        assert _credentials(moved.kubeconfig) == credentials
        node = lab.add_host("node1", v4="198.51.100.11/24")
        lab.uplink(node)
        res = _kubectl_in(node, moved, "get", "configmap", "moved", "-o", "jsonpath={.data.k}")
        assert res.returncode == 0, res.stderr
        assert res.stdout == "kept"
    finally:
        moved.stop()
