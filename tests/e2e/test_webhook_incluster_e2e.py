"""In-cluster certificate mode: the webhook does not register anything; it injects its CA bundle into the
ValidatingWebhookConfiguration and the BGPPeer CRD that the chart installed, and puts it back when overwritten."""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

import pytest
from testenv_server import TestAPIServer

from reconciler.runtime.client import ApiClient
from webhooks.cabundle import CaBundleInjector
from webhooks.certs import new_ca
from webhooks.registration import ServiceRef, validating_webhook_configuration

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

VWC = "metallb-webhook-configuration"


def _get(apiserver: TestAPIServer, *args: str) -> Any:
    return json.loads(apiserver.kubectl("get", *args, "-o", "json").stdout)


async def test_in_cluster_mode_injects_into_what_the_chart_installed(apiserver: TestAPIServer) -> None:
    installed = validating_webhook_configuration(b"", service=ServiceRef())
    for hook in installed["webhooks"]:
        hook["clientConfig"].pop("caBundle", None)
        hook["failurePolicy"] = "Ignore"  # the Service behind it does not exist here; never block other tests
    apiserver.kubectl("apply", "-f", "-", input=json.dumps(installed))
    crd_before = _get(apiserver, "crd", "bgppeers.metallb.io")["spec"]["conversion"]
    client = await ApiClient.connect(str(apiserver.kubeconfig))
    try:
        bundle = new_ca(datetime.datetime.now(datetime.UTC)).cert_pem
        encoded = base64.b64encode(bundle).decode()
        injector = CaBundleInjector(client)
        assert await injector.ensure(bundle)
        vwc = _get(apiserver, "validatingwebhookconfiguration", VWC)
        assert vwc["webhooks"] and all(h["clientConfig"]["caBundle"] == encoded for h in vwc["webhooks"])
        assert all("service" in h["clientConfig"] and "url" not in h["clientConfig"] for h in vwc["webhooks"])
        crd = _get(apiserver, "crd", "bgppeers.metallb.io")
        assert crd["spec"]["conversion"]["webhook"]["clientConfig"]["caBundle"] == encoded

        patch = [
            {"op": "replace", "path": "/webhooks/1/clientConfig/caBundle", "value": base64.b64encode(b"x").decode()}
        ]
        apiserver.kubectl("patch", "validatingwebhookconfiguration", VWC, "--type=json", "-p", json.dumps(patch))
        writes = injector.injections
        assert await injector.ensure(bundle)
        assert injector.injections == writes + 1
        vwc = _get(apiserver, "validatingwebhookconfiguration", VWC)
        assert all(h["clientConfig"]["caBundle"] == encoded for h in vwc["webhooks"])
        assert await injector.ensure(bundle) and injector.injections == writes + 1  # nothing left to fix
    finally:
        await client.close()
        apiserver.kubectl("delete", "validatingwebhookconfiguration", VWC, "--ignore-not-found")
        before_bundle = ((crd_before.get("webhook") or {}).get("clientConfig") or {}).get("caBundle")
        restore = {"spec": {"conversion": {"webhook": {"clientConfig": {"caBundle": before_bundle}}}}}
        apiserver.kubectl("patch", "crd", "bgppeers.metallb.io", "--type=merge", "-p", json.dumps(restore))
