"""Test networks: hosts in network namespaces joined by one bridge, as a context manager.

    with Lab("l2") as lab:
        node = lab.add_host("node1", v4="198.51.100.11/24", v6="2001:db8::11/64")
        client = lab.add_host("client", v4="198.51.100.2/24")
        client.run("arping", "-c", "1", "-I", "eth0", "198.51.100.11")

Every host is a namespace ``pml-<tag>-<pid>-<n>-<host>`` with one interface ``eth0`` (a veth whose other end sits
on bridge ``br0`` in the lab's own namespace), ``lo`` up, IPv6 DAD off so addresses work at once. Names carry the
pid, so labs of concurrent test runs never collide; ``close()`` (or leaving the ``with``) stops every process
started through ``popen`` and deletes the namespaces, which removes the veths. ``reap_stale()`` deletes
namespaces left by runs whose process is gone (a SIGKILLed pytest).

Documentation ranges only (198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32): nothing here reaches a real network.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

PREFIX = "pml-"
_counter = itertools.count()


def missing_requirements(*commands: str) -> str | None:
    """Why a network test cannot run here, or None: root and the given commands (plus ``ip``) are needed."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    missing = [c for c in ("ip", *commands) if shutil.which(c) is None and not os.access(c, os.X_OK)]
    if missing:
        return f"missing {', '.join(missing)}: run `make sysdeps` as root"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def reap_stale() -> None:
    """Delete lab namespaces whose creating process no longer exists."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(PREFIX):
            continue
        parts = name.split("-")
        try:
            pid = int(parts[2])
        except (IndexError, ValueError):
            continue
        if not os.path.exists(f"/proc/{pid}"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@dataclass
class Host:
    """One namespace with ``eth0`` on the lab bridge."""

    lab: Lab
    name: str
    netns: str
    v4: list[str] = field(default_factory=list)
    v6: list[str] = field(default_factory=list)

    def cmd(self, *args: str) -> list[str]:
        """The argv that runs ``args`` inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *args]

    def run(
        self, *args: str, check: bool = True, timeout: float = 30, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in this namespace and capture its output (raises on failure when ``check``)."""
        return subprocess.run(
            self.cmd(*args), check=check, capture_output=True, text=True, timeout=timeout, input=input
        )

    def popen(self, args: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start a long-running process in this namespace; the lab stops it on close."""
        proc = subprocess.Popen(self.cmd(*args), **kwargs)  # type: ignore[call-overload]
        self.lab.processes.append(proc)
        return proc  # type: ignore[no-any-return]

    def mac(self, ifname: str = "eth0") -> str:
        return self.run("cat", f"/sys/class/net/{ifname}/address").stdout.strip()

    def nft(self, script: str) -> None:
        """Load an nftables script (``nft -f -``) in this namespace."""
        self.run("nft", "-f", "-", input=script)

    def set_link(self, up: bool, ifname: str = "eth0") -> None:
        self.run("ip", "link", "set", ifname, "up" if up else "down")

    @property
    def ip4(self) -> str:
        return self.v4[0].split("/")[0]

    @property
    def ip6(self) -> str:
        return self.v6[0].split("/")[0]


class Lab:
    """A bridge namespace and hosts attached to it; see the module docstring."""

    def __init__(self, tag: str) -> None:
        self.base = f"{PREFIX}{tag}-{os.getpid()}-{next(_counter)}"
        self.bridge_ns = f"{self.base}-br"
        self.hosts: dict[str, Host] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        self._ports = itertools.count(1)

    def __enter__(self) -> Lab:
        reap_stale()
        _ip("netns", "add", self.bridge_ns)
        _ip("-n", self.bridge_ns, "link", "set", "lo", "up")
        _ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.bridge_ns, "link", "set", "br0", "up")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_host(self, name: str, *, v4: str | Sequence[str] = (), v6: str | Sequence[str] = ()) -> Host:
        netns = f"{self.base}-{name}"
        v4s = [v4] if isinstance(v4, str) else list(v4)
        v6s = [v6] if isinstance(v6, str) else list(v6)
        host = Host(self, name, netns, v4s, v6s)
        _ip("netns", "add", netns)
        self.hosts[name] = host
        port = f"p{next(self._ports)}"
        _ip("-n", self.bridge_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _ip("-n", self.bridge_ns, "link", "set", port, "master", "br0", "up")
        host.run("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
        host.run("sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0")
        host.run("ip", "link", "set", "lo", "up")
        for addr in v4s:
            host.run("ip", "addr", "add", addr, "dev", "eth0")
        for addr in v6s:
            host.run("ip", "-6", "addr", "add", addr, "dev", "eth0", "nodad")
        host.run("ip", "link", "set", "eth0", "up")
        return host

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for host in self.hosts.values():
            subprocess.run(["ip", "netns", "del", host.netns], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.bridge_ns], capture_output=True, check=False)
        self.hosts.clear()
