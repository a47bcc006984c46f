"""Controller: which Store change marks which key, and what metallb_k8s_client_updates_total counts."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_fakes import NS, FakeApi, FakeRecorder, namespace, pool, svc, synced_store
from prometheus_client import CollectorRegistry

from reconciler.controller.controller import Controller
from reconciler.controller.keys import CONFIG, STATE, Key, ServiceKey
from reconciler.controller.resources import COMMUNITIES, POOLS, STATES
from reconciler.controller.state import ControllerSettings
from reconciler.runtime.clock import FakeClock
from reconciler.runtime.metrics import ExactCounters
from reconciler.runtime.resources import NAMESPACES, SERVICES, ResourceType
from reconciler.runtime.workqueue import WorkQueue

pytestmark = pytest.mark.anyio


def _state(name: str = "controller", ns: str = NS) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": "1"}, "status": {}}


def _with_status(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "status": {"assignedIPv4": 1}, "metadata": {**obj["metadata"], "resourceVersion": "9"}}


@pytest.mark.parametrize(
    ("res", "key", "old", "new", "want"),
    [
        pytest.param(SERVICES, "default/web", None, svc("web"), [ServiceKey("default/web")], id="service-added"),
        pytest.param(SERVICES, "default/web", svc("web"), None, [ServiceKey("default/web")], id="service-deleted"),
        pytest.param(POOLS, f"{NS}/a", None, pool("a", "10.0.0.0/30"), [CONFIG], id="pool-added"),
        pytest.param(
            POOLS,
            f"{NS}/a",
            pool("a", "10.0.0.0/30"),
            _with_status(pool("a", "10.0.0.0/30")),
            [],
            id="pool-status-only-update-is-ours",
        ),
        pytest.param(COMMUNITIES, f"{NS}/c", None, {"metadata": {"name": "c"}, "spec": {}}, [CONFIG], id="community"),
        pytest.param(NAMESPACES, "x", namespace("x"), namespace("x", team="a"), [CONFIG], id="namespace-relabeled"),
        pytest.param(NAMESPACES, "x", namespace("x"), namespace("x"), [], id="namespace-unchanged-labels"),
        pytest.param(STATES, f"{NS}/controller", _state(), None, [STATE], id="our-state-deleted-is-rewritten"),
        pytest.param(STATES, f"{NS}/controller", None, _state(), [STATE], id="our-state-edited-is-checked"),
        pytest.param(STATES, f"{NS}/speaker-n1", None, _state("speaker-n1"), [], id="a-speakers-state-is-not-ours"),
    ],
)
def test_a_store_change_marks_exactly_the_right_key(
    res: ResourceType, key: str, old: Any, new: Any, want: list[Key]
) -> None:
    queue: WorkQueue[Key] = WorkQueue(name="t")
    ctl = Controller(
        FakeApi(),
        synced_store(),
        queue,
        FakeRecorder(),
        settings=ControllerSettings(namespace=NS),
        registry=CollectorRegistry(),
        exact=ExactCounters(),
    )
    ctl.on_store_change(res, key, old, new)
    got = [queue._queue.popleft() for _ in range(len(queue))]
    assert got == want


async def test_updates_total_counts_service_reconciles_only() -> None:
    exact = ExactCounters()
    store = synced_store(pools=[pool("a", "10.0.0.0/30")], services=[svc("web")])
    api = FakeApi()
    api.put(SERVICES, svc("web"))
    ctl = Controller(
        api,
        store,
        WorkQueue(name="t"),
        FakeRecorder(),
        settings=ControllerSettings(namespace=NS),
        registry=CollectorRegistry(),
        exact=exact,
        clock=FakeClock(),
    )
    await ctl.reconcile(CONFIG)
    await ctl.reconcile(STATE)
    await ctl.reconcile(ServiceKey("default/web"))
    assert "metallb_k8s_client_updates_total 1\n" in exact.expose()
