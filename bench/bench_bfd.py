"""BFD: how fast our manager detects a silent peer, with and without a busy asyncio loop, and its CPU cost.

The peer is ``python -m speaker.bfd`` in a subprocess on loopback (own ports, so no root or namespaces are
needed; TTL 255 survives loopback). Detection: both sides Up, the bench notes the time and SIGKILLs the peer,
and measures until our ``on_change`` reports Down. The peer's last packet left up to one TX interval before
the kill, so the ideal result lies in [(mult - 1) x interval x 0.75, mult x interval]; anything past
mult x interval is lateness of ours. "Busy loop": an asyncio loop in this process runs 200 ms CPU-bound
steps that never yield (a large config parse, say) while the peer dies. CPU: 100 sessions Up, our process's
CPU time over a 10 s window, as a share of one core.

Environment: ``BENCH_BFD_ROUNDS`` (default 8) detection rounds per case; ``BENCH_BFD_SWITCH_MS`` sets
``sys.setswitchinterval`` (default: Python's 5 ms) to see how the GIL hand-over bounds lateness.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from speaker.bfd.manager import BfdChange, BfdManager, BfdSessionSpec
from speaker.bfd.packet import State

REPO = Path(__file__).resolve().parents[1]
OURS = ipaddress.ip_address("127.0.0.1")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bench:
    def __init__(self) -> None:
        self.port, self.peer_port = _free_port(), _free_port()
        self.cond = threading.Condition()
        self.states: dict[str, State] = {}
        self.last: dict[str, BfdChange[str]] = {}
        self.down_diags: Counter[str] = Counter()
        self.manager: BfdManager[str] = BfdManager(
            on_change=self._on_change, port=self.port, peer_port=self.peer_port, bind_v4="127.0.0.1", bind_v6=None
        )
        self.manager.start()

    def _on_change(self, change: BfdChange[str]) -> None:
        with self.cond:
            self.states[change.key] = change.state
            self.last[change.key] = change
            if change.previous == State.UP:
                self.down_diags[change.diag_name] += 1
            self.cond.notify_all()

    def wait(self, keys: list[str], state: State, timeout: float = 30.0) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: all(self.states.get(k) == state for k in keys), timeout):
                raise RuntimeError(f"sessions did not reach {state.name} in {timeout} s")

    def wait_removed(self, keys: list[str], timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while any(self.manager.state(k) is not None for k in keys):
            if time.monotonic() > end:
                raise RuntimeError("sessions were not removed")
            time.sleep(0.01)

    def peer(self, n: int, ms: int, mult: int) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "speaker.bfd", "--port", str(self.peer_port), "--peer-port", str(self.port)]
        args += ["--rx", str(ms), "--tx", str(ms), "--mult", str(mult), "--no-v6"]
        for i in range(n):
            args += ["--peer", f"{OURS},127.0.1.{i + 1}"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)

    def sessions(self, n: int, ms: int, mult: int) -> list[str]:
        desired = {
            f"p{i}": BfdSessionSpec(
                peer_address=ipaddress.ip_address(f"127.0.1.{i + 1}"),
                local_address=OURS,
                receive_interval_ms=ms,
                transmit_interval_ms=ms,
                detect_multiplier=mult,
            )
            for i in range(n)
        }
        self.manager.set_sessions(desired)
        return sorted(desired)

    def stop(self) -> None:
        self.manager.stop()


def _busy_loop(stop: threading.Event) -> None:
    async def burn() -> None:
        while not stop.is_set():
            end = time.perf_counter() + 0.2
            x = 0
            while time.perf_counter() < end:  # never yields: the loop is blocked for 200 ms
                x += 1
            await asyncio.sleep(0)

    asyncio.run(burn())


def detection(bench: Bench, ms: int, mult: int, rounds: int, busy: bool) -> tuple[list[float], list[float]]:
    """Per round: ms from the kill to our Down, and ms from the deadline (last arrival + mult x interval) to
    our Down (the lateness of our timer)."""
    results, lateness = [], []
    keys = bench.sessions(1, ms, mult)
    for _ in range(rounds):
        peer = bench.peer(1, ms, mult)
        bench.wait(keys, State.UP)
        time.sleep(max(0.3, 4 * ms * mult / 1000))  # past the Poll Sequence, steady fast timers
        stop = threading.Event()
        burner = threading.Thread(target=_busy_loop, args=(stop,)) if busy else None
        if burner:
            burner.start()
            time.sleep(0.05)
        killed = time.monotonic()
        peer.send_signal(signal.SIGKILL)
        bench.wait(keys, State.DOWN)
        down_at = bench.last[keys[0]].at
        results.append((down_at - killed) * 1000)
        last_rx = bench.manager.stats()[keys[0]].last_received_at
        if last_rx is not None:
            lateness.append((down_at - last_rx - ms * mult / 1000) * 1000)
        stop.set()
        if burner:
            burner.join()
        peer.wait()
    bench.manager.set_sessions({})
    bench.wait_removed(keys)
    return results, lateness


class StallProbe:
    """A thread that sleeps 5 ms at a time and records oversleeps over 40 ms: stalls of this process (a loaded
    host descheduling it), which explain flaps that are not the BFD code's doing."""

    def __init__(self) -> None:
        self.stalls: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.005):
            now = time.monotonic()
            if now - last > 0.040:
                self.stalls.append((now - last) * 1000)
            last = now

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        return f"{len(self.stalls)} stalls > 40 ms" + (f" (max {max(self.stalls):.0f} ms)" if self.stalls else "")


def cpu(bench: Bench, n: int, ms: int, window: float = 10.0) -> tuple[float, float]:
    keys = bench.sessions(n, ms, 3)
    peer = bench.peer(n, ms, 3)
    try:
        bench.wait(keys, State.UP, timeout=60)
        time.sleep(2 * ms * 3 / 1000 + 0.5)
        stats0 = bench.manager.stats()
        probe = StallProbe()
        diags0 = Counter(bench.down_diags)
        c0, t0 = time.process_time(), time.monotonic()
        time.sleep(window)
        c1, t1 = time.process_time(), time.monotonic()
        stalls = probe.stop()
        stats1 = bench.manager.stats()
        pps = sum(stats1[k].control_packet_input + stats1[k].control_packet_output for k in keys) - sum(
            stats0[k].control_packet_input + stats0[k].control_packet_output for k in keys
        )
        flaps = sum(stats1[k].session_down_events - stats0[k].session_down_events for k in keys)
        why = dict(bench.down_diags - diags0)
        print(f"  {n} sessions at {ms} ms: {flaps} flaps in {window:.0f} s {why or ''}; this process saw {stalls}")
        return (c1 - c0) / (t1 - t0) * 100, pps / (t1 - t0)
    finally:
        peer.kill()
        peer.wait()
        bench.manager.set_sessions({})
        bench.wait_removed(keys)


def main() -> None:
    rounds = int(os.environ.get("BENCH_BFD_ROUNDS", "8"))
    if "BENCH_BFD_SWITCH_MS" in os.environ:
        sys.setswitchinterval(float(os.environ["BENCH_BFD_SWITCH_MS"]) / 1000)
    print(
        f"bfd: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {rounds} rounds per case, "
        f"GIL switch interval {sys.getswitchinterval() * 1000:g} ms"
    )
    bench = Bench()
    try:
        for ms in (50, 300):
            for busy in (False, True):
                r, late = detection(bench, ms, 3, rounds, busy)
                print(
                    f"  detection {ms} ms x 3 ({ms * 3} ms){' busy loop' if busy else ''}: from kill "
                    f"median {statistics.median(r):.0f} ms, min {min(r):.0f}, max {max(r):.0f} "
                    f"(ideal window {ms * 2 * 0.75:.0f}-{ms * 3} ms); past the deadline "
                    f"median {statistics.median(late):.1f} ms, max {max(late):.1f}"
                )
        for ms in (300, 50):
            share, pps = cpu(bench, 100, ms)
            print(f"  CPU, 100 sessions Up at {ms} ms: {share:.1f}% of one core, {pps:.0f} packets/s in+out")
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
