"""Webhook review latency and throughput (issue target: p99 <= 5 ms for a pool create with 1,000 existing pools).

Measured at ``webhooks.review.handle`` with the JSON body as bytes (decode, rules, encode), on one core, in one
process: what a review costs the server once TLS and HTTP are done. Figures:

* IPAddressPool CREATE against 1,000 pools (plus 20 advertisements): p50/p99;
* IPAddressPool CREATE that overlaps (denied): p50/p99;
* Service CREATE asking for an IP held by another Service, against the same pools and 5,000 Services: p50/p99;
* sustained pool reviews per second, back to back for two seconds.

Run: ``python -m bench.bench_webhook``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from crds.types import IPAddressPool, L2Advertisement
from webhooks.review import SERVICE_PATH, handle, validate_path
from webhooks.state import ClusterState

POOLS = 1000
SERVICES = 5000
NS = "metallb-system"
POOL_PATH = validate_path(IPAddressPool)


def _pool(i: int) -> dict[str, Any]:
    a, b = divmod(i, 250)
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": f"pool-{i:04d}", "namespace": NS},
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


def _state() -> ClusterState:
    state = ClusterState()
    for i in range(POOLS):
        state.add(_pool(i))
    for j in range(20):
        state.add(
            {
                "apiVersion": L2Advertisement.api.api_version,
                "kind": "L2Advertisement",
                "metadata": {"name": f"l2-{j}", "namespace": NS},
                "spec": {"ipAddressPools": [f"pool-{(j * 37 + k) % POOLS:04d}" for k in range(10)]},
            },
        )
    for s in range(SERVICES):
        a, b = divmod(s % (POOLS * 200), 200)
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


def _measure(state: ClusterState, path: str, bodies: list[bytes], expect_allowed: bool) -> tuple[float, float]:
    samples = []
    for body in bodies:
        t = time.perf_counter()
        reply = handle(path, body, state)
        samples.append(time.perf_counter() - t)
        assert reply.status == 200 and reply.body["response"]["allowed"] is expect_allowed, reply.body
    return _percentiles(samples)


def main() -> None:
    t = time.perf_counter()
    state = _state()
    build = time.perf_counter() - t
    state.config()  # the cached full parse Service reviews use; built once per config change
    n = 2000
    new_pools = [_review(_pool(POOLS + 10 + i), i) for i in range(n)]
    overlapping = [_review({**_pool(POOLS + 10 + i), "spec": {"addresses": ["10.0.5.0/25"]}}, i) for i in range(n)]
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "new", "namespace": "default", "annotations": {"metallb.io/loadBalancerIPs": "10.0.0.1"}},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.2", "ports": [{"port": 80, "protocol": "TCP"}]},
    }
    services = [_review(svc, i) for i in range(n)]
    _measure(state, POOL_PATH, new_pools[:200], True)  # warm caches
    p50, p99 = _measure(state, POOL_PATH, new_pools, True)
    o50, o99 = _measure(state, POOL_PATH, overlapping, False)
    s50, s99 = _measure(state, SERVICE_PATH, services, False)
    count = 0
    end = time.perf_counter() + 2.0
    while time.perf_counter() < end:
        handle(POOL_PATH, new_pools[count % n], state)
        count += 1
    print(f"webhook ({POOLS} pools, {SERVICES} Services; state built in {build:.2f}s)")
    print(f"  IPAddressPool create, allowed     p50 {p50:.2f} ms  p99 {p99:.2f} ms  (target p99 <= 5 ms)")
    print(f"  IPAddressPool create, overlapping p50 {o50:.2f} ms  p99 {o99:.2f} ms")
    print(f"  Service create, IP held by another p50 {s50:.2f} ms  p99 {s99:.2f} ms")
    print(f"  sustained pool reviews: {count / 2.0:.0f}/s on one core")


if __name__ == "__main__":
    main()
