"""NOTIFICATION error codes and subcodes (RFC 4271 §4.5, §6 and later RFCs) and their readable names."""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "CeaseSubcode",
    "ErrorCode",
    "FsmSubcode",
    "HeaderSubcode",
    "OpenSubcode",
    "RouteRefreshSubcode",
    "UpdateSubcode",
    "describe",
]


class ErrorCode(IntEnum):
    """NOTIFICATION error codes, RFC 4271 §4.5 (FSM: RFC 6608; ROUTE-REFRESH: RFC 7313)."""

    MESSAGE_HEADER = 1
    OPEN_MESSAGE = 2
    UPDATE_MESSAGE = 3
    HOLD_TIMER_EXPIRED = 4
    FSM = 5
    CEASE = 6
    ROUTE_REFRESH = 7


class HeaderSubcode(IntEnum):
    """Message Header Error subcodes, RFC 4271 §6.1."""

    UNSPECIFIC = 0
    CONNECTION_NOT_SYNCHRONIZED = 1
    BAD_MESSAGE_LENGTH = 2
    BAD_MESSAGE_TYPE = 3


class OpenSubcode(IntEnum):
    """OPEN Message Error subcodes, RFC 4271 §6.2 and RFC 5492 §5."""

    UNSPECIFIC = 0
    UNSUPPORTED_VERSION = 1
    BAD_PEER_AS = 2
    BAD_BGP_IDENTIFIER = 3
    UNSUPPORTED_OPTIONAL_PARAMETER = 4
    UNACCEPTABLE_HOLD_TIME = 6
    UNSUPPORTED_CAPABILITY = 7


class UpdateSubcode(IntEnum):
    """UPDATE Message Error subcodes, RFC 4271 §6.3."""

    UNSPECIFIC = 0
    MALFORMED_ATTRIBUTE_LIST = 1
    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2
    MISSING_WELL_KNOWN_ATTRIBUTE = 3
    ATTRIBUTE_FLAGS_ERROR = 4
    ATTRIBUTE_LENGTH_ERROR = 5
    INVALID_ORIGIN_ATTRIBUTE = 6
    INVALID_NEXT_HOP_ATTRIBUTE = 8
    OPTIONAL_ATTRIBUTE_ERROR = 9
    INVALID_NETWORK_FIELD = 10
    MALFORMED_AS_PATH = 11


class FsmSubcode(IntEnum):
    """Finite State Machine Error subcodes, RFC 6608 §3."""

    UNSPECIFIED = 0
    UNEXPECTED_MESSAGE_IN_OPENSENT = 1
    UNEXPECTED_MESSAGE_IN_OPENCONFIRM = 2
    UNEXPECTED_MESSAGE_IN_ESTABLISHED = 3


class CeaseSubcode(IntEnum):
    """Cease subcodes, RFC 4486 §4 and RFC 9003."""

    UNSPECIFIC = 0
    MAXIMUM_NUMBER_OF_PREFIXES_REACHED = 1
    ADMINISTRATIVE_SHUTDOWN = 2
    PEER_DECONFIGURED = 3
    ADMINISTRATIVE_RESET = 4
    CONNECTION_REJECTED = 5
    OTHER_CONFIGURATION_CHANGE = 6
    CONNECTION_COLLISION_RESOLUTION = 7
    OUT_OF_RESOURCES = 8
    HARD_RESET = 9  # RFC 8538 §3


class RouteRefreshSubcode(IntEnum):
    """ROUTE-REFRESH Message Error subcodes, RFC 7313 §5."""

    RESERVED = 0
    INVALID_MESSAGE_LENGTH = 1


_SUBCODES: dict[int, type[IntEnum]] = {
    ErrorCode.MESSAGE_HEADER: HeaderSubcode,
    ErrorCode.OPEN_MESSAGE: OpenSubcode,
    ErrorCode.UPDATE_MESSAGE: UpdateSubcode,
    ErrorCode.FSM: FsmSubcode,
    ErrorCode.CEASE: CeaseSubcode,
    ErrorCode.ROUTE_REFRESH: RouteRefreshSubcode,
}


def _title(name: str) -> str:
    small = {"of", "in", "as", "bgp", "fsm", "open"}
    words = name.lower().split("_")
    return " ".join(
        w.upper() if w in {"bgp", "fsm", "open", "as"} else w if w in small else w.capitalize() for w in words
    )


def describe(code: int, subcode: int) -> str:
    """``"Cease / Administrative Shutdown"``: the names of a code and subcode, numbers when unassigned."""
    try:
        head = _title(ErrorCode(code).name)
    except ValueError:
        return f"unknown error code {code} (subcode {subcode})"
    sub_enum = _SUBCODES.get(code)
    if sub_enum is None:
        return head if subcode == 0 else f"{head} / subcode {subcode}"
    try:
        sub = sub_enum(subcode)
    except ValueError:
        return f"{head} / subcode {subcode}"
    if sub.value == 0:
        return head
    return f"{head} / {_title(sub.name)}"
