"""The ValidatingWebhookConfiguration and the BGPPeer conversion settings, as data. Pure.

Names, paths and rules follow MetalLB (``metallb-webhook-configuration``, ``<kind>validationwebhook.metallb.io``,
``/validate-metallb-io-<version>-<kind>``, service ``metallb-webhook-service`` port 443). Our additions, each for a
reason (docs/webhook.md):

* ``servicevalidationwebhook.metallb.io`` for Services, with ``failurePolicy: Ignore`` (a webhook outage must never
  block an application deploy) and a ``matchConditions`` CEL rule ``object.spec.type == 'LoadBalancer'``, so other
  Services never reach the webhook at all;
* ``<kind>deletionwebhook.metallb.io`` for DELETE of pools, BFD profiles and Communities, with ``Ignore``: deletion
  checks protect against dangling references, but must never block an uninstall or a namespace teardown when the
  webhook is already gone. (MetalLB checks BFDProfile deletion with ``Fail``.)
* every config kind uses ``failurePolicy: Fail``, as MetalLB does: a config must never get in unchecked.

``client_config(base_url=...)`` points at a URL (out-of-cluster mode, the e2e tests, the demo);
``client_config(service=...)`` at the in-cluster Service.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from crds.meta import Resource
from crds.types import BFDProfile, BGPAdvertisement, BGPPeer, Community, IPAddressPool, L2Advertisement

from .review import CONVERT_PATH, SERVICE_PATH, validate_path

__all__ = [
    "BGPPEER_CRD",
    "VWC_NAME",
    "ServiceRef",
    "client_config",
    "conversion_spec",
    "validating_webhook_configuration",
    "webhook_name",
]

VWC_NAME = "metallb-webhook-configuration"
BGPPEER_CRD = BGPPeer.api.crd_name
FIELD_MANAGER = "pymetallb-webhook"

_CONFIG_KINDS: tuple[type[Resource], ...] = (
    BGPPeer,
    BFDProfile,
    BGPAdvertisement,
    Community,
    IPAddressPool,
    L2Advertisement,
)
_DELETE_CHECKED: tuple[type[Resource], ...] = (IPAddressPool, BFDProfile, Community)


@dataclass(frozen=True)
class ServiceRef:
    name: str = "metallb-webhook-service"
    namespace: str = "metallb-system"
    port: int = 443


def webhook_name(model: type[Resource], what: str = "validation") -> str:
    """MetalLB's name: ``ipaddresspoolvalidationwebhook.metallb.io`` (``bgppeersvalidationwebhook`` for peers)."""
    singular = model.api.singular
    if model is BGPPeer and what == "validation":
        singular = "bgppeers"
    return f"{singular}{what}webhook.metallb.io"


def client_config(
    path: str, ca_bundle: bytes | None, *, base_url: str | None = None, service: ServiceRef | None = None
) -> dict[str, Any]:
    """A webhook clientConfig for ``path``, by URL or by Service; ``caBundle`` base64-encoded when given."""
    if (base_url is None) == (service is None):
        raise ValueError("give exactly one of base_url and service")
    out: dict[str, Any]
    if base_url is not None:
        out = {"url": base_url.rstrip("/") + path}
    else:
        assert service is not None
        out = {"service": {"name": service.name, "namespace": service.namespace, "path": path, "port": service.port}}
    if ca_bundle:
        out["caBundle"] = base64.b64encode(ca_bundle).decode()
    return out


def _rule(model: type[Resource], operations: list[str]) -> dict[str, Any]:
    return {
        "apiGroups": [model.api.group],
        "apiVersions": [model.api.version],
        "operations": operations,
        "resources": [model.api.plural],
        "scope": "Namespaced",
    }


def validating_webhook_configuration(
    ca_bundle: bytes | None, *, base_url: str | None = None, service: ServiceRef | None = None
) -> dict[str, Any]:
    """The whole ValidatingWebhookConfiguration: every config kind, their deletions, and Services."""
    hooks: list[dict[str, Any]] = []

    def hook(name: str, path: str, rule: dict[str, Any], policy: str, timeout: int) -> dict[str, Any]:
        return {
            "name": name,
            "admissionReviewVersions": ["v1"],
            "clientConfig": client_config(path, ca_bundle, base_url=base_url, service=service),
            "failurePolicy": policy,
            "matchPolicy": "Equivalent",
            "rules": [rule],
            "sideEffects": "None",
            "timeoutSeconds": timeout,
        }

    for model in _CONFIG_KINDS:
        hooks.append(hook(webhook_name(model), validate_path(model), _rule(model, ["CREATE", "UPDATE"]), "Fail", 10))
    for model in _DELETE_CHECKED:
        hooks.append(hook(webhook_name(model, "deletion"), validate_path(model), _rule(model, ["DELETE"]), "Ignore", 5))
    service_rule = {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["services"],
        "scope": "Namespaced",
    }
    svc = hook("servicevalidationwebhook.metallb.io", SERVICE_PATH, service_rule, "Ignore", 5)
    svc["matchConditions"] = [{"name": "load-balancer-only", "expression": "object.spec.type == 'LoadBalancer'"}]
    hooks.append(svc)
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": VWC_NAME, "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
        "webhooks": hooks,
    }


def conversion_spec(
    ca_bundle: bytes | None, *, base_url: str | None = None, service: ServiceRef | None = None
) -> dict[str, Any]:
    """``spec.conversion`` of the BGPPeer CRD, calling ``/convert``."""
    return {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": client_config(CONVERT_PATH, ca_bundle, base_url=base_url, service=service),
            "conversionReviewVersions": ["v1", "v1beta1"],
        },
    }
