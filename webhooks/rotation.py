"""The certificate loops: self-managed (a Secret, ``webhooks.certs.plan``) or files (``--cert-dir``, cert-manager).

Self-managed, one pass (``SelfManagedCerts.step``):

1. read Secret ``metallb-webhook-cert`` (absent: empty material);
2. ``plan`` what to renew; if anything, generate and write the Secret back with its ``resourceVersion`` (another
   replica that wrote first makes ours fail with ``Conflict``: the next pass reads and adopts its material);
3. make the webhook configuration and the CRD carry the bundle (``CaBundleInjector.ensure``);
4. serve the Secret's serving pair: only once the bundle holding its CA is confirmed in place (or when nothing is
   served yet), so the apiserver is never shown a certificate it cannot check.

``ready`` is true once a pair is served and the bundle is confirmed: ``/readyz`` stays false until then, so the
apiserver is not sent to a webhook it cannot trust. Passes run at the plan's ``next_check`` and at least every
``poll_interval`` (10 s), which bounds how long an overwritten bundle stays wrong.

File mode polls the two files every ``poll_interval`` and loads a changed pair (``webhooks.tls``); it is ready once
a pair is served: the CA bundle is cert-manager's business there.
"""

from __future__ import annotations

import base64
import datetime
import logging
import ssl
from collections.abc import Sequence
from typing import Any

from reconciler.runtime.client import ApiClient
from reconciler.runtime.clock import Clock, RealClock
from reconciler.runtime.errors import ApiError, Conflict, NotFound
from reconciler.runtime.resources import SECRETS

from .cabundle import CaBundleInjector
from .certs import CertPolicy, Material, apply_plan, plan
from .tls import CertFiles, ServingContext

__all__ = ["SECRET_NAME", "FileCerts", "SelfManagedCerts"]

SECRET_NAME = "metallb-webhook-cert"
_log = logging.getLogger(__name__)


def _decode(secret: dict[str, Any] | None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, value in ((secret or {}).get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True)
        except ValueError:
            continue
    return out


class SelfManagedCerts:
    def __init__(
        self,
        api: ApiClient,
        serving: ServingContext,
        injector: CaBundleInjector,
        *,
        namespace: str,
        hosts: Sequence[str],
        secret_name: str = SECRET_NAME,
        policy: CertPolicy | None = None,
        poll_interval: float = 10.0,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.api = api
        self.serving = serving
        self.injector = injector
        self.namespace = namespace
        self.hosts = list(hosts)
        self.secret_name = secret_name
        self.policy = policy or CertPolicy()
        self.poll_interval = poll_interval
        self.clock: Clock = clock or RealClock()  # wall time for validity and the schedule; sleeps between passes
        self.ready = False
        self.rotations = 0
        self._log = logger or _log

    async def run(self) -> None:
        """Passes forever; API failures are logged and retried at the next poll."""
        while True:
            delay = self.poll_interval
            try:
                next_check = await self.step()
                delay = max(0.05, min(self.poll_interval, (next_check - self.clock.now()).total_seconds()))
            except ApiError as exc:
                self._log.warning(
                    "certificate pass failed: %s", exc, extra={"op": "certs", "event": "passFailed", "error": str(exc)}
                )
            await self.clock.sleep(delay)

    async def step(self) -> datetime.datetime:
        """One pass (see the module docstring); returns when the schedule wants the next one."""
        now = self.clock.now()
        try:
            secret: dict[str, Any] | None = await self.api.get(SECRETS, self.secret_name, self.namespace)
        except NotFound:
            secret = None
        material = Material.from_secret_data(_decode(secret))
        decided = plan(now, material, self.hosts, self.policy)
        if decided.new_ca or decided.new_cert:
            material = apply_plan(material, decided, now, self.hosts, self.policy)
            try:
                await self._write(secret, material)
            except Conflict:
                return now  # someone else wrote first: adopt theirs on the next pass
            self.rotations += 1
            assert material.serving is not None
            self._log.info(
                "certificates renewed: %s",
                decided.reason,
                extra={
                    "op": "certs",
                    "event": "rotated",
                    "newCA": decided.new_ca,
                    "serial": f"{material.serving.serial:x}",
                    "notAfter": material.serving.not_after.isoformat(),
                },
            )
            decided = plan(now, material, self.hosts, self.policy)
        in_place = await self.injector.ensure(material.bundle)
        serving = material.serving
        if serving is not None and (in_place or not self.serving.loaded):
            try:
                if self.serving.load_pem(serving.cert_pem, serving.key_pem):
                    self._log.info(
                        "serving certificate loaded",
                        extra={"op": "certs", "event": "loaded", "serial": f"{serving.serial:x}"},
                    )
            except (ssl.SSLError, ValueError, OSError) as exc:
                self._log.error("cannot serve the certificate: %s", exc, extra={"op": "certs", "event": "loadFailed"})
        self.ready = in_place and self.serving.loaded
        return decided.next_check

    async def _write(self, secret: dict[str, Any] | None, material: Material) -> None:
        data = {k: base64.b64encode(v).decode() for k, v in material.to_secret_data().items()}
        if secret is None:
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": self.secret_name, "namespace": self.namespace},
                "data": data,
            }
            await self.api.create(SECRETS, body)
        else:
            await self.api.replace(SECRETS, {**secret, "data": data})


class FileCerts:
    """``--cert-dir``: serve ``tls.crt``/``tls.key`` and reload them when they change."""

    def __init__(
        self,
        files: CertFiles,
        serving: ServingContext,
        *,
        poll_interval: float = 2.0,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.files = files
        self.serving = serving
        self.poll_interval = poll_interval
        self.clock: Clock = clock or RealClock()
        self._log = logger or _log

    @property
    def ready(self) -> bool:
        return self.serving.loaded

    def step(self) -> bool:
        """Load the files if they changed; True when a new pair is served."""
        if not self.files.changed():
            return False
        try:
            cert, key = self.files.read()
            loaded = self.serving.load_pem(cert, key)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._log.warning(
                "cannot load %s: %s; retrying", self.files.directory, exc, extra={"op": "certs", "event": "loadFailed"}
            )
            return False
        self.files.mark_loaded()
        if loaded:
            self._log.info("serving certificate reloaded from files", extra={"op": "certs", "event": "loaded"})
        return loaded

    async def run(self) -> None:
        while True:
            self.step()
            await self.clock.sleep(self.poll_interval)
