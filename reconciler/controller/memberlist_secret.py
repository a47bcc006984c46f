"""The memberlist Secret: the controller creates it when missing, as MetalLB's does; speakers mount it.

Secret ``memberlist`` (``--ml-secret-name``) in the MetalLB namespace, key ``secretkey``: 16 random bytes in
base64 without padding (MetalLB's format), never rotated by us. The speakers derive their AES-GCM key from it,
so every speaker of a cluster shares it; an existing Secret is never touched.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable

from reconciler.controller.keys import MemberlistKey
from reconciler.controller.ports import ObjectWriter
from reconciler.runtime.errors import Conflict, NotFound
from reconciler.runtime.resources import SECRETS

__all__ = ["MemberlistSecretWriter", "new_secret_key"]

SECRET_KEY = "secretkey"


def new_secret_key() -> str:
    """16 random bytes, base64 without padding (Go's ``base64.RawStdEncoding``), as MetalLB's controller."""
    return base64.b64encode(secrets.token_bytes(16)).decode().rstrip("=")


class MemberlistSecretWriter:
    def __init__(
        self,
        client: ObjectWriter,
        *,
        namespace: str,
        name: str,
        key: Callable[[], str] = new_secret_key,
        logger: logging.Logger | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.key = key
        self.log = logger or logging.getLogger("pymetallb.controller")

    async def reconcile(self, key: MemberlistKey) -> float | None:
        try:
            await self.client.get(SECRETS, self.name, self.namespace)
            return None
        except NotFound:
            pass
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "type": "Opaque",
            "data": {SECRET_KEY: base64.b64encode(self.key().encode()).decode()},
        }
        try:
            await self.client.create(SECRETS, body, self.namespace)
        except Conflict:
            return None  # another replica made it first: theirs stands
        self.log.info(
            "created the memberlist secret",
            extra={"op": "memberlist", "event": "secretCreated", "secret": f"{self.namespace}/{self.name}"},
        )
        return None
