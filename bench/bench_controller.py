"""The controller against the real test apiserver (needs `make testenv`).

1. Latency: 200 Services created one after another; time from the create returning to the IP showing in
   `status.loadBalancer.ingress` (seen through a watch), p50 and p99.
2. Memory: 10,000 Services in the cluster, all allocated; the controller process's RSS (target <= 100 MB).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "testenv"))

from testenv_server import DEFAULT_BIN_DIR, TestAPIServer, missing_binaries  # noqa: E402

from reconciler.runtime.client import ApiClient  # noqa: E402
from reconciler.runtime.resources import SERVICES  # noqa: E402

NS = "bench"
LATENCY_SERVICES = 200
MEMORY_SERVICES = int(os.environ.get("BENCH_SERVICES", "10000"))  # a smaller count for quick iterations


def _service(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "type": "LoadBalancer",
            # The node-port range holds only 2,768 ports; a bare-metal LB does not need them.
            "allocateLoadBalancerNodePorts": False,
            "ports": [{"port": 80, "protocol": "TCP"}],
            "selector": {"app": name},
        },
    }


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _measure(server: TestAPIServer, controller: subprocess.Popen[bytes]) -> None:
    print(f"  controller RSS idle (synced, no Services) : {_rss_mib(controller.pid):6.1f} MiB")
    client = await ApiClient.connect(str(server.kubeconfig))
    try:
        seen: dict[str, float] = {}
        _, rv = await client.list(SERVICES, NS)

        async def watch() -> None:
            nonlocal rv
            while True:
                async for ev in client.watch(SERVICES, NS, resource_version=rv, timeout_seconds=300):
                    obj = ev.object
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if (obj.get("status", {}).get("loadBalancer", {}).get("ingress")) and obj["metadata"][
                        "name"
                    ] not in seen:
                        seen[obj["metadata"]["name"]] = time.perf_counter()

        watcher = asyncio.create_task(watch(), name="bench watch")
        latencies = []
        for i in range(LATENCY_SERVICES):
            name = f"lat-{i:03d}"
            await client.create(SERVICES, _service(name), NS)
            created = time.perf_counter()
            while name not in seen:
                await asyncio.sleep(0.001)
            latencies.append(seen[name] - created)
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(
            f"  Service created -> IP in status : p50 {p50:6.1f} ms, p99 {p99:6.1f} ms  ({LATENCY_SERVICES} Services)"
        )

        start = time.perf_counter()
        sem = asyncio.Semaphore(32)

        async def create(i: int) -> None:
            async with sem:
                await client.create(SERVICES, _service(f"mem-{i:05d}"), NS)

        await asyncio.gather(*(create(i) for i in range(MEMORY_SERVICES - LATENCY_SERVICES)))
        while len(seen) < MEMORY_SERVICES:
            await asyncio.sleep(0.2)
        took = time.perf_counter() - start
        print(f"  {MEMORY_SERVICES} Services created and allocated : {took:6.1f} s (apiserver-bound)")
        await asyncio.sleep(2)
        rss = _rss_mib(controller.pid)
        print(f"  controller RSS with {MEMORY_SERVICES} Services : {rss:6.1f} MiB  (target <= 100 MB)")
        watcher.cancel()
    finally:
        await client.close()


def _settled_rss(pid: int, *, timeout: float = 120.0) -> float:
    """RSS once it has stopped moving (5 s within 0.5 MiB): the restarted controller has listed and re-claimed."""
    start = time.monotonic()
    samples: list[float] = []
    while time.monotonic() - start < timeout:
        time.sleep(1.0)
        samples.append(_rss_mib(pid))
        if len(samples) >= 8 and max(samples[-5:]) - min(samples[-5:]) < 0.5:
            break
    return samples[-1]


def main() -> None:
    if missing_binaries(DEFAULT_BIN_DIR):
        print("bench_controller: skipped, the test apiserver is not built (run `make testenv`)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = TestAPIServer(data_dir=Path(tmp) / "apiserver")
        server.start()
        controller = None
        try:
            server.apply_crds(ROOT / "crds")
            server.kubectl("create", "namespace", NS)
            server.kubectl(
                "apply",
                "-f",
                "-",
                input=(
                    "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
                    f"metadata: {{name: bench, namespace: {NS}}}\nspec: {{addresses: [172.20.0.0/16]}}\n"
                ),
            )
            exe = str(Path(sys.executable).with_name("pymetallb"))
            args = [
                exe,
                "controller",
                "--kubeconfig",
                str(server.kubeconfig),
                "--namespace",
                NS,
                "--metrics-port",
                "0",
                "--leader-elect",
                "false",
                "--log-level",
                "warning",
            ]
            controller = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(2)
            print(f"bench_controller: real apiserver, {os.cpu_count()} cores (shared by apiserver, controller, bench)")
            asyncio.run(_measure(server, controller))
            controller.terminate()
            controller.wait(timeout=20)
            controller = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rss = _settled_rss(controller.pid)
            print(f"  controller RSS after a restart with {MEMORY_SERVICES} Services (list, re-claim) : {rss:6.1f} MiB")
        finally:
            if controller is not None:
                controller.terminate()
                controller.wait(timeout=20)
            server.stop()


if __name__ == "__main__":
    main()
