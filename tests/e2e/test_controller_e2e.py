"""The controller against a real kube-apiserver: `pymetallb controller` runs as a subprocess, as in a cluster.

Each test serves its own loadBalancerClass and uses its own namespace as the MetalLB namespace, so
controllers of different tests never touch each other's Services.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from speakerlab import eventually
from testenv_server import TestAPIServer

pytestmark = pytest.mark.e2e

T = TypeVar("T")
PYMETALLB = str(Path(sys.executable).with_name("pymetallb"))


class Cluster:
    """kubectl helpers for one test: its namespace, its class, its controllers."""

    def __init__(self, apiserver: TestAPIServer, namespace: str, tmp_path: Path) -> None:
        self.api = apiserver
        self.ns = namespace
        self.lb_class = f"test.pymetallb.io/lb-{namespace[-6:]}"
        self.tmp = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def apply(self, text: str) -> None:
        self.api.kubectl("apply", "-f", "-", input=text)

    def pool(self, name: str, *addresses: str, **spec: Any) -> None:
        body = {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": {"addresses": list(addresses), **spec},
        }
        self.apply(json.dumps(body))

    def service(self, name: str, *, port: int = 80, annotations: dict[str, str] | None = None, **spec: Any) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": self.ns, "annotations": annotations or {}},
            "spec": {
                "type": "LoadBalancer",
                "loadBalancerClass": self.lb_class,
                "ports": [{"port": port, "protocol": "TCP"}],
                "selector": {"app": name},
                **spec,
            },
        }
        self.apply(json.dumps(body))

    def get(self, kind: str, name: str) -> dict[str, Any]:
        out = self.api.kubectl("get", kind, name, "-n", self.ns, "-o", "json").stdout
        return json.loads(out)  # type: ignore[no-any-return]

    def ips(self, name: str) -> list[str]:
        svc = self.get("service", name)
        return [i["ip"] for i in (svc.get("status", {}).get("loadBalancer", {}).get("ingress") or [])]

    def pool_annotation(self, name: str) -> str | None:
        return (self.get("service", name)["metadata"].get("annotations") or {}).get("metallb.io/ip-allocated-from-pool")

    def condition(self, name: str) -> dict[str, Any] | None:
        conditions = self.get("service", name).get("status", {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "metallb.io/IPAllocated"), None)

    def events(self, name: str) -> list[tuple[str, str, str]]:
        out = self.api.kubectl(
            "get", "events", "-n", self.ns, "--field-selector", f"involvedObject.name={name}", "-o", "json"
        ).stdout
        return [(e["type"], e["reason"], e["message"]) for e in json.loads(out)["items"]]

    def start_controller(
        self, *extra: str, leader_elect: bool = False, identity: str | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"controller-{len(self.procs)}.log", "wb")  # noqa: SIM115 - closed with the process
        args = [
            PYMETALLB,
            "controller",
            "--kubeconfig",
            str(self.api.kubeconfig),
            "--namespace",
            self.ns,
            "--lb-class",
            self.lb_class,
            "--metrics-port",
            "0",
            "--leader-elect",
            str(leader_elect).lower(),
            *extra,
        ]
        if identity:
            args += ["--identity", identity]
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs.append(proc)
        return proc

    def log(self, index: int = -1) -> str:
        files = sorted(self.tmp.glob("controller-*.log"), key=lambda p: int(p.stem.split("-")[1]))
        return files[index].read_text()

    def wait_loaded(self, index: int = -1) -> None:
        eventually(lambda: '"event": "configLoaded"' in self.log(index), what="the controller to load its config")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def cluster(apiserver: TestAPIServer, namespace: str, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(apiserver, namespace, tmp_path)
    try:
        yield c
    finally:
        c.stop_all()


def test_pool_and_services_get_ips_status_and_annotation(cluster: Cluster) -> None:
    cluster.pool("office", "10.10.0.0/30")
    cluster.service("web")
    cluster.service("api", port=443, annotations={"metallb.io/loadBalancerIPs": "10.10.0.3"})
    cluster.start_controller()
    assert eventually(lambda: cluster.ips("web"), what="web's IP") == ["10.10.0.0"]
    assert eventually(lambda: cluster.ips("api"), what="api's IP") == ["10.10.0.3"]
    assert cluster.pool_annotation("web") == "office"
    condition = cluster.condition("web")
    assert condition is not None and condition["status"] == "True"
    wanted = ("Normal", "IPAllocated", 'Assigned IP ["10.10.0.0"]')
    eventually(lambda: wanted in cluster.events("web"), what=f"event {wanted}")
    status = eventually(lambda: cluster.get("ipaddresspool", "office").get("status"), what="pool status")
    assert status == {"assignedIPv4": 2, "assignedIPv6": 0, "availableIPv4": 2, "availableIPv6": 0}
    state = eventually(lambda: cluster.get("configurationstate", "controller").get("status"), what="state")
    assert state["result"] == "Valid"


def test_five_restarts_never_move_an_ip(cluster: Cluster) -> None:
    cluster.pool("two", "10.20.0.0/31")
    for name in ("a", "b", "c", "d"):
        cluster.service(name)
    cluster.start_controller()
    eventually(lambda: sum(1 for n in "abcd" if cluster.ips(n)) == 2, what="two Services with IPs")
    first = {n: cluster.ips(n) for n in "abcd"}
    for _ in range(5):
        cluster.stop_all()
        # While it is down, a new Service arrives: it must not take an address that is held.
        cluster.service(f"late{len(cluster.procs)}")
        cluster.start_controller()
        cluster.wait_loaded()
        time.sleep(1.0)
        assert {n: cluster.ips(n) for n in "abcd"} == first
    holders = [n for n in "abcd" if first[n]]
    assert len(holders) == 2


def test_pool_shrink_moves_only_the_affected_service(cluster: Cluster) -> None:
    cluster.pool("p", "10.30.0.0/29")
    for name in ("s1", "s2", "s3"):
        cluster.service(name)
    cluster.start_controller()
    eventually(lambda: all(cluster.ips(n) for n in ("s1", "s2", "s3")), what="three IPs")
    before = {n: cluster.ips(n) for n in ("s1", "s2", "s3")}
    victim = next(n for n, ips in before.items() if ips == ["10.30.0.0"])
    cluster.pool("p", "10.30.0.1/32", "10.30.0.2/31", "10.30.0.4/30")
    eventually(lambda: cluster.ips(victim) not in ([], ["10.30.0.0"]), what="the victim to move")
    after = {n: cluster.ips(n) for n in ("s1", "s2", "s3")}
    assert after[victim] == ["10.30.0.3"]
    assert {n: ip for n, ip in after.items() if n != victim} == {n: ip for n, ip in before.items() if n != victim}
    eventually(lambda: "ClearAssignment" in [r for _, r, _ in cluster.events(victim)], what="ClearAssignment")


def test_delete_and_retype_release_to_pending_services(cluster: Cluster) -> None:
    cluster.pool("one", "10.40.0.7/32")
    cluster.service("first")
    cluster.start_controller()
    assert eventually(lambda: cluster.ips("first")) == ["10.40.0.7"]
    cluster.service("second")
    cond = eventually(lambda: cluster.condition("second"), what="a pending condition")
    assert cond["status"] == "False" and cond["message"] == 'no available IPs in pool "one"'
    cluster.api.kubectl("delete", "service", "first", "-n", cluster.ns)
    assert eventually(lambda: cluster.ips("second"), what="second to get the freed IP") == ["10.40.0.7"]
    cluster.service("third")
    eventually(lambda: cluster.condition("third"), what="third pending")
    cluster.api.kubectl(
        "patch",
        "service",
        "second",
        "-n",
        cluster.ns,
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/type","value":"ClusterIP"},{"op":"remove","path":"/spec/loadBalancerClass"}]',
    )
    assert eventually(lambda: cluster.ips("third"), what="third to get the IP") == ["10.40.0.7"]
    assert cluster.ips("second") == [] and cluster.pool_annotation("second") is None


def test_unknown_pool_gives_a_warning_event(cluster: Cluster) -> None:
    cluster.pool("real", "10.50.0.0/30")
    cluster.service("lost", annotations={"metallb.io/address-pool": "nope"})
    cluster.start_controller()
    wanted = ("Warning", "AllocationFailed", f'Failed to allocate IP for "{cluster.ns}/lost": unknown pool "nope"')
    eventually(lambda: wanted in cluster.events("lost"), what=f"event {wanted}")
    assert cluster.ips("lost") == []


def test_invalid_config_is_reported_and_the_last_good_one_kept(cluster: Cluster) -> None:
    cluster.pool("good", "10.60.0.0/30")
    cluster.service("web")
    cluster.start_controller()
    eventually(lambda: cluster.ips("web"))
    cluster.pool("bad", "10.60.0.0/31")  # overlaps: the config is invalid now
    state = eventually(
        lambda: (
            (s := cluster.get("configurationstate", "controller").get("status")) and s.get("result") == "Invalid" and s
        ),
        what="Invalid state",
    )
    assert "overlaps with already defined CIDR" in state["errorSummary"]
    cluster.service("new")
    assert eventually(lambda: cluster.ips("new"), what="allocation on the last good config") == ["10.60.0.1"]


def test_two_replicas_one_leader_and_failover(cluster: Cluster) -> None:
    cluster.pool("p", "10.70.0.0/29")
    first = cluster.start_controller("--lease-duration", "6", leader_elect=True, identity="replica-a")

    def holder() -> str | None:
        try:
            return str(cluster.get("lease", "pymetallb-controller")["spec"].get("holderIdentity") or "") or None
        except subprocess.CalledProcessError:
            return None

    # The first replica leads before the second starts (a fixed sleep raced a slow start on a loaded machine).
    eventually(lambda: holder() == "replica-a", what="replica-a to take the Lease")
    cluster.start_controller("--lease-duration", "6", leader_elect=True, identity="replica-b")
    cluster.service("s1")
    assert eventually(lambda: cluster.ips("s1")) == ["10.70.0.0"]
    lease = cluster.get("lease", "pymetallb-controller")
    assert lease["spec"]["holderIdentity"] == "replica-a"
    first.kill()  # no chance to release the Lease: the standby must wait it out
    killed = time.monotonic()
    cluster.service("s2")
    assert eventually(lambda: cluster.ips("s2"), timeout=40, what="the standby to take over") == ["10.70.0.1"]
    took = time.monotonic() - killed
    assert cluster.get("lease", "pymetallb-controller")["spec"]["holderIdentity"] == "replica-b"
    print(f"failover after SIGKILL of the leader: {took:.1f} s")


def test_apiserver_restart_then_reconcile_resumes(cluster: Cluster) -> None:
    cluster.pool("p", "10.80.0.0/30")
    cluster.service("before")
    cluster.start_controller()
    assert eventually(lambda: cluster.ips("before")) == ["10.80.0.0"]
    cluster.api.restart()
    cluster.service("after")
    assert eventually(lambda: cluster.ips("after"), timeout=60, what="reconcile after restart") == ["10.80.0.1"]
    assert cluster.ips("before") == ["10.80.0.0"]
