"""Put the CA bundle where the apiserver reads it, and put it back when someone overwrites it.

Two targets: every webhook of ``ValidatingWebhookConfiguration/metallb-webhook-configuration`` and the conversion
webhook of ``CustomResourceDefinition/bgppeers.metallb.io``. ``ensure(bundle)`` makes both carry exactly ``bundle``
and answers whether they do; it is called on every pass of the certificate loop (``webhooks.rotation``), so a
bundle overwritten by ``helm upgrade``, ``kubectl apply`` or another tool is re-injected within one poll interval.

Two modes:

* **inject** (in cluster, the chart owns the configuration): only ``caBundle`` fields change; a missing
  configuration is reported as not in place (the webhook stays unready) and is never created;
* **register** (``--register-url``, out of cluster): the whole configuration is created or replaced from
  ``webhooks.registration`` to call that URL, and the CRD's conversion is pointed at it.

Updates use the object's ``resourceVersion`` (a concurrent writer makes ours fail with ``Conflict``; the next pass
retries with fresh data), so two replicas never undo each other.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from reconciler.runtime.client import ApiClient
from reconciler.runtime.errors import NotFound
from reconciler.runtime.resources import ResourceType

from .registration import BGPPEER_CRD, VWC_NAME, ServiceRef, conversion_spec, validating_webhook_configuration

__all__ = ["CRDS", "VWCS", "CaBundleInjector"]

VWCS = ResourceType(
    "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False
)
CRDS = ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False)

_log = logging.getLogger(__name__)


def _covers(desired: Any, live: Any) -> bool:
    """Whether ``live`` has every field of ``desired`` with the same value (the server adds defaults)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(_covers(v, live.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(live, list) and len(desired) == len(live) and all(map(_covers, desired, live))
    return bool(desired == live)


class CaBundleInjector:
    """Keeps ``caBundle`` right in the webhook configuration and the BGPPeer CRD (see the module docstring)."""

    def __init__(
        self,
        api: ApiClient,
        *,
        base_url: str | None = None,
        service: ServiceRef | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.api = api
        self.base_url = base_url
        self.service = service or ServiceRef()
        self.injections = 0
        """How many writes this injector made (tests and logs)."""
        self._log = logger or _log

    @property
    def registering(self) -> bool:
        return self.base_url is not None

    async def ensure(self, bundle: bytes) -> bool:
        """Make both targets carry ``bundle``; True when they do. Raises ``ApiError`` on API failures."""
        vwc = await self._ensure_vwc(bundle)
        crd = await self._ensure_crd(bundle)
        return vwc and crd

    async def _ensure_vwc(self, bundle: bytes) -> bool:
        encoded = base64.b64encode(bundle).decode()
        try:
            live = await self.api.get(VWCS, VWC_NAME)
        except NotFound:
            if not self.registering:
                self._log.warning(
                    "ValidatingWebhookConfiguration %s does not exist; nothing to inject into",
                    VWC_NAME,
                    extra={"op": "cabundle", "event": "configurationMissing"},
                )
                return False
            await self.api.create(VWCS, self._desired_vwc(bundle), field_manager="pymetallb-webhook")
            self._wrote("created", "ValidatingWebhookConfiguration")
            return True
        if self.registering:
            desired = self._desired_vwc(bundle)
            if _covers(desired["webhooks"], live.get("webhooks")):
                return True
            desired["metadata"]["resourceVersion"] = (live.get("metadata") or {}).get("resourceVersion")
            await self.api.replace(VWCS, desired)
            self._wrote("registered", "ValidatingWebhookConfiguration")
            return True
        hooks = live.get("webhooks") or []
        stale = [h for h in hooks if (h.get("clientConfig") or {}).get("caBundle") != encoded]
        if not stale:
            return bool(hooks)
        for h in stale:
            h.setdefault("clientConfig", {})["caBundle"] = encoded
        await self.api.replace(VWCS, live)
        self._wrote("injected", "ValidatingWebhookConfiguration", webhooks=len(stale))
        return True

    def _desired_vwc(self, bundle: bytes) -> dict[str, Any]:
        if self.base_url is not None:
            return validating_webhook_configuration(bundle, base_url=self.base_url)
        return validating_webhook_configuration(bundle, service=self.service)

    async def _ensure_crd(self, bundle: bytes) -> bool:
        encoded = base64.b64encode(bundle).decode()
        try:
            live = await self.api.get(CRDS, BGPPEER_CRD)
        except NotFound:
            return True  # no BGPPeer CRD, no conversion to secure
        conversion = (live.get("spec") or {}).get("conversion") or {}
        if self.registering:
            desired = conversion_spec(bundle, base_url=self.base_url)
            if _covers(desired, conversion):
                return True
            patch: dict[str, Any] = {"spec": {"conversion": {**desired}}}
            # A merge patch keeps keys it does not name: drop a Service reference when switching to a URL.
            patch["spec"]["conversion"]["webhook"]["clientConfig"]["service"] = None
        else:
            if conversion.get("strategy") != "Webhook":
                return True
            client = (conversion.get("webhook") or {}).get("clientConfig") or {}
            if client.get("caBundle") == encoded:
                return True
            patch = {"spec": {"conversion": {"webhook": {"clientConfig": {"caBundle": encoded}}}}}
        await self.api.patch(CRDS, BGPPEER_CRD, patch)
        self._wrote("injected", "CustomResourceDefinition")
        return True

    def _wrote(self, event: str, kind: str, **fields: Any) -> None:
        self.injections += 1
        self._log.info(
            "%s CA bundle into %s", event, kind, extra={"op": "cabundle", "event": event, "kind": kind, **fields}
        )
