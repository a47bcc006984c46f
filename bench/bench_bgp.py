"""Our BGP speaker against BIRD 2 in network namespaces (needs root and `bird`; see docs/benchmarks.md).

BIRD runs in a `router` namespace; the measuring process runs our sessions in-process in a `node` namespace and
asks BIRD through its control socket (a Unix socket, so no namespace hop and sub-millisecond polls):

1. Table: 10,000 /32s desired before the session comes up; time from Established until BIRD has them all.
2. Withdraw: from `set_desired({})` until BIRD has none.
3. One change: one /32 added or removed on a live 10,000-route session, until BIRD shows it; p50/p99 of 200.
4. Idle CPU: 100 sessions (100 source addresses, one BIRD with 100 protocols, hold 9 s, keepalive 3 s),
   process CPU over 20 s once all are Established.
5. Memory: RSS of the process with 10,000 routes to 3 peers, synced.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ROUTES = 10_000
CHANGES = 200
IDLE_PEERS = 100
IDLE_SECONDS = 20.0
RSS_PEERS = 3


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


async def inner(ctl_path: str, router: str, sources: list[str]) -> dict[str, object]:
    """Runs inside the node namespace."""
    from speaker.bgp.routes import RouteAttrs
    from speaker.bgp.session import BgpSession, EventKind, SessionEvent
    from speaker.bgp.settings import PeerSettings

    bird = BirdControl(ctl_path)
    peer = ipaddress.IPv4Address(router)
    table = {ipaddress.IPv4Network((0x0A000000 + i, 32)): RouteAttrs() for i in range(ROUTES)}
    out: dict[str, object] = {}

    def settings(src: str) -> PeerSettings:
        return PeerSettings(peer, 64512, 64513, source_address=ipaddress.IPv4Address(src), hold_time=9.0)

    # 1-3: one session, the main protocol.
    up_at: list[float] = []

    def on_event(ev: SessionEvent) -> None:
        if ev.kind == EventKind.UP:
            up_at.append(time.monotonic())

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
        current = dict(table)
        for i in range(CHANGES):
            extra = ipaddress.IPv4Network((0xCB007100 + i % 200, 32))
            current[extra] = RouteAttrs()
            t0, c0 = time.monotonic(), time.process_time()
            session.set_desired(current)
            await session.wait_synced()
            ours.append((time.monotonic() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            done = await _until(lambda p=str(extra): bird.has(p))  # type: ignore[misc]
            lat.append((done - t0) * 1000)
            del current[extra]
            t0, c0 = time.monotonic(), time.process_time()
            session.set_desired(current)
            await session.wait_synced()
            ours.append((time.monotonic() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            done = await _until(lambda p=str(extra): not bird.has(p))  # type: ignore[misc]
            lat.append((done - t0) * 1000)
        lat.sort()
        out["change_p50_ms"] = statistics.median(lat)
        out["change_p99_ms"] = lat[int(len(lat) * 0.99) - 1]
        ours.sort()
        out["ours_p50_ms"] = statistics.median(ours)
        out["ours_p99_ms"] = ours[int(len(ours) * 0.99) - 1]
        out["ours_cpu_ms"] = statistics.median(cpu)
        out["updates_sent"] = session.stats.updates_sent

    # 5: RSS with 10,000 routes to 3 peers.
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
    out["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _bird_conf(router: str, sources: list[str]) -> str:
    protos = "\n".join(
        f"protocol bgp p{i} {{ local as 64513; neighbor {src} as 64512; hold time 9;"
        " ipv4 { import all; export none; }; }"
        for i, src in enumerate(sources)
    )
    return f"log stderr {{ error, fatal }}; router id {router}; protocol device {{}}\n{protos}\n"


def outer() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from netlab import Lab, missing_requirements

    print(f"BGP speaker against BIRD (cores: {os.cpu_count()})")
    why = missing_requirements("bird", "birdc")
    if why:
        print(f"  skipped: {why}")
        return
    sources = ["198.51.100.11"] + [f"198.51.100.{100 + i}" for i in range(IDLE_PEERS)]
    with Lab("bgpbench") as lab:
        router = lab.add_host("router", v4="198.51.100.2/24")
        node = lab.add_host("node", v4=[f"{s}/24" for s in sources])
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
            timeout=600,
            check=False,
        )
        if res.returncode != 0:
            print(f"  failed: {res.stderr.strip()[-2000:]}")
            return
        r = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"  10,000 /32s, Established -> all at BIRD : {r['table_ms']:8.1f} ms   (target <= 200 ms)")
    print(f"  withdraw all 10,000                     : {r['withdraw_ms']:8.1f} ms   (target <= 100 ms)")
    print(
        f"  one route changed -> BIRD updated       : p50 {r['change_p50_ms']:.2f} ms, p99 {r['change_p99_ms']:.2f} ms"
        "   (target p99 <= 10 ms)"
    )
    print(
        f"    ours alone (set_desired -> UPDATE written): p50 {r['ours_p50_ms']:.2f} ms, p99 {r['ours_p99_ms']:.2f} ms;"
        f" CPU {r['ours_cpu_ms']:.2f} ms (median)"
    )
    print(f"  idle CPU, {r['idle_up']} sessions up (keepalive 3 s) : {r['idle_cpu_pct_100_peers']:8.2f} %")
    print(
        f"  RSS with 10,000 routes to 3 peers       : {r['rss_3x10k_mib']:8.1f} MiB (before: {r['rss_before_mib']:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inner", nargs=3, metavar=("CTL", "ROUTER", "SOURCES"))
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.inner:
        ctl, router, sources = args.inner
        result = asyncio.run(inner(ctl, router, sources.split(",")))
        print(json.dumps(result))
        return
    outer()


if __name__ == "__main__":
    main()
