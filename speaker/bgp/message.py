"""Whole BGP messages: the header plus one body, dispatched on the type (RFC 4271 §4).

``decode_message(frame, *, as4, max_length)`` takes exactly one message (header included) and returns the body
object, or raises ``BgpDecodeError``, and nothing else, whatever the bytes. ``encode_message(body, *, as4,
max_length)`` prepends the header with the computed length and refuses a message over the negotiated maximum
(4096 octets, or 65535 with RFC 8654).
"""

from __future__ import annotations

from speaker.bgp.codes import ErrorCode, HeaderSubcode
from speaker.bgp.constants import HEADER_LEN, MAX_MESSAGE, MsgType
from speaker.bgp.errors import BgpDecodeError
from speaker.bgp.header import Header
from speaker.bgp.keepalive import Keepalive
from speaker.bgp.notification import Notification
from speaker.bgp.open import Open
from speaker.bgp.route_refresh import RouteRefresh
from speaker.bgp.update import Update

__all__ = ["Message", "decode_body", "decode_message", "encode_message", "message_type"]

Message = Open | Update | Notification | Keepalive | RouteRefresh

_TYPES: dict[type[Message], MsgType] = {
    Open: MsgType.OPEN,
    Update: MsgType.UPDATE,
    Notification: MsgType.NOTIFICATION,
    Keepalive: MsgType.KEEPALIVE,
    RouteRefresh: MsgType.ROUTE_REFRESH,
}


def message_type(msg: Message) -> MsgType:
    return _TYPES[type(msg)]


def decode_body(mtype: MsgType, body: bytes, *, as4: bool = True) -> Message:
    if mtype == MsgType.OPEN:
        return Open.decode(body)
    if mtype == MsgType.UPDATE:
        return Update.decode(body, as4=as4)
    if mtype == MsgType.NOTIFICATION:
        return Notification.decode(body)
    if mtype == MsgType.KEEPALIVE:
        return Keepalive.decode(body)
    return RouteRefresh.decode(body)


def decode_message(frame: bytes, *, as4: bool = True, max_length: int = MAX_MESSAGE) -> Message:
    header = Header.decode(frame[:HEADER_LEN], max_length=max_length)
    if header.length != len(frame):
        raise BgpDecodeError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSubcode.BAD_MESSAGE_LENGTH,
            frame[16:18],
            f"length field {header.length} but {len(frame)} octets",
        )
    return decode_body(header.type, frame[HEADER_LEN:], as4=as4)


def encode_message(msg: Message, *, as4: bool = True, max_length: int = MAX_MESSAGE) -> bytes:
    body = msg.encode(as4=as4) if isinstance(msg, Update) else msg.encode()
    length = HEADER_LEN + len(body)
    # RFC 8654 §4: OPEN and KEEPALIVE stay within 4096 even when extended messages are negotiated.
    limit = MAX_MESSAGE if isinstance(msg, Open | Keepalive) else max_length
    if length > limit:
        raise ValueError(f"{message_type(msg).name} of {length} octets exceeds the maximum of {limit}")
    return Header(length, message_type(msg)).encode() + body
