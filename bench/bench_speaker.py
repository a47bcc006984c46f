"""The layer 2 speaker end to end: ``pymetallb speaker`` in three node namespaces against a real test apiserver,
measured from a client namespace (needs root, `ip`, and `make testenv`; see docs/benchmarks.md).

1. Failover after SIGKILL of the announcer, from the client: a prober (a raw AF_PACKET socket in the client
   namespace) sends an ARP request for the VIP every 10 ms and records (time, answering MAC); failover is the
   first reply from the new MAC minus the last reply from the old one. Beside it, the new owner's own
   ``pymetallb_failover_seconds`` (death declared -> first gratuitous ARP). p50/p99/max of ``--trials``.
2. Graceful hand-off (SIGTERM of the announcer): the same measurement.
3. RSS of each speaker idle (no Services), first with ``--bgp=false`` (layer 2 only), then, the speakers restarted,
   with the default flags (``--bgp=true``; no BGPPeer, so no BGP machinery is loaded: docs/speaker.md); idle CPU
   of one speaker over 10 s with 3 members. Everything after the idle figures runs on the default flags.
4. 10,000 Services and their EndpointSlices (IPv6 pool 2001:db8:100::/112), created with the speakers stopped;
   then the speakers' cold start (process start -> first flush, read from their logs), their RSS (at the first
   flush, 20 s later, once no Service moved for 10 s, and the peak), and a full resync: the L2Advertisement
   narrowed to one node, which decides all 10,000 again; change -> ``configLoaded`` -> its first "service has
   IP, announcing" line (logged right after the flush's ``set_desired``).

The bench starts its own test apiserver (bound to ``netlab.APISERVER_V4``, own temporary data dir) and its own
Lab; both are gone when it returns. ``BENCH_SPEAKER_TRIALS`` and ``BENCH_SPEAKER_SERVICES`` shrink a run
(``BENCH_SPEAKER_TRIALS=0``: only the memory and resync figures); ``BENCH_SPEAKER_NODES=1`` measures a one-node
cluster, whose speaker announces (and keeps the status object of) every Service (no failover trials then).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "testenv"))

from netlab import APISERVER_V4, Lab, ensure_apiserver_address, missing_requirements  # noqa: E402
from speakerlab import Node, SpeakerCluster  # noqa: E402
from testenv_server import DEFAULT_BIN_DIR, TestAPIServer, missing_binaries  # noqa: E402

from reconciler.runtime.client import ApiClient  # noqa: E402
from reconciler.runtime.resources import ENDPOINTSLICES, SERVICES  # noqa: E402

T = TypeVar("T")
TRIALS = int(os.environ.get("BENCH_SPEAKER_TRIALS", "20"))
SERVICES_N = int(os.environ.get("BENCH_SPEAKER_SERVICES", "10000"))
NODES_N = int(os.environ.get("BENCH_SPEAKER_NODES", "3"))
VIP = "198.51.100.100"
CLIENT_IP = "198.51.100.2"
IDLE_CPU_SECONDS = 10.0
DEFAULT_BGP = True  # the speaker's default --bgp, what the figures after the idle comparison run with

# The prober, run with `ip netns exec <client> python -c`: ARP who-has VIP every 10 ms on eth0 (RFC 826), and one
# line "<monotonic seconds> <sender MAC>" per reply whose sender protocol address is the VIP. CLOCK_MONOTONIC is
# not namespaced by network namespaces, so its times compare with this process's.
PROBER = r"""
import select, socket, struct, sys, time
vip, me, period = socket.inet_aton(sys.argv[1]), socket.inet_aton(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind(("eth0", 0x0806))
mac = s.getsockname()[4]
frame = b"\xff" * 6 + mac + struct.pack("!HHHBBH", 0x0806, 1, 0x0800, 6, 4, 1) + mac + me + b"\0" * 6 + vip
out = sys.stdout
nxt = time.monotonic()
while True:
    now = time.monotonic()
    if now >= nxt:
        s.send(frame)
        nxt += period
        if nxt < now:
            nxt = now + period
    r, _, _ = select.select([s], [], [], max(0.0, nxt - time.monotonic()))
    while r:
        try:
            pkt = s.recv(128, socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
        if len(pkt) >= 42 and pkt[12:14] == b"\x08\x06" and pkt[20:22] == b"\0\x02" and pkt[28:32] == vip:
            out.write("%.6f %s\n" % (time.monotonic(), pkt[22:28].hex(":")))
            out.flush()
"""


def _wait(fn: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Resident set size (``VmRSS``) or its peak so far (``VmHWM``) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Probe:
    """The prober's replies, read incrementally from its output file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replies: list[tuple[float, str]] = []
        self._offset = 0

    def poll(self) -> list[tuple[float, str]]:
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].decode().splitlines():
            t, mac = line.split()
            self.replies.append((float(t), mac))
        return self.replies

    def since(self, t: float) -> list[tuple[float, str]]:
        self.poll()
        out = []
        for r in reversed(self.replies):
            if r[0] < t:
                break
            out.append(r)
        return out[::-1]


class Bench:
    def __init__(self, sc: SpeakerCluster, probe: Probe) -> None:
        self.sc = sc
        self.probe = probe
        self.nodes = list(sc.nodes.values())

    def metrics(self, node: Node) -> str:
        return str(node.host.run("curl", "-s", "-m", "5", "localhost:7472/metrics", check=False).stdout)

    def failover_hist(self, node: Node) -> tuple[float, float]:
        text = self.metrics(node)
        s = re.search(r"^pymetallb_failover_seconds_sum (\S+)", text, re.M)
        c = re.search(r"^pymetallb_failover_seconds_count (\S+)", text, re.M)
        return (float(s[1]) if s else 0.0, float(c[1]) if c else 0.0)

    def alive_peers(self, node: Node) -> int:
        m = re.search(r'^pymetallb_membership_members\{state="alive"\} (\S+)', self.metrics(node), re.M)
        return int(float(m[1])) if m else -1

    def settled(self) -> Node:
        """All three speakers see each other, the status names one owner, and only its MAC answered for 0.6 s."""

        def once() -> Node | None:
            if any(self.alive_peers(n) != len(self.nodes) - 1 for n in self.nodes):
                return None
            owner = self.sc.l2_owner("web")
            if owner is None:
                return None
            recent = self.probe.since(time.monotonic() - 0.6)
            if len(recent) < 20 or {mac for _, mac in recent} != {self.sc.mac_of(owner)}:
                return None
            return self.sc.nodes[owner]

        def twice() -> Node | None:
            first = once()
            if first is None:
                return None
            time.sleep(0.5)
            return first if once() is first else None

        return _wait(twice, 60, "three members and one answering owner", interval=0.2)

    def trial(self, sig: signal.Signals) -> tuple[float, float | None, float | None, bool]:
        """One failover: (client-side gap, the new owner's own failover_seconds or None, signal -> the new owner's
        membersChanged naming the old one departed or None, overlap seen)."""
        old = self.settled()
        old_mac = self.sc.mac_of(old.name)
        others = [n for n in self.nodes if n is not old]
        before = {n.name: self.failover_hist(n) for n in others}
        t0, wall0 = time.monotonic(), time.time()
        self.sc.stop_speaker(old, sig, wait=False)

        def new_reply() -> tuple[float, str] | None:
            return next(((t, m) for t, m in self.probe.since(t0) if m != old_mac), None)

        first_new, new_mac = _wait(new_reply, 20, f"a new MAC answering after {sig.name}", interval=0.02)
        time.sleep(0.3)  # replies from the old MAC after the first new one would be an overlap
        replies = self.probe.since(t0 - 5)
        last_old = max((t for t, m in replies if m == old_mac and t <= first_new), default=t0)
        overlap = any(m == old_mac and t > first_new for t, m in replies)
        assert old.speaker is not None
        old.speaker.wait(timeout=20)
        new = next(n for n in others if self.sc.mac_of(n.name) == new_mac)

        def observed() -> tuple[float, float] | None:
            s, c = self.failover_hist(new)
            return (s, c) if c > before[new.name][1] else None

        own: float | None = None
        try:
            s, c = _wait(observed, 3, "pymetallb_failover_seconds", interval=0.2)
            own = (s - before[new.name][0]) / (c - before[new.name][1])
        except RuntimeError:
            pass
        departed = _departed_at(new, old.name, wall0 - 0.01)
        self.sc.start_speaker(old, bgp=DEFAULT_BGP)
        return first_new - last_old, own, None if departed is None else departed - wall0, overlap


def _line(label: str, values: list[float], target: str) -> str:
    if not values:
        return f"  {label:<44}: no samples"
    return (
        f"  {label:<44}: p50 {_pct(values, 0.5) * 1000:7.1f} ms  p99 {_pct(values, 0.99) * 1000:7.1f} ms  "
        f"max {max(values) * 1000:7.1f} ms  (n={len(values)}; target {target})"
    )


def _failovers(b: Bench, sig: signal.Signals, trials: int, target: str) -> None:
    client: list[float] = []
    own: list[float] = []
    detect: list[float] = []
    overlaps = 0
    for _ in range(trials):
        gap, mine, detected, overlap = b.trial(sig)
        client.append(gap)
        if mine is not None:
            own.append(mine)
        if detected is not None:
            detect.append(detected)
        overlaps += overlap
    print(_line(f"{sig.name}: client-side failover", client, target))
    print(_line(f"{sig.name}: signal -> new owner's membersChanged", detect, "- (log, 1 ms resolution)"))
    print(_line(f"{sig.name}: speaker's pymetallb_failover_seconds", own, "-"))
    if overlaps:
        print(f"  {sig.name}: the old MAC still answered after the new one in {overlaps} of {trials} trials")


def _service(ns: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"s{i}", "namespace": ns},
        "spec": {
            "type": "LoadBalancer",
            "allocateLoadBalancerNodePorts": False,
            "ports": [{"port": 80, "protocol": "TCP"}],
            "selector": {"app": f"s{i}"},
        },
    }


def _slice(ns: str, i: int, nodes: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"s{i}-eps", "namespace": ns, "labels": {"kubernetes.io/service-name": f"s{i}"}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [f"10.244.{k}.{i % 250 + 1}"], "nodeName": n, "conditions": {"ready": True}}
            for k, n in enumerate(nodes, 1)
        ],
        "ports": [{"port": 8080, "protocol": "TCP"}],
    }


async def _create_services(kubeconfig: str, ns: str, count: int, nodes: list[str]) -> None:
    client = await ApiClient.connect(kubeconfig)
    sem = asyncio.Semaphore(48)

    async def one(i: int) -> None:
        async with sem:
            await client.create(SERVICES, _service(ns, i))
            ip = f"2001:db8:100::{i + 1:x}"
            await client.patch(
                SERVICES, f"s{i}", {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}, ns, subresource="status"
            )
            await client.create(ENDPOINTSLICES, _slice(ns, i, nodes))

    try:
        await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        await client.close()


def _log_events(node: Node, event: str) -> list[float]:
    """Wall-clock times of the log lines of ``event`` in the node's current log."""
    out = []
    assert node.log is not None
    for line in node.log.read_text().splitlines():
        if f'"{event}"' not in line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("event") == event:
            out.append(_ts(rec["ts"]))
    return out


def _departed_at(node: Node, departed: str, after: float) -> float | None:
    """Wall-clock time of the node's first membersChanged naming ``departed`` as departed, after ``after``."""
    assert node.log is not None
    for line in node.log.read_text().splitlines():
        if '"membersChanged"' not in line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        ts = _ts(rec["ts"])
        if ts >= after and departed in rec.get("departed", []):
            return ts
    return None


def _ts(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC).timestamp()


def _first_after(node: Node, event: str, after: float) -> float | None:
    return next((t for t in _log_events(node, event) if t >= after), None)


def _scale(b: Bench, sc: SpeakerCluster, count: int) -> None:
    """10,000 Services: created with the speakers stopped (the apiserver is the bottleneck of a loaded machine),
    then the speakers' cold start (list, decide all, one flush), their RSS, and a config-change resync."""
    nodes = b.nodes
    for node in nodes:
        sc.stop_speaker(node, signal.SIGTERM)
    sc.pool("many", "2001:db8:100::/112")
    started = time.monotonic()
    asyncio.run(_create_services(str(sc.api.kubeconfig), sc.ns, count, [n.name for n in nodes]))
    print(f"  {count} Services + EndpointSlices created (status set) in {time.monotonic() - started:.1f} s")
    t0 = time.time()
    for node in nodes:
        sc.start_speaker(node, bgp=DEFAULT_BGP)

    # The first "service has IP, announcing" of a speaker is logged right after its first flush's set_desired,
    # which comes after every Service was decided (the flush is queued behind the decisions).
    def all_flushed() -> list[float] | None:
        found = [_first_after(n, "serviceAnnounced", t0) for n in nodes]
        return [t for t in found if t is not None] if all(t is not None for t in found) else None

    firsts = _wait(all_flushed, 180, "every speaker's first flush", 0.5)
    rss = [_rss_mib(n.speaker.pid) for n in nodes if n.speaker is not None]
    flushes = "  ".join(f"{t - t0:5.1f}" for t in firsts)
    print(f"  cold start with {count} Services  : process start -> first flush {flushes} s (all {len(nodes)} at once)")
    print(
        "  RSS at the first flush          : " + "  ".join(f"{r:6.1f}" for r in rss) + " MiB"
        f"  (target <= 100 MB with {count} Services)"
    )
    # The flush then writes a ServiceL2Status and a nodeAssigned Event per announced Service, one at a time.
    time.sleep(20)
    rss = [_rss_mib(n.speaker.pid) for n in nodes if n.speaker is not None]
    logged = sum(len([t for t in _log_events(n, "serviceAnnounced") if t >= t0]) for n in nodes)
    print(
        "  RSS 20 s later                  : " + "  ".join(f"{r:6.1f}" for r in rss) + " MiB"
        f"  ({logged} of {count + 1} announcements logged by then)"
    )
    # Settled: every Service's ServiceL2Status written (one create and one status patch each, after the flush: every
    # speaker then holds all of them) and no announcement, withdrawal or membership change logged for 10 s (on a
    # loaded machine a cold start can starve the failure detector: members flap, Services move and move back).
    churn = ("serviceAnnounced", "serviceWithdrawn", "membersChanged")

    def settled() -> bool:
        last = max((t for n in nodes for e in churn for t in _log_events(n, e)), default=0.0)
        if time.time() - last < 10:
            return False
        names = sc.kubectl("get", "servicel2statuses", "-n", sc.ns, "-o", "name", check=False).stdout.split()
        return len(names) >= count

    try:
        _wait(settled, 300, "every status written and no announcement or membership change for 10 s", 5.0)
        state = "settled (all statuses written)"
    except RuntimeError:
        state = "not settled after 300 s"
    rss = [_rss_mib(n.speaker.pid) for n in nodes if n.speaker is not None]
    peak = [_rss_mib(n.speaker.pid, "VmHWM") for n in nodes if n.speaker is not None]
    moves = sum(len([t for t in _log_events(n, "serviceWithdrawn") if t >= t0]) for n in nodes)
    print(
        f"  RSS {state:<30}: " + "  ".join(f"{r:6.1f}" for r in rss) + " MiB"
        f"  (target <= 100 MB; {moves} withdrawals logged since the start)"
    )
    print("  peak RSS (VmHWM) so far         : " + "  ".join(f"{r:6.1f}" for r in peak) + " MiB")
    # Full resync on a config change: the L2Advertisement narrowed to one node, which decides all again.
    if len(nodes) < 2:
        print("  config-change resync skipped: with one node, narrowing the advertisement to it changes nothing")
        return
    target = nodes[0]
    changed_at = time.time()
    sc.l2_advertisement("all", nodeSelectors=[{"matchLabels": {"kubernetes.io/hostname": target.name}}])
    loaded = _wait(lambda: _first_after(target, "configLoaded", changed_at - 0.5), 120, "configLoaded", 0.5)
    flushed = _wait(lambda: _first_after(target, "serviceAnnounced", loaded), 180, "the resync's flush", 0.5)
    print(
        f"  config-change resync of {count}   : change -> configLoaded {loaded - changed_at:5.2f} s, "
        f"-> first flush {flushed - changed_at:5.2f} s (decide all {count}, one responder update)"
    )


def _run(api: TestAPIServer, lab: Lab, tmp: Path) -> None:
    ns = f"bench-speaker-{secrets.token_hex(3)}"  # the last six characters name the Nodes
    api.kubectl("create", "namespace", ns)
    sc = SpeakerCluster(api, lab, ns, tmp, classed=False)
    assert sc.client is not None
    for i in range(1, NODES_N + 1):
        sc.add_node(i)
    sc.pool("vips", "198.51.100.100-198.51.100.120")
    sc.l2_advertisement("all")
    probe_out = tmp / "probe.txt"
    with open(probe_out, "wb") as out:
        sc.client.popen([sys.executable, "-u", "-c", PROBER, VIP, CLIENT_IP, "0.01"], stdout=out)
    probe = Probe(probe_out)
    b = Bench(sc, probe)
    pids: list[int] = []
    for bgp, flags in ((False, "--bgp=false"), (DEFAULT_BGP, "default flags")):
        for node in b.nodes:
            sc.stop_speaker(node)
        for node in b.nodes:
            sc.start_speaker(node, bgp=bgp)
        _wait(lambda: all(b.alive_peers(n) == NODES_N - 1 for n in b.nodes), 60, f"{NODES_N} members")
        time.sleep(3)
        pids = [n.speaker.pid for n in b.nodes if n.speaker is not None]
        rss = [_rss_mib(p) for p in pids]
        label = f"RSS idle, {flags}"
        print(f"  {label:<32}: " + "  ".join(f"{r:6.1f}" for r in rss) + " MiB  (target <= 60 MB = 57.2 MiB)")
    cpu0 = _cpu_seconds(pids[0])
    time.sleep(IDLE_CPU_SECONDS)
    cpu = (_cpu_seconds(pids[0]) - cpu0) / IDLE_CPU_SECONDS * 100
    print(f"  idle CPU, one of {NODES_N} members      : {cpu:5.2f} % of a core over {IDLE_CPU_SECONDS:g} s")

    sc.service("web", VIP, endpoints_on=[n.name for n in b.nodes])
    if TRIALS and NODES_N < 2:
        print(f"  failover trials skipped: {NODES_N} node")
    elif TRIALS:
        started = time.monotonic()
        _failovers(b, signal.SIGKILL, TRIALS, "p50 <= 500 ms, p99 <= 1000 ms")
        _failovers(b, signal.SIGTERM, TRIALS, "<= 200 ms")
        print(f"  ({2 * TRIALS} failover trials took {time.monotonic() - started:.0f} s)")
    if SERVICES_N:
        b.settled()
        _scale(b, sc, SERVICES_N)


def main() -> None:
    print(f"speaker, layer 2 end to end ({os.cpu_count()} cores, {NODES_N} nodes)")
    why = missing_requirements("curl") or (
        f"{', '.join(missing)} not built in {DEFAULT_BIN_DIR}: run `make testenv`"
        if (missing := missing_binaries(DEFAULT_BIN_DIR))
        else None
    )
    if why:
        print(f"  skipped: {why}")
        return
    ensure_apiserver_address()
    # A SIGTERM (a timeout) unwinds through the finally clauses: the Lab's namespaces and the apiserver go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="bench-speaker-"))
    api = TestAPIServer(data_dir=tmp / "apiserver", bin_dir=DEFAULT_BIN_DIR, bind_address=APISERVER_V4)
    started = time.monotonic()
    try:
        api.start()
        api.apply_crds(ROOT / "crds")
        with Lab("spkb") as lab:
            _run(api, lab, tmp)
    finally:
        api.stop()
        if os.environ.get("BENCH_KEEP"):
            print(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"  (whole run {time.monotonic() - started:.0f} s)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
