"""The ARP/NDP responder on raw sockets: one ``AF_PACKET`` socket per eligible interface on the asyncio loop.

:class:`L2Responder` is an async context manager (UNOPENED → OPENED → CLOSED; it refuses to open twice, to
reopen, or to take a desired state once closed). It follows the interfaces (:class:`InterfaceWatcher`),
answers with :func:`speaker.l2.answers.respond`, and sends gratuitous packets on the upstream schedule
(:class:`GratuitousSchedule`). The caller (the speaker) hands it the WHOLE desired state with
:meth:`L2Responder.set_desired`, as MetalLB's announcer takes it (``SetBalancer``/``DeleteBalancer``), minus
the refcounting: a shared IP is one key in the mapping.

Promises:
- ``set_desired`` takes effect before it returns: withdrawn IPs are no longer answered, newly owned IPs have
  had their first gratuitous ARP (request and reply) / unsolicited NA (Override=1) sent on every interface
  that serves them, and the solicited-node multicast groups of the IPv6 ones are joined (refcounted per
  interface: two VIPs with the same low 24 bits share one group, which is left when the last goes). A group
  is joined twice: on the packet socket (PACKET_ADD_MEMBERSHIP, so the NIC's filter passes 33:33:ff:xx:xx:xx)
  and at the IP level on a plain UDP socket (IPV6_JOIN_GROUP, so the kernel sends MLD reports and switches
  doing MLD snooping forward the solicitations to us, as MetalLB's ``JoinGroup`` does). No capability is
  needed for the latter; a socket holds ~2,000 groups (``net.core.optmem_max``), more sockets are opened
  when one is full.
- Gratuitous bursts then repeat every 1.1 s until 5 s after the last trigger (``retrigger``, a new interface,
  or a change of an IP's interfaces). Nothing is sent on withdrawal (upstream neither).
- An interface that goes down, gains a master, or disappears stops answering at the next netlink event; a new
  eligible one starts, and owned IPs are re-announced on it.
- Each socket carries a classic BPF filter (ARP, IPv4/ICMP, IPv6/ICMPv6, untagged) attached before it is
  bound, so the loop is not woken by other traffic, and ignores its own outgoing frames (PACKET_IGNORE_OUTGOING, and the
  packet type as a fallback for kernels before 4.20).
- Only CAP_NET_RAW is needed (raw packet sockets, PACKET_ADD_MEMBERSHIP on them); nothing here changes
  addresses, routes or links.

I/O goes through the one-method-per-need :class:`Link` protocol (``fileno``/``recv_batch``/``send``/
``join``/``leave``/``close``); :class:`RawLink` is the thin ``AF_PACKET`` adapter, tests pass fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import errno
import logging
import re
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Protocol

from speaker.l2.answers import (
    Answered,
    AnswerKind,
    Dropped,
    DropReason,
    Event,
    PortView,
    gratuitous_arp,
    respond,
    unsolicited_na,
)
from speaker.l2.codec import multicast_mac, solicited_node
from speaker.l2.gratuitous import GratuitousSchedule
from speaker.l2.interfaces import Interface, InterfaceWatcher, ineligible, scan, serves

__all__ = [
    "InterfacesChanged",
    "L2Responder",
    "L2Stats",
    "Link",
    "RawLink",
    "ResponderState",
    "SetResult",
]

log = logging.getLogger(__name__)

IPAddress = IPv4Address | IPv6Address
Desired = Mapping[IPAddress, frozenset[str] | None]
_ABSENT = object()


def _union(sets: Iterable[frozenset[IPAddress]]) -> frozenset[IPAddress]:
    """The union; the set itself when there is one (a node with one interface: no second copy of every VIP)."""
    sets = list(sets)
    if len(sets) == 1:
        return sets[0]
    return frozenset().union(*sets)


# <linux/if_ether.h>, <linux/if_packet.h>, <asm-generic/socket.h>
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_DROP_MEMBERSHIP = 2
PACKET_MR_MULTICAST = 0
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
RECV_BATCH = 64  # frames handled per wake-up before yielding to the loop
RCVBUF = 1 << 20  # room for an ARP storm while the loop is busy

# Classic BPF: accept ARP, IPv4 whose protocol is ICMP, IPv6 whose next header is ICMPv6; drop the rest, and
# drop frames whose VLAN tag the NIC stripped into metadata: a socket on the parent device sees its VLAN
# sub-interfaces' traffic that way, and an answer sent untagged would land on the wrong VLAN.
# (code, jt, jf, k); jumps are relative to the next instruction. Offsets: EtherType at 12, IPv4 protocol at
# 14+9=23, IPv6 next header at 14+6=20. SKF_AD_OFF (-0x1000) + SKF_AD_VLAN_TAG_PRESENT (48): <linux/filter.h>.
_BPF_LDW_ABS, _BPF_LDH_ABS, _BPF_LDB_ABS, _BPF_JEQ_K, _BPF_RET_K = 0x20, 0x28, 0x30, 0x15, 0x06
_SKF_AD_VLAN_TAG_PRESENT = (-0x1000 + 48) & 0xFFFFFFFF
BPF_PROGRAM: tuple[tuple[int, int, int, int], ...] = (
    (_BPF_LDW_ABS, 0, 0, _SKF_AD_VLAN_TAG_PRESENT),  # 0: A = 1 if the frame carried an offloaded VLAN tag
    (_BPF_JEQ_K, 0, 9, 0),  # 1: untagged → 2, else drop
    (_BPF_LDH_ABS, 0, 0, 12),  # 2: A = EtherType
    (_BPF_JEQ_K, 6, 0, 0x0806),  # 3: ARP → accept
    (_BPF_JEQ_K, 0, 2, 0x0800),  # 4: IPv4 → 5, else → 7
    (_BPF_LDB_ABS, 0, 0, 23),  # 5: A = IPv4 protocol
    (_BPF_JEQ_K, 3, 4, 1),  # 6: ICMP → accept, else drop
    (_BPF_JEQ_K, 0, 3, 0x86DD),  # 7: IPv6 → 8, else drop
    (_BPF_LDB_ABS, 0, 0, 20),  # 8: A = IPv6 next header
    (_BPF_JEQ_K, 0, 1, 58),  # 9: ICMPv6 → accept, else drop
    (_BPF_RET_K, 0, 0, 0x40000),  # 10: accept (up to 256 KiB)
    (_BPF_RET_K, 0, 0, 0),  # 11: drop
)


class ResponderState(enum.Enum):
    UNOPENED = "unopened"  # constructed; set_desired records the state, nothing is on the wire yet
    OPENED = "opened"  # sockets open, answering and announcing
    CLOSED = "closed"  # sockets closed; set_desired and re-entering refuse


@dataclass(frozen=True, slots=True)
class SetResult:
    """What ``set_desired`` did. ``missing_interfaces``: IPs restricted to interfaces none of which is eligible
    here (MetalLB's Warning ``announceFailed``). ``unserved``: every IP answered on no interface at all (it
    includes ``missing_interfaces``; e.g. an IPv6 VIP with no interface holding a link-local address)."""

    added: frozenset[IPAddress]
    removed: frozenset[IPAddress]
    missing_interfaces: frozenset[IPAddress]
    unserved: frozenset[IPAddress]


@dataclass(frozen=True, slots=True)
class InterfacesChanged:
    """The set of answering interfaces changed; ``interfaces`` are their names now (call set_desired again to
    refresh ``missing_interfaces``)."""

    interfaces: frozenset[str]


@dataclass
class L2Stats:
    """Counters per IP, for ``metallb_layer2_requests_received``, ``..._responses_sent``, ``..._gratuitous_sent``
    (ARP counts 2 per gratuitous burst: request and reply, as upstream). Monotonic; never reset."""

    requests_received: Counter[IPAddress]
    responses_sent: Counter[IPAddress]
    gratuitous_sent: Counter[IPAddress]


class Link(Protocol):
    """The socket of one interface, as the responder uses it."""

    def fileno(self) -> int: ...
    def recv_batch(self, limit: int) -> list[bytes]: ...
    def send(self, frame: bytes) -> bool: ...
    def join(self, group: IPv6Address) -> None: ...
    def leave(self, group: IPv6Address) -> None: ...
    def close(self) -> None: ...


class RawLink:
    """An ``AF_PACKET``/``SOCK_RAW`` socket bound to one interface, BPF-filtered, non-blocking."""

    def __init__(self, iface: Interface) -> None:
        self._index = iface.index
        # Protocol 0 receives nothing until bind(): the filter is in place before the first frame can queue.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0)
        try:
            _attach_filter(sock)
            self._skip_outgoing = True
            try:
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
                self._skip_outgoing = False
            except OSError:
                pass  # before Linux 4.20: recv_batch filters on the packet type instead
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            sock.bind((iface.name, ETH_P_ALL))
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._name = iface.name
        self._mld: list[socket.socket] = []  # UDP sockets holding IP-level memberships
        self._mld_holder: dict[IPv6Address, socket.socket] = {}

    def fileno(self) -> int:
        return self._sock.fileno()

    def recv_batch(self, limit: int) -> list[bytes]:
        frames: list[bytes] = []
        for _ in range(limit):
            try:
                data, addr = self._sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. ENETDOWN while the link goes away; the watcher will close us
                log.debug("receive failed: %s", exc, extra={"op": "l2Receive"})
                break
            if self._skip_outgoing and addr[2] == PACKET_OUTGOING:
                continue
            frames.append(data)
        return frames

    def send(self, frame: bytes) -> bool:
        try:
            self._sock.send(frame)
        except OSError as exc:  # ENOBUFS, ENETDOWN, EAGAIN: the frame is lost, counted by the caller
            log.debug("send failed: %s", exc, extra={"op": "l2Send"})
            return False
        return True

    def join(self, group: IPv6Address) -> None:
        self._sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, _mreq(self._index, multicast_mac(group)))
        try:
            self._join_ip(group)
        except OSError as exc:  # the link-level membership still lets us hear solicitations on a plain LAN
            log.warning(
                "cannot join %s at the IP level on %s (no MLD report): %s",
                group,
                self._name,
                exc,
                extra={"op": "l2Join", "interface": self._name},
            )

    def _join_ip(self, group: IPv6Address) -> None:
        mreq = group.packed + struct.pack("@I", self._index)
        for holder in reversed(self._mld):
            try:
                holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
            except OSError as exc:
                if exc.errno not in (errno.ENOMEM, errno.ENOBUFS):
                    raise
                continue  # this socket is full (optmem_max)
            self._mld_holder[group] = holder
            return
        holder = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        except OSError:
            holder.close()
            raise
        self._mld.append(holder)
        self._mld_holder[group] = holder

    def leave(self, group: IPv6Address) -> None:
        with contextlib.suppress(OSError):  # already gone with the interface
            self._sock.setsockopt(SOL_PACKET, PACKET_DROP_MEMBERSHIP, _mreq(self._index, multicast_mac(group)))
        holder = self._mld_holder.pop(group, None)
        if holder is not None:
            with contextlib.suppress(OSError):
                holder.setsockopt(
                    socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP, group.packed + struct.pack("@I", self._index)
                )

    def close(self) -> None:
        self._sock.close()
        for holder in self._mld:  # closing drops the memberships
            holder.close()
        self._mld.clear()
        self._mld_holder.clear()


def _mreq(index: int, mac: bytes) -> bytes:
    # struct packet_mreq { int mr_ifindex; unsigned short mr_type, mr_alen; unsigned char mr_address[8]; }
    return struct.pack("iHH8s", index, PACKET_MR_MULTICAST, len(mac), mac)


def _attach_filter(sock: socket.socket) -> None:
    program = b"".join(struct.pack("HBBI", *insn) for insn in BPF_PROGRAM)
    buf = ctypes.create_string_buffer(program)
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; } (native alignment)
    fprog = struct.pack("HL", len(BPF_PROGRAM), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


@dataclass
class _Port:
    """One answering interface: its socket, what ``respond`` sees, and the multicast groups joined on it."""

    iface: Interface
    link: Link
    view: PortView
    groups: Counter[IPv6Address]
    """VIPs owned here per solicited-node group (the group is joined while its count is positive)."""
    unjoined: set[IPv6Address] = field(default_factory=set)
    """Groups whose join failed (e.g. ENOBUFS): tried again at the next change."""


class L2Responder:
    """Answers ARP/NDP (and optionally ping) for the IPs of the last :meth:`set_desired`. See the module doc.

    ``exclude``: interface-name regex (``interfaces.load_exclusions()``); ``answer_ping``: reply to echo
    requests for owned IPs; ``subnet_only``: answer for an IP only on interfaces holding an address in a prefix
    that contains it (off by default: MetalLB answers on every interface, metallb#277); ``on_event``: called
    with every :class:`~speaker.l2.answers.Event` (answers, drops with reason, duplicate announcers) and
    :class:`InterfacesChanged`; it must not block. ``clock`` is monotonic seconds (``first_gratuitous_at``);
    ``gratuitous`` replaces upstream's 1.1 s / 5 s schedule (tests).
    """

    def __init__(
        self,
        *,
        exclude: re.Pattern[str] | None = None,
        answer_ping: bool = False,
        subnet_only: bool = False,
        on_event: Callable[[Event | InterfacesChanged], None] | None = None,
        link_factory: Callable[[Interface], Link] = RawLink,
        scanner: Callable[[], Any] = scan,
        rescan_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        gratuitous: GratuitousSchedule[IPAddress] | None = None,
    ) -> None:
        self._exclude = exclude
        self._answer_ping = answer_ping
        self._subnet_only = subnet_only
        self._on_event = on_event
        self._link_factory = link_factory
        self._clock = clock
        self._watcher = InterfaceWatcher(
            self._interfaces_changed, rescan_every=rescan_every, scanner=scanner, exclude=exclude
        )
        self.state = ResponderState.UNOPENED
        self.stats = L2Stats(Counter(), Counter(), Counter())
        self._desired: dict[IPAddress, frozenset[str] | None] = {}
        self._unserved: set[IPAddress] = set()  # desired, answered on no port (kept as the views change)
        self._ports: dict[str, _Port] = {}
        self._inventory: Mapping[str, Interface] = {}
        self._schedule: GratuitousSchedule[IPAddress] = gratuitous if gratuitous is not None else GratuitousSchedule()
        self._first_gratuitous: dict[IPAddress, float] = {}
        self._awaiting_first: set[IPAddress] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def __aenter__(self) -> L2Responder:
        if self.state is ResponderState.OPENED:
            raise RuntimeError("L2Responder is already open; use one `async with` per responder")
        if self.state is ResponderState.CLOSED:
            raise RuntimeError("L2Responder was closed and cannot be reopened; create a new one")
        self._loop = asyncio.get_running_loop()
        await self._watcher.__aenter__()
        self.state = ResponderState.OPENED
        try:
            self._sync_ports(self._watcher.current)
            now = self._clock()
            for ip in self._desired:
                self._start_announcing(ip, now)
            self._spam()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.state is not ResponderState.OPENED:
            return
        self.state = ResponderState.CLOSED
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._watcher.__aexit__()
        for name in list(self._ports):
            self._close_port(name)

    # -- the API the speaker calls -----------------------------------------------------------------------

    def set_desired(self, desired: Desired) -> SetResult:
        """Answer for exactly the IPs of ``desired`` from now on: IP → names of the interfaces to answer on,
        or None for every eligible interface. An empty mapping withdraws everything. Costs O(len(desired));
        ``update`` costs O(change)."""
        new = dict(desired)
        return self.update(
            {ip: names for ip, names in new.items() if self._desired.get(ip, _ABSENT) != names},
            [ip for ip in self._desired if ip not in new],
        )

    def update(self, changes: Desired, removed: Iterable[IPAddress] = ()) -> SetResult:
        """Change only these IPs of the desired state: answer for each IP of ``changes`` (on the named
        interfaces, or every eligible one for None) and no longer for those of ``removed`` (an IP in both is
        kept). Costs O(len(changes) + len(removed)) for the views and multicast groups, whatever the table's
        size (plus C-speed set unions); the promises of ``set_desired`` hold."""
        if self.state is ResponderState.CLOSED:
            raise RuntimeError("L2Responder is closed; set_desired has no effect after the `async with` ends")
        desired = self._desired
        gone = frozenset(ip for ip in removed if ip in desired and ip not in changes)
        added = frozenset(ip for ip in changes if ip not in desired)
        moved = frozenset(ip for ip, names in changes.items() if ip in desired and desired[ip] != names)
        for ip in gone:
            del desired[ip]
            self._schedule.cancel(ip)
            self._awaiting_first.discard(ip)
            self._first_gratuitous.pop(ip, None)
        desired.update(changes)
        if self.state is ResponderState.OPENED:
            self._update_views(added | moved | gone)
            now = self._clock()
            for ip in added | moved:
                self._start_announcing(ip, now)
            self._spam()
        return self._result(added, gone)

    def retrigger(self, ip: IPAddress) -> None:
        """Send a new gratuitous burst for an owned ``ip`` now (and for 5 s); ignored for IPs not owned."""
        if self.state is ResponderState.OPENED and ip in self._desired:
            self._schedule.trigger(ip, self._clock())
            self._spam()

    def first_gratuitous_at(self, ip: IPAddress) -> float | None:
        """``clock()`` time of the first gratuitous packet sent for ``ip`` since it was last added, or None (none
        sent yet, or every burst window is over: the times are kept only while some burst is still to come)."""
        return self._first_gratuitous.get(ip)

    @property
    def interfaces(self) -> frozenset[str]:
        """Names of the interfaces answering now."""
        return frozenset(self._ports)

    def served_on(self, ip: IPAddress) -> frozenset[str]:
        """Names of the interfaces answering for ``ip`` now."""
        return frozenset(name for name, port in self._ports.items() if ip in port.view.owned)

    # -- internals ---------------------------------------------------------------------------------------

    def _result(self, added: frozenset[IPAddress], removed: frozenset[IPAddress]) -> SetResult:
        if self.state is not ResponderState.OPENED:  # not known before the first scan
            return SetResult(added, removed, frozenset(), frozenset())
        unserved = frozenset(self._unserved)
        missing = frozenset(ip for ip in unserved if self._desired[ip] is not None and not self._named_ok(ip))
        return SetResult(added, removed, missing, unserved)

    def _named_ok(self, ip: IPAddress) -> bool:
        names = self._desired[ip]
        return names is None or any(name in self._ports for name in names)

    def _start_announcing(self, ip: IPAddress, now: float) -> None:
        if ip not in self._first_gratuitous:
            self._awaiting_first.add(ip)
        self._schedule.trigger(ip, now)

    def _interfaces_changed(self, inventory: Mapping[str, Interface]) -> None:
        if self.state is not ResponderState.OPENED:
            return
        before = {name: (port.view.owned, port.view.mac) for name, port in self._ports.items()}
        self._sync_ports(inventory)
        now = self._clock()
        fresh: set[IPAddress] = set()
        for name, port in self._ports.items():
            owned, mac = before.get(name, (frozenset(), b""))
            # A new port, or one whose MAC changed, must tell the LAN about every IP it answers for.
            fresh |= port.view.owned if mac != port.view.mac else port.view.owned - owned
        for ip in fresh:
            self._start_announcing(ip, now)
        self._spam()
        if set(before) != set(self._ports):
            self._emit(InterfacesChanged(frozenset(self._ports)))

    def _sync_ports(self, inventory: Mapping[str, Interface]) -> None:
        self._inventory = inventory
        wanted = {
            name: iface
            for name, iface in inventory.items()
            if ineligible(iface, self._exclude) is None and (iface.broadcast or iface.link_local is not None)
        }
        for name, port in list(self._ports.items()):
            if name not in wanted or wanted[name].index != port.iface.index:
                log.info("stop answering on %s", name, extra={"op": "l2Interfaces", "interface": name})
                self._close_port(name)
        for name, iface in wanted.items():
            existing = self._ports.get(name)
            if existing is not None:
                existing.iface = iface
                continue
            try:
                link = self._link_factory(iface)
            except PermissionError:
                raise  # no CAP_NET_RAW: nothing will ever work, say so instead of idling
            except OSError as exc:
                log.warning(
                    "cannot open a packet socket on %s: %s",
                    name,
                    exc,
                    extra={"op": "l2Interfaces", "interface": name},
                )
                continue
            self._ports[name] = _Port(iface, link, self._empty_view(iface), Counter())
            assert self._loop is not None
            self._loop.add_reader(link.fileno(), self._readable, name)
            log.info("answering on %s", name, extra={"op": "l2Interfaces", "interface": name})
        self._rebuild_views()

    def _empty_view(self, iface: Interface) -> PortView:
        return PortView(iface.name, iface.mac or bytes(6), frozenset(), frozenset(), frozenset())

    def _close_port(self, name: str) -> None:
        port = self._ports.pop(name)
        if self._loop is not None:
            self._loop.remove_reader(port.link.fileno())
        port.link.close()

    def _serves(self, iface: Interface, ip: IPAddress, names: frozenset[str] | None) -> bool:
        if names is not None and iface.name not in names:
            return False
        if not serves(iface, ip):
            return False
        return not self._subnet_only or any(ip in net for net in iface.networks if net.version == ip.version)

    def _rebuild_views(self) -> None:
        """Every port's view from the whole desired state (the interfaces changed)."""
        our_macs = frozenset(i.mac for i in self._inventory.values() if i.mac is not None)
        owned_by_port = {
            name: frozenset(ip for ip, names in self._desired.items() if self._serves(port.iface, ip, names))
            for name, port in self._ports.items()
        }
        owned_any = _union(owned_by_port.values())
        self._unserved = {ip for ip in self._desired if ip not in owned_any}
        for name, port in self._ports.items():
            old = port.view.owned
            port.view = self._view(port, owned_by_port[name], owned_any, our_macs)
            self._sync_groups(port, old - port.view.owned, port.view.owned - old)

    def _update_views(self, touched: frozenset[IPAddress]) -> None:
        """The ports' views after the IPs of ``touched`` changed (added, moved or removed): only those are
        judged again."""
        if not touched:
            return
        desired = self._desired
        owned_by_port = {}
        for name, port in self._ports.items():
            now = {ip for ip in touched if ip in desired and self._serves(port.iface, ip, desired[ip])}
            owned_by_port[name] = (port.view.owned - touched) | now
        owned_any = _union(owned_by_port.values())
        for ip in touched:
            if ip in desired and ip not in owned_any:
                self._unserved.add(ip)
            else:
                self._unserved.discard(ip)
        if not self._ports:
            return
        our_macs = next(iter(self._ports.values())).view.our_macs
        for name, port in self._ports.items():
            old = port.view.owned
            port.view = self._view(port, owned_by_port[name], owned_any, our_macs)
            self._sync_groups(port, old & touched, port.view.owned & touched)

    def _view(
        self, port: _Port, owned: frozenset[IPAddress], owned_any: frozenset[IPAddress], our_macs: frozenset[bytes]
    ) -> PortView:
        iface = port.iface
        return PortView(
            name=iface.name,
            mac=iface.mac or bytes(6),
            owned=owned,
            owned_any=owned_any,
            our_macs=our_macs,
            answer_ping=self._answer_ping,
        )

    def _sync_groups(self, port: _Port, left: Iterable[IPAddress], joined: Iterable[IPAddress]) -> None:
        """Refcount the solicited-node groups of the IPv6 VIPs this port ``left`` (no longer owned) and ``joined``
        (now owned; an IP in both stays), join and leave the groups whose count crossed zero, and try again the
        joins that failed before."""
        groups = port.groups
        stale: set[IPv6Address] = set()
        fresh: set[IPv6Address] = set()
        for ip in left:
            if isinstance(ip, IPv6Address):
                group = solicited_node(ip)
                groups[group] -= 1
                if groups[group] <= 0:
                    del groups[group]
                    stale.add(group)
        for ip in joined:
            if isinstance(ip, IPv6Address):
                group = solicited_node(ip)
                if group not in groups:
                    fresh.add(group)
                groups[group] += 1
        for group in stale - fresh:
            if group in port.unjoined:
                port.unjoined.discard(group)  # never joined: nothing to leave
            else:
                port.link.leave(group)
        for group in (fresh - stale) | port.unjoined:
            try:
                port.link.join(group)
            except OSError as exc:
                log.warning("cannot join %s on %s: %s", group, port.iface.name, exc, extra={"op": "l2Join"})
                port.unjoined.add(group)  # tried again at the next change
            else:
                port.unjoined.discard(group)

    def _readable(self, name: str) -> None:
        port = self._ports.get(name)
        if port is None:
            return
        for frame in port.link.recv_batch(RECV_BATCH):
            reply = respond(port.view, frame)
            event: Event = reply.event
            sent = all([port.link.send(out) for out in reply.frames])
            if isinstance(event, Answered) and event.kind in (AnswerKind.ARP, AnswerKind.NDP):
                self.stats.requests_received[event.ip] += 1
                if sent:
                    self.stats.responses_sent[event.ip] += 1
            if not sent:
                event = Dropped(DropReason.ERROR, name, getattr(event, "ip", None), "send failed")
            self._emit(event)

    def _emit(self, event: Event | InterfacesChanged) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a broken callback must not stop the answers
            log.exception("on_event callback failed", extra={"op": "l2Event"})

    def _spam(self) -> None:
        """Send every burst due now, then arm the timer for the next one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self._clock()
        for ip in self._schedule.due(now):
            self._gratuitous(ip, now)
        if not self._schedule and self._first_gratuitous:
            # Every burst window is over: the first-packet times have been read (the speaker reads them as it hands
            # over the IPs). Dropped, with their table: ~0.5 MiB kept per 10,000 IPs otherwise.
            self._first_gratuitous = {}
        deadline = self._schedule.next_deadline()
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_later(max(0.0, deadline - self._clock()), self._spam)

    def _gratuitous(self, ip: IPAddress, now: float) -> None:
        frames_sent = 0
        for port in self._ports.values():
            if ip not in port.view.owned or port.iface.mac is None:
                continue
            frames: Iterable[bytes]
            if isinstance(ip, IPv4Address):
                frames = gratuitous_arp(port.iface.mac, ip)
            elif port.iface.link_local is not None:
                frames = (unsolicited_na(port.iface.mac, ip),)
            else:
                continue
            frames_sent += sum(1 for frame in frames if port.link.send(frame))
        if frames_sent:
            self.stats.gratuitous_sent[ip] += frames_sent
            if ip in self._awaiting_first:
                self._awaiting_first.discard(ip)
                self._first_gratuitous[ip] = now
                if not self._awaiting_first:
                    self._awaiting_first = set()  # a set never shrinks as items go (0.5 MiB after 10,000 IPs)
