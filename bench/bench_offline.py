"""The offline tools end to end, as a user runs them: ``pymetallb plan``, ``validate`` and ``migrate`` as processes.

Each figure is the wall time of one ``pymetallb`` process (interpreter start, imports, YAML, work, output)
pinned to one core with ``taskset -c 0`` when taskset exists; the median of ``REPEAT`` runs. Inputs are
written the way clusters export them:

* ``plan -f``: Services as ``kubectl get svc -A -o yaml`` prints them (one ``List``, full metadata, ports
  with node ports, empty status: allocation from scratch), pools of /24s each with an L2Advertisement;
* ``validate``: IPAddressPools (half a /24, half a range plus an IPv6 /120) and advertisements (half
  naming 10 pools, half selecting pools by label), as one multi-document file;
* ``migrate``: a legacy ConfigMap with that many ``address-pools``.

Targets (issue 12): plan of 10,000 Services + 100 pools <= 2 s; validate of 5,000 pools + 500
advertisements <= 1 s; migrate of 1,000 pools <= 1 s. In process (the pure core alone, no YAML):
``allocate_all`` of 100,000 Services over 1,000 pools <= 3 s, ``parse_config`` of 50,000 pools <= 3 s.
Every size also prints the time per item, to show whether the growth is linear.

Run: ``python -m bench.bench_offline`` (``BENCH_QUICK=1`` skips the largest sizes).
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPEAT = 3

# (Services, pools, target seconds or None)
PLAN_SIZES = [(1_000, 100, None), (10_000, 100, 2.0), (30_000, 300, None)]
# (pools, advertisements, target seconds or None)
# The 50,000-pool target is parse_config's (PARSE_SIZES); the whole validate process is shown beside it.
VALIDATE_SIZES = [(500, 50, None), (5_000, 500, 1.0), (50_000, 5_000, None)]
# (legacy pools, target seconds or None)
MIGRATE_SIZES = [(100, None), (1_000, 1.0), (10_000, None)]
# In process, no YAML: (Services, pools, target) for allocate_all and (pools, target) for parse_config.
ALLOCATE_SIZES = [(1_000, 10, None), (10_000, 100, None), (100_000, 1_000, 3.0)]
PARSE_SIZES = [(500, None), (5_000, None), (50_000, 3.0)]


def _octets(i: int) -> tuple[int, int]:
    return divmod(i, 250)


def pools_yaml(pools: int) -> str:
    """``pools`` IPAddressPools of one /24 each, and one L2Advertisement for all of them."""
    out = []
    for i in range(pools):
        a, b = _octets(i)
        out.append(
            "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
            f"metadata:\n  name: pool-{i:05d}\n  namespace: metallb-system\n"
            f"spec:\n  addresses:\n  - 10.{a}.{b}.0/24\n"
        )
    out.append(
        "---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n"
        "metadata:\n  name: all\n  namespace: metallb-system\nspec: {}\n"
    )
    return "".join(out)


_SERVICE = """\
- apiVersion: v1
  kind: Service
  metadata:
    annotations:
      meta.helm.sh/release-name: app{i}
      meta.helm.sh/release-namespace: ns{ns}
    creationTimestamp: "2026-11-20T10:{mm:02d}:{ss:02d}Z"
    labels:
      app.kubernetes.io/instance: app{i}
      app.kubernetes.io/managed-by: Helm
      app.kubernetes.io/name: web
    name: svc-{i:06d}
    namespace: ns{ns}
    resourceVersion: "{rv}"
    uid: 6f1c2a3b-{u1:04x}-4c5d-8e9f-{u2:012x}
  spec:
    allocateLoadBalancerNodePorts: true
    clusterIP: 10.96.{c1}.{c2}
    clusterIPs:
    - 10.96.{c1}.{c2}
    externalTrafficPolicy: Cluster
    internalTrafficPolicy: Cluster
    ipFamilies:
    - IPv4
    ipFamilyPolicy: SingleStack
    ports:
    - name: http
      nodePort: {np1}
      port: 80
      protocol: TCP
      targetPort: http
    - name: https
      nodePort: {np2}
      port: 443
      protocol: TCP
      targetPort: 8443
    selector:
      app.kubernetes.io/instance: app{i}
      app.kubernetes.io/name: web
    sessionAffinity: None
    type: LoadBalancer
  status:
    loadBalancer: {{}}
"""


def services_yaml(services: int) -> str:
    """``services`` single-stack LoadBalancer Services as ``kubectl get svc -A -o yaml`` prints them."""
    parts = ["apiVersion: v1\nitems:\n"]
    for i in range(services):
        c1, c2 = divmod(i, 250)
        parts.append(
            _SERVICE.format(
                i=i,
                ns=i % 50,
                mm=(i // 60) % 60,
                ss=i % 60,
                rv=100000 + i,
                u1=i % 65536,
                u2=i,
                c1=c1 % 250,
                c2=c2,
                np1=30000 + (2 * i) % 2700,
                np2=30001 + (2 * i) % 2700,
            )
        )
    parts.append('kind: List\nmetadata:\n  resourceVersion: ""\n')
    return "".join(parts)


def validate_yaml(pools: int, advertisements: int) -> str:
    """The ``bench_parse`` config as a manifest file."""
    out = []
    for i in range(pools):
        a, b = divmod(i, 250)
        addresses = f"  - 10.{a}.{b}.0/24\n" if i % 2 else f"  - 10.{a}.{b}.10-10.{a}.{b}.200\n  - fd00:{i:x}::/120\n"
        out.append(
            "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
            f"metadata:\n  name: pool-{i:05d}\n  namespace: metallb-system\n  labels:\n    shard: '{i % 50}'\n"
            f"spec:\n  addresses:\n{addresses}  autoAssign: {'true' if i % 3 else 'false'}\n"
        )
    for j in range(advertisements):
        names = "".join(f"  - pool-{(j * 10 + k) % pools:05d}\n" for k in range(10))
        if j % 2:
            out.append(
                "---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n"
                f"metadata:\n  name: adv-{j:05d}\n  namespace: metallb-system\n"
                f"spec:\n  ipAddressPools:\n{names}  ipAddressPoolSelectors:\n"
                f"  - matchLabels:\n      shard: '{j % 50}'\n"
            )
        else:
            out.append(
                "---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\n"
                f"metadata:\n  name: adv-{j:05d}\n  namespace: metallb-system\n"
                f"spec:\n  ipAddressPools:\n{names}  localPref: 100\n  communities:\n  - 65535:65282\n"
            )
    return "".join(out)


def legacy_yaml(pools: int) -> str:
    """A legacy MetalLB ConfigMap with ``pools`` address pools (every tenth BGP with two advertisements)."""
    lines = [
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n  namespace: metallb-system\ndata:\n  config: |\n",
        "    peers:\n    - peer-address: 10.255.0.1\n      peer-asn: 64501\n      my-asn: 64500\n",
        "    bgp-communities:\n      no-advertise: 65535:65282\n    address-pools:\n",
    ]
    for i in range(pools):
        a, b = divmod(i, 250)
        if i % 10 == 0:
            lines.append(
                f"    - name: Pool_{i}\n      protocol: bgp\n      addresses:\n      - 10.{a}.{b}.0/24\n"
                "      bgp-advertisements:\n      - aggregation-length: 32\n        localpref: 100\n"
                "        communities: [no-advertise]\n      - aggregation-length: 24\n"
            )
        else:
            lines.append(
                f"    - name: pool-{i}\n      protocol: layer2\n"
                f"      addresses:\n      - 10.{a}.{b}.10-10.{a}.{b}.200\n"
            )
    return "".join(lines)


def _command(args: Sequence[str]) -> list[str]:
    cmd = [sys.executable, "-m", "crds.cli", *args]
    return ["taskset", "-c", "0", *cmd] if shutil.which("taskset") else cmd


def run_timed(args: Sequence[str], repeat: int = REPEAT) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) times of ``repeat`` runs of ``pymetallb args``; a failure stops the bench.

    Both are given because the machine is shared: on a busy core the wall time includes waiting.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(_command(args), capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"pymetallb {' '.join(args)} exited {proc.returncode}: {proc.stdout[-500:]}{proc.stderr}")
    return walls, cpus


def _line(label: str, items: int, unit: str, times: tuple[list[float], list[float]], target: float | None) -> str:
    walls, cpus = times
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    spread = f"{min(walls):.2f}-{max(walls):.2f}"
    goal = f"  (target <= {target:g} s{'' if wall <= target else ', MISSED'})" if target else ""
    return f"  {label:<38} wall {wall:6.2f} s [{spread}]  cpu {cpu:6.2f} s  {cpu / items * 1e6:7.1f} us/{unit}{goal}"


def in_process() -> None:
    """The largest sizes of the pure core, without YAML: ``allocate_all`` and ``parse_config`` alone."""
    from crds.addresses import parse_entry
    from crds.config import ClusterResources, ParseOptions, parse_config
    from crds.types import IPAddressPool
    from reconciler.core.balancer import allocate_all
    from reconciler.core.services import service_view

    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    for services, n_pools, target in ALLOCATE_SIZES:
        if quick and services > 10_000:
            continue
        pools = [
            IPAddressPool.model_validate(
                {"metadata": {"name": f"pool-{i:05d}"}, "spec": {"addresses": [f"10.{i // 250}.{i % 250}.0/24"]}}
            )
            for i in range(n_pools)
        ]
        config = parse_config(ClusterResources(pools=pools), ParseOptions(bgp_mode=None)).config
        assert config is not None
        views = [
            service_view(
                {
                    "metadata": {"name": f"svc-{i:06d}", "namespace": f"ns{i % 50}"},
                    "spec": {
                        "type": "LoadBalancer",
                        "clusterIP": "10.96.0.10",
                        "ports": [{"port": 80, "protocol": "TCP"}],
                    },
                }
            )
            for i in range(services)
        ]
        start = time.process_time()
        _, outcomes = allocate_all(config, views)
        cpu = time.process_time() - start
        got = sum(1 for o in outcomes.values() if o.ips)
        goal = f"  (target <= {target:g} s{'' if cpu <= target else ', MISSED'})" if target else ""
        label = f"allocate_all: {services:,} Services, {n_pools:,} pools"
        print(f"  {label:<38} cpu {cpu:6.2f} s  {cpu / services * 1e6:7.1f} us/Service, {got:,} allocated{goal}")
    for n_pools, target in PARSE_SIZES:
        if quick and n_pools > 5_000:
            continue
        pools = [
            IPAddressPool.model_validate(
                {"metadata": {"name": f"pool-{i:05d}"}, "spec": {"addresses": [f"10.{i // 250}.{i % 250}.0/24"]}}
            )
            for i in range(n_pools)
        ]
        parse_entry.cache_clear()
        start = time.process_time()
        result = parse_config(ClusterResources(pools=pools), ParseOptions(bgp_mode=None))
        cpu = time.process_time() - start
        assert not result.errors
        goal = f"  (target <= {target:g} s{'' if cpu <= target else ', MISSED'})" if target else ""
        label = f"parse_config: {n_pools:,} pools (cold)"
        print(f"  {label:<38} cpu {cpu:6.2f} s  {cpu / n_pools * 1e6:7.1f} us/pool{goal}")


def main() -> None:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    pinned = "pinned to core 0" if shutil.which("taskset") else "not pinned (no taskset)"
    print(f"bench_offline: pymetallb as a process, {os.cpu_count()} cores, {pinned}, median of {REPEAT} [min-max]")
    with tempfile.TemporaryDirectory(prefix="bench-offline-") as tmp:
        d = Path(tmp)
        start = time.perf_counter()
        print(_line("startup (pymetallb crds)", 1, "run", run_timed(["crds"]), None))
        for services, pools, target in PLAN_SIZES:
            if quick and services > 10_000:
                continue
            svc, pls = d / f"services-{services}.yaml", d / f"pools-{pools}.yaml"
            svc.write_text(services_yaml(services))
            pls.write_text(pools_yaml(pools))
            times = run_timed(["plan", "-f", str(pls), "-f", str(svc)])
            print(_line(f"plan -f: {services:,} Services, {pools:,} pools", services, "Service", times, target))
        for n_pools, advs, target in VALIDATE_SIZES:
            if quick and n_pools > 5_000:
                continue
            path = d / f"config-{n_pools}.yaml"
            path.write_text(validate_yaml(n_pools, advs))
            times = run_timed(["validate", "--bgp-mode", "frr", "-f", str(path)])
            print(_line(f"validate: {n_pools:,} pools, {advs:,} advs", n_pools + advs, "object", times, target))
        for n_pools, target in MIGRATE_SIZES:
            path = d / f"legacy-{n_pools}.yaml"
            path.write_text(legacy_yaml(n_pools))
            times = run_timed(["migrate", str(path), "-o", str(d / "out.yaml")])
            print(_line(f"migrate: ConfigMap with {n_pools:,} pools", n_pools, "pool", times, target))
    print("bench_offline: the pure core in this process (no YAML, no startup)")
    in_process()
    print(f"  (bench_offline total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
