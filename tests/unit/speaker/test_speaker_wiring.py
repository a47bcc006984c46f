"""``pymetallb speaker`` as ``speaker/cli.py`` wires it, in a fresh interpreter: with the default ``--bgp=true``
the BGP and BFD modules load, and the BgpAnnouncer and the BFD thread start, only once a BGPPeer selects the node.

The wiring runs for real (``wire_speaker`` on a ``Program`` over ``FakeApi``); of its root tasks only ``work`` (the
reconcilers) and ``bfd`` run, so nothing listens or answers on the network. The BFD thread's ``start``/``stop``
are counted instead of run (they would bind UDP 3784); the BGP session's peer is 127.0.0.1 on a port nobody
holds bound without listening (its connects are refused, on loopback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import argparse, asyncio, json, socket, sys

from kubefakes import FakeApi
from reconciler.runtime.program import Program
from reconciler.runtime.resources import ENDPOINTSLICES, NODES, SECRETS, SERVICES
from speaker.cli import register, wire_speaker
from speaker.resources import ADVERTISEMENTS_L2, BGP_STATUSES, CONFIG_KINDS, L2_STATUSES, PEERS, POOLS, STATES

NS = "metallb-system"
BGP_MODULES = ("speaker.bgp_announcer", "speaker.bfd.manager", "speaker.bgp.session")


def loaded():
    return [m for m in BGP_MODULES if m in sys.modules]


class Captured(Program):
    # The roots are collected, not run: the test runs the two it is about.
    def add_root(self, name, coro):
        self.roots[name] = coro


def obj(kind, name, spec, api="metallb.io/v1beta1"):
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": NS, "resourceVersion": "1"},
            "spec": spec}


async def until(check, what):
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


async def main():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    flags = [a for a in sys.argv[1:] if a != "--no-peer"]
    args = parser.parse_args(["speaker", "--node-name", "a", "--namespace", NS, *flags])
    program = Captured("speaker", args, FakeApi())
    program.roots = {}
    await wire_speaker(program)
    out = {"roots": sorted(program.roots), "after_wiring": loaded()}
    store = program.store
    for res in (SERVICES, ENDPOINTSLICES, SECRETS, L2_STATUSES, BGP_STATUSES, STATES, *CONFIG_KINDS):
        store.replace(res, [], "1")
    store.replace(NODES, [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a", "resourceVersion": "1"}}], "1")
    store.replace(POOLS, [obj("IPAddressPool", "vips", {"addresses": ["198.51.100.100/32"]})], "2")
    store.replace(ADVERTISEMENTS_L2, [obj("L2Advertisement", "all", {})], "2")
    work = asyncio.create_task(program.roots.pop("work"))
    bfd_root = program.roots.pop("bfd", None)
    bfd = asyncio.create_task(bfd_root) if bfd_root is not None else None
    await until(lambda: program.client.writes, "the first config pass (ConfigurationState written)")
    await asyncio.sleep(0.2)
    out["config_without_peers"] = loaded()
    if "--no-peer" in sys.argv or bfd is None:
        if bfd is not None:
            bfd.cancel()
            await asyncio.gather(bfd, return_exceptions=True)
            out["bfd_root_cancelled"] = bfd.cancelled()
        out["after_stop"] = loaded()
        work.cancel()
        for coro in program.roots.values():
            coro.close()
        print(json.dumps(out))
        return

    from speaker.bfd.manager import BfdManager  # to count the thread's start and stop, not to run it
    calls = []
    BfdManager.start = lambda self: calls.append("start")
    BfdManager.stop = lambda self: calls.append("stop")
    # A loopback port (BGPPeer allows <= 16384) bound but never listening while the test runs: connects are refused.
    held = socket.socket()
    for port in range(12000, 16385):
        try:
            held.bind(("127.0.0.1", port))
            break
        except OSError:
            continue
    store.apply(PEERS, "ADDED", obj("BGPPeer", "tor", {"myASN": 64512, "peerASN": 64513, "peerAddress": "127.0.0.1",
                                                       "peerPort": port}, api="metallb.io/v1beta2"))
    label = {"peer": f"127.0.0.1:{port}"}
    await until(lambda: program.registry.get_sample_value("metallb_bgp_session_up", label) is not None, "a session")
    await until(lambda: calls, "the BFD thread started")
    out["with_a_peer"] = loaded()
    out["session_up"] = program.registry.get_sample_value("metallb_bgp_session_up", label)
    bfd.cancel()
    await asyncio.gather(bfd, return_exceptions=True)
    out["bfd_calls"] = calls
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)
    for coro in program.roots.values():
        coro.close()
    held.close()
    print(json.dumps(out))


asyncio.run(main())
"""


def _run(*flags: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METALLB_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS.parent), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, *flags], capture_output=True, text=True, timeout=60, env=env, cwd=TESTS.parent
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def test_a_default_speaker_loads_no_bgp_until_a_peer_then_starts_and_stops_the_bfd_thread_once() -> None:
    out = _run()
    assert "bfd" in out["roots"]
    assert out["after_wiring"] == [], "the wiring imports no BGP or BFD module"
    assert out["config_without_peers"] == [], "a config without BGPPeers loads none either"
    assert out["with_a_peer"] == ["speaker.bgp_announcer", "speaker.bfd.manager", "speaker.bgp.session"]
    assert out["session_up"] == 0, "the peer's session is in /metrics (down: nobody serves that port)"
    assert out["bfd_calls"] == ["start", "stop"], "the BFD thread starts with BGP and stops once with the program"


def test_a_speaker_whose_bgp_never_started_stops_its_bfd_root_cleanly() -> None:
    out = _run("--no-peer")
    assert out["config_without_peers"] == []
    assert out["bfd_root_cancelled"] is True, "the bfd root ends on the program's stop, with nothing to stop"
    assert out["after_stop"] == [], "and builds nothing on the way out"


def test_bgp_false_has_no_bfd_root_and_no_bgp_module() -> None:
    out = _run("--bgp", "false")
    assert "bfd" not in out["roots"]
    assert out["after_wiring"] == [] and out["config_without_peers"] == []
