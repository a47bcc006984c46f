"""One BGP session to one peer, on asyncio: ``BgpSession``, its state enum, events and statistics.

Promises:

* ``async with BgpSession(settings, on_event=...) as s:`` connects (or, ``passive``, accepts) in the background and
  keeps doing so: reconnect backoff is 0 s, then 1 s doubling to 2 min with jitter, reset once Established
  (MetalLB's rule). A session is entered once; using it after ``close()`` raises ``SessionUsageError``.
* OPEN negotiation: hold time = min(ours, the peer's) (0 disables keepalives and the hold timer), keepalive =
  configured or hold/3 (never more than hold/3); the peer's ASN (its 4-octet capability if sent) must equal
  ``peer_asn`` (MetalLB's texts: ``unexpected peer ASN <got>, want <want>``, ``invalid hold time "<n>", must be
  0 or >=3s``); a peer without 4-octet AS support gets AS_TRANS and AS4_PATH (RFC 6793 §4.2.2), where MetalLB
  gives up.
* The hold timer is enforced: no message from the peer for the negotiated hold time sends NOTIFICATION 4/0 and
  ends the session (MetalLB native does not enforce it). Malformed messages end it with the NOTIFICATION the
  codec names (RFC 4271 §6, RFC 7606); nothing the peer sends reaches the caller as an exception.
* ``set_desired(routes)`` takes the WHOLE desired Adj-RIB-Out (an empty mapping withdraws everything). The
  session sends only the difference from what it has advertised, packed many prefixes per UPDATE; after a
  reconnect it sends the whole table, then End-of-RIB for each family (RFC 4724 §2). Routes from the peer are
  read and dropped (MetalLB never accepts routes).
* ``update(changes)`` changes only the prefixes it names (``None`` withdraws one) and costs O(change): only
  those prefixes are compared with the Adj-RIB-Out and sent. Any mix of ``set_desired`` and ``update`` leaves
  the Adj-RIB-Out equal to the table the calls describe; a reconnect or a ROUTE-REFRESH re-sends that whole
  table as after ``set_desired``.
* ``close()`` sends Cease / Administrative Shutdown (RFC 4486) so routers withdraw at once; ``close(keep_routes=
  True)`` with graceful restart negotiated drops the TCP connection without a NOTIFICATION, so routers keep the
  routes for the restart time (what a speaker restart wants).
* ``on_event`` is called (synchronously, never raising into us) for state changes, session up/down with the
  reason (the peer's NOTIFICATION text when it sent one) and errors with readable reasons. ``stats`` feeds the
  ``metallb_bgp_*`` metrics. All timing uses the injected ``Clock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import operator
import random
import struct
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Self

from reconciler.runtime.backoff import Backoff
from reconciler.runtime.clock import Clock, RealClock, wait_for
from reconciler.runtime.tasks import create_guarded_task
from speaker.bgp import transport
from speaker.bgp.codes import CeaseSubcode, ErrorCode, FsmSubcode, OpenSubcode
from speaker.bgp.constants import EXTENDED_MAX_MESSAGE, MAX_MESSAGE, Afi, Safi
from speaker.bgp.errors import BgpDecodeError
from speaker.bgp.header import Framer
from speaker.bgp.keepalive import Keepalive
from speaker.bgp.message import Message, decode_body, encode_message
from speaker.bgp.notification import Notification
from speaker.bgp.open import (
    ExtendedMessage,
    FourOctetAs,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    Open,
    RouteRefreshCapability,
)
from speaker.bgp.route_refresh import RouteRefresh
from speaker.bgp.routes import V6_KEY_BIT, PathContext, Prefix, RouteAttrs, build_updates, prefix_key
from speaker.bgp.settings import IPAddress, PeerSettings
from speaker.bgp.update import Update

__all__ = [
    "BgpSession",
    "Connector",
    "EventKind",
    "SessionEvent",
    "SessionState",
    "SessionStats",
    "SessionUsageError",
]

_log = logging.getLogger(__name__)

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connector = Callable[[], Awaitable[Streams]]
"""How a session gets a connection: returns connected streams or raises OSError/TimeoutError (tests inject one)."""

# RFC 4271 §8.2.2: the hold timer while waiting for the peer's OPEN ("a large value", 4 minutes suggested).
OPEN_HOLD_TIME = 240.0
# How long a closing session waits for its last NOTIFICATION to leave the socket buffer.
NOTIFICATION_FLUSH_TIME = 1.0
BACKOFF_INITIAL, BACKOFF_CAP = 1.0, 120.0  # MetalLB: 1 s doubling to 2 min


class SessionState(StrEnum):
    """RFC 4271 §8.2.2 states, plus Closed once ``close()`` ran."""

    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPEN_SENT = "OpenSent"
    OPEN_CONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"
    CLOSED = "Closed"


class EventKind(StrEnum):
    """What a ``SessionEvent`` reports; UP/DOWN use MetalLB's log event names."""

    STATE = "stateChanged"
    UP = "sessionUp"
    DOWN = "sessionDown"
    ERROR = "sessionError"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """``reason`` is a sentence for an Event or a log; ``notification`` the NOTIFICATION involved, if any, and
    ``notification_sent`` whether we sent it (else the peer did)."""

    kind: EventKind
    peer: str
    state: SessionState
    reason: str = ""
    notification: Notification | None = None
    notification_sent: bool = False


@dataclass(slots=True)
class SessionStats:
    """Counters for ``metallb_bgp_session_up``, ``_updates_total``, ``_announced_prefixes_total`` and
    ``_pending_prefixes_total`` (desired prefixes, MetalLB's meaning). Read them; the session writes them."""

    up: bool = False
    updates_sent: int = 0
    announced: int = 0
    pending: int = 0
    notifications_sent: int = 0
    notifications_received: int = 0


class SessionUsageError(RuntimeError):
    """The session was used out of order (entered twice, or used after ``close()``)."""


class _Phase(Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


class _Ended(Exception):
    """The current connection is over; the session reconnects unless it is closing."""

    def __init__(self, reason: str, notification: Notification | None = None, *, sent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.notification = notification
        self.sent = sent


@dataclass(slots=True)
class _Negotiated:
    hold: float
    keepalive: float
    as4: bool
    families: frozenset[Afi]
    max_length: int
    graceful_restart: bool
    peer_asn: int
    local: IPAddress | None
    eor_sent: set[Afi] = field(default_factory=set)


_PREFIX_TYPES = (ipaddress.IPv4Network, ipaddress.IPv6Network)
_MISS: tuple[object, int] = (None, -1)  # a cache miss: its object is never the prefix looked up


def _router_id_from_name(name: str) -> ipaddress.IPv4Address:
    # MetalLB: little-endian CRC32-IEEE of the node name when the socket has no IPv4 address.
    return ipaddress.IPv4Address(struct.pack("<I", zlib.crc32(name.encode())))


class BgpSession:
    """See the module docstring. Not thread-safe: call it from its event loop."""

    def __init__(
        self,
        settings: PeerSettings,
        *,
        on_event: Callable[[SessionEvent], None],
        clock: Clock | None = None,
        connector: Connector | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._on_event = on_event
        self._clock: Clock = clock or RealClock()
        self._connector = connector
        self._rng = rng or random.Random()
        self._phase = _Phase.NEW
        self.state = SessionState.IDLE
        self.stats = SessionStats()
        # Invariant: _advertised holds exactly what the peer has from us on the current connection (empty while
        # not Established); _desired is the caller's last set_desired(), copied. Both are keyed by prefix_key()
        # (ints hash in C; ipaddress networks hash in Python, which dominated a 10,000-route diff).
        self._desired: dict[int, RouteAttrs] = {}
        self._advertised: dict[int, RouteAttrs] = {}
        # Which keys the next flush compares: all of them (_full: after set_desired, a (re)connect or a
        # ROUTE-REFRESH), else only those update() touched since the last flush (_dirty). _generation counts the
        # caller's changes, so a flush knows whether it sent the latest one.
        self._full = True
        self._dirty: set[int] = set()
        self._generation = 0
        self._unsendable: frozenset[int] = frozenset()
        self._keys: dict[int, tuple[Prefix, int]] = {}  # id(prefix) -> (prefix, prefix_key(prefix))
        self._wake = asyncio.Event()
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: transport.Listener | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._negotiated: _Negotiated | None = None
        self._keep_routes = False

    # Public API -----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._phase is not _Phase.NEW:
            raise SessionUsageError(f"BGP session to {self.settings.peer_label} was already started")
        self._phase = _Phase.RUNNING
        self._task = create_guarded_task(self._run(), name=f"bgp-session-{self.settings.peer_label}", logger=_log)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def set_desired(self, routes: Mapping[Prefix, RouteAttrs]) -> None:
        """Replace the whole desired Adj-RIB-Out; only the difference is sent (``{}`` withdraws everything)."""
        if self._phase is _Phase.CLOSED:
            raise SessionUsageError(f"BGP session to {self.settings.peer_label} is closed")
        self._desired = self._keyed(routes)
        self._full = True
        self._dirty.clear()
        self._changed()

    def update(self, changes: Mapping[Prefix, RouteAttrs | None]) -> None:
        """Change only these prefixes of the desired Adj-RIB-Out: new attributes, or ``None`` to withdraw one.
        Costs O(len(changes)), whatever the table's size; only the prefixes whose attributes differ from what the
        peer has are sent."""
        if self._phase is _Phase.CLOSED:
            raise SessionUsageError(f"BGP session to {self.settings.peer_label} is closed")
        keyed: list[tuple[int, RouteAttrs | None]] = []
        for prefix, attrs in changes.items():
            if not isinstance(prefix, _PREFIX_TYPES):
                raise TypeError(f"route key {prefix!r} is not an IPv4Network or IPv6Network")
            if attrs is not None and not isinstance(attrs, RouteAttrs):
                raise TypeError(f"attributes of {prefix} are not RouteAttrs or None")
            keyed.append((prefix_key(prefix), attrs))
        if not keyed:
            return
        desired, dirty = self._desired, self._dirty
        for key, attrs in keyed:
            if attrs is None:
                desired.pop(key, None)
            else:
                desired[key] = attrs
            dirty.add(key)
        self._changed()

    def _changed(self) -> None:
        self._generation += 1
        self.stats.pending = len(self._desired)
        self._synced.clear()
        self._wake.set()

    def _keyed(self, routes: Mapping[Prefix, RouteAttrs]) -> dict[int, RouteAttrs]:
        """``routes`` keyed by ``prefix_key``. Callers usually hand the same network objects again, so keys are
        remembered by object identity (the cache holds the objects, so an id cannot be reused while cached), and
        that common case runs in C-level maps: a 10,000-route table costs about a millisecond, not 15."""
        prefixes = list(routes)
        values = list(routes.values())
        if not all(map(isinstance, values, itertools.repeat(RouteAttrs))):
            bad = next(p for p, a in routes.items() if not isinstance(a, RouteAttrs))
            raise TypeError(f"attributes of {bad} are not RouteAttrs")
        cache = self._keys
        ids = list(map(id, prefixes))
        hits: list[tuple[object, int]] = list(map(cache.get, ids, itertools.repeat(_MISS)))
        ok = list(map(operator.is_, map(operator.itemgetter(0), hits), prefixes))
        if not all(ok):
            # Only the new objects are keyed in Python.
            for i in itertools.compress(range(len(ok)), map(operator.not_, ok)):
                prefix = prefixes[i]
                if not isinstance(prefix, _PREFIX_TYPES):
                    raise TypeError(f"route key {prefix!r} is not an IPv4Network or IPv6Network")
                hits[i] = cache[ids[i]] = (prefix, prefix_key(prefix))
            if len(cache) > 2 * len(prefixes) + 1024:  # forget objects no longer desired
                self._keys = dict(zip(ids, hits, strict=True))  # type: ignore[arg-type]
        return dict(zip(map(operator.itemgetter(1), hits), values, strict=True))

    @property
    def synced(self) -> bool:
        """Established, and the peer has every desired route that can be sent."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Return once Established and the peer has every desired route that can be sent (End-of-RIB included)."""
        await self._synced.wait()

    async def close(self, *, keep_routes: bool = False) -> None:
        """Stop: Cease to the peer (or, ``keep_routes`` with graceful restart, a silent drop); idempotent."""
        if self._phase is _Phase.CLOSED:
            return
        was_new = self._phase is _Phase.NEW
        self._phase = _Phase.CLOSED
        self._keep_routes = keep_routes
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            await self._listener.close()
        if not was_new:
            self._set_state(SessionState.CLOSED)

    # Events -----------------------------------------------------------------------------------------------------

    def _emit(
        self, kind: EventKind, reason: str = "", notification: Notification | None = None, sent: bool = False
    ) -> None:
        event = SessionEvent(kind, self.settings.peer_label, self.state, reason, notification, sent)
        try:
            self._on_event(event)
        except Exception:  # the caller's bug must not kill the session
            _log.exception("on_event failed", extra={"op": "bgp", "event": "callbackFailed"})

    def _set_state(self, state: SessionState) -> None:
        if state != self.state:
            self.state = state
            self._emit(EventKind.STATE)

    # Connection loop ---------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = Backoff(BACKOFF_INITIAL, BACKOFF_CAP, rng=self._rng)
        failures = 0
        while True:
            if failures:
                await self._clock.sleep(backoff.next())
            failures += 1
            try:
                streams = await self._connect()
            except (OSError, TimeoutError) as exc:
                self._set_state(SessionState.IDLE)
                reason = f"connection to {self.settings.peer_label} failed: {exc}"
                if self.settings.password and isinstance(exc, TimeoutError):
                    # With TCP MD5 a key mismatch is silent: the router drops our SYNs, the connect times out.
                    reason += " (TCP MD5 is on: a password that differs from the router's looks exactly like this)"
                self._emit(EventKind.ERROR, reason)
                continue
            try:
                await self._speak(*streams, backoff)
            except _Ended as end:
                if self._negotiated is not None and self.state == SessionState.ESTABLISHED:
                    failures = 0  # it was up: reconnect at once, then 1 s doubling (MetalLB: 0 s, then 1 s...)
                self._down(end)
            finally:
                self._drop_connection()

    async def _connect(self) -> Streams:
        s = self.settings
        if self._connector is not None:
            self._set_state(SessionState.CONNECT)
            return await wait_for(self._clock, self._connector(), s.connect_time)
        if s.passive:
            if self._listener is None:
                listener = transport.Listener(
                    s.peer_address, port=s.listen_port, ttl=s.ttl, password=s.password, source=s.source_address
                )
                await listener.start()
                self._listener = listener
            self._set_state(SessionState.ACTIVE)
            return await self._listener.accept()
        self._set_state(SessionState.CONNECT)
        return await wait_for(
            self._clock,
            transport.connect(s.peer_address, s.peer_port, ttl=s.ttl, password=s.password, source=s.source_address),
            s.connect_time,
        )

    def _down(self, end: _Ended) -> None:
        was_up = self.state == SessionState.ESTABLISHED
        self._advertised.clear()
        self._synced.clear()
        self.stats.up = False
        self.stats.announced = 0
        self._set_state(SessionState.IDLE)
        if end.notification is not None:
            if end.sent:
                self.stats.notifications_sent += 1
            else:
                self.stats.notifications_received += 1
        self._emit(EventKind.DOWN if was_up else EventKind.ERROR, end.reason, end.notification, end.sent)

    def _drop_connection(self) -> None:
        writer, self._writer = self._writer, None
        self._negotiated = None
        if writer is not None:
            writer.transport.abort()

    # One connection ---------------------------------------------------------------------------------------------

    async def _speak(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, backoff: Backoff) -> None:
        self._writer = writer
        framer = Framer()
        pending: deque[Message] = deque()
        local = self._local_address(writer)
        ours = self._our_open(local)
        try:
            await self._send(encode_message(ours))
            self._set_state(SessionState.OPEN_SENT)
            theirs = await self._receive(reader, framer, pending, OPEN_HOLD_TIME, as4=True)
            if not isinstance(theirs, Open):
                raise await self._fail(
                    Notification(ErrorCode.FSM, FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENSENT),
                    f"expected OPEN, got {type(theirs).__name__}",
                )
            neg = await self._negotiate(ours, theirs, local)
            framer.max_length = neg.max_length
            await self._send(encode_message(Keepalive()))
            self._set_state(SessionState.OPEN_CONFIRM)
            msg = await self._receive(reader, framer, pending, neg.hold or OPEN_HOLD_TIME, as4=neg.as4)
            if not isinstance(msg, Keepalive):
                raise await self._fail(
                    Notification(ErrorCode.FSM, FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENCONFIRM),
                    f"expected KEEPALIVE, got {type(msg).__name__}",
                )
            self._negotiated = neg
            backoff.reset()
            self.stats.up = True
            self._set_state(SessionState.ESTABLISHED)
            self._emit(EventKind.UP, "BGP session established")
            await self._established(reader, framer, pending, neg)
        except asyncio.CancelledError:
            if self._phase is _Phase.CLOSED:
                await self._say_goodbye()
                self._down(_Ended("session closed"))
            raise
        except (ConnectionError, OSError) as exc:
            raise _Ended(f"connection lost: {exc}") from exc

    async def _say_goodbye(self) -> None:
        neg = self._negotiated
        if self._writer is None:
            return
        if self._keep_routes and neg is not None and neg.graceful_restart:
            return  # RFC 4724: a silent drop lets the peer keep our routes for the restart time
        with contextlib.suppress(Exception):
            self._writer.write(encode_message(Notification.cease(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)))
            await wait_for(self._clock, self._writer.drain(), NOTIFICATION_FLUSH_TIME)
            self.stats.notifications_sent += 1

    def _local_address(self, writer: asyncio.StreamWriter) -> IPAddress | None:
        sockname = writer.get_extra_info("sockname")
        if not isinstance(sockname, tuple) or not sockname:
            return None
        try:
            addr = ipaddress.ip_address(sockname[0].split("%")[0])
        except ValueError:
            return None
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        return addr

    def _our_open(self, local: IPAddress | None) -> Open:
        s = self.settings
        caps: list[Multiprotocol | RouteRefreshCapability | ExtendedMessage | FourOctetAs | GracefulRestart] = [
            Multiprotocol(Afi.IPV4, Safi.UNICAST),
            Multiprotocol(Afi.IPV6, Safi.UNICAST),
            RouteRefreshCapability(),
            FourOctetAs(s.my_asn),
        ]
        if s.extended_message:
            caps.append(ExtendedMessage())
        if s.graceful_restart:
            # Restarting side: R set (do not wait for our End-of-RIB before sending yours) and forwarding preserved
            # for both families, so the router keeps our routes across the restart (RFC 4724 §4.2).
            fams = (
                GracefulRestartFamily(Afi.IPV4, Safi.UNICAST, True),
                GracefulRestartFamily(Afi.IPV6, Safi.UNICAST, True),
            )
            caps.append(GracefulRestart(s.restart_time, restarting=True, families=fams))
        if s.router_id is not None:
            rid = s.router_id
        elif isinstance(local, ipaddress.IPv4Address):
            rid = local
        else:
            rid = _router_id_from_name(s.node_name or str(local))
        return Open(Open.two_octet_asn(s.my_asn), int(s.hold_time), rid, tuple(caps))

    async def _negotiate(self, ours: Open, theirs: Open, local: IPAddress | None) -> _Negotiated:
        s = self.settings
        if theirs.hold_time in (1, 2):
            raise await self._fail(
                Notification(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNACCEPTABLE_HOLD_TIME),
                f'invalid hold time "{theirs.hold_time}", must be 0 or >=3s',
            )
        peer_asn = theirs.effective_asn
        if peer_asn != s.peer_asn:
            raise await self._fail(
                Notification(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_PEER_AS),
                f"unexpected peer ASN {peer_asn}, want {s.peer_asn}",
            )
        if int(theirs.router_id) == 0 or (s.ibgp and theirs.router_id == ours.router_id):
            raise await self._fail(
                Notification(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_BGP_IDENTIFIER),
                f"unacceptable peer router ID {theirs.router_id}",
            )
        hold = float(min(ours.hold_time, theirs.hold_time))
        keepalive = 0.0
        if hold:
            keepalive = hold / 3 if s.keepalive_time is None else min(s.keepalive_time, hold / 3)
        families = frozenset(
            Afi(afi) for afi, safi in ours.families & theirs.families if safi == Safi.UNICAST and afi in (1, 2)
        )
        extended = s.extended_message and any(isinstance(c, ExtendedMessage) for c in theirs.capabilities)
        peer_gr = any(isinstance(c, GracefulRestart) for c in theirs.capabilities)
        if Afi.IPV4 not in families and Afi.IPV6 not in families:
            raise await self._fail(
                Notification(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSUPPORTED_CAPABILITY),
                "peer shares neither IPv4 nor IPv6 unicast with us",
            )
        return _Negotiated(
            hold=hold,
            keepalive=keepalive,
            as4=theirs.four_octet_asn is not None,
            families=families,
            max_length=EXTENDED_MAX_MESSAGE if extended else MAX_MESSAGE,
            graceful_restart=s.graceful_restart and peer_gr,
            peer_asn=peer_asn,
            local=local,
        )

    async def _send(self, frame: bytes) -> None:
        writer = self._writer
        if writer is None:
            raise _Ended("connection closed")
        writer.write(frame)
        await writer.drain()

    async def _fail(self, notification: Notification, reason: str) -> _Ended:
        """Send ``notification`` (best effort) and return the ``_Ended`` to raise."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.write(encode_message(notification))
                await wait_for(self._clock, self._writer.drain(), NOTIFICATION_FLUSH_TIME)
        return _Ended(f"{reason} (sent {notification.text})", notification, sent=True)

    async def _receive(
        self,
        reader: asyncio.StreamReader,
        framer: Framer,
        pending: deque[Message],
        hold: float | None,
        *,
        as4: bool,
    ) -> Message:
        """The next message, within ``hold`` seconds unless None (then the hold-timer task watches);
        a NOTIFICATION or a decode error ends the connection."""
        start = self._clock.monotonic()
        while not pending:
            if hold is None:
                data = await reader.read(65536)
            else:
                remaining = hold - (self._clock.monotonic() - start)
                if remaining <= 0:
                    raise await self._fail(
                        Notification(ErrorCode.HOLD_TIMER_EXPIRED, 0),
                        f"hold timer expired: nothing from the peer for {hold:g}s",
                    )
                try:
                    data = await wait_for(self._clock, reader.read(65536), remaining)
                except TimeoutError:
                    continue
            if not data:
                raise _Ended("connection closed by the peer")
            framer.feed(data)
            try:
                for header, body in framer.frames():
                    pending.append(decode_body(header.type, body, as4=as4))
            except BgpDecodeError as err:
                raise await self._fail(
                    Notification.from_error(err), f"malformed message from the peer: {err}"
                ) from None
        msg = pending.popleft()
        if isinstance(msg, Notification):
            raise _Ended(self._notification_reason(msg), msg)
        return msg

    def _notification_reason(self, msg: Notification) -> str:
        # MetalLB's text, plus the names of code and subcode.
        return f"got BGP notification code 0x{msg.code:02x}{msg.subcode:02x} ({msg.text})"

    # Established ---------------------------------------------------------------------------------------------------

    async def _established(
        self, reader: asyncio.StreamReader, framer: Framer, pending: deque[Message], neg: _Negotiated
    ) -> None:
        last_rx = [self._clock.monotonic()]
        self._full = True  # a new connection: the peer has nothing from us yet
        await self._flush(neg)

        async def receiver() -> None:
            while True:
                msg = await self._receive(reader, framer, pending, None, as4=neg.as4)
                last_rx[0] = self._clock.monotonic()
                if isinstance(msg, Open):
                    raise await self._fail(
                        Notification(ErrorCode.FSM, FsmSubcode.UNEXPECTED_MESSAGE_IN_ESTABLISHED),
                        "unexpected OPEN while Established",
                    )
                if isinstance(msg, RouteRefresh) and msg.subtype == 0 and msg.afi in (Afi.IPV4, Afi.IPV6):
                    # RFC 2918 §4: re-send our whole Adj-RIB-Out of that family.
                    v6 = V6_KEY_BIT if msg.afi == Afi.IPV6 else 0
                    for k in [k for k in self._advertised if k & V6_KEY_BIT == v6]:
                        del self._advertised[k]
                    self._full = True
                    self._wake.set()
                if isinstance(msg, Update) and msg.errors:
                    _log.info(
                        "peer sent a malformed UPDATE (contained by RFC 7606): %s",
                        "; ".join(e.message for e in msg.errors),
                        extra={"op": "bgp", "event": "updateErrorContained", "peer": self.settings.peer_label},
                    )

        async def hold_timer() -> None:
            while True:
                remaining = last_rx[0] + neg.hold - self._clock.monotonic()
                if remaining <= 0:
                    raise await self._fail(
                        Notification(ErrorCode.HOLD_TIMER_EXPIRED, 0),
                        f"hold timer expired: nothing from the peer for {neg.hold:g}s",
                    )
                await self._clock.sleep(remaining)

        async def keepalives() -> None:
            frame = encode_message(Keepalive())
            while True:
                await self._clock.sleep(neg.keepalive)
                await self._send(frame)

        async def sender() -> None:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self._flush(neg)

        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(receiver(), name="bgp-receiver")
                tg.create_task(sender(), name="bgp-sender")
                if neg.hold:
                    tg.create_task(hold_timer(), name="bgp-hold-timer")
                    tg.create_task(keepalives(), name="bgp-keepalives")
        except* _Ended as group:
            raise group.exceptions[0] from None
        except* (ConnectionError, OSError) as group:
            raise _Ended(f"connection lost: {group.exceptions[0]}") from None

    def _path_context(self, neg: _Negotiated) -> PathContext:
        s = self.settings
        local = neg.local
        nh4 = s.next_hop or (local if isinstance(local, ipaddress.IPv4Address) else None)
        nh6 = s.next_hop_v6
        if nh6 is None and isinstance(local, ipaddress.IPv6Address):
            nh6 = local
        elif nh6 is None and isinstance(local, ipaddress.IPv4Address):
            nh6 = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + local.packed)  # IPv4-mapped (RFC 4291 §2.5.5.2)
        return PathContext(s.my_asn, s.ibgp, neg.as4, nh4, nh6, neg.max_length)

    async def _flush(self, neg: _Negotiated) -> None:
        """Send the difference between desired and advertised (over every key after ``set_desired`` or a new
        connection, else over the keys ``update`` touched); End-of-RIB once per family after the first table."""
        full, self._full = self._full, False
        dirty, self._dirty = self._dirty, set()
        generation = self._generation
        if full:
            announce, withdraw, unsent = self._diff_all(neg)
        else:
            announce, withdraw, unsent = self._diff_keys(dirty, neg)
        frames, unsendable = build_updates(announce, withdraw, self._path_context(neg))
        unsent |= frozenset(unsendable)
        if unsent and unsent != self._unsendable:
            self._emit(EventKind.ERROR, self._unsent_reason(unsent, neg))
        self._unsendable = unsent
        for family in sorted(neg.families - neg.eor_sent):
            frames.append(encode_message(Update.end_of_rib(family)))
            neg.eor_sent.add(family)
        if frames:
            await self._send(b"".join(frames))
        adv = self._advertised
        for k in withdraw:
            adv.pop(k, None)
        for k, a in announce.items():
            if k not in unsent:
                adv[k] = a
        self.stats.updates_sent += len(frames)
        self.stats.announced = len(adv)
        if self._generation == generation and not self._wake.is_set():
            self._synced.set()

    def _diff_all(self, neg: _Negotiated) -> tuple[dict[int, RouteAttrs], set[int], frozenset[int]]:
        """(announce, withdraw, not sendable in a negotiated family) over the whole table: O(table), in C."""
        desired, adv = self._desired, self._advertised
        sendable = desired
        if len(neg.families) < 2:
            bit = 0 if Afi.IPV4 in neg.families else V6_KEY_BIT
            sendable = {k: a for k, a in desired.items() if k & V6_KEY_BIT == bit}
        # Identity first, in C: unchanged routes usually keep their RouteAttrs object; the rest compare as tuples.
        same = map(operator.is_, map(adv.get, sendable), sendable.values())
        candidates = itertools.compress(sendable.items(), map(operator.not_, same))
        announce = {k: a for k, a in candidates if adv.get(k) != a}
        # Every sendable key is in adv or new in announce; when the counts add up, adv holds nothing else, so the
        # 10,000-key set difference is skipped for the common add/change.
        fresh = sum(1 for k in announce if k not in adv)
        withdraw = adv.keys() - sendable.keys() if len(adv) + fresh != len(sendable) else set()
        unsent = frozenset(desired.keys() - sendable.keys()) if sendable is not desired else frozenset()
        return announce, withdraw, unsent

    def _diff_keys(self, keys: set[int], neg: _Negotiated) -> tuple[dict[int, RouteAttrs], set[int], frozenset[int]]:
        """The same as ``_diff_all`` for ``keys`` only (the rest is unchanged since the last flush): O(keys)."""
        desired, adv = self._desired, self._advertised
        families = neg.families
        announce: dict[int, RouteAttrs] = {}
        withdraw: set[int] = set()
        unsent = set(self._unsendable - keys)
        for k in keys:
            attrs = desired.get(k)
            if attrs is None:
                if k in adv:
                    withdraw.add(k)
            elif (Afi.IPV6 if k & V6_KEY_BIT else Afi.IPV4) not in families:
                unsent.add(k)
            elif adv.get(k) != attrs:
                announce[k] = attrs
        return announce, withdraw, frozenset(unsent)

    def _unsent_reason(self, unsent: frozenset[int], neg: _Negotiated) -> str:
        v6 = sum(1 for k in unsent if k & V6_KEY_BIT)
        v4 = len(unsent) - v6
        parts = []
        if v4:
            why = "the peer did not negotiate IPv4 unicast" if Afi.IPV4 not in neg.families else "no IPv4 next hop"
            parts.append(f"{v4} IPv4 prefixes not advertised: {why} (set next_hop)")
        if v6:
            parts.append(f"{v6} IPv6 prefixes not advertised: the peer did not negotiate IPv6 unicast")
        return "; ".join(parts)
