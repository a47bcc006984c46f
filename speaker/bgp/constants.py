"""BGP-4 protocol numbers as IntEnums, each cited to the RFC that assigns it.

Only numbers live here; the codecs that use them are one module per message family (``header``, ``open``,
``update``, ``notification``, ``route_refresh``, ``keepalive``).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "AS_TRANS",
    "BGP_PORT",
    "BGP_VERSION",
    "EXTENDED_MAX_MESSAGE",
    "HEADER_LEN",
    "MAX_MESSAGE",
    "Afi",
    "AsPathSegmentType",
    "AttrFlag",
    "AttrType",
    "CapabilityCode",
    "MsgType",
    "OptParamType",
    "Origin",
    "Safi",
]

BGP_VERSION = 4  # RFC 4271 §4.2
BGP_PORT = 179  # RFC 4271 §8.2.1
HEADER_LEN = 19  # RFC 4271 §4.1: 16-octet marker, 2-octet length, 1-octet type
MAX_MESSAGE = 4096  # RFC 4271 §4.1
EXTENDED_MAX_MESSAGE = 65535  # RFC 8654 §4, once both sides advertise the Extended Message capability
AS_TRANS = 23456  # RFC 6793 §9: the 2-octet stand-in for a 4-octet ASN


class MsgType(IntEnum):
    """Message types, RFC 4271 §4.1 and RFC 2918 §3."""

    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


class OptParamType(IntEnum):
    """OPEN optional parameter types, RFC 5492 §4 (type 1, authentication, is deprecated)."""

    CAPABILITIES = 2


class CapabilityCode(IntEnum):
    """Capability codes (IANA registry)."""

    MULTIPROTOCOL = 1  # RFC 4760 §8
    ROUTE_REFRESH = 2  # RFC 2918 §2
    EXTENDED_MESSAGE = 6  # RFC 8654 §3
    GRACEFUL_RESTART = 64  # RFC 4724 §3
    FOUR_OCTET_AS = 65  # RFC 6793 §3
    ENHANCED_ROUTE_REFRESH = 70  # RFC 7313 §3


class Afi(IntEnum):
    """Address family identifiers (IANA), used by RFC 4760."""

    IPV4 = 1
    IPV6 = 2


class Safi(IntEnum):
    """Subsequent address family identifiers, RFC 4760 §6."""

    UNICAST = 1


class AttrFlag(IntFlag):
    """Path attribute flags, RFC 4271 §4.3."""

    OPTIONAL = 0x80
    TRANSITIVE = 0x40
    PARTIAL = 0x20
    EXTENDED_LENGTH = 0x10


class AttrType(IntEnum):
    """Path attribute type codes (IANA)."""

    ORIGIN = 1  # RFC 4271 §5.1.1
    AS_PATH = 2  # RFC 4271 §5.1.2
    NEXT_HOP = 3  # RFC 4271 §5.1.3
    MULTI_EXIT_DISC = 4  # RFC 4271 §5.1.4
    LOCAL_PREF = 5  # RFC 4271 §5.1.5
    ATOMIC_AGGREGATE = 6  # RFC 4271 §5.1.6
    AGGREGATOR = 7  # RFC 4271 §5.1.7
    COMMUNITIES = 8  # RFC 1997
    MP_REACH_NLRI = 14  # RFC 4760 §3
    MP_UNREACH_NLRI = 15  # RFC 4760 §4
    AS4_PATH = 17  # RFC 6793 §3
    AS4_AGGREGATOR = 18  # RFC 6793 §3
    LARGE_COMMUNITY = 32  # RFC 8092 §3


class Origin(IntEnum):
    """ORIGIN values, RFC 4271 §5.1.1."""

    IGP = 0
    EGP = 1
    INCOMPLETE = 2


class AsPathSegmentType(IntEnum):
    """AS_PATH segment types, RFC 4271 §4.3 and RFC 5065 §3."""

    AS_SET = 1
    AS_SEQUENCE = 2
    AS_CONFED_SEQUENCE = 3
    AS_CONFED_SET = 4
