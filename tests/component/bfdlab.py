"""Helpers for the BFD component tests: FRR's bfdd in a lab host, and our ``python -m speaker.bfd`` runner.

bfdd runs alone (no zebra: it logs that it cannot reach zebra and serves single-hop sessions anyway), as user
``frr`` (vtysh needs the ``frrvty`` group), with its vty socket in a private directory; the TCP vty is off.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from netlab import Host

BFDD = "/usr/lib/frr/bfdd"
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 20.0, every: float = 0.05) -> T:
    """Poll ``probe`` until it returns something other than None/False; fail with ``what`` at ``timeout``.
    (A bound on waiting, not a timing assertion: it only turns a hang into a readable failure.)"""
    end = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < end:
        last = probe()
        if last is not None and last is not False:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Frr:
    """bfdd with a config of static peers, queried through vtysh."""

    def __init__(self, host: Host, config: str) -> None:
        self.host = host
        self.dir = Path(tempfile.mkdtemp(prefix="pml-bfdd-"))
        shutil.chown(self.dir, "frr", "frr")
        (self.dir / "bfdd.conf").write_text(config)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.dir / "bfdd.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = self.host.popen(
            [
                BFDD,
                "-f",
                str(self.dir / "bfdd.conf"),
                "--vty_socket",
                str(self.dir),
                "-i",
                str(self.dir / "pid"),
                "--bfdctl",
                str(self.dir / "bfdd.sock"),
                "-P",
                "0",
                "--log",
                "stdout",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for("bfdd's vty", lambda: self.host.run(*self._vtysh("show bfd peers json"), check=False).returncode == 0)

    def _vtysh(self, *commands: str) -> list[str]:
        argv = ["vtysh", "--vty_socket", str(self.dir)]
        for c in commands:
            argv += ["-c", c]
        return argv

    def vtysh(self, *commands: str) -> str:
        return self.host.run(*self._vtysh(*commands)).stdout

    def peer(self, address: str) -> dict[str, Any]:
        for p in json.loads(self.vtysh("show bfd peers json")):
            if p["peer"] == address:
                return p  # type: ignore[no-any-return]
        raise AssertionError(f"bfdd has no peer {address}")

    def peer_counters(self, address: str) -> dict[str, Any]:
        for p in json.loads(self.vtysh("show bfd peers counters json")):
            if p["peer"] == address:
                return p  # type: ignore[no-any-return]
        raise AssertionError(f"bfdd has no peer {address}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Ours:
    """``python -m speaker.bfd`` in a lab host; its JSON lines are collected on a thread."""

    def __init__(self, host: Host, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = host.popen(
            [sys.executable, "-m", "speaker.bfd", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=str(REPO),
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.changes: list[dict[str, Any]] = []
        self._stats: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.lines.get(timeout=30)
        assert first["event"] == "started", first

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            obj = json.loads(raw)
            if obj["event"] == "change":
                self.changes.append(obj)
            elif obj["event"] == "stats":
                self._stats.put(obj)
            else:
                self.lines.put(obj)

    def state(self, peer: str) -> str:
        mine = [c for c in self.changes if c["peer"] == peer]
        return mine[-1]["state"] if mine else "DOWN"

    def last_change(self, peer: str) -> dict[str, Any]:
        return [c for c in self.changes if c["peer"] == peer][-1]

    def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"stats\n")
        self.proc.stdin.flush()
        return self._stats.get(timeout=10)

    def quit(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=10)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Bird:
    """BIRD 2 with a ``protocol bfd`` of static neighbors, queried through birdc."""

    def __init__(self, host: Host, config: str) -> None:
        self.host = host
        self.dir = Path(tempfile.mkdtemp(prefix="pml-bird-"))
        (self.dir / "bird.conf").write_text(config)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.dir / "bird.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = self.host.popen(
            ["bird", "-f", "-c", str(self.dir / "bird.conf"), "-s", str(self.dir / "bird.ctl")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(
            "BIRD's control socket", lambda: self.host.run(*self._birdc("show status"), check=False).returncode == 0
        )

    def _birdc(self, *words: str) -> list[str]:
        return ["birdc", "-s", str(self.dir / "bird.ctl"), *words]

    def sessions(self) -> dict[str, dict[str, str]]:
        """``show bfd sessions`` as {address: {"state", "interval", "timeout"}}."""
        out = self.host.run(*self._birdc("show", "bfd", "sessions")).stdout
        rows: dict[str, dict[str, str]] = {}
        for line in out.splitlines():
            cols = line.split()
            if len(cols) >= 6 and cols[2] in ("Up", "Down", "Init", "AdminDown"):
                rows[cols[0]] = {"state": cols[2], "interval": cols[-2], "timeout": cols[-1]}
        return rows

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
