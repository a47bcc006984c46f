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

Uplinks to the root namespace, for programs in a host that must reach the test kube-apiserver:

    ensure_apiserver_address()           # 203.0.113.254/32 on the root namespace's lo (idempotent, left there)
    addr = lab.uplink(node)              # e.g. "203.0.113.129"; node reaches APISERVER_V4 through ``vethup0``

An uplink is a point-to-point veth: ``vethup0`` in the host (MetalLB's default interface exclusion ``^veth.*``
keeps a speaker from announcing on it), ``pml<pid>u<n>`` in the root namespace. The host gets a /32 from
``UPLINK_POOL`` (203.0.113.128/26) and a host route to the apiserver address; the root namespace gets a host route
back. No subnet is configured on either side, so nothing overlaps with the lab's own addressing; keep lab
addresses and pools out of 203.0.113.128/25. Addresses are picked under a lock file from what the root namespace
routes at that moment, so concurrent labs of any process never share one. ``close()`` deletes the root-side links
(deleting a host namespace destroys them too, which is how ``reap_stale()`` cleans up after a killed run).
APISERVER_V4 stays on ``lo`` after the run: other runs may be using it, and a /32 from a documentation range on
loopback routes nothing anywhere.

Why 203.0.113.0/24 and not 192.0.2.0/24: the root namespace is a real machine, whose own network may use a
documentation range (the build machine's eth0 is 192.0.2.2/24 with its gateway at 192.0.2.1). Both helpers refuse,
with a message, to add anything that overlaps an address or route the root namespace already has.

Documentation ranges only (198.51.100.0/24, 203.0.113.0/24, 192.0.2.0/24, 2001:db8::/32): nothing here reaches a
real network.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import itertools
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

PREFIX = "pml-"
_counter = itertools.count()

APISERVER_V4 = "203.0.113.254"
"""Where the test apiserver for namespace tests listens (``TestAPIServer(bind_address=APISERVER_V4)``)."""
UPLINK_POOL = ipaddress.IPv4Network("203.0.113.128/26")
"""Host-side uplink addresses; 62 of them, shared by every lab on the machine at a time."""
UPLINK_IFNAME = "vethup0"
"""Host side of an uplink; ``veth*`` is in MetalLB's default interface exclusion list."""
_UPLINK_LOCK = "/run/pymetallb-netlab-uplink.lock"
_uplink_counter = itertools.count()


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


def _root_networks() -> list[tuple[ipaddress.IPv4Network, str]]:
    """The root namespace's IPv4 addresses (as networks) and routes, with the device each is on; the default route
    is left out (it covers everything)."""
    found: list[tuple[ipaddress.IPv4Network, str]] = []
    addrs = subprocess.run(["ip", "-4", "-o", "addr", "show"], check=True, capture_output=True, text=True).stdout
    for line in addrs.splitlines():
        words = line.split()  # "4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0"
        if "inet" in words:
            found.append((ipaddress.IPv4Interface(words[words.index("inet") + 1]).network, words[1]))
    routes = subprocess.run(["ip", "-4", "-o", "route", "show"], check=True, capture_output=True, text=True).stdout
    for line in routes.splitlines():
        words = line.split()  # "192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2"
        if words and words[0] != "default" and "dev" in words:
            with contextlib.suppress(ValueError):
                found.append((ipaddress.IPv4Network(words[0]), words[words.index("dev") + 1]))
    return found


def _check_root_free(net: ipaddress.IPv4Network, *, ours: str) -> None:
    """Refuse to use ``net`` in the root namespace when the machine already uses it for something not ``ours``."""
    for other, dev in _root_networks():
        if other.overlaps(net) and not (dev.startswith("pml") or (dev == "lo" and other == ipaddress.ip_network(ours))):
            raise RuntimeError(
                f"{net} overlaps {other} on {dev} in the root namespace: this machine's own network uses it; "
                "change APISERVER_V4/UPLINK_POOL in tests/netlab.py to a free documentation range"
            )


def ensure_apiserver_address(address: str = APISERVER_V4) -> None:
    """Make ``address`` an address of the root namespace (a /32 on ``lo``), so a test apiserver can bind it and
    uplinked hosts can reach it. Idempotent; the address is left in place (see the module docstring). Raises
    ``RuntimeError`` if the machine's own network already covers it."""
    _check_root_free(ipaddress.IPv4Network(f"{address}/32"), ours=f"{address}/32")
    _ip("addr", "replace", f"{address}/32", "dev", "lo")


@contextlib.contextmanager
def _uplink_lock() -> Iterator[None]:
    """Serialise picking-and-routing an uplink address between processes (labs of concurrent test runs)."""
    with open(_UPLINK_LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _free_uplink_address() -> str:
    """The lowest address of ``UPLINK_POOL`` that the root namespace neither routes nor owns."""
    used: set[ipaddress.IPv4Address] = set()
    for cmd in (["ip", "-4", "-o", "route", "show", "table", "all"], ["ip", "-4", "-o", "addr", "show"]):
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        for word in out.split():
            with contextlib.suppress(ValueError):
                used.add(ipaddress.IPv4Interface(word).ip)
    for addr in UPLINK_POOL.hosts():
        if addr not in used:
            return str(addr)
    raise RuntimeError(f"all of {UPLINK_POOL} is in use by uplinks in the root namespace (stale labs? run reap_stale)")


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
        self.uplinks: dict[str, tuple[str, str]] = {}
        """Host name -> (root-side link name, host address), for hosts given an uplink."""

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

    def uplink(self, host: Host | str, *, target: str = APISERVER_V4) -> str:
        """Connect ``host`` to the root namespace and route ``target`` through it; returns the host's address.

        See the module docstring. Calling it again for the same host adds the route to ``target`` and returns the
        same address.
        """
        host = self.hosts[host] if isinstance(host, str) else host
        if host.name in self.uplinks:
            addr = self.uplinks[host.name][1]
        else:
            # pml + pid (at most 7 digits) + u + counter: unique per process and within IFNAMSIZ (15).
            root = f"pml{os.getpid()}u{next(_uplink_counter)}"
            with _uplink_lock():
                _check_root_free(UPLINK_POOL, ours=f"{target}/32")
                addr = _free_uplink_address()
                _ip("link", "add", root, "type", "veth", "peer", "name", UPLINK_IFNAME, "netns", host.netns)
                self.uplinks[host.name] = (root, addr)
                _ip("link", "set", root, "up")
                _ip("route", "add", f"{addr}/32", "dev", root)
            host.run("ip", "addr", "add", f"{addr}/32", "dev", UPLINK_IFNAME)
            host.run("ip", "link", "set", UPLINK_IFNAME, "up")
        host.run("ip", "route", "replace", f"{target}/32", "dev", UPLINK_IFNAME, "src", addr)
        return addr

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
        for root, _addr in self.uplinks.values():
            subprocess.run(["ip", "link", "del", root], capture_output=True, check=False)
        self.uplinks.clear()
        for host in self.hosts.values():
            subprocess.run(["ip", "netns", "del", host.netns], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.bridge_ns], capture_output=True, check=False)
        self.hosts.clear()
