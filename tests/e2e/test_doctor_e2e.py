"""``pymetallb doctor`` on a real kube-apiserver: a healthy state built by hand is all ok, then faults one at a time.

The healthy state (module fixture): a MetalLB namespace of its own with a valid config (one pool, one
L2Advertisement restricted to a labelled node), a fresh controller Lease, a Valid ``speaker-<node>`` state for every
Node, the memberlist Secret, the webhook's certificate Secret, a ValidatingWebhookConfiguration by URL pointing at a
small HTTPS server in this process (it answers ``/readyz`` and allows every review), the BGPPeer conversion's CA
bundle, and a LoadBalancer Service with an ingress IP, a ready EndpointSlice and a ServiceL2Status from the node the
election picks. Each fault test injects one fault, runs the real ``pymetallb doctor`` command, asserts the exact set
of checks that are no longer ok, the check's status, what it found and what to do, and reverts the fault.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from testenv_server import TestAPIServer

from webhooks.certs import KeyPair, issue_serving, new_ca
from webhooks.registration import BGPPEER_CRD, validating_webhook_configuration

pytestmark = pytest.mark.e2e

PYMETALLB = Path(sys.executable).parent / "pymetallb"
VIP = "198.51.100.10"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _AllowAll(BaseHTTPRequestHandler):
    """A stand-in webhook: ``/readyz`` answers 200, every AdmissionReview is allowed."""

    def do_GET(self) -> None:
        code = 200 if self.path == "/readyz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        uid = (review.get("request") or {}).get("uid", "")
        body = json.dumps(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {"uid": uid, "allowed": True},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _now(delta: float = 0.0) -> str:
    t = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=delta)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Cluster:
    api: TestAPIServer
    ns: str
    uid: str
    node_a: str
    node_b: str
    ca: KeyPair
    base_url: str
    leader_alive: bool = True
    """A live controller renews its Lease every few seconds: ``doctor()`` renews it first while this is set."""

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.api.kubectl(*args, input=input, check=check).stdout

    def apply(self, obj: dict[str, Any]) -> None:
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(obj))

    def status(self, kind: str, name: str, status: dict[str, Any], ns: str | None = None) -> None:
        self.kubectl(
            "patch", kind, name, "-n", ns or self.ns, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}),
        )  # fmt: skip

    def doctor(self, *extra: str, kubeconfig: str | None = None) -> tuple[int, dict[str, Any], str]:
        if self.leader_alive:
            self.lease(_now())
        cmd = [str(PYMETALLB), "doctor", "--kubeconfig", kubeconfig or str(self.api.kubeconfig), "-n", self.ns]
        cmd += ["--service", f"{self.ns}/web", "-o", "json", *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        assert "Traceback" not in proc.stderr, proc.stderr
        body = json.loads(proc.stdout) if proc.stdout.strip() else {}
        return proc.returncode, body, proc.stderr

    # -- the healthy pieces, each re-appliable by a revert --

    def register(self, url: str, bundle: bytes) -> None:
        self.apply(validating_webhook_configuration(bundle, base_url=url))

    def lease(self, renewed: str) -> None:
        spec = {"holderIdentity": "controller-7d9f_1", "leaseDurationSeconds": 15, "renewTime": renewed}
        self.apply(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "pymetallb-controller", "namespace": self.ns},
                "spec": spec,
            }
        )

    def speaker_state(self, node: str) -> None:
        name = f"speaker-{node}"
        self.apply(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "ConfigurationState",
                "metadata": {"name": name, "namespace": self.ns},
            }
        )
        self.status("configurationstate", name, {"result": "Valid", "errorSummary": ""})

    def memberlist(self) -> None:
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "memberlist", "namespace": self.ns},
                "data": {"secretkey": base64.b64encode(os.urandom(32)).decode()},
            }
        )

    def service_status(self) -> None:
        self.status(
            "service",
            "web",
            {
                "loadBalancer": {"ingress": [{"ip": VIP}]},
                "conditions": [
                    {
                        "type": "metallb.io/IPAllocated",
                        "status": "True",
                        "reason": "Allocated",
                        "message": "allocated from pool doctor",
                        "lastTransitionTime": _now(),
                    }
                ],
            },
        )

    def slice(self, ready: bool) -> None:
        self.apply(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "web-1",
                    "namespace": self.ns,
                    "labels": {"kubernetes.io/service-name": "web"},
                },
                "addressType": "IPv4",
                "endpoints": [
                    {
                        "addresses": ["192.0.2.50"],
                        "nodeName": self.node_a,
                        "conditions": {"ready": ready, "serving": ready},
                    }
                ],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
        )

    def l2_status(self, node: str) -> None:
        name = f"l2-{node}"
        labels = {"metallb.io/node": node, "metallb.io/service-name": "web", "metallb.io/service-namespace": self.ns}
        self.apply(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "ServiceL2Status",
                "metadata": {"name": name, "namespace": self.ns, "labels": labels},
            }
        )
        self.status("servicel2status", name, {"node": node, "serviceName": "web", "serviceNamespace": self.ns})


@pytest.fixture(scope="module")
def cluster(apiserver: TestAPIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not PYMETALLB.exists():
        pytest.fail(f"{PYMETALLB} missing: run `make venv`")
    uid = uuid.uuid4().hex[:6]
    ns = f"doctor-{uid}"
    tmp = tmp_path_factory.mktemp("doctor")
    now = datetime.datetime.now(datetime.UTC)
    ca = new_ca(now)
    serving = issue_serving(ca, ["127.0.0.1", "metallb-webhook-service.metallb-system.svc"], now)
    (tmp / "tls.crt").write_bytes(serving.cert_pem)
    (tmp / "tls.key").write_bytes(serving.key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "tls.crt", tmp / "tls.key")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AllowAll)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="doctor-fake-webhook", daemon=True)
    thread.start()
    c = Cluster(apiserver, ns, uid, f"doctor-{uid}-a", f"doctor-{uid}-b", ca, f"https://127.0.0.1:{server.server_port}")
    apiserver.kubectl("create", "namespace", ns)
    apiserver.kubectl("create", "namespace", "kube-system", check=False)
    old_conversion = json.loads(apiserver.kubectl("get", "crd", BGPPEER_CRD, "-o", "json").stdout)["spec"]["conversion"]
    try:
        c.register(c.base_url, ca.cert_pem)
        conversion = json.loads(json.dumps(old_conversion))
        conversion["webhook"]["clientConfig"]["caBundle"] = base64.b64encode(ca.cert_pem).decode()
        c.kubectl("patch", "crd", BGPPEER_CRD, "--type=merge", "-p", json.dumps({"spec": {"conversion": conversion}}))
        c.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "metallb-webhook-cert", "namespace": ns},
                "data": {
                    k: base64.b64encode(v).decode()
                    for k, v in {
                        "ca.crt": ca.cert_pem,
                        "ca.key": ca.key_pem,
                        "tls.crt": serving.cert_pem,
                        "tls.key": serving.key_pem,
                    }.items()
                },
            }
        )
        for node, labels in ((c.node_a, {"doctor": uid}), (c.node_b, {})):
            c.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": labels}})
        c.apply(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "doctor", "namespace": ns},
                "spec": {"addresses": ["198.51.100.0/27"]},
            }
        )
        c.apply(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "L2Advertisement",
                "metadata": {"name": "doctor", "namespace": ns},
                "spec": {"ipAddressPools": ["doctor"], "nodeSelectors": [{"matchLabels": {"doctor": uid}}]},
            }
        )
        c.lease(_now())
        # Every Node of the cluster gets a speaker state here, so Nodes other modules left behind stay healthy too.
        for node in c.kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").split():
            c.speaker_state(node)
        c.memberlist()
        c.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": ns},
                "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]},
            }
        )
        c.service_status()
        c.slice(ready=True)
        c.l2_status(c.node_a)
        yield c
    finally:
        apiserver.kubectl(
            "delete", "validatingwebhookconfiguration", "metallb-webhook-configuration", "--ignore-not-found",
            check=False,
        )  # fmt: skip
        apiserver.kubectl(
            "patch", "crd", BGPPEER_CRD, "--type=json", "-p",
            json.dumps([{"op": "replace", "path": "/spec/conversion", "value": old_conversion}]),
            check=False,
        )  # fmt: skip
        apiserver.kubectl("delete", "node", c.node_a, c.node_b, "--ignore-not-found", "--wait=false", check=False)
        apiserver.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        server.shutdown()
        server.server_close()


def _not_ok(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    return {(c["name"], c["subject"]): c for c in body["checks"] if c["status"] != "ok"}


def test_healthy_cluster_is_all_ok_and_exits_0(cluster: Cluster) -> None:
    code, body, err = cluster.doctor()
    assert _not_ok(body) == {}, err
    assert code == 0
    assert body["ok"] is True
    names = {c["name"] for c in body["checks"]}
    assert {
        "crds",
        "webhook-config",
        "webhook-tls",
        "webhook-reachable",
        "controller-leader",
        "speaker",
        "config",
        "memberlist-secret",
        "kube-proxy-strictARP",
        "service",
        "service-l2",
    } <= names
    by_subject = {(c["name"], c["subject"]): c for c in body["checks"]}
    assert by_subject[("service-l2", f"{cluster.ns}/web")]["details"] == f"announced from {cluster.node_a}"
    assert by_subject[("service", f"{cluster.ns}/web")]["details"] == f"IP {VIP}"
    assert "held by controller-7d9f_1" in by_subject[("controller-leader", "")]["details"]
    assert set(body["checks"][0]) == {"name", "subject", "status", "details", "fix"}


def test_table_output_names_every_check(cluster: Cluster) -> None:
    proc = subprocess.run(
        [str(PYMETALLB), "doctor", "--kubeconfig", str(cluster.api.kubeconfig), "-n", cluster.ns,
         "--service", f"{cluster.ns}/web"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["CHECK", "STATUS", "DETAILS"]
    assert any(line.startswith(f"service-l2 {cluster.ns}/web") for line in lines)
    assert "0 failure(s)" in proc.stdout


@dataclass(frozen=True)
class Fault:
    inject: Callable[[Cluster], None]
    revert: Callable[[Cluster], None]
    failing: dict[tuple[str, str], tuple[str, str, str]]
    """(check, subject) → (status, a piece of the details, a piece of the fix); every other check stays ok."""


def _subject(c: Cluster, what: str) -> str:
    return {"node_b": c.node_b, "web": f"{c.ns}/web", "url": c.base_url}.get(what, what)


def _closed_url(c: Cluster) -> None:
    c.register(f"https://127.0.0.1:{_free_port()}", c.ca.cert_pem)


def _bogus_ca(c: Cluster) -> None:
    c.register(c.base_url, new_ca(datetime.datetime.now(datetime.UTC)).cert_pem)


def _pending(c: Cluster) -> None:
    c.kubectl(
        "patch", "service", "web", "-n", c.ns, "--subresource=status", "--type=json", "-p",
        json.dumps([
            {"op": "replace", "path": "/status/loadBalancer", "value": {}},
            {"op": "replace", "path": "/status/conditions", "value": [{
                "type": "metallb.io/IPAllocated", "status": "False", "reason": "AllocationFailed",
                "message": 'no available IPs in pool "doctor"', "lastTransitionTime": _now()}]},
        ]),
    )  # fmt: skip


def _kube_proxy_ipvs(c: Cluster) -> None:
    conf = (
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
        "mode: ipvs\nipvs:\n  strictARP: false\n"
    )
    c.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": conf},
        }
    )


def _overlapping_pool(c: Cluster) -> None:
    c.apply(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "overlap", "namespace": c.ns},
            "spec": {"addresses": ["198.51.100.16/28"]},
        }
    )


FAULTS = {
    "stale-lease": Fault(
        lambda c: (setattr(c, "leader_alive", False), c.lease(_now(-300)))[0],
        lambda c: setattr(c, "leader_alive", True),
        {("controller-leader", ""): ("fail", "Lease held by controller-7d9f_1 is stale", "stopped renewing")},
    ),
    "invalid-config": Fault(
        _overlapping_pool,
        lambda c: c.kubectl("delete", "ipaddresspool", "overlap", "-n", c.ns),
        {("config", ""): ("fail", "IPAddressPool/overlap", "pymetallb validate")},
    ),
    "missing-speaker-state": Fault(
        lambda c: c.kubectl("delete", "configurationstate", f"speaker-{c.node_b}", "-n", c.ns),
        lambda c: c.speaker_state(c.node_b),
        {("speaker", "node_b"): ("fail", "no ConfigurationState speaker-", "speaker DaemonSet")},
    ),
    "service-pending": Fault(
        _pending,
        lambda c: c.service_status(),
        {("service", "web"): ("fail", 'pending: no available IPs in pool "doctor"', "free or add addresses")},
    ),
    "service-without-endpoints": Fault(
        lambda c: c.slice(ready=False),
        lambda c: c.slice(ready=True),
        {("service-endpoints", "web"): ("fail", "no serving endpoints", "kubernetes.io/service-name=web")},
    ),
    "two-l2-statuses": Fault(
        lambda c: c.l2_status(c.node_b),
        lambda c: c.kubectl("delete", "servicel2status", f"l2-{c.node_b}", "-n", c.ns),
        {("service-l2", "web"): ("warn", "2 nodes claim it", "speakers disagree")},
    ),
    "bogus-ca-bundle": Fault(
        _bogus_ca,
        lambda c: c.register(c.base_url, c.ca.cert_pem),
        {
            ("webhook-tls", ""): ("fail", "caBundle does not hold the CA that signed tls.crt", "restart the webhook"),
            ("webhook-reachable", "url"): ("fail", "TLS verification", "start the webhook"),
        },
    ),
    "webhook-unreachable": Fault(
        _closed_url,
        lambda c: c.register(c.base_url, c.ca.cert_pem),
        {("webhook-reachable", "closed"): ("fail", "unreachable", "start the webhook at that address")},
    ),
    "kube-proxy-ipvs-without-strictARP": Fault(
        _kube_proxy_ipvs,
        lambda c: c.kubectl("delete", "configmap", "kube-proxy", "-n", "kube-system"),
        {("kube-proxy-strictARP", ""): ("fail", "MetalLB #153", "strictARP: true")},
    ),
    "memberlist-secret-missing": Fault(
        lambda c: c.kubectl("delete", "secret", "memberlist", "-n", c.ns),
        lambda c: c.memberlist(),
        {("memberlist-secret", ""): ("fail", "is missing", "create secret generic memberlist")},
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
def test_one_fault_is_named_with_its_fix(cluster: Cluster, fault: Fault) -> None:
    fault.inject(cluster)
    try:
        code, body, err = cluster.doctor()
    finally:
        fault.revert(cluster)
    found = _not_ok(body)
    # The unreachable URL's port is random: match that subject by prefix.
    expected = {(name, _subject(cluster, subject)): want for (name, subject), want in fault.failing.items()}
    if ("webhook-reachable", "closed") in expected:
        want = expected.pop(("webhook-reachable", "closed"))
        got = [k for k in found if k[0] == "webhook-reachable"]
        assert len(got) == 1 and got[0][1] != cluster.base_url, found
        expected[got[0]] = want
    assert set(found) == set(expected), json.dumps(body, indent=1)
    for key, (status, details, fix) in expected.items():
        assert found[key]["status"] == status
        assert details in found[key]["details"], found[key]
        assert fix in found[key]["fix"], found[key]
    assert code == (1 if any(s == "fail" for s, _, _ in expected.values()) else 0), err
    assert body["ok"] is (code == 0)


def test_unreachable_apiserver_is_one_line_and_exit_1(cluster: Cluster, tmp_path: Path) -> None:
    config = cluster.api.kubeconfig.read_text()
    port = _free_port()
    dead = tmp_path / "kubeconfig"
    dead.write_text(config.replace(f":{cluster.api.port}", f":{port}"))
    code, body, err = cluster.doctor(kubeconfig=str(dead))
    assert code == 1
    assert body == {}
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("pymetallb doctor: cannot talk to the apiserver:")


def test_usage_error_exits_2(cluster: Cluster) -> None:
    proc = subprocess.run(
        [str(PYMETALLB), "doctor", "--service", "no-slash"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "--service takes namespace/name" in proc.stderr


DOCTOR_READS = [
    ("", "nodes,namespaces,services,configmaps", ["get", "list"]),
    ("discovery.k8s.io", "endpointslices", ["get", "list"]),
    ("coordination.k8s.io", "leases", ["get"]),
    ("apiextensions.k8s.io", "customresourcedefinitions", ["get"]),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", ["get"]),
    ("metallb.io", "*", ["get", "list"]),
]


def test_a_missing_permission_is_named_and_the_other_checks_still_run(cluster: Cluster, tmp_path: Path) -> None:
    """A user who may read everything but Secrets: the Secret checks say Forbidden and which permission; the rest
    (config included: password references are then judged as the webhook judges them) still report ok."""
    sa = f"doctor-{cluster.uid}"
    cluster.kubectl("create", "serviceaccount", sa, "-n", cluster.ns)
    rules = [
        {"apiGroups": [group], "resources": resources.split(","), "verbs": verbs}
        for group, resources, verbs in DOCTOR_READS
    ]
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": sa},
            "rules": rules,
        }
    )
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": sa},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": sa},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": cluster.ns}],
        }
    )
    try:
        token = cluster.kubectl("create", "token", sa, "-n", cluster.ns, "--duration=1h").strip()
        admin = yaml.safe_load(Path(cluster.api.kubeconfig).read_text())
        kcluster = admin["clusters"][0]
        path = tmp_path / "sa.kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [kcluster],
                    "users": [{"name": sa, "user": {"token": token}}],
                    "contexts": [{"name": sa, "context": {"cluster": kcluster["name"], "user": sa}}],
                    "current-context": sa,
                }
            )
        )
        code, body, err = cluster.doctor(kubeconfig=str(path))
    finally:
        cluster.kubectl("delete", "clusterrolebinding,clusterrole", sa, "--ignore-not-found")
    found = _not_ok(body)
    assert set(found) == {("webhook-tls", ""), ("memberlist-secret", "")}, json.dumps(body, indent=1)
    assert found[("memberlist-secret", "")]["details"] == (
        f"Forbidden: cannot get secrets in namespace {cluster.ns} (memberlist) (grant it to the user running doctor)"
    )
    assert found[("webhook-tls", "")]["details"].startswith(
        f"Forbidden: cannot get secrets in namespace {cluster.ns} (metallb-webhook-cert)"
    )
    assert code == 1, err
