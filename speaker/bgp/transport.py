"""TCP for BGP: the socket options a session needs, and nothing else (a thin adapter, STYLE habit 13).

* TCP MD5 signatures (RFC 2385) through ``setsockopt(IPPROTO_TCP, TCP_MD5SIG)`` keyed on the peer address, as
  MetalLB does; set before ``connect`` (active) or on the listening socket (passive).
* TTL (IPv4) / hop limit (IPv6): 1 for single-hop eBGP, 255 for multihop eBGP and iBGP (GTSM-style peers and
  ``ebgp-multihop`` both accept 255).
* Optional bind to a source address, with MetalLB's error text when it does not exist here.

``connect(...)`` returns asyncio streams; ``Listener`` accepts connections from one peer address for a passive
session and hands them over one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import struct

__all__ = ["TCP_MD5SIG", "Listener", "TransportError", "connect", "md5sig_option"]

TCP_MD5SIG = 14  # linux/tcp.h
_TCP_MD5SIG_MAXKEYLEN = 80  # linux/tcp.h
_SOCKADDR_STORAGE = 128

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TransportError(OSError):
    """A connection could not be made; ``str()`` is a sentence for an Event."""


def md5sig_option(peer: IPAddress, password: str) -> bytes:
    """``struct tcp_md5sig`` for ``peer`` (linux/tcp.h): sockaddr_storage, flags, prefixlen, keylen, ifindex, key."""
    key = password.encode()
    if len(key) > _TCP_MD5SIG_MAXKEYLEN:
        raise ValueError(f"TCP MD5 password of {len(key)} octets exceeds {_TCP_MD5SIG_MAXKEYLEN}")
    if peer.version == 4:
        addr = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 0) + peer.packed
    else:
        addr = struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", 0, 0) + peer.packed + struct.pack("=I", 0)
    addr = addr.ljust(_SOCKADDR_STORAGE, b"\0")
    return addr + struct.pack("=BBHI", 0, 0, len(key), 0) + key.ljust(_TCP_MD5SIG_MAXKEYLEN, b"\0")


def _socket(
    peer: IPAddress, *, ttl: int, password: str | None, source: IPAddress | None, port: int = 0
) -> socket.socket:
    family = socket.AF_INET if peer.version == 4 else socket.AF_INET6
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
        # Small UPDATEs go out at once (a one-route change is latency, not throughput).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if password:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig_option(peer, password))
        if source is not None or port:
            host = str(source) if source is not None else ("0.0.0.0" if family == socket.AF_INET else "::")
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    raise TransportError(exc.errno, f'address "{source}" doesn\'t exist on this host') from exc
                raise TransportError(exc.errno, f"cannot bind {host}:{port}: {exc.strerror}") from exc
        return sock
    except BaseException:
        sock.close()
        raise


async def connect(
    peer: IPAddress,
    port: int,
    *,
    ttl: int,
    password: str | None = None,
    source: IPAddress | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An established TCP connection to ``peer:port`` (the caller bounds the time it may take)."""
    sock = _socket(peer, ttl=ttl, password=password, source=source)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (str(peer), port))
    except OSError as exc:
        sock.close()
        raise TransportError(exc.errno, f"connect to {_hostport(peer, port)}: {exc.strerror or exc}") from exc
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


def _hostport(addr: IPAddress, port: int) -> str:
    return f"[{addr}]:{port}" if addr.version == 6 else f"{addr}:{port}"


class Listener:
    """A passive session's listening socket: accepts only ``peer``, keeps the newest connection for ``accept()``.

    One ``Listener`` per (local address, port): a node with several passive peers on one port needs the lead's
    shared listener (not built here; documented in docs/bgp.md).
    """

    def __init__(self, peer: IPAddress, *, port: int, ttl: int, password: str | None, source: IPAddress | None) -> None:
        self.peer = peer
        self._args = (port, ttl, password, source)
        self._server: asyncio.Server | None = None
        self._queue: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def start(self) -> None:
        port, ttl, password, source = self._args
        sock = _socket(self.peer, ttl=ttl, password=password, source=source, port=port)
        try:
            sock.listen(8)
        except OSError as exc:
            sock.close()
            raise TransportError(exc.errno, f"cannot listen on port {port}: {exc.strerror}") from exc
        self._server = await asyncio.start_server(self._accepted, sock=sock)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        remote = ipaddress.ip_address(writer.get_extra_info("peername")[0])
        if isinstance(remote, ipaddress.IPv6Address) and remote.ipv4_mapped is not None:
            remote = remote.ipv4_mapped
        if remote != self.peer:
            writer.close()
            return
        self._queue.put_nowait((reader, writer))

    async def accept(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await self._queue.get()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        while not self._queue.empty():
            _, writer = self._queue.get_nowait()
            writer.close()
