"""The failure detector: message rate per member, crash detection time, graceful leave, idle CPU.

Targets (issue 9): a crashed speaker declared dead within 0.5 s on a LAN; a per-member message rate that does not
grow with the cluster. Figures:

* simulated (``speaker.membership.simulation``, exact protocol on fake time, LAN latency 0.2-0.6 ms): datagrams
  and bytes sent per member per second with 3, 10 and 50 members; time from a crash until every other member
  declared it dead (and until the first one did), p50/p99 over many crash phases;
* real sockets (``Membership`` threads, one UDP socket each, on 127.0.0.1 in this process): the same detection
  time after a member stops without leaving, and the time a graceful ``leave`` takes to reach the others;
* idle CPU of one member: a separate process running one ``Membership`` among two others, CPU seconds per second;
* a busy main thread (pure-Python spin, as an event loop stuck in a long reconcile): the probe round trip other
  members measure to that member, with the interpreter's default 5 ms GIL switch interval and with our 1 ms.

``BENCH_TRIALS=n`` scales the number of crash trials.
"""

from __future__ import annotations

import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from speaker.membership.runtime import Membership, MembershipChange
from speaker.membership.simulation import SimNet
from speaker.membership.wire import State

TRIALS = int(os.environ.get("BENCH_TRIALS", "40"))
KEY = b"YmVuY2gtbWVtYmVyc2hpcC1rZXk"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))]


def sim_rate(n: int) -> tuple[float, float]:
    net = SimNet(seed=n)
    names = [f"node{i}" for i in range(n)]
    net.start(names)
    net.run(2.0)
    before = {m: net.members[m].sent for m in names}
    octets = {"sent": 0}
    original = net._apply

    def tap(m, fx):  # type: ignore[no-untyped-def]
        octets["sent"] += sum(len(d) for _, d in fx.packets)
        original(m, fx)

    net._apply = tap  # type: ignore[method-assign]
    net.run(20.0)
    packets = sum(net.members[m].sent - before[m] for m in names) / n / 20.0
    return packets, octets["sent"] / n / 20.0


def sim_detection(n: int, trials: int) -> tuple[list[float], list[float]]:
    everyone, first = [], []
    for seed in range(trials):
        net = SimNet(seed=1000 + seed)
        names = [f"node{i}" for i in range(n)]
        net.start(names)
        net.run(1.0 + (seed * 0.0137) % 0.5)
        t0 = net.now
        net.crash("node0")
        net.run(3.0)
        seen: dict[str, float] = {}
        for o in net.observed:
            if o.t >= t0 and o.transition.node == "node0" and o.transition.state is State.DEAD:
                seen.setdefault(o.observer, o.t - t0)
        everyone.append(max(seen.values()) if len(seen) == n - 1 else float("inf"))
        first.append(min(seen.values()))
    return everyone, first


class _Watch:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.alive: dict[str, frozenset[str]] = {}
        self.at: dict[str, float] = {}

    def callback(self, node: str):  # type: ignore[no-untyped-def]
        def on_change(c: MembershipChange) -> None:
            with self.cond:
                self.alive[node] = c.alive
                self.at[node] = c.at
                self.cond.notify_all()

        return on_change

    def wait(self, pred, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
        with self.cond:
            return self.cond.wait_for(pred, timeout)


def real_trial(n: int, graceful: bool) -> float:
    watch = _Watch()
    members = [
        Membership(node=f"m{i}", bind=("127.0.0.1", 0), key=KEY, on_change=watch.callback(f"m{i}")) for i in range(n)
    ]
    for m in members:
        m.start()
    peers = {m.node: ("127.0.0.1", m.port) for m in members}
    for m in members:
        m.set_peers(peers)
    names = frozenset(peers)
    others = [m.node for m in members[1:]]
    try:
        if not watch.wait(lambda: all(watch.alive.get(x) == names for x in peers)):
            raise RuntimeError("members did not converge")
        time.sleep(0.5 + (time.monotonic() % 0.1))  # a random phase of the probe rounds
        t0 = time.monotonic()
        if graceful:
            members[0].leave(1.0)
        members[0].stop()
        gone = names - {"m0"}
        if not watch.wait(lambda: all(watch.alive.get(x) == gone for x in others), timeout=5):
            return float("inf")
        return max(watch.at[x] for x in others) - t0
    finally:
        for m in members:
            m.stop()


IDLE_CHILD = """
import sys, time
from speaker.membership.runtime import Membership
key, ports = sys.argv[1].encode(), [int(p) for p in sys.argv[2:]]
m = Membership(node="idle", bind=("127.0.0.1", 0), key=key, on_change=lambda c: None)
m.start()
m.set_peers({f"p{i}": ("127.0.0.1", p) for i, p in enumerate(ports)})
print(m.port, flush=True)
sys.stdin.read()
"""


def idle_cpu(seconds: float = 20.0) -> float:
    """CPU seconds per second of a process running one member of three (two peers here)."""
    peers = [Membership(node=f"p{i}", bind=("127.0.0.1", 0), key=KEY, on_change=lambda c: None) for i in range(2)]
    for p in peers:
        p.start()
    child = subprocess.Popen(
        [sys.executable, "-c", IDLE_CHILD, KEY.decode(), *(str(p.port) for p in peers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        table = {"p0": ("127.0.0.1", peers[0].port), "p1": ("127.0.0.1", peers[1].port), "idle": ("127.0.0.1", port)}
        for p in peers:
            p.set_peers(table)
        time.sleep(2.0)

        def cpu() -> float:
            with open(f"/proc/{child.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        c0, t0 = cpu(), time.monotonic()
        time.sleep(seconds)
        return (cpu() - c0) / (time.monotonic() - t0)
    finally:
        child.kill()
        child.wait()
        for p in peers:
            p.stop()


PEERS_CHILD = """
import dataclasses, json, sys
from speaker.membership.runtime import Membership
key, port = sys.argv[1].encode(), int(sys.argv[2])
ms = [Membership(node=f"q{i}", bind=("127.0.0.1", 0), key=key, on_change=lambda c: None) for i in range(2)]
for m in ms:
    m.start()
table = {"busy": ("127.0.0.1", port), **{m.node: ("127.0.0.1", m.port) for m in ms}}
for m in ms:
    m.set_peers(table)
print(json.dumps({m.node: m.port for m in ms}), flush=True)
sys.stdin.read()
print(json.dumps([dataclasses.asdict(m.stats) for m in ms]), flush=True)
"""


def busy_main_thread(switch_interval: float | None, seconds: float = 10.0) -> dict[str, float]:
    """One member in this process while its main thread spins in pure Python (an event loop that never yields);
    two members in a child process probe it. Their probe round trips include our thread's GIL waits."""
    before = sys.getswitchinterval()
    m = Membership(
        node="busy", bind=("127.0.0.1", 0), key=KEY, on_change=lambda c: None, switch_interval=switch_interval
    )
    m.start()
    child = subprocess.Popen(
        [sys.executable, "-c", PEERS_CHILD, KEY.decode(), str(m.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        ports = json.loads(child.stdout.readline())
        m.set_peers({name: ("127.0.0.1", port) for name, port in ports.items()})
        time.sleep(1.0)
        end = time.monotonic() + seconds
        x = 0
        while time.monotonic() < end:
            x = (x * 31 + 7) % 1000003
        child.stdin.close()
        stats = json.loads(child.stdout.readline())
        return {
            "rtt_p50": max(s["rtt_p50"] for s in stats),
            "rtt_p99": max(s["rtt_p99"] for s in stats),
            "rtt_max": max(s["rtt_max"] for s in stats),
            "failures": sum(s["probe_failures"] for s in stats),
            "dead": sum(s["declared_dead"] for s in stats),
        }
    finally:
        m.stop()
        child.wait()
        sys.setswitchinterval(before)


ROOT = Path(__file__).resolve().parent.parent
NODE_SCRIPT = ROOT / "tests" / "component" / "ml_node.py"


def netns_sigkill(trials: int) -> list[float] | str:
    """Three ``ml_node.py`` processes in network namespaces on one bridge (tests/netlab.py); SIGKILL one, time
    until both others print the change (their ``t`` is CLOCK_MONOTONIC, shared by all processes); restart it."""
    sys.path.insert(0, str(ROOT / "tests"))
    from netlab import Lab, missing_requirements

    if why := missing_requirements():
        return why
    key_dir = Path(tempfile.mkdtemp())
    (key_dir / "secretkey").write_text(KEY.decode())
    times: list[float] = []
    with Lab("mlbench") as lab:
        hosts = [lab.add_host(f"n{i}", v4=f"198.51.100.{11 + i}/24") for i in range(3)]
        peers = json.dumps({h.name: h.ip4 for h in hosts})
        lines: queue.Queue[tuple[str, dict[str, object]]] = queue.Queue()

        def launch(h: Any) -> subprocess.Popen[bytes]:
            proc = h.popen(
                [sys.executable, str(NODE_SCRIPT), h.name, h.ip4, peers, str(key_dir)], stdout=subprocess.PIPE
            )

            def read() -> None:
                for raw in proc.stdout:
                    lines.put((h.name, json.loads(raw)))

            threading.Thread(target=read, daemon=True).start()
            return proc

        def settle(alive: set[str], who: set[str]) -> dict[str, float]:
            """Wait until each of ``who`` last reported ``alive`` and 1 s passed without news; their change times."""
            last: dict[str, dict[str, object]] = {}
            quiet_since = time.monotonic()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    name, e = lines.get(timeout=0.1)
                    if e["event"] == "change":
                        last[name] = e
                        quiet_since = time.monotonic()
                except queue.Empty:
                    pass
                done = all(n in last and set(last[n]["alive"]) == alive for n in who)  # type: ignore[call-overload]
                if done and time.monotonic() - quiet_since > 1.0:
                    return {n: float(last[n]["t"]) for n in who}  # type: ignore[arg-type]
            raise RuntimeError(f"membership did not settle on {sorted(alive)}")

        procs = [launch(h) for h in hosts]
        everyone = {h.name for h in hosts}
        settle(everyone, everyone)
        for _ in range(trials):
            time.sleep(0.2 + (time.monotonic() % 0.05))
            t0 = time.monotonic()
            procs[2].kill()
            procs[2].wait()
            seen = settle(everyone - {"n2"}, {"n0", "n1"})
            times.append(max(seen.values()) - t0)
            procs[2] = launch(hosts[2])
            settle(everyone, everyone)
    return times


def main() -> None:
    print(f"bench_membership: default Timers, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for n in (3, 10, 50):
        packets, octets = sim_rate(n)
        print(f"  simulated {n:2d} members: {packets:5.1f} datagrams/s and {octets / 1000:5.2f} kB/s sent per member")
    for n in (3, 10, 50):
        trials = max(5, TRIALS // 4) if n == 50 else TRIALS
        everyone, first = sim_detection(n, trials)
        print(
            f"  simulated crash, {n:2d} members, {trials} trials: declared dead by all p50 {pct(everyone, 0.5):.3f} s"
            f" p99 {pct(everyone, 0.99):.3f} s max {max(everyone):.3f} s (first member: p50 {pct(first, 0.5):.3f} s)"
        )
    real_trials = max(5, TRIALS // 2)
    crash = [real_trial(3, graceful=False) for _ in range(real_trials)]
    print(
        f"  real sockets, crash (stop without leave), 3 members, {real_trials} trials: all others report it gone"
        f" p50 {pct(crash, 0.5):.3f} s p99 {pct(crash, 0.99):.3f} s max {max(crash):.3f} s"
    )
    netns = netns_sigkill(real_trials)
    if isinstance(netns, str):
        print(f"  network namespaces: skipped ({netns})")
    else:
        print(
            f"  separate processes in network namespaces, SIGKILL, 3 members, {real_trials} trials: both others"
            f" report it gone p50 {pct(netns, 0.5):.3f} s p99 {pct(netns, 0.99):.3f} s max {max(netns):.3f} s"
        )
    leave = [real_trial(3, graceful=True) for _ in range(real_trials)]
    print(
        f"  real sockets, graceful leave, 3 members: all others report it gone p50 {pct(leave, 0.5) * 1000:.1f} ms"
        f" p99 {pct(leave, 0.99) * 1000:.1f} ms (median {statistics.median(leave) * 1000:.1f} ms)"
    )
    print(f"  idle CPU of one member (3 members): {idle_cpu() * 100:.2f} % of one core")
    for label, interval in (("default 5 ms", None), ("1 ms (Membership default)", 0.001)):
        r = busy_main_thread(interval)
        print(
            f"  busy main thread, GIL switch interval {label}: peers' probe RTT to it p50 {r['rtt_p50'] * 1000:.1f} ms"
            f" p99 {r['rtt_p99'] * 1000:.1f} ms max {r['rtt_max'] * 1000:.1f} ms, {r['failures']:.0f} failed probes,"
            f" {r['dead']:.0f} deaths"
        )


if __name__ == "__main__":
    main()
