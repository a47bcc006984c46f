"""The contents of the status objects a speaker writes (ServiceL2Status, ServiceBGPStatus), from its decisions. Pure.

MetalLB's shapes (``internal/k8s/controllers/layer2_status_controller.go``, ``bgp_status_controller.go``): created
in the MetalLB namespace with ``generateName`` ``l2-``/``bgp-``, labelled with the node, the Service name and
namespace (each speaker lists only its own objects by these labels); ``interfaces`` only when the announcement
is restricted to some; ``peers`` sorted. The owner reference to the speaker Pod is the shell's to add.
"""

from __future__ import annotations

from typing import Any

from reconciler.core.bgp import BGPDecision
from reconciler.core.l2 import L2Decision

__all__ = [
    "LABEL_NODE",
    "LABEL_SERVICE_NAME",
    "LABEL_SERVICE_NAMESPACE",
    "service_bgp_status",
    "service_l2_status",
    "status_labels",
]

LABEL_NODE = "metallb.io/node"
LABEL_SERVICE_NAME = "metallb.io/service-name"
LABEL_SERVICE_NAMESPACE = "metallb.io/service-namespace"


def status_labels(node: str, service_key: str) -> dict[str, str]:
    namespace, _, name = service_key.partition("/")
    return {LABEL_NODE: node, LABEL_SERVICE_NAME: name, LABEL_SERVICE_NAMESPACE: namespace}


def _identity(node: str, service_key: str) -> dict[str, str]:
    namespace, _, name = service_key.partition("/")
    return {"node": node, "serviceName": name, "serviceNamespace": namespace}


def service_l2_status(node: str, decision: L2Decision, namespace: str) -> dict[str, Any] | None:
    """The ServiceL2Status ``node`` keeps for a Service it announces; None when it does not announce it."""
    if not decision.announce:
        return None
    status: dict[str, Any] = _identity(node, decision.service)
    if decision.interfaces is not None:
        status["interfaces"] = [{"name": i} for i in sorted(decision.interfaces)]
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {"generateName": "l2-", "namespace": namespace, "labels": status_labels(node, decision.service)},
        "status": status,
    }


def service_bgp_status(node: str, decision: BGPDecision, namespace: str) -> dict[str, Any] | None:
    """The ServiceBGPStatus ``node`` keeps for a Service it advertises to at least one peer; else None."""
    if not decision.announce or not decision.peers:
        return None
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceBGPStatus",
        "metadata": {"generateName": "bgp-", "namespace": namespace, "labels": status_labels(node, decision.service)},
        "status": {**_identity(node, decision.service), "peers": sorted(decision.peers)},
    }
