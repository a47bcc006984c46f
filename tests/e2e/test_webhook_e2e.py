"""The webhook on a real kube-apiserver: registered by URL on 127.0.0.1 with its own CA, called on `kubectl apply`.

One webhook process (``pymetallb webhook --register-url``) serves the whole module, with certificates that live
seconds instead of a year (``--cert-validity 15s --ca-validity 45s --ca-grace 3s``), so every test below runs while
the serving certificate and the CA rotate underneath it; ``test_rotation_during_a_stream_of_applies_loses_nothing``
measures it. Teardown removes the registration and restores the BGPPeer CRD's conversion, so later modules see the
apiserver as the session fixture made it.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from testenv_server import TestAPIServer

pytestmark = pytest.mark.e2e

NS = "metallb-system"
REPO = Path(__file__).resolve().parents[2]
PYMETALLB = Path(sys.executable).parent / "pymetallb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Webhook:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    apiserver: TestAPIServer

    def get(self, path: str) -> tuple[int, str]:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{self.port}{path}", context=ctx, timeout=2) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode()

    def served_serial(self) -> int:
        """The serial of the certificate a new handshake gets."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as raw, ctx.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
        from cryptography import x509

        assert der is not None
        return int(x509.load_der_x509_certificate(der).serial_number)

    def log_events(self, event: str) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("event") == event:
                out.append(rec)
        return out


def _json(apiserver: TestAPIServer, *args: str) -> Any:
    return json.loads(apiserver.kubectl(*args, "-o", "json").stdout)


@pytest.fixture(scope="module")
def webhook(apiserver: TestAPIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    if not PYMETALLB.exists():
        pytest.fail(f"{PYMETALLB} missing: run `make venv`")
    apiserver.kubectl("create", "namespace", NS, check=False)
    crd_before = _json(apiserver, "get", "crd", "bgppeers.metallb.io")["spec"]["conversion"]
    port = _free_port()
    log = tmp_path_factory.mktemp("webhook") / "webhook.log"
    cmd = [
        str(PYMETALLB),
        "webhook",
        f"--kubeconfig={apiserver.kubeconfig}",
        f"--register-url=https://127.0.0.1:{port}",
        "--host=127.0.0.1",
        f"--port={port}",
        "--cert-validity=15s",
        "--ca-validity=45s",
        "--ca-grace=3s",
        "--cert-poll=1",
        "--log-level=debug",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    hook = Webhook(port, proc, log, apiserver)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"webhook exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if hook.get("/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"webhook not ready after 60s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        hook.ready_seconds = 60 - (deadline - time.monotonic())  # type: ignore[attr-defined]
        yield hook
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        apiserver.kubectl(
            "delete", "validatingwebhookconfiguration", "metallb-webhook-configuration", "--ignore-not-found"
        )
        patch = [{"op": "replace", "path": "/spec/conversion", "value": crd_before}]
        apiserver.kubectl("patch", "crd", "bgppeers.metallb.io", "--type=json", "-p", json.dumps(patch))


def _yaml_of(*objects: dict[str, Any]) -> str:
    return "\n---\n".join(json.dumps(o) for o in objects)


def apply(
    apiserver: TestAPIServer, *objects: dict[str, Any], dry_run: bool = False
) -> subprocess.CompletedProcess[str]:
    args = ["apply", "-f", "-"] + (["--dry-run=server"] if dry_run else [])
    return apiserver.kubectl(*args, input=_yaml_of(*objects), check=False)


def eventually(fn: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def pool(name: str, *addresses: str, ns: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"addresses": list(addresses)},
    }


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def cleanup(apiserver: TestAPIServer) -> Iterator[list[str]]:
    """Objects to delete after the test, as ``kind/name`` in the MetalLB namespace."""
    names: list[str] = []
    yield names
    for ref in names:
        apiserver.kubectl("delete", ref, "-n", NS, "--ignore-not-found", "--wait=false", check=False)


def test_registration_and_readiness(webhook: Webhook) -> None:
    vwc = _json(webhook.apiserver, "get", "validatingwebhookconfiguration", "metallb-webhook-configuration")
    names = [h["name"] for h in vwc["webhooks"]]
    assert "ipaddresspoolvalidationwebhook.metallb.io" in names and "servicevalidationwebhook.metallb.io" in names
    eventually(lambda: _bundles_are_the_secrets_ca(webhook.apiserver))
    assert webhook.get("/healthz") == (200, "ok\n")
    assert webhook.get("/readyz") == (200, "ok\n")
    conversion = _json(webhook.apiserver, "get", "crd", "bgppeers.metallb.io")["spec"]["conversion"]
    assert conversion["webhook"]["clientConfig"]["url"] == f"https://127.0.0.1:{webhook.port}/convert"
    assert "service" not in conversion["webhook"]["clientConfig"]


def test_an_overlapping_pool_is_denied_at_apply(webhook: Webhook, cleanup: list[str]) -> None:
    a, b = _unique("a"), _unique("b")
    cleanup += [f"ipaddresspool/{a}", f"ipaddresspool/{b}"]
    first = apply(webhook.apiserver, pool(a, "10.200.0.0/24"))
    assert first.returncode == 0, first.stderr
    overlapping = pool(b, "10.200.0.128/25")
    eventually(lambda: apply(webhook.apiserver, overlapping, dry_run=True).returncode != 0)  # the watch saw `a`
    res = apply(webhook.apiserver, overlapping)
    assert res.returncode != 0
    assert (
        f'admission webhook "ipaddresspoolvalidationwebhook.metallb.io" denied the request: CIDR "10.200.0.128/25" '
        f'in pool "{b}" overlaps with already defined CIDR "10.200.0.0/24"'
    ) in res.stderr


def test_config_outside_the_namespace_is_denied(webhook: Webhook, namespace: str) -> None:
    res = apply(webhook.apiserver, pool("p", "10.201.0.0/24", ns=namespace))
    assert res.returncode != 0
    assert "denied the request: resource must be created in metallb-system namespace" in res.stderr


def test_a_service_asking_for_an_unknown_pool_is_denied(webhook: Webhook, namespace: str) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace, "annotations": {"metallb.io/address-pool": "nope"}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "selector": {"app": "web"}},
    }
    res = apply(webhook.apiserver, svc)
    assert res.returncode != 0
    assert (
        'admission webhook "servicevalidationwebhook.metallb.io" denied the request: metallb.io/address-pool: '
        'unknown pool "nope"'
    ) in res.stderr
    # Other Services never reach the webhook (matchConditions): the same annotation on a ClusterIP passes.
    plain = {**svc, "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}
    assert apply(webhook.apiserver, plain).returncode == 0


def test_a_valid_config_applies_and_warnings_reach_kubectl(webhook: Webhook, cleanup: list[str]) -> None:
    p, l2, bgp, peer, comm = (_unique(x) for x in ("pool", "l2", "bgp", "peer", "comm"))
    cleanup += [f"l2advertisement/{l2}", f"bgpadvertisement/{bgp}", f"bgppeer/{peer}", f"community/{comm}"]
    cleanup += [f"ipaddresspool/{p}"]
    objects = [
        pool(p, "10.202.0.0/24"),
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "Community",
            "metadata": {"name": comm, "namespace": NS},
            "spec": {"communities": [{"name": "no-advertise", "value": "65535:65282"}]},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": l2, "namespace": NS},
            "spec": {"ipAddressPools": [p]},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": bgp, "namespace": NS},
            "spec": {"ipAddressPools": [p, "missing-pool"], "communities": ["no-advertise"]},
        },
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": peer, "namespace": NS},
            "spec": {"myASN": 64500, "peerASN": 64501, "peerAddress": "10.0.0.1"},
        },
    ]
    res = apply(webhook.apiserver, *objects)
    assert res.returncode == 0, res.stderr
    assert (
        f'Warning: BGPAdvertisement/{bgp}: ipAddressPools names pool "missing-pool", which does not exist' in res.stderr
    )


def test_a_v1beta1_peer_is_stored_as_v1beta2_and_reads_back_in_both(webhook: Webhook, cleanup: list[str]) -> None:
    name = _unique("old-peer")
    cleanup.append(f"bgppeers.v1beta2.metallb.io/{name}")
    v1 = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPPeer",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "myASN": 64500,
            "peerASN": 64502,
            "peerAddress": "10.0.0.2",
            "holdTime": "90s",
            "nodeSelectors": [{"matchLabels": {"rack": "a"}}],
        },
    }
    res = apply(webhook.apiserver, v1)
    assert res.returncode == 0, res.stderr
    as_v2 = _json(webhook.apiserver, "get", f"bgppeers.v1beta2.metallb.io/{name}", "-n", NS)
    assert as_v2["apiVersion"] == "metallb.io/v1beta2"
    assert as_v2["spec"]["nodeSelectors"] == [{"matchLabels": {"rack": "a"}}]
    assert as_v2["spec"]["holdTime"] == "90s"
    as_v1 = _json(webhook.apiserver, "get", f"bgppeers.v1beta1.metallb.io/{name}", "-n", NS)
    assert as_v1["apiVersion"] == "metallb.io/v1beta1"
    assert as_v1["spec"]["nodeSelectors"][0]["matchLabels"] == {"rack": "a"}
    stored = _json(webhook.apiserver, "get", "crd", "bgppeers.metallb.io")["status"]["storedVersions"]
    assert stored == ["v1beta2"]
    assert webhook.log_events("converted"), "the apiserver never called /convert"
    # A v1beta1 peer is judged like a v1beta2 one (matchPolicy Equivalent converts it first).
    bad = {**v1, "metadata": {"name": _unique("ibgp"), "namespace": NS}}
    bad["spec"] = {**v1["spec"], "peerASN": 64500, "ebgpMultiHop": True}
    res = apply(webhook.apiserver, bad)
    assert res.returncode != 0
    assert "invalid ebgp-multihop parameter set for an ibgp peer" in res.stderr


def _secret_ca(apiserver: TestAPIServer) -> bytes:
    """The CA bundle the webhook keeps in its Secret (``ca.crt`` of ``metallb-webhook-cert``)."""
    secret = _json(apiserver, "get", "secret", "metallb-webhook-cert", "-n", NS)
    return base64.b64decode(secret["data"]["ca.crt"])


def _published_bundles(apiserver: TestAPIServer) -> list[bytes]:
    """Every caBundle the apiserver uses to call the webhook: each validating webhook's and the conversion's."""
    vwc = _json(apiserver, "get", "validatingwebhookconfiguration", "metallb-webhook-configuration")
    crd = _json(apiserver, "get", "crd", "bgppeers.metallb.io")
    encoded = [h["clientConfig"]["caBundle"] for h in vwc["webhooks"]]
    encoded.append(crd["spec"]["conversion"]["webhook"]["clientConfig"]["caBundle"])
    return [base64.b64decode(e) for e in encoded]


def _bundles_are_the_secrets_ca(apiserver: TestAPIServer) -> bool:
    """Read twice around the Secret: a rotation between the reads (every few seconds here) only retries."""
    before = _published_bundles(apiserver)
    ca = _secret_ca(apiserver)
    return b"BEGIN CERTIFICATE" in ca and before == _published_bundles(apiserver) == [ca] * len(before)


def test_an_overwritten_ca_bundle_is_put_back(webhook: Webhook) -> None:
    bogus = base64.b64encode(b"not a bundle").decode()
    patch = [{"op": "replace", "path": "/webhooks/0/clientConfig/caBundle", "value": bogus}]
    webhook.apiserver.kubectl(
        "patch",
        "validatingwebhookconfiguration",
        "metallb-webhook-configuration",
        "--type=json",
        "-p",
        json.dumps(patch),
    )
    start = time.monotonic()
    eventually(lambda: _bundles_are_the_secrets_ca(webhook.apiserver), timeout=15)
    print(f"caBundle restored after {time.monotonic() - start:.1f}s")


def test_rotation_during_a_stream_of_applies_loses_nothing(webhook: Webhook, cleanup: list[str]) -> None:
    """For 50 s (more than three serving lifetimes and one CA lifetime) apply and delete pools without pause."""
    serials: set[int] = set()
    failures: list[str] = []
    requests = 0
    start = time.monotonic()
    rotations_before = len(webhook.log_events("rotated"))
    i = 0
    while time.monotonic() - start < 50:
        i += 1
        name = f"stream-{i}"
        cleanup.append(f"ipaddresspool/{name}")
        res = apply(webhook.apiserver, pool(name, f"10.210.{i % 250}.0/24"))
        requests += 1
        if res.returncode != 0:
            failures.append(res.stderr.strip())
        res = webhook.apiserver.kubectl("delete", "ipaddresspool", name, "-n", NS, check=False)
        requests += 1
        if res.returncode != 0:
            failures.append(res.stderr.strip())
        serials.add(webhook.served_serial())
    rotations = webhook.log_events("rotated")[rotations_before:]
    new_cas = [r for r in rotations if r.get("newCA")]
    print(
        f"{requests} requests in 50s, {len(failures)} failed; {len(serials)} serving certificates seen, "
        f"{len(rotations)} rotations ({len(new_cas)} with a new CA)"
    )
    assert failures == []
    assert len(serials) >= 3
    assert new_cas, "the CA never rotated"
