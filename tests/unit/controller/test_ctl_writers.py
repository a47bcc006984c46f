"""PoolStatusWriter and ConfigurationStateWriter: what ends up in the objects, and that equal state writes nothing."""

from __future__ import annotations

import datetime

import pytest
from ctl_fakes import NS, FakeApi, pool, svc, synced_store
from prometheus_client import CollectorRegistry

from reconciler.controller.config_reconciler import ConfigReconciler
from reconciler.controller.config_state import ConfigurationStateWriter
from reconciler.controller.keys import CONFIG, POOL_STATUS, STATE
from reconciler.controller.pool_status import PoolStatusWriter
from reconciler.controller.resources import POOLS, STATES
from reconciler.controller.state import ControllerMetrics, ControllerSettings, ControllerState
from reconciler.runtime.clock import FakeClock
from reconciler.runtime.metrics import ExactCounters

pytestmark = pytest.mark.anyio
SETTINGS = ControllerSettings(namespace=NS)


async def test_pool_status_counts_held_addresses_once_and_sets_the_gauges() -> None:
    p = pool("a", "10.0.0.0/30")
    store = synced_store(pools=[p], services=[svc("x", ingress=("10.0.0.1",))])
    state = ControllerState()
    metrics = ControllerMetrics(CollectorRegistry(), ExactCounters())
    await ConfigReconciler(store, state, lambda k: None, metrics, settings=SETTINGS).reconcile(CONFIG)
    api = FakeApi()
    api.put(POOLS, p)
    writer = PoolStatusWriter(store, state, api, metrics, settings=SETTINGS)
    await writer.reconcile(POOL_STATUS)
    status = api.objects[("ipaddresspools", NS, "a")]["status"]
    assert status == {"assignedIPv4": 1, "assignedIPv6": 0, "availableIPv4": 3, "availableIPv6": 0}
    assert metrics.in_use.labels("a")._value.get() == 1 and metrics.total.labels("a")._value.get() == 4
    store.apply(POOLS, "MODIFIED", api.objects[("ipaddresspools", NS, "a")])
    writes = len(api.writes)
    await writer.reconcile(POOL_STATUS)
    assert len(api.writes) == writes, "unchanged counters are not written again"


async def test_pool_status_before_any_config_writes_nothing() -> None:
    api = FakeApi()
    writer = PoolStatusWriter(
        synced_store(pools=[pool("a", "10.0.0.0/30")]),
        ControllerState(),
        api,
        ControllerMetrics(CollectorRegistry(), ExactCounters()),
        settings=SETTINGS,
    )
    await writer.reconcile(POOL_STATUS)
    assert api.writes == []


@pytest.mark.parametrize(
    ("errors", "result", "summary"),
    [
        pytest.param((), "Valid", "", id="valid"),
        pytest.param(("bad pool",), "Invalid", "configuration error: bad pool", id="invalid-names-the-error"),
    ],
)
async def test_configuration_state_is_created_when_missing_and_says_the_result(
    errors: tuple[str, ...], result: str, summary: str
) -> None:
    api = FakeApi()
    state = ControllerState(config_errors=errors)
    clock = FakeClock(wall_start=datetime.datetime(2026, 11, 27, 10, 0, tzinfo=datetime.UTC))
    writer = ConfigurationStateWriter(synced_store(), state, api, settings=SETTINGS, clock=clock)
    await writer.reconcile(STATE)
    obj = api.objects[("configurationstates", NS, "controller")]
    assert obj["metadata"]["labels"] == {"metallb.io/component-type": "controller"}
    assert (obj["status"]["result"], obj["status"]["errorSummary"]) == (result, summary)
    assert [c["lastTransitionTime"] for c in obj["status"]["conditions"]] == ["2026-11-27T10:00:00Z"]


async def test_configuration_state_that_already_says_it_is_not_written_again() -> None:
    api = FakeApi()
    store = synced_store()
    writer = ConfigurationStateWriter(store, ControllerState(), api, settings=SETTINGS, clock=FakeClock())
    await writer.reconcile(STATE)
    store.apply(STATES, "ADDED", api.objects[("configurationstates", NS, "controller")])
    writes = len(api.writes)
    await writer.reconcile(STATE)
    assert len(api.writes) == writes


async def test_the_memberlist_secret_is_created_once_in_metallbs_format_and_never_replaced() -> None:
    import base64

    from reconciler.controller.keys import MEMBERLIST
    from reconciler.controller.memberlist_secret import MemberlistSecretWriter, new_secret_key

    api = FakeApi()
    writer = MemberlistSecretWriter(api, namespace=NS, name="memberlist")
    await writer.reconcile(MEMBERLIST)
    secret = api.objects[("secrets", NS, "memberlist")]
    key = base64.b64decode(secret["data"]["secretkey"]).decode()
    assert len(key) == 22 and "=" not in key, "16 bytes in base64 without padding"
    assert len(base64.b64decode(key + "==")) == 16
    await writer.reconcile(MEMBERLIST)
    assert [w[0] for w in api.writes] == ["create"], "an existing Secret is left alone"
    assert new_secret_key() != new_secret_key()
