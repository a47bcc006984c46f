"""Our BGP speaker against BIRD 2 in network namespaces (needs root and `bird`; see docs/benchmarks.md).

BIRD runs in a `router` namespace; the measuring process runs our sessions in-process in a `node` namespace and
asks BIRD through its control socket (a Unix socket, so no namespace hop and sub-millisecond polls):

1. Table: 10,000 /32s desired before the session comes up; time from Established until BIRD has them all.
2. Withdraw: from `set_desired({})` until BIRD has none.
3. One change on a live 10,000-route session, until BIRD shows it; p50/p99 of 400 (200 adds, 200 removals),
   two ways: (a) the session alone, `BgpSession.update({prefix: attrs | None})`; (b) the path the speaker
   uses: 10,000 Services decided by `BgpAnnouncer`, then one Service created or deleted, `decide` + `flush`
   (selection for that Service's prefixes only, `update` to the session). Our CPU time per change is printed.
4. Idle CPU: 100 sessions (100 source addresses, one BIRD with 100 protocols, hold 9 s, keepalive 3 s),
   process CPU over 20 s once all are Established.
5. Memory: RSS of the process with 10,000 routes to 3 peers, synced.
6. BFD-detected node death: a `BgpAnnouncer` session with a 50 ms x 3 BFD profile to BIRD (`bfd on`), 100
   routes at BIRD; then nftables in the node namespace drops all of the node's packets (a dead or hung node:
   nothing tells TCP). Time from the drop until BIRD has none of the routes; 20 trials (target 3 x 50 + 50 ms).

`--only change,bfd` (comma-separated: table, change, rss, idle, bfd) runs some parts.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.core.nodes import EndpointSliceView
    from speaker.bfd.manager import BfdManager
    from speaker.bgp_announcer import BgpAnnouncer

ROOT = Path(__file__).resolve().parents[1]

ROUTES = 10_000
CHANGES = 200
IDLE_PEERS = 100
IDLE_SECONDS = 20.0
RSS_PEERS = 3
BFD_ROUTES = 100
BFD_TRIALS = 20
BFD_INTERVAL_MS, BFD_MULT = 50, 3
PARTS = ("table", "change", "rss", "idle", "bfd")
BFD_SOURCE = "198.51.100.9"
# Drops every packet of the node namespace but loopback, before conntrack: the node is dead to the router.
DROP_RULES = """table inet benchdead {
  chain in { type filter hook prerouting priority -400; policy accept; iifname != "lo" drop; }
  chain out { type filter hook output priority -400; policy accept; oifname != "lo" drop; }
}
"""


# The BIRD control protocol: lines "NNNN-text" continue a reply, "NNNN text" ends it; 0000 ends a command.
class BirdControl:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self._reply()  # greeting

    def _reply(self) -> list[str]:
        lines = []
        while True:
            while b"\n" not in self.buf:
                self.buf += self.sock.recv(65536)
            raw, self.buf = self.buf.split(b"\n", 1)
            line = raw.decode()
            lines.append(line)
            if len(line) >= 5 and line[:4].isdigit() and line[4] == " ":
                code = line[:4]
                if code == "0000" or code[0] in "089" or code == "0001":
                    return lines

    def ask(self, cmd: str) -> list[str]:
        self.sock.sendall(cmd.encode() + b"\n")
        return self._reply()

    def count(self, table: str = "master4") -> int:
        for line in self.ask(f"show route count table {table}"):
            parts = line[5:].split()
            if len(parts) >= 3 and parts[1] == "of":
                return int(parts[0])
        return -1

    def has(self, prefix: str) -> bool:
        return any(prefix in line for line in self.ask(f"show route {prefix}"))


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _until(check: object, timeout: float = 60.0) -> float:
    """Poll ``check()`` (sync) as fast as it answers; return the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return time.monotonic()
        # Let the session's tasks run between polls (and BIRD work between our questions).
        await asyncio.sleep(0.0005)
    raise TimeoutError("BIRD did not reach the expected state")


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    values = sorted(values)
    return statistics.median(values), values[max(0, int(len(values) * 0.99) - 1)], values[-1]


def _services(count: int, base: int) -> list[dict[str, object]]:
    return [
        {
            "metadata": {"name": f"s{base + i}", "namespace": "bench"},
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster"},
            "status": {"loadBalancer": {"ingress": [{"ip": str(ipaddress.IPv4Address(0x0A000000 + base + i))}]}},
        }
        for i in range(count)
    ]


def _announcer(router: str, source: str, *, bfd: bool) -> tuple[BgpAnnouncer, BfdManager[str] | None]:
    """A ``BgpAnnouncer`` for node ``node`` with one BGPPeer to BIRD (and, ``bfd``, its BFD manager)."""
    from prometheus_client import CollectorRegistry

    from crds.addresses import parse_entry
    from crds.config import BFDProfileConfig, BGPAdvertisementConfig, Config, Peer, Pool
    from reconciler.core.nodes import NodeView
    from reconciler.runtime.metrics import ExactCounters
    from speaker.bfd.manager import BfdChange, BfdManager
    from speaker.bgp_announcer import BgpAnnouncer

    profiles = {"fast": BFDProfileConfig("fast", BFD_INTERVAL_MS, BFD_INTERVAL_MS, BFD_MULT)} if bfd else {}
    peer = Peer(
        name="tor",
        my_asn=64512,
        asn=64513,
        address=router,
        source_address=source,
        hold_time=9.0,
        bfd_profile="fast" if bfd else "",
    )
    pool = Pool(
        name="bench", entries=(parse_entry("10.0.0.0/8"),), bgp_advertisements=(BGPAdvertisementConfig(name="bgp"),)
    )
    config = Config(pools={"bench": pool}, peers={"tor": peer}, bfd_profiles=profiles)
    loop = asyncio.get_running_loop()
    manager: BfdManager[str] | None = None
    holder: list[BgpAnnouncer] = []

    def bfd_changed(change: BfdChange[str]) -> None:  # the BFD thread
        loop.call_soon_threadsafe(holder[0].bfd_changed, change)

    async def resync() -> None:
        await holder[0].sync_sessions()
        holder[0].flush()

    if bfd:
        manager = BfdManager(on_change=bfd_changed, bind_v6=None)
        manager.start()
    announcer = BgpAnnouncer(
        node="node",
        registry=CollectorRegistry(),
        exact=ExactCounters(),
        report=lambda *a: None,
        bfd=manager,
        request_sync=lambda: loop.create_task(resync()),
    )
    holder.append(announcer)
    announcer.rebuild(config, {"node": NodeView("node")}, ignore_exclude_lb=False, lb_class=None)
    return announcer, manager


async def inner(ctl_path: str, router: str, sources: list[str], parts: set[str]) -> dict[str, object]:
    """Runs inside the node namespace."""
    from reconciler.core.nodes import EndpointSliceView, EndpointView
    from reconciler.core.services import service_view
    from speaker.bgp.routes import RouteAttrs
    from speaker.bgp.session import BgpSession, EventKind, SessionEvent
    from speaker.bgp.settings import PeerSettings

    bird = BirdControl(ctl_path)
    peer = ipaddress.IPv4Address(router)
    table = {ipaddress.IPv4Network((0x0A000000 + i, 32)): RouteAttrs() for i in range(ROUTES)}
    out: dict[str, object] = {}

    def settings(src: str) -> PeerSettings:
        return PeerSettings(peer, 64512, 64513, source_address=ipaddress.IPv4Address(src), hold_time=9.0)

    def slices(name: str) -> list[EndpointSliceView]:
        return [EndpointSliceView("bench", f"{name}-1", name, (EndpointView(("10.244.0.1",), "node", True),))]

    # 1-3a: one session, the main protocol.
    up_at: list[float] = []

    def on_event(ev: SessionEvent) -> None:
        if ev.kind == EventKind.UP:
            up_at.append(time.monotonic())

    if parts & {"table", "change"}:
        async with BgpSession(settings(sources[0]), on_event=on_event) as session:
            session.set_desired(table)
            await _until(lambda: bool(up_at))
            done = await _until(lambda: bird.count() == ROUTES)
            out["table_ms"] = (done - up_at[0]) * 1000
            t0 = time.monotonic()
            session.set_desired({})
            done = await _until(lambda: bird.count() == 0)
            out["withdraw_ms"] = (done - t0) * 1000
            session.set_desired(table)
            await _until(lambda: bird.count() == ROUTES)
            lat: list[float] = []
            ours: list[float] = []  # until our UPDATE is written (the session reports synced)
            cpu: list[float] = []  # our process CPU time for that (the load-independent cost)
            for i in range(CHANGES):
                extra = ipaddress.IPv4Network((0xCB007100 + i % 200, 32))
                for change in (RouteAttrs(), None):
                    t0, c0 = time.monotonic(), time.process_time()
                    session.update({extra: change})
                    await session.wait_synced()
                    ours.append((time.monotonic() - t0) * 1000)
                    cpu.append((time.process_time() - c0) * 1000)
                    done = await _until(lambda p=str(extra), w=change is not None: bird.has(p) == w)  # type: ignore[misc]
                    lat.append((done - t0) * 1000)
            out["session_change_ms"] = _percentiles(lat)
            out["session_ours_ms"] = _percentiles(ours)
            out["session_cpu_ms"] = statistics.median(cpu)
            out["updates_sent"] = session.stats.updates_sent

    # 5: RSS with 10,000 routes to 3 peers.
    if "rss" in parts:
        rss_before = _rss_mib()
        sessions = [BgpSession(settings(src), on_event=lambda e: None) for src in sources[1 : 1 + RSS_PEERS]]
        for s in sessions:
            await s.__aenter__()
            s.set_desired(table)
        await asyncio.wait_for(asyncio.gather(*(s.wait_synced() for s in sessions)), 120)
        out["rss_3x10k_mib"] = _rss_mib()
        out["rss_before_mib"] = rss_before
        for s in sessions:
            await s.close()

    # 4: idle CPU with 100 sessions.
    if "idle" in parts:
        idle = [BgpSession(settings(src), on_event=lambda e: None) for src in sources[1 : 1 + IDLE_PEERS]]
        for s in idle:
            await s.__aenter__()
            s.set_desired({ipaddress.IPv4Network("203.0.113.1/32"): RouteAttrs()})
        await asyncio.wait_for(asyncio.gather(*(s.wait_synced() for s in idle)), 120)
        await asyncio.sleep(1.0)
        c0, w0 = time.process_time(), time.monotonic()
        await asyncio.sleep(IDLE_SECONDS)
        c1, w1 = time.process_time(), time.monotonic()
        out["idle_cpu_pct_100_peers"] = (c1 - c0) / (w1 - w0) * 100
        out["idle_up"] = sum(1 for s in idle if s.stats.up)
        for s in idle:
            await s.close()
    # 3b: one Service changed, through the announcer the speaker runs (after 4-5: its 10,000 Services would
    # count in their RSS).
    if "change" in parts:
        announcer, _ = _announcer(router, sources[0], bfd=False)
        await announcer.sync_sessions()
        views = [service_view(o) for o in _services(ROUTES, 0)]
        t0, c0 = time.monotonic(), time.process_time()
        for v in views:
            announcer.decide(v.key, v, slices(v.name))
        announcer.flush()
        out["decide_all_s"] = (time.monotonic() - t0, time.process_time() - c0)
        (bgp_peer,) = announcer.peers.values()
        await bgp_peer.session.wait_synced()
        await _until(lambda: bird.count() == ROUTES)
        lat, ours, cpu = [], [], []
        for i in range(CHANGES):
            (obj,) = _services(1, 0x00C80000 + i)  # 10.200.0.i, not in the table
            v = service_view(obj)
            prefix = f"{ipaddress.IPv4Address(0x0AC80000 + i)}/32"
            for present in (True, False):
                t0, c0 = time.monotonic(), time.process_time()
                announcer.decide(v.key, v if present else None, slices(v.name))
                announcer.flush()
                await bgp_peer.session.wait_synced()
                ours.append((time.monotonic() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                done = await _until(lambda p=prefix, w=present: bird.has(p) == w)  # type: ignore[misc]
                lat.append((done - t0) * 1000)
        out["service_change_ms"] = _percentiles(lat)
        out["service_ours_ms"] = _percentiles(ours)
        out["service_cpu_ms"] = statistics.median(cpu)
        await announcer.close(keep_routes=False)
        await _until(lambda: bird.count() == 0)

    out["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # 6: BFD-detected node death (last: it blackholes the namespace for a moment, 20 times).
    if "bfd" in parts:
        out["bfd"] = await _bfd_death(bird, router, slices)
    return out


def _bird_bfd_up(bird: BirdControl) -> bool:
    return any(BFD_SOURCE in line and " Up " in line for line in bird.ask("show bfd sessions"))


async def _bfd_death(
    bird: BirdControl, router: str, slices: Callable[[str], list[EndpointSliceView]]
) -> dict[str, object]:
    from reconciler.core.services import service_view

    announcer, manager = _announcer(router, BFD_SOURCE, bfd=True)
    assert manager is not None
    await announcer.sync_sessions()
    for v in (service_view(o) for o in _services(BFD_ROUTES, 0)):
        announcer.decide(v.key, v, slices(v.name))
    announcer.flush()
    lat: list[float] = []
    nft: list[float] = []  # how long the nft command took (the drop is in force somewhere inside it)
    try:
        for _ in range(BFD_TRIALS):
            try:
                await _until(lambda: bird.count() == BFD_ROUTES and _bird_bfd_up(bird), timeout=60)
            except TimeoutError:
                state = bird.ask("show bfd sessions") + bird.ask("show protocols pbfd") + [str(bird.count())]
                raise TimeoutError(f"trial {len(lat) + 1}: BIRD never had the routes and BFD Up: {state}") from None
            await asyncio.sleep(random.uniform(0.3, 0.4))  # BFD at its fast timers; the death at any phase
            started = time.monotonic()
            subprocess.run(["nft", "-f", "-"], input=DROP_RULES, text=True, check=True)
            t0 = time.monotonic()  # the drop is in force (nft has committed it)
            nft.append((t0 - started) * 1000)
            try:
                done = await _until(lambda: bird.count() == 0, timeout=30)
                lat.append((done - t0) * 1000)
            finally:
                subprocess.run(["nft", "delete", "table", "inet", "benchdead"], check=True)
    finally:
        await announcer.close(keep_routes=False)
        manager.stop()
    return {"ms": _percentiles(lat), "trials": len(lat), "nft_ms": statistics.median(nft)}


def _bird_conf(router: str, sources: list[str]) -> str:
    protos = "\n".join(
        f"protocol bgp p{i} {{ local as 64513; neighbor {src} as 64512; hold time 9;"
        " ipv4 { import all; export none; }; }"
        for i, src in enumerate(sources)
    )
    fast = f"min rx interval {BFD_INTERVAL_MS} ms; min tx interval {BFD_INTERVAL_MS} ms; multiplier {BFD_MULT};"
    bfd = (
        f'protocol bfd {{ interface "*" {{ {fast} }}; }}\n'
        f"protocol bgp pbfd {{ local as 64513; neighbor {BFD_SOURCE} as 64512; hold time 9; bfd on;"
        " error wait time 1, 1; error forget time 1;"
        " ipv4 { import all; export none; }; }"
    )
    return f"log stderr {{ error, fatal }}; router id {router}; protocol device {{}}\n{protos}\n{bfd}\n"


def _ms(triple: list[float]) -> str:
    p50, p99, top = triple
    return f"p50 {p50:6.2f} ms, p99 {p99:6.2f} ms, max {top:6.2f} ms"


def outer(parts: set[str]) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from netlab import Lab, missing_requirements

    print(f"BGP speaker against BIRD (cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f})")
    why = missing_requirements("bird", "birdc", "nft")
    if why:
        print(f"  skipped: {why}")
        return
    sources = ["198.51.100.11"] + [f"198.51.100.{100 + i}" for i in range(IDLE_PEERS)]
    with Lab("bgpbench") as lab:
        router = lab.add_host("router", v4="198.51.100.2/24")
        node = lab.add_host("node", v4=[f"{s}/24" for s in [*sources, BFD_SOURCE]])
        d = Path(tempfile.mkdtemp(prefix="bird-bench-"))
        (d / "bird.conf").write_text(_bird_conf(router.ip4, sources))
        router.popen(["bird", "-f", "-c", str(d / "bird.conf"), "-s", str(d / "bird.ctl")], stderr=subprocess.DEVNULL)
        for _ in range(100):
            if (d / "bird.ctl").exists():
                break
            time.sleep(0.05)
        res = node.run(
            "env",
            f"PYTHONPATH={ROOT}",
            sys.executable,
            "-m",
            "bench.bench_bgp",
            "--inner",
            str(d / "bird.ctl"),
            router.ip4,
            ",".join(sources),
            "--only",
            ",".join(sorted(parts)),
            timeout=900,
            check=False,
        )
        if res.returncode != 0:
            print(f"  failed: {res.stderr.strip()[-2000:]}")
            return
        r = json.loads(res.stdout.strip().splitlines()[-1])
    if "table_ms" in r:
        print(f"  10,000 /32s, Established -> all at BIRD : {r['table_ms']:8.1f} ms   (target <= 200 ms)")
        print(f"  withdraw all 10,000                     : {r['withdraw_ms']:8.1f} ms   (target <= 100 ms)")
    if "session_change_ms" in r:
        print("  one change on a 10,000-route session -> BIRD updated (target p99 <= 10 ms), 400 changes:")
        print(f"    session.update(one prefix)      : {_ms(r['session_change_ms'])}")
        print(
            f"      ours (update -> UPDATE written): {_ms(r['session_ours_ms'])};"
            f" our CPU {r['session_cpu_ms']:.3f} ms per change (median)"
        )
    if "service_change_ms" in r:
        wall, cpu = r["decide_all_s"]
        print(f"    one Service created/deleted     : {_ms(r['service_change_ms'])}   (of 10,000 Services)")
        print(
            f"      ours (decide + flush -> UPDATE written): {_ms(r['service_ours_ms'])};"
            f" our CPU {r['service_cpu_ms']:.3f} ms per change (median)"
        )
        print(f"      (deciding all 10,000 Services + first flush: {wall:.2f} s wall, {cpu:.2f} s CPU)")
    if "idle_cpu_pct_100_peers" in r:
        print(f"  idle CPU, {r['idle_up']} sessions up (keepalive 3 s) : {r['idle_cpu_pct_100_peers']:8.2f} %")
    if "rss_3x10k_mib" in r:
        print(
            f"  RSS with 10,000 routes to 3 peers       : {r['rss_3x10k_mib']:8.1f} MiB"
            f" (before: {r['rss_before_mib']:.1f})"
        )
    if "bfd" in r:
        b = r["bfd"]
        target = BFD_MULT * BFD_INTERVAL_MS + 50
        print(
            f"  BFD {BFD_INTERVAL_MS} ms x {BFD_MULT}: node blackholed -> {BFD_ROUTES} routes gone at BIRD,"
            f" {b['trials']} trials: {_ms(b['ms'])}   (target <= {target} ms; nft itself took {b['nft_ms']:.1f} ms)"
        )
    print(f"  (load average after: {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inner", nargs=3, metavar=("CTL", "ROUTER", "SOURCES"))
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    parts = set(args.only.split(",")) & set(PARTS)
    if args.inner:
        ctl, router, sources = args.inner
        result = asyncio.run(inner(ctl, router, sources.split(","), parts))
        print(json.dumps(result))
        return
    outer(parts)


if __name__ == "__main__":
    main()
