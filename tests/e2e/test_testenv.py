"""The test environment itself: a real kube-apiserver that starts, serves, restarts and keeps its data.

That a watch survives a restart (410 and relist) is proven with our own client, by
``tests/e2e/test_runtime_e2e.py::test_a_watch_survives_an_apiserver_restart_without_losing_the_change_made_meanwhile``.
"""

from __future__ import annotations

import json
import time

import pytest
from testenv_server import TestAPIServer

pytestmark = pytest.mark.e2e


def test_server_is_ready(apiserver: TestAPIServer) -> None:
    assert apiserver.pid is not None
    assert apiserver.server == f"https://127.0.0.1:{apiserver.port}"
    assert apiserver.ready_seconds is not None and apiserver.ready_seconds < 30, apiserver.ready_seconds


def test_kubectl_version_matches_server(apiserver: TestAPIServer) -> None:
    out = json.loads(apiserver.kubectl("version", "-o", "json").stdout)
    client, server = out["clientVersion"], out["serverVersion"]
    assert server["gitVersion"].startswith("v1."), server
    assert client["gitVersion"] == server["gitVersion"]


def test_default_namespace_exists(apiserver: TestAPIServer) -> None:
    res = apiserver.kubectl("get", "ns", "default", "-o", "jsonpath={.status.phase}")
    assert res.stdout == "Active"


def test_kubectl_failure_raises_with_stderr(apiserver: TestAPIServer) -> None:
    res = apiserver.kubectl("get", "configmap", "does-not-exist", check=False)
    assert res.returncode != 0
    assert "NotFound" in res.stderr or "not found" in res.stderr


def test_namespace_fixture(apiserver: TestAPIServer, namespace: str) -> None:
    phase = apiserver.kubectl("get", "ns", namespace, "-o", "jsonpath={.status.phase}").stdout
    assert phase == "Active"
    apiserver.kubectl("-n", namespace, "create", "configmap", "c1", "--from-literal=k=v")
    assert apiserver.kubectl("-n", namespace, "get", "cm", "c1", "-o", "jsonpath={.data.k}").stdout == "v"


def test_namespace_deletion_completes(apiserver: TestAPIServer) -> None:
    """The in-process namespace controller empties and removes deleted namespaces."""
    name = f"doomed-{int(time.time() * 1000) % 10**8}"
    apiserver.kubectl("create", "namespace", name)
    apiserver.kubectl("-n", name, "create", "configmap", "c1")
    apiserver.kubectl("delete", "namespace", name, "--timeout=60s")
    res = apiserver.kubectl("get", "namespace", name, "--ignore-not-found", "-o", "name")
    assert res.stdout == ""


def test_services_and_pods_without_service_accounts(apiserver: TestAPIServer, namespace: str) -> None:
    """ServiceAccount admission is off; a LoadBalancer Service gets a ClusterIP and its status is patchable."""
    manifest = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]},
            },
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "example.invalid/web"}]},
            },
        ],
    }
    apiserver.kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(manifest))
    cluster_ip = apiserver.kubectl("-n", namespace, "get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}")
    assert cluster_ip.stdout.startswith("10.96.")
    patch = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}
    apiserver.kubectl(
        "-n", namespace, "patch", "svc", "web", "--subresource=status", "--type=merge", "-p", json.dumps(patch)
    )
    ip = apiserver.kubectl("-n", namespace, "get", "svc", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")
    assert ip.stdout == "192.0.2.10"


def test_validating_webhooks_are_called(apiserver: TestAPIServer, namespace: str) -> None:
    """ValidatingAdmissionWebhook is on: an unreachable webhook with failurePolicy Fail blocks writes."""
    name = f"unreachable-{namespace}"
    webhook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": "deny.e2e.pymetallb.invalid",
                "clientConfig": {"url": "https://127.0.0.1:1/validate"},
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["configmaps"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 2,
            }
        ],
    }
    apiserver.kubectl("apply", "-f", "-", input=json.dumps(webhook))
    try:
        res = apiserver.kubectl("-n", namespace, "create", "configmap", "blocked", check=False)
        assert res.returncode != 0
        assert "failed calling webhook" in res.stderr, res.stderr
    finally:
        apiserver.kubectl("delete", "validatingwebhookconfiguration", name, "--ignore-not-found")


# ---- restarts (these restart the session's server; they run last in this module) ----------


def test_restart_keeps_data_port_and_credentials(apiserver: TestAPIServer, namespace: str) -> None:
    apiserver.kubectl("-n", namespace, "create", "configmap", "before", "--from-literal=k=kept")
    kubeconfig_before = apiserver.kubeconfig.read_text()
    port_before = apiserver.port
    apiserver.restart()
    assert apiserver.port == port_before
    assert apiserver.kubeconfig.read_text() == kubeconfig_before
    res = apiserver.kubectl("-n", namespace, "get", "configmap", "before", "-o", "jsonpath={.data.k}")
    assert res.stdout == "kept"
