"""Parse and validate 5,000 pools plus 500 advertisements (issue target: <= 0.5 s on one core).

Three figures: building the typed objects from dicts (what a reflector or the offline loader does),
``parse_config`` over them (what every program does on each config change), and the whole offline
``validate`` path (strict schema, defaults, CEL, then the parser).
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

POOLS = 5000
ADVERTISEMENTS = 500


def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for i in range(POOLS):
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
        spec: dict[str, Any] = {"ipAddressPools": [f"pool-{(j * 10 + k) % POOLS:05d}" for k in range(10)]}
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


def timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    raw = manifests()

    def build() -> ClusterResources:
        pools = [IPAddressPool.model_validate(d) for d in raw if d["kind"] == "IPAddressPool"]
        bgp = [BGPAdvertisement.model_validate(d) for d in raw if d["kind"] == "BGPAdvertisement"]
        l2 = [L2Advertisement.model_validate(d) for d in raw if d["kind"] == "L2Advertisement"]
        return ClusterResources(pools=pools, bgp_advertisements=bgp, l2_advertisements=l2)

    t_build, resources = timed(build)

    def cold_parse() -> Any:
        parse_entry.cache_clear()
        return parse_config(resources, ParseOptions(bgp_mode="frr"))

    t_parse, result = timed(cold_parse)
    t_warm, _ = timed(lambda: parse_config(resources, ParseOptions(bgp_mode="frr")))
    if result.errors:
        raise SystemExit(f"benchmark config does not parse: {result.errors[0]}")
    docs = [Document("bench", i, d) for i, d in enumerate(raw)]
    t_validate, report = timed(lambda: validate_documents(docs, bgp_mode="frr"), repeat=3)
    if not report.ok:
        raise SystemExit(f"benchmark config does not validate: {report.problems[0]}")
    cores = os.cpu_count()
    print(f"bench_parse: {POOLS} pools + {ADVERTISEMENTS} advertisements, {cores} cores (one used), median of runs")
    print(f"  typed objects from dicts : {t_build * 1000:8.1f} ms")
    print(f"  parse_config, cold       : {t_parse * 1000:8.1f} ms   (target <= 500 ms)")
    print(f"  parse_config, re-parse   : {t_warm * 1000:8.1f} ms   (address entries cached)")
    print(f"  offline validate (all)   : {t_validate * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
