"""The chart against a real kube-apiserver.

* Every object helm renders, for the default and every non-default values file, passes a server-side dry-run
  apply (schema, defaults, admission) in a fresh namespace.
* The rendered RBAC is applied for real; the controller and the webhook then run out of cluster with a kubeconfig
  holding their own ServiceAccount's token (TokenRequest), and a representative scenario passes: the controller
  allocates an IP, marks a second Service pending, writes the pool's status and its ConfigurationState; the
  webhook denies an overlapping pool. A permission the chart forgot shows up as a 403 in the program's log or a
  scenario that never completes: both fail the test.
* The speaker's grants are checked with the apiserver's own authorizer (``kubectl auth can-i --as``) for every
  verb on every resource it uses; test_chart_speaker_e2e.py runs it under its token in a node namespace.
* Every metric a dashboard panel or an alert reads is exported: the controller's and the webhook's from their
  live ``/metrics`` during the scenario, the speaker's from an explicit list checked against its source (below;
  test_chart_speaker_e2e.py reads a live speaker's too).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from speakerlab import eventually
from testenv_server import TestAPIServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helm"))

from helmtool import (
    HELM,
    alert_rules,
    dashboard_queries,
    find,
    grafana_to_promql,
    need,
    parse_promql,
    render,
    values_files,
)

from webhooks.registration import validating_webhook_configuration

pytestmark = pytest.mark.e2e

T = TypeVar("T")
PYMETALLB = str(Path(sys.executable).with_name("pymetallb"))
VALUES = {p.stem: p for p in values_files()}

# The prometheus-operator kinds, as stand-ins that accept any spec: the test apiserver has no such CRDs and their
# real schemas are not shipped here. The dry-run still checks apiVersion, kind, metadata and the namespace; the
# fields themselves are asserted in tests/helm/test_chart.py.
_STAND_INS = [("servicemonitors", "ServiceMonitor"), ("prometheusrules", "PrometheusRule")]

# Metrics the speaker exports (MetalLB's names where it has them). tests/e2e/test_speaker_bgp_e2e.py reads them from
# a running speaker's live /metrics (sessions up, a Service announced); the test below checks the dashboard and the
# alerts read nothing else of the speaker's.
SPEAKER_METRICS = {
    "metallb_speaker_announced",
    "metallb_k8s_client_config_loaded_bool",
    "metallb_k8s_client_config_stale_bool",
    "pymetallb_failover_seconds_bucket",
    "pymetallb_failover_seconds_count",
    "pymetallb_failover_seconds_sum",
    "pymetallb_layer2_duplicate_announcers",
    "metallb_bgp_session_up",
    "metallb_bgp_updates_total",
    "metallb_bgp_announced_prefixes_total",
    "metallb_bgp_pending_prefixes_total",
}

# What the speaker does in the API (issue 11's brief): (verb, resource[/subresource], group, namespaced).
SPEAKER_NEEDS = (
    [(v, r, "", False) for r in ("services", "nodes") for v in ("get", "list", "watch")]
    + [(v, "endpointslices", "discovery.k8s.io", False) for v in ("get", "list", "watch")]
    + [(v, "events", "", False) for v in ("create", "patch")]
    + [
        (v, r, "metallb.io", True)
        for r in ("bfdprofiles", "bgpadvertisements", "bgppeers", "communities", "ipaddresspools", "l2advertisements")
        for v in ("get", "list", "watch")
    ]
    + [
        (v, r, "metallb.io", True)
        for r in ("servicel2statuses", "servicebgpstatuses")
        for v in ("get", "list", "watch", "create", "patch", "delete")
    ]
    + [(v, f"{r}/status", "metallb.io", True) for r in ("servicel2statuses", "servicebgpstatuses") for v in ("patch",)]
    + [(v, "configurationstates", "metallb.io", True) for v in ("get", "list", "watch", "create", "patch")]
    + [("patch", "configurationstates/status", "metallb.io", True)]
    + [(v, "secrets", "", True) for v in ("get", "list", "watch")]
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _apply(api: TestAPIServer, objects: list[dict[str, Any]], *extra: str) -> subprocess.CompletedProcess[str]:
    text = "".join("---\n" + yaml.safe_dump(o) for o in objects)
    return api.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=chart-test",
        *extra,
        "-f",
        "-",
        input=text,
        check=False,
    )


@pytest.fixture(scope="module")
def monitoring_kinds(apiserver: TestAPIServer) -> None:
    for plural, kind in _STAND_INS:
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.monitoring.coreos.com"},
            "spec": {
                "group": "monitoring.coreos.com",
                "names": {"plural": plural, "kind": kind, "listKind": f"{kind}List", "singular": kind.lower()},
                "scope": "Namespaced",
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                                },
                            }
                        },
                    }
                ],
            },
        }
        apiserver.kubectl("apply", "-f", "-", input=json.dumps(crd))
        apiserver.kubectl("wait", "--for=condition=Established", f"crd/{plural}.monitoring.coreos.com")


@pytest.mark.usefixtures("monitoring_kinds")
@pytest.mark.parametrize("values", [None, *VALUES.values()], ids=["default", *VALUES])
def test_every_rendered_object_passes_a_server_side_dry_run(
    apiserver: TestAPIServer, namespace: str, values: Path | None
) -> None:
    need(HELM)
    objects = render(*(() if values is None else (values,)), namespace=namespace)
    done = _apply(apiserver, objects, "--dry-run=server")
    assert done.returncode == 0, done.stderr
    applied = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(applied) == len(objects), done.stdout


def test_the_kubectl_manifest_passes_a_server_side_dry_run(apiserver: TestAPIServer) -> None:
    text = (Path(__file__).resolve().parents[2] / "config" / "manifests" / "pymetallb.yaml").read_text()
    objects = [d for d in yaml.safe_load_all(text) if d]
    assert objects[0]["kind"] == "Namespace" and objects[0]["metadata"]["name"] == "metallb-system"
    # A dry-run creates nothing, so the namespace must exist for the objects in it.
    apiserver.kubectl("create", "namespace", "metallb-system", check=False)
    done = _apply(apiserver, objects, "--dry-run=server")
    assert done.returncode == 0, done.stderr
    assert len([line for line in done.stdout.splitlines() if line.strip()]) == len(objects)


# --- the programs under the chart's RBAC -------------------------------------------------------------------


@dataclass
class Installed:
    api: TestAPIServer
    ns: str
    tmp: Path
    objects: list[dict[str, Any]]
    procs: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)
    cleanup: list[tuple[str, str]] = field(default_factory=list)

    def kubeconfig_for(self, sa: str) -> Path:
        """A kubeconfig with a TokenRequest token of ServiceAccount ``sa`` (what a pod's projected token holds)."""
        token = self.api.kubectl("create", "token", sa, "-n", self.ns, "--duration=1h").stdout.strip()
        admin = yaml.safe_load(Path(self.api.kubeconfig).read_text())
        cluster = admin["clusters"][0]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": sa, "user": {"token": token}}],
            "contexts": [{"name": sa, "context": {"cluster": cluster["name"], "user": sa, "namespace": self.ns}}],
            "current-context": sa,
        }
        path = self.tmp / f"{sa}.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return path

    def start(self, name: str, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.tmp / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [PYMETALLB, *args], stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        self.procs.append((proc, log))
        return proc, log

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def kubectl_json(self, *args: str, namespace: str | None = None) -> Any:
        return json.loads(self.api.kubectl(*args, "-n", namespace or self.ns, "-o", "json").stdout)


def _rbac_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kinds = {"ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
    return [o for o in objects if o["kind"] in kinds]


def _denials(log: Path) -> list[str]:
    """Log lines of an API call refused for want of a grant (never a port or a count that contains 403)."""
    return [line for line in log.read_text().splitlines() if "forbidden" in line.lower() or re.search(r"\b403\b", line)]


@pytest.fixture
def installed(apiserver: TestAPIServer, namespace: str, tmp_path: Path) -> Iterator[Installed]:
    need(HELM)
    objects = render(namespace=namespace)
    done = _apply(apiserver, _rbac_objects(objects))
    assert done.returncode == 0, done.stderr
    inst = Installed(apiserver, namespace, tmp_path, objects)
    try:
        yield inst
    finally:
        inst.stop()
        for kind, name in inst.cleanup:
            apiserver.kubectl("delete", kind, name, "--wait=false", "--ignore-not-found", check=False)
        for o in objects:
            if o["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                apiserver.kubectl("delete", o["kind"].lower(), o["metadata"]["name"], "--ignore-not-found", check=False)


def _metrics(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {s.name for s in family.samples}
    return names


def _used_metrics() -> dict[str, set[str]]:
    """Every metric name a dashboard query or an alert reads, from Prometheus's parser, by where it is used."""
    rules = alert_rules(render(VALUES["monitoring"]))
    queries = [(r["alert"], r["expr"]) for r in rules] + [(t, grafana_to_promql(q)) for t, q in dashboard_queries()]
    used: dict[str, set[str]] = {}
    for (where, _), res in zip(queries, parse_promql([q for _, q in queries]), strict=True):
        assert res["error"] is None, (where, res["error"])
        for name in res["metrics"]:
            used.setdefault(name, set()).add(where)
    return used


# Metric names each program exported during its scenario, for the dashboard/alerts test (filled by the scenarios).
EXPORTED: dict[str, set[str]] = {}


def test_controller_allocates_under_its_own_serviceaccount(installed: Installed) -> None:
    EXPORTED["controller"] = controller_scenario(installed)


def test_webhook_denies_an_overlapping_pool_under_its_own_serviceaccount(
    installed: Installed, apiserver: TestAPIServer
) -> None:
    EXPORTED["webhook"] = webhook_scenario(installed, apiserver)


def controller_scenario(installed: Installed) -> set[str]:
    ns = installed.ns
    lb_class = f"chart.pymetallb.io/{ns[-6:]}"
    port = _free_port()
    kubeconfig = installed.kubeconfig_for("controller")
    proc, log = installed.start(
        "controller",
        "controller",
        f"--kubeconfig={kubeconfig}",
        f"--namespace={ns}",
        f"--lb-class={lb_class}",
        "--host=127.0.0.1",
        f"--port={port}",
        "--leader-elect=true",  # the chart's setting: the Lease grants are exercised too
        "--identity=chart-test",
        "--log-level=debug",
    )
    pool = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "one", "namespace": ns},
        "spec": {"addresses": ["198.51.100.7/32"]},
    }

    # The Services live in an application namespace, as in a cluster: cluster-wide grants are exercised.
    apps = f"{ns}-apps"
    installed.api.kubectl("create", "namespace", apps)
    installed.cleanup.append(("namespace", apps))

    def svc(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": apps},
            "spec": {"type": "LoadBalancer", "loadBalancerClass": lb_class, "ports": [{"port": 80}]},
        }

    installed.api.kubectl("apply", "-f", "-", input=json.dumps(pool))
    installed.api.kubectl("apply", "-f", "-", input=json.dumps(svc("first")))

    def ingress(name: str) -> list[str]:
        body = installed.kubectl_json("get", "service", name, namespace=apps)
        return [i["ip"] for i in (body.get("status", {}).get("loadBalancer", {}).get("ingress") or [])]

    try:
        eventually(lambda: ingress("first") == ["198.51.100.7"], what="the first Service's IP")
        installed.api.kubectl("apply", "-f", "-", input=json.dumps(svc("second")))
        eventually(
            lambda: any(
                c.get("reason") == "AllocationFailed"
                for c in installed.kubectl_json("get", "service", "second", namespace=apps)
                .get("status", {})
                .get("conditions", [])
            ),
            what="the second Service to wait with a reason",
        )
        status = eventually(
            lambda: (
                installed.kubectl_json("get", "ipaddresspool", "one").get("status", {}).get("assignedIPv4") == 1
                and installed.kubectl_json("get", "ipaddresspool", "one")["status"]
            ),
            what="the pool's status",
        )
        assert status["availableIPv4"] == 0
        state = eventually(
            lambda: installed.kubectl_json("get", "configurationstate", "controller").get("status"),
            what="ConfigurationState controller",
        )
        assert state
        secret = eventually(
            lambda: installed.kubectl_json("get", "secret", "memberlist").get("data"), what="the memberlist Secret"
        )
        assert secret.get("secretkey"), "the speakers' key, created by the controller"
        lease = installed.kubectl_json("get", "lease", "pymetallb-controller")
        assert lease["spec"]["holderIdentity"] == "chart-test"
        events = installed.kubectl_json("get", "events", namespace=apps)["items"]
        assert any(e["reason"] == "IPAllocated" for e in events), [e["reason"] for e in events]
        exported = eventually(
            lambda: (lambda m: m if "pymetallb_service_pending" in m else None)(_metrics(port)),
            what="the pending Service in /metrics",
        )
    finally:
        installed.stop()
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert _denials(log) == [], "the chart's RBAC misses a grant the controller uses"
    controller_metrics = {
        "metallb_allocator_addresses_total",
        "metallb_allocator_addresses_in_use_total",
        "metallb_k8s_client_config_loaded_bool",
        "metallb_k8s_client_config_stale_bool",
        "pymetallb_service_pending",
    }
    assert controller_metrics <= exported, controller_metrics - exported
    return exported


def webhook_scenario(installed: Installed, apiserver: TestAPIServer) -> set[str]:
    ns = installed.ns
    port, health = _free_port(), _free_port()
    url = f"https://127.0.0.1:{port}"
    crd_before = json.loads(apiserver.kubectl("get", "crd", "bgppeers.metallb.io", "-o", "json").stdout)["spec"][
        "conversion"
    ]
    # What the chart creates (the webhook may only update them): its Secret, and the registration, here by URL
    # because the test apiserver has no cluster network to reach a Service.
    _apply(apiserver, [find(installed.objects, "Secret", "metallb-webhook-cert")])
    apiserver.kubectl("apply", "-f", "-", input=json.dumps(validating_webhook_configuration(None, base_url=url)))
    kubeconfig = installed.kubeconfig_for("webhook")
    try:
        proc, log = installed.start(
            "webhook",
            "webhook",
            f"--kubeconfig={kubeconfig}",
            f"--namespace={ns}",
            f"--register-url={url}",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--health-port={health}",
            "--cert-poll=1",
            "--log-level=debug",
        )

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"webhook exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2) as r:
                    return bool(r.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        eventually(ready, timeout=60, what="the webhook to be ready")
        first = {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "first", "namespace": ns},
            "spec": {"addresses": ["203.0.113.0/28"]},
        }
        overlapping = {**first, "metadata": {"name": "overlapping", "namespace": ns}}
        overlapping["spec"] = {"addresses": ["203.0.113.8/29"]}
        apiserver.kubectl("apply", "-f", "-", input=json.dumps(first))

        def denied() -> str | None:
            done = apiserver.kubectl("apply", "-f", "-", input=json.dumps(overlapping), check=False)
            return done.stderr if done.returncode != 0 else None

        # The first pool reaches the webhook's watch a moment after the apiserver accepted it.
        message = eventually(denied, what="the overlapping pool to be denied")
        assert 'admission webhook "ipaddresspoolvalidationwebhook.metallb.io" denied the request' in message
        assert "overlaps" in message
        with urllib.request.urlopen(f"http://127.0.0.1:{health}/metrics", timeout=5) as r:
            text = r.read().decode()
        exported = {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}
        assert any(
            s.name == "pymetallb_webhook_reviews_total" and s.labels.get("result") == "denied"
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
        )
        vwc = json.loads(
            apiserver.kubectl(
                "get", "validatingwebhookconfiguration", "metallb-webhook-configuration", "-o", "json"
            ).stdout
        )
        assert all(h["clientConfig"].get("caBundle") for h in vwc["webhooks"]), "the webhook injected its CA"
    finally:
        installed.stop()
        apiserver.kubectl(
            "delete", "validatingwebhookconfiguration", "metallb-webhook-configuration", "--ignore-not-found"
        )
        patch = [{"op": "replace", "path": "/spec/conversion", "value": crd_before}]
        apiserver.kubectl("patch", "crd", "bgppeers.metallb.io", "--type=json", "-p", json.dumps(patch))
    assert _denials(log) == [], "the chart's RBAC misses a grant the webhook uses"
    return exported


def test_speaker_serviceaccount_may_do_everything_the_speaker_does(installed: Installed) -> None:
    who = f"system:serviceaccount:{installed.ns}:speaker"
    missing = []
    for verb, resource, group, namespaced in SPEAKER_NEEDS:
        res = f"{resource.split('/')[0]}.{group}" if group else resource.split("/")[0]
        args = ["auth", "can-i", verb, res, f"--as={who}"]
        if "/" in resource:
            args.append(f"--subresource={resource.split('/')[1]}")
        args += ["-n", installed.ns] if namespaced else ["--all-namespaces"]
        if installed.api.kubectl(*args, check=False).stdout.strip() != "yes":
            missing.append((verb, resource))
    assert missing == []


@pytest.mark.parametrize(
    ("sa", "verb", "resource", "where"),
    [
        ("speaker", "delete", "services", "all"),
        ("speaker", "get", "secrets", "other"),
        ("controller", "create", "validatingwebhookconfigurations.admissionregistration.k8s.io", "all"),
        ("controller", "get", "secrets", "ns"),  # only the memberlist Secret
        ("webhook", "create", "validatingwebhookconfigurations.admissionregistration.k8s.io", "all"),
        ("webhook", "delete", "customresourcedefinitions.apiextensions.k8s.io", "all"),
        ("webhook", "patch", "services", "all"),
    ],
)
def test_serviceaccounts_may_not_do_more(installed: Installed, sa: str, verb: str, resource: str, where: str) -> None:
    args = ["auth", "can-i", verb, resource, f"--as=system:serviceaccount:{installed.ns}:{sa}"]
    args += {"all": ["--all-namespaces"], "ns": ["-n", installed.ns], "other": ["-n", "default"]}[where]
    assert installed.api.kubectl(*args, check=False).stdout.strip() == "no"


def test_every_metric_the_dashboard_and_alerts_read_is_exported(installed: Installed, apiserver: TestAPIServer) -> None:
    """The live /metrics of a controller and a webhook driven through their scenarios (above, or here when this
    test runs alone), plus the speaker's list."""
    if "controller" not in EXPORTED:
        EXPORTED["controller"] = controller_scenario(installed)
    if "webhook" not in EXPORTED:
        EXPORTED["webhook"] = webhook_scenario(installed, apiserver)
    exported = EXPORTED["controller"] | EXPORTED["webhook"] | SPEAKER_METRICS
    source = "".join(p.read_text() for p in (Path(__file__).resolve().parents[2] / "speaker").rglob("*.py"))
    for name in SPEAKER_METRICS:
        base = name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
        assert f'"{base}"' in source, f"{name}: no longer in the speaker's source"
    used = _used_metrics()
    assert used, "the parser found no metric at all"
    assert {n: sorted(w) for n, w in used.items() if n not in exported} == {}
