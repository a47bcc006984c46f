"""The small modules: fake clock, guarded tasks, JSON logs, exact-name counters, the health/metrics server."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import logging
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Gauge

from reconciler.runtime.clock import FakeClock, RealClock, wait_for
from reconciler.runtime.httpserver import HttpServer
from reconciler.runtime.logging import setup_logging
from reconciler.runtime.metrics import ExactCounters
from reconciler.runtime.tasks import create_guarded_task, run_until_first_exits

pytestmark = pytest.mark.anyio


async def test_fake_clock_wakes_sleepers_in_deadline_order_only_when_advanced() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, s: float) -> None:
        await clock.sleep(s)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("late", 5), ("early", 1))]
    await clock.wait_sleepers(2)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(1)
    await asyncio.sleep(0)
    assert woke == ["early"]
    clock.advance(10)
    await asyncio.gather(*tasks)
    assert woke == ["early", "late"] and clock.monotonic() == 11


async def test_fake_wall_time_moves_with_the_fake_clock_only() -> None:
    start = datetime.datetime(2026, 11, 27, 10, 0, tzinfo=datetime.UTC)
    clock = FakeClock(100.0, wall_start=start)
    assert clock.now() == start
    clock.advance(30)
    assert clock.now() == start + datetime.timedelta(seconds=30) and clock.monotonic() == 130.0
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(wall_start=datetime.datetime(2026, 1, 1))


def test_real_wall_time_is_utc_and_aware() -> None:
    before = datetime.datetime.now(datetime.UTC)
    now = RealClock().now()
    assert now.tzinfo is datetime.UTC and before <= now <= datetime.datetime.now(datetime.UTC)


async def test_wait_for_times_out_on_the_injected_clock() -> None:
    clock = FakeClock()
    never = asyncio.Event()
    task = asyncio.create_task(wait_for(clock, never.wait(), 3.0))
    await clock.wait_sleepers(1)
    clock.advance(3.0)
    with pytest.raises(TimeoutError):
        await task


async def test_run_until_first_exits_stops_the_others_and_reraises_the_failure() -> None:
    stopped = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("the real failure")

    with pytest.raises(ValueError, match="the real failure"):
        await run_until_first_exits({"forever": forever(), "fails": fails()})
    assert stopped.is_set()


async def test_run_until_first_exits_returns_when_a_root_returns(caplog: pytest.LogCaptureFixture) -> None:
    async def quick() -> None:
        return None

    caplog.set_level(logging.INFO)
    await run_until_first_exits({"quick": quick(), "slow": asyncio.Event().wait()})
    assert "root task quick exited" in caplog.text


async def test_a_guarded_task_logs_its_failure(caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        raise RuntimeError("boom")

    task = create_guarded_task(boom(), name="worker-1")
    with pytest.raises(RuntimeError):
        await task
    await asyncio.sleep(0)
    assert task.get_name() == "worker-1"
    assert "task worker-1 failed: boom" in caplog.text


def test_json_logs_have_stable_keys() -> None:
    out = io.StringIO()
    handler = setup_logging("debug", stream=out)
    try:
        logging.getLogger("x").info(
            "assigned %s", "192.0.2.1", extra={"op": "allocate", "event": "ipAllocated", "service": "ns/web"}
        )
        try:
            raise KeyError("k")
        except KeyError:
            logging.getLogger("x").exception("failed", extra={"op": "allocate"})
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert list(first)[:6] == ["ts", "level", "logger", "op", "event", "msg"]
    assert first["msg"] == "assigned 192.0.2.1" and first["service"] == "ns/web" and first["level"] == "info"
    assert first["ts"].endswith("Z")
    assert second["level"] == "error" and second["error"] == "'k'" and "KeyError" in second["traceback"]
    with pytest.raises(ValueError, match="unknown log level"):
        setup_logging("loud")


def test_exact_counters_keep_metallbs_names() -> None:
    counters = ExactCounters()
    c = counters.counter("metallb_layer2_requests_received", "Number of l2 requests received for owned IPs", ["ip"])
    c.labels("192.0.2.1").inc()
    c.labels("192.0.2.1").inc(2)
    assert counters.expose() == (
        "# HELP metallb_layer2_requests_received Number of l2 requests received for owned IPs\n"
        "# TYPE metallb_layer2_requests_received counter\n"
        'metallb_layer2_requests_received{ip="192.0.2.1"} 3\n'
    )


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def test_health_readiness_and_metrics_endpoints() -> None:
    registry = CollectorRegistry()
    Gauge("metallb_allocator_addresses_in_use_total", "In use", ["pool"], registry=registry).labels("p").set(2)
    exact = ExactCounters()
    exact.counter("metallb_layer2_gratuitous_sent", "Gratuitous sent", ["ip"]).labels("192.0.2.1").inc()
    synced = {"services": False}
    async with HttpServer(host="127.0.0.1", port=0, registry=registry, exact=exact) as srv:
        srv.add_readiness_check("services synced", lambda: synced["services"])
        base = f"http://127.0.0.1:{srv.port}"
        assert await asyncio.to_thread(_get, base + "/healthz") == (200, "ok\n")
        assert await asyncio.to_thread(_get, base + "/readyz") == (503, "not ready: services synced\n")
        synced["services"] = True
        assert (await asyncio.to_thread(_get, base + "/readyz"))[0] == 200
        status, text = await asyncio.to_thread(_get, base + "/metrics")
    assert status == 200
    assert 'metallb_allocator_addresses_in_use_total{pool="p"} 2.0' in text
    assert 'metallb_layer2_gratuitous_sent{ip="192.0.2.1"} 1' in text
    assert "metallb_layer2_gratuitous_sent_total" not in text
