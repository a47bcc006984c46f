"""The node's interfaces as the responder needs them, followed over netlink, and MetalLB's rules for which
ones may answer ARP/NDP.

Rules (MetalLB ``internal/layer2/announcer.go`` ``updateInterfaces``): an interface is skipped when its name
matches the exclusion regex, when it is administratively down (no IFF_UP), when it has a master (a bond or
bridge member: ``/sys/class/net/<if>/master`` upstream, ``IFLA_MASTER`` here), or when it has IFF_NOARP.
Among the rest, ARP is answered on interfaces with IFF_BROADCAST, NDP on interfaces holding an IPv6
link-local address (usable: not tentative, not DAD-failed; it is also the source of our advertisements).
An interface without a 6-byte hardware address (tun, wireguard) is skipped too: we could not say "at my MAC".

The exclusion list is MetalLB's ``/etc/metallb/excludel2.yaml`` (ConfigMap ``metallb-excludel2``), YAML
``announcedInterfacesToExclude: [regex, ...]`` joined as ``(r1)|(r2)|...`` and searched anywhere in the name
(Go ``MatchString``). Where upstream excludes nothing when the file is absent, we apply the list upstream
ships in that ConfigMap (:data:`DEFAULT_EXCLUDE`): a speaker started without the chart still never answers on
``veth*``/``cali*``/``docker*``. An empty list in the file excludes nothing, as upstream.

:class:`InterfaceWatcher` dumps links and addresses over rtnetlink when netlink reports a link or address
change (a stdlib netlink socket subscribed to RTMGRP_LINK and the address groups wakes it), and every 10 s
anyway as a safety net (upstream's only mechanism is that 10 s poll). A dump costs milliseconds of Python
on the event loop, so notifications about excluded interfaces are ignored (pod churn creates and deletes
``veth*``/``cali*``/``lxc*`` devices all day) and a burst of notifications gives one dump after
:data:`SETTLE` seconds.

The dumps are two rtnetlink requests on a stdlib socket (``scan``), not pyroute2: importing any part of pyroute2
runs its package ``__init__``, which loads all of it (NDB, IPDB, nftables, ...: 7.4 MiB of the speaker's
resident memory, bench/bench_speaker.py). tests/component/test_l2_scan.py checks ``scan`` against pyroute2.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import re
import socket
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from pathlib import Path
from typing import Any

import yaml

from reconciler.runtime.tasks import create_guarded_task, stop_tasks

__all__ = [
    "DEFAULT_EXCLUDE",
    "EXCLUDE_FILE",
    "ExclusionError",
    "Ineligible",
    "Interface",
    "InterfaceWatcher",
    "compile_exclusions",
    "ineligible",
    "load_exclusions",
    "scan",
    "serves",
]

log = logging.getLogger(__name__)

EXCLUDE_FILE = Path("/etc/metallb/excludel2.yaml")
EXCLUDE_KEY = "announcedInterfacesToExclude"
# The list upstream ships in ConfigMap metallb-excludel2 (config/manifests, charts/metallb).
DEFAULT_EXCLUDE: tuple[str, ...] = (
    "^docker.*",
    "^cbr.*",
    "^dummy.*",
    "^virbr.*",
    "^lxcbr.*",
    "^veth.*",
    "^lo$",
    "^cali.*",
    "^tunl.*",
    "^flannel.*",
    "^kube-ipvs.*",
    "^cni.*",
    "^nodelocaldns.*",
    "^lxc.*",
)
RESCAN_EVERY = 10.0  # upstream's interface poll period; here only a safety net behind netlink events
SETTLE = 0.05  # coalesces a burst of netlink notifications (one link change brings several) into one dump

# <linux/if.h> and <linux/if_addr.h>, <linux/rtnetlink.h>
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_NOARP = 0x80
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 16, 17, 18, 20, 21, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP_INTR, NLM_F_DUMP = 0x1, 0x10, 0x300
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER = 1, 3, 10
IFA_ADDRESS, IFA_FLAGS = 1, 8
_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBi")  # family, prefixlen, flags, scope, index
_RTATTR = struct.Struct("=HH")  # len, type


class ExclusionError(Exception):
    """The exclusion file cannot be used; the message says where and what."""


@dataclass(frozen=True, slots=True)
class Interface:
    """One network interface. ``networks`` are the prefixes of its IPv4/IPv6 addresses."""

    name: str
    index: int
    mac: bytes | None
    up: bool
    broadcast: bool
    noarp: bool
    has_master: bool
    link_local: IPv6Address | None
    networks: tuple[IPv4Network | IPv6Network, ...] = ()


class Ineligible(enum.Enum):
    """Why an interface never answers (log strings)."""

    EXCLUDED = "excluded"
    DOWN = "down"
    HAS_MASTER = "hasMaster"
    NOARP = "noARP"
    NO_MAC = "noMAC"


def ineligible(iface: Interface, exclude: re.Pattern[str] | None) -> Ineligible | None:
    """Why ``iface`` may not answer at all, or None when it may (in MetalLB's order of checks)."""
    if exclude is not None and exclude.search(iface.name):
        return Ineligible.EXCLUDED
    if not iface.up:
        return Ineligible.DOWN
    if iface.has_master:
        return Ineligible.HAS_MASTER
    if iface.noarp:
        return Ineligible.NOARP
    if iface.mac is None:
        return Ineligible.NO_MAC
    return None


def serves(iface: Interface, ip: IPv4Address | IPv6Address) -> bool:
    """Whether an eligible ``iface`` can answer for ``ip``'s family: ARP needs IFF_BROADCAST, NDP a link-local."""
    if isinstance(ip, IPv4Address):
        return iface.broadcast
    return iface.link_local is not None


def compile_exclusions(patterns: Sequence[str], *, where: str = "exclusion list") -> re.Pattern[str] | None:
    """``(p1)|(p2)|...`` as upstream joins them; None for an empty list. A bad regex raises ExclusionError."""
    if not patterns:
        return None
    try:
        return re.compile("(" + ")|(".join(patterns) + ")")
    except re.error as exc:
        raise ExclusionError(f"{where}: invalid regular expression in {EXCLUDE_KEY}: {exc}") from None


def load_exclusions(path: Path = EXCLUDE_FILE) -> re.Pattern[str] | None:
    """The exclusion regex from ``path``; :data:`DEFAULT_EXCLUDE` when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return compile_exclusions(DEFAULT_EXCLUDE)
    except OSError as exc:
        raise ExclusionError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        doc: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ExclusionError(f"{path}: not valid YAML: {exc}") from None
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ExclusionError(f"{path}: want a mapping with key {EXCLUDE_KEY}, got {type(doc).__name__}")
    patterns = doc.get(EXCLUDE_KEY) or []
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ExclusionError(f"{path}: {EXCLUDE_KEY} must be a list of strings")
    return compile_exclusions(patterns, where=str(path))


async def scan() -> dict[str, Interface]:
    """Every interface of this network namespace, by name (one netlink dump of links and addresses)."""
    links = _dump(RTM_GETLINK, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
    addrs = _dump(RTM_GETADDR, _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
    link_local: dict[int, IPv6Address] = {}
    networks: dict[int, list[IPv4Network | IPv6Network]] = {}
    for body in addrs:
        if len(body) < _IFADDRMSG.size:
            continue
        family, prefixlen, header_flags, _, index = _IFADDRMSG.unpack_from(body)
        attrs = _attributes(body, _IFADDRMSG.size)
        raw = attrs.get(IFA_ADDRESS)
        flags = _u32(attrs.get(IFA_FLAGS)) or header_flags  # the 32-bit attribute when present, else the header
        if family == socket.AF_INET and raw is not None and len(raw) == 4:
            address: IPv4Address | IPv6Address = IPv4Address(raw)
        elif family == socket.AF_INET6 and raw is not None and len(raw) == 16:
            address = IPv6Address(raw)
            if address.is_link_local and not flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
                link_local.setdefault(index, address)
        else:
            continue
        networks.setdefault(index, []).append(ip_network(f"{address}/{prefixlen}", strict=False))
    result: dict[str, Interface] = {}
    for body in links:
        if len(body) < _IFINFOMSG.size:
            continue
        _, _, index, flags, _ = _IFINFOMSG.unpack_from(body)
        attrs = _attributes(body, _IFINFOMSG.size)
        name = attrs.get(IFLA_IFNAME, b"").split(b"\0", 1)[0].decode(errors="replace")
        if not name:
            continue
        mac = attrs.get(IFLA_ADDRESS)
        result[name] = Interface(
            name=name,
            index=index,
            mac=mac if mac is not None and len(mac) == 6 and mac != bytes(6) else None,  # not Ethernet: None
            up=bool(flags & IFF_UP),
            broadcast=bool(flags & IFF_BROADCAST),
            noarp=bool(flags & IFF_NOARP),
            has_master=bool(_u32(attrs.get(IFLA_MASTER))),
            link_local=link_local.get(index),
            networks=tuple(networks.get(index, ())),
        )
    return result


def _dump(kind: int, header: bytes) -> list[bytes]:
    """The bodies of the messages answering one rtnetlink dump request (RFC 3549 section 2.3.2); the kernel builds
    them as they are read, so the reads do not block. A dump interrupted by a concurrent change is taken again."""
    for _ in range(5):
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as sock:
            sock.settimeout(5.0)
            sock.bind((0, 0))
            sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(header), kind, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + header)
            bodies: list[bytes] = []
            interrupted = False
            while True:
                data = sock.recv(1 << 16)
                pos = 0
                while pos + _NLMSGHDR.size <= len(data):
                    length, mtype, flags, _, _ = _NLMSGHDR.unpack_from(data, pos)
                    if length < _NLMSGHDR.size or pos + length > len(data):
                        raise OSError("netlink: truncated message in a dump")
                    body = data[pos + _NLMSGHDR.size : pos + length]
                    pos += (length + 3) & ~3
                    interrupted = interrupted or bool(flags & NLM_F_DUMP_INTR)
                    if mtype == NLMSG_DONE:
                        break
                    if mtype == NLMSG_ERROR:
                        errno = -struct.unpack_from("=i", body)[0] if len(body) >= 4 else 0
                        raise OSError(errno, f"netlink dump refused: {os.strerror(errno)}")
                    bodies.append(body)
                else:
                    continue
                break
            if not interrupted:
                return bodies
    raise OSError("netlink dump interrupted five times in a row")


def _attributes(body: bytes, pos: int) -> dict[int, bytes]:
    """The route attributes (rtattr: length, type, value; 4-byte aligned) of a message body, by type."""
    attrs: dict[int, bytes] = {}
    while pos + _RTATTR.size <= len(body):
        length, kind = _RTATTR.unpack_from(body, pos)
        if length < _RTATTR.size or pos + length > len(body):
            break
        attrs.setdefault(kind & NLA_TYPE_MASK, body[pos + _RTATTR.size : pos + length])
        pos += (length + 3) & ~3
    return attrs


def _u32(value: bytes | None) -> int:
    return int(struct.unpack("=I", value)[0]) if value is not None and len(value) == 4 else 0


def concerns_us(data: bytes, exclude: re.Pattern[str] | None, names: Mapping[int, str]) -> bool:
    """Whether a datagram of rtnetlink notifications may change the inventory that matters: True unless every
    message is about an excluded interface (by name for links, by the index's known name for addresses).
    Anything unparsable counts as relevant: a spurious dump is cheap, a missed change is not."""
    pos = 0
    while pos + _NLMSGHDR.size <= len(data):
        length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size or pos + length > len(data):
            return True
        body = data[pos + _NLMSGHDR.size : pos + length]
        pos += (length + 3) & ~3
        if kind in (RTM_NEWLINK, RTM_DELLINK):
            name = _link_name(body)
            if name is None or exclude is None or not exclude.search(name):
                return True
        elif kind in (RTM_NEWADDR, RTM_DELADDR):
            if len(body) < _IFADDRMSG.size:
                return True
            name = names.get(_IFADDRMSG.unpack_from(body)[4])
            if name is None or exclude is None or not exclude.search(name):
                return True
        else:
            return True
    return pos < len(data)  # trailing bytes that are no whole message


def _link_name(body: bytes) -> str | None:
    pos = _IFINFOMSG.size
    while pos + _RTATTR.size <= len(body):
        length, kind = _RTATTR.unpack_from(body, pos)
        if length < _RTATTR.size or pos + length > len(body):
            return None
        if kind == IFLA_IFNAME:
            return body[pos + _RTATTR.size : pos + length].split(b"\0", 1)[0].decode(errors="replace")
        pos += (length + 3) & ~3
    return None


class InterfaceWatcher:
    """Keeps :attr:`current` equal to the namespace's interfaces; calls ``on_change(current)`` when it changes.

    An async context manager: entering performs the first scan (so :attr:`current` is filled on return) and
    starts the netlink subscription; leaving stops both. A failed rescan is logged and retried at the next
    event or tick; the previous inventory stays in force meanwhile.
    """

    def __init__(
        self,
        on_change: Callable[[Mapping[str, Interface]], None],
        *,
        rescan_every: float = RESCAN_EVERY,
        scanner: Callable[[], Any] = scan,
        exclude: re.Pattern[str] | None = None,
    ) -> None:
        self._on_change = on_change
        self._exclude = exclude
        self._rescan_every = rescan_every
        self._scanner = scanner
        self.current: Mapping[str, Interface] = {}
        self._wake = asyncio.Event()
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> InterfaceWatcher:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE)
        sock.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
        self._sock = sock
        loop.add_reader(sock.fileno(), self._readable)
        self.current = await self._scanner()
        self._task = create_guarded_task(self._run(), name="l2-interface-watcher", logger=log, finishable=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            await stop_tasks([self._task], timeout=5, logger=log)
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _readable(self) -> None:
        if self._sock is None:
            return
        # Only the fact of a relevant change matters: drain, then rescan the whole inventory (level-triggered).
        names = {iface.index: name for name, iface in self.current.items()}
        relevant = False
        for _ in range(256):
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                break
            except OSError:  # ENOBUFS: notifications were lost, which a full rescan covers
                relevant = True
                continue
            if not data:
                break
            relevant = relevant or concerns_us(data, self._exclude, names)
        if relevant:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._rescan_every)
                await asyncio.sleep(SETTLE)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                fresh = await self._scanner()
            except Exception as exc:  # netlink hiccup: keep the last inventory, retry next time
                log.warning("interface scan failed: %s", exc, extra={"op": "scanInterfaces"})
                continue
            if fresh != self.current:
                self.current = fresh
                self._on_change(fresh)
