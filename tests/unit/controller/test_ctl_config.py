"""ConfigReconciler: what each config reaches, what it queues, and that a broken config keeps the last good one."""

from __future__ import annotations

import pytest
from ctl_fakes import NS, namespace, pool, svc, synced_store
from prometheus_client import CollectorRegistry

from reconciler.controller.config_reconciler import ConfigReconciler
from reconciler.controller.keys import CONFIG, POOL_STATUS, STATE, Key, ServiceKey
from reconciler.controller.resources import POOLS
from reconciler.controller.state import ControllerMetrics, ControllerSettings, ControllerState
from reconciler.runtime.metrics import ExactCounters
from reconciler.runtime.store import Store

pytestmark = pytest.mark.anyio


def _reconciler(store: Store) -> tuple[ConfigReconciler, ControllerState, list[Key], ControllerMetrics]:
    state = ControllerState()
    queued: list[Key] = []
    metrics = ControllerMetrics(CollectorRegistry(), ExactCounters())
    rec = ConfigReconciler(store, state, queued.append, metrics, settings=ControllerSettings(namespace=NS))
    return rec, state, queued, metrics


async def test_a_valid_config_is_put_in_force_and_queues_every_service_the_pools_and_the_state() -> None:
    store = synced_store(pools=[pool("a", "10.0.0.0/30")], services=[svc("web"), svc("api", ns="x")])
    rec, state, queued, metrics = _reconciler(store)
    await rec.reconcile(CONFIG)
    assert state.config is not None and list(state.config.pools) == ["a"]
    assert state.initialized and state.config_errors == ()
    assert set(queued) == {STATE, POOL_STATUS, ServiceKey("default/web"), ServiceKey("x/api")}
    assert metrics.stale._value.get() == 0 and metrics.loaded._value.get() == 1


async def test_an_invalid_config_is_reported_and_the_last_good_one_stays() -> None:
    store = synced_store(pools=[pool("a", "10.0.0.0/30")])
    rec, state, queued, metrics = _reconciler(store)
    await rec.reconcile(CONFIG)
    good = state.config
    store.apply(POOLS, "ADDED", pool("b", "10.0.0.2/31", rv="2"))  # overlaps a
    queued.clear()
    await rec.reconcile(CONFIG)
    assert state.config is good, "the last good config stays in force"
    assert any("overlaps with already defined CIDR" in e for e in state.config_errors)
    assert queued == [STATE], "only the ConfigurationState is told; no Service is touched"
    assert metrics.stale._value.get() == 1


async def test_an_unreadable_pool_is_a_config_error_naming_it() -> None:
    bad = pool("a", "10.0.0.0/30")
    bad["spec"]["autoAssign"] = "sometimes"
    rec, state, _, _ = _reconciler(synced_store(pools=[bad]))
    await rec.reconcile(CONFIG)
    assert state.config is None
    assert len(state.config_errors) == 1 and state.config_errors[0].startswith("IPAddressPool a: ")


async def test_the_same_config_again_queues_nothing_but_the_state() -> None:
    rec, _, queued, _ = _reconciler(synced_store(pools=[pool("a", "10.0.0.0/30")], services=[svc("web")]))
    await rec.reconcile(CONFIG)
    queued.clear()
    await rec.reconcile(CONFIG)
    assert queued == [STATE]


async def test_the_first_config_reclaims_every_status_ip_before_anyone_allocates() -> None:
    # "late" sorts first and has no IP; "held" shows 10.0.0.0 in its status: after the initial pass the
    # allocator must already count 10.0.0.0 as held by "held", so "late" can never get it.
    store = synced_store(
        pools=[pool("a", "10.0.0.0/31")],
        services=[svc("aaa-late"), svc("held", ingress=("10.0.0.0",))],
        namespaces=[namespace("default")],
    )
    rec, state, _, _ = _reconciler(store)
    await rec.reconcile(CONFIG)
    held = state.alloc.allocation("default/held")
    assert held is not None and held.pool == "a"
    assert state.alloc.allocation("default/aaa-late") is None
