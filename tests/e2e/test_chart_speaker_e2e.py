"""The speaker under the chart's RBAC: one node namespace runs ``pymetallb speaker`` with a kubeconfig holding the
``speaker`` ServiceAccount's token (TokenRequest), against the test apiserver the namespaces reach.

It must announce a Service (a client's ARP is answered by the node's MAC, the ServiceL2Status names the node),
write its ConfigurationState, export the metrics the dashboard and alerts read, and on SIGTERM hand over cleanly
(its ServiceL2Status deleted), all without one 403 in its log: a grant the chart forgot fails here.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from netlab import Lab
from prometheus_client.parser import text_string_to_metric_families
from speakerlab import SpeakerCluster, eventually
from testenv_server import TestAPIServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helm"))

from helmtool import HELM, need, render

pytestmark = pytest.mark.e2e

VIP = "198.51.100.100"
RBAC_KINDS = {"ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


class _AsServiceAccount:
    """The apiserver as SpeakerCluster sees it, except that the programs it starts get ``kubeconfig``."""

    def __init__(self, api: TestAPIServer, kubeconfig: Path) -> None:
        self._api = api
        self.kubeconfig = kubeconfig

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)


def _token_kubeconfig(api: TestAPIServer, ns: str, sa: str, path: Path) -> Path:
    token = api.kubectl("create", "token", sa, "-n", ns, "--duration=1h").stdout.strip()
    cluster = yaml.safe_load(Path(api.kubeconfig).read_text())["clusters"][0]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": sa, "user": {"token": token}}],
                "contexts": [{"name": sa, "context": {"cluster": cluster["name"], "user": sa, "namespace": ns}}],
                "current-context": sa,
            }
        )
    )
    return path


@pytest.fixture
def sc(netns_apiserver: TestAPIServer, lab: Lab, tmp_path: Path) -> Iterator[SpeakerCluster]:
    need(HELM)
    ns = f"chart-spk-{uuid.uuid4().hex[:6]}"
    netns_apiserver.kubectl("create", "namespace", ns)
    rbac = [o for o in render(namespace=ns) if o["kind"] in RBAC_KINDS]
    text = "".join("---\n" + yaml.safe_dump(o) for o in rbac)
    netns_apiserver.kubectl("apply", "--server-side", "--field-manager=chart-test", "-f", "-", input=text)
    kubeconfig = _token_kubeconfig(netns_apiserver, ns, "speaker", tmp_path / "speaker.kubeconfig")
    cluster = SpeakerCluster(_AsServiceAccount(netns_apiserver, kubeconfig), lab, ns, tmp_path)
    try:
        yield cluster
    finally:
        cluster.close(netns_apiserver)
        for o in rbac:
            if o["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                netns_apiserver.kubectl("delete", o["kind"].lower(), o["metadata"]["name"], "--ignore-not-found")


def _metrics(sc: SpeakerCluster, node_name: str) -> set[str]:
    """The speaker's live /metrics, read from inside its node namespace."""
    url = "http://127.0.0.1:7472/metrics"
    read = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    out = sc.nodes[node_name].host.run(sys.executable, "-c", read).stdout
    return {s.name for fam in text_string_to_metric_families(out) for s in fam.samples}


def test_speaker_announces_under_its_own_serviceaccount(sc: SpeakerCluster) -> None:
    node = sc.add_node(1)
    sc.pool("vips", "198.51.100.100-198.51.100.120")
    sc.l2_advertisement("all")
    sc.service("web", VIP, endpoints_on=[node.name])
    sc.start_speaker(node)
    assert node.log is not None
    try:
        eventually(lambda: sc.l2_owner("web") == node.name, timeout=60, what="the ServiceL2Status naming the node")
        eventually(lambda: sc.answering_macs(VIP) == {sc.mac_of(node.name)}, timeout=30, what="the node's ARP reply")
        state = eventually(
            lambda: sc.get("configurationstate", f"speaker-{node.name}").get("status"),
            what="ConfigurationState speaker-<node>",
        )
        assert state
        exported = eventually(
            lambda: (lambda m: m if "metallb_speaker_announced" in m else None)(_metrics(sc, node.name)),
            what="metallb_speaker_announced in /metrics",
        )
        dashboard_reads = {
            "metallb_speaker_announced",
            "metallb_k8s_client_config_loaded_bool",
            "metallb_k8s_client_config_stale_bool",
            "pymetallb_failover_seconds_bucket",
            "pymetallb_failover_seconds_count",
        }
        assert dashboard_reads <= exported, dashboard_reads - exported
        assert sc.stop_speaker(node, signal.SIGTERM) == 0, node.log.read_text()[-3000:]
        eventually(lambda: sc.l2_owner("web") is None, what="the ServiceL2Status deleted on a graceful stop")
    except (AssertionError, subprocess.CalledProcessError):
        print(sc.logs())
        raise
    forbidden = [line for line in node.log.read_text().splitlines() if "forbidden" in line.lower() or " 403" in line]
    assert forbidden == [], "the chart's RBAC misses a grant the speaker uses"
