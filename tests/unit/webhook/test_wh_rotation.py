"""SelfManagedCerts on a FakeClock: certificates are dated by the clock's wall time and renewed when it says so."""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
from typing import Any

import pytest

from reconciler.runtime.clock import FakeClock
from reconciler.runtime.errors import NotFound
from reconciler.runtime.resources import ResourceType
from webhooks.certs import CertPolicy, Material
from webhooks.rotation import SECRET_NAME, SelfManagedCerts
from webhooks.tls import ServingContext

pytestmark = pytest.mark.anyio

T0 = datetime.datetime(2026, 11, 27, 10, 0, tzinfo=datetime.UTC)
# An hour of serving validity, renewed with a third of its life (65 min with the 5 min backdate) left: at ~38 min.
POLICY = CertPolicy(
    cert_validity=datetime.timedelta(hours=1),
    ca_validity=datetime.timedelta(hours=10),
    ca_grace=datetime.timedelta(minutes=1),
)


class FakeSecrets:
    """The Secret calls SelfManagedCerts makes, in memory."""

    def __init__(self) -> None:
        self.secret: dict[str, Any] | None = None

    async def get(self, res: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        if self.secret is None:
            raise NotFound(404, "NotFound", f"secrets {name} not found")
        return copy.deepcopy(self.secret)

    async def create(self, res: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        self.secret = copy.deepcopy(obj)
        return obj

    async def replace(self, res: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        self.secret = copy.deepcopy(obj)
        return obj

    def material(self) -> Material:
        assert self.secret is not None
        return Material.from_secret_data({k: base64.b64decode(v) for k, v in self.secret["data"].items()})


class FakeInjector:
    def __init__(self) -> None:
        self.bundles: list[bytes] = []

    async def ensure(self, bundle: bytes) -> bool:
        self.bundles.append(bundle)
        return True


def certs(api: FakeSecrets, clock: FakeClock) -> SelfManagedCerts:
    return SelfManagedCerts(
        api,  # type: ignore[arg-type]
        ServingContext(),
        FakeInjector(),  # type: ignore[arg-type]
        namespace="metallb-system",
        hosts=["metallb-webhook-service.metallb-system.svc"],
        policy=POLICY,
        clock=clock,
    )


async def test_the_first_pass_dates_the_certificates_by_the_clocks_wall_time() -> None:
    api, clock = FakeSecrets(), FakeClock(wall_start=T0)
    loop = certs(api, clock)
    await loop.step()
    assert api.secret is not None and api.secret["metadata"]["name"] == SECRET_NAME
    serving = api.material().serving
    assert serving is not None
    assert serving.not_after == T0 + datetime.timedelta(hours=1)
    assert serving.not_before == T0 - datetime.timedelta(minutes=5)
    assert loop.ready and loop.rotations == 1


async def test_the_serving_certificate_is_renewed_when_the_fake_clock_reaches_its_renewal_time() -> None:
    api, clock = FakeSecrets(), FakeClock(wall_start=T0)
    loop = certs(api, clock)
    await loop.step()
    first = api.material().serving
    task = asyncio.create_task(loop.run())
    try:
        await clock.run_for(30 * 60)  # passes every poll interval (10 s) find nothing due
        assert loop.rotations == 1 and api.material().serving == first
        await clock.run_for(10 * 60)  # 40 min: past the renewal time (~38 min)
        renewed = api.material().serving
        assert loop.rotations == 2 and renewed is not None and first is not None
        assert renewed.serial != first.serial
        # Issued on the fake clock between 30 and 40 minutes in, so valid until an hour after that.
        assert T0 + datetime.timedelta(minutes=90) <= renewed.not_after <= T0 + datetime.timedelta(minutes=100)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
