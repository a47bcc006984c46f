"""An in-process BGP peer on loopback for session tests: it answers the OPEN handshake as told and records what
our session sends (decoded), so tests assert on the wire, not on the session's internals."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from dataclasses import dataclass, field

from speaker.bgp.header import Framer
from speaker.bgp.keepalive import Keepalive
from speaker.bgp.message import Message, decode_body, encode_message
from speaker.bgp.notification import Notification
from speaker.bgp.open import Capability, ExtendedMessage, FourOctetAs, GracefulRestart, Multiprotocol, Open
from speaker.bgp.session import BgpSession
from speaker.bgp.settings import PeerSettings
from speaker.bgp.update import Update


@dataclass
class FakePeer:
    asn: int = 64513
    hold_time: int = 9
    capabilities: tuple[Capability, ...] | None = None
    handshake: bool = True
    received: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    connections: int = 0
    writer: asyncio.StreamWriter | None = None
    port: int = 0
    _server: asyncio.Server | None = None
    eof: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> FakePeer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def settings(self, **kw: object) -> PeerSettings:
        args: dict[str, object] = {
            "peer_address": ipaddress.IPv4Address("127.0.0.1"),
            "peer_port": self.port,
            "my_asn": 64512,
            "peer_asn": self.asn,
            "hold_time": 9.0,
            "connect_time": 5.0,
        }
        args.update(kw)
        return PeerSettings(**args)  # type: ignore[arg-type]

    @property
    def as4(self) -> bool:
        """Whether this peer speaks 4-octet AS numbers (it decodes AS_PATH accordingly)."""
        return self.open_message().four_octet_asn is not None

    def open_message(self) -> Open:
        caps = self.capabilities
        if caps is None:
            caps = (
                Multiprotocol(1, 1),
                Multiprotocol(2, 1),
                FourOctetAs(self.asn),
                GracefulRestart(120),
                ExtendedMessage(),
            )
        return Open(Open.two_octet_asn(self.asn), self.hold_time, ipaddress.IPv4Address("192.0.2.2"), caps)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writer = writer
        self.eof.clear()
        framer = Framer(max_length=65535)
        if self.handshake:
            writer.write(encode_message(self.open_message()) + encode_message(Keepalive()))
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                framer.feed(data)
                for header, body in framer.frames():
                    await self.received.put(decode_body(header.type, body, as4=self.as4))
        self.eof.set()

    def send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    async def next(self, kind: type[Message], *, timeout: float = 10.0) -> Message:
        """The next received message of ``kind`` (others are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.received.get()
                if isinstance(msg, kind):
                    return msg

    def updates(self) -> list[Update]:
        """The UPDATE messages received and not yet taken (other messages are dropped)."""
        out = []
        while not self.received.empty():
            msg = self.received.get_nowait()
            if isinstance(msg, Update):
                out.append(msg)
        return out

    async def updates_once_synced(self, session: BgpSession) -> list[Update]:
        """The UPDATEs ``session`` sent until its table is on the wire (plus 50 ms for them to arrive)."""
        await asyncio.wait_for(session.wait_synced(), 10)
        await asyncio.sleep(0.05)
        return self.updates()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._server is not None:
            self._server.close()


async def notification_or_none(peer: FakePeer) -> Notification | None:
    """What the peer got before the connection closed: a NOTIFICATION, or None."""
    async with asyncio.timeout(10):
        while True:
            get = asyncio.ensure_future(peer.received.get())
            eof = asyncio.ensure_future(peer.eof.wait())
            done, _ = await asyncio.wait({get, eof}, return_when=asyncio.FIRST_COMPLETED)
            if get in done:
                eof.cancel()
                msg = get.result()
                if isinstance(msg, Notification):
                    return msg
                continue
            get.cancel()
            while not peer.received.empty():
                msg = peer.received.get_nowait()
                if isinstance(msg, Notification):
                    return msg
            return None
