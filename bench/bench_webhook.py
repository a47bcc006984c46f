"""Webhook review latency and throughput (targets: p99 <= 5 ms for a pool create with 1,000 existing pools, and with
10,000 pools).

Measured at ``webhooks.review.handle`` with the JSON body as bytes (decode, rules, encode), on one core, in one
process: what a review costs the server once TLS and HTTP are done. For each size (``BENCH_POOLS=1000,10000`` by
default):

* IPAddressPool CREATE (plus 20 advertisements naming 10 pools each): p50/p99 of wall time and of the process's
  CPU time (wall time on a shared machine includes waiting for a core; CPU time does not);
* IPAddressPool CREATE that overlaps (denied): p50/p99;
* Service CREATE asking for an IP held by another Service, against the same pools and 5,000 Services: p50/p99;
* sustained pool reviews per second, back to back for two seconds;
* with ``BENCH_INTERVAL_INDEX=1``, the pool reviews again with the state's pool lookup answered by
  ``crds.intervals.IntervalIndex`` instead of its linear scan (what wiring the index into ``webhooks/state.py``
  would give).

Run: ``python -m bench.bench_webhook``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from typing import Any

from crds.intervals import IntervalIndex
from crds.types import IPAddressPool, L2Advertisement
from webhooks.review import SERVICE_PATH, handle, validate_path
from webhooks.state import ClusterState, Interval

SIZES = tuple(int(n) for n in os.environ.get("BENCH_POOLS", "1000,10000").split(","))
SERVICES = 5000
NS = "metallb-system"
POOL_PATH = validate_path(IPAddressPool)


def _pool(i: int) -> dict[str, Any]:
    a, b = divmod(i, 250)
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": f"pool-{i:05d}", "namespace": NS},
        "spec": {"addresses": [f"10.{a}.{b}.0/24"]},
    }


def _review(obj: dict[str, Any], uid: int) -> bytes:
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    return json.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": f"u{uid}",
                "kind": {"group": group, "version": version, "kind": obj["kind"]},
                "operation": "CREATE",
                "namespace": obj["metadata"]["namespace"],
                "name": obj["metadata"]["name"],
                "object": obj,
            },
        }
    ).encode()


def _state(pools: int) -> ClusterState:
    state = ClusterState()
    for i in range(pools):
        state.add(_pool(i))
    for j in range(20):
        state.add(
            {
                "apiVersion": L2Advertisement.api.api_version,
                "kind": "L2Advertisement",
                "metadata": {"name": f"l2-{j}", "namespace": NS},
                "spec": {"ipAddressPools": [f"pool-{(j * 37 + k) % pools:05d}" for k in range(10)]},
            },
        )
    for s in range(SERVICES):
        a, b = divmod(s % (pools * 200), 200)
        state.add(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"svc-{s}", "namespace": "default"},
                "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.1", "ports": [{"port": 80, "protocol": "TCP"}]},
                "status": {"loadBalancer": {"ingress": [{"ip": f"10.{a // 250}.{a % 250}.{b + 1}"}]}},
            }
        )
    return state


def _percentiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return s[len(s) // 2] * 1000, s[min(len(s) - 1, int(len(s) * 0.99))] * 1000


def _measure(state: ClusterState, path: str, bodies: list[bytes], expect_allowed: bool) -> tuple[float, ...]:
    """Wall p50, p99 and CPU p50, p99 in ms."""
    wall, cpu = [], []
    for body in bodies:
        c = time.process_time()
        t = time.perf_counter()
        reply = handle(path, body, state)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        assert reply.status == 200 and reply.body["response"]["allowed"] is expect_allowed, reply.body
    return (*_percentiles(wall), *_percentiles(cpu))


def _with_interval_index(state: ClusterState) -> None:
    """Answer the state's pool lookup from an IntervalIndex (reviews do not change the state, so build once)."""
    index: IntervalIndex[str] = IntervalIndex()
    for name, intervals in state.pool_intervals.items():
        index.set(name, intervals)

    def overlapping(intervals: Iterable[Interval]) -> list[str]:
        return index.overlapping(intervals)

    state.pools_overlapping = overlapping  # type: ignore[method-assign]


def _size(pools: int, cores: int | None) -> None:
    t = time.perf_counter()
    state = _state(pools)
    build = time.perf_counter() - t
    state.config()  # the cached full parse Service reviews use; built once per config change
    n = 2000 if pools <= 1000 else 1000
    new_pools = [_review(_pool(pools + 10 + i), i) for i in range(n)]
    overlapping = [_review({**_pool(pools + 10 + i), "spec": {"addresses": ["10.0.5.0/25"]}}, i) for i in range(n)]
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "new", "namespace": "default", "annotations": {"metallb.io/loadBalancerIPs": "10.0.0.1"}},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.2", "ports": [{"port": 80, "protocol": "TCP"}]},
    }
    services = [_review(svc, i) for i in range(n)]
    _measure(state, POOL_PATH, new_pools[:200], True)  # warm caches
    p = _measure(state, POOL_PATH, new_pools, True)
    o = _measure(state, POOL_PATH, overlapping, False)
    s = _measure(state, SERVICE_PATH, services, False)
    count = 0
    end = time.perf_counter() + 2.0
    while time.perf_counter() < end:
        handle(POOL_PATH, new_pools[count % n], state)
        count += 1
    print(f"webhook ({pools} pools, {SERVICES} Services, {cores} cores, one used; state built in {build:.2f}s)")
    print("                                       wall p50 / p99        cpu p50 / p99")
    print(
        f"  IPAddressPool create, allowed      {p[0]:6.2f} / {p[1]:6.2f} ms   {p[2]:6.2f} / {p[3]:6.2f} ms  (<= 5 ms)"
    )
    print(f"  IPAddressPool create, overlapping  {o[0]:6.2f} / {o[1]:6.2f} ms   {o[2]:6.2f} / {o[3]:6.2f} ms")
    print(f"  Service create, IP held by another {s[0]:6.2f} / {s[1]:6.2f} ms   {s[2]:6.2f} / {s[3]:6.2f} ms")
    print(f"  sustained pool reviews: {count / 2.0:.0f}/s, {2000.0 / max(count, 1):.2f} ms per review")
    if os.environ.get("BENCH_INTERVAL_INDEX") == "1":
        _with_interval_index(state)
        _measure(state, POOL_PATH, new_pools[:200], True)
        p = _measure(state, POOL_PATH, new_pools, True)
        o = _measure(state, POOL_PATH, overlapping, False)
        print("  with crds.intervals.IntervalIndex answering the state's pool lookup:")
        print(f"  IPAddressPool create, allowed      {p[0]:6.2f} / {p[1]:6.2f} ms   {p[2]:6.2f} / {p[3]:6.2f} ms")
        print(f"  IPAddressPool create, overlapping  {o[0]:6.2f} / {o[1]:6.2f} ms   {o[2]:6.2f} / {o[3]:6.2f} ms")


def main() -> None:
    cores = os.cpu_count()
    for pools in SIZES:
        _size(pools, cores)


if __name__ == "__main__":
    main()
