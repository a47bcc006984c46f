"""Native asyncio BGP-4 speaker: wire codec, session FSM and packed Adj-RIB-Out (see docs/bgp.md).

The speaker program uses::

    from speaker.bgp import BgpSession, PeerSettings, RouteAttrs, SessionEvent

    async with BgpSession(PeerSettings(...), on_event=handle) as session:
        session.set_desired({IPv4Network("203.0.113.10/32"): RouteAttrs(communities=frozenset({...}))})
"""

from speaker.bgp.errors import BgpDecodeError, ErrorHandling
from speaker.bgp.notification import Notification
from speaker.bgp.routes import Prefix, RouteAttrs
from speaker.bgp.session import (
    BgpSession,
    Connector,
    EventKind,
    SessionEvent,
    SessionState,
    SessionStats,
    SessionUsageError,
)
from speaker.bgp.settings import PeerSettings

__all__ = [
    "BgpDecodeError",
    "BgpSession",
    "Connector",
    "ErrorHandling",
    "EventKind",
    "Notification",
    "PeerSettings",
    "Prefix",
    "RouteAttrs",
    "SessionEvent",
    "SessionState",
    "SessionStats",
    "SessionUsageError",
]
