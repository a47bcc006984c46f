"""Parse and validate 5,000 pools plus 500 advertisements (target: <= 0.5 s on one core), and 50,000 pools (parse
<= 3 s).

Per size (``BENCH_PARSE_POOLS=5000,50000`` by default): building the typed objects from dicts (what a reflector or
the offline loader does), ``parse_config`` over them (what every program does on each config change), each with
the time per pool so growth can be read as linear or not, and (at 5,000 pools) the whole offline ``validate`` path
(strict schema, defaults, CEL, then the parser).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from crds.addresses import parse_entry
from crds.config import ClusterResources, ParseOptions, parse_config
from crds.manifests import Document
from crds.types import BGPAdvertisement, IPAddressPool, L2Advertisement
from crds.validate import validate_documents

SIZES = tuple(int(n) for n in os.environ.get("BENCH_PARSE_POOLS", "5000,50000").split(","))
ADVERTISEMENTS = 500


def manifests(pools: int) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for i in range(pools):
        a, b = divmod(i, 250)
        addresses = [f"10.{a}.{b}.0/24"] if i % 2 else [f"10.{a}.{b}.10-10.{a}.{b}.200", f"fd00:{i:x}::/120"]
        docs.append(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": f"pool-{i:05d}", "namespace": "metallb-system", "labels": {"shard": str(i % 50)}},
                "spec": {"addresses": addresses, "autoAssign": i % 3 != 0},
            }
        )
    for j in range(ADVERTISEMENTS):
        kind = "L2Advertisement" if j % 2 else "BGPAdvertisement"
        spec: dict[str, Any] = {"ipAddressPools": [f"pool-{(j * 10 + k) % pools:05d}" for k in range(10)]}
        if kind == "BGPAdvertisement":
            spec["localPref"] = 100
            spec["communities"] = ["65535:65282"]
        else:
            spec["ipAddressPoolSelectors"] = [{"matchLabels": {"shard": str(j % 50)}}]
        docs.append(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": kind,
                "metadata": {"name": f"adv-{j:04d}", "namespace": "metallb-system"},
                "spec": spec,
            }
        )
    return docs


def timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, float, Any]:
    """Median wall time and median CPU time of the process (a shared machine's waits excluded) over ``repeat``."""
    wall, cpu = [], []
    result = None
    for _ in range(repeat):
        c = time.process_time()
        start = time.perf_counter()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu), result


def _line(label: str, wall: float, cpu: float, pools: int, note: str = "") -> None:
    us = 1e6 / pools
    print(f"  {label:<25}: {wall * 1000:8.1f} ms wall {cpu * 1000:8.1f} ms cpu  {cpu * us:6.1f} us/pool cpu  {note}")


def _size(pools: int) -> None:
    raw = manifests(pools)
    repeat = 5 if pools <= 5000 else 3

    def build() -> ClusterResources:
        pool_objects = [IPAddressPool.model_validate(d) for d in raw if d["kind"] == "IPAddressPool"]
        bgp = [BGPAdvertisement.model_validate(d) for d in raw if d["kind"] == "BGPAdvertisement"]
        l2 = [L2Advertisement.model_validate(d) for d in raw if d["kind"] == "L2Advertisement"]
        return ClusterResources(pools=pool_objects, bgp_advertisements=bgp, l2_advertisements=l2)

    b_wall, b_cpu, resources = timed(build, repeat)

    def cold_parse() -> Any:
        parse_entry.cache_clear()
        return parse_config(resources, ParseOptions(bgp_mode="frr"))

    p_wall, p_cpu, result = timed(cold_parse, repeat)
    w_wall, w_cpu, _ = timed(lambda: parse_config(resources, ParseOptions(bgp_mode="frr")), repeat)
    if result.errors:
        raise SystemExit(f"benchmark config does not parse: {result.errors[0]}")
    cores = os.cpu_count()
    print(f"bench_parse: {pools} pools + {ADVERTISEMENTS} advertisements, {cores} cores (one used), median of {repeat}")
    _line("typed objects from dicts", b_wall, b_cpu, pools)
    target = "(target <= 500 ms)" if pools <= 5000 else "(target <= 3 s)"
    _line("parse_config, cold", p_wall, p_cpu, pools, target)
    _line("parse_config, re-parse", w_wall, w_cpu, pools, "(address entries cached)")
    if pools <= 5000:
        docs = [Document("bench", i, d) for i, d in enumerate(raw)]
        v_wall, v_cpu, report = timed(lambda: validate_documents(docs, bgp_mode="frr"), repeat=3)
        if not report.ok:
            raise SystemExit(f"benchmark config does not validate: {report.problems[0]}")
        _line("offline validate (all)", v_wall, v_cpu, pools)


def main() -> None:
    for pools in SIZES:
        _size(pools)


if __name__ == "__main__":
    main()
