"""Real routers and our speaker in lab namespaces, for the BGP component tests and the BGP benchmark.

``Bird``, ``Frr`` and ``Gobgp`` start the daemon in a host's namespace with its own control socket and read routes
back through the daemon's own CLI (``birdc``, ``vtysh``, ``gobgp``). ``Speaker`` runs ``python -m speaker.bgp``
in another namespace and collects its JSON events. Everything started here is stopped by the lab.
"""

from __future__ import annotations

import contextlib
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

REPO = Path(__file__).resolve().parents[1]
GOBGP_BIN = REPO / ".testenv" / "bin"
FRR_BGPD = "/usr/lib/frr/bgpd"
T = TypeVar("T")


def eventually(check: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def poll(fetch: Callable[[], T], pred: Callable[[T], bool], *, timeout: float = 30.0, what: str = "condition") -> T:
    """Fetch until ``pred`` holds for the fetched value, and return that value."""
    box: list[T] = []

    def check() -> bool:
        box[:] = [fetch()]
        return pred(box[0])

    try:
        eventually(check, timeout=timeout, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last value: {box[0] if box else None!r}") from None
    return box[0]


def _tmpdir(prefix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=prefix))
    d.chmod(0o755)
    return d


class Bird:
    """BIRD 2 with one BGP protocol per neighbour (``neighbors``: (name, address, asn, extra options))."""

    def __init__(self, host: Host, *, asn: int, neighbors: list[tuple[str, str, int, str]], extra: str = "") -> None:
        self.host = host
        self.dir = _tmpdir("bird-")
        self.ctl = str(self.dir / "bird.ctl")
        protos = []
        for name, addr, peer_asn, opts in neighbors:
            protos.append(
                f"protocol bgp {name} {{ local as {asn}; neighbor {addr} as {peer_asn}; {opts}\n"
                "  ipv4 { import all; export none; }; ipv6 { import all; export none; }; }"
            )
        conf = f"log stderr all; router id {host.ip4}; protocol device {{}}\n{extra}\n" + "\n".join(protos) + "\n"
        (self.dir / "bird.conf").write_text(conf)
        self.proc = host.popen(
            ["bird", "-f", "-c", str(self.dir / "bird.conf"), "-s", self.ctl],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "bird.log", "wb"),  # noqa: SIM115 - closed with the process
        )

    def cli(self, *args: str) -> str:
        return self.host.run("birdc", "-s", self.ctl, *args, check=False).stdout

    def established(self, name: str) -> bool:
        return "Established" in self.cli("show", "protocols", name)

    def routes(self, table: str = "master4") -> dict[str, str]:
        """``show route all``: each prefix's block of text (all its paths), keyed by the prefix."""
        blocks: dict[str, str] = {}
        current = ""
        for line in self.cli("show", "route", "all", "table", table).splitlines():
            if line and not line[0].isspace() and not line.startswith(("Table", "BIRD")):
                current = line.split()[0]
                blocks[current] = line + "\n"
            elif current:
                blocks[current] += line + "\n"
        return blocks

    def count(self, table: str = "master4") -> int:
        out = self.cli("show", "route", "count", "table", table)
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1] == "of" and parts[0].isdigit():
                return int(parts[0])
            if "routes" in line and parts and parts[0].isdigit():
                return int(parts[0])
        return -1

    def log(self) -> str:
        return (self.dir / "bird.log").read_text(errors="replace")


class Frr:
    """FRR bgpd alone (no zebra), its own vty socket dir owned by ``frr``."""

    def __init__(self, host: Host, *, asn: int, config: str) -> None:
        self.host = host
        self.dir = _tmpdir("frr-")
        shutil.chown(self.dir, "frr", "frr")
        conf = self.dir / "bgpd.conf"
        conf.write_text(
            f"frr defaults datacenter\nhostname peer\nlog file {self.dir}/bgpd.log\n"
            f"router bgp {asn}\n bgp router-id {host.ip4}\n no bgp ebgp-requires-policy\n"
            " no bgp default ipv4-unicast\n" + config
        )
        shutil.chown(conf, "frr", "frr")
        self.proc = host.popen(
            [FRR_BGPD, "-Z", "-n", "-f", str(conf), "-i", str(self.dir / "bgpd.pid"), "--vty_socket", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def vtysh(self, command: str) -> str:
        return self.host.run("vtysh", "--vty_socket", str(self.dir), "-c", command, check=False).stdout

    def json(self, command: str) -> Any:
        out = self.vtysh(command)
        try:
            return json.loads(out)
        except ValueError:
            return {}

    def neighbor_state(self, addr: str) -> str:
        data = self.json(f"show bgp neighbors {addr} json")
        return str(data.get(addr, {}).get("bgpState", ""))

    def log(self) -> str:
        p = self.dir / "bgpd.log"
        return p.read_text(errors="replace") if p.exists() else ""


class Gobgp:
    """gobgpd built by ``make gobgp`` (tests/gobgp/gobgp.mk), configured by TOML, queried with ``gobgp``."""

    def __init__(self, host: Host, *, asn: int, neighbors: list[tuple[str, int]], families: tuple[str, ...]) -> None:
        self.host = host
        self.dir = _tmpdir("gobgp-")
        lines = [
            "[global.config]",
            f"  as = {asn}",
            f'  router-id = "{host.ip4}"',
            "  port = 179",
        ]
        for addr, peer_asn in neighbors:
            lines += [
                "[[neighbors]]",
                "  [neighbors.config]",
                f'    neighbor-address = "{addr}"',
                f"    peer-as = {peer_asn}",
            ]
            for fam in families:
                lines += [
                    "  [[neighbors.afi-safis]]",
                    "    [neighbors.afi-safis.config]",
                    f'      afi-safi-name = "{fam}"',
                ]
        (self.dir / "gobgpd.toml").write_text("\n".join(lines) + "\n")
        self.proc = host.popen(
            [
                str(GOBGP_BIN / "gobgpd"),
                "-f",
                str(self.dir / "gobgpd.toml"),
                "--api-hosts",
                "127.0.0.1:50051",
                "--pprof-disable",
                "-l",
                "info",
            ],
            stdout=open(self.dir / "gobgpd.log", "wb"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )

    def cli(self, *args: str) -> str:
        return self.host.run(str(GOBGP_BIN / "gobgp"), "-u", "127.0.0.1", "-p", "50051", *args, check=False).stdout

    def json(self, *args: str) -> Any:
        try:
            return json.loads(self.cli(*args, "-j"))
        except ValueError:
            return None


class Speaker:
    """Our speaker (``python -m speaker.bgp``) in ``host``'s namespace; events arrive on a thread into a queue."""

    def __init__(self, host: Host, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        self.host = host
        self.proc = host.popen(
            [sys.executable, "-m", "speaker.bgp", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(REPO),
        )
        self.events: list[dict[str, Any]] = []
        self._q: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self._q.put(json.loads(line))
            except ValueError:
                continue

    def _drain(self) -> None:
        while True:
            try:
                self.events.append(self._q.get_nowait())
            except queue.Empty:
                return

    def wait_event(
        self, match: Callable[[dict[str, Any]], bool], *, timeout: float = 30.0, what: str = "event"
    ) -> dict[str, Any]:
        """The first event (seen so far or arriving) that matches."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            self._drain()
            for ev in self.events[seen:]:
                if match(ev):
                    return ev
            seen = len(self.events)
            if time.monotonic() > deadline:
                err = (
                    self.proc.stderr.read1(65536).decode(errors="replace")
                    if self.proc.poll() is not None and self.proc.stderr
                    else ""
                )  # type: ignore[attr-defined]
                raise AssertionError(f"no {what} within {timeout}s; events: {self.events[-10:]} {err}")
            with contextlib.suppress(queue.Empty):
                self.events.append(self._q.get(timeout=0.1))

    def wait_up(self, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait_event(lambda e: e["kind"] == "sessionUp", timeout=timeout, what="sessionUp")

    def send(self, cmd: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()

    def set_routes(self, routes: dict[str, Any]) -> None:
        self.send({"routes": routes})

    def close(self, *, keep_routes: bool = False) -> None:
        self.send({"close": True, "keep_routes": keep_routes})
        self.proc.wait(timeout=10)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
