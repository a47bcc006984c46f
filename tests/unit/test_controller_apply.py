"""ServiceController writes: the conditions list is only replaced over the version it read."""

from __future__ import annotations

from typing import Any

import pytest
from alloc_helpers import config, service
from prometheus_client import CollectorRegistry

from reconciler.controller.service_controller import ControllerSettings, ServiceController
from reconciler.core.allocator import Allocator
from reconciler.core.balancer import converge
from reconciler.runtime.metrics import ExactCounters
from reconciler.runtime.store import Store
from reconciler.runtime.workqueue import WorkQueue

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClient:
    def __init__(self) -> None:
        self.patches: list[tuple[str | None, dict[str, Any]]] = []

    async def patch(self, res: Any, name: str, body: dict[str, Any], namespace: str | None = None, **kw: Any) -> Any:
        self.patches.append((kw.get("subresource"), body))
        return {"metadata": {"name": name, "resourceVersion": str(100 + len(self.patches))}}


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    async def record(self, obj: Any, type: str, reason: str, message: str) -> None:
        self.events.append((type, reason))


async def test_status_patch_carries_the_resource_version_of_the_metadata_patch() -> None:
    client, recorder = FakeClient(), FakeRecorder()
    ctl = ServiceController(
        client,  # type: ignore[arg-type]
        Store(),
        WorkQueue(name="t"),
        recorder,  # type: ignore[arg-type]
        settings=ControllerSettings(),
        registry=CollectorRegistry(),
        exact=ExactCounters(),
        wall_clock=lambda: "T",
    )
    view = service("web")
    obj = {"metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"}, "spec": {}, "status": {}}
    outcome = converge(Allocator(config(a=["10.0.0.0/30"])), view)
    await ctl._apply(obj, view, outcome)
    (meta_sub, meta), (status_sub, status) = client.patches
    assert meta_sub is None and meta["metadata"]["annotations"] == {"metallb.io/ip-allocated-from-pool": "a"}
    assert status_sub == "status"
    assert status["metadata"] == {"resourceVersion": "101"}
    assert status["status"]["loadBalancer"] == {"ingress": [{"ip": "10.0.0.0"}]}
    assert recorder.events == [("Normal", "IPAllocated")]
